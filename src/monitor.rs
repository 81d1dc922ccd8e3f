//! `live --metrics ADDR:PORT`: the live run's counters as Prometheus metrics over HTTP. The
//! live loop's status (once a second, [`LiveStatus`]) updates a registry of prometheus-client
//! metrics; a thread serves them (OpenMetrics text, which Prometheus scrapes) with a small
//! bounded HTTP server of its own (one connection at a time, timeouts, an 8 KiB request head):
//! one scrape now and then is all a sensor needs, no async runtime.
//! Nothing here touches packets or rows; it only reads the status the engine hands out.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::engine::live::LiveStatus;

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("--metrics {addr}: cannot listen: {reason}")]
    Bind { addr: SocketAddr, reason: String },
}

type Labels = Vec<(&'static str, String)>;

/// The metrics of one live run.
pub struct Metrics {
    registry: Registry,
    packets: Counter,
    bytes: Counter,
    dropped: Family<Labels, Counter>,
    open_flows: Gauge,
    finished_flows: Counter,
    evicted_flows: Counter,
    o365_bytes: Family<Labels, Counter>,
    last_report: Gauge<f64, AtomicU64>,
    reports_skipped: Counter,
    reports_failed: Counter,
}

/// Raises a counter to `to` (the status carries totals; a counter only goes up).
fn raise(counter: &Counter, to: u64) {
    let now = counter.get();
    if to > now {
        counter.inc_by(to - now);
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("o365flow");
        let metrics = Metrics {
            registry: Registry::default(),
            packets: Counter::default(),
            bytes: Counter::default(),
            dropped: Family::default(),
            open_flows: Gauge::default(),
            finished_flows: Counter::default(),
            evicted_flows: Counter::default(),
            o365_bytes: Family::default(),
            last_report: Gauge::default(),
            reports_skipped: Counter::default(),
            reports_failed: Counter::default(),
        };
        registry.register(
            "packets",
            "Packets captured (after the capture filter)",
            metrics.packets.clone(),
        );
        registry.register("bytes", "Bytes captured on the wire", metrics.bytes.clone());
        registry.register(
            "dropped_packets",
            "Packets lost, by cause: kernel (capture buffer full) or queue (analysis behind)",
            metrics.dropped.clone(),
        );
        registry.register(
            "open_flows",
            "Flows in the flow table now",
            metrics.open_flows.clone(),
        );
        registry.register(
            "finished_flows",
            "Flows ended (idle, closed, evicted)",
            metrics.finished_flows.clone(),
        );
        registry.register(
            "evicted_flows",
            "Flows ended early because the flow table was full (--max-flows)",
            metrics.evicted_flows.clone(),
        );
        registry.register(
            "o365_bytes",
            "Bytes of finished Office 365 flows by service area and port verdict",
            metrics.o365_bytes.clone(),
        );
        registry.register(
            "last_report_timestamp_seconds",
            "When the last periodic report was written (Unix time; 0: none yet)",
            metrics.last_report.clone(),
        );
        registry.register(
            "reports_skipped",
            "Periodic reports skipped because the writer was still busy",
            metrics.reports_skipped.clone(),
        );
        registry.register(
            "reports_failed",
            "Periodic reports that could not be written",
            metrics.reports_failed.clone(),
        );
        // Seed the drop causes, so both appear (at 0) before the first drop.
        for cause in ["kernel", "queue"] {
            let _ = metrics
                .dropped
                .get_or_create(&vec![("cause", cause.to_owned())]);
        }
        Metrics {
            registry,
            ..metrics
        }
    }

    pub fn update(&self, status: &LiveStatus) {
        raise(&self.packets, status.packets);
        raise(&self.bytes, status.bytes);
        for (cause, n) in [
            ("kernel", status.kernel_dropped),
            ("queue", status.queue_dropped),
        ] {
            raise(
                &self
                    .dropped
                    .get_or_create(&vec![("cause", cause.to_owned())]),
                n,
            );
        }
        self.open_flows
            .set(i64::try_from(status.open_flows).unwrap_or(i64::MAX));
        raise(
            &self.finished_flows,
            u64::try_from(status.finished_flows).unwrap_or(u64::MAX),
        );
        raise(&self.evicted_flows, status.evicted_flows);
        for ((area, verdict), bytes) in &status.o365_bytes {
            let labels = vec![
                ("service_area", area.clone()),
                ("port_verdict", (*verdict).to_owned()),
            ];
            raise(&self.o365_bytes.get_or_create(&labels), *bytes);
        }
        if let Some(t) = status.last_report_unix {
            self.last_report.set(t);
        }
        raise(&self.reports_skipped, status.reports_skipped);
        raise(&self.reports_failed, status.reports_failed);
    }

    /// The periodic reports' outcome as it is now (after the writer has finished, the final
    /// word on them).
    pub fn update_reports(&self, reports: &crate::engine::live::ReportStats) {
        if let Some(t) = reports.last_written_unix() {
            self.last_report.set(t);
        }
        raise(&self.reports_skipped, reports.skipped_count());
        raise(&self.reports_failed, reports.failed_count());
    }

    /// The metrics in the OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing to a String does not fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

/// The HTTP server thread; stops when dropped.
pub struct MetricsServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub addr: SocketAddr,
}

// The server is written here rather than taken from a crate: a bounded one is about 60 lines,
// and the crates at hand are either unbounded (tiny_http starts a thread per connection without
// limit, grows a request line without limit, has no timeouts and its accept thread ends silently
// on EMFILE) or bring an async runtime. This one answers one connection at a time on the metrics
// thread, reads at most `MAX_HEAD` bytes of a request within `IO_TIMEOUT`, and closes every
// connection after the answer: a scrape now and then is all a sensor has to serve.

/// The most of a request head read; a longer one is refused (431).
const MAX_HEAD: usize = 8 * 1024;
/// How long one connection may take to send its request and read the answer.
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the accept loop looks at the stop flag when no one connects.
const ACCEPT_POLL: Duration = Duration::from_millis(100);

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Listens on `addr` and answers `GET /metrics` (and `/`) with `metrics`, 404 otherwise.
pub fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> Result<MetricsServer, MonitorError> {
    let bind_error = |e: std::io::Error| MonitorError::Bind {
        addr,
        reason: e.to_string(),
    };
    let listener = TcpListener::bind(addr).map_err(bind_error)?;
    listener.set_nonblocking(true).map_err(bind_error)?;
    let bound = listener.local_addr().unwrap_or(addr);
    let stop = Arc::new(AtomicBool::new(false));
    let thread_stop = Arc::clone(&stop);
    let thread = std::thread::Builder::new()
        .name("o365flow-metrics".into())
        .spawn(move || {
            while !thread_stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    // A client gone, slow or malformed is its own business.
                    Ok((stream, _)) => {
                        let _ = answer(stream, &metrics);
                    }
                    // Nothing waiting, or out of descriptors (EMFILE) for now: try again
                    // shortly, the thread keeps serving.
                    Err(_) => std::thread::sleep(ACCEPT_POLL),
                }
            }
        })
        .map_err(bind_error)?;
    Ok(MetricsServer {
        stop,
        thread: Some(thread),
        addr: bound,
    })
}

