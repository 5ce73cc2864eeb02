//! Images in chat messages: runs against the built-in mock (127.0.0.1 port 0, bounded in
//! requests and time) with synthetic images and with a JSONL dataset naming image files, the
//! mock's prompt-token count of each image checked against its rule computed here, image
//! files that are missing or not images refused at validation naming file, line and field,
//! and no artefact of a run (result, records, report, console) holding the image data.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

/// The mock's text tokens: a token per 4 bytes of message text, rounded up, at least 1.
fn text_tokens(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4).max(1)
}

/// The mock's image tokens for a `w` x `h` image at high detail (docs/workloads.md): 85 plus
/// 170 per 512-pixel tile, for images whose sides are below 768 (no scaling).
fn image_tokens(w: u64, h: u64) -> u64 {
    assert!(
        w.min(h) <= 768 && w.max(h) <= 2048,
        "a size that needs no scaling"
    );
    85 + 170 * w.div_ceil(512) * h.div_ceil(512)
}

/// A stored-deflate PNG's size: signature, IHDR, IDAT (zlib header, one 5-byte block header
/// per 65535 bytes of rows, the rows, Adler-32), IEND.
fn png_size(w: u64, h: u64) -> u64 {
    let raw = h * (1 + 3 * w);
    8 + 25 + 12 + 2 + 5 * raw.div_ceil(65_535) + raw + 4 + 12
}

fn image_scenario(workload: &str, requests: u32) -> String {
    scenario(
        "ttft = \"20ms\", itl = \"5ms\", output_tokens = 4",
        &format!("max_tokens = 8\n{workload}"),
        &format!("concurrency = 2\nrequests = {requests}"),
    )
    .replace(
        "prompts = [\"Say something.\", \"Tell me more about load testing.\"]\n",
        "",
    )
}

const SYNTH: &str = "prompts = [\"Describe the image.\"]\n[workload.images]\ncount = 2\nwidth = 600\nheight = 100\n";

#[test]
fn synthetic_images_are_sent_counted_and_priced_as_input() {
    const N: u64 = 6;
    let r = run_scenario(&image_scenario(SYNTH, N as u32), &[], &[]);
    assert_ok_or_starved(&r);
    let m = model(&r.result, 0);
    assert_eq!(m["requests"]["ok"], N, "{}", r.stdout);
    let bytes = png_size(600, 100);
    // 600 x 100: two tiles across, one down.
    let want_input = text_tokens("Describe the image.") + 2 * image_tokens(600, 100);
    assert_eq!(r.records.len() as u64, N);
    for rec in &r.records {
        assert_eq!(rec["outcome"], "ok", "{rec}");
        assert_eq!(rec["images"], 2, "{rec}");
        assert_eq!(rec["image_bytes"], 2 * bytes, "{rec}");
        // The server's own count: the images reached it as content parts.
        assert_eq!(rec["input_tokens"], want_input, "{rec}");
        assert_eq!(rec["input_tokens_source"], "usage", "{rec}");
        assert_eq!(rec["output_tokens"], 4, "{rec}");
    }
    assert_eq!(m["images_per_request"], 2.0, "{m}");
    assert_eq!(m["image_bytes_per_request"], (2 * bytes) as f64, "{m}");
    assert_eq!(m["tokens"]["input"], N * want_input);
    let line = format!(
        "images: 2.0 per request, {:.1} KiB per request",
        (2 * bytes) as f64 / 1024.0
    );
    assert!(r.stdout.contains(&line), "{}", r.stdout);
    // The first token waits as the mock sets it, images or not.
    let ttft = m["latency_ms"]["ttft"]["min"].as_f64().expect("ttft");
    assert!(ttft >= 19.0, "{ttft}");
}

/// A minimal GIF header of `w` x `h` (the mock reads only the header).
fn gif(w: u16, h: u16) -> Vec<u8> {
    let mut g = b"GIF89a".to_vec();
    g.extend_from_slice(&w.to_le_bytes());
    g.extend_from_slice(&h.to_le_bytes());
    g.extend_from_slice(&[0, 0, 0, 0x3b]);
    g
}

/// Writes a synthetic PNG (from llmload's own encoder, checked in its unit tests) and a
/// GIF into `dir`; their byte sizes.
fn write_images(dir: &Path) -> (u64, u64) {
    let png = llmload::config::images::synthetic(1, 700, 300, 9).expect("png");
    let v: serde_json::Value = serde_json::from_str(png[0].part.get()).expect("JSON");
    let url = v["image_url"]["url"].as_str().expect("url");
    let data = url.split_once(',').expect("data URL").1;
    let bytes = llmload::config::images::base64_decode(data).expect("base64");
    std::fs::create_dir_all(dir.join("img")).expect("dir");
    std::fs::write(dir.join("img/cat.png"), &bytes).expect("write");
    let g = gif(100, 80);
    std::fs::write(dir.join("img/dog.gif"), &g).expect("write");
    (bytes.len() as u64, g.len() as u64)
}

