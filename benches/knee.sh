#!/usr/bin/env bash
# Knee benchmark: `llmload sweep` with its default settings against `llmload mock` servers of
# known capacity, beside what queueing gives for the same queue. Without an SLO the expected
# sustainable rate is slots / service time; with a TTFT SLO it is the highest Poisson rate at
# which 95 % of requests meet it in the steady state, from a discrete-event simulation
# (Poisson arrivals, c FIFO servers, the mock's fixed service time) written below in python3,
# independent of llmload. A request's TTFT in the model is its wait plus the TTFT one request
# sees alone, and its service time the mock's (TTFT + (tokens − 1) × ITL), each raised to what
# the sweep's synchronous step measured if that is more (a fraction of a ms at this scale).
# The last case caps the steps (--max-step-duration) to show the short-step warning: `warned`
# is how much lower / higher than reported the warning says the true rate may be, `inside`
# whether the expected rate lies in the range it gives.
# Traffic stays on 127.0.0.1. Needs: python3. Takes about 25 minutes.
#
#   benches/knee.sh                 # every case
#   CASES="8-slo 32" benches/knee.sh   # some of them (names in the table's first column)
#   BIN=/tmp/other-llmload benches/knee.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benches/lib.sh
. benches/lib.sh

if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN="$PWD/target/release/llmload"
fi
OUT="${OUT:-$PWD/target/knee}"
rm -rf "$OUT" && mkdir -p "$OUT"
CASES="${CASES:-8-slo 8 32-slo 32 8-slo-short}"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

MOCK_PID=""
cleanup() { [ -n "$MOCK_PID" ] && kill "$MOCK_PID" 2>/dev/null || true; MOCK_PID=""; }
trap cleanup EXIT

# The expected sustainable rate: expected.py SLOTS SERVICE_S TTFT_S SLO_S|none REQUIRED
cat > "$OUT/expected.py" <<'PY'
import heapq, random, sys

def attainment(rate, c, service, ttft, slo, n=200_000):
    rng = random.Random(7)  # the same draws at every rate: attainment is monotone in rate
    free = [0.0] * c
    t = 0.0
    met = counted = 0
    for i in range(n):
        t += rng.expovariate(1.0) / rate
        start = max(heapq.heappop(free), t)
        heapq.heappush(free, start + service)
        if i >= n // 10:  # the queue starts empty: leave out the first 10 %
            counted += 1
            met += (start - t) + ttft <= slo
    return met / counted

c, service, ttft = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
slo, required = sys.argv[4], float(sys.argv[5])
if slo == "none":
    print(f"{c / service:.3f}")
else:
    lo, hi = 0.0, c / service
    for _ in range(30):
        mid = (lo + hi) / 2
        if attainment(mid, c, service, ttft, float(slo)) >= required:
            lo = mid
        else:
            hi = mid
    print(f"{lo:.3f}")
PY

# run_case NAME SLOTS TTFT_MS ITL_MS TOKENS SLO_TTFT_MS|none [SWEEP FLAGS...]
run_case() {
  local name=$1 slots=$2 ttft=$3 itl=$4 tokens=$5 slo=$6
  shift 6
  cleanup
  "$BIN" mock --port 0 --ttft "${ttft}ms" --itl "${itl}ms" --output-tokens "$tokens" \
    --max-concurrency "$slots" > "$OUT/$name.mock.out" 2>&1 &
  MOCK_PID=$!
  local url
  url=$(mock_url "$OUT/$name.mock.out")
  [ -n "$url" ] || { echo "mock for $name did not start" >&2; exit 1; }
  local slo_table=""
  [ "$slo" != none ] && slo_table=$'[slo]\n'"ttft = \"${slo}ms\""
  cat > "$OUT/$name.toml" <<TOML
name = "knee-$name"
seed = 1
[[targets]]
name = "mock"
base_url = "$url"
timeouts = { connect = "10s", first_token = "300s", idle = "300s", total = "600s" }
[[models]]
id = "sim"
target = "mock"
[workload]
prompts = ["Hello, how fast can you stream?"]
max_tokens = $tokens
[load]
concurrency = 1
duration = "1s"
$slo_table
TOML
  local start=$SECONDS
  "$BIN" sweep "$OUT/$name.toml" -q --no-records -o "$OUT/$name.json" "$@" > "$OUT/$name.table.txt"
  local took=$((SECONDS - start))
  cleanup
  python3 - "$OUT/$name.json" "$OUT" "$name" "$slots" "$ttft" "$itl" "$tokens" "$slo" "$took" "$*" <<'PY'
import json, subprocess, sys
path, out, name, slots, ttft, itl, tokens, slo, took, flags = sys.argv[1:]
r = json.load(open(path))
sw = r["sweep"]
k = sw["knee"]
service = max((float(ttft) + (int(tokens) - 1) * float(itl)) / 1e3, sw.get("request_duration_s") or 0)
alone = max(sw["steps"][0]["ttft_p50_ms"], float(ttft)) / 1e3
req = k["required_attainment"]
exp = float(subprocess.check_output(["python3", f"{out}/expected.py", slots, str(service),
                                     str(alone), "none" if slo == "none" else str(float(slo) / 1e3),
                                     str(req)]).decode())
got = k.get("sustainable_rate_per_s")
err = "-" if got is None else f"{(got / exp - 1) * 100:+.1f} %"
over, under = k.get("may_be_off_pct"), k.get("may_be_understated_pct")
rng = k.get("range_per_s")
if over is None:
    warned = "-"
elif under is None:  # results of older versions warned one way only
    warned = f"-{over:.0f} %"
else:
    warned = f"-{over:.0f}/+{under:.0f} %"
inside = "-" if rng is None else ("yes" if rng[0] <= exp <= rng[1] else "NO")
rate_steps = sum(1 for s in sw["steps"] if s["kind"] == "rate")
invalid = sum(1 for s in sw["steps"] if s.get("verdict") == "invalid" or not s["valid"])
print(f"{name:<12} {slots:>5} {service*1e3:>8.0f} {('-' if slo == 'none' else slo + ' ms'):>9} "
      f"{sw['max_throughput_rps']:>9.2f} {('-' if got is None else f'{got:.2f}'):>11} {exp:>9.2f} "
      f"{err:>8} {warned:>11} {inside:>6} {rate_steps:>6} {invalid:>8} {int(took):>6} s  {flags}")
PY
}

printf '%-12s %5s %8s %9s %9s %11s %9s %8s %11s %6s %6s %8s %8s  %s\n' \
  case slots "svc ms" "SLO TTFT" "probe/s" "reported/s" "expect/s" "error" "warned" "inside" "rates" "invalid" "took" flags
for c in $CASES; do
  case $c in
    8-slo) run_case 8-slo 8 100 20 50 500 ;;
    8) run_case 8 8 100 20 50 none ;;
    32-slo) run_case 32-slo 32 100 20 21 250 ;;
    32) run_case 32 32 100 20 21 none ;;
    8-slo-short) run_case 8-slo-short 8 100 20 50 500 --max-step-duration 8s ;;
    *) echo "unknown case $c" >&2; exit 2 ;;
  esac
done
echo "tables and results: $OUT/NAME.table.txt, $OUT/NAME.json"
