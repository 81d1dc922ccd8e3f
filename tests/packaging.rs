//! What an install ships besides the binary: shell completions and man pages, generated from
//! the clap definitions by `o365flow completions SHELL` and `o365flow man [SUBCOMMAND...]`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

/// (exit code, stdout, stderr) of `o365flow ARGS`.
fn run(args: &[&str]) -> (i32, String, String) {
    let out = common::o365flow_command().args(args).output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn completion_scripts_cover_every_subcommand() {
    // Each shell's own way of registering a completion for the command.
    for (shell, registers) in [
        ("bash", "complete -F _o365flow"),
        ("zsh", "#compdef o365flow"),
        ("fish", "complete -c o365flow"),
    ] {
        let (code, script, err) = run(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        assert!(script.contains(registers), "{shell}: {script}");
        for word in [
            "analyze",
            "report",
            "live",
            "catalog",
            "max-flows",
            "pseudonymize",
        ] {
            assert!(script.contains(word), "{shell} script lacks {word}");
        }
    }
    // The bash script is valid bash.
    let (_, script, _) = run(&["completions", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o365flow.bash");
    std::fs::write(&path, script).unwrap();
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let (code, _, err) = run(&["completions", "tcsh"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn man_pages_for_the_command_and_its_subcommands() {
    let (code, page, err) = run(&["man"]);
    assert_eq!(code, 0, "{err}");
    assert!(page.contains(".TH o365flow 1"), "{page}");
    assert!(page.contains(".SH SUBCOMMANDS"), "{page}");
    for sub in ["analyze", "report", "live", "catalog", "completions", "man"] {
        assert!(page.contains(&format!("o365flow\\-{sub}(1)")), "{sub}");
    }
    let (code, page, err) = run(&["man", "analyze"]);
    assert_eq!(code, 0, "{err}");
    assert!(page.contains(".TH o365flow-analyze 1"), "{page}");
    assert!(page.contains("\\-\\-max\\-flows"), "{page}");
    let (code, page, err) = run(&["man", "catalog", "diff"]);
    assert_eq!(code, 0, "{err}");
    assert!(page.contains(".TH o365flow-catalog-diff 1"), "{page}");
    let (code, _, err) = run(&["man", "nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("no subcommand \"nope\""), "{err}");
}
