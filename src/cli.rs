//! Command-line types (clap derive) and the glue that turns them into library calls.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, CommandFactory, Parser, Subcommand};

use o365flow::catalog::store::{self, Instance};
use o365flow::catalog::Catalog;
use o365flow::classify::client::ClientRules;
use o365flow::engine::{run_files, Engine};
use o365flow::flow::TableLimits;
use o365flow::report::meta::RunMeta;
use o365flow::report::out::{read_flow_files, write_analysis, write_report};
use o365flow::report::pseudonym::Pseudonymizer;
use o365flow::report::write::FlowStream;
use o365flow::report::{terminal, write_flows};
use o365flow::time::Duration;
use o365flow::{AnalysisConfig, Progress};

/// Office 365 flow analyzer: reads packet captures, finds what each flow is (TLS server names,
/// ports, protocol) and which Office 365 service it belongs to.
#[derive(Debug, Parser)]
#[command(name = "o365flow", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyze capture files (pcap, pcapng) and directories of them as one run.
    Analyze(AnalyzeArgs),
    /// Capture interfaces libpcap can open (names for `live -i`).
    Interfaces,
    /// Analyze live traffic from an interface (a SPAN/mirror port) until Ctrl-C, SIGTERM,
    /// --duration or --count; report every --report-every.
    Live(LiveArgs),
    /// Rebuild the audit report from flow files (flows.parquet of one or many `analyze --out`
    /// runs, e.g. several sites or a week of captures).
    Report(ReportArgs),
    /// Inspect and compare Office 365 endpoint catalogs (Microsoft's endpoint web-service JSON).
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Print a shell completion script to stdout, e.g.
    /// `o365flow completions bash > /etc/bash_completion.d/o365flow`.
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print a manual page (roff) to stdout, e.g. `o365flow man > o365flow.1`;
    /// `o365flow man analyze` prints o365flow-analyze(1).
    Man {
        /// A subcommand (`analyze`, `catalog diff`...): its own page instead of o365flow(1).
        subcommand: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct LiveArgs {
    /// Interface to capture on (see `o365flow interfaces`).
    #[arg(short = 'i', long, value_name = "NAME")]
    pub interface: String,

    /// BPF capture filter (tcpdump syntax), checked before capture starts.
    #[arg(long, value_name = "EXPR")]
    pub filter: Option<String>,

    /// Stop after this long (e.g. 90s, 15m, 8h, 1d).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub duration: Option<std::time::Duration>,

    /// Stop after this many packets.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,

    /// Write the --out report set this often while capturing (e.g. 15m).
    #[arg(long, value_name = "TIME", value_parser = parse_time, requires = "out")]
    pub report_every: Option<std::time::Duration>,

    /// Bytes kept per packet.
    #[arg(long, value_name = "BYTES", default_value_t = 65535)]
    pub snaplen: i32,

    /// Kernel capture buffer (e.g. 64MiB).
    #[arg(long, value_name = "SIZE", default_value = "32MiB", value_parser = parse_size)]
    pub buffer_size: u64,

    /// Packets queued between capture and analysis; more are dropped and counted.
    #[arg(long, value_name = "PACKETS", default_value_t = 65536)]
    pub queue: usize,

    /// Do not put the interface in promiscuous mode.
    #[arg(long)]
    pub no_promisc: bool,

    /// Also keep the raw packets in rotating pcap files in DIR (for a later `analyze`).
    #[arg(long, value_name = "DIR")]
    pub write_pcap: Option<PathBuf>,

    /// Start a new pcap file after this size (e.g. 1GiB).
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = parse_size)]
    pub rotate: u64,

    /// pcap files kept; the oldest are deleted.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub keep: usize,

    /// Drop root privileges to this user once the interface is open.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,

    #[command(flatten)]
    pub options: AnalysisOptions,
}

/// `15m` -> (15, "m"): leading digits and the unit after them.
fn number_and_unit(text: &str) -> Result<(u64, &str), String> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n = number
        .parse()
        .map_err(|_| format!("{text:?}: expected a number, then a unit"))?;
    Ok((n, unit))
}

