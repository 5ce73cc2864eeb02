#!/usr/bin/env bash
# HTTPS against plain HTTP, side by side in one run (results in docs/performance.md, "HTTPS").
# For each transport — lean client over http, lean over https, reqwest over https (and reqwest
# over http) — runs `llmload mock` pinned to one core (https with a self-signed certificate the
# client trusts through `tls.ca_bundle`, and a per-request ground-truth log) and `llmload run`
# pinned to the other, twice:
#   accuracy  32 concurrent streams, TTFT 100 ms, 1 ms between tokens, 16 tokens: TTFT error
#             against the mock's truth (measured requests; a request that opened its
#             connection is left out of the error and counted apart: its TTFT includes the
#             TCP connect and TLS handshake, which the result reports separately)
#   cpu       open loop, 300 req/s, TTFT 5 ms, 1 ms between tokens, 16 tokens: the generator's
#             CPU per request (its own meter over the measurement window)
# Traffic stays on 127.0.0.1. Needs: taskset, python3.
#
#   benches/tls.sh                    # 20 s per run (about 4 minutes)
#   DURATION=5 benches/tls.sh         # a smoke check
#   ROUNDS=3 benches/tls.sh           # the modes interleaved three times, one row per round
#   MODES="http:lean https:lean" benches/tls.sh
#   BIN=/tmp/other-llmload benches/tls.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benches/lib.sh
. benches/lib.sh

if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN="$PWD/target/release/llmload"
fi
DURATION="${DURATION:-20}"
RATE="${RATE:-300}"
ROUNDS="${ROUNDS:-1}"
MODES="${MODES:-http:lean https:lean https:reqwest http:reqwest}"
GEN_CORE="${GEN_CORE:-0}"
MOCK_CORE="${MOCK_CORE:-1}"
OUT="${OUT:-$PWD/target/tls}"
rm -rf "$OUT" && mkdir -p "$OUT"

MOCK_PID=""
cleanup() {
  if [ -n "$MOCK_PID" ]; then
    kill "$MOCK_PID" 2>/dev/null || true
    wait "$MOCK_PID" 2>/dev/null || true
    MOCK_PID=""
  fi
}
trap cleanup EXIT

# start_mock NAME SCHEME TTFT: the mock (16 tokens, 1 ms apart) with a truth log; sets URL.
start_mock() {
  cleanup
  local tls=()
  [ "$2" = https ] && tls=(--tls-self-signed "$OUT/$1.ca.pem")
  taskset -c "$MOCK_CORE" "$BIN" mock --port 0 --ttft "$3" --itl 1ms --output-tokens 16 \
    --truth-log "$OUT/$1.truth.jsonl" "${tls[@]}" > "$OUT/$1.mock.out" 2>&1 &
  MOCK_PID=$!
  URL=$(mock_url "$OUT/$1.mock.out")
  [ -n "$URL" ] || { echo "mock $1 did not start" >&2; cat "$OUT/$1.mock.out" >&2; exit 1; }
}

# run NAME SCHEME CLIENT LOAD-LINES
run() {
  local tls_line=""
  [ "$2" = https ] && tls_line="tls = { ca_bundle = \"$OUT/$1.ca.pem\" }"
  cat > "$OUT/$1.toml" <<TOML
name = "$1"
seed = 1
[[targets]]
name = "mock"
base_url = "$URL"
client = "$3"
$tls_line
timeouts = { connect = "10s", first_token = "300s", idle = "300s", total = "600s" }
[[models]]
id = "sim"
target = "mock"
[workload]
prompts = ["Hello, how fast can you stream?"]
max_tokens = 16
[load]
$4
TOML
  echo "== $1"
  taskset -c "$GEN_CORE" "$BIN" run "$OUT/$1.toml" --output "$OUT/$1.json" --quiet --threads 1 \
    > "$OUT/$1.stdout" 2> "$OUT/$1.stderr" || true
  [ -s "$OUT/$1.json" ] || { echo "$1 wrote no result:" >&2; cat "$OUT/$1.stderr" >&2; exit 1; }
}

