//! The Prometheus text exposition format, as far as the server scrape needs it: each sample
//! line's metric name, labels and value. Comments (`# HELP`, `# TYPE`, `# EOF`) and blank
//! lines are skipped; a line that is not a valid sample is skipped and counted. Histogram and
//! summary series (`_bucket`, `_sum`, `_count`) are ordinary sample lines here and are simply
//! not among the names looked up.
//!
//! Known names map to three meanings (see docs/results.md#server-metrics): requests running,
//! requests waiting, KV-cache usage. Counts are summed over a name's label sets (vLLM labels
//! by `model_name` and engine; the server's total is the sum); the KV-cache usage, a share, is
//! the highest over label sets (the fullest cache).

use std::collections::BTreeMap;

use crate::results::server::{ServerPoint, KV_CACHE_USAGE, RUNNING, WAITING};

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    /// Metric name.
    pub name: &'a str,
    /// Labels, in the order written, values unescaped.
    pub labels: Vec<(&'a str, String)>,
    /// Value.
    pub value: f64,
}

/// The known metric names by meaning, in order of preference: the first one a scrape carries
/// gives the meaning's value (vLLM renamed its KV-cache gauge; a server may expose both).
pub const KNOWN: [(&str, &[&str]); 3] = [
    (
        RUNNING,
        &[
            "vllm:num_requests_running",
            "sglang:num_running_reqs",
            "tgi_batch_current_size",
            "llamacpp:requests_processing",
        ],
    ),
    (
        WAITING,
        &[
            "vllm:num_requests_waiting",
            "sglang:num_queue_reqs",
            "tgi_queue_size",
            "llamacpp:requests_deferred",
        ],
    ),
    (
        KV_CACHE_USAGE,
        &[
            "vllm:kv_cache_usage_perc",
            "vllm:gpu_cache_usage_perc",
            "sglang:token_usage",
            "llamacpp:kv_cache_usage_ratio",
        ],
    ),
];

/// One scrape's body read into a point: the known gauges, the `extra` gauges asked for by
/// name, the metric name behind each known meaning, and the number of malformed lines.
pub fn read(body: &str, extra: &[String]) -> (ServerPoint, BTreeMap<String, String>, u64) {
    // Per metric name of interest: the sum and the highest over its label sets.
    let mut seen: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    let wanted =
        |n: &str| KNOWN.iter().any(|(_, names)| names.contains(&n)) || extra.iter().any(|e| e == n);
    let mut malformed = 0;
    for line in body.lines() {
        match sample(line) {
            Ok(Some(s)) if wanted(s.name) => {
                let e = seen.entry(s.name).or_insert((0.0, f64::NEG_INFINITY));
                e.0 += s.value;
                e.1 = e.1.max(s.value);
            }
            Ok(_) => {}
            Err(Malformed) => malformed += 1,
        }
    }
    let mut point = ServerPoint::default();
    let mut sources = BTreeMap::new();
    for (meaning, names) in KNOWN {
        let Some((name, (sum, max))) = names.iter().find_map(|n| seen.get(n).map(|v| (*n, *v)))
        else {
            continue;
        };
        let (slot, v) = match meaning {
            RUNNING => (&mut point.running, sum),
            WAITING => (&mut point.waiting, sum),
            _ => (&mut point.kv_cache_usage, max),
        };
        *slot = Some(v);
        sources.insert(meaning.to_string(), name.to_string());
    }
    for e in extra {
        if let Some((sum, _)) = seen.get(e.as_str()) {
            point.gauges.insert(e.clone(), *sum);
        }
    }
    (point, sources, malformed)
}

/// A line that is not a valid sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// One line: `Ok(None)` for a comment or blank line, `Err` for a line that is not a sample.
pub fn sample(line: &str) -> Result<Option<Sample<'_>>, Malformed> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(Malformed);
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        rest = label_set(r, &mut labels)?;
    }
    // The value, then an optional timestamp; nothing else.
    let mut fields = rest.split_ascii_whitespace();
    if !rest.starts_with([' ', '\t']) {
        return Err(Malformed);
    }
    let value = fields.next().ok_or(Malformed)?;
    let value = parse_value(value)?;
    if let Some(ts) = fields.next() {
        ts.parse::<f64>().map_err(|_| Malformed)?;
    }
    if fields.next().is_some() {
        return Err(Malformed);
    }
    Ok(Some(Sample {
        name,
        labels,
        value,
    }))
}

