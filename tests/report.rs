//! `llmload report` and `run --report`: results from real runs against the built-in mock
//! (a shortened quickstart with claims, a three-class workload, three simulated providers and a
//! small capacity sweep), rendered as HTML and opened in a real headless Chromium through
//! chromedriver; HTML validity through `tidy`; snapshots of the HTML skeleton, the CSV tables
//! and the Markdown summary.
//!
//! The four tests that need Chromium, chromedriver or tidy (Debian packages `chromium`,
//! `chromium-driver`, `tidy`) are `#[ignore]`d, so `cargo test` passes with only the Rust
//! toolchain; `.ci/run` installs the three and runs them with `--ignored`, where a missing tool
//! FAILS the test rather than skipping it. The tools are looked up on `PATH` (Debian's
//! `chromium` or another distribution's `chromium-browser`), or named by `LLMLOAD_CHROMIUM`,
//! `LLMLOAD_CHROMEDRIVER` and `LLMLOAD_TIDY`.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine;
use common::{bin, output_with_timeout};
use serde_json::{json, Value};

/// The path of a tool: `$env` if set, else the first of `names` found on `PATH`. Panics with
/// the package to install when there is none: an ignored test that is asked to run must run.
fn tool(env: &str, names: &[&str], package: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env) {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for n in names {
            let p = dir.join(n);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "{} is not on PATH (nor named by {env}): install the Debian package `{package}` \
         (apt-get install -y chromium chromium-driver tidy; .ci/run does)",
        names.join(" or ")
    )
}

fn chromium() -> PathBuf {
    tool(
        "LLMLOAD_CHROMIUM",
        &["chromium", "chromium-browser"],
        "chromium",
    )
}

fn chromedriver() -> PathBuf {
    tool("LLMLOAD_CHROMEDRIVER", &["chromedriver"], "chromium-driver")
}

fn tidy() -> PathBuf {
    tool("LLMLOAD_TIDY", &["tidy"], "tidy")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where the tests write their reports and screenshots (kept after the run, to look at).
fn out_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-test")
}

/// Replaces a scenario's `[load]` table (up to the next table header) by `load`.
fn with_load(text: &str, load: &str) -> String {
    let start = if text.starts_with("[load]") {
        0
    } else {
        text.find("\n[load]").expect("scenario has [load]") + 1
    };
    let rest = &text[start + "[load]".len()..];
    let end = rest
        .find("\n[")
        .map(|i| start + "[load]".len() + i + 1)
        .unwrap_or(text.len());
    format!("{}[load]\n{load}\n\n{}", &text[..start], &text[end..])
}

fn llmload(args: &[&str]) -> String {
    llmload_ok(args, &[0])
}

/// Runs llmload and checks its exit code is one of `ok`.
fn llmload_ok(args: &[&str], ok: &[i32]) -> String {
    let mut cmd = Command::new(bin());
    cmd.args(args).current_dir(root());
    let o = output_with_timeout(cmd, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.code().is_some_and(|c| ok.contains(&c)),
        "llmload {args:?} exited {:?}\n{stdout}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    stdout
}

struct Fixtures {
    dir: PathBuf,
}

impl Fixtures {
    fn p(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

/// A run's exit code may also say that a claim failed (1) or that the run was invalid (3): a
/// busy CI machine can make the generator late. Either way the result is written and the
/// report must show it.
const RUN_EXITS: &[i32] = &[0, 1, 3];

/// Runs every scenario once per test binary.
fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let dir = out_dir();
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("out dir");
        let f = Fixtures { dir: dir.clone() };
        let write = |name: &str, text: String| {
            let p = dir.join(name);
            std::fs::write(&p, text).expect("write scenario");
            p.display().to_string()
        };
        let read = |p: &str| std::fs::read_to_string(root().join(p)).expect("scenario");
        // 1. The quickstart, shortened, checked against the CI gate's claims, with --report.
        let qs = write(
            "quickstart.toml",
            with_load(
                &read("scenarios/quickstart.toml"),
                "arrival = \"poisson\"\nrate = \"10/s\"\nwarmup = \"1s\"\nduration = \"5s\"\ncooldown = \"0s\"",
            ),
        );
        let out = llmload_ok(
            &[
            "run",
            &qs,
            "-q",
            "-o",
            &f.p("single.json"),
            "--claims",
            "claims/ci-gate.toml",
            "--report",
            &f.p("single-run.html"),
        ],
            RUN_EXITS,
        );
        assert!(out.contains("report: "), "{out}");
        // 2. Three request classes on three models.
        let mig = write(
            "migration.toml",
            with_load(
                &read("scenarios/migration.toml"),
                "arrival = \"poisson\"\nrate = \"10/s\"\nwarmup = \"1s\"\nduration = \"3s\"\ncooldown = \"0s\"",
            ),
        );
        llmload_ok(&["run", &mig, "-q", "-o", &f.p("classes.json")], RUN_EXITS);
        // 3. Three simulated providers serving the same model.
        for p in ["fastcloud", "budgetai", "steadyhost"] {
            let s = write(
                &format!("{p}.toml"),
                with_load(
                    &read(&format!("scenarios/providers/{p}.toml")),
                    "concurrency = 6\nwarmup = \"1s\"\nduration = \"3s\"\ncooldown = \"0s\"",
                ),
            );
            llmload_ok(
                &["run", &s, "-q", "-o", &f.p(&format!("{p}.json"))],
                RUN_EXITS,
            );
        }
        // 4. A small capacity sweep (a mock with 4 slots of 40 ms: 100 requests/s at most).
        let sw = write("sweep.toml", SWEEP.to_string());
        llmload(&["sweep", &sw, "-q", "-o", &f.p("sweep.json")]);
        f
    })
}

const SWEEP: &str = r#"
name = "sweep-test"
seed = 1

[[targets]]
name = "sim"
base_url = "mock"
timeouts = { first_token = "10s", idle = "5s", total = "30s" }

