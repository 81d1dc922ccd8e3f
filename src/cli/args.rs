//! Arguments as clap reads them, and their checks: a value out of range is refused with a
//! clear message and exit code 2 (clap's own), never clamped.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use o365flow::catalog::store::Instance;

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

/// 0 = clean, 1 = finished with warnings, 2 = could not run.
pub const EXIT_CLEAN: u8 = 0;
pub const EXIT_WARNINGS: u8 = 1;
pub const EXIT_FAILED: u8 = 2;

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
    /// start day, `hour` its UTC start hour (below the date; `hour` alone adds the date).
    /// Part files are named after the captures' contents, so a re-run replaces them.
    #[arg(long, value_name = "site=NAME|date|hour", requires = "out")]
    pub partition: Vec<o365flow::report::partition::PartitionKey>,

    /// Replace internal addresses with stable pseudonyms (IPv6 documentation addresses,
    /// 2001:db8::/32) in every output, for reports that leave the company.
    #[arg(long)]
    pub pseudonymize: bool,

    /// The company's own Office 365 tenant (repeat for several): `contoso`, or a name carrying
    /// it such as contoso.onmicrosoft.com. Traffic to any other tenant becomes the finding
    /// "Office 365 traffic to other organisations' tenants". Without it the tenant with the most
    /// clients is presumed the company's own. A mail domain (contoso.com) is accepted too and
    /// taken in the form Microsoft's MX names write it (contoso-com): it marks that mail domain
    /// as the company's in the tenants table; mail domains are never judged foreign.
    #[arg(long = "tenant", value_name = "NAME", value_parser = parse_tenant)]
    pub tenants: Vec<String>,

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

    /// Bytes kept per packet (64 to 262144).
    #[arg(long, value_name = "BYTES", default_value_t = 65535,
          value_parser = clap::value_parser!(i32).range(64..=262_144))]
    pub snaplen: i32,

    /// Kernel capture buffer (e.g. 64MiB; at most 2GiB - 1, libpcap's limit).
    #[arg(long, value_name = "SIZE", default_value = "64MiB", value_parser = parse_buffer_size)]
    pub buffer_size: i32,

    /// Packets queued between capture and analysis; more are dropped and counted.
    #[arg(long, value_name = "PACKETS", default_value_t = 65536,
          value_parser = parse_count)]
    pub queue: usize,

    /// Do not put the interface in promiscuous mode.
    #[arg(long)]
    pub no_promisc: bool,

    /// Also keep the raw packets in rotating pcap files in DIR (for a later `analyze`).
    #[arg(long, value_name = "DIR")]
    pub write_pcap: Option<PathBuf>,

    /// Start a new pcap file after this size (e.g. 1GiB; at least 64KiB).
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = parse_rotate)]
    pub rotate: u64,

    /// pcap files kept; the oldest are deleted.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = parse_count)]
    pub keep: usize,

    /// With --out: DIR/flows.csv and DIR/flows.jsonl hold the most recent N ended flows (every
    /// flow is in the Parquet parts under DIR/flows/; the report covers them all).
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = parse_count,
          alias = "report-rows", requires = "out")]
    pub recent_rows: usize,

    /// With --out: the report gathers flows in at most N groups (flows equal in every value the
    /// report reads are one group); beyond, the groups with the fewest bytes first lose their
    /// client or server address, then count in the totals only, and the report says so.
    #[arg(long, value_name = "N", default_value_t = 200_000, value_parser = parse_count,
          requires = "out")]
    pub report_groups: usize,

    /// With --out: start a new Parquet part under DIR/flows/date=.../hour=.../ after this many
    /// ended flows (and at least every hour).
    #[arg(long, value_name = "N", default_value_t = 50_000, value_parser = parse_count,
          requires = "out")]
    pub part_rows: usize,

    /// With --out: delete the flow parts of days more than N days ago (UTC), checked as each
    /// part is written.
    #[arg(long, value_name = "N", requires = "out",
          value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub keep_days: Option<u32>,

    /// Serve Prometheus metrics (packets, bytes, drops by cause, open, finished and evicted
    /// flows, Office 365 bytes by service area and port verdict, last report time) over HTTP at
    /// ADDR:PORT, e.g. 127.0.0.1:9419; GET /metrics. Updated every second.
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics: Option<std::net::SocketAddr>,

    /// Drop root privileges to this user once the interface is open.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,

    #[command(flatten)]
    pub options: AnalysisOptions,
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

    /// The company's own Office 365 tenant (repeat for several): `contoso`, or a name carrying
    /// it such as contoso.onmicrosoft.com. Traffic to any other tenant becomes the finding
    /// "Office 365 traffic to other organisations' tenants". Without it the tenant with the most
    /// clients is presumed the company's own. A mail domain (contoso.com) is accepted too and
    /// taken in the form Microsoft's MX names write it (contoso-com): it marks that mail domain
    /// as the company's in the tenants table; mail domains are never judged foreign. Replaces the tenants the flow files
    /// were analysed with.
    #[arg(long = "tenant", value_name = "NAME", value_parser = parse_tenant)]
    pub tenants: Vec<String>,
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

fn parse_instance(text: &str) -> Result<Instance, String> {
    Instance::parse(text).ok_or_else(|| {
        format!("unknown instance {text:?}: worldwide, usgovdod, usgovgcchigh or china")
    })
}

/// A kernel buffer size libpcap takes (a C int of bytes).
fn parse_buffer_size(text: &str) -> Result<i32, String> {
    let bytes = parse_size(text)?;
    i32::try_from(bytes)
        .ok()
        .filter(|b| *b >= 1 << 16)
        .ok_or_else(|| format!("{text:?}: between 64KiB and 2GiB - 1 bytes"))
}

/// A pcap rotation size that is not a file per packet.
fn parse_rotate(text: &str) -> Result<u64, String> {
    let bytes = parse_size(text)?;
    if bytes < 1 << 16 {
        return Err(format!("{text:?}: at least 64KiB"));
    }
    Ok(bytes)
}

/// A count of one or more.
fn parse_count(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{text:?}: a whole number of 1 or more")),
    }
}

fn parse_tenant(arg: &str) -> Result<String, String> {
    o365flow::classify::tenant::parse_tenant(arg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_are_refused_not_clamped() {
        assert_eq!(parse_buffer_size("64MiB"), Ok(64 << 20));
        assert!(parse_buffer_size("4GiB").is_err());
        assert!(parse_buffer_size("1KiB").is_err());
        assert!(parse_rotate("10KB").is_err());
        assert_eq!(parse_rotate("200KiB"), Ok(200 << 10));
        assert_eq!(parse_rotate("1GiB"), Ok(1 << 30));
        assert_eq!(parse_count("20"), Ok(20));
        assert!(parse_count("0").is_err() && parse_count("-3").is_err());
        assert_eq!(parse_time("15m"), Ok(std::time::Duration::from_secs(900)));
        assert!(parse_time("15w").is_err());
    }
}
