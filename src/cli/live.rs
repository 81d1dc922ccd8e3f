//! `o365flow live` and `o365flow interfaces`: an interface through the engine until a stop,
//! periodic reports, then the shared end of a run.

use anyhow::Context;

use o365flow::report::meta::RunMeta;
use o365flow::report::out::{write_live_report, LiveParts};
use o365flow::report::pseudonym::Pseudonymizer;

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
    let mut on_report = |snapshot: &o365flow::Analysis| {
        let Some(dir) = &out else { return };
        let mut flows = snapshot.flows.clone();
        let mut meta = RunMeta::from_run(&snapshot.summary, &config.internal);
        if let Some(p) = &pseudonyms {
            p.rows(&mut flows);
            meta.pseudonymized = true;
        }
        if let Err(e) = write_live_report(&flows, &meta, &catalog, dir) {
            eprintln!("o365flow: warning: report: {e}");
        }
    };
    let mut parts = out
        .as_deref()
        .map(|dir| LiveParts::new(dir, &partitions, args.keep_days));
    let mut write_part = |rows: &mut [o365flow::report::FlowRow],
                          summary: &o365flow::report::RunSummary| {
        let Some(parts) = parts.as_mut() else {
            return Ok(());
        };
        let mut meta = RunMeta::from_run(summary, &config.internal);
        if let Some(p) = &pseudonyms {
            p.rows(rows);
            meta.pseudonymized = true;
        }
        parts.write(rows, &meta).map_err(|e| e.to_string())
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
            on_status: &mut on_status,
            report_rows: if out.is_some() { args.report_rows } else { 0 },
            parts: out
                .is_some()
                .then_some(o365flow::engine::live::PartControl {
                    rows: args.part_rows,
                    every: std::time::Duration::from_secs(3600),
                    write: &mut write_part,
                }),
        },
    )?;
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
            live: true,
        },
        analysis,
        Ok(()),
    )
}
