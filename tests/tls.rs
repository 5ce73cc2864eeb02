//! HTTPS through the lean client, against the built-in mock serving TLS on 127.0.0.1 port 0:
//! requests answered and tokens counted, token times from kernel receive stamps, connection
//! set-up (TCP connect, TLS handshake) on the records and in the result; a certificate the
//! client does not trust, and a server that speaks only HTTP/2, end as classified `tls`
//! failures, never a panic or a hang.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

/// `llmload mock` serving https with a certificate it made (written to `ca`); killed on drop.
struct TlsMock {
    child: Child,
    url: String,
}

impl TlsMock {
    fn start(ca: &Path) -> TlsMock {
        let mut child = Command::new(bin())
            .args(["mock", "--port", "0", "--ttft", "20ms", "--itl", "1ms"])
            .args(["--output-tokens", "16", "--tls-self-signed"])
            .arg(ca)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("mock starts");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(out).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
        let url = line
            .split_whitespace()
            .last()
            .unwrap_or_default()
            .to_string();
        let mut m = TlsMock { child, url };
        if !m.url.starts_with("https://127.0.0.1:") {
            let _ = m.child.kill();
            panic!("the mock did not say where it listens over https: {line:?}");
        }
        m.url = std::mem::take(&mut m.url);
        m
    }
}

impl Drop for TlsMock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scenario against `url` trusting `ca`, with this client, sending `requests` requests.
fn scenario(url: &str, ca: &Path, client: &str, requests: u32) -> String {
    format!(
        r#"
name = "tls"
seed = 7

[[targets]]
name = "secure"
base_url = "{url}"
client = "{client}"
tls = {{ ca_bundle = "{ca}" }}
timeouts = {{ connect = "5s", first_token = "10s", idle = "5s", total = "20s" }}

[[models]]
id = "m"
target = "secure"

[workload]
prompts = ["Say something."]
max_tokens = 16

[load]
concurrency = 4
requests = {requests}
"#,
        ca = ca.display()
    )
}

#[test]
fn the_lean_client_speaks_tls_with_kernel_stamps_and_reports_connection_set_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    let mock = TlsMock::start(&ca);
    let r = run_scenario(&scenario(&mock.url, &ca, "auto", 40), &[], &[]);
    assert_ok_or_starved(&r);
    let counts = &r.result["overall"]["requests"];
    assert_eq!(counts["ok"], 40, "{}", r.stderr);
    assert_eq!(r.result["overall"]["tokens"]["output"], 40 * 16);

    // `auto` picks the lean client for https; it says so, with its HTTP version and clock.
    let t = &r.result["transport"][0];
    assert_eq!(t["target"], "secure");
    assert_eq!(t["client"], "lean");
    assert_eq!(t["http_version"], "1.1");
    assert_eq!(t["tls"], true);
    if cfg!(target_os = "linux") {
        assert_eq!(t["time_source"], "kernel_receive_stamp");
    }

    // Each connection's set-up is on the record of the request that opened it, and only there.
    let opened: Vec<_> = r
        .records
        .iter()
        .filter(|x| x.get("connect_us").is_some())
        .collect();
    let conns = t["new_connections"].as_u64().expect("a count");
    assert_eq!(opened.len() as u64, conns);
    // Four workers keep their connections alive: at least 1, far fewer than 40 requests.
    assert!((1..=8).contains(&conns), "{conns} connections");
    for x in &opened {
        let handshake = x["tls_handshake_us"].as_u64().expect("a handshake time");
        assert!(handshake > 0 && handshake < 5_000_000, "{x}");
        // Set-up happens between the send and the response head: it is inside TTFT.
        let span = x["t_headers_us"].as_u64().unwrap() - x["t_send_us"].as_u64().unwrap();
        assert!(
            x["connect_us"].as_u64().unwrap() + handshake <= span + 1,
            "{x}"
        );
    }
    assert!(r
        .records
        .iter()
        .all(|x| x.get("tls_handshake_us").is_none() || x.get("connect_us").is_some()));
    let hs = &t["tls_handshake_ms"];
    assert!(
        hs["p50"].as_f64().unwrap() > 0.0
            && hs["p99"].as_f64().unwrap() >= hs["p50"].as_f64().unwrap()
    );
    assert!(t["connect_ms"]["p99"].as_f64().is_some());
}

#[test]
fn a_certificate_the_client_does_not_trust_is_a_tls_failure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let served = dir.path().join("served.pem");
    let mock = TlsMock::start(&served);
    // Another self-signed certificate, not the one the mock serves.
    let other_dir = tempfile::tempdir().expect("tempdir");
    let other = other_dir.path().join("other.pem");
    let other_mock = TlsMock::start(&other);
    drop(other_mock);
    for client in ["lean", "reqwest"] {
        let r = run_scenario(&scenario(&mock.url, &other, client, 6), &[], &[]);
        assert_eq!(r.records.len(), 6, "{client}: {}", r.stderr);
        for x in &r.records {
            assert_eq!(x["outcome"], "tls", "{client}: {x}");
        }
        if client == "lean" {
            let e = r.records[0]["error"].as_str().unwrap_or_default();
            assert!(
                e.contains("certificate") || e.contains("Certificate"),
                "{e}"
            );
        }
        assert_eq!(r.result["overall"]["requests"]["ok"], 0);
    }
    // With the right CA the same server answers.
    let r = run_scenario(&scenario(&mock.url, &served, "lean", 2), &[], &[]);
    assert_eq!(r.result["overall"]["requests"]["ok"], 2, "{}", r.stderr);
}

/// A server whose ALPN offers only `h2`: the lean client (HTTP/1.1 only) fails the handshake
/// as `tls` — it does not fall back by itself — and `client = "reqwest"` serves that target.
#[test]
fn an_h2_only_server_is_a_tls_failure_for_the_lean_client_and_reqwest_serves_it() {
    use llmload::engine::mock::{tls::MockTls, MockServer};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    let tls = MockTls::self_signed().expect("cert").with_alpn(&[b"h2"]);
    std::fs::write(&ca, &tls.cert_pem).expect("write ca");
    let server = rt.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let cfg = llmload::config::mock::MockConfig::default();
        MockServer::start_with(l, cfg, Some(tls))
            .await
            .expect("start")
    });
    let url = server.base_url();
    assert!(url.starts_with("https://"));
    let r = run_scenario(&scenario(&url, &ca, "lean", 4), &[], &[]);
    assert_eq!(r.records.len(), 4, "{}", r.stderr);
    for x in &r.records {
        assert_eq!(x["outcome"], "tls", "{x}");
    }
    let r = run_scenario(&scenario(&url, &ca, "reqwest", 4), &[], &[]);
    assert_eq!(r.result["overall"]["requests"]["ok"], 4, "{}", r.stderr);
    assert_eq!(r.result["transport"][0]["client"], "reqwest");
    assert_eq!(r.result["transport"][0]["time_source"], "user_space_read");
    rt.block_on(server.shutdown());
}
