//! The `o365flow` binary: parse arguments, run the library, map the outcome to an exit code
//! (0 clean, 1 finished with warnings, 2 could not run).

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    cli::run(cli::Cli::parse())
}
