//! `live --metrics ADDR:PORT`: the live run's counters as Prometheus metrics over HTTP. The
//! live loop's status (once a second, [`LiveStatus`]) updates a registry of prometheus-client
//! metrics; a thread serves them (OpenMetrics text, which Prometheus scrapes) with tiny_http,
//! a small synchronous server: one scrape now and then is all a sensor needs, no async runtime.
//! Nothing here touches packets or rows; it only reads the status the engine hands out.

use std::net::SocketAddr;
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

/// Listens on `addr` and answers `GET /metrics` (and `/`) with `metrics`.
pub fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> Result<MetricsServer, MonitorError> {
    let server = tiny_http::Server::http(addr).map_err(|e| MonitorError::Bind {
        addr,
        reason: e.to_string(),
    })?;
    let bound = server.server_addr().to_ip().unwrap_or(addr);
    let stop = Arc::new(AtomicBool::new(false));
    let thread_stop = Arc::clone(&stop);
    let thread = std::thread::Builder::new()
        .name("o365flow-metrics".into())
        .spawn(move || {
            while !thread_stop.load(Ordering::Relaxed) {
                let Ok(Some(request)) = server.recv_timeout(Duration::from_millis(200)) else {
                    continue;
                };
                let path = request.url().split('?').next().unwrap_or("");
                let found = matches!(request.method(), tiny_http::Method::Get)
                    && matches!(path, "/metrics" | "/");
                // A client gone before the answer is its own business.
                let _ = if found {
                    let mut response = tiny_http::Response::from_string(metrics.render());
                    if let Ok(header) = tiny_http::Header::from_bytes(
                        "Content-Type",
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    ) {
                        response.add_header(header);
                    }
                    request.respond(response)
                } else {
                    request.respond(
                        tiny_http::Response::from_string("not found: GET /metrics\n")
                            .with_status_code(404),
                    )
                };
            }
        })
        .map_err(|e| MonitorError::Bind {
            addr,
            reason: e.to_string(),
        })?;
    Ok(MetricsServer {
        stop,
        thread: Some(thread),
        addr: bound,
    })
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
}
