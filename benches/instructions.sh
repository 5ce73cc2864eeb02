#!/usr/bin/env bash
# Instructions per streamed request: a deterministic CPU figure for comparing builds or HTTP
# clients on a shared machine, where wall-clock CPU figures drift by ±10 % from run to run.
#
# Runs `llmload mock` (pinned to MOCK_CORE) and `llmload run` under callgrind (pinned to
# GEN_CORE) twice, with N1 and N2 requests of 16 streamed tokens, and prints the difference in
# instructions divided by N2 - N1: the marginal cost of one request, start-up and shutdown
# excluded. The mock paces tokens slowly (TTFT 5 ms, 5 ms between tokens) at concurrency 4, so
# that even under callgrind's slowdown each token still arrives in a read of its own, as it
# does at full speed against a real server. Traffic stays on 127.0.0.1.
#
#   benches/instructions.sh                              # the release build, client as default
#   CLIENTS="lean reqwest" benches/instructions.sh       # one row per client
#   BINS="/tmp/old-llmload target/release/llmload" benches/instructions.sh   # builds side by side
#   SCHEMES="http https" CLIENTS="lean reqwest" benches/instructions.sh   # https: the mock serves
#       TLS with a self-signed certificate the scenario trusts (tls.ca_bundle); the handshakes
#       (one per connection, 4 per run) cancel out in the difference
#
# Needs valgrind and taskset.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benches/lib.sh
. benches/lib.sh

BINS="${BINS:-}"
if [ -z "$BINS" ]; then
  cargo build --release --quiet
  BINS="$PWD/target/release/llmload"
fi
CLIENTS="${CLIENTS:-auto}"
SCHEMES="${SCHEMES:-http}"
N1="${N1:-200}"
N2="${N2:-1200}"
GEN_CORE="${GEN_CORE:-0}"
MOCK_CORE="${MOCK_CORE:-1}"
OUT="${OUT:-$PWD/target/instructions}"
mkdir -p "$OUT"

MOCK_PID=""
cleanup() {
  if [ -n "$MOCK_PID" ]; then
    kill "$MOCK_PID" 2>/dev/null || true
    wait "$MOCK_PID" 2>/dev/null || true
    MOCK_PID=""
  fi
}
trap cleanup EXIT

first_bin=${BINS%% *}
# start_mock SCHEME: the mock, serving https with a fresh self-signed certificate when asked.
start_mock() {
  cleanup
  local tls=()
  TLS_LINE=""
  if [ "$1" = https ]; then
    tls=(--tls-self-signed "$OUT/ca.pem")
    TLS_LINE="tls = { ca_bundle = \"$OUT/ca.pem\" }"
  fi
  taskset -c "$MOCK_CORE" "$first_bin" mock --port 0 --ttft 5ms --itl 5ms --output-tokens 16 \
    "${tls[@]}" > "$OUT/mock.out" 2>&1 &
  MOCK_PID=$!
  URL=$(mock_url "$OUT/mock.out")
}

# instructions BIN CLIENT N: total instructions of one run (all threads).
instructions() {
  local client_line=""
  [ "$2" != "auto" ] && client_line="client = \"$2\""
  cat > "$OUT/s.toml" <<TOML
name = "instructions"
seed = 1
[[targets]]
name = "mock"
base_url = "$URL"
$client_line
$TLS_LINE
[[models]]
id = "sim"
target = "mock"
[workload]
prompts = ["Hello, how fast can you stream?"]
max_tokens = 16
[load]
concurrency = 4
requests = $3
TOML
  rm -f "$OUT"/callgrind.out.*
  taskset -c "$GEN_CORE" valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out.%p" \
    "$1" run "$OUT/s.toml" --output "$OUT/r.json" --quiet --threads 1 > "$OUT/run.log" 2>&1
  ok=$(python3 -c "import json,sys; print(json.load(open('$OUT/r.json'))['overall']['requests']['ok'])")
  [ "$ok" = "$3" ] || { echo "only $ok of $3 requests ok" >&2; exit 1; }
  grep -h "^summary:" "$OUT"/callgrind.out.* | awk '{s += $2} END {print s}'
}

printf "%-40s %-6s %-8s %14s\n" "binary" "scheme" "client" "instr/request"
for scheme in $SCHEMES; do
  start_mock "$scheme"
  for bin in $BINS; do
    for client in $CLIENTS; do
      a=$(instructions "$bin" "$client" "$N1")
      b=$(instructions "$bin" "$client" "$N2")
      printf "%-40s %-6s %-8s %14.0f\n" "$bin" "$scheme" "$client" "$(echo "($b - $a) / ($N2 - $N1)" | bc -l)"
    done
  done
done