/// The labels after `{`, up to and including the closing `}`; returns what follows.
fn label_set<'a>(mut r: &'a str, out: &mut Vec<(&'a str, String)>) -> Result<&'a str, Malformed> {
    loop {
        r = r.trim_start();
        if let Some(after) = r.strip_prefix('}') {
            return Ok(after);
        }
        let key_end = r
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .ok_or(Malformed)?;
        let key = &r[..key_end];
        if key.is_empty() {
            return Err(Malformed);
        }
        r = r[key_end..]
            .trim_start()
            .strip_prefix('=')
            .ok_or(Malformed)?;
        r = r.trim_start().strip_prefix('"').ok_or(Malformed)?;
        let mut value = String::new();
        let mut chars = r.char_indices();
        let end = loop {
            match chars.next().ok_or(Malformed)? {
                (k, '"') => break k,
                (_, '\\') => match chars.next().ok_or(Malformed)?.1 {
                    'n' => value.push('\n'),
                    c @ ('\\' | '"') => value.push(c),
                    _ => return Err(Malformed),
                },
                (_, c) => value.push(c),
            }
        };
        out.push((key, value));
        r = r[end + 1..].trim_start();
        if let Some(after) = r.strip_prefix(',') {
            r = after;
        } else if !r.starts_with('}') {
            return Err(Malformed);
        }
    }
}

/// A sample value: a float, or `NaN`, `+Inf`, `-Inf` (as Go's strconv writes them).
fn parse_value(s: &str) -> Result<f64, Malformed> {
    match s {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ if s
            .chars()
            .any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E') =>
        {
            Err(Malformed)
        }
        _ => s.parse().map_err(|_| Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What llama-server (b7xxx, `--metrics`) answers, as scraped from one: no labels, HELP and
    /// TYPE lines before each.
    const LLAMA_SERVER: &str = "\
# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed, excluding cached tokens
# TYPE llamacpp:prompt_tokens_total counter
llamacpp:prompt_tokens_total 1520
# HELP llamacpp:predicted_tokens_seconds Average generation throughput in tokens/s
# TYPE llamacpp:predicted_tokens_seconds gauge
llamacpp:predicted_tokens_seconds 41.2
# HELP llamacpp:requests_processing Number of requests processing
# TYPE llamacpp:requests_processing gauge
llamacpp:requests_processing 4
# HELP llamacpp:requests_deferred Number of requests deferred
# TYPE llamacpp:requests_deferred gauge
llamacpp:requests_deferred 2
# HELP llamacpp:n_busy_slots_per_decode Average number of busy slots per llama_decode() call
# TYPE llamacpp:n_busy_slots_per_decode gauge
llamacpp:n_busy_slots_per_decode 3.5
";

    /// vLLM's shape: labels per model and engine, a histogram, both KV-cache names.
    const VLLM: &str = r#"# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 3.0
vllm:num_requests_running{engine="1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 5.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 7.0
vllm:num_requests_waiting{engine="1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.0
# TYPE vllm:gpu_cache_usage_perc gauge
vllm:gpu_cache_usage_perc{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.25
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.5
vllm:kv_cache_usage_perc{engine="1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.75
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{le="0.001",model_name="m"} 0.0
vllm:time_to_first_token_seconds_bucket{le="+Inf",model_name="m"} 12.0
vllm:time_to_first_token_seconds_sum{model_name="m"} 3.2
vllm:time_to_first_token_seconds_count{model_name="m"} 12.0
my_queue_depth{shard="a, \"b\"}"} 9 1733400000000
my_queue_depth{shard="c"} 1
"#;

    #[test]
    fn llama_server_text_gives_processing_and_deferred() {
        let (p, sources, bad) = read(LLAMA_SERVER, &[]);
        assert_eq!(bad, 0);
        assert_eq!(p.running, Some(4.0));
        assert_eq!(p.waiting, Some(2.0));
        assert_eq!(p.kv_cache_usage, None);
        assert!(p.gauges.is_empty());
        assert_eq!(sources[RUNNING], "llamacpp:requests_processing");
        assert_eq!(sources[WAITING], "llamacpp:requests_deferred");
    }

    #[test]
    fn vllm_text_sums_counts_over_label_sets_and_prefers_the_new_cache_name() {
        let extra = vec!["my_queue_depth".to_string(), "absent_gauge".to_string()];
        let (p, sources, bad) = read(VLLM, &extra);
        assert_eq!(bad, 0);
        assert_eq!(p.running, Some(8.0));
        assert_eq!(p.waiting, Some(7.0));
        // A share is not summed: the fullest engine's.
        assert_eq!(p.kv_cache_usage, Some(0.75));
        assert_eq!(sources[KV_CACHE_USAGE], "vllm:kv_cache_usage_perc");
        assert_eq!(p.gauges.len(), 1);
        assert_eq!(p.gauges["my_queue_depth"], 10.0);
    }

    #[test]
    fn sglang_and_tgi_names_are_known() {
        let (p, s, _) = read(
            "sglang:num_running_reqs{model_name=\"q\"} 2\nsglang:num_queue_reqs{model_name=\"q\"} 1\nsglang:token_usage{model_name=\"q\"} 0.4\n",
            &[],
        );
        assert_eq!(
            (p.running, p.waiting, p.kv_cache_usage),
            (Some(2.0), Some(1.0), Some(0.4))
        );
        assert_eq!(s[RUNNING], "sglang:num_running_reqs");
        let (p, _, _) = read("tgi_queue_size 5\ntgi_batch_current_size 3\n", &[]);
        assert_eq!((p.running, p.waiting), (Some(3.0), Some(5.0)));
    }

    #[test]
    fn labels_keep_escapes_and_values_take_special_forms() {
        let s = sample(r#"a_b:c{x="1\"2\\3\n",y = "z" ,} -Inf 17"#)
            .expect("valid")
            .expect("a sample");
        assert_eq!(s.name, "a_b:c");
        assert_eq!(
            s.labels,
            [("x", "1\"2\\3\n".to_string()), ("y", "z".to_string())]
        );
        assert_eq!(s.value, f64::NEG_INFINITY);
        assert!(sample("m NaN")
            .expect("valid")
            .expect("a sample")
            .value
            .is_nan());
        assert_eq!(
            sample("m 1e3").expect("valid").expect("a sample").value,
            1000.0
        );
        assert_eq!(sample("# EOF"), Ok(None));
        assert_eq!(sample("   "), Ok(None));
    }

    #[test]
    fn malformed_lines_are_counted_and_never_panic() {
        let bad = [
            "m",
            "m{",
            "m{x=\"1\"",
            "m{x=1} 2",
            "m{x=\"1\" y=\"2\"} 3",
            "m{=\"1\"} 3",
            "m{x=\"\\q\"} 3",
            "m 1 2 3",
            "m abc",
            "m 0x10",
            "1m 2",
            "{x=\"1\"} 2",
            "m{x=\"é\"}2",
            "m 1 notatime",
            "m\u{0}1",
            "ééé 1",
        ];
        for line in bad {
            assert_eq!(sample(line), Err(Malformed), "{line:?}");
        }
        let body = format!(
            "{}\nllamacpp:requests_processing 1\n{}",
            bad.join("\n"),
            "llamacpp:requests_processing{"
        );
        let (p, _, n) = read(&body, &[]);
        assert_eq!(n, bad.len() as u64 + 1);
        assert_eq!(p.running, Some(1.0));
        // Arbitrary bytes cut at every position: never a panic.
        for k in 0..VLLM.len() {
            if VLLM.is_char_boundary(k) {
                let _ = read(&VLLM[..k], &[]);
                let _ = read(&VLLM[k..], &[]);
            }
        }
    }
}
