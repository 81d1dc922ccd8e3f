//! Walking directories for input files: shared by capture inputs (`analyze DIR`) and flow files
//! (`report DIR`, a partitioned `flows/` tree).

use std::path::{Path, PathBuf};

/// Adds the files below `dir` (recursively) whose path `keep` accepts to `out`, unsorted.
/// Symbolic links to directories are not followed: a link back up the tree would never end.
/// On an error the files found so far stay in `out`.
pub fn collect_files(
    dir: &Path,
    keep: &dyn Fn(&Path) -> bool,
    out: &mut Vec<PathBuf>,
) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            collect_files(&path, keep, out)?;
        } else if keep(&path) && (kind.is_file() || path.is_file()) {
            out.push(path);
        }
    }
    Ok(())
}
