//! Shell completions and manual pages, generated from the clap definitions.

use anyhow::Context;
use clap::CommandFactory;

use super::args::{Cli, EXIT_CLEAN};

pub(super) fn completions(shell: clap_complete::Shell) -> anyhow::Result<u8> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "o365flow", &mut script);
    print_bytes(&script, "the completion script")
}

/// Writes generated text to stdout; a reader that stops early (`| head`) is no error.
fn print_bytes(bytes: &[u8], what: &str) -> anyhow::Result<u8> {
    let mut out = std::io::stdout().lock();
    match std::io::Write::write_all(&mut out, bytes).and_then(|()| std::io::Write::flush(&mut out))
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).with_context(|| format!("writing {what}"))
        }
        _ => Ok(EXIT_CLEAN),
    }
}

pub(super) fn man(path: &[String]) -> anyhow::Result<u8> {
    // Built first: subcommands then know their full names (`o365flow-catalog-diff`).
    let mut command = Cli::command();
    command.build();
    let mut page = command;
    for name in path {
        page = page
            .find_subcommand(name)
            .cloned()
            .with_context(|| format!("no subcommand {name:?} (see o365flow --help)"))?;
    }
    let mut roff = Vec::new();
    clap_mangen::Man::new(page)
        .source(format!("o365flow {}", env!("CARGO_PKG_VERSION")))
        .render(&mut roff)
        .context("rendering the man page")?;
    print_bytes(&roff, "the man page")
}