/// `90s`, `15m`, `8h`, `1d` or plain seconds.
fn parse_time(text: &str) -> Result<std::time::Duration, String> {
    let (n, unit) = number_and_unit(text)?;
    let seconds = match unit {
        "" | "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        other => return Err(format!("{text:?}: unknown unit {other:?} (s, m, h, d)")),
    };
    Ok(std::time::Duration::from_secs(seconds))
}

/// `512KiB`, `1GiB`, `500MB` or plain bytes.
fn parse_size(text: &str) -> Result<u64, String> {
    let (n, unit) = number_and_unit(text)?;
    let factor: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        other => {
            return Err(format!(
                "{text:?}: unknown unit {other:?} (KiB, MiB, GiB, KB, MB, GB)"
            ))
        }
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("{text:?}: too large"))
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// flows.parquet files written by `analyze --out` (or `--flows FILE.parquet`), or directories
    /// of them such as a partitioned `flows/` tree (every *.parquet below is read).
    #[arg(value_name = "FLOWS", required = true)]
    pub inputs: Vec<PathBuf>,

    /// Directory for summary.json, report.md, report.html, firewall-rules.csv and firewall/.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Office 365 endpoint catalog for firewall rules and never-seen endpoints (default: the
    /// newest stored catalog, else the embedded one).
    #[arg(long, value_name = "FILE")]
    pub catalog: Option<PathBuf>,

    /// Replace internal addresses with stable pseudonyms (IPv6 documentation addresses) in
    /// every output.
    #[arg(long)]
    pub pseudonymize: bool,
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Version, endpoint sets and their counts per service area and category.
    Show {
        /// Catalog file to show instead of the embedded one.
        #[arg(long, value_name = "FILE")]
        catalog: Option<PathBuf>,
    },
    /// Validate a Microsoft endpoint JSON file and store it as the newest catalog of its
    /// instance in the data directory; `analyze` then uses it.
    Import {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// worldwide, usgovdod, usgovgcchigh or china.
        #[arg(long, default_value = "worldwide", value_parser = parse_instance)]
        instance: Instance,
        /// Microsoft's version number (YYYYMMDDNN) when known; else the file's date and hash.
        #[arg(long)]
        version: Option<String>,
    },
    /// Ask Microsoft's endpoint web service for the latest version and, when newer than every
    /// stored catalog, download and store it (the data directory keeps all versions).
    Update {
        /// worldwide, usgovdod, usgovgcchigh or china.
        #[arg(long, default_value = "worldwide", value_parser = parse_instance)]
        instance: Instance,
        /// HTTP(S) proxy, e.g. http://proxy.example:8080 (default: the http(s)_proxy variables).
        #[arg(long, value_name = "URL")]
        proxy: Option<String>,
        /// The web service's address (for a mirror or a test server).
        #[arg(long, value_name = "URL", default_value = o365flow::catalog::update::SERVICE_URL)]
        service_url: String,
    },
    /// Endpoint sets added, removed and changed from OLD to NEW (URLs, IPs, ports, category,
    /// required, notes...).
    Diff {
        #[arg(value_name = "OLD")]
        old: PathBuf,
        #[arg(value_name = "NEW")]
        new: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Capture files and directories (searched recursively for .pcap, .pcapng, .cap, in name
    /// order). Files given together are one analysis: a flow continuing into the next file
    /// stays one flow.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,

    /// Write every flow to FILE; the format follows the extension: .csv, .parquet or .jsonl.
    #[arg(long, value_name = "FILE")]
    pub flows: Option<PathBuf>,

    #[command(flatten)]
    pub options: AnalysisOptions,
}

/// Options every analysis takes, from files or live.
#[derive(Debug, Args)]
pub struct AnalysisOptions {
    /// Office 365 endpoint catalog (Microsoft's endpoint web-service JSON) to use instead of the
    /// embedded one.
    #[arg(long, value_name = "FILE")]
    pub catalog: Option<PathBuf>,

    /// Your own entries (TOML): names and prefixes with a service label (on-premises ADFS,
    /// Exchange hybrid, SfB Edge, a proxy), matched before the catalog (`matched_by = user`).
    #[arg(long, value_name = "FILE")]
    pub catalog_extra: Option<PathBuf>,

    /// Your own client identification rules (TOML, the format of the embedded
    /// src/classify/data/clients.toml), tried before the embedded ones.
    #[arg(long, value_name = "FILE")]
    pub client_rules: Option<PathBuf>,

    /// Most flows tracked at once; when full, the least recently active flows are ended early
    /// (counted and reported as evictions).
    #[arg(long, value_name = "N", default_value_t = 1_000_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_flows: u64,

    /// A flow idle for this many seconds of capture time ends; a later packet starts a new flow.
    #[arg(long, value_name = "SECONDS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=86_400 * 365))]
    pub idle_timeout: u64,

    /// Largest TLS ClientHello read per flow, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 32 * 1024,
          value_parser = clap::value_parser!(u64).range(512..=1 << 20))]
    pub max_handshake: u64,

    /// Networks inside the firewall, deciding each flow's direction (outbound, inbound,
    /// internal, external); repeat or comma-separate. Default: RFC 1918 and fc00::/7.
    #[arg(long, value_name = "CIDR", value_delimiter = ',')]
    pub internal: Vec<ipnet::IpNet>,

    /// Write the flow table (flows.parquet with the run's metadata, flows.csv, flows.jsonl) and
    /// the audit report (summary.json, report.md, report.html, firewall-rules.csv, firewall/)
    /// into DIR.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// With --out: write the Parquet flow table as Hive-style partitions,
    /// DIR/flows/site=NAME/date=YYYY-MM-DD/part-ID.parquet, instead of DIR/flows.parquet
    /// (repeat it; outermost first). `site=NAME` names the sensor, `date` is each flow's UTC
    /// start day. Part files are named after the captures' contents, so a re-run replaces them.
    #[arg(long, value_name = "site=NAME|date", requires = "out")]
    pub partition: Vec<o365flow::report::partition::PartitionKey>,

    /// Replace internal addresses with stable pseudonyms (IPv6 documentation addresses,
    /// 2001:db8::/32) in every output, for reports that leave the company.
    #[arg(long)]
    pub pseudonymize: bool,

    /// Print warnings only, no summary.
    #[arg(long, short)]
    pub quiet: bool,

    /// Threads for a file analysis: 1 runs everything on one thread, each capture's SHA-256
    /// included; 2 or more (default: the machine's cores) compute the digest on a second thread
    /// and make rows (classification, client rules, output) on another, beside the packet path.
    /// Results are the same for any value. `live` does not use it: its analysis runs on one
    /// thread beside the capture thread.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
}

