use std::process::ExitCode;

use clap::Parser;
use llmload::cli::app;
use llmload::cli::args::{Cli, Command};
use llmload::cli::exit::{self, Exit};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The runtime is sized here, before any command runs, for every command that takes
    // `--threads` (the result records the same number as `worker_threads`).
    let threads = match &cli.command {
        Command::Run(a) => a.threads,
        Command::Calibrate(a) => a.threads,
        Command::Sweep(a) => a.threads,
        _ => None,
    };
    // One thread asked for: a current-thread runtime, where the run, its request tasks and
    // the reactor share that thread (no hand-offs between a driving thread and a worker).
    let mut rt = if threads == Some(1) {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        if let Some(n) = threads {
            b.worker_threads(n.max(1));
        }
        b
    };
    rt.enable_all();
    let rt = match rt.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(Exit::Usage as u8);
        }
    };
    match rt.block_on(app::run(cli)) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => ExitCode::from(exit::fail(&e) as u8),
    }
}
