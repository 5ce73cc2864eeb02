//! The progress view in a log: with stderr piped (not a terminal) `llmload run` prints a plain
//! line every `--progress-interval`, with counts that agree with the schedule and the result;
//! `--quiet` prints none.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

/// 20 requests a second at constant gaps for 4 s; each takes about 100 ms to the first token
/// and 10 tokens 5 ms apart.
fn steady() -> String {
    steady_with("")
}

fn steady_with(mock_extra: &str) -> String {
    scenario(
        &format!(r#"ttft = "100ms", itl = "5ms", output_tokens = 10{mock_extra}"#),
        "max_tokens = 10",
        "arrival = \"constant\"\nrate = \"20/s\"\nduration = \"4s\"",
    )
}

#[derive(Debug)]
struct Line {
    elapsed: u64,
    total: u64,
    pct: u64,
    sent: u64,
    ok: u64,
    failed: u64,
    in_flight: u64,
    ttft_p50_ms: Option<f64>,
    out_tok_s: Option<f64>,
}

/// Parses `[   2s/4s  50%] sent 40 ok 38 failed 0 in-flight 2 | TTFT p50 104 ms p99 106 ms
/// (last 1 s) | out 170 tok/s`.
fn parse(l: &str) -> Option<Line> {
    let rest = l.strip_prefix('[')?;
    let (head, rest) = rest.split_once(']')?;
    let (time, pct) = head.trim().split_once(char::is_whitespace)?;
    let (e, t) = time.split_once('/')?;
    let num = |s: &str| {
        s.trim()
            .trim_end_matches(['s', '%'])
            .replace(',', "")
            .parse()
            .ok()
    };
    let parts: Vec<&str> = rest.split(" | ").collect();
    let words: Vec<&str> = parts.first()?.split_whitespace().collect();
    let field = |name: &str| -> Option<u64> {
        let i = words.iter().position(|w| *w == name)?;
        num(words.get(i + 1)?)
    };
    let ttft_p50_ms = parts.get(1).and_then(|p| {
        let w: Vec<&str> = p.split_whitespace().collect();
        (w.get(1) == Some(&"p50") && w.get(3) == Some(&"ms"))
            .then(|| w[2].parse().ok())
            .flatten()
    });
    let out_tok_s = parts
        .get(2)
        .and_then(|p| p.strip_prefix("out "))
        .and_then(|p| p.strip_suffix(" tok/s"))
        .and_then(|n| n.replace(',', "").parse().ok());
    Some(Line {
        elapsed: num(e)?,
        total: num(t)?,
        pct: num(pct)?,
        sent: field("sent")?,
        ok: field("ok")?,
        failed: field("failed")?,
        in_flight: field("in-flight")?,
        ttft_p50_ms,
        out_tok_s,
    })
}

fn progress_lines(stderr: &str) -> Vec<Line> {
    stderr
        .lines()
        .filter(|l| l.starts_with('['))
        .map(|l| parse(l).unwrap_or_else(|| panic!("unparsable progress line: {l}")))
        .collect()
}

#[test]
fn a_log_gets_a_line_every_interval_with_plausible_counts() {
    let r = run_scenario(&steady(), &["--progress-interval", "1s"], &[]);
    assert_ok_or_starved(&r);
    let lines = progress_lines(&r.stderr);
    // Lines at 1 s, 2 s, 3 s and (if the run has not ended yet) 4 s of the run clock.
    assert!((3..=5).contains(&lines.len()), "{}", r.stderr);
    let sent_total = model(&r.result, 0)["requests"]["sent"]
        .as_u64()
        .expect("sent");
    let ok_total = model(&r.result, 0)["requests"]["ok"].as_u64().expect("ok");
    let mut prev: Option<&Line> = None;
    for l in &lines {
        assert_eq!(l.total, 4, "{l:?}");
        // 4 s in all: 25 % a second (both figures rounded down).
        assert!(l.pct >= (l.elapsed * 25).min(100), "{l:?}");
        assert!(l.pct < (l.elapsed + 1) * 25, "{l:?}");
        // The schedule cannot run ahead: at most 20/s (the line's second is rounded down).
        assert!(l.sent <= 20 * (l.elapsed + 1) + 1, "{l:?}");
        assert!(l.sent >= 10 * l.elapsed, "{l:?}");
        assert!(l.ok + l.failed + l.in_flight <= l.sent, "{l:?}");
        assert_eq!(l.failed, 0, "{l:?}");
        assert!(l.in_flight <= 10, "{l:?}");
        assert!(l.sent <= sent_total && l.ok <= ok_total, "{l:?}");
        if l.elapsed >= 2 {
            // The mock waits 100 ms for the first token.
            let p50 = l.ttft_p50_ms.unwrap_or_else(|| panic!("no TTFT: {l:?}"));
            assert!((95.0..=600.0).contains(&p50), "{l:?}");
            // About 20 requests × 10 tokens end each second.
            let out = l.out_tok_s.unwrap_or_else(|| panic!("no rate: {l:?}"));
            assert!((60.0..=260.0).contains(&out), "{l:?}");
        }
        if let Some(p) = prev {
            assert!(l.elapsed > p.elapsed, "{p:?} then {l:?}");
            assert!(l.sent >= p.sent && l.ok >= p.ok, "{p:?} then {l:?}");
        }
        prev = Some(l);
    }
}

#[test]
fn failures_are_counted_as_they_happen() {
    // 30 % of requests answer HTTP 500.
    let r = run_scenario(
        &steady_with(", faults = { server_error = 0.3 }"),
        &["--progress-interval", "1s"],
        &[],
    );
    let m = model(&r.result, 0);
    let failed_total = m["requests"]["failed"].as_u64().expect("failed");
    let sent_total = m["requests"]["sent"].as_u64().expect("sent");
    let lines = progress_lines(&r.stderr);
    assert!(lines.len() >= 3, "{}", r.stderr);
    let last = lines.last().expect("a line");
    let ended = last.ok + last.failed;
    assert!(ended >= 30, "{last:?}");
    // About 30 % of some 40–80 ended requests (3 standard deviations either side).
    let share = last.failed as f64 / ended as f64;
    assert!((0.1..=0.55).contains(&share), "{last:?}");
    assert!(
        last.failed <= failed_total && last.sent <= sent_total,
        "{last:?}"
    );
    // The result agrees on the share.
    let total_share = failed_total as f64 / sent_total as f64;
    assert!(
        (0.1..=0.55).contains(&total_share),
        "{failed_total}/{sent_total}"
    );
}

#[test]
fn quiet_prints_no_progress_and_a_bad_interval_is_refused() {
    let r = run_scenario(&steady(), &["--progress-interval", "1s", "--quiet"], &[]);
    assert_ok_or_starved(&r);
    assert!(
        !r.stderr.lines().any(|l| l.starts_with('[')),
        "{}",
        r.stderr
    );

    for bad in ["1", "10ms", "soon"] {
        let mut cmd = Command::new(bin());
        cmd.args(["run", "x.toml", "--progress-interval", bad]);
        let out = output_with_timeout(cmd, Duration::from_secs(30));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {err}");
        assert!(err.contains("--progress-interval"), "{bad}: {err}");
    }
}