[[models]]
id = "m"
target = "sim"
price = { input_per_m = 0.3, output_per_m = 1.2 }
mock = { ttft = "20ms", itl = "1ms", output_tokens = 20, max_concurrency = 4 }

[workload]
prompts = ["hello"]
max_tokens = 20

[load]
concurrency = 1
duration = "1s"

[slo]
e2e = "150ms"

[sweep]
steps = 4
step_duration = "1s"
step_warmup = "300ms"
probe_concurrency = 16
max_rate_factor = 2.0
max_step_duration = "2s"
min_completions = 40
"#;

/// Writes an HTML report of `results` (paths in the fixtures folder) and returns its path.
fn html_report(name: &str, results: &[&str], extra: &[&str]) -> PathBuf {
    let f = fixtures();
    let out = f.dir.join(name);
    let mut args = vec!["report".to_string()];
    args.extend(results.iter().map(|r| f.p(r)));
    args.extend(["-o".to_string(), out.display().to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let stdout = llmload(&a);
    assert!(stdout.contains("report: "), "{stdout}");
    out
}

// ---------------------------------------------------------------- WebDriver (chromedriver)

/// A chromedriver process on a free loopback port; killed on drop.
struct Driver {
    child: Child,
    base: String,
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    fn start() -> Driver {
        let chromedriver = chromedriver();
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let log = std::fs::File::create(out_dir().join("chromedriver.log")).expect("log");
        let child = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start chromedriver");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .no_proxy()
            .build()
            .expect("client");
        let d = Driver {
            child,
            base: format!("http://127.0.0.1:{port}"),
            rt,
            http,
        };
        let t0 = Instant::now();
        loop {
            if let Ok(v) = d.try_call("GET", "/status", None) {
                if v["value"]["ready"] == true {
                    break;
                }
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "chromedriver did not become ready on port {port} within 20 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        d
    }

    fn try_call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        self.rt.block_on(async {
            let mut rq = self.http.request(m, &url);
            if let Some(b) = body {
                rq = rq
                    .header("content-type", "application/json")
                    .body(b.to_string());
            }
            let resp = rq.send().await.map_err(|e| e.to_string())?;
            let status = resp.status();
            let text = resp.text().await.map_err(|e| e.to_string())?;
            let v: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
            if status.is_success() {
                Ok(v)
            } else {
                Err(format!("{method} {path}: HTTP {status}: {text}"))
            }
        })
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.try_call(method, path, body)
            .unwrap_or_else(|e| panic!("webdriver: {e}"))
    }

    fn session(&self) -> Session<'_> {
        let profile = tempfile::tempdir().expect("profile dir");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--window-size=1280,1000",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        let v = self.call(
            "POST",
            "/session",
            Some(json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": chromium(), "args": args},
                "goog:loggingPrefs": {"browser": "ALL"},
                "timeouts": {"script": 20000, "pageLoad": 30000, "implicit": 0}
            }}})),
        );
        let id = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session id: {v}"))
            .to_string();
        Session {
            d: self,
            id,
            _profile: profile,
        }
    }
}

struct Session<'a> {
    d: &'a Driver,
    id: String,
    _profile: tempfile::TempDir,
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let _ = self
            .d
            .try_call("DELETE", &format!("/session/{}", self.id), None);
    }
}

impl Session<'_> {
    fn post(&self, what: &str, body: Value) -> Value {
        self.d
            .call("POST", &format!("/session/{}/{what}", self.id), Some(body))["value"]
            .clone()
    }

    fn get(&self, what: &str) -> Value {
        self.d
            .call("GET", &format!("/session/{}/{what}", self.id), None)["value"]
            .clone()
    }

    fn open(&self, file: &Path) {
        let url = format!(
            "file://{}",
            file.canonicalize().expect("report exists").display()
        );
        self.post("url", json!({ "url": url }));
    }

    fn script(&self, js: &str) -> Value {
        self.post("execute/sync", json!({"script": js, "args": []}))
    }

    /// Browser console entries since the last call.
    fn console(&self) -> Vec<Value> {
        self.post("se/log", json!({"type": "browser"}))
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// A PNG of the whole page (the window is made as tall as the page, up to 16,000 px).
    fn screenshot(&self, to: &Path) {
        let h = self
            .script("return document.documentElement.scrollHeight")
            .as_f64()
            .unwrap_or(1000.0)
            .min(16000.0);
        self.post(
            "window/rect",
            json!({"width": 1280, "height": h as u64 + 100}),
        );
        let b64 = self.get("screenshot");
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().expect("base64 screenshot"))
            .expect("decodes");
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(to, png).expect("write screenshot");
    }
}

const INSPECT: &str = r#"
const charts = [...document.querySelectorAll('svg.chart')].map(s => {
  const r = s.getBoundingClientRect();
  const lines = [...s.querySelectorAll('path.line')];
  return {id: s.id, w: r.width, h: r.height, lines: lines.length,
          drawn: lines.filter(p => p.getTotalLength() > 0 && p.getBoundingClientRect().width > 0).length,
          title: (s.querySelector('title') || {}).textContent || '',
          desc: (s.querySelector('desc') || {}).textContent || ''};
});
return {
  charts,
  figures: document.querySelectorAll('figure').length,
  tables: document.querySelectorAll('table').length,
  resources: performance.getEntriesByType('resource').map(e => e.name),
  scripts: document.scripts.length,
  title: document.title,
  dark: matchMedia('(prefers-color-scheme: dark)').matches,
  bg: getComputedStyle(document.documentElement).backgroundColor
};
"#;

