//! `llmload completions SHELL` and `llmload man -o DIR`: shell completions and man pages,
//! generated from the clap types.

use std::path::Path;

use anyhow::{Context, Result};

use crate::cli::args::Cli;
use crate::cli::exit::Exit;

/// `llmload completions SHELL`: the script for that shell, generated from the clap types.
pub fn completions(shell: clap_complete::Shell) -> Result<Exit> {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(shell, &mut cmd, "llmload", &mut out);
    Ok(Exit::Ok)
}

/// `llmload man -o DIR`: llmload.1 and llmload-COMMAND.1 for every command, from the clap types.
pub fn man(dir: &Path) -> Result<Exit> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let cmd = <Cli as clap::CommandFactory>::command();
    let mut pages = vec![("llmload".to_string(), cmd.clone())];
    for sub in cmd.get_subcommands().filter(|c| c.get_name() != "help") {
        let name = format!("llmload-{}", sub.get_name());
        let bin = format!("llmload {}", sub.get_name());
        pages.push((name.clone(), sub.clone().display_name(name).bin_name(bin)));
    }
    for (name, page) in pages {
        let path = dir.join(format!("{name}.1"));
        let mut buf = Vec::new();
        clap_mangen::Man::new(page)
            .render(&mut buf)
            .with_context(|| format!("rendering {}", path.display()))?;
        std::fs::write(&path, buf).with_context(|| format!("writing {}", path.display()))?;
        outln!("{}", path.display());
    }
    Ok(Exit::Ok)
}
