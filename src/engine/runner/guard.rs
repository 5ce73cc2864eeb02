//! The context-window guard and the prompt token counts it needs.
//!
//! Before a request is sent to a model with a `context_window`, its prompt (system prompt,
//! session history, the new prompt) plus `max_tokens` is checked against the window. Bytes
//! bound the token count from above (every token is at least one byte), so the tokenizer runs
//! only for prompts that might not fit. A request over the window is marked `over_context` and
//! counted ([`GuardCounts`](crate::results::guard::GuardCounts)); with
//! `context_guard = "skip"` it is not sent and its record says why.
//!
//! The token counts (each listed prompt and system prompt tokenized once, on a blocking thread)
//! also give the input tokens of requests whose server reported none.

use tokio::time::Instant;

use crate::config::plan::Model;
use crate::config::scenario::GuardKind;
use crate::config::workload::{Class, Item, Message, Prompt, PromptBody};
use crate::core::record::{Outcome, RequestRecord, TokenSource};

use super::attempt::Job;
use super::Shared;

/// Whether the request may be sent; false when the guard skipped it (its record then says
/// why). Cheap when the model has no window or the prompt surely fits.
#[inline]
pub(super) async fn admit(
    sh: &Shared,
    job: &Job<'_>,
    model_index: usize,
    class: &Class,
    rec: &mut RequestRecord,
) -> bool {
    let Some(model) = sh.plan.models.get(model_index) else {
        return true;
    };
    let Some(window) = model.context_window else {
        return true;
    };
    let bytes = prompt_bytes(class.system.as_deref(), job.history, job.prompt);
    if token_bound(bytes, job.exact, job.prompt.chars) + job.max_tokens as u64 <= window {
        return true;
    }
    check_tokens(sh, job, (model_index, model), class, rec, window, bytes).await
}

/// The tokenizer's verdict for a prompt whose byte bound did not fit: counts an excess, and
/// marks the record skipped under `context_guard = "skip"` (returning false).
async fn check_tokens(
    sh: &Shared,
    job: &Job<'_>,
    (model_index, model): (usize, &Model),
    class: &Class,
    rec: &mut RequestRecord,
    window: u64,
    bytes: usize,
) -> bool {
    let total = job_prompt_tokens(sh, job, model_index)
        .await
        .unwrap_or(bytes as u64);
    if total + job.max_tokens as u64 <= window {
        return true;
    }
    let skip = sh.plan.workload.context_guard == GuardKind::Skip;
    rec.over_context = true;
    sh.guard.lock().unwrap_or_else(|e| e.into_inner()).note(
        &model.label,
        &class.name,
        total,
        job.max_tokens,
        window,
        skip,
    );
    if skip {
        mark_skipped(
            rec,
            total,
            job.max_tokens,
            window,
            sh.clock.us(Instant::now()),
        );
        return false;
    }
    true
}

/// Bytes of a request's whole prompt: system prompt, history and the new prompt.
#[inline]
fn prompt_bytes(system: Option<&str>, history: &[Message], prompt: &Prompt) -> usize {
    system.map_or(0, |s| s.len())
        + history.iter().map(|m| m.content.len()).sum::<usize>()
        + match &prompt.body {
            PromptBody::Text(t) => t.len(),
            PromptBody::Messages(ms) => ms.iter().map(|m| m.content.len()).sum(),
        }
}

/// An upper bound on the prompt's tokens: its bytes, or, for a generated prompt of `exact`
/// tokens (of `prompt_chars` characters), those tokens plus the other parts' bytes.
#[inline]
fn token_bound(bytes: usize, exact: Option<u64>, prompt_chars: usize) -> u64 {
    exact.map_or(bytes as u64, |e| {
        e + (bytes - prompt_chars.min(bytes)) as u64
    })
}

/// A skipped request's record: not sent, with its prompt's tokens and the reason.
fn mark_skipped(rec: &mut RequestRecord, total: u64, max_tokens: u32, window: u64, now_us: u64) {
    rec.outcome = Outcome::Skipped;
    rec.input_tokens = Some(total);
    rec.input_tokens_source = Some(TokenSource::Tokenizer);
    rec.error = Some(format!(
        "prompt {total} + max_tokens {max_tokens} tokens exceed the context window of {window}"
    ));
    rec.t_end_us = now_us;
}

