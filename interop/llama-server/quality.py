#!/usr/bin/env python3
"""Checks a golden-set run against llama-server: every golden answer came back and was scored.

Standard library only.

  quality.py --golden G.jsonl --result R.json

For the one model of the run, the result's `quality` section must hold one answer per golden
line, each with outcome `ok`, kept text, and no "unscorable" reason (not failed, not empty, not
cut at its token limit where a check needs the whole answer). Each answer is then scored
again here, independently of llmload, for the checks the interop golden set uses (contains,
not_contains, regex, number, json_schema with `type`/`required`/`const`), and the pass/fail of
every check, every line's score and the model's overall and per-class scores must equal
llmload's. Prints a table of the answers; exits 1, printing every failed check, when any fails.
"""

import json
import math
import re
import sys

NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?")


def norm(text, how):
    if "case" in how:
        text = text.lower()
    if "punctuation" in how:
        text = "".join(c for c in text if c.isalnum() or c.isspace())
    if "whitespace" in how:
        text = " ".join(text.split())
    return text


def last_number(text):
    found = NUMBER.findall(text)
    if not found:
        return None
    return float(found[-1].replace(",", ""))


def schema_ok(schema, value):
    if schema.get("type") == "object" and not isinstance(value, dict):
        return False
    for key in schema.get("required", []):
        if key not in value:
            return False
    for key, sub in schema.get("properties", {}).items():
        if key in value and "const" in sub and value[key] != sub["const"]:
            return False
    return True


def passes(check, answer):
    text = answer.strip()
    how = check.get("normalize", [])
    if "contains" in check:
        return norm(check["contains"], how) in norm(text, how)
    if "not_contains" in check:
        return norm(check["not_contains"], how) not in norm(text, how)
    if "regex" in check:
        pattern = check["regex"]
        flags = 0
        if pattern.startswith("(?i)"):
            pattern, flags = pattern[4:], re.IGNORECASE
        return re.search(pattern, text, flags) is not None
    if "number" in check:
        got = last_number(text)
        return got is not None and abs(got - check["number"]) <= check.get("tolerance", 0)
    if "json_schema" in check:
        try:
            value = json.loads(text)
        except ValueError:
            return False
        return schema_ok(check["json_schema"], value)
    raise SystemExit(f"quality.py does not know the check {check}")


def main(argv):
    flags = dict(zip(argv[1::2], argv[2::2]))
    golden = [json.loads(l) for l in open(flags["--golden"], encoding="utf-8") if l.strip()]
    with open(flags["--result"], encoding="utf-8") as f:
        result = json.load(f)
    failures = []

    def check(cond, msg):
        if not cond:
            failures.append(msg)

    q = result.get("quality")
    if not q:
        print("  FAIL: the result has no quality section", file=sys.stderr)
        return 1
    check(q["lines"] == len(golden), f"quality.lines {q['lines']} != {len(golden)} golden lines")
    check(len(q["models"]) == 1, f"{len(q['models'])} models in the quality section, want 1")
    m = q["models"][0]
    answers = {a["id"]: a for a in m.get("golden", [])}
    check(len(m.get("golden", [])) == len(golden),
          f"{len(m.get('golden', []))} golden answers, want {len(golden)}")
    o = m["overall"]
    check(o["n_scored"] == len(golden) and o["n_unscorable"] == 0,
          f"n_scored {o['n_scored']}, n_unscorable {o['n_unscorable']}: every answer must be scored")
    per_class = {}
    total = weight = 0.0
    print("| line | class | answer | checks | score |")
    print("|---|---|---|---|---|")
    for k, line in enumerate(golden, 1):
        lid = line.get("id", f"line{k}")
        a = answers.get(lid)
        if a is None:
            check(False, f"{lid}: no answer in the result")
            continue
        check(a["outcome"] == "ok", f"{lid}: outcome {a['outcome']}")
        check("unscorable" not in a, f"{lid}: unscorable ({a.get('unscorable')})")
        text = a.get("answer")
        check(text is not None and text.strip() != "", f"{lid}: no answer text kept")
        text = text or ""
        checks = line.get("checks", [])
        mine = [passes(c, text) for c in checks]
        check(mine == a.get("passed", []),
              f"{lid}: llmload says {a.get('passed')}, scored here {mine} on {text!r}")
        if checks:
            ws = [c.get("weight", 1.0) for c in checks]
            s = sum(w for w, p in zip(ws, mine) if p) / sum(ws)
            check(math.isclose(a.get("score", -1), s, abs_tol=1e-12),
                  f"{lid}: score {a.get('score')} != {s}")
            lw = line.get("weight", 1.0)
            total += lw * s
            weight += lw
            c = line.get("class")
            if c:
                t = per_class.setdefault(c, [0.0, 0.0])
                t[0] += lw * s
                t[1] += lw
        shown = text.replace("|", "/").replace("\n", " ")
        print(f"| {lid} | {line.get('class', '')} | {shown[:70]} | "
              f"{''.join('✓' if p else '✗' for p in mine) or 'reference'} | "
              f"{a.get('score', '-')} |")
    if weight:
        want = total / weight
        got = (o.get("score") or {}).get("value")
        check(got is not None and math.isclose(got, want, abs_tol=1e-12),
              f"overall score {got} != {want} scored here")
        print(f"\noverall: llmload {got}, scored here {want} "
              f"(interval [{o['score']['low']:.3f}, {o['score']['high']:.3f}], {o['score']['method']})")
    for c, (s, w) in sorted(per_class.items()):
        got = ((m["classes"].get(c) or {}).get("score") or {}).get("value")
        check(got is not None and math.isclose(got, s / w, abs_tol=1e-12),
              f"class {c}: score {got} != {s / w} scored here")
    for f in failures:
        print(f"  FAIL: {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
