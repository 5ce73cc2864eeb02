#!/usr/bin/env bash
# Capacity benchmark: how far llmload can drive an endpoint before it, not the endpoint, is
# the bottleneck. Builds the release binary, runs `llmload mock` pinned to one core (with a
# per-request ground-truth log) and llmload pinned to the other, and prints every figure of
# performance table in docs/performance.md. Traffic stays on 127.0.0.1. Needs: taskset (util-linux), python3.
#
#   benches/capacity.sh            # the full set (about 6 minutes)
#   QUICK=1 benches/capacity.sh    # shorter runs, for a smoke check
#   FULL=1 benches/capacity.sh     # adds the 1M-request memory run (about 4 more minutes)
#   BIN=/tmp/other-llmload NO_CRITERION=1 benches/capacity.sh   # another build, no criterion step
#   CLIENT=reqwest benches/capacity.sh   # the scenarios name this HTTP client (default: auto)
#   SCHEME=https benches/capacity.sh     # the mock serves https (self-signed, trusted by the
#                                        # scenarios through tls.ca_bundle); benches/tls.sh
#                                        # compares https and http side by side
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benches/lib.sh
. benches/lib.sh

if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN="$PWD/target/release/llmload"
fi
CLIENT_LINE=""
[ -n "${CLIENT:-}" ] && CLIENT_LINE="client = \"$CLIENT\""
OUT="${OUT:-$PWD/target/capacity}"
rm -rf "$OUT" && mkdir -p "$OUT"
SCHEME="${SCHEME:-http}"
TLS_FLAGS=()
if [ "$SCHEME" = https ]; then
  TLS_FLAGS=(--tls-self-signed "$OUT/ca.pem")
  CLIENT_LINE="$CLIENT_LINE
