//! The `o365flow` binary: parse arguments, run the library, map the outcome to an exit code
//! (0 clean, 1 finished with warnings, 2 could not run).

mod cli;

/// jemalloc with one arena (.cargo/config.toml) instead of glibc's malloc: 7% faster on the
/// bench capture and less memory per flow (BENCHMARKS.md, "What was tried").
#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use clap::Parser;

fn main() -> std::process::ExitCode {
    cli::run(cli::Cli::parse())
}
