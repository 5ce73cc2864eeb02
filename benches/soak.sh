#!/usr/bin/env bash
# Soak benchmark: 100,000 streamed requests through one llmload process against
# `llmload mock` on 127.0.0.1, reporting llmload's peak RSS when 10,000 requests had finished
# and at the end, so memory growth with run length is visible. A benchmark script, not a test.
#
#   benches/soak.sh                  # 100k requests (a few minutes)
#   REQUESTS=20000 benches/soak.sh   # shorter
#
# Peak RSS is the kernel's high-water mark (VmHWM in /proc/PID/status), read as the records
# file (one line per finished request) passes each mark. Needs Linux /proc.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benches/lib.sh
. benches/lib.sh

REQUESTS="${REQUESTS:-100000}"
MARK="${MARK:-10000}"
CONCURRENCY="${CONCURRENCY:-64}"
cargo build --release --quiet
BIN="$PWD/target/release/llmload"
OUT="${OUT:-$PWD/target/soak}"
rm -rf "$OUT" && mkdir -p "$OUT"

MOCK_PID=""; RUN_PID=""
cleanup() {
  [ -n "$RUN_PID" ] && kill "$RUN_PID" 2>/dev/null || true
  [ -n "$MOCK_PID" ] && kill "$MOCK_PID" 2>/dev/null || true
}
trap cleanup EXIT

"$BIN" mock --port 0 --ttft 2ms --itl 200us --output-tokens 16 > "$OUT/mock.out" 2>&1 &
MOCK_PID=$!
URL=$(mock_url "$OUT/mock.out")

cat > "$OUT/soak.toml" <<TOML
name = "soak"
seed = 1

[[targets]]
name = "mock"
base_url = "$URL"

[[models]]
id = "mock-model"
target = "mock"
price = { input_per_m = 0.3, output_per_m = 1.2 }

[workload]
prompts = ["Write a haiku about load testing.", "Summarize: the service stayed up all night."]
max_tokens = 16

[load]
concurrency = $CONCURRENCY
requests = $REQUESTS
TOML

"$BIN" run "$OUT/soak.toml" --output "$OUT/soak.json" --quiet > "$OUT/run.out" 2>&1 &
RUN_PID=$!
REC="$OUT/soak.records.jsonl"
hwm() { awk '/VmHWM/ {print $2}' "/proc/$RUN_PID/status" 2>/dev/null || echo 0; }
AT_MARK=""
LAST=0
START=$(date +%s)
while kill -0 "$RUN_PID" 2>/dev/null; do
  N=0; [ -f "$REC" ] && N=$(wc -l < "$REC")
  H=$(hwm)
  [ -n "$H" ] && [ "$H" != 0 ] && LAST=$H
  if [ -z "$AT_MARK" ] && [ "$N" -ge "$MARK" ]; then AT_MARK=$LAST; fi
  sleep 0.2
done
wait "$RUN_PID" || true
RUN_PID=""
END=$(date +%s)
N=$(wc -l < "$REC")
python3 - "$OUT/soak.json" "$N" "${AT_MARK:-0}" "$LAST" "$MARK" "$((END-START))" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
n, at_mark, last, mark, secs = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
o = r["overall"]["requests"]
print(f"requests: {n} records, {o['ok']} ok, {o['failed']} failed, in {secs} s; run valid: {r['validity']['valid']}")
print(f"peak RSS after {mark} requests: {at_mark/1024:.1f} MB")
print(f"peak RSS after {n} requests:  {last/1024:.1f} MB  (ratio {last/max(at_mark,1):.2f})")
PY