/// What was read of a request head.
#[derive(Debug, PartialEq, Eq)]
enum Head {
    /// The request line's method and path (without the query).
    Request { method: String, path: String },
    /// More than `MAX_HEAD` bytes without the blank line ending the head.
    TooLarge,
    /// The client closed (or sent no request line) before the head ended.
    Incomplete,
}

/// Reads a request head into a fixed buffer: at most `MAX_HEAD` bytes, whatever the client sends.
fn read_head(stream: &mut impl Read) -> std::io::Result<Head> {
    let mut buf = [0u8; MAX_HEAD];
    let mut len = 0;
    loop {
        let Some(free) = buf.get_mut(len..) else {
            return Ok(Head::TooLarge);
        };
        if free.is_empty() {
            return Ok(Head::TooLarge);
        }
        let n = stream.read(free)?;
        if n == 0 {
            return Ok(Head::Incomplete);
        }
        len += n;
        let head = buf.get(..len).unwrap_or_default();
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            let text = String::from_utf8_lossy(head);
            let mut words = text.lines().next().unwrap_or("").split_whitespace();
            let (Some(method), Some(target)) = (words.next(), words.next()) else {
                return Ok(Head::Incomplete);
            };
            let path = target.split('?').next().unwrap_or("");
            return Ok(Head::Request {
                method: method.to_owned(),
                path: path.to_owned(),
            });
        }
    }
}

