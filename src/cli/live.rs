//! `o365flow live` and `o365flow interfaces`: an interface through the engine until a stop,
//! periodic reports, then the shared end of a run.

use anyhow::Context;

use o365flow::engine::live::LiveSnapshot;
use o365flow::report::audit::Gathered;
use o365flow::report::frame::{flows_frame, Layout};
use o365flow::report::meta::RunMeta;
use o365flow::report::out::{write_live_report, LiveParts};
use o365flow::report::pseudonym::Pseudonymizer;
use o365flow::report::FlowRow;

use super::args::{LiveArgs, EXIT_CLEAN, EXIT_FAILED};
use super::finish::{finish, RunEnd};

pub(super) fn interfaces() -> anyhow::Result<u8> {
    for (name, description, addresses) in o365flow::capture::live::interfaces()? {
        println!("{name:<16} {:<40} {}", description, addresses.join(" "));
    }
    Ok(EXIT_CLEAN)
}

/// Switches to `name`'s user and group (after the interface is open, root is not needed).
fn drop_privileges(name: &str) -> anyhow::Result<()> {
    use nix::unistd::{setgid, setgroups, setuid, User};
    let user =
        User::from_name(name)?.ok_or_else(|| anyhow::anyhow!("--user {name}: no such user"))?;
    setgroups(&[user.gid]).with_context(|| format!("--user {name}: setgroups"))?;
    setgid(user.gid).with_context(|| format!("--user {name}: setgid"))?;
    setuid(user.uid).with_context(|| format!("--user {name}: setuid"))?;
    Ok(())
}

/// Work for the writer thread.
enum Job {
    /// A batch of ended flows for the parts, with the run's metadata then.
    Part(Vec<FlowRow>, RunMeta),
    /// A periodic report: the flows not yet in a part and the most recent ones.
    Report(Box<LiveSnapshot>, RunMeta),
}

/// The report's gathering of every flow written to the parts, within `max_groups` groups.
struct ReportGathering {
    gathered: Gathered,
    max_groups: usize,
}

impl ReportGathering {
    /// Adds `rows`; an error or a panic (polars may panic on what it cannot handle) leaves the
    /// gathering as it was, and the run goes on.
    fn add(&mut self, rows: &[FlowRow]) -> Result<(), String> {
        let mut next = self.gathered.clone();
        let added = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let frame = flows_frame(rows, Layout::Typed)?;
            next.add(&frame)?;
            next.limit(self.max_groups)
        }));
        match added {
            Ok(Ok(())) => {
                self.gathered = next;
                Ok(())
            }
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("the report's gathering panicked".to_owned()),
        }
    }

    /// The gathering with `unwritten` flows added, for a periodic report.
    fn with(&self, unwritten: &[FlowRow]) -> Result<Gathered, String> {
        let mut more = ReportGathering {
            gathered: self.gathered.clone(),
            max_groups: self.max_groups,
        };
        if !unwritten.is_empty() {
            more.add(unwritten)?;
        }
        Ok(more.gathered)
    }
}

/// The report's gathering of the most recent rows (when the writer's is lost), pseudonymized
/// like everything else the run writes.
fn recent_gathered(
    rows: &[FlowRow],
    pseudonyms: Option<&Pseudonymizer>,
) -> anyhow::Result<Gathered> {
    let mut rows = rows.to_vec();
    if let Some(p) = pseudonyms {
        p.rows(&mut rows);
    }
    Ok(Gathered::of(&flows_frame(&rows, Layout::Typed)?)?)
}

/// The warning for flows beyond the report's groups, if any went over.
fn overflow_warning(gathered: &Gathered, cap: usize) -> Option<o365flow::report::Warning> {
    let o = gathered.overflow;
    (o.coarsened.flows + o.demoted.flows > 0).then_some(o365flow::report::Warning::ReportGroups {
        coarsened: o.coarsened.flows,
        demoted: o.demoted.flows,
        cap,
    })
}

