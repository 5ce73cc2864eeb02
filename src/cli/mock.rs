//! `llmload mock`: the built-in mock server on a port, set from flags, until a signal stops
//! it.

use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use tokio::sync::watch;

use crate::cli::args::MockArgs;
use crate::cli::exit::{Exit, UserError};
use crate::config::mock::answers::{self, AnswersError, MockAnswers};
use crate::config::mock::{Faults, MockConfig, MockModel};
use crate::core::dist::Dist;
use crate::core::units;
use crate::engine::mock::tls::MockTls;
use crate::engine::mock::MockServer;
use crate::engine::runner::Stop;

fn prob(name: &str, v: f64) -> Result<f64> {
    if !(0.0..=1.0).contains(&v) {
        bail!(UserError(format!(
            "--{name}: a probability must be between 0 and 1"
        )));
    }
    Ok(v)
}

/// The TLS settings from `--tls-cert`/`--tls-key` or `--tls-self-signed` (whose certificate is
/// written out first), or None for plain http.
fn mock_tls(a: &MockArgs) -> Result<Option<MockTls>> {
    if let (Some(cert), Some(key)) = (&a.tls_cert, &a.tls_key) {
        let read = |flag: &str, p: &std::path::Path| {
            std::fs::read(p)
                .map_err(|e| anyhow!(UserError(format!("--{flag} {}: {e}", p.display()))))
        };
        let (c, k) = (read("tls-cert", cert)?, read("tls-key", key)?);
        let tls = MockTls::from_pem(&c, &k).map_err(|e| {
            anyhow!(UserError(format!(
                "--tls-cert {} / --tls-key {}: {e}",
                cert.display(),
                key.display()
            )))
        })?;
        return Ok(Some(tls));
    }
    let Some(out) = &a.tls_self_signed else {
        return Ok(None);
    };
    let tls = MockTls::self_signed().map_err(|e| anyhow!("--tls-self-signed: {e}"))?;
    std::fs::write(out, &tls.cert_pem)
        .with_context(|| format!("--tls-self-signed: writing {}", out.display()))?;
    Ok(Some(tls))
}

/// The answers table of `--answers` with `--wrong` as its share of wrong answers; a file that
/// cannot be read or has wrong lines is refused naming the file, line and field.
fn mock_answers(a: &MockArgs) -> Result<Option<Arc<MockAnswers>>> {
    let Some(path) = &a.answers else {
        return Ok(None);
    };
    let wrong = prob("wrong", a.wrong)?;
    match answers::load(path, path, wrong) {
        Ok(t) => Ok(Some(Arc::new(t))),
        Err(AnswersError::Io(e)) => bail!(UserError(format!("--answers {}: {e}", path.display()))),
        Err(AnswersError::Lines(problems)) => {
            let lines: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            bail!(UserError(format!("--answers: {}", lines.join("\n"))))
        }
    }
}

/// `llmload mock`: serves until the first SIGINT or SIGTERM.
pub async fn cmd(a: MockArgs) -> Result<Exit> {
    let ttft =
        units::parse_duration(&a.ttft).map_err(|e| anyhow!(UserError(format!("--ttft: {e}"))))?;
    let itl_ms = match (&a.itl, a.tokens_per_s) {
        (Some(s), _) => {
            units::parse_duration(s)
                .map_err(|e| anyhow!(UserError(format!("--itl: {e}"))))?
                .as_secs_f64()
                * 1e3
        }
        (None, Some(tps)) if tps > 0.0 => 1e3 * a.tokens_per_chunk.max(1) as f64 / tps,
        (None, Some(_)) => bail!(UserError("--tokens-per-s must be greater than 0".into())),
        (None, None) => 10.0,
    };
    let retry_after_s = match &a.retry_after {
        Some(s) => Some(
            units::parse_duration(s)
                .map_err(|e| anyhow!(UserError(format!("--retry-after: {e}"))))?
                .as_secs()
                .max(1) as u32,
        ),
        None => None,
    };
    let mut model = MockModel {
        ttft_ms: match &a.ttft_stddev {
            None => Dist::fixed(ttft.as_secs_f64() * 1e3),
            Some(sd) => Dist::Normal {
                mean: ttft.as_secs_f64() * 1e3,
                stddev: units::parse_duration(sd)
                    .map_err(|e| anyhow!(UserError(format!("--ttft-stddev: {e}"))))?
                    .as_secs_f64()
                    * 1e3,
                min: Some(0.0),
                max: None,
            },
        },
        ttft_steps: a
            .ttft_step
            .iter()
            .map(|s| {
                crate::config::mock::TtftStep::parse(s)
                    .map_err(|e| anyhow!(UserError(format!("--ttft-step {s}: {e}"))))
            })
            .collect::<Result<_>>()?,
        itl_ms: Dist::fixed(itl_ms),
        output_tokens: a.output_tokens.map(|n| Dist::fixed(n as f64)),
        tokens_per_chunk: a.tokens_per_chunk.max(1),
        reasoning_tokens: a.reasoning_tokens,
        embedding_dim: a.embedding_dim,
        tool_call_share: 1.0,
        max_concurrency: a.max_concurrency,
        rate_limit: (a.rate_limit_rpm.is_some() || a.rate_limit_tpm.is_some()).then_some(
            crate::config::mock::RateLimit {
                requests_per_minute: a.rate_limit_rpm,
                tokens_per_minute: a.rate_limit_tpm,
            },
        ),
        faults: Faults {
            rate_limit: prob("fault-rate-limit", a.fault_rate_limit)?,
            retry_after_s,
            server_error: prob("fault-server-error", a.fault_server_error)?,
            stall: prob("fault-stall", a.fault_stall)?,
            disconnect: prob("fault-disconnect", a.fault_disconnect)?,
            malformed: prob("fault-malformed", a.fault_malformed)?,
            error_event: prob("fault-error-event", a.fault_error_event)?,
            ..Faults::default()
        },
        prompt_tokens: Default::default(),
        answers: mock_answers(&a)?,
    };
    for spec in &a.fault {
        model
            .faults
            .apply_spec(spec)
            .map_err(|e| anyhow!(UserError(format!("--fault {spec}: {e}"))))?;
    }
    let cfg = MockConfig {
        seed: a.seed,
        default_model: model,
        models: Default::default(),
        truth_log: a.truth_log.clone(),
    };
    cfg.validate()
        .map_err(|e| anyhow!(UserError(format!("mock settings: {e}"))))?;
    let listener = tokio::net::TcpListener::bind((a.host.as_str(), a.port))
        .await
        .with_context(|| format!("binding {}:{}", a.host, a.port))?;
    let tls = mock_tls(&a)?;
    let server = MockServer::start_with(listener, cfg, tls)
        .await
        .context("starting the mock server")?;
    outln!("llmload mock listening on {}", server.base_url());
    let (tx, mut rx) = watch::channel(Stop::Running);
    crate::cli::signals::spawn_handler(Arc::new(tx));
    let _ = rx.wait_for(|s| *s >= Stop::NoNewArrivals).await;
    server.shutdown().await;
    Ok(Exit::Ok)
}
