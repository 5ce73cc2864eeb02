#!/usr/bin/env bash
# The CPU floor of a streaming client on this machine (results in docs/floor.md).
# Runs `llmload mock` (TTFT 5 ms, 1 ms between tokens, 16 tokens, one token per SSE event)
# pinned to one core and, pinned to the other, three clients in a closed loop of 32 keep-alive
# streams for the same duration each, interleaved and repeated:
#   epoll    benches/floor.rs: one thread, raw level-triggered epoll, one read per wake-up
#   tokio    benches/floor.rs: tokio runtime with one worker, 32 tasks, Instant::now per read
#   llmload  `llmload run SCENARIO --threads 1 --quiet`
# Each runs under `perf stat` (user and system CPU, context switches, syscall counts for the
# whole process). Traffic stays on 127.0.0.1. Needs: taskset, perf, python3.
#
#   benches/floor.sh                    # 2 rounds of 10 s each
#   DURATION=5 ROUNDS=3 benches/floor.sh
#   SYSCALLS=0 benches/floor.sh         # no syscall tracepoints (only CPU and context switches)
#   BIN=/tmp/other-llmload benches/floor.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benches/lib.sh
. benches/lib.sh

DURATION="${DURATION:-10}"
ROUNDS="${ROUNDS:-2}"
CONNS="${CONNS:-32}"
GEN_CORE="${GEN_CORE:-0}"
MOCK_CORE="${MOCK_CORE:-1}"
SYSCALLS="${SYSCALLS:-1}"
OUT="${OUT:-$PWD/target/floor}"
rm -rf "$OUT" && mkdir -p "$OUT"