/// Opens a report, checks that every chart rendered with a non-zero size and drew its lines,
/// that nothing was fetched and nothing logged an error, and saves light (and optionally dark)
/// screenshots. Returns the inspection.
fn check_in_browser(report: &Path, shot: &str, min_charts: usize, dark_too: bool) -> Value {
    let d = Driver::start();
    let s = d.session();
    s.open(report);
    let v = s.script(INSPECT);
    let charts = v["charts"].as_array().expect("charts").clone();
    assert!(
        charts.len() >= min_charts,
        "{} charts, expected ≥ {min_charts}: {v}",
        charts.len()
    );
    assert_eq!(charts.len() as u64, v["figures"].as_u64().unwrap_or(0));
    for c in &charts {
        assert!(
            c["w"].as_f64().unwrap_or(0.0) > 100.0 && c["h"].as_f64().unwrap_or(0.0) > 50.0,
            "chart not rendered with a size: {c}"
        );
        assert!(
            c["drawn"].as_u64().unwrap_or(0) >= 1,
            "chart drew no line: {c}"
        );
        assert!(
            !c["title"].as_str().unwrap_or("").is_empty()
                && c["desc"].as_str().unwrap_or("").len() > 20,
            "chart has no text alternative: {c}"
        );
    }
    assert_eq!(v["resources"], json!([]), "the page fetched something");
    assert_eq!(v["scripts"], 0, "the report carries no script");
    let console = s.console();
    let bad: Vec<&Value> = console
        .iter()
        .filter(|e| e["level"] == "SEVERE" || e["level"] == "WARNING")
        .collect();
    assert!(bad.is_empty(), "console errors: {bad:?}");
    let shots = out_dir().join("screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    s.screenshot(&shots.join(format!("{shot}.png")));
    if dark_too {
        s.post(
            "goog/cdp/execute",
            json!({"cmd": "Emulation.setEmulatedMedia", "params": {"features": [{"name": "prefers-color-scheme", "value": "dark"}]}}),
        );
        let dv = s.script(INSPECT);
        assert_eq!(dv["dark"], true, "{dv}");
        assert_ne!(dv["bg"], v["bg"], "dark mode changes the background");
        s.screenshot(&shots.join(format!("{shot}-dark.png")));
    }
    // The console check can fail: an error logged now, and an external load refused by the
    // page's Content-Security-Policy, both reach the log.
    s.script(
        "console.error('llmload-probe'); const i = document.createElement('img'); i.src = 'http://127.0.0.1:9/x.png'; document.body.appendChild(i); return 1;",
    );
    let t0 = Instant::now();
    let mut seen = Vec::new();
    while t0.elapsed() < Duration::from_secs(10) {
        seen.extend(s.console());
        let text = serde_json::to_string(&seen).unwrap_or_default();
        if text.contains("llmload-probe") && text.contains("Content Security Policy") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let text = serde_json::to_string(&seen).unwrap_or_default();
    assert!(
        text.contains("llmload-probe"),
        "console log not captured: {text}"
    );
    assert!(
        text.contains("Content Security Policy"),
        "an external load was not refused by the CSP: {text}"
    );
    v
}

fn size_kb(p: &Path) -> f64 {
    std::fs::metadata(p).expect("file").len() as f64 / 1024.0
}

fn record_size(name: &str, p: &Path) {
    let line = format!("{name}: {} ({:.1} KiB)\n", p.display(), size_kb(p));
    let log = out_dir().join("sizes.txt");
    let mut prev = std::fs::read_to_string(&log).unwrap_or_default();
    prev.push_str(&line);
    std::fs::write(log, prev).expect("sizes");
    eprint!("{line}");
}

// ---------------------------------------------------------------- tests

#[test]
#[ignore = "needs chromium, chromedriver and tidy; .ci/run runs it"]
fn single_run_report_renders_in_chromium() {
    let f = fixtures();
    // Written by `run --report` at the end of the run, with the claims' verdicts.
    let html = f.dir.join("single-run.html");
    let text = std::fs::read_to_string(&html).expect("run --report wrote it");
    assert!(text.contains("Claim verdicts"), "claims section");
    let v = check_in_browser(&html, "single-run", 9, true);
    assert!(v["title"].as_str().unwrap_or("").contains("quickstart"));
    // The same report from the file, via `llmload report`.
    let again = html_report(
        "single.html",
        &["single.json"],
        &["--claims", "claims/ci-gate.toml"],
    );
    assert!(std::fs::read_to_string(&again)
        .expect("report")
        .contains("Claim verdicts"));
    record_size("single-run report", &html);
    assert!(size_kb(&html) < 400.0, "{} KiB", size_kb(&html));
}

#[test]
#[ignore = "needs chromium, chromedriver and tidy; .ci/run runs it"]
fn three_provider_comparison_renders_in_chromium() {
    let html = html_report(
        "three-providers.html",
        &["fastcloud.json", "budgetai.json", "steadyhost.json"],
        &[],
    );
    let text = std::fs::read_to_string(&html).expect("report");
    for p in ["fastcloud", "budgetai", "steadyhost", "(reference)"] {
        assert!(text.contains(p), "{p}");
    }
    let v = check_in_browser(&html, "three-providers", 9, false);
    // Each CDF overlays the three providers.
    let cdf = v["charts"]
        .as_array()
        .expect("charts")
        .iter()
        .find(|c| c["id"] == "cdf_models_ttft")
        .expect("TTFT CDF")
        .clone();
    assert_eq!(cdf["lines"], 3, "{cdf}");
    record_size("three-provider comparison", &html);
}

#[test]
#[ignore = "needs chromium, chromedriver and tidy; .ci/run runs it"]
fn sweep_and_class_reports_render_in_chromium() {
    let html = html_report("sweep.html", &["sweep.json"], &[]);
    let text = std::fs::read_to_string(&html).expect("report");
    assert!(text.contains("Capacity sweep"));
    assert!(text.contains("SLO E2E 150 ms"), "the SLO line is marked");
    assert!(text.contains("max within SLO") || text.contains("latency knee"));
    check_in_browser(&html, "sweep", 11, false);
    let html = html_report("classes.html", &["classes.json"], &[]);
    let text = std::fs::read_to_string(&html).expect("report");
    for c in ["summarization", "classification", "long-context analysis"] {
        assert!(text.contains(c), "{c}");
    }
    check_in_browser(&html, "classes", 13, false);
    record_size("sweep report", &f_dir("sweep.html"));
    record_size("classes report", &html);
}

fn f_dir(name: &str) -> PathBuf {
    fixtures().dir.join(name)
}

#[test]
#[ignore = "needs chromium, chromedriver and tidy; .ci/run runs it"]
fn reports_are_valid_html_per_tidy() {
    let reports = [
        html_report(
            "tidy-single.html",
            &["single.json"],
            &["--claims", "claims/ci-gate.toml"],
        ),
        html_report(
            "tidy-three.html",
            &["fastcloud.json", "budgetai.json", "steadyhost.json"],
            &[],
        ),
        html_report("tidy-sweep.html", &["sweep.json"], &[]),
        html_report("tidy-classes.html", &["classes.json"], &[]),
    ];
    let tidy = tidy();
    for r in &reports {
        let o = Command::new(&tidy)
            .args(["-errors", "-q", "-utf8"])
            .arg(r)
            .output()
            .expect("run tidy");
        let msgs = String::from_utf8_lossy(&o.stderr);
        assert_eq!(
            o.status.code(),
            Some(0),
            "tidy found problems in {}:\n{msgs}",
            r.display()
        );
        assert!(msgs.trim().is_empty(), "{msgs}");
    }
}

#[test]
fn ten_model_comparison_stays_small() {
    // Two five-model results → ten models overlaid in every chart.
    let html = html_report("ten-models.html", &["single.json", "single.json"], &[]);
    let kb = size_kb(&html);
    record_size("ten-model comparison", &html);
    assert!(kb < 1024.0, "{kb:.0} KiB");
    // The same as if each run had lasted two hours: 7,200 points of 1 s series per run, folded
    // into buckets for the charts and tables.
    let f = fixtures();
    let mut r: Value =
        serde_json::from_str(&std::fs::read_to_string(f.p("single.json")).expect("result"))
            .expect("json");
    let ts = r["timeseries"].as_array().expect("series").clone();
    let long: Vec<Value> = (0..7200)
        .map(|t| {
            let mut p = ts[t % ts.len()].clone();
            p["t_s"] = json!(t);
            p
        })
        .collect();
    r["timeseries"] = json!(long);
    std::fs::write(f.p("long.json"), r.to_string()).expect("write");
    let html = html_report("ten-models-2h.html", &["long.json", "long.json"], &[]);
    let kb = size_kb(&html);
    record_size("ten-model comparison of two 2 h runs", &html);
    assert!(kb < 2048.0, "{kb:.0} KiB");
    let text = std::fs::read_to_string(&html).expect("report");
    assert!(
        text.contains("averaged over 12 s buckets"),
        "7,200 s into ≤ 600 points"
    );
}

/// The page's structure, with the figures left out: section headings, chart titles and ids,
/// table ids and headers.
fn skeleton(html: &str) -> String {
    let mut out = String::new();
    let grab = |from: usize, open: &str, close: &str| -> Option<(String, usize)> {
        let s = html[from..].find(open)? + from + open.len();
        let e = html[s..].find(close)? + s;
        Some((html[s..e].to_string(), e))
    };
    let mut i = 0;
    // Walk the markers in document order.
    let markers = [
        ("<h2 id=\"", "\""),
        ("<figcaption>", "</figcaption>"),
        ("<svg id=\"", "\""),
        ("<table id=\"", "\""),
        ("<th scope=\"col\">", "</th>"),
        (
            "<meta http-equiv=\"Content-Security-Policy\" content=\"",
            "\"",
        ),
    ];
    loop {
        let next = markers
            .iter()
            .filter_map(|(o, c)| html[i..].find(o).map(|p| (p + i, *o, *c)))
            .min_by_key(|(p, ..)| *p);
        let Some((p, o, c)) = next else { break };
        let Some((text, end)) = grab(p, o, c) else {
            break;
        };
        let tag = o.trim_start_matches('<').split(' ').next().unwrap_or("");
        let tag = tag.trim_end_matches('>');
        if tag == "th" {
            out.push_str(&format!("    | {text}\n"));
        } else {
            out.push_str(&format!("{tag} {text}\n"));
        }
        i = end;
    }
    out
}

fn snapshot(name: &str, got: &str) {
    let path = root().join("tests/snapshots").join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, got).expect("write snapshot");
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} missing (UPDATE_SNAPSHOTS=1 to create)", path.display()));
    assert_eq!(got, want, "{name} changed: UPDATE_SNAPSHOTS=1 if intended");
}

