//! Real provider URLs and credentials, against test servers on 127.0.0.1 port 0 that record
//! what they receive: a query string in `base_url` kept after the endpoint path, the `auth`
//! header styles, a URL's `user:password` sent as HTTP basic auth and found in no artefact of
//! a run, and interim (1xx) responses before the real one — each with both clients.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;

use common::*;

/// The API key, and the password put in URLs.
const KEY: &str = "azk-7f3e9b2c41d8";
const PASSWORD: &str = "pw-Q4v9sK2mXr";

/// What one received request looked like.
#[derive(Debug, Clone)]
struct Seen {
    line: String,
    headers: Vec<(String, String)>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One answer: parts written in order, each after its delay.
type Answer = Vec<(Duration, Vec<u8>)>;

/// A server answering up to `n` connections (one request each) with `answer(i, request)`,
/// recording every request; it stops after `n` or 60 s, whichever comes first.
fn server(
    n: usize,
    answer: impl Fn(usize, &Seen) -> Answer + Send + 'static,
) -> (u16, Arc<Mutex<Vec<Seen>>>, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    l.set_nonblocking(true).expect("nonblocking");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let h = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut i = 0;
        while i < n && Instant::now() < deadline {
            let s = match l.accept() {
                Ok((s, _)) => s,
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
            };
            let _ = s.set_nonblocking(false);
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let Some(req) = read_request(&s) else {
                continue;
            };
            log.lock().expect("log").push(req.clone());
            let mut s = s;
            for (delay, bytes) in answer(i, &req) {
                std::thread::sleep(delay);
                let _ = s.write_all(&bytes);
                let _ = s.flush();
            }
            i += 1;
        }
    });
    (port, seen, h)
}

/// The request line and headers (the body is read and dropped).
fn read_request(s: &std::net::TcpStream) -> Option<Seen> {
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let headers = read_headers(&mut r);
    let len = content_length(&headers);
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(Seen {
        line: line.trim_end().to_string(),
        headers,
    })
}

/// A streamed answer with one token, shaped for the endpoint the request went to.
fn stream_body(req: &Seen) -> Vec<u8> {
    let (first, last) = if req.line.contains("/chat/completions") {
        (
            r#"{"id":"c1","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}"#,
            r#"{"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}"#,
        )
    } else {
        (
            r#"{"id":"c1","choices":[{"index":0,"text":"hi","finish_reason":null}]}"#,
            r#"{"id":"c1","choices":[{"index":0,"text":"","finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}"#,
        )
    };
    let b = format!("data: {first}\n\ndata: {last}\n\ndata: [DONE]\n\n");
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{b}",
        b.len()
    )
    .into_bytes()
}

fn plain(req: &Seen) -> Answer {
    vec![(Duration::ZERO, stream_body(req))]
}

/// A scenario with one target (`target` holds its keys after the name) and `n` requests.
fn scenario(target: &str, workload: &str, n: usize) -> String {
    format!(
        r#"
name = "urls"
seed = 3

[[targets]]
name = "srv"
{target}
timeouts = {{ connect = "2s", first_token = "5s", idle = "2s", total = "20s" }}

[[models]]
id = "m"
target = "srv"

[workload]
prompts = ["Say something."]
max_tokens = 4
{workload}

[load]
concurrency = 1
requests = {n}
"#
    )
}