/// Answers one connection, within `IO_TIMEOUT` for the whole request head.
fn answer(mut stream: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let deadline = std::time::Instant::now() + IO_TIMEOUT;
    // The read timeout is what is left of the deadline, so a client sending a byte now and
    // then cannot hold the server past it.
    struct Deadline<'s>(&'s mut TcpStream, std::time::Instant);
    impl Read for Deadline<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let left = self.1.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(std::io::ErrorKind::TimedOut.into());
            }
            self.0.set_read_timeout(Some(left))?;
            self.0.read(buf)
        }
    }
    let head = read_head(&mut Deadline(&mut stream, deadline))?;
    let (status, content_type, body) = match head {
        Head::Request { method, path }
            if method == "GET" && matches!(path.as_str(), "/metrics" | "/") =>
        {
            ("200 OK", OPENMETRICS, metrics.render())
        }
        Head::Request { .. } => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "not found: GET /metrics\n".to_owned(),
        ),
        Head::TooLarge => (
            "431 Request Header Fields Too Large",
            "text/plain; charset=utf-8",
            "request head too large\n".to_owned(),
        ),
        Head::Incomplete => return Ok(()),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()?;
    stream.shutdown(std::net::Shutdown::Write)
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_becomes_metrics_and_counters_only_rise() {
        let metrics = Metrics::new();
        let mut status = LiveStatus {
            packets: 10,
            bytes: 1500,
            open_flows: 3,
            finished_flows: 2,
            kernel_dropped: 4,
            ..LiveStatus::default()
        };
        status
            .o365_bytes
            .insert(("Exchange".to_owned(), "tunneled-443"), 900);
        metrics.update(&status);
        status.packets = 7; // never lower
        status.last_report_unix = Some(1_700_000_000.5);
        status.reports_skipped = 2;
        status.reports_failed = 1;
        metrics.update(&status);
        let text = metrics.render();
        for line in [
            "# TYPE o365flow_packets counter",
            "o365flow_packets_total 10",
            "o365flow_bytes_total 1500",
            "o365flow_dropped_packets_total{cause=\"kernel\"} 4",
            "o365flow_dropped_packets_total{cause=\"queue\"} 0",
            "o365flow_open_flows 3",
            "o365flow_finished_flows_total 2",
            "o365flow_evicted_flows_total 0",
            "o365flow_o365_bytes_total{service_area=\"Exchange\",port_verdict=\"tunneled-443\"} 900",
            "o365flow_last_report_timestamp_seconds 1700000000.5",
            "o365flow_reports_skipped_total 2",
            "o365flow_reports_failed_total 1",
            "# EOF",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
    }

    #[test]
    fn the_server_answers_metrics_and_refuses_other_paths() {
        use std::io::{Read, Write};
        let metrics = Arc::new(Metrics::new());
        metrics.update(&LiveStatus {
            packets: 42,
            ..LiveStatus::default()
        });
        let server = serve(
            "127.0.0.1:0".parse().expect("address"),
            Arc::clone(&metrics),
        )
        .expect("listen");
        let get = |path: &str| {
            let mut c = std::net::TcpStream::connect(server.addr).expect("connect");
            write!(c, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").expect("write");
            let mut answer = String::new();
            c.read_to_string(&mut answer).expect("read");
            answer
        };
        let ok = get("/metrics");
        assert!(
            ok.starts_with("HTTP/1.0 200") || ok.starts_with("HTTP/1.1 200"),
            "{ok}"
        );
        assert!(ok.contains("\no365flow_packets_total 42\n"), "{ok}");
        assert!(ok.contains("application/openmetrics-text"), "{ok}");
        let missing = get("/other");
        assert!(missing.contains(" 404 "), "{missing}");
        drop(server);
    }

    /// Sends `request` and reads the answer (a reset after a refusal reads as what came).
    fn exchange(addr: SocketAddr, request: &[u8]) -> String {
        let mut c = TcpStream::connect(addr).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let _ = c.write_all(request);
        let mut answer = Vec::new();
        let _ = c.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    }

    #[test]
    fn report_outcomes_reach_the_metrics() {
        let metrics = Metrics::new();
        let reports = crate::engine::live::ReportStats::default();
        metrics.update_reports(&reports);
        let text = metrics.render();
        assert!(
            text.contains("\no365flow_last_report_timestamp_seconds 0.0\n"),
            "{text}"
        );
        reports.written();
        reports.skipped();
        reports.failed();
        reports.failed();
        metrics.update_reports(&reports);
        let text = metrics.render();
        assert!(
            text.contains("\no365flow_reports_skipped_total 1\n"),
            "{text}"
        );
        assert!(
            text.contains("\no365flow_reports_failed_total 2\n"),
            "{text}"
        );
        assert!(
            !text.contains("\no365flow_last_report_timestamp_seconds 0.0\n"),
            "{text}"
        );
    }

    #[test]
    fn a_head_is_read_into_a_fixed_buffer() {
        // An endless client: refused after MAX_HEAD bytes, never more read.
        let mut endless = std::io::repeat(b'a').take(u64::MAX);
        assert_eq!(read_head(&mut endless).expect("read"), Head::TooLarge);
        assert_eq!(endless.limit(), u64::MAX - MAX_HEAD as u64);
        let mut ok = &b"GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\n\r\n"[..];
        assert_eq!(
            read_head(&mut ok).expect("read"),
            Head::Request {
                method: "GET".into(),
                path: "/metrics".into()
            }
        );
        let mut cut = &b"GET /metrics HTTP/1.1\r\nHost"[..];
        assert_eq!(read_head(&mut cut).expect("read"), Head::Incomplete);
    }

    #[test]
    fn an_oversized_head_is_refused_and_the_server_goes_on() {
        let server = serve(
            "127.0.0.1:0".parse().expect("address"),
            Arc::new(Metrics::new()),
        )
        .expect("listen");
        let mut big = b"GET /metrics HTTP/1.1\r\nX-Pad: ".to_vec();
        big.resize(MAX_HEAD + 1024, b'a');
        let refused = exchange(server.addr, &big);
        // The 431 may be lost to a reset (the rest of the head is never read); never a 200.
        assert!(
            refused.is_empty() || refused.starts_with("HTTP/1.1 431"),
            "{refused}"
        );
        let ok = exchange(server.addr, b"GET /metrics HTTP/1.1\r\n\r\n");
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    }

    #[test]
    fn a_slow_client_times_out_and_the_next_scrape_works() {
        let server = serve(
            "127.0.0.1:0".parse().expect("address"),
            Arc::new(Metrics::new()),
        )
        .expect("listen");
        let mut slow = TcpStream::connect(server.addr).expect("connect");
        slow.write_all(b"GET /metr").expect("write");
        let started = std::time::Instant::now();
        // Served after the slow one is given up on, not never.
        let ok = exchange(server.addr, b"GET /metrics HTTP/1.1\r\n\r\n");
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        assert!(ok.contains("Connection: close\r\n"), "{ok}");
        assert!(
            started.elapsed() < IO_TIMEOUT * 3,
            "{:?}",
            started.elapsed()
        );
        // The slow one was closed without an answer.
        slow.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut rest = Vec::new();
        let _ = slow.read_to_end(&mut rest);
        assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    }

    #[test]
    fn other_methods_and_paths_are_not_found() {
        let server = serve(
            "127.0.0.1:0".parse().expect("address"),
            Arc::new(Metrics::new()),
        )
        .expect("listen");
        for request in [
            &b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n"[..],
            b"GET /other HTTP/1.1\r\n\r\n",
            b"HEAD /metrics HTTP/1.1\r\n\r\n",
        ] {
            let answer = exchange(server.addr, request);
            assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
            assert!(answer.contains("Connection: close\r\n"), "{answer}");
        }
    }
}
