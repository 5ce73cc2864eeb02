# shellcheck shell=bash
# Shared by the bench scripts (sourced after they cd to the repository root).

# mock_url FILE: waits (up to 5 s) for `llmload mock`'s "listening on URL" line in FILE and
# prints the URL; prints nothing if the mock never got that far.
mock_url() {
  for _ in $(seq 1 100); do
    grep -q "listening on" "$1" 2>/dev/null && break
    sleep 0.05
  done
  awk '/listening on/ {print $NF}' "$1"
}