#[test]
fn an_azure_style_url_keeps_its_query_and_sends_the_key_as_api_key() {
    for (client, endpoint) in [
        ("lean", "chat"),
        ("reqwest", "chat"),
        ("lean", "completions"),
        ("reqwest", "completions"),
    ] {
        let n = 2;
        let (port, seen, h) = server(n, |_, r| plain(r));
        let target = format!(
            "base_url = \"http://127.0.0.1:{port}/openai/deployments/d?api-version=2024-10-21\"\n\
             api_key_env = \"LLMLOAD_URLS_KEY\"\nauth = \"api-key\"\nclient = \"{client}\""
        );
        let text = scenario(&target, &format!("endpoint = \"{endpoint}\""), n);
        let r = run_scenario(&text, &["--quiet"], &[("LLMLOAD_URLS_KEY", KEY)]);
        let _ = h.join();
        common::assert_ok_or_starved(&r);
        let seen = seen.lock().expect("log").clone();
        assert_eq!(seen.len(), n, "{client} {endpoint}");
        let path = if endpoint == "chat" {
            "chat/completions"
        } else {
            "completions"
        };
        for s in &seen {
            println!("{client:7} received: {}", s.line);
            assert_eq!(
                s.line,
                format!("POST /openai/deployments/d/{path}?api-version=2024-10-21 HTTP/1.1")
            );
            assert_eq!(s.header("api-key"), Some(KEY), "{client}: {s:?}");
            assert_eq!(s.header("authorization"), None, "{client}: {s:?}");
        }
        assert!(
            r.records.iter().all(|x| x["outcome"] == "ok"),
            "{client} {endpoint}: {:?}",
            r.records
        );
    }
}

#[test]
fn a_custom_auth_header_carries_the_key_from_a_file() {
    for client in ["lean", "reqwest"] {
        let (port, seen, h) = server(1, |_, r| plain(r));
        let dir = tempfile::tempdir().expect("tempdir");
        let key_file = dir.path().join("key.txt");
        std::fs::write(&key_file, format!("{KEY}\n")).expect("key file");
        let target = format!(
            "base_url = \"http://127.0.0.1:{port}/v1\"\napi_key_file = \"{}\"\n\
             auth = {{ header = \"X-Api-Token\" }}\nclient = \"{client}\"",
            key_file.display()
        );
        let r = run_scenario(&scenario(&target, "", 1), &["--quiet"], &[]);
        let _ = h.join();
        common::assert_ok_or_starved(&r);
        let seen = seen.lock().expect("log").clone();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].line, "POST /v1/chat/completions HTTP/1.1");
        assert_eq!(seen[0].header("x-api-token"), Some(KEY), "{client}");
        assert_eq!(seen[0].header("authorization"), None, "{client}");
    }
}

/// Every file under the run's folder (the scenario itself excepted: the user wrote the
/// password there), with stdout and stderr.
fn artefacts(r: &Run) -> Vec<(String, String)> {
    let mut out = vec![
        ("stdout".to_string(), r.stdout.clone()),
        ("stderr".to_string(), r.stderr.clone()),
    ];
    let mut dirs = vec![r.dir.path().to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).expect("dir") {
            let p = entry.expect("entry").path();
            if p.is_dir() {
                dirs.push(p);
            } else if !p.ends_with("scenario.toml") {
                let body = String::from_utf8_lossy(&std::fs::read(&p).expect("read")).to_string();
                out.push((p.display().to_string(), body));
            }
        }
    }
    out
}

/// The password, its basic-auth token, and its percent-encoded form appear nowhere.
fn assert_no_password(what: &str, files: &[(String, String)]) {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("alice:{PASSWORD}"));
    for (name, body) in files {
        for secret in [PASSWORD, token.as_str()] {
            assert!(
                !body.contains(secret),
                "{what}: the password leaked into {name}"
            );
        }
    }
}