if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN="$PWD/target/release/llmload"
fi
FLOOR=$(cargo bench --quiet --bench floor --no-run --message-format=json \
  | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "floor" and m.get("executable"):
        print(m["executable"])')
[ -x "$FLOOR" ] || { echo "floor bench binary not found" >&2; exit 1; }

MOCK_PID=""
cleanup() {
  if [ -n "$MOCK_PID" ]; then
    kill "$MOCK_PID" 2>/dev/null || true
    wait "$MOCK_PID" 2>/dev/null || true
    MOCK_PID=""
  fi
}
trap cleanup EXIT

taskset -c "$MOCK_CORE" "$BIN" mock --port 0 --ttft 5ms --itl 1ms --output-tokens 16 \
  > "$OUT/mock.out" 2>&1 &
MOCK_PID=$!
URL=$(mock_url "$OUT/mock.out")
ADDR=${URL#http://}
ADDR=${ADDR%%/*}
case "$ADDR" in
  127.0.0.1:*) ;;
  *) echo "mock did not start on 127.0.0.1 (got '$URL')" >&2; exit 1 ;;
esac

cat > "$OUT/c32.toml" <<TOML
name = "floor-c32"
seed = 1
[[targets]]
name = "mock"
base_url = "$URL"
timeouts = { connect = "10s", first_token = "300s", idle = "300s", total = "600s" }
[[models]]
id = "sim"
target = "mock"
[workload]
prompts = ["Hello, how fast can you stream?"]
max_tokens = 16
[load]
concurrency = $CONNS
duration = "${DURATION}s"
TOML

EVENTS="context-switches,cpu-migrations"
if [ "$SYSCALLS" = 1 ]; then
  EVENTS="$EVENTS,raw_syscalls:sys_enter,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_recvfrom,syscalls:sys_enter_read"
fi

# measure NAME RESULT CMD...: runs CMD pinned to the generator core under perf stat; fails if
# CMD wrote no RESULT file. (llmload exits non-zero when it judges its run invalid, for example
# when its event loop ran late on a busy machine; that run still counts, marked in the table.)
measure() {
  local name=$1 result=$2 rc=0
  shift 2
  echo "== $name"
  taskset -c "$GEN_CORE" perf stat -e "$EVENTS" -o "$OUT/$name.perf" -- "$@" \
    > "$OUT/$name.stdout" 2> "$OUT/$name.stderr" || rc=$?
  echo "$rc" > "$OUT/$name.rc"
  if [ ! -s "$result" ]; then
    echo "$name failed (exit $rc):" >&2
    cat "$OUT/$name.stderr" >&2
    exit 1
  fi
}

for r in $(seq 1 "$ROUNDS"); do
  measure "epoll.$r" "$OUT/epoll.$r.stdout" \
    "$FLOOR" epoll --addr "$ADDR" --duration "$DURATION" --conns "$CONNS"
  measure "tokio.$r" "$OUT/tokio.$r.stdout" \
    "$FLOOR" tokio --addr "$ADDR" --duration "$DURATION" --conns "$CONNS"
  measure "llmload.$r" "$OUT/llmload.$r.json" \
    "$BIN" run "$OUT/c32.toml" --threads 1 --quiet --output "$OUT/llmload.$r.json"
done
cleanup

python3 - "$OUT" "$ROUNDS" <<'PY'
import json, os, re, sys
out, rounds = sys.argv[1], int(sys.argv[2])
TOKENS = 16

def perf(name):
    d = {}
    for line in open(os.path.join(out, name + ".perf")):
        m = re.match(r"\s*([\d,.]+)\s+seconds (user|sys)", line)
        if m:
            d[m.group(2)] = float(m.group(1).replace(",", ""))
            continue
        m = re.match(r"\s*([\d,]+)\s+(\S+)", line)
        if m:
            d[m.group(2)] = int(m.group(1).replace(",", ""))
    return d

def kv(name):
    line = open(os.path.join(out, name + ".stdout")).read().split("\n")[0]
    return dict(p.split("=", 1) for p in line.split())

rows = []
for r in range(1, rounds + 1):
    for mode in ("epoll", "tokio", "llmload"):
        name = f"{mode}.{r}"
        p = perf(name)
        extra = ""
        if mode == "llmload":
            res = json.load(open(os.path.join(out, f"llmload.{r}.json")))
            ov = res["overall"]
            reqs = ov["requests"]
            n = reqs.get("ok", reqs.get("total")) if isinstance(reqs, dict) else reqs
            rps = ov["throughput"]["requests_per_s"]
            own = res["generator"]["cpu_cores_used_mean"] / rps * 1e6 if rps else float("nan")
            extra = f"own meter {own:.0f}"
            if not res.get("validity", {}).get("valid", True):
                extra += "; run judged invalid: " + "; ".join(res["validity"].get("reasons", []))
        else:
            k = kv(name)
            n = int(k["requests"])
            rps = float(k["req_per_s"])
            events = int(k["events"])
            extra = f"loop {float(k['total_us_per_req']):.0f}, {events / max(1, n):.0f} ev/req"
        u = p.get("user", 0) * 1e6 / n
        s = p.get("sys", 0) * 1e6 / n
        cs = p.get("context-switches", 0) / n
        sc = p.get("raw_syscalls:sys_enter")
        sc = f"{sc / n:.1f}" if sc is not None else "-"
        ew = p.get("syscalls:sys_enter_epoll_wait")
        rd = (p.get("syscalls:sys_enter_recvfrom") or 0) + (p.get("syscalls:sys_enter_read") or 0)
        ew = f"{ew / n:.1f}" if ew is not None else "-"
        rd = f"{rd / n:.1f}" if "syscalls:sys_enter_recvfrom" in p else "-"
        rows.append((str(r), mode, f"{n}", f"{rps:.0f}", f"{u:.1f}", f"{s:.1f}", f"{u + s:.1f}",
                     f"{(u + s) / TOKENS:.2f}", f"{cs:.1f}", sc, ew, rd, extra))

head = ("round", "client", "requests", "req/s", "user µs/req", "sys µs/req", "total µs/req",
        "total µs/token", "ctx sw/req", "syscalls/req", "epoll_wait/req", "reads/req", "notes")
table = [head, tuple("-" * 3 for _ in head)] + rows
print()
for row in table:
    print("| " + " | ".join(row) + " |")
PY
