//! The command line: clap definitions (`args`) become validated library configuration, and
//! each command runs in its own room (`analyze`, `live`, `report`, `catalog`, `docs`); analyze
//! and live end through one path (`finish`). Outcomes map to exit codes here.

mod analyze;
mod args;
mod catalog;
mod docs;
mod finish;
mod live;
mod report;

use std::process::ExitCode;

pub use args::Cli;
use args::{Command, EXIT_FAILED};

pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Analyze(args) => analyze::run(args),
        Command::Report(args) => report::run(args),
        Command::Interfaces => live::interfaces(),
        Command::Live(args) => live::run(args),
        Command::Catalog(command) => catalog::run(command),
        Command::Completions { shell } => docs::completions(shell),
        Command::Man { subcommand } => docs::man(&subcommand),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("o365flow: error: {e:#}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}
