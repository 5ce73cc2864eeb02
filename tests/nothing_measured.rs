//! A run in which no measured request succeeded ends with exit code 4, says so in its summary,
//! and names every failure class with its most common message — never a credential.
//! Targets: a port where nothing listens, a wrong path on the mock (404), a server that
//! answers a TLS handshake with plain HTTP, and a server that echoes the request's headers
//! (with the API key) back in its error body.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{bin, output_with_timeout, run_scenario, scenario, Run};

const NOTHING_MEASURED: i32 = 4;

fn target(base_url: &str, extra: &str) -> String {
    scenario("", "max_tokens = 4", "concurrency = 2\nrequests = 6").replace(
        "base_url = \"mock\"",
        &format!("base_url = \"{base_url}\"\n{extra}"),
    )
}

/// Exit 4, the loud line, the warning, and `class` carrying every failure with a message
/// that contains `message` (case-insensitive).
fn assert_nothing_measured(r: &Run, class: &str, message: &str) {
    let all = format!("stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert_eq!(r.code, NOTHING_MEASURED, "{all}");
    assert!(r.stdout.contains("run: NOTHING MEASURED"), "{all}");
    assert!(!r.stdout.contains("run: VALID"), "{all}");
    let req = &r.result["overall"]["requests"];
    assert_eq!(req["ok"], 0);
    assert_eq!(req["errors"][class], 6, "{}", req);
    let top = &req["error_messages"][class];
    assert_eq!(top["count"], 6, "{req}");
    let text = top["message"].as_str().expect("message").to_lowercase();
    assert!(text.contains(&message.to_lowercase()), "{text}");
    // The summary shows the class with its message, not only the count.
    let line = format!("  {class} ×6: ");
    let shown = r
        .stdout
        .lines()
        .find(|l| l.starts_with(&line))
        .unwrap_or_else(|| panic!("no `{line}` line\n{all}"));
    assert!(
        shown.to_lowercase().contains(&message.to_lowercase()),
        "{shown}"
    );
    let warnings = r.result["warnings"].to_string();
    assert!(
        warnings.contains("nothing measured: all 6 measured requests failed"),
        "{warnings}"
    );
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A loopback server answering every connection with `respond(request head)`, until dropped.
struct Server {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(respond: fn(&str) -> Vec<u8>) -> Server {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.set_nonblocking(true).expect("nonblocking");
        let port = l.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            while !flag.load(Ordering::Relaxed) && Instant::now() < deadline {
                let Ok((mut s, _)) = l.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let _ = s.set_nonblocking(false);
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65_536 {
                    match s.read(&mut buf) {
                        Ok(n) if n > 0 => head.extend_from_slice(&buf[..n]),
                        _ => break,
                    }
                    // A TLS hello (record type 0x16) has no blank line: answer it at once.
                    if head.first() == Some(&0x16) {
                        break;
                    }
                }
                let _ = s.write_all(&respond(&String::from_utf8_lossy(&head)));
                let _ = s.flush();
            }
        });
        Server {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn a_dead_port_exits_4_naming_connection_refused() {
    let port = free_port();
    let r = run_scenario(
        &target(&format!("http://127.0.0.1:{port}/v1"), ""),
        &[],
        &[],
    );
    assert_nothing_measured(&r, "connect", "refused");
}

#[test]
fn a_wrong_path_on_the_mock_exits_4_naming_the_404() {
    let mut mock = Command::new(bin())
        .args(["mock", "--port", "0", "--ttft", "5ms", "--itl", "1ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mock");
    let stdout = mock.stdout.take().expect("stdout");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).expect("url");
    let url = line.trim().rsplit(' ').next().expect("url").to_string();
    let r = run_scenario(&target(&format!("{url}/wrong"), ""), &[], &[]);
    let _ = mock.kill();
    let _ = mock.wait();
    assert_nothing_measured(&r, "http_4xx", "HTTP 404: unknown endpoint");

    // `check` on that result: nothing to judge, so no claim can pass.
    let result = r.dir.path().join("out").join("result.json");
    let claims = r.dir.path().join("claims.toml");
    std::fs::write(&claims, "[[claims]]\nexpr = \"ttft.p50 < 10s\"\n").expect("claims");
    let mut cmd = Command::new(bin());
    cmd.arg("check").arg(&result).arg("--claims").arg(&claims);
    let o = output_with_timeout(cmd, Duration::from_secs(30));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(NOTHING_MEASURED), "{err}");
    assert!(err.contains("nothing measured"), "{err}");
}

#[test]
fn a_tls_handshake_failure_exits_4_with_the_tls_reason() {
    // A server that answers the client's TLS hello with plain HTTP: the handshake fails.
    let srv = Server::start(|_| b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n".to_vec());
    let r = run_scenario(
        &target(&format!("https://127.0.0.1:{}/v1", srv.port), ""),
        &[],
        &[],
    );
    drop(srv);
    let top = r.result["overall"]["requests"]["error_messages"]["tls"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!top.is_empty(), "{}\n{}", r.stdout, r.stderr);
    assert_nothing_measured(&r, "tls", &top);
}

#[test]
fn credentials_never_reach_the_summary_result_or_records() {
    let secret = "sk-llmload-echo-0123456789abcdef";
    // The server echoes the request head (Authorization header included) in its 401 body.
    let srv = Server::start(|head| {
        let body = format!(
            "{{\"error\":{{\"message\":\"bad credentials in {}\"}}}}",
            head.replace("\r\n", " | ").replace('"', "'")
        );
        format!(
            "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    });
    let r = run_scenario(
        &target(
            &format!("http://127.0.0.1:{}/v1", srv.port),
            "api_key_env = \"LLMLOAD_TEST_ECHO_KEY\"",
        ),
        &[],
        &[("LLMLOAD_TEST_ECHO_KEY", secret)],
    );
    drop(srv);
    assert_nothing_measured(&r, "http_4xx", "HTTP 401");
    // A URL with user:password (the address a connect error names).
    let port = free_port();
    let r2 = run_scenario(
        &target(&format!("http://alice:pa55word-x@127.0.0.1:{port}/v1"), ""),
        &[],
        &[],
    );
    assert_eq!(r2.code, NOTHING_MEASURED, "{}", r2.stdout);
    for (run, secret) in [(&r, secret), (&r2, "pa55word-x")] {
        assert!(!run.stdout.contains(secret), "{}", run.stdout);
        assert!(!run.stderr.contains(secret), "{}", run.stderr);
        for entry in std::fs::read_dir(run.dir.path().join("out")).expect("out dir") {
            let path = entry.expect("entry").path();
            let body = std::fs::read_to_string(&path).expect("read");
            assert!(!body.contains(secret), "leaked into {}", path.display());
        }
    }
}

/// A sweep whose every step failed measured nothing too: exit 4 and a line saying so, not
/// exit 0 with an empty table.
#[test]
fn a_sweep_of_a_dead_port_exits_4() {
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = common::write_scenario(
        dir.path(),
        &target(&format!("http://127.0.0.1:{port}/v1"), ""),
    );
    let mut cmd = Command::new(bin());
    cmd.arg("sweep")
        .arg(&path)
        .arg("--no-records")
        .arg("-o")
        .arg(dir.path().join("sweep.json"));
    let out = output_with_timeout(cmd, Duration::from_secs(120));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(NOTHING_MEASURED), "{err}");
    assert!(err.contains("sweep: NOTHING MEASURED"), "{err}");
    let r: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("sweep.json")).expect("the result is written"),
    )
    .expect("json");
    assert_eq!(r["overall"]["requests"]["ok"], 0);
}
