//! Hot paths of a run, measured with criterion: SSE framing + chunk decoding (per streamed
//! event), histogram recording and merging, schedule generation, record serialisation,
//! result writing and reading the quota headers of a response. Figures are kept in
//! docs/performance.md with the machine they came from.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use llmload::config::plan::{Plan, Slo};
use llmload::config::scenario::Source;
use llmload::config::schedule::{ArrivalProcess, OpenLoop, RateProfile};
use llmload::core::record::{Outcome, Phase, RequestRecord, TokenSource};
use llmload::engine::client::{sse::SseParser, wire};
use llmload::metrics::{Collector, Hist, Window};
use llmload::results::{self, RunMeta, RunStatus, Shard};

const CHUNK: &[u8] = b"data: {\"id\":\"chatcmpl-kmksw6HcSJfMWEcm98x5wUNRApL7O0Bp\",\"object\":\"chat.completion.chunk\",\"created\":1795778857,\"model\":\"smollm2\",\"system_fingerprint\":\"b0-unknown\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" welcome\"},\"finish_reason\":null}]}\n\n";

fn sse(c: &mut Criterion) {
    let mut g = c.benchmark_group("sse");
    g.throughput(Throughput::Elements(1));
    g.bench_function("frame_and_decode_chat_chunk", |b| {
        let mut parser = SseParser::new(1 << 20);
        let mut text = String::with_capacity(1 << 16);
        b.iter(|| {
            let mut n = 0usize;
            parser
                .feed(black_box(CHUNK), |ev| {
                    if let Ok(wire::StreamEvent::Delta(d)) =
                        wire::decode_stream_event(ev.data, false, &mut text)
                    {
                        n += d.answer_bytes;
                    }
                })
                .expect("event within the cap");
            if text.len() > 1 << 15 {
                text.clear();
            }
            black_box(n)
        })
    });
    // One read holding 16 events, as a fast server's socket read often does.
    let many: Vec<u8> = CHUNK.repeat(16);
    g.throughput(Throughput::Elements(16));
    g.bench_function("frame_and_decode_16_events_one_read", |b| {
        let mut parser = SseParser::new(1 << 20);
        let mut text = String::with_capacity(1 << 16);
        b.iter(|| {
            let mut n = 0usize;
            parser
                .feed(black_box(&many), |ev| {
                    if let Ok(wire::StreamEvent::Delta(d)) =
                        wire::decode_stream_event(ev.data, false, &mut text)
                    {
                        n += d.answer_bytes;
                    }
                })
                .expect("events within the cap");
            text.clear();
            black_box(n)
        })
    });
    g.finish();
}

fn hist(c: &mut Criterion) {
    let mut g = c.benchmark_group("histogram");
    g.throughput(Throughput::Elements(1));
    g.bench_function("record", |b| {
        let mut h = Hist::default();
        let mut v = 1u64;
        b.iter(|| {
            v = v
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            h.record(black_box(v % 5_000_000));
        })
    });
    let mut a = Hist::default();
    for i in 0..100_000u64 {
        a.record((i * 7919) % 3_000_000 + 1);
    }
    g.bench_function("merge_full", |b| {
        b.iter_batched(
            Hist::default,
            |mut x| x.merge(black_box(&a)).map(|_| x),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("encode_v2_deflate_base64", |b| {
        b.iter(|| black_box(a.encode()))
    });
    g.finish();
}

fn schedule(c: &mut Criterion) {
    let mut g = c.benchmark_group("schedule");
    g.throughput(Throughput::Elements(10_000));
    for (name, arrival) in [
        ("poisson_10k", ArrivalProcess::Poisson),
        ("gamma_10k", ArrivalProcess::Gamma { burstiness: 0.5 }),
    ] {
        let ol = OpenLoop {
            arrival,
            profile: RateProfile::constant(5000.0, None).expect("valid"),
            seed: 1,
            max_arrivals: Some(10_000),
        };
        g.bench_function(name, |b| {
            b.iter(|| black_box(ol.offsets().fold(Duration::ZERO, |_, x| x)))
        });
    }
    g.finish();
}

fn sample_record(i: u64) -> RequestRecord {
    let mut r = RequestRecord::unsent(
        i,
        "deepseek-ai/DeepSeek-V4-Flash".into(),
        Phase::Measure,
        Outcome::Ok,
        i * 200,
        i * 200 + 30,
    );
    r.status = Some(200);
    r.t_send_us = Some(i * 200 + 40);
    r.t_headers_us = Some(i * 200 + 900);
    r.t_first_us = Some(i * 200 + 5_100);
    r.t_first_answer_us = r.t_first_us;
    r.t_last_us = Some(i * 200 + 20_100);
    r.t_end_us = i * 200 + 20_300;
    r.output_tokens = Some(16);
    r.output_tokens_source = Some(TokenSource::Usage);
    r.input_tokens = Some(24);
    r.input_tokens_source = Some(TokenSource::Usage);
    r.output_events = 16;
    r.first_event_bytes = 5;
    r.gaps = vec![(1_000, 5); 15];
    r.response_id = Some(format!("chatcmpl-mock-0-{i}"));
    r.finish_reason = Some("length".into());
    r
}

fn records(c: &mut Criterion) {
    let mut g = c.benchmark_group("record");
    g.throughput(Throughput::Elements(1));
    let r = sample_record(12345);
    // What the run writes: the hand-written JSONL writer.
    g.bench_function("serialize_jsonl_line", |b| {
        let mut buf = Vec::with_capacity(1024);
        b.iter(|| {
            buf.clear();
            black_box(&r).write_jsonl(&mut buf);
            black_box(buf.len())
        })
    });
    // The same line through serde_json (byte-identical), for comparison.
    g.bench_function("serialize_jsonl_line_serde", |b| {
        let mut buf = Vec::with_capacity(1024);
        b.iter(|| {
            buf.clear();
            serde_json::to_writer(&mut buf, black_box(&r)).expect("serialisable");
            buf.push(b'\n');
            black_box(buf.len())
        })
    });
    g.bench_function("collect_16_token_request", |b| {
        let mut col = Collector::new(
            1,
            Window {
                start_us: 0,
                end_us: None,
            },
            vec![Slo::default()],
            60_000_000,
        );
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            col.add(0, black_box(&sample_record(i % 1_000_000)));
        })
    });
    // What `--metrics-addr` adds to the collector for the same record (the request path does
    // nothing for it); the record's construction is in both figures.
    g.bench_function("live_meters_16_token_request", |b| {
        let meters = llmload::metrics::meters::Meters::default();
        let mut run = meters.for_models(&[("m".into(), "t".into())]);
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            run.add(0, black_box(&sample_record(i % 1_000_000)));
        })
    });
    g.bench_function("build_16_token_record", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            black_box(sample_record(i % 1_000_000))
        })
    });
    g.finish();
}