#[test]
fn html_skeleton_snapshot() {
    let html = html_report(
        "skeleton.html",
        &["single.json"],
        &["--claims", "claims/ci-gate.toml"],
    );
    let text = std::fs::read_to_string(html).expect("report");
    snapshot("report_html_skeleton.txt", &skeleton(&text));
}

/// Figures vary from run to run: every number becomes `N`.
fn mask_numbers(s: &str) -> String {
    let mut out = String::new();
    let mut in_num = false;
    for c in s.chars() {
        if c.is_ascii_digit() || (in_num && (c == '.' || c == ',')) {
            if !in_num {
                out.push('N');
                in_num = true;
            }
        } else {
            in_num = false;
            out.push(c);
        }
    }
    out
}

#[test]
fn csv_and_markdown_snapshots() {
    let f = fixtures();
    let dir = f.dir.join("csv");
    let stdout = llmload(&[
        "report",
        &f.p("fastcloud.json"),
        &f.p("budgetai.json"),
        &f.p("steadyhost.json"),
        "--format",
        "csv",
        "-o",
        &dir.display().to_string(),
    ]);
    assert!(stdout.contains("tables in"), "{stdout}");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("csv dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    let mut got = String::new();
    for n in &names {
        let text = std::fs::read_to_string(dir.join(n)).expect("csv");
        let mut lines = text.split("\r\n");
        let header = lines.next().unwrap_or("");
        let rows = lines.filter(|l| !l.is_empty()).count();
        // Row counts of the per-second tables depend on timing; the others are fixed.
        let rows = if n.starts_with("timeseries_") {
            "rows vary".to_string()
        } else {
            format!("{rows} rows")
        };
        got.push_str(&format!("{n} ({rows})\n  {header}\n"));
    }
    snapshot("report_csv.txt", &got);

    let md = llmload(&[
        "report",
        &f.p("single.json"),
        "--format",
        "markdown",
        "--claims",
        "claims/ci-gate.toml",
    ]);
    assert!(md.contains("### Claims"), "{md}");
    assert!(
        md.contains("| claim | model | measured | limit | margin | verdict |"),
        "{md}"
    );
    // Path of the fixtures folder differs between machines.
    let md = md.replace(&f.dir.display().to_string(), "<dir>");
    let md: String = md
        .lines()
        .filter(|l| !l.starts_with("| ") || l.starts_with("| name") || l.starts_with("| claim"))
        // A busy machine can make the run invalid (a note, a different status) or fail a claim.
        .filter(|l| !l.starts_with("> **Note:**"))
        .map(|l| match l.split_once(", ") {
            Some((head, _)) if l.starts_with("- **") => format!("{head}, <status>\n"),
            _ => format!(
                "{}\n",
                l.replace("→ FAIL", "→ <gate>")
                    .replace("→ PASS", "→ <gate>")
            ),
        })
        .collect();
    // A filtered note leaves its blank line behind.
    let mut md = mask_numbers(&md);
    while md.contains("\n\n\n") {
        md = md.replace("\n\n\n", "\n\n");
    }
    snapshot("report_markdown.txt", &md);
}

#[test]
fn report_usage_errors() {
    let f = fixtures();
    let mut cmd = Command::new(bin());
    cmd.args(["report", &f.p("single.json"), "--format", "pdf", "-o", "x"]);
    let o = output_with_timeout(cmd, Duration::from_secs(30));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--format"));
    let mut cmd = Command::new(bin());
    cmd.args(["report", &f.p("single.json")]);
    let o = output_with_timeout(cmd, Duration::from_secs(30));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--output"));
}

#[test]
fn with_load_replaces_only_the_load_table() {
    let s = "a = 1\n[load]\nrate = \"1/s\"\n\n[slo]\nttft = \"1s\"\n";
    assert_eq!(
        with_load(s, "rate = \"2/s\""),
        "a = 1\n[load]\nrate = \"2/s\"\n\n[slo]\nttft = \"1s\"\n"
    );
    assert_eq!(with_load("[load]\nx = 1\n", "y = 2"), "[load]\ny = 2\n\n");
}

// ---------------------------------------------------------------- answer quality

/// Four models on the mock with a baseline and a 40-line golden set whose checks have a known
/// outcome on any answer the mock makes (generated words, never "zebra-unicorn"); the models'
/// simulated server errors and answer lengths make their golden answers miss at different rates.
const QUALITY: &str = r#"
name = "quality-migration"
seed = 7

[[targets]]
name = "sim"
base_url = "mock"

[[models]]
id = "gpt-4o"
target = "sim"
price = { input_per_m = 2.50, output_per_m = 10.00 }
mock = { ttft = "40ms", itl = "2ms", output_tokens = 5 }

[[models]]
id = "deepseek-ai/DeepSeek-V4-Flash"
label = "DeepSeek V4 Flash"
target = "sim"
price = { input_per_m = 0.27, output_per_m = 1.10 }
mock = { ttft = "15ms", itl = "1ms", output_tokens = 5, faults = { server_error = 0.1 } }

[[models]]
id = "Qwen/Qwen3-32B"
label = "Qwen3-32B"
target = "sim"
price = { input_per_m = 0.30, output_per_m = 1.20 }
mock = { ttft = "12ms", itl = "1ms", output_tokens = 12, faults = { server_error = 0.05 } }

[[models]]
id = "deepseek-ai/DeepSeek-V4-Pro"
label = "DeepSeek V4 Pro"
target = "sim"
price = { input_per_m = 0.55, output_per_m = 2.20 }
mock = { ttft = "30ms", itl = "1ms", output_tokens = 5, faults = { server_error = 0.03 } }

[[models]]
id = "unpriced"
target = "sim"
mock = { ttft = "5ms", itl = "1ms", output_tokens = 5 }

[workload]
prompts = ["Summarise the ticket."]
max_tokens = 16

[load]
arrival = "poisson"
rate = "30/s"
warmup = "0s"
duration = "3s"
cooldown = "0s"

[quality]
golden = "golden.jsonl"
baseline = "gpt-4o"
"#;

/// The 40 golden lines: mostly "any word" (`regex \w`), three that never pass, two that pass
/// half, two cut short (`max_tokens = 6`) whose `not_contains` needs the whole answer, two with
/// a reference; three classes. The first line's id is markup, which the page must escape.
fn quality_golden() -> String {
    let mut out = String::new();
    for i in 0..40 {
        let class = ["facts", "math", "support"][i % 3];
        let id = if i == 0 {
            "<b>tag</b>".to_string()
        } else {
            format!("{class}-{}", i + 1)
        };
        let (checks, extra) = match i {
            3 | 17 | 29 => (r#"[{"contains": "zebra-unicorn"}]"#, ""),
            8 | 22 => (r#"[{"regex": "\\w"}, {"contains": "zebra-unicorn"}]"#, ""),
            11 | 25 => (
                r#"[{"not_contains": "zebra-unicorn"}]"#,
                r#", "max_tokens": 6"#,
            ),
            5 | 6 => (
                r#"[{"regex": "\\w"}]"#,
                r#", "reference": "The answer is a short sentence of plain words.""#,
            ),
            _ => (r#"[{"regex": "\\w"}]"#, ""),
        };
        out.push_str(&format!(
            "{{\"id\": {}, \"prompt\": \"Question {}?\", \"class\": \"{class}\", \"checks\": {checks}{extra}}}\n",
            json!(id),
            i + 1
        ));
    }
    out
}

/// The quality scenario's result and its report, run once per test binary (in a folder of
/// its own).
fn quality_fixture() -> &'static (PathBuf, Value) {
    static F: OnceLock<(PathBuf, Value)> = OnceLock::new();
    F.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-quality-test");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("golden.jsonl"), quality_golden()).expect("golden");
        std::fs::write(dir.join("quality.toml"), QUALITY).expect("scenario");
        let result = dir.join("quality.json");
        llmload_ok(
            &[
                "run",
                &dir.join("quality.toml").display().to_string(),
                "-q",
                "--no-records",
                "-o",
                &result.display().to_string(),
            ],
            RUN_EXITS,
        );
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(&result).expect("result")).expect("json");
        (dir, v)
    })
}