#[test]
fn a_jsonl_dataset_sends_each_lines_images() {
    const N: u64 = 30;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (png, gif) = write_images(&data);
    std::fs::write(
        data.join("prompts.jsonl"),
        "{\"prompt\": \"What is this?\", \"images\": [\"img/cat.png\"]}\n\
         {\"prompt\": \"Hello there.\"}\n\
         {\"prompt\": \"Compare these.\", \"images\": [\"img/cat.png\", \"img/dog.gif\"]}\n",
    )
    .expect("write");
    let text = image_scenario("prompts = { file = \"data/prompts.jsonl\" }\n", N as u32);
    let scen = write_scenario(dir.path(), &text);
    let out = dir.path().join("out/result.json");
    let mut cmd = Command::new(bin());
    cmd.arg("run").arg(&scen).arg("--output").arg(&out);
    let o = output_with_timeout(cmd, Duration::from_secs(90));
    let result: serde_json::Value = std::fs::read_to_string(&out)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(serde_json::Value::Null);
    let run = Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).to_string(),
        stderr: String::from_utf8_lossy(&o.stderr).to_string(),
        result,
        records: Vec::new(),
        dir,
    };
    assert_ok_or_starved(&run);
    let dir = run.dir;
    let records: Vec<serde_json::Value> =
        std::fs::read_to_string(dir.path().join("out/result.records.jsonl"))
            .expect("records")
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON"))
            .collect();
    assert_eq!(records.len() as u64, N);
    // Each line's text, images and bytes, and the input the mock counts for it.
    let cat = image_tokens(700, 300);
    let dog = image_tokens(100, 80);
    let lines = [
        (0u64, 0u64, text_tokens("Hello there.")),
        (1, png, text_tokens("What is this?") + cat),
        (2, png + gif, text_tokens("Compare these.") + cat + dog),
    ];
    let mut seen = [0; 3];
    for rec in &records {
        assert_eq!(rec["outcome"], "ok", "{rec}");
        let n = rec.get("images").and_then(|v| v.as_u64()).unwrap_or(0);
        let (_, bytes, input) = lines[n as usize];
        assert_eq!(
            rec.get("image_bytes").and_then(|v| v.as_u64()).unwrap_or(0),
            bytes,
            "{rec}"
        );
        assert_eq!(rec["input_tokens"], input, "{rec}");
        seen[n as usize] += 1;
    }
    // 30 uniform draws over 3 lines: each line drawn at least once (a miss has
    // probability 3 (2/3)^30 ≈ 1.6e-5).
    assert!(seen.iter().all(|&k| k > 0), "{seen:?}");
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("result")).expect("JSON");
    let m = model(&result, 0);
    let per = m["images_per_request"]
        .as_f64()
        .expect("images per request");
    let want = (seen[1] + 2 * seen[2]) as f64 / N as f64;
    assert!((per - want).abs() < 1e-12, "{per} vs {want}");
}

#[test]
fn image_files_that_are_missing_or_not_images_are_refused_with_file_line_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_images(dir.path());
    std::fs::write(dir.path().join("img/notes.jpg"), "name,size\ncat,3\n").expect("write");
    let text = image_scenario("prompts = { file = \"p.jsonl\" }\n", 1);
    let field_line = line_of(&text, "prompts = { file");
    for (second, named, why) in [
        ("img/notes.jpg", "notes.jpg", "not an image"),
        ("img/gone.png", "gone.png", "No such file"),
    ] {
        std::fs::write(
            dir.path().join("p.jsonl"),
            format!(
                "{{\"prompt\": \"a\", \"images\": [\"img/cat.png\"]}}\n\
                 {{\"prompt\": \"b\", \"images\": [\"img/dog.gif\", \"{second}\"]}}\n"
            ),
        )
        .expect("write");
        let (code, out) = validate_in(dir.path(), &text);
        assert_eq!(code, 2, "{out}");
        assert!(
            out.contains(&format!(
                "scenario.toml:{field_line}:13: workload.prompts.file: "
            )),
            "{out}"
        );
        assert!(out.contains("p.jsonl:2: image "), "{out}");
        assert!(out.contains(named) && out.contains(why), "{out}");
    }

    // Synthetic sizes, and images on an endpoint without messages.
    let bad = image_scenario(&SYNTH.replace("width = 600", "width = 0"), 1);
    let (code, out) = validate_in(dir.path(), &bad);
    assert_eq!(code, 2, "{out}");
    let line = line_of(&bad, "width = 0");
    assert!(
        out.contains(&format!(
            "scenario.toml:{line}:1: workload.images.width: must be between 1 and 8192 pixels"
        )),
        "{out}"
    );
    let completions = image_scenario(&format!("endpoint = \"completions\"\n{SYNTH}"), 1);
    let (code, out) = validate_in(dir.path(), &completions);
    assert_eq!(code, 2, "{out}");
    let line = line_of(&completions, "[workload.images]");
    assert!(
        out.contains(&format!(
            "scenario.toml:{line}:11: workload.images: images apply to endpoint = \"chat\" only"
        )),
        "{out}"
    );
    let (code, out) = validate_in(dir.path(), &image_scenario(SYNTH, 1));
    assert_eq!(code, 0, "{out}");
}