fn result_write(c: &mut Criterion) {
    let text = r#"
name = "bench"
[[targets]]
name = "sim"
base_url = "mock"
[[models]]
id = "deepseek-ai/DeepSeek-V4-Flash"
target = "sim"
price = { input_per_m = 0.27, output_per_m = 1.10 }
[workload]
prompts = ["hello"]
[load]
rate = "5000/s"
duration = "60s"
"#;
    let src = Source {
        path: "bench.toml".into(),
        text: text.into(),
    };
    let plan = Plan::build(&src, src.parse().expect("valid scenario")).expect("valid plan");
    let mut col = Collector::new(
        1,
        Window {
            start_us: 0,
            end_us: Some(60_000_000),
        },
        vec![Slo::default()],
        60_000_000,
    );
    for i in 0..100_000 {
        col.add(0, &sample_record(i));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("r.json");
    c.bench_function("result/build_and_write_100k_requests", |b| {
        b.iter(|| {
            let meta = RunMeta {
                run_id: "bench".into(),
                status: RunStatus::Complete,
                started_at: String::new(),
                finished_at: String::new(),
                records_file: None,
                shard: Shard { index: 0, count: 1 },
                max_lag_p99_ms: 10.0,
                min_send_ratio: 0.99,
                warnings: Vec::new(),
                health: Default::default(),
                worker_threads: 1,
                cpu_excludes_mock: false,
                aborted_by: None,
                guard: Default::default(),
            };
            let r = results::build(&plan, &col, meta);
            r.write(&path).expect("write");
        })
    });
}

/// Reading the quota headers on every response (`core::quota::read`, as both clients call it):
/// a typical response head without them (the cost every run pays) and OpenAI's with them.
fn quota(c: &mut Criterion) {
    use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
    let mut g = c.benchmark_group("quota");
    g.throughput(Throughput::Elements(1));
    let plain = [
        ("date", "Sat, 05 Dec 2026 18:00:00 GMT"),
        ("content-type", "text/event-stream; charset=utf-8"),
        ("transfer-encoding", "chunked"),
        ("connection", "keep-alive"),
        ("cache-control", "no-cache"),
        ("x-request-id", "req_5b3c1c7e2f0a4d9b8e6f1a2b3c4d5e6f"),
        ("server", "uvicorn"),
        ("access-control-allow-origin", "*"),
    ];
    let quota = [
        ("x-ratelimit-limit-requests", "10000"),
        ("x-ratelimit-limit-tokens", "2000000"),
        ("x-ratelimit-remaining-requests", "9999"),
        ("x-ratelimit-remaining-tokens", "1999812"),
        ("x-ratelimit-reset-requests", "6ms"),
        ("x-ratelimit-reset-tokens", "5ms"),
    ];
    let map = |hs: &[(&'static str, &'static str)]| {
        let mut m = HeaderMap::new();
        for (k, v) in hs {
            m.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        m
    };
    let without = map(&plain);
    let with = map(&[&plain[..], &quota[..]].concat());
    for (name, m) in [
        ("read_headers_absent", &without),
        ("read_headers_openai", &with),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                llmload::core::quota::read(
                    black_box(m)
                        .iter()
                        .map(|(k, v)| (k.as_str().as_bytes(), v.as_bytes())),
                )
            })
        });
    }
}

criterion_group!(benches, sse, hist, schedule, records, result_write, quota);
criterion_main!(benches);