/// 0 = clean, 1 = finished with warnings, 2 = could not run.
pub const EXIT_CLEAN: u8 = 0;
pub const EXIT_WARNINGS: u8 = 1;
pub const EXIT_FAILED: u8 = 2;

pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Analyze(args) => run_analyze(args),
        Command::Report(args) => run_report(args),
        Command::Interfaces => run_interfaces(),
        Command::Live(args) => run_live(args),
        Command::Catalog(command) => run_catalog(command),
        Command::Completions { shell } => run_completions(shell),
        Command::Man { subcommand } => run_man(&subcommand),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("o365flow: error: {e:#}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

fn run_completions(shell: clap_complete::Shell) -> anyhow::Result<u8> {
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

fn run_man(path: &[String]) -> anyhow::Result<u8> {
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

fn run_catalog(command: CatalogCommand) -> anyhow::Result<u8> {
    match command {
        CatalogCommand::Show { catalog } => {
            let catalog = match &catalog {
                Some(path) => Catalog::from_file(path)?,
                None => default_catalog()?,
            };
            print!("{}", catalog_summary(&catalog));
        }
        CatalogCommand::Import {
            file,
            instance,
            version,
        } => {
            let catalog = Catalog::from_file(&file)?;
            let version = version.unwrap_or_else(|| catalog.version().to_owned());
            let text =
                std::fs::read_to_string(&file).with_context(|| file.display().to_string())?;
            let data =
                store::data_dir().context("no data directory: set O365FLOW_DATA_DIR or HOME")?;
            let path = store::store(
                &data,
                instance,
                &text,
                &version,
                &file.display().to_string(),
            )?;
            println!(
                "stored {} endpoint sets as {} catalog version {version}: {}",
                catalog.sets().len(),
                instance.service_name(),
                path.display()
            );
        }
        CatalogCommand::Update {
            instance,
            proxy,
            service_url,
        } => {
            use o365flow::catalog::update::{update, UpdateOutcome};
            let data =
                store::data_dir().context("no data directory: set O365FLOW_DATA_DIR or HOME")?;
            match update(&data, instance, &service_url, proxy.as_deref())? {
                UpdateOutcome::UpToDate { version } => {
                    println!(
                        "{} catalog is up to date: version {version}",
                        instance.service_name()
                    )
                }
                UpdateOutcome::Stored { version, path } => println!(
                    "stored {} catalog version {version}: {}",
                    instance.service_name(),
                    path.display()
                ),
            }
        }
        CatalogCommand::Diff { old, new, json } => {
            let old = Catalog::raw_from_file(&old)?;
            let new = Catalog::raw_from_file(&new)?;
            let diff = o365flow::catalog::diff::diff(&old, &new);
            if json {
                println!("{}", serde_json::to_string_pretty(&diff)?);
            } else {
                print!("{}", diff.to_text());
            }
        }
    }
    Ok(EXIT_CLEAN)
}

fn parse_instance(text: &str) -> Result<Instance, String> {
    Instance::parse(text).ok_or_else(|| {
        format!("unknown instance {text:?}: worldwide, usgovdod, usgovgcchigh or china")
    })
}

/// The catalog `analyze` uses without `--catalog`: the newest stored worldwide catalog, else
/// the embedded snapshot.
fn default_catalog() -> anyhow::Result<Catalog> {
    if let Some(stored) = store::data_dir().and_then(|d| store::newest(&d, Instance::Worldwide)) {
        return Ok(stored?);
    }
    Catalog::embedded().context("embedded catalog")
}

/// `catalog show`: source, version, and a table of set counts per service area and category.
fn catalog_summary(catalog: &Catalog) -> String {
    use o365flow::catalog::Category;
    use std::collections::BTreeMap;
    use std::fmt::Write;
    let mut table: BTreeMap<String, [usize; 3]> = BTreeMap::new();
    for set in catalog.sets() {
        let column = match set.category {
            Category::Optimize => 0,
            Category::Allow => 1,
            Category::Default => 2,
        };
        if let Some(cell) = table
            .entry(set.service_area.to_string())
            .or_default()
            .get_mut(column)
        {
            *cell += 1;
        }
    }
    let mut out = String::new();
    let _ = writeln!(out, "catalog: {}", catalog.name());
    let _ = writeln!(out, "version: {}", catalog.version());
    let _ = writeln!(out, "endpoint sets: {}", catalog.sets().len());
    let _ = writeln!(
        out,
        "  {:<12} {:>9} {:>7} {:>8} {:>6}",
        "service", "Optimize", "Allow", "Default", "total"
    );
    for (area, counts) in &table {
        let _ = writeln!(
            out,
            "  {area:<12} {:>9} {:>7} {:>8} {:>6}",
            counts[0],
            counts[1],
            counts[2],
            counts.iter().sum::<usize>()
        );
    }
    out
}

/// Rows per chunk when `--flows` is written while the run goes on: at most this many finished
/// rows are held in memory besides the flow table.
const STREAM_CHUNK_ROWS: usize = 32_768;

fn run_analyze(args: AnalyzeArgs) -> anyhow::Result<u8> {
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
    let mut analysis = std::thread::scope(|scope| {
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
    let mut meta = RunMeta::from_run(&analysis.summary, &config.internal);
    if let Some(p) = &pseudonyms {
        p.rows(&mut analysis.flows);
        meta.pseudonymized = true;
    }
    // Results first, whatever went wrong with some inputs: nothing read is lost.
    let mut write_result = match (stream, stream_error) {
        (_, Some(e)) => Err(e),
        (Some(s), None) if analysis.read_anything() => s.finish().map_err(anyhow::Error::from),
        (Some(s), None) => {
            s.abandon();
            Ok(())
        }
        (None, None) => match &args.flows {
            Some(path) if analysis.read_anything() => {
                write_flows(&analysis.flows, path).map_err(anyhow::Error::from)
            }
            _ => Ok(()),
        },
    };
    let mut report = None;
    if let (Some(dir), true) = (&args.options.out, analysis.read_anything()) {
        match write_analysis(
            &analysis.flows,
            &meta,
            &catalog,
            dir,
            &args.options.partition,
        ) {
            Ok(r) => report = Some(r),
            Err(e) => write_result = write_result.and(Err(e.into())),
        }
    }
    if args.options.quiet {
        for w in &analysis.summary.warnings {
            eprintln!("o365flow: warning: {w}");
        }
    } else {
        print!("{}", terminal::render(&analysis.summary, &analysis.tally));
        if let Some(report) = &report {
            print!("{}", terminal::findings(report));
        }
        for w in &analysis.summary.warnings {
            eprintln!("o365flow: warning: {w}");
        }
    }
    write_result?;
    if !analysis.read_anything() {
        eprintln!("o365flow: error: no readable capture among the inputs");
        return Ok(EXIT_FAILED);
    }
    Ok(if analysis.summary.warnings.is_empty() {
        EXIT_CLEAN
    } else {
        EXIT_WARNINGS
    })
}

fn run_report(args: ReportArgs) -> anyhow::Result<u8> {
    let catalog = match &args.catalog {
        Some(path) => Catalog::from_file(path)?,
        None => default_catalog()?,
    };
    let (mut flows, metas) = read_flow_files(&args.inputs)?;
    let mut meta = RunMeta::merge(&metas);
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

impl AnalysisOptions {
    /// The catalog and analysis configuration these options ask for.
    fn load(&self) -> anyhow::Result<(Catalog, AnalysisConfig)> {
        let catalog = match &self.catalog {
            Some(path) => Catalog::from_file(path)?,
            None => default_catalog()?,
        };
        let config = AnalysisConfig {
            limits: TableLimits {
                max_flows: usize::try_from(self.max_flows).unwrap_or(usize::MAX),
                idle_timeout: Duration::from_secs(
                    i64::try_from(self.idle_timeout).unwrap_or(i64::MAX),
                ),
            },
            max_handshake: usize::try_from(self.max_handshake).unwrap_or(32 * 1024),
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

fn run_interfaces() -> anyhow::Result<u8> {
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

fn run_live(args: LiveArgs) -> anyhow::Result<u8> {
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
        buffer_bytes: i32::try_from(args.buffer_size).unwrap_or(i32::MAX),
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
    let mut report_errors = 0u32;
    let mut on_report = |snapshot: &o365flow::Analysis| {
        let Some(dir) = &out else { return };
        let mut flows = snapshot.flows.clone();
        let mut meta = RunMeta::from_run(&snapshot.summary, &config.internal);
        if let Some(p) = &pseudonyms {
            p.rows(&mut flows);
            meta.pseudonymized = true;
        }
        if let Err(e) = write_analysis(&flows, &meta, &catalog, dir, &partitions) {
            report_errors += 1;
            eprintln!("o365flow: warning: report: {e}");
        }
    };
    let mut on_status = |status: &o365flow::engine::live::LiveStatus| {
        if on_terminal {
            eprint!("\r{status}\x1b[K");
            let _ = std::io::stderr().flush();
        }
    };
    let mut analysis = o365flow::engine::live::run(
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
        },
    )?;
    if on_terminal {
        eprintln!();
    }
    let mut meta = RunMeta::from_run(&analysis.summary, &config.internal);
    if let Some(p) = &pseudonyms {
        p.rows(&mut analysis.flows);
        meta.pseudonymized = true;
    }
    let mut report = None;
    if let Some(dir) = &args.options.out {
        report = Some(write_analysis(
            &analysis.flows,
            &meta,
            &catalog,
            dir,
            &args.options.partition,
        )?);
    }
    if !quiet {
        print!("{}", terminal::render(&analysis.summary, &analysis.tally));
        if let Some(report) = &report {
            print!("{}", terminal::findings(report));
        }
    }
    for w in &analysis.summary.warnings {
        eprintln!("o365flow: warning: {w}");
    }
    Ok(if analysis.summary.warnings.is_empty() {
        EXIT_CLEAN
    } else {
        EXIT_WARNINGS
    })
}
