//! `llmload report`: HTML, CSV or Markdown from result files (docs/reports.md).

use anyhow::{bail, Result};

use crate::analysis::gate;
use crate::analysis::report::{self, page::Input};
use crate::cli::args::ReportCmdArgs;
use crate::cli::exit::{user, Exit, UserError};
use crate::cli::shared::{daily_volume, write_text};
use crate::results::RunResult;

/// `llmload report`: reads the results (judging each against `--claims`), builds the page and
/// writes it in the chosen format.
pub fn cmd(a: ReportCmdArgs) -> Result<Exit> {
    let format = a.format.as_str();
    if !["html", "csv", "markdown"].contains(&format) {
        bail!(UserError(format!(
            "--format: `{format}` is not one of html, csv, markdown"
        )));
    }
    let claims = a
        .claims
        .as_deref()
        .map(gate::claims::load)
        .transpose()
        .map_err(user)?;
    let mut inputs = Vec::new();
    for p in &a.results {
        let path = p.display().to_string();
        let result = RunResult::read(p).map_err(user)?;
        let eval = claims
            .as_ref()
            .map(|c| gate::eval::evaluate(c, &result, &path))
            .transpose()
            .map_err(user)?;
        inputs.push(Input { path, result, eval });
    }
    let runs: Vec<(&str, &RunResult)> = inputs
        .iter()
        .map(|i| (i.path.as_str(), &i.result))
        .collect();
    let daily = daily_volume(&a.volume, &runs)?;
    let page = report::page::build_at(&inputs, a.title.as_deref(), daily.as_ref());
    match (format, &a.output) {
        ("html", Some(p)) => {
            write_text(p, report::html::render(&page).map_err(user)?)?;
            outln!("report: {}", p.display());
        }
        ("csv", Some(dir)) => {
            let files = report::export::write_csv(&page, dir)
                .map_err(|e| user(format!("writing {}: {e}", dir.display())))?;
            outln!("{} tables in {}", files.len(), dir.display());
        }
        ("markdown", Some(p)) => write_text(p, report::export::markdown(&page, &inputs))?,
        ("markdown", None) => out!("{}", report::export::markdown(&page, &inputs)),
        _ => bail!(UserError(format!(
            "--format {format} needs --output (-o): the {}",
            if format == "csv" {
                "folder for the CSV files"
            } else {
                "HTML file to write"
            }
        ))),
    }
    Ok(Exit::Ok)
}