impl Shared {
    /// The index of model `model`'s tokenizer among the run's distinct ones.
    #[inline]
    fn tok_index(&self, model: usize) -> usize {
        self.tok_of.get(model).copied().unwrap_or(0)
    }

    /// Tokens of the class's system prompt under model `model`'s tokenizer (counted once).
    pub(super) async fn system_tokens(&self, model: usize, class: usize) -> u64 {
        let t = self.tok_index(model);
        let cell = &self.system_tokens[t][class];
        if let Some(n) = cell.get() {
            return *n;
        }
        let text = self.plan.workload.classes[class]
            .system
            .clone()
            .unwrap_or_default();
        let tok = self.tokenizers[t].clone();
        let n = tokio::task::spawn_blocking(move || tok.count(&text).unwrap_or(0))
            .await
            .unwrap_or(0);
        *cell.get_or_init(|| n)
    }

    /// Tokens of a prompt with its class's system prompt: exact for synthetic prompts, the
    /// tokenizer (once per listed prompt) otherwise.
    async fn prompt_tokens(
        &self,
        (model, class): (usize, usize),
        item: Item,
        prompt: &Prompt,
        exact: Option<u64>,
    ) -> Option<u64> {
        let sys = self.system_tokens(model, class).await;
        if let Some(n) = exact {
            return Some(n + sys);
        }
        let Item::Listed(i) = item else { return None };
        let t = self.tok_index(model);
        let cell = self.prompt_tokens.get(t)?.get(class)?.get(i)?;
        if let Some(n) = cell.get() {
            return n.map(|n| n + sys);
        }
        let text = prompt.joined_text();
        let tok = self.tokenizers[t].clone();
        let n = tokio::task::spawn_blocking(move || tok.count(&text))
            .await
            .ok()
            .flatten();
        cell.get_or_init(|| n).map(|n| n + sys)
    }
}