#[test]
fn a_url_password_is_sent_as_basic_auth_and_appears_in_no_artefact() {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("alice:{PASSWORD}"));
    for client in ["lean", "reqwest"] {
        let n = 6;
        // Odd requests get a 401 that echoes the Authorization header back (as careless
        // gateways do); even ones a stream whose id and finish reason echo it.
        let (port, seen, h) = server(n, |i, req| {
            let auth = req.header("authorization").unwrap_or("").to_string();
            let b = if i % 2 == 1 {
                let e =
                    serde_json::json!({"error": {"message": format!("bad credentials: {auth}")}});
                let e = e.to_string();
                format!("HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{e}", e.len())
            } else {
                let ev = serde_json::json!({"id": auth, "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": auth}], "usage": {"prompt_tokens": 1, "completion_tokens": 1}});
                let b = format!("data: {ev}\n\ndata: [DONE]\n\n");
                format!("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{b}", b.len())
            };
            vec![(Duration::ZERO, b.into_bytes())]
        });
        let target = format!(
            "base_url = \"http://alice:{PASSWORD}@127.0.0.1:{port}/v1\"\nclient = \"{client}\""
        );
        let text = scenario(&target, "", n);
        // Without --quiet: the progress and summary output is scanned too.
        let r = run_scenario(&text, &[], &[]);
        let _ = h.join();
        let seen = seen.lock().expect("log").clone();
        assert_eq!(seen.len(), n, "{client}: {}", r.stderr);
        for s in &seen {
            assert_eq!(s.line, "POST /v1/chat/completions HTTP/1.1", "{client}");
            let want = format!("Basic {token}");
            assert_eq!(s.header("authorization"), Some(want.as_str()), "{client}");
        }
        let outcomes: Vec<&str> = r
            .records
            .iter()
            .map(|x| x["outcome"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(outcomes.len(), n, "{client}: {}", r.stderr);
        assert_eq!(outcomes.iter().filter(|o| **o == "http_4xx").count(), n / 2);
        assert!(
            r.records.iter().any(|x| x["error"]
                .as_str()
                .is_some_and(|e| e.contains("<redacted>"))),
            "the echoed credentials are replaced: {:?}",
            r.records
        );
        // The HTML report of the result, and `validate` of the scenario.
        let result = r.dir.path().join("out").join("result.json");
        let html = r.dir.path().join("out").join("report.html");
        let mut cmd = std::process::Command::new(bin());
        cmd.arg("report").arg(&result).arg("--output").arg(&html);
        let rep = output_with_timeout(cmd, Duration::from_secs(30));
        assert!(
            rep.status.success(),
            "{}",
            String::from_utf8_lossy(&rep.stderr)
        );
        let mut cmd = std::process::Command::new(bin());
        cmd.arg("validate").arg(r.dir.path().join("scenario.toml"));
        let val = output_with_timeout(cmd, Duration::from_secs(30));
        let mut files = artefacts(&r);
        assert!(
            files.iter().any(|(n, _)| n.ends_with("report.html"))
                && files.iter().any(|(n, _)| n.ends_with("result.json"))
                && files
                    .iter()
                    .any(|(n, _)| n.ends_with("result.records.jsonl")),
            "{files:?}"
        );
        for (name, out) in [("report", &rep), ("validate", &val)] {
            files.push((
                format!("{name} stdout"),
                String::from_utf8_lossy(&out.stdout).into(),
            ));
            files.push((
                format!("{name} stderr"),
                String::from_utf8_lossy(&out.stderr).into(),
            ));
        }
        assert!(
            String::from_utf8_lossy(&val.stdout).contains(&format!("http://127.0.0.1:{port}/v1")),
            "validate shows the URL without its credentials"
        );
        assert!(
            String::from_utf8_lossy(&val.stdout).contains("no key, basic auth from the URL"),
            "{}",
            String::from_utf8_lossy(&val.stdout)
        );
        assert_no_password(client, &files);
        println!("{client}: scanned {} artefacts, no password", files.len());
    }
}

#[test]
fn a_url_password_stays_out_of_connection_errors_and_set_overrides() {
    for client in ["lean", "reqwest"] {
        // A port with nothing listening: every request fails to connect.
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let text = scenario(
            &format!("base_url = \"http://127.0.0.1:9/v1\"\nclient = \"{client}\""),
            "",
            3,
        );
        let url = format!("targets[0].base_url=http://alice:{PASSWORD}@127.0.0.1:{port}/v1");
        let r = run_scenario(&text, &["--set", &url], &[]);
        assert_eq!(r.records.len(), 3, "{client}: {}", r.stderr);
        assert!(
            r.records.iter().all(|x| x["outcome"] == "connect"),
            "{client}: {:?}",
            r.records
        );
        assert_eq!(
            r.result["scenario"]["overrides"][0],
            format!("targets[0].base_url=http://<redacted>@127.0.0.1:{port}/v1")
        );
        assert_no_password(client, &artefacts(&r));
    }
}