for round in $(seq 1 "$ROUNDS"); do
for mode in $MODES; do
  scheme=${mode%%:*}
  client=${mode#*:}
  name="$scheme-$client.$round"
  start_mock "acc-$name" "$scheme" 100ms
  run "acc-$name" "$scheme" "$client" "concurrency = 32
warmup = \"2s\"
duration = \"${DURATION}s\""
  start_mock "cpu-$name" "$scheme" 5ms
  run "cpu-$name" "$scheme" "$client" "rate = \"$RATE/s\"
arrival = \"constant\"
warmup = \"2s\"
duration = \"${DURATION}s\""
done
done
cleanup

python3 - "$OUT" "$MODES" "$ROUNDS" <<'PY'
import json, os, sys
out, modes, rounds = sys.argv[1], sys.argv[2].split(), int(sys.argv[3])

def load(n):
    return json.load(open(os.path.join(out, n + ".json")))

def truth_err(n):
    truth = {}
    for l in open(os.path.join(out, n + ".truth.jsonl")):
        t = json.loads(l)
        truth[t["id"]] = t
    errs, opened = [], 0
    for l in open(os.path.join(out, n + ".records.jsonl")):
        r = json.loads(l)
        t = truth.get(r.get("response_id"))
        if not t or r["outcome"] != "ok" or r["phase"] != "measure":
            continue
        if "connect_us" in r:
            opened += 1
            continue
        errs.append((r["t_first_us"] - r["t_send_us"]) / 1e3
                    - (t["first_token_unix_us"] - t["received_unix_us"]) / 1e3)
    errs.sort()
    k = len(errs)
    if not k:
        return None, opened
    return {"n": k, "mean": sum(errs) / k, "p50": errs[k // 2],
            "p90": errs[min(k - 1, int(0.90 * k))],
            "p99": errs[min(k - 1, int(0.99 * k))]}, opened

def fmt_setup(s):
    return f"{s['p50']:.3f} / {s['p99']:.3f}" if s else "-"

rows, cpu = [], {}
for mode, r in [(m, r) for r in range(1, rounds + 1) for m in modes]:
    name = mode.replace(":", "-") + f".{r}"
    acc, c = load("acc-" + name), load("cpu-" + name)
    e, opened = truth_err("acc-" + name)
    rps = c["overall"]["throughput"]["requests_per_s"]
    us = c["generator"]["cpu_cores_used_mean"] / rps * 1e6 if rps else float("nan")
    cpu[(mode, r)] = us
    tr = (acc.get("transport") or [{}])[0]
    valid = "yes" if acc["validity"]["valid"] and c["validity"]["valid"] else "no"
    rows.append([str(r), mode, tr.get("client", "?"), tr.get("http_version", "?"), tr.get("time_source", "?"),
                 f"{e['p99']:.3f}" if e else "-", f"{e['p90']:.3f}" if e else "-",
                 f"{e['p50']:.3f}" if e else "-",
                 f"{e['mean']:.3f}" if e else "-", str(e["n"] if e else 0), str(opened),
                 str(tr.get("new_connections", "-")), fmt_setup(tr.get("connect_ms")),
                 fmt_setup(tr.get("tls_handshake_ms")), f"{rps:.0f}", f"{us:.0f}", valid])
for row in rows:
    r, mode = int(row[0]), row[1]
    base = cpu.get(("http:" + mode.split(":")[1], r))
    row.insert(-1, f"{cpu[(mode, r)] / base:.2f}×" if base else "-")
head = ["round", "transport", "client", "HTTP", "time source", "TTFT err p99 ms", "p90 ms", "p50 ms", "mean ms",
        "n", "opened conn (left out)", "new conns", "connect p50/p99 ms", "handshake p50/p99 ms",
        "req/s (cpu run)", "CPU µs/req", "CPU vs http, same client", "valid"]
print()
for r in [head, ["---"] * len(head)] + rows:
    print("| " + " | ".join(r) + " |")
PY
