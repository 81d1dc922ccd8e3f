//! `o365flow report`: the audit report rebuilt from flow files.

use o365flow::catalog::Catalog;
use o365flow::report::meta::RunMeta;
use o365flow::report::out::{read_flow_files, write_report};
use o365flow::report::pseudonym::Pseudonymizer;
use o365flow::report::terminal;

use super::args::{ReportArgs, EXIT_CLEAN, EXIT_WARNINGS};
use super::catalog::default_catalog;

pub(super) fn run(args: ReportArgs) -> anyhow::Result<u8> {
    let catalog = match &args.catalog {
        Some(path) => Catalog::from_file(path)?,
        None => default_catalog()?,
    };
    let (mut flows, metas) = read_flow_files(&args.inputs)?;
    let mut meta = RunMeta::merge(&metas);
    if !args.tenants.is_empty() {
        meta.tenants = args.tenants.clone();
    }
    if args.pseudonymize {
        let internal: Vec<ipnet::IpNet> = meta
            .internal_networks
            .iter()
            .filter_map(|n| n.parse().ok())
            .collect();
        let internal = if internal.is_empty() {
            o365flow::classify::default_internal_networks()
        } else {
            internal
        };
        Pseudonymizer::for_run(&internal).frame(&mut flows)?;
        meta.pseudonymized = true;
    }
    let report = o365flow::report::audit::build(&flows, &meta, &catalog)?;
    write_report(&report, &args.out)?;
    print!("{}", terminal::findings(&report));
    for w in &meta.warnings {
        eprintln!("o365flow: warning: {w}");
    }
    Ok(if meta.warnings.is_empty() {
        EXIT_CLEAN
    } else {
        EXIT_WARNINGS
    })
}