/// `llmload report` of `results` to `out` in the quality folder; returns the HTML.
fn quality_report(results: &[&Path], out: &str) -> (PathBuf, String) {
    let (dir, _) = quality_fixture();
    let html = dir.join(out);
    let mut args = vec!["report".to_string()];
    args.extend(results.iter().map(|p| p.display().to_string()));
    args.extend(["-o".to_string(), html.display().to_string()]);
    let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    llmload(&a);
    let text = std::fs::read_to_string(&html).expect("report");
    (html, text)
}

/// HTML text with the entities minijinja writes turned back into characters.
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&#x2f;", "/")
        .replace("&amp;", "&")
}

/// The body rows of the table with this id, as text cells.
fn table_rows(html: &str, id: &str) -> Vec<Vec<String>> {
    let start = html
        .find(&format!("<table id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no table {id}"));
    let body = &html[start..];
    let body = &body[body.find("<tbody>").expect("tbody") + 7..body.find("</tbody>").expect("end")];
    body.split("<tr>")
        .filter(|r| !r.trim().is_empty())
        .map(|r| {
            let mut cells = Vec::new();
            let mut rest = r;
            while let Some(i) = rest.find("<t") {
                let cell = &rest[i..];
                let text = &cell[cell.find('>').expect(">") + 1..];
                let end = text.find("</t").expect("cell end");
                cells.push(unescape(&text[..end]));
                rest = &text[end + 3..];
            }
            cells
        })
        .collect()
}