#[test]
fn a_bad_auth_style_is_refused_with_its_place_and_exit_2() {
    let text = scenario(
        "base_url = \"http://127.0.0.1:9/v1\"\napi_key_env = \"K\"\nauth = \"token\"",
        "",
        1,
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write_scenario(dir.path(), &text);
    let mut cmd = std::process::Command::new(bin());
    cmd.arg("validate").arg(&p);
    let out = output_with_timeout(cmd, Duration::from_secs(30));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let line = text
        .lines()
        .position(|l| l.starts_with("auth ="))
        .expect("auth line")
        + 1;
    assert!(
        err.contains(&format!(
            "scenario.toml:{line}:1: targets[0].auth: must be \"bearer\""
        )),
        "{err}"
    );
}

#[test]
fn interim_responses_before_the_stream_are_skipped_and_ttft_is_the_real_ones() {
    const HOLD: Duration = Duration::from_millis(400);
    for client in ["lean", "reqwest"] {
        let n = 3;
        // 103 Early Hints and 100 Continue at once, then the real response HOLD later.
        let (port, _, h) = server(n, |_, req| {
            vec![
                (
                    Duration::ZERO,
                    b"HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n".to_vec(),
                ),
                (HOLD, stream_body(req)),
            ]
        });
        let target = format!("base_url = \"http://127.0.0.1:{port}/v1\"\nclient = \"{client}\"");
        let r = run_scenario(&scenario(&target, "", n), &["--quiet"], &[]);
        let _ = h.join();
        common::assert_ok_or_starved(&r);
        assert_eq!(r.records.len(), n);
        for rec in &r.records {
            assert_eq!(rec["outcome"], "ok", "{client}: {rec}");
            assert_eq!(rec["output_tokens"], 1, "{client}: {rec}");
            let ttft_ms = (rec["t_first_us"].as_u64().expect("first")
                - rec["t_send_us"].as_u64().expect("send")) as f64
                / 1e3;
            // The token left the server HOLD after the interim response; a TTFT taken from the
            // interim one would be about 0.
            assert!(
                ttft_ms >= 0.9 * HOLD.as_millis() as f64,
                "{client}: ttft {ttft_ms} ms"
            );
            assert!(ttft_ms < 10_000.0, "{client}: ttft {ttft_ms} ms");
        }
    }
}

#[test]
fn a_url_password_given_as_a_flag_appears_in_no_artefact() {
    let (port, seen, h) = server(2, |_, r| plain(r));
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("flags.json");
    let url = format!("http://alice:{PASSWORD}@127.0.0.1:{port}/v1");
    let mut cmd = std::process::Command::new(bin());
    cmd.args(["run", "--url", &url, "--model", "m", "--concurrency", "1"])
        .args([
            "--requests",
            "2",
            "--input-tokens",
            "16",
            "--output-tokens",
            "4",
        ])
        .arg("--output")
        .arg(&out);
    let run = output_with_timeout(cmd, Duration::from_secs(60));
    let _ = h.join();
    let result = std::fs::read_to_string(&out).unwrap_or_default();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(seen.lock().expect("log").len(), 2);
    assert!(
        result.contains(&format!("at http://<redacted>@127.0.0.1:{port}/v1")),
        "the description names the URL without its credentials"
    );
    let mut files = vec![
        (
            "stdout".to_string(),
            String::from_utf8_lossy(&run.stdout).to_string(),
        ),
        (
            "stderr".to_string(),
            String::from_utf8_lossy(&run.stderr).to_string(),
        ),
    ];
    for entry in std::fs::read_dir(dir.path()).expect("dir") {
        let p = entry.expect("entry").path();
        let body = String::from_utf8_lossy(&std::fs::read(&p).expect("read")).to_string();
        files.push((p.display().to_string(), body));
    }
    assert!(files.len() >= 4, "result and records written: {files:?}");
    assert_no_password("flags", &files);
}
