//! `o365flow analyze`: capture files through the engine, flows streamed or kept, then the
//! shared end of a run.

use o365flow::engine::{run_files, Engine};
use o365flow::report::pseudonym::Pseudonymizer;
use o365flow::report::write::FlowStream;
use o365flow::Progress;

use super::args::AnalyzeArgs;
use super::finish::{finish, RunEnd};

/// Rows per chunk when `--flows` is written while the run goes on: at most this many finished
/// rows are held in memory besides the flow table.
const STREAM_CHUNK_ROWS: usize = 32_768;

pub(super) fn run(args: AnalyzeArgs) -> anyhow::Result<u8> {
    let (catalog, config) = args.options.load()?;
    let mut bar = ProgressBar::new(!args.options.quiet);
    let pseudonyms = args
        .options
        .pseudonymize
        .then(|| Pseudonymizer::for_run(&config.internal));
    // Without --out nothing needs every row at once: --flows is written as flows finish, so
    // memory stays bounded by the flow table whatever the capture size. --out's report needs
    // the whole table.
    let mut stream = match (&args.flows, &args.options.out) {
        (Some(path), None) => Some(FlowStream::create(path, config.threads)?),
        _ => None,
    };
    let mut stream_error: Option<anyhow::Error> = None;
    let analysis = std::thread::scope(|scope| {
        let mut engine = if config.threads > 1 {
            Engine::new_piped(&catalog, &config, scope)
        } else {
            Engine::new(&catalog, &config)
        };
        if args.flows.is_none() && args.options.out.is_none() {
            // Only the terminal summary: its tally needs no rows.
            engine.stream_rows(STREAM_CHUNK_ROWS, |_| {});
        } else if stream.is_some() {
            engine.stream_rows(STREAM_CHUNK_ROWS, |rows| {
                if let Some(p) = &pseudonyms {
                    p.rows(rows);
                }
                if let Some(s) = stream.as_mut() {
                    if let Err(e) = s.write(rows) {
                        stream_error = Some(e.into());
                        stream = None;
                    }
                }
            });
        }
        run_files(&mut engine, &args.inputs, &mut bar);
        engine.finish()
    });
    // Results first, whatever went wrong with some inputs: nothing read is lost.
    let streamed = stream.is_some();
    let written = match (stream, stream_error) {
        (_, Some(e)) => Err(e),
        (Some(s), None) if analysis.read_anything() => s.finish().map_err(anyhow::Error::from),
        (Some(s), None) => {
            s.abandon();
            Ok(())
        }
        (None, None) => Ok(()),
    };
    finish(
        RunEnd {
            catalog: &catalog,
            config: &config,
            options: &args.options,
            pseudonyms: pseudonyms.as_ref(),
            flows_file: args.flows.as_deref().filter(|_| !streamed),
            require_input: true,
            live: None,
        },
        analysis,
        written,
    )
}

/// A progress bar of bytes read, on stderr when it is a terminal; nothing otherwise.
struct ProgressBar {
    bar: Option<indicatif::ProgressBar>,
}

impl ProgressBar {
    fn new(wanted: bool) -> Self {
        use std::io::IsTerminal;
        let on_terminal = wanted && std::io::stderr().is_terminal();
        ProgressBar {
            bar: on_terminal.then(indicatif::ProgressBar::hidden),
        }
    }
}

impl Progress for ProgressBar {
    fn start(&mut self, total_bytes: u64) {
        let Some(bar) = &self.bar else { return };
        bar.set_length(total_bytes);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style);
        }
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    }

    fn advance(&mut self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