/// What the writer thread could not do: failed parts and `--keep-days` failures, each counted
/// with the first reason.
#[derive(Default)]
struct WriterOutcome {
    parts: Option<(u64, String)>,
    prune: Option<(u64, String)>,
    /// Why the first periodic report failed (the count is in the report stats).
    report_error: Option<String>,
    /// Every flow written to the parts, gathered for the final report (None: the writer
    /// panicked).
    gathered: Option<Gathered>,
    /// Why the flows of a part could not be gathered for the report, with how many parts.
    gather_error: Option<(u64, String)>,
}

/// The writer thread: parts and periodic reports until the live run ends.
#[allow(clippy::too_many_arguments)]
fn write_jobs(
    jobs: std::sync::mpsc::Receiver<Job>,
    mut parts: Option<LiveParts>,
    out: Option<&std::path::Path>,
    catalog: &o365flow::catalog::Catalog,
    pseudonyms: Option<&Pseudonymizer>,
    reports: &o365flow::engine::live::ReportStats,
    max_groups: usize,
) -> WriterOutcome {
    let mut failed: Option<(u64, String)> = None;
    let mut report_error = None;
    let mut gather_error: Option<(u64, String)> = None;
    let mut gathering = ReportGathering {
        gathered: Gathered::bounded(),
        max_groups,
    };
    for job in jobs {
        match job {
            Job::Part(mut rows, mut meta) => {
                if let Some(p) = pseudonyms {
                    p.rows(&mut rows);
                    meta.pseudonymized = true;
                }
                let Some(parts) = parts.as_mut() else {
                    continue;
                };
                if let Err(e) = parts.write(&rows, &meta) {
                    let entry = failed.get_or_insert_with(|| (0, e.to_string()));
                    entry.0 += 1;
                }
                // A part that could not be written is still in the report.
                if let Err(e) = gathering.add(&rows) {
                    gather_error.get_or_insert((0, e)).0 += 1;
                }
            }
            Job::Report(mut snapshot, mut meta) => {
                let Some(dir) = out else { continue };
                if let Some(p) = pseudonyms {
                    p.rows(&mut snapshot.unwritten);
                    p.rows(&mut snapshot.recent);
                    meta.pseudonymized = true;
                }
                if let Some((failed, first_reason)) = &gather_error {
                    meta.warnings.push(
                        o365flow::report::Warning::ReportGather {
                            failed: *failed,
                            first_reason: first_reason.clone(),
                        }
                        .to_string(),
                    );
                }
                // polars may panic on what it cannot handle: that costs this report, not the
                // gathering of the run (the writer goes on).
                let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    gathering.with(&snapshot.unwritten).and_then(|gathered| {
                        meta.warnings
                            .extend(overflow_warning(&gathered, max_groups).map(|w| w.to_string()));
                        write_live_report(&snapshot.recent, &gathered, &meta, catalog, dir)
                            .map_err(|e| e.to_string())
                    })
                }))
                .unwrap_or_else(|_| Err("building the report panicked".to_owned()));
                match written {
                    Ok(_) => reports.written(),
                    Err(e) => {
                        eprintln!("o365flow: warning: report: {e}");
                        reports.failed();
                        report_error.get_or_insert(e);
                    }
                }
            }
        }
    }
    WriterOutcome {
        parts: failed,
        prune: parts.as_ref().and_then(LiveParts::prune_failures),
        report_error,
        gathered: Some(gathering.gathered),
        gather_error,
    }
}

/// The writer thread's result; a panicked writer must not cost the run its final report, so it
/// becomes a warning and the run goes on to finish.
fn writer_outcome<T: Default>(
    joined: std::thread::Result<T>,
    warnings: &mut Vec<o365flow::report::Warning>,
) -> T {
    joined.unwrap_or_else(|_| {
        warnings.push(o365flow::report::Warning::WriterPanicked);
        T::default()
    })
}

