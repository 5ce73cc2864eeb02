#!/usr/bin/env python3
"""Assertions for one llmload run against llama-server, and the summary table.

Standard library only. Two sub-commands:

  check.py run --label L --scenario S.toml --result R.json --metrics-before A --metrics-after B
               --summary SUMMARY.jsonl
      Checks one run's result file and records file (see docs/interop.md for the list) and
      appends one summary row to SUMMARY.jsonl. Exits 1, printing every failed check, when any
      check fails.

  check.py table SUMMARY.jsonl
      Prints the summary table (markdown) of every row.

  check.py stalled --label L --result R.json --summary SUMMARY.jsonl [--sockets SOCKETS.txt]
      Whether a failed run failed only because llama-server never answered one request: exactly
      one record is not ok, it is `timeout_headers` (no status, no byte of a response before
      the first-token timeout) and every other record is ok. Prints that request's evidence
      (when it was sent, whether it was re-sent after a closed pooled connection, and the
      server-side sockets seen with unread bytes while it waited, from SOCKETS.txt), marks the
      run's summary row as retried and exits 0; exits 1 for any other failure. run.sh then runs
      the scenario once more, and that run must pass every check.

  check.py tokens --scenario S.toml --result R.json --capture CAPTURE.jsonl --server BASE
      Token exactness of synthetic prompts made with the model's own tokenizer: every
      request's usage.prompt_tokens must equal its class's requested size (plus the special
      tokens llama-server adds, read from its /tokenize endpoint), and every prompt the
      recording proxy saw must count exactly a requested size under /tokenize. Prints the
      count table; exits 1 when any count differs.

Besides llmload's own files, the run is compared with llama-server's Prometheus counters
(/metrics, scraped before and after the run): the server's own count of generated and prompt
tokens must equal the totals llmload recorded, which checks that llmload took every request's
token counts from the server and lost none.
"""

import json
import math
import os
import re
import sys

# Plausibility bounds. The model is a 135M-parameter model on 2 CPU cores: TTFT is tens of
# milliseconds to a few seconds (4 requests share the CPU; a non-streamed TTFT is the whole
# response, and a machine busy with other builds stretches it to tens of seconds), decode is tens to a few hundred
# tokens per second. The bounds are wide on purpose: they catch unit errors and nonsense
# (zero, negative, absurd), not slow machines.
TTFT_P50_MAX_MS = 30_000.0
TTFT_P99_MAX_MS = 110_000.0
DECODE_MAX_TOK_S = 10_000.0
# llama-server's slots (run.sh starts it with --parallel 4).
SLOTS = 4


def load_toml(path):
    try:
        import tomllib  # Python 3.11+

        with open(path, "rb") as f:
            return tomllib.load(f)
    except ImportError:  # pragma: no cover - older Python: read the few keys we need
        text = open(path, encoding="utf-8").read()

        def grab(key, conv):
            m = re.search(r"^\s*%s\s*=\s*(.+?)\s*$" % re.escape(key), text, re.M)
            return conv(m.group(1)) if m else None

        return {
            "workload": {
                "endpoint": grab("endpoint", lambda s: s.strip('"')),
                "stream": grab("stream", lambda s: s == "true"),
                "max_tokens": {"max": grab("max", lambda s: int(s.split("}")[0]))},
            },
            "load": {"requests": grab("requests", int), "concurrency": grab("concurrency", int)},
            "targets": [{"client": grab("client", lambda s: s.strip('"'))}],
        }


