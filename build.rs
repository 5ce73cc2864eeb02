//! Build script: records which commit the binary is built from, so every result can name it
//! (`tool.commit` in the result file) and `llmload --version` shows it. `LLMLOAD_GIT_COMMIT` is the full hash, with `-dirty`
//! when tracked files differ from it, or empty when the source is not a git checkout (a
//! crates.io package, a container build context without `.git`).

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=Cargo.toml");
    let commit = git(&["rev-parse", "HEAD"]).unwrap_or_default();
    let dirty = !commit.is_empty()
        && git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    let commit = format!("{commit}{}", if dirty { "-dirty" } else { "" });
    println!("cargo:rustc-env=LLMLOAD_GIT_COMMIT={commit}");
    // `llmload --version`: the crate version, and the commit when there is one.
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let long = if commit.is_empty() {
        version
    } else {
        format!("{version} (commit {commit})")
    };
    println!("cargo:rustc-env=LLMLOAD_LONG_VERSION={long}");
    // Build again when HEAD moves (a commit, a checkout) or the index changes.
    for f in ["HEAD", "index", "packed-refs"] {
        if let Some(p) = git(&["rev-parse", "--git-path", f]) {
            println!("cargo:rerun-if-changed={}", PathBuf::from(p).display());
        }
    }
    if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
        if let Some(p) = git(&["rev-parse", "--git-path", &r]) {
            println!("cargo:rerun-if-changed={}", PathBuf::from(p).display());
        }
    }
}