pub(super) fn run(args: LiveArgs) -> anyhow::Result<u8> {
    use std::io::{IsTerminal, Write};
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    let (catalog, config) = args.options.load()?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    let options = o365flow::capture::live::LiveOptions {
        interface: args.interface.clone(),
        filter: args.filter.clone(),
        snaplen: args.snaplen,
        buffer_bytes: args.buffer_size,
        promiscuous: !args.no_promisc,
        queue_packets: args.queue,
        write_pcap: args.write_pcap.clone(),
        rotate_bytes: args.rotate,
        keep_files: args.keep,
    };
    let capture = match o365flow::capture::live::start(&options, Arc::clone(&stop)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("o365flow: error: {e}");
            return Ok(EXIT_FAILED);
        }
    };
    // Listening before dropping privileges: a port below 1024 is the admin's choice.
    let metrics = args
        .metrics
        .map(|addr| -> anyhow::Result<_> {
            let metrics = std::sync::Arc::new(o365flow::monitor::Metrics::new());
            let server = o365flow::monitor::serve(addr, Arc::clone(&metrics))?;
            Ok((metrics, server))
        })
        .transpose()?;
    if let Some(user) = &args.user {
        drop_privileges(user)?;
    }
    let quiet = args.options.quiet;
    let on_terminal = !quiet && std::io::stderr().is_terminal();
    let pseudonyms = args
        .options
        .pseudonymize
        .then(|| Pseudonymizer::for_run(&config.internal));
    let out = args.options.out.clone();
    let partitions = args.options.partition.clone();
    let parts = out
        .as_deref()
        .map(|dir| LiveParts::new(dir, &partitions, args.keep_days));
    let report_stats = Arc::new(o365flow::engine::live::ReportStats::default());
    let (analysis, writer_joined) = std::thread::scope(|scope| -> anyhow::Result<_> {
        // Parts and periodic reports are written on a thread of their own, off the packet
        // path: a part of 50,000 flows or a report takes long enough for the capture queue
        // to overflow under load. At most two jobs wait; a part waits for room (its flows
        // must not be lost), a periodic report due while two wait is skipped (the next one
        // covers it).
        let (jobs, job_queue) = std::sync::mpsc::sync_channel::<Job>(2);
        let writer = scope.spawn(|| {
            write_jobs(
                job_queue,
                parts,
                out.as_deref(),
                &catalog,
                pseudonyms.as_ref(),
                &report_stats,
                args.report_groups,
            )
        });
        let internal = &config.internal;
        let options = &args.options;
        let report_jobs = jobs.clone();
        let skipped_stats = Arc::clone(&report_stats);
        let mut on_report = move |snapshot: LiveSnapshot| {
            let meta = options.run_meta(&snapshot.summary, internal);
            if report_jobs
                .try_send(Job::Report(Box::new(snapshot), meta))
                .is_err()
            {
                skipped_stats.skipped();
            }
        };
        let part_jobs = jobs;
        let mut write_part = move |rows: Vec<FlowRow>, summary: &o365flow::report::RunSummary| {
            let meta = options.run_meta(summary, internal);
            part_jobs
                .send(Job::Part(rows, meta))
                .map_err(|_| "the part writer has stopped".to_owned())
        };
        let mut on_status = |status: &o365flow::engine::live::LiveStatus| {
            if let Some((metrics, _)) = &metrics {
                metrics.update(status);
            }
            if on_terminal {
                eprint!("\r{status}\x1b[K");
                let _ = std::io::stderr().flush();
            }
        };
        let analysis = o365flow::engine::live::run(
            &args.interface,
            capture,
            &catalog,
            &config,
            o365flow::engine::live::LiveControl {
                stop,
                duration: args.duration,
                count: args.count,
                report_every: args.report_every,
                on_report: &mut on_report,
                reports: Arc::clone(&report_stats),
                on_status: &mut on_status,
                recent_rows: if out.is_some() { args.recent_rows } else { 0 },
                parts: out
                    .is_some()
                    .then_some(o365flow::engine::live::PartControl {
                        rows: args.part_rows,
                        every: std::time::Duration::from_secs(3600),
                        write: &mut write_part,
                    }),
            },
        );
        // The senders go with the closures: the writer ends once every part is written,
        // before the final report.
        drop(write_part);
        drop(on_report);
        Ok((analysis?, writer.join()))
    })?;
    let mut analysis = analysis;
    // The writer may have written (or failed) reports after the engine's last status.
    if let Some((metrics, _)) = &metrics {
        metrics.update_reports(&report_stats);
    }
    let outcome = writer_outcome(writer_joined, &mut analysis.summary.warnings);
    if let Some((failed, first_reason)) = outcome.parts {
        analysis
            .summary
            .warnings
            .push(o365flow::report::Warning::Parts {
                failed,
                first_reason,
            });
    }
    let (skipped, failed) = (report_stats.skipped_count(), report_stats.failed_count());
    if skipped + failed > 0 {
        analysis
            .summary
            .warnings
            .push(o365flow::report::Warning::Reports {
                skipped,
                failed,
                first_reason: outcome.report_error,
            });
    }
    if let Some((failed, first_reason)) = outcome.gather_error {
        analysis
            .summary
            .warnings
            .push(o365flow::report::Warning::ReportGather {
                failed,
                first_reason,
            });
    }
    // A panicked writer gathered nothing that survived: the report then covers the recent rows
    // (its warning says so).
    let gathered = match outcome.gathered {
        Some(gathered) => gathered,
        None => recent_gathered(&analysis.flows, pseudonyms.as_ref()).unwrap_or_else(|e| {
            eprintln!("o365flow: warning: report over the recent flows: {e}");
            Gathered::default()
        }),
    };
    analysis
        .summary
        .warnings
        .extend(overflow_warning(&gathered, args.report_groups));
    if let Some((failed, first_reason)) = outcome.prune {
        analysis
            .summary
            .warnings
            .push(o365flow::report::Warning::Prune {
                failed,
                first_reason,
            });
    }
    if on_terminal {
        eprintln!();
    }
    finish(
        RunEnd {
            catalog: &catalog,
            config: &config,
            options: &args.options,
            pseudonyms: pseudonyms.as_ref(),
            flows_file: None,
            require_input: false,
            live: Some(gathered),
        },
        analysis,
        Ok(()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicked_writer_becomes_a_warning() {
        let mut warnings = Vec::new();
        let joined = std::thread::spawn(|| -> Option<(u64, String)> { panic!("test") }).join();
        assert_eq!(writer_outcome(joined, &mut warnings), None);
        assert_eq!(
            writer_outcome(std::thread::spawn(|| 7u8).join(), &mut Vec::new()),
            7
        );
        assert_eq!(warnings, vec![o365flow::report::Warning::WriterPanicked]);
        let mut warnings = Vec::new();
        let joined = std::thread::spawn(|| Some((2u64, "disk".to_owned()))).join();
        assert_eq!(
            writer_outcome(joined, &mut warnings),
            Some((2, "disk".to_owned()))
        );
        assert!(warnings.is_empty());
    }

    #[test]
    fn report_times_come_from_reports_written() {
        let catalog = o365flow::catalog::Catalog::embedded().expect("catalog");
        let dir = tempfile::tempdir().expect("tempdir");
        // Below a file: no directory can be made there, not even by root.
        let blocked = dir.path().join("file");
        std::fs::write(&blocked, b"").expect("write");
        for (out, written) in [
            (blocked.join("report"), false),
            (dir.path().join("ok"), true),
        ] {
            let stats = o365flow::engine::live::ReportStats::default();
            let (jobs, queue) = std::sync::mpsc::sync_channel(1);
            let snapshot = LiveSnapshot {
                unwritten: Vec::new(),
                recent: Vec::new(),
                summary: o365flow::report::RunSummary::default(),
            };
            jobs.send(Job::Report(Box::new(snapshot), RunMeta::default()))
                .expect("send");
            drop(jobs);
            let outcome = write_jobs(queue, None, Some(&out), &catalog, None, &stats, 10);
            assert_eq!(stats.last_written_unix().is_some(), written, "{out:?}");
            assert_eq!(stats.failed_count(), u64::from(!written));
            assert_eq!(outcome.report_error.is_some(), !written);
        }
    }
}
