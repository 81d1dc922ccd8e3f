//! `catalog update` against a local HTTP server that serves the endpoint web service's URL
//! layout (no test reaches the internet): first run stores, the same version downloads nothing,
//! a newer version is fetched, an HTTP error or malformed JSON leaves the stored catalog alone.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Service {
    latest: String,
    endpoints: String,
    endpoints_status: u16,
    requests: Vec<String>,
}

/// A one-connection-at-a-time HTTP/1.1 server for /version/{i} and /endpoints/{i}.
fn serve(state: Arc<Mutex<Service>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            let path = request.split_whitespace().nth(1).unwrap_or("").to_owned();
            let mut s = state.lock().unwrap();
            s.requests.push(path.clone());
            let (status, body) = if path.starts_with("/version/Worldwide?ClientRequestId=") {
                (
                    200,
                    format!(r#"{{"instance": "Worldwide", "latest": "{}"}}"#, s.latest),
                )
            } else if path.starts_with("/endpoints/Worldwide?ClientRequestId=") {
                (s.endpoints_status, s.endpoints.clone())
            } else {
                (404, "not found".to_owned())
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{addr}")
}

fn o365flow(data: &Path, args: &[&str]) -> (i32, String, String) {
    let out = common::o365flow_command()
        .args(args)
        .env("O365FLOW_DATA_DIR", data)
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("ALL_PROXY")
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn update_stores_skips_fetches_newer_and_survives_errors() {
    let current = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/catalog/data/m365-worldwide-endpoints.json"),
    )
    .unwrap();
    let older = r#"[{"id": 1, "serviceArea": "Exchange", "category": "Optimize", "urls": ["outlook.office365.com"], "tcpPorts": "443"}]"#;
    let state = Arc::new(Mutex::new(Service {
        latest: "2025111400".into(),
        endpoints: older.into(),
        endpoints_status: 200,
        ..Service::default()
    }));
    let url = serve(state.clone());
    let data = tempfile::tempdir().unwrap();
    let update = || o365flow(data.path(), &["catalog", "update", "--service-url", &url]);
    let show = || o365flow(data.path(), &["catalog", "show"]).1;
    let endpoint_requests = |s: &Arc<Mutex<Service>>| {
        s.lock()
            .unwrap()
            .requests
            .iter()
            .filter(|r| r.starts_with("/endpoints/"))
            .count()
    };

    let (code, text, err) = update();
    assert_eq!(code, 0, "{err}");
    assert!(
        text.contains("stored Worldwide catalog version 2025111400"),
        "{text}"
    );
    assert!(show().contains("version: 2025111400"));
    // The request id is a UUID (8-4-4-4-12 hex).
    let first = state.lock().unwrap().requests[0].clone();
    let id = first.split("ClientRequestId=").nth(1).unwrap();
    assert_eq!(
        id.split('-').map(str::len).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12],
        "{first}"
    );

    let (code, text, _) = update();
    assert_eq!(code, 0);
    assert!(text.contains("up to date: version 2025111400"), "{text}");
    assert_eq!(
        endpoint_requests(&state),
        1,
        "the same version downloads nothing"
    );

    {
        let mut s = state.lock().unwrap();
        s.latest = "2025120100".into();
        s.endpoints = current.clone();
    }
    let (code, text, err) = update();
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("version 2025120100"), "{text}");
    let shown = show();
    assert!(
        shown.contains("version: 2025120100") && shown.contains("endpoint sets: 79"),
        "{shown}"
    );

    {
        let mut s = state.lock().unwrap();
        s.latest = "2025120200".into();
        s.endpoints_status = 500;
    }
    let (code, _, err) = update();
    assert_eq!(code, 2);
    assert!(err.contains("/endpoints/Worldwide"), "{err}");
    assert!(
        show().contains("version: 2025120100"),
        "an HTTP error keeps the stored catalog"
    );

    {
        let mut s = state.lock().unwrap();
        s.latest = "2025120300".into();
        s.endpoints_status = 200;
        s.endpoints = "[{\"id\": 3, \"serviceArea\":".into();
    }
    let (code, _, err) = update();
    assert_eq!(code, 2);
    assert!(err.contains("not Microsoft endpoint JSON"), "{err}");
    assert!(
        show().contains("version: 2025120100"),
        "malformed JSON keeps the stored catalog"
    );
}