#[test]
fn no_artefact_of_a_run_holds_image_data() {
    let r = run_scenario(&image_scenario(SYNTH, 4), &[], &[]);
    assert_ok_or_starved(&r);
    // The scenario's seed is 7: the same images the run sent.
    let imgs = llmload::config::images::synthetic(2, 600, 100, 7).expect("images");
    let mut slices = Vec::new();
    for img in &imgs {
        let part = img.part.get();
        let mid = part.len() / 2;
        slices.push(part[mid..mid + 48].to_string());
    }
    let report = r.dir.path().join("out/report.html");
    let mut cmd = Command::new(bin());
    cmd.arg("report")
        .arg(r.dir.path().join("out/result.json"))
        .arg("-o")
        .arg(&report);
    let o = output_with_timeout(cmd, Duration::from_secs(60));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut md = Command::new(bin());
    md.arg("report")
        .arg(r.dir.path().join("out/result.json"))
        .arg("--format")
        .arg("markdown");
    let md = output_with_timeout(md, Duration::from_secs(60));
    let mut texts = vec![
        ("stdout".to_string(), r.stdout.clone()),
        ("stderr".to_string(), r.stderr.clone()),
        (
            "markdown".to_string(),
            String::from_utf8_lossy(&md.stdout).to_string(),
        ),
    ];
    for e in std::fs::read_dir(r.dir.path().join("out")).expect("out dir") {
        let p = e.expect("entry").path();
        let bytes = std::fs::read(&p).expect("read");
        texts.push((
            p.display().to_string(),
            String::from_utf8_lossy(&bytes).to_string(),
        ));
    }
    assert!(
        texts.len() >= 6,
        "result, records and report: {:?}",
        texts.len()
    );
    for (name, text) in &texts {
        assert!(!text.contains("data:image"), "{name} holds a data URL");
        for s in &slices {
            assert!(!text.contains(s.as_str()), "{name} holds image data");
        }
    }
    // The run did send them (the records say so).
    assert!(r.records.iter().all(|rec| rec["images"] == 2));
}

#[test]
fn the_mock_counts_image_parts_and_refuses_a_malformed_data_url() {
    let mock = Mock::start(&["--ttft", "1ms", "--itl", "1ms"]);
    let img = &llmload::config::images::synthetic(1, 1024, 1024, 3).expect("image")[0];
    let body = |part: &str| {
        format!(
            r#"{{"model":"m","max_tokens":2,"messages":[{{"role":"user","content":[{{"type":"text","text":"abcd"}},{part}]}}]}}"#
        )
    };
    let (status, text) = mock.post(&body(img.part.get()));
    assert_eq!(status, 200, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    // "abcd": 1 token; 1024 x 1024 → 768 x 768, 4 tiles: 85 + 4 × 170 (OpenAI's example).
    assert_eq!(v["usage"]["prompt_tokens"], 1 + 765, "{v}");
    for bad in [
        r#"{"type":"image_url","image_url":{"url":"data:image/png;base64,@@not-base64@@"}}"#,
        r#"{"type":"image_url","image_url":{"url":"data:image/png;base64,aGVsbG8gd29ybGQh"}}"#,
        r#"{"type":"image_url","image_url":{"url":"data:text/plain;base64,aGVsbG8="}}"#,
    ] {
        let (status, text) = mock.post(&body(bad));
        assert_eq!(status, 400, "{bad}: {text}");
        assert!(text.contains("image data URL"), "{text}");
        assert!(
            !text.contains("aGVsbG8"),
            "the error echoes the data: {text}"
        );
    }
}
