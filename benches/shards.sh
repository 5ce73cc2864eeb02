#!/usr/bin/env bash
# Sharded run versus one process: N `llmload run --shard i/N --start-at T` processes and then one
# whole-run process drive the same standalone `llmload mock` with the same scenario and seed;
# the shards are merged with `llmload merge` and checked with `llmload check`, and the two
# results are printed side by side. Traffic stays on 127.0.0.1. Needs python3.
#
#   benches/shards.sh                  # 4 shards, 200 req/s Poisson for 30 s
#   SHARDS=8 RATE=400 DURATION=20s benches/shards.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benches/lib.sh
. benches/lib.sh

cargo build --release --quiet
BIN="$PWD/target/release/llmload"
OUT="${OUT:-$PWD/target/shards}"
SHARDS="${SHARDS:-4}"
RATE="${RATE:-200}"
DURATION="${DURATION:-30s}"
rm -rf "$OUT" && mkdir -p "$OUT"

MOCK_PID=""
cleanup() { [ -n "$MOCK_PID" ] && kill "$MOCK_PID" 2>/dev/null || true; }
trap cleanup EXIT
"$BIN" mock --port 0 --ttft 100ms --ttft-stddev 25ms --itl 5ms > "$OUT/mock.out" 2>&1 &
MOCK_PID=$!
URL=$(mock_url "$OUT/mock.out")

cat > "$OUT/scenario.toml" <<EOF
name = "shards-vs-one"
description = "Two priced models on one standalone mock; the same load run as $SHARDS shards and as one process"
seed = 2026

[[targets]]
name = "sim"
base_url = "$URL"
timeouts = { connect = "5s", first_token = "10s", idle = "5s", total = "30s" }

[[models]]
id = "deepseek-ai/DeepSeek-V4-Flash"
label = "DeepSeek V4 Flash"
target = "sim"
weight = 3
price = { input_per_m = 0.27, output_per_m = 1.10 }

[[models]]
id = "openai/gpt-4o"
label = "GPT-4o"
target = "sim"
weight = 1
price = { input_per_m = 2.50, output_per_m = 10.00 }

[workload]
prompts = [
  "Summarize this support ticket in two sentences.",
  "Classify the sentiment of this review as positive, negative or neutral.",
  "Write a short, polite reply to a customer asking when their order will ship.",
]
max_tokens = { dist = "uniform", min = 8, max = 24 }

[load]
arrival = "poisson"
rate = "$RATE/s"
warmup = "2s"
duration = "$DURATION"
cooldown = "1s"
max_in_flight = 2048

[slo]
ttft = "200ms"
EOF

cat > "$OUT/claims.toml" <<'EOF'
[[claims]]
expr = "ttft.p50 <= 150ms"
name = "median TTFT within the server's 100 ms ± 25 ms plus overhead"
EOF

START=$(python3 -c 'import datetime as d; print((d.datetime.now(d.timezone.utc)+d.timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%SZ"))')
PIDS=()
for i in $(seq 0 $((SHARDS - 1))); do
  "$BIN" run "$OUT/scenario.toml" --shard "$i/$SHARDS" --start-at "$START" --threads 1 --quiet \
    --output "$OUT/shard-$i.json" > "$OUT/shard-$i.out" 2>&1 &
  PIDS+=($!)
done
for p in "${PIDS[@]}"; do wait "$p" || true; done
set +e
"$BIN" merge "$OUT"/shard-*.json --output "$OUT/merged.json" --no-summary
echo "merge exit code: $?"
"$BIN" check "$OUT/merged.json" --claims "$OUT/claims.toml" > "$OUT/check.out" 2>&1
echo "check exit code: $?"; cat "$OUT/check.out"
"$BIN" run "$OUT/scenario.toml" --threads 1 --quiet --output "$OUT/single.json" > "$OUT/single.out" 2>&1
echo "single-process exit code: $?"
set -e

python3 - "$OUT" "$SHARDS" <<'PY'
import json, sys, os
out, n = sys.argv[1], int(sys.argv[2])
m = json.load(open(os.path.join(out, "merged.json")))
s = json.load(open(os.path.join(out, "single.json")))
def g(r, path):
    for k in path.split("."):
        r = r[k] if isinstance(r, dict) else r[int(k)]
    return r
rows = [
    ("arrivals in window", "load.arrivals_in_window"),
    ("sent (all phases)", "load.sent_all_phases"),
    ("ok", "overall.requests.ok"),
    ("failed", "overall.requests.failed"),
    ("input tokens", "overall.tokens.input"),
    ("output tokens", "overall.tokens.output"),
    ("V4 Flash requests", "models.0.requests.issued"),
    ("GPT-4o requests", "models.1.requests.issued"),
    ("cost USD (measured)", "overall.cost.total_usd"),
    ("achieved send rate /s", "load.achieved_send_rate_per_s"),
    ("TTFT p50 ms", "overall.latency_ms.ttft.p50"),
    ("TTFT p90 ms", "overall.latency_ms.ttft.p90"),
    ("TTFT p99 ms", "overall.latency_ms.ttft.p99"),
    ("TTFT count", "overall.latency_ms.ttft.count"),
    ("ITL p50 ms", "overall.latency_ms.itl.p50"),
    ("E2E p99 ms", "overall.latency_ms.e2e.p99"),
    ("output tok/s", "overall.throughput.output_tokens_per_s"),
    ("SLO attainment", "overall.slo.attainment"),
    ("schedule lag p99 ms", "load.schedule_lag_ms.p99"),
    ("generator CPU cores (mean)", "generator.cpu_cores_used_mean"),
    ("valid", "validity.valid"),
]
print(f"\n| figure | {n} shards, merged | one process |")
print("|---|---|---|")
for name, path in rows:
    a, b = g(m, path), g(s, path)
    f = lambda v: f"{v:.4f}" if isinstance(v, float) else str(v)
    print(f"| {name} | {f(a)} | {f(b)} |")
print()
for e in m.get("merged_from", []):
    c = e["clock"]
    print(f"shard {e['index']}: {e['host']['hostname']}, arrivals {e['arrivals_in_window']}, ready {e['ready_before_start_s']:.2f} s before start, clock synchronized={c.get('synchronized')} est_error={c.get('est_error_ms')} ms, valid={e['valid']}")
for r in m["validity"]["reasons"]:
    print("merged invalid:", r)
PY