/// The value of attribute `name` in an element's markup.
fn attr<'a>(el: &'a str, name: &str) -> Option<&'a str> {
    let pat = format!("{name}=\"");
    let i = if el.starts_with(&pat) {
        pat.len()
    } else {
        el.find(&format!(" {pat}"))? + pat.len() + 1
    };
    Some(&el[i..i + el[i..].find('"')?])
}

/// A tick label as a number (`0.25`, `1.5k`, `2M`).
fn tick_value(t: &str) -> f64 {
    let (n, m) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1e3),
        Some('M') => (&t[..t.len() - 1], 1e6),
        _ => (t, 1.0),
    };
    n.parse::<f64>()
        .unwrap_or_else(|_| panic!("tick label {t:?}"))
        * m
}

/// An axis read the way a person reads it: the labelled ticks' values and positions (the
/// first and the last), interpolated linearly or on a log scale.
struct Axis {
    ticks: Vec<(f64, f64)>,
    log: bool,
}

impl Axis {
    fn read(svg: &str, class: &str, pos: &str, log: bool) -> Axis {
        let ticks: Vec<(f64, f64)> = svg
            .split("<text ")
            .skip(1)
            .filter(|t| attr(t, "class") == Some(class))
            .map(|t| {
                let label = &t[t.find('>').expect(">") + 1..t.find("</text>").expect("text")];
                let at: f64 = attr(t, pos).expect("position").parse().expect("number");
                (tick_value(label), at)
            })
            .collect();
        assert!(ticks.len() >= 2, "{class}: {ticks:?}");
        Axis { ticks, log }
    }

