#!/usr/bin/env bash
# Baseline bench: does `llmload check NEW --baseline OLD` (default tolerance, 10 %) stay quiet
# when nothing changed, and speak up when the server got 15 % slower?
#
# Runs benches/baseline.toml (the quickstart's five models on the built-in mock, 20 req/s for
# 15 s, ~300 measured requests) on this machine:
#   - 2 × PAIRS runs with seeds 1000, 1001, …; pair i is (run 2i−1, run 2i): same scenario,
#     same server, different seeds. Each pair is checked; a flagged pair is a false alarm.
#   - SHIFTED/2 runs of a copy whose mock TTFTs (mean and spread) are × 1.15, and SHIFTED/2
#     runs of a copy whose mock decode speeds are ÷ 1.15 (TPOT × 1.15), each checked against
#     the first run of a pair; a pass is a missed regression.
# Prints every flagged or missed check's table, then the counts. About 20 minutes with the
# defaults on a 2-core machine. Traffic stays in-process (base_url = "mock").
#
#   benches/baseline.sh
#   PAIRS=5 SHIFTED=4 benches/baseline.sh        # a quick smoke run
#   BIN=/tmp/other-llmload benches/baseline.sh   # another build
set -euo pipefail
cd "$(dirname "$0")/.."

PAIRS="${PAIRS:-20}"
SHIFTED="${SHIFTED:-20}"
OUT="${OUT:-$PWD/target/baseline-bench}"
rm -rf "$OUT" && mkdir -p "$OUT"
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN="$PWD/target/release/llmload"
fi
# A private copy: rebuilding the project while the bench runs must not change the binary.
cp "$BIN" "$OUT/llmload"
BIN="$OUT/llmload"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# shift_scenario FACTOR_TTFT FACTOR_SPEED OUT: a copy of the bench scenario with every mock TTFT
# mean/stddev multiplied by the first factor and every mock tokens_per_s divided by the second.
shift_scenario() {
  python3 - "$1" "$2" benches/baseline.toml "$3" <<'EOF'
import re, sys
ttft, speed, src, dst = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
def mock(line):
    if not line.startswith("mock = "):
        return line
    line = re.sub(r'(mean|stddev|min) = "(\d+(?:\.\d+)?)ms"',
                  lambda m: '%s = "%.3fms"' % (m.group(1), float(m.group(2)) * ttft), line)
    return re.sub(r'tokens_per_s = (\d+(?:\.\d+)?)',
                  lambda m: 'tokens_per_s = %.4f' % (float(m.group(1)) / speed), line)
text = open(src).read()
open(dst, "w").write("\n".join(mock(l) for l in text.split("\n")))
EOF
}

run_series() { # SCENARIO SEED COUNT PREFIX
  "$BIN" run "$1" --seed "$2" --repeat "$3" --quiet --no-records -o "$OUT/$4.json" \
    > "$OUT/$4.log" 2>&1 || true
}

start=$(date +%s)
echo "baseline bench: $PAIRS seed pairs, $SHIFTED shifted runs, results in $OUT"
run_series benches/baseline.toml 1000 $((2 * PAIRS)) same
TTFT_RUNS=$((SHIFTED / 2))
TPOT_RUNS=$((SHIFTED - TTFT_RUNS))
shift_scenario 1.15 1 "$OUT/ttft.toml"
shift_scenario 1 1.15 "$OUT/tpot.toml"
grep -q '"345.000ms"' "$OUT/ttft.toml" || { echo "the TTFT shift did not apply"; exit 2; }
grep -q 'tokens_per_s = 78.2609' "$OUT/tpot.toml" || { echo "the TPOT shift did not apply"; exit 2; }
[ "$TTFT_RUNS" -gt 0 ] && run_series "$OUT/ttft.toml" 2000 "$TTFT_RUNS" ttft
[ "$TPOT_RUNS" -gt 0 ] && run_series "$OUT/tpot.toml" 3000 "$TPOT_RUNS" tpot

# check NEW OLD: runs `llmload check NEW --baseline OLD` (output in NEW's .check file) and
# prints its baseline verdict: "regression", "pass", or "error" when it could not judge. An
# invalid run (exit 3: the generator fell behind, e.g. on a loaded machine) still gets the
# verdict its table shows; such runs are counted separately.
check() {
  local code=0 log="${1%.json}.check"
  "$BIN" check "$1" --baseline "$2" > "$log" 2>&1 || code=$?
  if [ "$code" -le 1 ] || [ "$code" -eq 3 ]; then
    if grep -q 'within tolerance → FAIL$' "$log"; then echo regression; else echo pass; fi
  else
    echo error
  fi
}
invalid_runs=$(grep -l '"valid": false' "$OUT"/*.json 2>/dev/null | wc -l || true)

flagged=0; errors=0
for i in $(seq 1 "$PAIRS"); do
  old="$OUT/same-$((2 * i - 1)).json"; new="$OUT/same-$((2 * i)).json"
  case "$(check "$new" "$old")" in
    pass) ;;
    regression) flagged=$((flagged + 1)); echo "--- false alarm, pair $i:"; cat "${new%.json}.check" ;;
    *) errors=$((errors + 1)); echo "--- pair $i: check could not judge:"; cat "${new%.json}.check" ;;
  esac
done
caught_ttft=0; caught_tpot=0
for kind in ttft tpot; do
  n=$TTFT_RUNS; [ "$kind" = tpot ] && n=$TPOT_RUNS
  for i in $(seq 1 "$n"); do
    old="$OUT/same-$((2 * i - 1)).json"; new="$OUT/$kind-$i.json"
    case "$(check "$new" "$old")" in
      regression) if [ "$kind" = ttft ]; then caught_ttft=$((caught_ttft + 1)); else caught_tpot=$((caught_tpot + 1)); fi ;;
      pass) echo "--- missed: $kind run $i against pair $i's first run:"; cat "${new%.json}.check" ;;
      *) errors=$((errors + 1)); echo "--- $kind run $i: check could not judge:"; cat "${new%.json}.check" ;;
    esac
  done
done
requests=$(python3 -c "
import json, glob
n = [json.load(open(p))['overall']['requests']['sent'] for p in glob.glob('$OUT/same-*.json')]
print('%d–%d (mean %.0f)' % (min(n), max(n), sum(n) / len(n)))")

echo
echo "measured requests per run: $requests"
echo "same scenario, different seeds: $flagged of $PAIRS pairs flagged (want ≤ 1)"
echo "mock TTFT × 1.15: caught in $caught_ttft of $TTFT_RUNS"
echo "mock decode speed ÷ 1.15 (TPOT × 1.15): caught in $caught_tpot of $TPOT_RUNS"
echo "shifted runs caught: $((caught_ttft + caught_tpot)) of $SHIFTED (want ≥ 19 of 20)"
echo "runs the generator marked INVALID (fell behind its schedule): $invalid_runs of $((2 * PAIRS + SHIFTED))"
[ "$errors" -gt 0 ] && echo "checks that could not judge: $errors"
echo "elapsed: $(( $(date +%s) - start )) s"