/// Tokens of a request's whole prompt: its class's system prompt and its own prompt; for a
/// later session turn, the previous turn's input plus output (which already hold the system
/// prompt) plus the new message; for a golden request, its line's prompt. None when a count
/// is not known.
pub(super) async fn job_prompt_tokens(sh: &Shared, job: &Job<'_>, model: usize) -> Option<u64> {
    if let Some(line) = job.golden {
        // A golden request: its line's prompt alone (no system prompt, one turn).
        return sh.golden_tokens(model, line).await;
    }
    let own = sh
        .prompt_tokens((model, job.class), job.item, job.prompt, job.exact)
        .await?;
    if job.turn == 0 {
        return Some(own);
    }
    let history = job.history_tokens?;
    Some(history + own.saturating_sub(sh.system_tokens(model, job.class).await))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{plan, shared};
    use super::*;
    use crate::config::tokens;

    /// One model with a 40-token window; class 0's prompt fits, class 1's does not.
    fn scenario(guard: &str) -> String {
        let long = "lorem ipsum dolor sit amet ".repeat(20);
        format!(
            r#"
[[targets]]
name = "sim"
base_url = "mock"

[[models]]
id = "m"
target = "sim"
context_window = 40

[workload]
max_tokens = 8
context_guard = "{guard}"

[[workload.classes]]
name = "short"
prompts = ["hello there"]

[[workload.classes]]
name = "long"
prompts = ["{long}"]

[load]
rate = "5/s"
duration = "2s"
"#
        )
    }

    fn job(prompt: &Prompt, class: usize) -> Job<'_> {
        Job {
            index: 0,
            turn: 0,
            class,
            item: Item::Listed(0),
            max_tokens: 8,
            prompt,
            exact: None,
            history: &[],
            history_tokens: Some(0),
            repeat: false,
            want_text: false,
            golden: None,
        }
    }

    async fn guard(kind: &str, class: usize) -> (bool, RequestRecord, u64, u64) {
        let sh = shared(plan(&scenario(kind)));
        let crate::config::workload::PromptSource::List(ps) =
            &sh.plan.workload.classes[class].source
        else {
            panic!("listed prompts");
        };
        let prompt = ps[0].clone();
        let mut rec = sh.record(0, 0, class, None, 0, 0);
        let c = &sh.plan.workload.classes[class];
        let sent = admit(&sh, &job(&prompt, class), 0, c, &mut rec).await;
        let g = sh.guard.lock().expect("not poisoned").clone();
        (sent, rec, g.over_window, g.skipped)
    }

    #[tokio::test]
    async fn a_prompt_that_fits_is_sent_unmarked_under_either_kind() {
        for kind in ["send", "skip"] {
            let (sent, rec, over, skipped) = guard(kind, 0).await;
            assert!(sent);
            assert!(!rec.over_context);
            assert_eq!((over, skipped), (0, 0));
        }
    }

    #[tokio::test]
    async fn send_marks_and_counts_an_oversized_request_but_sends_it() {
        let (sent, rec, over, skipped) = guard("send", 1).await;
        assert!(sent);
        assert!(rec.over_context);
        assert_eq!(
            rec.outcome,
            Outcome::Cancelled,
            "outcome left to the request"
        );
        assert_eq!((over, skipped), (1, 0));
    }

    #[tokio::test]
    async fn skip_records_an_oversized_request_as_skipped_with_its_count() {
        let (sent, rec, over, skipped) = guard("skip", 1).await;
        assert!(!sent);
        assert!(rec.over_context);
        assert_eq!(rec.outcome, Outcome::Skipped);
        let n = tokens::count(&"lorem ipsum dolor sit amet ".repeat(20)).expect("tokenizer");
        assert!(n > 40);
        assert_eq!(rec.input_tokens, Some(n));
        assert_eq!(rec.input_tokens_source, Some(TokenSource::Tokenizer));
        assert_eq!(
            rec.error.as_deref(),
            Some(
                format!("prompt {n} + max_tokens 8 tokens exceed the context window of 40")
                    .as_str()
            )
        );
        assert_eq!((over, skipped), (1, 1));
    }

    #[tokio::test]
    async fn the_guard_counts_with_the_models_own_tokenizer() {
        // A tokenizer file under which every word is one token: the 100-word prompt is 100
        // tokens (o200k_base counts it differently).
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tok.json");
        std::fs::write(
            &path,
            crate::config::tokenizer::testkit::word_level_json(&["lorem"]),
        )
        .expect("write");
        let text = scenario("skip").replace(
            "context_window = 40",
            &format!(
                "context_window = 40\ntokenizer = {:?}",
                path.display().to_string()
            ),
        );
        let sh = shared(plan(&text));
        let crate::config::workload::PromptSource::List(ps) = &sh.plan.workload.classes[1].source
        else {
            panic!("listed prompts");
        };
        let prompt = ps[0].clone();
        let mut rec = sh.record(0, 0, 1, None, 0, 0);
        let c = &sh.plan.workload.classes[1];
        assert!(!admit(&sh, &job(&prompt, 1), 0, c, &mut rec).await);
        let o200k = tokens::count(&prompt.joined_text()).expect("tokenizer");
        assert_ne!(o200k, 100);
        assert_eq!(rec.input_tokens, Some(100));
    }

    #[test]
    fn the_byte_bound_never_undercounts_tokens() {
        let system = "You are terse.";
        let history = [Message {
            role: "user".into(),
            content: "naïve café — ünïcödé 日本語".into(),
        }];
        let prompt = Prompt::text("the quick brown fox jumps over the lazy dog, twice.");
        let bytes = prompt_bytes(Some(system), &history, &prompt);
        assert_eq!(
            bytes,
            system.len()
                + history[0].content.len()
                + "the quick brown fox jumps over the lazy dog, twice.".len()
        );
        let all = format!("{system}{}{}", history[0].content, prompt.joined_text());
        let tokens = tokens::count(&all).expect("tokenizer");
        assert!(token_bound(bytes, None, prompt.chars) >= tokens);
        // A generated prompt of exactly 5 tokens: those, plus the other parts' bytes.
        assert_eq!(
            token_bound(bytes, Some(5), prompt.chars),
            5 + (system.len() + history[0].content.len()) as u64
        );
    }
}