    fn px(&self, v: f64) -> f64 {
        let f = |x: f64| if self.log { x.log10() } else { x };
        let ((a, pa), (b, pb)) = (self.ticks[0], self.ticks[self.ticks.len() - 1]);
        pa + (f(v) - f(a)) / (f(b) - f(a)) * (pb - pa)
    }
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// `0.846 [0.790, 0.900]` from a result's estimate (a negative zero written as 0).
fn est_text(e: &Value) -> String {
    format!(
        "{:.3} [{:.3}, {:.3}]",
        num(&e["value"]) + 0.0,
        num(&e["low"]) + 0.0,
        num(&e["high"]) + 0.0
    )
}

#[test]
fn quality_report_shows_the_figures_and_places_each_point_at_them() {
    let (dir, r) = quality_fixture();
    let (_, html) = quality_report(&[&dir.join("quality.json")], "quality.html");
    let q = &r["quality"];
    let models = q["models"].as_array().expect("quality models");
    assert_eq!(models.len(), 5);
    let per_1k = |label: &str| {
        r["models"]
            .as_array()
            .expect("models")
            .iter()
            .find(|m| m["model"] == label || m["label"] == label)
            .and_then(|m| m["cost"]["per_1k_requests_usd"].as_f64())
    };
    let base = per_1k("gpt-4o").expect("the baseline has a price");

    // The table: one row per model, with the result's figures.
    let rows = table_rows(&html, "quality_models");
    assert_eq!(rows.len(), 5, "{rows:?}");
    for (m, row) in models.iter().zip(&rows) {
        let label = m["model"].as_str().expect("label");
        let o = &m["overall"];
        assert_eq!(row[0], label);
        assert_eq!(row[1], est_text(&o["score"]), "{label}");
        assert_eq!(row[2], o["n_scored"].to_string());
        assert_eq!(row[3], o["n_unscorable"].to_string());
        if label == "gpt-4o" {
            assert_eq!((row[5].as_str(), row[7].as_str()), ("baseline", "baseline"));
        } else {
            assert_eq!(row[5], est_text(&o["relative"]), "{label}");
        }
        match per_1k(label) {
            Some(c) if label != "gpt-4o" => {
                // Cost relative to the baseline, divided here from the two costs.
                let shown: f64 = row[7].parse().expect("cost relative");
                assert!((shown - c / base).abs() <= 0.0005, "{label}: {row:?}");
            }
            None => assert_eq!((row[6].as_str(), row[7].as_str()), ("-", "-"), "{label}"),
            _ => {}
        }
    }
    // Scores differ from the perfect one: the three lines that never pass cost every model.
    assert!(num(&models[0]["overall"]["score"]["value"]) < 1.0);

    // The summary cards carry the score too.
    assert!(html.contains(&format!(
        "<dt>quality score</dt><dd>{}</dd>",
        est_text(&models[0]["overall"]["score"])
    )));

    // Per class and per check.
    let classes = table_rows(&html, "quality_classes");
    assert_eq!(classes.len(), 5 * 3, "{classes:?}");
    let c = &models[1]["classes"]["math"];
    assert!(classes.iter().any(|row| row[0] == "DeepSeek V4 Flash"
        && row[1] == "math"
        && row[2] == est_text(&c["score"])));
    let checks = table_rows(&html, "quality_checks");
    assert_eq!(checks.len(), 5 * 4, "{checks:?}");
    let regex = &models[0]["overall"]["checks"]["regex"];
    let (p, t) = (num(&regex["passed"]), num(&regex["total"]));
    let cell = format!("{p}/{t} ({:.1} %)", p / t * 100.0);
    assert!(
        checks
            .iter()
            .any(|row| row[..2] == ["gpt-4o", "all"] && row.contains(&cell)),
        "{cell} not in {checks:?}"
    );

    // The chart: each priced model's dot where its cost and score are on the axes.
    let svg = &html[html.find("<svg id=\"quality_cost\"").expect("the chart")..];
    let svg = &svg[..svg.find("</svg>").expect("end")];
    let log = svg.contains("log scale)</text>");
    let (xa, ya) = (
        Axis::read(svg, "xt", "x", log),
        Axis::read(svg, "yt", "y", false),
    );
    let dots: Vec<&str> = svg
        .split("<circle ")
        .skip(1)
        .filter(|c| attr(c, "class").is_some_and(|k| k.starts_with("dot ")))
        .collect();
    assert_eq!(dots.len(), 4, "the unpriced model is left out: {svg}");
    for m in models.iter().filter(|m| m["model"] != "unpriced") {
        let label = m["model"].as_str().expect("label");
        let dot = dots
            .iter()
            .find(|d| attr(d, "data-name") == Some(label))
            .unwrap_or_else(|| panic!("no dot for {label}"));
        let at = |k: &str| -> f64 { attr(dot, k).expect(k).parse().expect("number") };
        let s = &m["overall"]["score"];
        let (want_x, want_y) = (xa.px(per_1k(label).expect("cost")), ya.px(num(&s["value"])));
        assert!(
            (at("cx") - want_x).abs() <= 0.2,
            "{label}: x {} vs {want_x}",
            at("cx")
        );
        assert!(
            (at("cy") - want_y).abs() <= 0.2,
            "{label}: y {} vs {want_y}",
            at("cy")
        );
        // Its error bar spans the interval.
        let bar = format!(
            "M{:.1} {:.1}V{:.1}",
            at("cx"),
            ya.px(num(&s["low"])),
            ya.px(num(&s["high"]))
        );
        let found = svg.split("d=\"").any(|d| {
            let p: Vec<f64> = d
                .split(['M', 'V', 'H', '"'])
                .nth(1)
                .map(|s| s.split(' ').filter_map(|n| n.parse().ok()).collect())
                .unwrap_or_default();
            let v: Option<f64> = d
                .split('V')
                .nth(1)
                .and_then(|s| s.split('M').next()?.parse().ok());
            p.len() == 2
                && (p[0] - at("cx")).abs() < 0.05
                && (p[1] - ya.px(num(&s["low"]))).abs() <= 0.2
                && v.is_some_and(|v| (v - ya.px(num(&s["high"]))).abs() <= 0.2)
        });
        assert!(found, "{label}: no error bar like {bar} in {svg}");
    }
    // The baseline is ringed, its score and cost drawn as lines, the region shaded.
    assert!(svg.contains("<circle class=\"ring c0\""), "{svg}");
    assert!(svg.contains(&format!(
        "gpt-4o score {:.3}</text>",
        num(&models[0]["overall"]["score"]["value"])
    )));
    assert!(svg.contains("<g class=\"region\"><rect"));
    // Under the chart, in its figure: the model without a price, and why.
    let figure = &html[html.find("<svg id=\"quality_cost\"").expect("chart")..];
    let figure = &figure[..figure.find("</figure>").expect("figure end")];
    assert!(
        figure.contains("Left out of the chart: unpriced (no price: no cost)."),
        "{figure}"
    );

    // The golden answers that missed, folded and escaped.
    assert!(
        html.contains("<details><summary>DeepSeek V4 Flash: "),
        "misses folded"
    );
    assert!(!html.contains("<details open"));
    assert!(!html.contains("<b>tag</b>"), "a line id is escaped");
}

#[test]
fn markdown_export_carries_the_quality_tables_with_the_report_figures() {
    let (dir, r) = quality_fixture();
    let (_, html) = quality_report(&[&dir.join("quality.json")], "quality-md.html");
    let md = llmload(&[
        "report",
        &dir.join("quality.json").display().to_string(),
        "--format",
        "markdown",
    ]);
    // The Markdown rows of a table under its bold title.
    let md_rows = |title: &str| -> Vec<Vec<String>> {
        let at = md
            .find(&format!("**{title}**"))
            .unwrap_or_else(|| panic!("no {title} in {md}"));
        md[at..]
            .lines()
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .skip(2)
            .map(|l| {
                l.trim_matches('|')
                    .split('|')
                    .map(|c| c.trim().to_string())
                    .collect()
            })
            .collect()
    };
    let title_of = |id: &str| -> String {
        let at = html
            .find(&format!("<table id=\"{id}\">"))
            .unwrap_or_else(|| panic!("no table {id}"));
        let cap = &html[at..];
        let cap = &cap[cap.find("<caption>").expect("caption") + 9..];
        unescape(&cap[..cap.find("</caption>").expect("caption end")])
    };
    for id in ["quality_models", "quality_classes"] {
        let rows = md_rows(&title_of(id));
        assert_eq!(rows, table_rows(&html, id), "{id}");
    }
    // The scores are the result's.
    let first = &r["quality"]["models"][0];
    let rows = md_rows(&title_of("quality_models"));
    assert_eq!(rows[0][0], first["model"].as_str().expect("label"));
    assert_eq!(rows[0][1], est_text(&first["overall"]["score"]));
}

#[test]
fn quality_answers_are_escaped_and_a_result_without_quality_has_no_section() {
    let (dir, r) = quality_fixture();
    // An answer holding markup, as a model could write it.
    let mut hostile = r.clone();
    let g = &mut hostile["quality"]["models"][1]["golden"][0];
    g["answer"] = json!("<script>alert('x')</script> & <img src=x>");
    g["score"] = json!(0.0);
    g["passed"] = json!([false]);
    let p = dir.join("hostile.json");
    std::fs::write(&p, hostile.to_string()).expect("write");
    let (_, html) = quality_report(&[&p], "hostile.html");
    assert!(!html.contains("<script"), "an answer became markup");
    assert!(!html.contains("<img src=x"));
    assert!(
        html.contains("&lt;script&gt;alert("),
        "the answer is shown, escaped"
    );
    let rows = table_rows(&html, "quality_misses_deepseek_v4_flash");
    assert!(
        rows.iter().any(|row| row.last().map(String::as_str)
            == Some("<script>alert('x')</script> & <img src=x>")),
        "{rows:?}"
    );

    // A result written before `cost_relative` existed: the report divides the costs itself.
    let (_, now) = quality_report(&[&dir.join("quality.json")], "now.html");
    let mut older = r.clone();
    for m in older["quality"]["models"]
        .as_array_mut()
        .expect("models")
        .iter_mut()
    {
        m.as_object_mut().expect("object").remove("cost_relative");
    }
    assert!(!older.to_string().contains("cost_relative"));
    let p = dir.join("older.json");
    std::fs::write(&p, older.to_string()).expect("write");
    let (_, html) = quality_report(&[&p], "older.html");
    let col = |h: &str| -> Vec<String> {
        table_rows(h, "quality_models")
            .into_iter()
            .map(|r| r[7].clone())
            .collect()
    };
    assert_eq!(col(&html), col(&now));
    assert!(col(&html).iter().any(|c| c.parse::<f64>().is_ok()));

    // The same result without its quality section: no section, chart or table.
    let mut plain = r.clone();
    plain.as_object_mut().expect("object").remove("quality");
    let p = dir.join("plain.json");
    std::fs::write(&p, plain.to_string()).expect("write");
    let (_, html) = quality_report(&[&p], "plain.html");
    for gone in ["s-quality", "quality_cost", "quality_models", "<details>"] {
        assert!(!html.contains(gone), "{gone} in a report without quality");
    }

    // Two results compared: one chart, a point per model of each.
    let (_, html) = quality_report(
        &[&dir.join("quality.json"), &dir.join("hostile.json")],
        "cmp.html",
    );
    let svg = &html[html.find("<svg id=\"quality_cost\"").expect("the chart")..];
    let svg = &svg[..svg.find("</svg>").expect("end")];
    assert_eq!(svg.matches("class=\"dot ").count(), 8, "{svg}");
    assert!(svg.contains("data-name=\"quality-migration #2 · DeepSeek V4 Pro\""));
    assert_eq!(table_rows(&html, "quality_models").len(), 10);
}

#[test]
#[ignore = "needs chromium, chromedriver and tidy; .ci/run runs it"]
fn quality_report_renders_in_chromium_and_passes_tidy() {
    // The browser helpers write their logs and screenshots in the shared folder, which the
    // shared fixtures create (and clear) first.
    fixtures();
    let (dir, _) = quality_fixture();
    let (html, _) = quality_report(&[&dir.join("quality.json")], "quality-browser.html");
    let v = check_in_browser(&html, "quality", 10, false);
    let chart = v["charts"]
        .as_array()
        .expect("charts")
        .iter()
        .find(|c| c["id"] == "quality_cost")
        .expect("the cost-versus-quality chart")
        .clone();
    assert_eq!(chart["lines"], 4, "an error bar per priced model: {chart}");
    let o = Command::new(tidy())
        .args(["-errors", "-q", "-utf8"])
        .arg(&html)
        .output()
        .expect("run tidy");
    let msgs = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "tidy: {msgs}");
    assert!(msgs.trim().is_empty(), "{msgs}");
    // A picture of the chart for a person to look at: LLMLOAD_SCREENSHOT_DIR, else the
    // screenshots folder.
    let shots = std::env::var_os("LLMLOAD_SCREENSHOT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| out_dir().join("screenshots"));
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let d = Driver::start();
    let s = d.session();
    s.open(&html);
    let el = s.post(
        "element",
        json!({"using": "css selector", "value": "figure:has(#quality_cost)"}),
    );
    let id = el
        .as_object()
        .and_then(|o| o.values().next())
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no figure: {el}"))
        .to_string();
    let b64 = s.get(&format!("element/{id}/screenshot"));
    let png = base64::engine::general_purpose::STANDARD
        .decode(b64.as_str().expect("base64 screenshot"))
        .expect("decodes");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    let to = shots.join("report-quality-chart.png");
    std::fs::write(&to, png).expect("write screenshot");
    eprintln!("chart screenshot: {}", to.display());
}