def parse_metrics(path):
    """Prometheus text format -> {name: value} (llama-server's metrics carry no labels)."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split()
            if len(parts) >= 2:
                try:
                    out[parts[0]] = float(parts[1])
                except ValueError:
                    pass
    return out


def check_server_metrics(res, check):
    """The scrape of llama-server's /metrics during the run: samples in the result's series and
    summary, and the processing gauge's maximum between 1 and the server's slot count (the run
    keeps 4 requests in flight on 4 slots). Returns that maximum."""
    views = res.get("server_metrics") or []
    if not check(len(views) == 1, f"server_metrics has {len(views)} entries, want 1"):
        return None
    v = views[0]
    samples = v.get("samples", 0)
    check(samples >= 1, f"server_metrics.samples = {samples}, want at least 1")
    check(v.get("scrape_errors", 0) <= v.get("scrapes", 0) // 2,
          f"{v.get('scrape_errors')} of {v.get('scrapes')} scrapes failed: {v.get('errors_by_kind')}")
    check(v.get("malformed_lines", 0) == 0, f"{v.get('malformed_lines')} malformed lines")
    target = v.get("target")
    in_series = [p["server"][target] for p in res["timeseries"] if target in p.get("server", {})]
    # A read in the run's last moments may fall after the series' last second.
    check(samples - 1 <= len(in_series) <= samples,
          f"{len(in_series)} seconds of the series have server gauges, summary says {samples}")
    running = v.get("gauges", {}).get("running", {})
    check(running.get("metric") == "llamacpp:requests_processing",
          f"running gauge from {running.get('metric')!r}, want llamacpp:requests_processing")
    check(v.get("gauges", {}).get("waiting", {}).get("metric") == "llamacpp:requests_deferred",
          "waiting gauge is not llamacpp:requests_deferred")
    top = running.get("max")
    check(top is not None and 1 <= top <= SLOTS,
          f"llamacpp:requests_processing max {top}, want between 1 and {SLOTS} (the slots)")
    seen = [p.get("running") for p in in_series if p.get("running") is not None]
    check(seen and max(seen) == top, f"series running max {max(seen) if seen else None} != {top}")
    return top


def pct(values, q):
    """Nearest-rank percentile of a list (for the records cross-check)."""
    if not values:
        return float("nan")
    v = sorted(values)
    k = max(0, min(len(v) - 1, math.ceil(q * len(v)) - 1))
    return v[k]


def cmd_run(args):
    label = args["--label"]
    scen = load_toml(args["--scenario"])
    result_path = args["--result"]
    failures = []

    def check(cond, msg):
        if not cond:
            failures.append(msg)
        return cond

    planned = int(scen["load"]["requests"])
    stream = bool(scen["workload"]["stream"])
    endpoint = scen["workload"]["endpoint"]
    mt = scen["workload"]["max_tokens"]
    max_tokens_cap = int(mt["max"]) if isinstance(mt, dict) else int(mt)
    client = scen["targets"][0].get("client", "default")

    with open(result_path, encoding="utf-8") as f:
        res = json.load(f)
    records_name = res.get("records_file")
    if not check(records_name, "result has no records_file"):
        records = []
    else:
        rpath = os.path.join(os.path.dirname(result_path), records_name)
        with open(rpath, encoding="utf-8") as f:
            records = [json.loads(line) for line in f if line.strip()]

    # --- The run itself -------------------------------------------------------------------
    check(res.get("status") == "complete", f"status is {res.get('status')!r}, not 'complete'")
    validity = res.get("validity", {})
    warnings = []
    if validity.get("valid") is not True:
        # llama-server and llmload share the machine's cores, so llmload's own event loop can
        # run late; that makes llmload flag the run invalid (exit 3) for its latency figures,
        # but does not touch what this suite checks (requests, token counts). Any other reason
        # fails the run.
        reasons = validity.get("reasons") or ["(no reason given)"]
        other = [r for r in reasons if "event loop" not in r and "CPU" not in r]
        check(not other, f"run is not valid: {other}")
        warnings += [f"llmload flagged the run invalid: {r}" for r in reasons if r not in other]

    # --- No request lost --------------------------------------------------------------------
    o = res["overall"]
    req = o["requests"]
    for key, want in (("issued", planned), ("sent", planned), ("ok", planned), ("failed", 0),
                      ("dropped", 0), ("cancelled", 0)):
        check(req.get(key) == want, f"overall.requests.{key} = {req.get(key)}, want {want}")
    check(not req.get("errors"), f"errors: {req.get('errors')}")
    check(res["load"].get("sent_all_phases") == planned,
          f"load.sent_all_phases = {res['load'].get('sent_all_phases')}, want {planned}")
    check(len(records) == planned, f"{len(records)} records, want {planned}")
    indices = sorted(r["index"] for r in records)
    check(indices == list(range(planned)), "record indices are not exactly 0..N-1")
    bad = [r for r in records if r.get("outcome") != "ok"]
    for r in bad[:5]:
        failures.append(f"request {r['index']}: outcome {r.get('outcome')} "
                        f"status {r.get('status')} error {r.get('error')!r} "
                        f"sent at {r.get('t_send_us', 0) / 1e6:.3f} s, "
                        f"re-sent after a closed connection {r.get('reconnects', 0)} time(s)")
    check(all(r.get("phase") == "measure" for r in records), "a record is not in phase measure")
    check(all(r.get("status") == 200 for r in records), "a record has an HTTP status other than 200")

    # --- Token counts come from the server's usage, and agree with it ----------------------------
    tok = o["tokens"]
    check(tok.get("output_source") == {"usage": planned},
          f"tokens.output_source = {tok.get('output_source')}, want all {planned} from usage")
    check(tok.get("input_source") == {"usage": planned},
          f"tokens.input_source = {tok.get('input_source')}, want all {planned} from usage")
    check(not tok.get("usage_mismatch"), f"tokens.usage_mismatch = {tok.get('usage_mismatch')}")
    events_eq_tokens = 0
    for r in records:
        i = r["index"]
        check(r.get("output_tokens_source") == "usage",
              f"request {i}: output_tokens_source {r.get('output_tokens_source')!r}")
        check(r.get("input_tokens_source") == "usage",
              f"request {i}: input_tokens_source {r.get('input_tokens_source')!r}")
        check(not r.get("usage_mismatch"), f"request {i}: usage_mismatch")
        out = r.get("output_tokens", 0)
        check(1 <= out <= max_tokens_cap,
              f"request {i}: output_tokens {out} outside 1..{max_tokens_cap}")
        check(r.get("input_tokens", 0) >= 1, f"request {i}: input_tokens {r.get('input_tokens')}")
        check(r.get("finish_reason") in ("stop", "length"),
              f"request {i}: finish_reason {r.get('finish_reason')!r}")
        check(r.get("response_id"), f"request {i}: no response id")
        ev = r.get("output_events", 0)
        if stream:
            # llama-server sends one chunk per generated token, so the stream itself is a
            # second count of the output; it may only be lower (a token that decodes to
            # nothing, or a UTF-8 sequence split over tokens, carries no text).
            # A request whose only token is the end-of-generation token has no text at all:
            # completion_tokens 1, finish_reason stop, no output event.
            eos_only = out == 1 and r.get("finish_reason") == "stop"
            check((0 if eos_only else 1) <= ev <= out,
                  f"request {i}: {ev} output events for {out} tokens")
            events_eq_tokens += ev == out
        else:
            eos_only = out == 1 and r.get("finish_reason") == "stop"
            check(ev == 1 or (eos_only and ev == 0),
                  f"request {i}: {ev} output events in a non-streamed body")
    sum_out = sum(r.get("output_tokens", 0) for r in records)
    sum_in = sum(r.get("input_tokens", 0) for r in records)
    check(tok.get("output") == sum_out, f"tokens.output {tok.get('output')} != records {sum_out}")
    check(tok.get("input") == sum_in, f"tokens.input {tok.get('input')} != records {sum_in}")

    # The server's own counters: generated tokens and prompt tokens over the run.
    server_out = server_in = None
    if args.get("--metrics-before") and args.get("--metrics-after"):
        mb = parse_metrics(args["--metrics-before"])
        ma = parse_metrics(args["--metrics-after"])
        key_out, key_in = "llamacpp:tokens_predicted_total", "llamacpp:prompt_tokens_total"
        if check(key_out in ma and key_in in ma, f"server /metrics lacks {key_out} or {key_in}"):
            server_out = int(ma[key_out] - mb.get(key_out, 0))
            server_in = int(ma[key_in] - mb.get(key_in, 0))
            check(server_out == sum_out,
                  f"server generated {server_out} tokens, llmload counted {sum_out}")
            check(server_in == sum_in,
                  f"server processed {server_in} prompt tokens, llmload counted {sum_in}")

    # --- The server's own gauges, scraped by llmload during the run (server_metrics) -------------
    server_view = None
    if scen["targets"][0].get("server_metrics"):
        server_view = check_server_metrics(res, check)

    # --- Latency and speed are plausible ---------------------------------------------------------
    lat = o["latency_ms"]
    ttft = lat["ttft"]
    with_output = sum(1 for r in records if r.get("outcome") == "ok" and "t_first_us" in r)
    check(ttft["count"] == with_output,
          f"ttft count {ttft['count']}, want {with_output} (ok requests with output)")
    check(0 < ttft["p50"] < TTFT_P50_MAX_MS, f"ttft p50 {ttft['p50']} ms implausible")
    check(0 < ttft["p99"] < TTFT_P99_MAX_MS, f"ttft p99 {ttft['p99']} ms implausible")
    check(ttft["min"] > 0, f"ttft min {ttft['min']} ms")
    e2e = lat["e2e"]
    # Cross-check TTFT p50 with the records (t_first - t_send); the histograms hold 3
    # significant digits, so allow 1 %.
    rec_ttft = [(r["t_first_us"] - r["t_send_us"]) / 1000.0 for r in records
                if "t_first_us" in r and "t_send_us" in r]
    if rec_ttft:
        p50r = pct(rec_ttft, 0.5)
        check(abs(p50r - ttft["p50"]) <= max(0.01 * p50r, 0.01),
              f"ttft p50 from records {p50r:.3f} ms vs result {ttft['p50']:.3f} ms")
    dec = o.get("decode_tokens_per_s", {})
    if stream:
        check(dec.get("count", 0) >= 1, "no request has a decode speed")
        check(0 < dec.get("p50", 0) < DECODE_MAX_TOK_S,
              f"decode p50 {dec.get('p50')} tok/s implausible")
        check(dec.get("max", 0) < DECODE_MAX_TOK_S, f"decode max {dec.get('max')} tok/s")
        tpot = lat["tpot"]
        check(tpot["count"] == dec.get("count"), "tpot and decode counts differ")
    else:
        # One body per request: no per-token timing.
        check(dec.get("count", 0) == 0, f"non-streamed run has {dec.get('count')} decode speeds")

    row = {
        "label": label,
        "endpoint": endpoint,
        "stream": stream,
        "client": client,
        "planned": planned,
        "sent": req.get("sent"),
        "ok": req.get("ok"),
        "failed": req.get("failed"),
        "output_tokens": sum_out,
        "server_output_tokens": server_out,
        "input_tokens": sum_in,
        "server_input_tokens": server_in,
        "events_eq_tokens": events_eq_tokens if stream else None,
        "ttft_p50_ms": ttft["p50"],
        "ttft_p99_ms": ttft["p99"],
        "e2e_p50_ms": e2e["p50"],
        "decode_p50_tok_s": dec.get("p50") if stream else None,
        "output_tok_s": o["throughput"]["output_tokens_per_s"],
        "elapsed_s": res["load"]["elapsed_s"],
        "server_processing_max": server_view,
        "passed": not failures,
        "retried": False,
        "warnings": warnings,
    }
    with open(args["--summary"], "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")

    if failures:
        print(f"FAIL {label}: {len(failures)} check(s) failed", file=sys.stderr)
        for msg in failures:
            print(f"  - {msg}", file=sys.stderr)
        return 1
    for w in warnings:
        print(f"warn {label}: {w}")
    print(f"ok   {label}: {planned}/{planned} requests ok, {sum_out} output tokens "
          f"(server {server_out}), ttft p50 {ttft['p50']:.1f} ms"
          + ("" if server_view is None else f", server processing max {server_view:g}"))
    return 0


def fmt(v, spec):
    return "–" if v is None else format(v, spec)


def cmd_table(path):
    rows = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    print("| endpoint | stream | client | sent/ok/planned | output tok (llmload / server) "
          "| input tok (llmload / server) | TTFT p50 / p99 ms | decode p50 tok/s "
          "| output tok/s | elapsed s | result |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['endpoint']} | {'yes' if r['stream'] else 'no'} | {r['client']} "
              f"| {r['sent']}/{r['ok']}/{r['planned']} "
              f"| {r['output_tokens']} / {fmt(r['server_output_tokens'], 'd')} "
              f"| {r['input_tokens']} / {fmt(r['server_input_tokens'], 'd')} "
              f"| {r['ttft_p50_ms']:.0f} / {r['ttft_p99_ms']:.0f} "
              f"| {fmt(r['decode_p50_tok_s'], '.0f')} | {r['output_tok_s']:.0f} "
              f"| {r['elapsed_s']:.1f} | {result_cell(r)} |")
    return 0 if rows and all(r["passed"] or r.get("retried") for r in rows) else 1


def result_cell(row):
    if row["passed"]:
        return "pass"
    return "one request unanswered by the server; run again" if row.get("retried") else "FAIL"


def cmd_stalled(args):
    label = args["--label"]
    with open(args["--result"], encoding="utf-8") as f:
        res = json.load(f)
    rpath = os.path.join(os.path.dirname(args["--result"]), res.get("records_file") or "")
    if not res.get("records_file") or not os.path.exists(rpath):
        return 1
    with open(rpath, encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    bad = [r for r in records if r.get("outcome") != "ok"]
    if res.get("status") != "complete" or len(bad) != 1:
        return 1
    r = bad[0]
    if r.get("outcome") != "timeout_headers" or r.get("status") is not None \
            or "t_headers_us" in r or "t_first_us" in r:
        return 1
    print(f"stall {label}: request {r['index']} got no response headers within the first-token "
          f"timeout (sent at {r.get('t_send_us', 0) / 1e6:.3f} s into the run, re-sent after a "
          f"closed pooled connection {r.get('reconnects', 0)} time(s)); the other "
          f"{len(records) - 1} requests were answered")
    sockets = args.get("--sockets")
    if sockets and os.path.exists(sockets):
        unread = [line.rstrip() for line in open(sockets, encoding="utf-8")
                  if line.startswith("ESTAB") and len(line.split()) > 1 and line.split()[1] != "0"]
        print(f"  server-side sockets with bytes the server had not read, over the run's "
              f"one-second samples: {len(unread)}")
        for line in unread[:5]:
            print(f"    {line}")
    rows = [json.loads(line) for line in open(args["--summary"], encoding="utf-8") if line.strip()]
    for row in rows:
        if row["label"] == label and not row["passed"]:
            row["retried"] = True
    with open(args["--summary"], "w", encoding="utf-8") as f:
        f.writelines(json.dumps(row) + "\n" for row in rows)
    return 0


def tokenize(server, text, add_special):
    import urllib.request

    req = urllib.request.Request(
        server.rstrip("/") + "/tokenize",
        data=json.dumps({"content": text, "add_special": add_special}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)["tokens"]


def cmd_tokens(args):
    scen = load_toml(args["--scenario"])
    server = args["--server"]
    sizes = {c["name"]: int(c["prompts"]["synthetic"]["input_tokens"])
             for c in scen["workload"]["classes"]}
    with open(args["--result"], encoding="utf-8") as f:
        res = json.load(f)
    rpath = os.path.join(os.path.dirname(args["--result"]), res["records_file"])
    records = [json.loads(line) for line in open(rpath, encoding="utf-8") if line.strip()]
    captured = [json.loads(line) for line in open(args["--capture"], encoding="utf-8")
                if line.strip()]
    failures = []
    # What llama-server adds around a prompt (a BOS token, for models whose GGUF says so).
    special = len(tokenize(server, "the", True)) - len(tokenize(server, "the", False))
    tok = (res.get("tokenizers") or [{}])[0]
    if tok.get("kind") != "file" or tok.get("synthetic_exact") is not True:
        failures.append(f"the result does not record exact synthetic prompts for a tokenizer "
                        f"file: {tok}")
    if len(records) != int(scen["load"]["requests"]):
        failures.append(f"{len(records)} records, {scen['load']['requests']} planned")
    rows = {}
    for r in records:
        want = sizes[r["class"]]
        row = rows.setdefault(want, {"requests": 0, "usage": set(), "tokenize": set(),
                                     "tokenize_special": set()})
        row["requests"] += 1
        if r.get("outcome") != "ok":
            failures.append(f"request {r.get('index')}: outcome {r.get('outcome')}")
            continue
        row["usage"].add(r.get("input_tokens"))
        if r.get("input_tokens_source") != "usage":
            failures.append(f"request {r.get('index')}: input tokens not from usage")
        if r.get("input_tokens") != want + special:
            failures.append(f"request {r.get('index')} ({r['class']}): usage.prompt_tokens "
                            f"{r.get('input_tokens')}, requested {want} (+{special} special)")
    missing = sorted(set(sizes.values()) - set(rows))
    if missing:
        failures.append(f"no request of size {missing}")
    if len(captured) != len(records):
        failures.append(f"the proxy saw {len(captured)} requests, llmload recorded "
                        f"{len(records)}")
    for c in captured:
        n = len(tokenize(server, c["prompt"], False))
        n_special = len(tokenize(server, c["prompt"], True))
        if n not in rows:
            failures.append(f"a prompt of {len(c['prompt'].split())} words counts {n} tokens "
                            f"under /tokenize, not a requested size")
            continue
        rows[n]["tokenize"].add(n)
        rows[n]["tokenize_special"].add(n_special)
        if c["usage_prompt_tokens"] != n_special:
            failures.append(f"/tokenize counts {n_special} (with special tokens), "
                            f"usage.prompt_tokens {c['usage_prompt_tokens']}")

    def show(vals):
        return "/".join(str(v) for v in sorted(vals)) if vals else "–"

    print(f"tokenizer: {tok.get('name')} (sha256 {tok.get('sha256')}); special tokens "
          f"llama-server adds to a prompt: {special}")
    print("| requested tokens | requests | usage.prompt_tokens | /tokenize | "
          "/tokenize add_special | exact |")
    print("|---|---|---|---|---|---|")
    for want in sorted(rows):
        r = rows[want]
        exact = (r["usage"] == {want + special} and r["tokenize"] == {want}
                 and r["tokenize_special"] == {want + special})
        if not exact:
            failures.append(f"size {want}: not exact")
        print(f"| {want} | {r['requests']} | {show(r['usage'])} | {show(r['tokenize'])} "
              f"| {show(r['tokenize_special'])} | {'yes' if exact else 'NO'} |")
    for f in failures:
        print(f"  FAIL: {f}", file=sys.stderr)
    return 1 if failures else 0


def parse_flags(argv):
    out = {}
    it = iter(argv)
    for a in it:
        if not a.startswith("--"):
            raise SystemExit(f"unexpected argument {a!r}")
        out[a] = next(it)
    return out


def main(argv):
    if len(argv) >= 2 and argv[1] == "run":
        return cmd_run(parse_flags(argv[2:]))
    if len(argv) == 3 and argv[1] == "table":
        return cmd_table(argv[2])
    if len(argv) >= 2 and argv[1] == "stalled":
        return cmd_stalled(parse_flags(argv[2:]))
    if len(argv) >= 2 and argv[1] == "tokens":
        return cmd_tokens(parse_flags(argv[2:]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
