//! Capture sources: find capture files, open them with libpcap and hand out raw frames with their
//! timestamps and link type. No decoding happens here.

mod error;
pub mod file;
pub mod link;
pub mod live;

use std::path::{Path, PathBuf};

pub use error::CaptureError;
pub use file::{FileSource, RawPacket};
pub use link::LinkType;

const CAPTURE_EXTENSIONS: [&str; 3] = ["pcap", "pcapng", "cap"];

/// Expands the command line's inputs into the list of capture files, in order: files as given,
/// directories recursively with their capture files sorted by path. Errors are per input so the
/// other inputs still run.
pub fn expand_inputs(inputs: &[PathBuf]) -> (Vec<PathBuf>, Vec<CaptureError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for input in inputs {
        match std::fs::metadata(input) {
            Err(_) => errors.push(CaptureError::Missing {
                path: input.clone(),
            }),
            Ok(meta) if meta.is_dir() => {
                let mut found = Vec::new();
                if let Err(e) = crate::files::collect_files(input, &is_capture_name, &mut found) {
                    errors.push(CaptureError::Unreadable {
                        path: input.clone(),
                        reason: e.to_string(),
                    });
                }
                if found.is_empty() {
                    errors.push(CaptureError::EmptyDirectory {
                        path: input.clone(),
                    });
                }
                found.sort();
                files.extend(found);
            }
            Ok(_) => files.push(input.clone()),
        }
    }
    (files, errors)
}

fn is_capture_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| CAPTURE_EXTENSIONS.iter().any(|c| c.eq_ignore_ascii_case(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_searched_recursively_in_name_order_without_following_dir_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("b/sub")).unwrap();
        for f in [
            "b/sub/z.pcap",
            "b/a.PCAPNG",
            "c.cap",
            "notes.txt",
            "a.pcap.gz",
        ] {
            std::fs::write(root.join(f), b"x").unwrap();
        }
        std::os::unix::fs::symlink(root, root.join("b/loop")).unwrap();
        let (files, errors) = expand_inputs(&[root.to_path_buf()]);
        assert!(errors.is_empty(), "{errors:?}");
        let names: Vec<String> = files
            .iter()
            .map(|p| p.strip_prefix(root).unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["b/a.PCAPNG", "b/sub/z.pcap", "c.cap"]);
    }
}