tls = { ca_bundle = \"$OUT/ca.pem\" }"
fi
QUICK="${QUICK:-}"
LONG=60s; MID=20s
if [ -n "$QUICK" ]; then LONG=10s; MID=5s; fi
GEN_CORE="${GEN_CORE:-0}"
MOCK_CORE="${MOCK_CORE:-1}"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

MOCK_PID=""
cleanup() { [ -n "$MOCK_PID" ] && kill "$MOCK_PID" 2>/dev/null || true; }
trap cleanup EXIT

# start_mock NAME TTFT ITL TOKENS
start_mock() {
  cleanup
  taskset -c "$MOCK_CORE" "$BIN" mock --port 0 --ttft "$2" --itl "$3" --output-tokens "$4" \
    --truth-log "$OUT/$1.truth.jsonl" "${TLS_FLAGS[@]}" > "$OUT/$1.mock.out" 2>&1 &
  MOCK_PID=$!
  URL=$(mock_url "$OUT/$1.mock.out")
}

# scenario NAME LOAD-LINES [TIMEOUTS]
scenario() {
  cat > "$OUT/$1.toml" <<TOML
name = "$1"
seed = 1
[[targets]]
name = "mock"
base_url = "$URL"
$CLIENT_LINE
timeouts = { connect = "10s", first_token = "300s", idle = "300s", total = "600s" }
[[models]]
id = "sim"
target = "mock"
[workload]
prompts = ["Hello, how fast can you stream?"]
max_tokens = 16
[load]
$2
TOML
}

# run NAME: runs llmload pinned, records peak RSS (kB) and wall start time.
run() {
  local start_ns
  start_ns=$(date +%s%N)
  echo "$start_ns" > "$OUT/$1.start_ns"
  taskset -c "$GEN_CORE" "$BIN" run "$OUT/$1.toml" --output "$OUT/$1.json" --quiet --threads 1 \
    > "$OUT/$1.stdout" 2> "$OUT/$1.stderr" &
  local pid=$! hwm=0
  while kill -0 "$pid" 2>/dev/null; do
    v=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    [ -n "$v" ] && [ "$v" -gt "$hwm" ] && hwm=$v
    sleep 0.2
  done
  wait "$pid" || true
  echo "$hwm" > "$OUT/$1.rss_kb"
}

echo "== criterion: SSE framing + decode per event"
[ -n "${NO_CRITERION:-}" ] || cargo bench --quiet --bench hot_paths -- --warm-up-time 1 --measurement-time 3 sse/ 2>/dev/null \
  | grep -E "^sse|time:" | tee "$OUT/criterion-sse.txt" || true

echo "== closed loop, 32 streams, 16 tokens (TTFT 5 ms, 1 ms between tokens)"
start_mock c32 5ms 1ms 16
scenario c32 "concurrency = 32
warmup = \"2s\"
duration = \"$MID\""
run c32

echo "== closed loop, 1 stream (TTFT error at concurrency 1)"
start_mock c1 5ms 1ms 16
scenario c1 "concurrency = 1
warmup = \"1s\"
duration = \"$MID\""
run c1

echo "== 32 concurrent 100 ms-TTFT streams"
start_mock t32 100ms 1ms 16
scenario t32 "concurrency = 32
warmup = \"2s\"
duration = \"$MID\""
run t32

echo "== open loop, 5000 req/s offered (TTFT 5 ms, 1 ms between tokens, 16 tokens)"
start_mock o5k 5ms 1ms 16
scenario o5k "rate = \"5000/s\"
arrival = \"poisson\"
max_in_flight = 4096
warmup = \"2s\"
duration = \"$LONG\""
run o5k

echo "== 1000 open, quiet streams (TTFT 10 min): CPU while waiting"
start_mock quiet 600s 1ms 16
scenario quiet "concurrency = 1000
warmup = \"3s\"
duration = \"10s\"
drain_timeout = \"1s\""
run quiet

echo "== 10,000 concurrent long streams (1 token per 100 ms)"
start_mock c10k 1s 100ms 100000
scenario c10k "concurrency = 10000
warmup = \"5s\"
duration = \"$LONG\"
drain_timeout = \"1s\""
sed -i 's/max_tokens = 16/max_tokens = 100000/' "$OUT/c10k.toml"
run c10k

echo "== memory against run length: 10k requests"
start_mock m10k 1ms 1ms 16
scenario m10k "rate = \"2000/s\"
arrival = \"constant\"
requests = 10000"
run m10k
if [ -n "${FULL:-}" ]; then
  echo "== memory against run length: 1M requests"
  scenario m1m "rate = \"5000/s\"
arrival = \"constant\"
requests = 1000000"
  run m1m
fi
cleanup

python3 - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
def load(n):
    p = os.path.join(out, n + ".json")
    return json.load(open(p)) if os.path.exists(p) else None
def truth_err(n):
    truth = {}
    p = os.path.join(out, n + ".truth.jsonl")
    if not os.path.exists(p): return None
    for l in open(p):
        t = json.loads(l); truth[t["id"]] = t
    errs = []
    for l in open(os.path.join(out, n + ".json").replace(".json", ".records.jsonl")):
        r = json.loads(l); t = truth.get(r.get("response_id"))
        if t and r["outcome"] == "ok" and r["phase"] == "measure":
            errs.append((r["t_first_us"] - r["t_send_us"]) / 1e3 - (t["first_token_unix_us"] - t["received_unix_us"]) / 1e3)
    if not errs: return None
    errs.sort(); k = len(errs)
    return {"n": k, "mean": sum(errs) / k, "p50": errs[k // 2], "p99": errs[min(k - 1, int(0.99 * k))]}
def rss(n):
    p = os.path.join(out, n + ".rss_kb")
    return int(open(p).read()) / 1024 if os.path.exists(p) else None
rows = []
sse = open(os.path.join(out, "criterion-sse.txt")).read() if os.path.exists(os.path.join(out, "criterion-sse.txt")) else ""
rows.append(("SSE parse + delta extraction (criterion)", " ".join(sse.split())[:160] or "see cargo bench --bench hot_paths"))
c32 = load("c32")
if c32:
    g = c32["generator"]; rps = c32["overall"]["throughput"]["requests_per_s"]
    us = g["cpu_cores_used_mean"] / rps * 1e6 if rps else float("nan")
    rows.append(("CPU per 16-token streamed request (closed loop 32)", f"{us:.0f} µs ({g['cpu_cores_used_mean']:.2f} cores at {rps:.0f} req/s)"))
    rows.append(("CPU per streamed token", f"{us/16:.1f} µs"))
q = load("quiet")
if q:
    rows.append(("CPU while 1000 streams are open but quiet", f"{q['generator']['cpu_cores_used_mean']*100:.2f} % of a core"))
o = load("o5k")
if o:
    ld = o["load"]; ratio = ld["sent_in_window"] / max(1, ld["arrivals_in_window"])
    rows.append(("open loop 5000 req/s offered", f"achieved {ld['achieved_send_rate_per_s']:.0f}/s ({ratio*100:.2f} %), schedule lag p99 {ld['schedule_lag_ms']['p99']:.2f} ms, valid={o['validity']['valid']} {o['validity']['reasons']}"))
for name, label, stat in [("c1", "TTFT error vs mock truth, concurrency 1", "mean"), ("t32", "TTFT error vs truth, 32 × 100 ms-TTFT streams", "p99"), ("o5k", "TTFT error vs truth at 5000 req/s", "p99")]:
    e = truth_err(name)
    if e: rows.append((label, f"{stat} {e[stat]:.3f} ms (mean {e['mean']:.3f}, p50 {e['p50']:.3f}, p99 {e['p99']:.3f}, n={e['n']})"))
c10k = load("c10k")
if c10k:
    errs = c10k["overall"]["requests"]["errors"]
    rows.append(("10,000 concurrent streams", f"peak RSS {rss('c10k'):.0f} MB; in flight max {max(p['in_flight_max'] for p in c10k['timeseries'])}; errors {errs}; valid={c10k['validity']['valid']}"))
m10 = rss("m10k"); m1m = rss("m1m")
rows.append(("peak RSS, 10k-request run", f"{m10:.0f} MB" if m10 else "-"))
if m1m: rows.append(("peak RSS, 1M-request run", f"{m1m:.0f} MB ({(m1m/m10-1)*100:+.1f} %)"))
c1 = load("c1")
if c1:
    start_ns = int(open(os.path.join(out, "c1.start_ns")).read())
    first = min(json.loads(l)["received_unix_us"] for l in open(os.path.join(out, "c1.truth.jsonl")))
    rows.append(("start to first request received by the server", f"{(first*1000 - start_ns)/1e6:.1f} ms"))
w = max(len(r[0]) for r in rows)
print()
for k, v in rows:
    print(f"{k:<{w}}  {v}")
PY
