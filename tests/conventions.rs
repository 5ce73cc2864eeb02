//! Shell completions and man pages are generated from the same clap types as the parser, so
//! they list every command and flag the binary accepts.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{bin, output_with_timeout};

const COMMANDS: [&str; 11] = [
    "run",
    "validate",
    "mock",
    "calibrate",
    "check",
    "compare",
    "sweep",
    "plan",
    "report",
    "merge",
    "init",
];

fn llmload(args: &[&str]) -> std::process::Output {
    let mut c = Command::new(bin());
    c.args(args);
    output_with_timeout(c, Duration::from_secs(30))
}

#[test]
fn completions_cover_every_command_in_every_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = llmload(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        for c in COMMANDS {
            assert!(script.contains(c), "{shell} completion lacks `{c}`");
        }
        assert!(script.contains("step-duration"), "{shell}: sweep's flags");
    }
    let out = llmload(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("possible values"));
}

#[test]
fn man_writes_one_page_per_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = llmload(&["man", "-o", dir.path().to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0));
    let top = std::fs::read_to_string(dir.path().join("llmload.1")).expect("llmload.1");
    assert!(
        top.starts_with(".ie") || top.contains(".TH llmload"),
        "{}",
        &top[..200.min(top.len())]
    );
    for c in COMMANDS {
        let page = std::fs::read_to_string(dir.path().join(format!("llmload-{c}.1")))
            .unwrap_or_else(|e| panic!("llmload-{c}.1: {e}"));
        assert!(page.contains(&format!(".TH llmload-{c}")), "{c}: title");
        assert!(
            page.contains(&format!("llmload {c}")),
            "{c}: synopsis names the binary"
        );
    }
}

/// One meaning per short flag, rates with their units, and every `--format` listing its values.
#[test]
fn flags_follow_one_convention() {
    // `-q` is "no progress output" wherever it exists; merge's summary switch is a long flag.
    let out = llmload(&["merge", "a.json", "-o", "m.json", "-q"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unexpected argument '-q'"));
    // A bare number is not a rate.
    let out = llmload(&["calibrate", "--start-rate", "250"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a rate"));
    // Every --format lists its values in --help and refuses others before doing anything.
    for (cmd, values) in [
        ("report", "html, csv, markdown"),
        ("compare", "table, markdown, json, csv"),
        ("plan", "table, markdown, json"),
    ] {
        let help = llmload(&[cmd, "--help"]);
        let help = String::from_utf8_lossy(&help.stdout);
        assert!(
            help.contains(&format!("[possible values: {values}]")),
            "{cmd}: {help}"
        );
        let out = llmload(&[cmd, "x.json", "--format", "pdf"]);
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("invalid value 'pdf'"),
            "{cmd}"
        );
    }
}
