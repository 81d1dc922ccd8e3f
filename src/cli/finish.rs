//! What analyze and live share around a run: the options turned into a catalog and a
//! configuration, and the end of the run (pseudonyms, metadata, flow files and report, the
//! terminal summary, warnings, the exit code).

use std::path::Path;

use o365flow::catalog::Catalog;
use o365flow::classify::client::ClientRules;
use o365flow::flow::TableLimits;
use o365flow::report::audit::Gathered;
use o365flow::report::meta::RunMeta;
use o365flow::report::out::{write_analysis, write_live_report};
use o365flow::report::pseudonym::Pseudonymizer;
use o365flow::report::{terminal, write_flows};
use o365flow::time::Duration;
use o365flow::{Analysis, AnalysisConfig};

use super::args::{AnalysisOptions, EXIT_CLEAN, EXIT_FAILED, EXIT_WARNINGS};
use super::catalog::default_catalog;

/// How a run ends, for analyze and live alike.
pub(super) struct RunEnd<'a> {
    pub catalog: &'a Catalog,
    pub config: &'a AnalysisConfig,
    pub options: &'a AnalysisOptions,
    pub pseudonyms: Option<&'a Pseudonymizer>,
    /// `--flows FILE` when its rows were kept rather than streamed during the run.
    pub flows_file: Option<&'a Path>,
    /// Files: a run that read nothing has failed. Live: whatever was seen is reported.
    pub require_input: bool,
    /// Live: the Parquet table went to the flow parts during the run, whose writer gathered
    /// every flow for the report; `--out` gets that report with the most recent rows as CSV
    /// and JSON lines.
    pub live: Option<Gathered>,
}

/// Pseudonymizes the kept rows, writes the flow file and the report set (`--out`), prints the
/// summary, findings and warnings, and returns the exit code. `earlier` is an error from writing
/// flows during the run: it surfaces after everything read has been written.
pub(super) fn finish(
    end: RunEnd<'_>,
    mut analysis: Analysis,
    earlier: anyhow::Result<()>,
) -> anyhow::Result<u8> {
    let mut meta = end
        .options
        .run_meta(&analysis.summary, &end.config.internal);
    if let Some(p) = end.pseudonyms {
        p.rows(&mut analysis.flows);
        meta.pseudonymized = true;
    }
    let read = analysis.read_anything() || !end.require_input;
    let mut result = earlier;
    if let (Some(path), true) = (end.flows_file, read) {
        result = result.and(write_flows(&analysis.flows, path).map_err(anyhow::Error::from));
    }
    let mut report = None;
    if let (Some(dir), true) = (&end.options.out, read) {
        let written = if let Some(gathered) = &end.live {
            write_live_report(&analysis.flows, gathered, &meta, end.catalog, dir)
        } else {
            write_analysis(
                &analysis.flows,
                &meta,
                end.catalog,
                dir,
                &end.options.partition,
            )
        };
        match written {
            Ok(r) => report = Some(r),
            Err(e) => result = result.and(Err(e.into())),
        }
    }
    if !end.options.quiet {
        print!("{}", terminal::render(&analysis.summary, &analysis.tally));
        if let Some(report) = &report {
            print!("{}", terminal::findings(report));
        }
    }
    for w in &analysis.summary.warnings {
        eprintln!("o365flow: warning: {w}");
    }
    result?;
    if !read {
        eprintln!("o365flow: error: no readable capture among the inputs");
        return Ok(EXIT_FAILED);
    }
    Ok(if analysis.summary.warnings.is_empty() {
        EXIT_CLEAN
    } else {
        EXIT_WARNINGS
    })
}

impl AnalysisOptions {
    /// The run's metadata with what these options add (sites, tenants).
    pub(super) fn run_meta(
        &self,
        summary: &o365flow::report::RunSummary,
        internal: &[ipnet::IpNet],
    ) -> RunMeta {
        let mut meta = RunMeta::from_run(summary, internal);
        meta.sites = self
            .partition
            .iter()
            .filter_map(|k| match k {
                o365flow::report::partition::PartitionKey::Site(name) => Some(name.clone()),
                o365flow::report::partition::PartitionKey::Date
                | o365flow::report::partition::PartitionKey::Hour => None,
            })
            .collect();
        meta.tenants = o365flow::classify::tenant::distinct(&self.tenants);
        meta
    }

    /// The catalog and analysis configuration these options ask for.
    pub(super) fn load(&self) -> anyhow::Result<(Catalog, AnalysisConfig)> {
        let catalog = match &self.catalog {
            Some(path) => Catalog::from_file(path)?,
            None => default_catalog()?,
        };
        let config = AnalysisConfig {
            limits: TableLimits {
                max_flows: usize::try_from(self.max_flows)?,
                idle_timeout: Duration::from_secs(i64::try_from(self.idle_timeout)?),
            },
            max_handshake: usize::try_from(self.max_handshake)?,
            user_catalog: self
                .catalog_extra
                .as_deref()
                .map(Catalog::from_user_toml)
                .transpose()?,
            internal: if self.internal.is_empty() {
                o365flow::classify::default_internal_networks()
            } else {
                self.internal.clone()
            },
            client_rules: match &self.client_rules {
                Some(path) => ClientRules::with_user_file(path)?,
                None => ClientRules::embedded()?,
            },
            threads: self.threads(),
            ..AnalysisConfig::default()
        };
        Ok((catalog, config))
    }

    /// `--threads`, or the machine's cores. Polars' own pool (Parquet encoding) follows an
    /// explicit `--threads` too, so `--threads 1` really is one thread.
    fn threads(&self) -> usize {
        let Some(threads) = self.threads else {
            return AnalysisConfig::default().threads;
        };
        // Before polars reads its configuration (first use), and while this is the only
        // thread; an explicit POLARS_MAX_THREADS wins.
        if std::env::var_os("POLARS_MAX_THREADS").is_none() {
            std::env::set_var("POLARS_MAX_THREADS", threads.to_string());
        }
        usize::from(threads)
    }
}
