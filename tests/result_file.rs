//! The result file is a public interface: its shape is pinned by a snapshot (values redacted),
//! it carries a schema_version, and an interrupted run still writes it.

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use common::*;

fn shape(v: &serde_json::Value, path: String, out: &mut BTreeSet<String>) {
    match v {
        serde_json::Value::Object(m) => {
            out.insert(format!("{path}: object"));
            for (k, x) in m {
                // Histogram blobs and per-class maps are keyed by data; keep the key set only.
                shape(x, format!("{path}.{k}"), out);
            }
        }
        serde_json::Value::Array(a) => {
            out.insert(format!("{path}: array"));
            // Validity reasons depend on the machine (a starved CI box may add one); their
            // presence is not part of the shape.
            if path == ".validity.reasons" {
                return;
            }
            for x in a {
                shape(x, format!("{path}[]"), out);
            }
        }
        serde_json::Value::String(_) => {
            out.insert(format!("{path}: string"));
        }
        serde_json::Value::Number(_) => {
            out.insert(format!("{path}: number"));
        }
        serde_json::Value::Bool(_) => {
            out.insert(format!("{path}: bool"));
        }
        serde_json::Value::Null => {
            out.insert(format!("{path}: null"));
        }
    }
}

#[test]
fn result_file_shape_matches_the_snapshot() {
    let text = scenario(
        r#"ttft = "5ms", itl = "1ms", output_tokens = 4"#,
        "max_tokens = 4",
        "rate = \"40/s\"\narrival = \"constant\"\nwarmup = \"250ms\"\nduration = \"1s\"",
    ) + "\n[slo]\nttft = \"1s\"\ntpot = \"100ms\"\n";
    let r = run_scenario(&text, &["--quiet"], &[]);
    assert_ok_or_starved(&r);
    let mut lines = BTreeSet::new();
    shape(&r.result, String::new(), &mut lines);
    // Timeseries points only carry TTFT percentiles for seconds with first tokens; the set of
    // keys is otherwise fixed by this scenario.
    let got: String = lines.into_iter().map(|l| l + "\n").collect();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/snapshots/result_shape.txt"
    );
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(path, &got).expect("write snapshot");
    }
    let want =
        std::fs::read_to_string(path).expect("snapshot exists (UPDATE_SNAPSHOTS=1 to create)");
    assert_eq!(got, want, "result file shape changed: bump schema_version if incompatible, update docs/results.md, then UPDATE_SNAPSHOTS=1");
    assert_eq!(r.result["schema_version"], 1);
}

#[cfg(unix)]
#[test]
fn sigint_stops_arrivals_drains_and_writes_an_interrupted_result() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write_scenario(
        dir.path(),
        &scenario(
            r#"ttft = "50ms", itl = "5ms", output_tokens = 20"#,
            "max_tokens = 20",
            "rate = \"40/s\"\nduration = \"60s\"",
        ),
    );
    let out = dir.path().join("r.json");
    let child = Command::new(bin())
        .arg("run")
        .arg(&p)
        .arg("--output")
        .arg(&out)
        .arg("--quiet")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
    let rc = unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(rc, 0);
    let start = std::time::Instant::now();
    let output = child.wait_with_output().expect("wait");
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "took {:?} to stop",
        start.elapsed()
    );
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("result written"))
            .expect("json");
    // An interrupted run exits 2; an interrupted run the machine also starved exits 3 (invalid
    // wins), and only for that reason.
    let starved = result["validity"]["reasons"].as_array().is_some_and(|a| {
        !a.is_empty()
            && a.iter().all(|x| {
                x.as_str().is_some_and(|s| {
                    s.contains("schedule lag")
                        || s.contains("event loop")
                        || s.contains("CPU cores")
                })
            })
    });
    assert!(
        output.status.code() == Some(2) || (output.status.code() == Some(3) && starved),
        "exit {:?}: {}\nreasons: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr),
        result["validity"]["reasons"]
    );
    assert_eq!(result["status"], "interrupted");
    let sent = result["overall"]["requests"]["sent"]
        .as_u64()
        .expect("sent");
    assert!(sent > 10, "sent {sent}");
    let records = std::fs::read_to_string(dir.path().join("r.records.jsonl")).expect("records");
    // Every line is complete JSON, and the lines of sent requests add up to the result's count
    // (arrivals caught waiting by the stop are lines too, as `cancelled`).
    let mut sent_lines = 0u64;
    for l in records.lines() {
        let v: serde_json::Value = serde_json::from_str(l).expect("every line is complete JSON");
        if v["outcome"] != "cancelled" && v["outcome"] != "dropped" {
            sent_lines += 1;
        }
    }
    assert_eq!(
        sent_lines,
        result["load"]["sent_all_phases"].as_u64().expect("n")
    );
    // The window ended at the interruption, not at the planned 60 s.
    assert!(result["load"]["window_s"].as_f64().expect("window") < 10.0);
}
