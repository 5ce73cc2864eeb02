#!/usr/bin/env bash
# Validates deploy/kubernetes offline: no cluster, no container engine; network only to reach
# PyPI (and Debian's archive, for python3-venv, on a machine without it) the first time.
#
#   deploy/kubernetes/validate.sh
#
# 1. Schema: every manifest (and the results-reader Pod inside walkthrough.sh), placeholders
#    filled in, against the Kubernetes OpenAPI schemas bundled in the PyPI package
#    kubernetes-validate, strict (unknown fields are errors), for each of $K8S_VERSIONS.
# 2. The sharding contract of shards-job.yaml: Indexed, parallelism == completions == the N of
#    --shard $(JOB_COMPLETION_INDEX)/N, backoffLimit 0, restartPolicy Never, the index in the
#    shard argument and the output path, every $(VAR) defined, the placeholders the walkthrough
#    replaces, the key optional; and the cross-references between files (ConfigMap, PVC,
#    Secret, Service, scenario base_url, image, kustomization) and the Dockerfile's COPY sources.
# 3. Parse level with kubectl when it is installed: `kubectl kustomize` (needs no server;
#    `kubectl apply --dry-run=client` does, for API discovery, so it is not used).
# 4. The scenario in the ConfigMap with `llmload validate`, when a built binary is found
#    ($LLMLOAD_BIN, target/release/llmload or target/debug/llmload).
# 5. bash -n (and shellcheck when installed) on the two scripts.
#
# Exits 1 on any failure, after reporting all of them. The venv is cached in
# ${XDG_CACHE_HOME:-~/.cache}/llmload/k8s-validate (LLMLOAD_VALIDATE_VENV overrides), so later
# runs take a few seconds.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

KV_VERSION="1.37.0"                        # kubernetes-validate, pinned
K8S_VERSIONS="${K8S_VERSIONS:-1.28.0 1.37.0}"   # oldest and newest Kubernetes checked
venv="${LLMLOAD_VALIDATE_VENV:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/llmload/k8s-validate}"

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
ok() { echo "ok:   $*"; }

# --- the validator, in a venv of its own -------------------------------------------------------
if ! "$venv/bin/kubernetes-validate" --version 2>/dev/null | grep -qF "$KV_VERSION"; then
  echo "installing kubernetes-validate==$KV_VERSION into $venv"
  if ! command -v python3 >/dev/null || ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq python3 python3-venv >/dev/null
    else
      echo "validate.sh: python3 with venv (Debian: python3-venv) is required" >&2
      exit 1
    fi
  fi
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==$KV_VERSION"
fi
py="$venv/bin/python"

# --- the manifests as they will be applied ------------------------------------------------------
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# The placeholders, filled in as walkthrough.sh fills them.
for f in "$here"/*.yaml; do
  name="$(basename "$f")"
  [ "$name" = "kustomization.yaml" ] && continue
  sed -e 's/__START_AT__/2026-12-01T10:00:00Z/' -e 's/__RUN_ID__/20261201T100000Z/' \
    "$f" >"$work/$name"
done
# The results-reader Pod is a heredoc in walkthrough.sh (between <<'YAML' and YAML).
awk '/<<.YAML.$/ {on = 1; next} /^YAML$/ {on = 0} on' "$here/walkthrough.sh" \
  >"$work/walkthrough-reader-pod.yaml"
if [ ! -s "$work/walkthrough-reader-pod.yaml" ]; then
  fail "walkthrough.sh: no <<'YAML' manifest found"
fi

# --- 1. schemas ---------------------------------------------------------------------------------
for v in $K8S_VERSIONS; do
  for f in "$work"/*.yaml; do
    if out="$("$venv/bin/kubernetes-validate" --strict --quiet -k "$v" "$f" 2>&1)"; then
      ok "schema $v: $(basename "$f")"
    else
      fail "schema $v: $(basename "$f"): $out"
    fi
  done
done

# --- 2. the sharding contract and cross-references ---------------------------------------------
if "$py" - "$here" "$work" "$root" <<'PY'; then
import re, sys, pathlib
import yaml

here, work, root = (pathlib.Path(p) for p in sys.argv[1:4])
problems = []

def check(cond, msg):
    if not cond:
        problems.append(msg)

def docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]

def one(path, kind):
    found = [d for d in docs(path) if d.get("kind") == kind]
    check(len(found) == 1, f"{path.name}: expected one {kind}, found {len(found)}")
    return found[0] if found else {}

def container(job):
    cs = job.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
    check(len(cs) == 1, f"job/{job.get('metadata', {}).get('name')}: expected one container")
    return cs[0] if cs else {}

def env_names(c):
    return {e["name"] for e in c.get("env", [])}

def refs(strings):
    return {m for s in strings for m in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", s)}

cm = one(work / "scenario-configmap.yaml", "ConfigMap")
pvc = one(work / "results-pvc.yaml", "PersistentVolumeClaim")
secret = one(work / "secret.yaml", "Secret")
deploy = one(work / "mock.yaml", "Deployment")
svc = one(work / "mock.yaml", "Service")
shards = one(work / "shards-job.yaml", "Job")
merge = one(work / "merge-job.yaml", "Job")
reader = one(work / "walkthrough-reader-pod.yaml", "Pod")

# The shards Job: one run split into N stripes, no retries.
spec = shards.get("spec", {})
pod = spec.get("template", {}).get("spec", {})
c = container(shards)
args = [str(a) for a in c.get("args", [])]
command = [str(a) for a in c.get("command", [])]
check(spec.get("completionMode") == "Indexed", "shards-job: completionMode must be Indexed")
n = spec.get("completions")
check(isinstance(n, int) and n >= 1, "shards-job: completions must be a whole number >= 1")
check(spec.get("parallelism") == n,
      f"shards-job: parallelism ({spec.get('parallelism')}) must equal completions ({n}): every shard starts at START_AT")
check(spec.get("backoffLimit") == 0, "shards-job: backoffLimit must be 0 (a retry re-sends a stripe)")
check(spec.get("backoffLimitPerIndex") in (None, 0), "shards-job: backoffLimitPerIndex, if set, must be 0")
check(pod.get("restartPolicy") == "Never", "shards-job: restartPolicy must be Never")
check(args[:2] == ["run", "/config/scenario.toml"], f"shards-job: args must start with run /config/scenario.toml, not {args[:2]}")
def flag(name):
    return args[args.index(name) + 1] if name in args and args.index(name) + 1 < len(args) else None
shard = flag("--shard")
check(shard == f"$(JOB_COMPLETION_INDEX)/{n}",
      f"shards-job: --shard must be $(JOB_COMPLETION_INDEX)/{n} (completions), not {shard}")
out = flag("--output") or ""
check("$(JOB_COMPLETION_INDEX)" in out and out.startswith("/results/") and out.endswith(".json"),
      f"shards-job: --output must be a per-shard /results/...-$(JOB_COMPLETION_INDEX).json, not {out!r}")
check(flag("--start-at") == "$(START_AT)", "shards-job: --start-at must be $(START_AT)")
names = env_names(c)
for var in sorted(refs(args + command)):
    check(var in names, f"shards-job: $({var}) is used but not in env (Kubernetes would pass it literally)")
raw = (here / "shards-job.yaml").read_text()
for ph in ("__START_AT__", "__RUN_ID__"):
    check(ph in raw, f"shards-job.yaml: placeholder {ph} (replaced by walkthrough.sh) is missing")
key = [e for e in c.get("env", []) if e.get("name") == "OPENAI_API_KEY"]
check(len(key) == 1, "shards-job: OPENAI_API_KEY must come from the Secret")
if key:
    ref = key[0].get("valueFrom", {}).get("secretKeyRef", {})
    check(ref.get("name") == secret.get("metadata", {}).get("name"), "shards-job: secretKeyRef must name the Secret of secret.yaml")
    check(ref.get("key") in secret.get("stringData", {}), "shards-job: secretKeyRef key is not in secret.yaml")
    check(ref.get("optional") is True, "shards-job: the key must be optional (the mock walkthrough runs without one)")
    check("value" not in key[0], "shards-job: OPENAI_API_KEY must not have a literal value")
res = c.get("resources", {})
check(res.get("requests", {}).get("cpu") == res.get("limits", {}).get("cpu") and "--threads" in args,
      "shards-job: cpu request == limit and an explicit --threads (docs/scale-out.md)")

# The merge Job reads what the shards wrote.
mspec = merge.get("spec", {})
mc = container(merge)
script = " ".join(str(a) for a in mc.get("command", []) + mc.get("args", []))
check(mspec.get("backoffLimit") == 0, "merge-job: backoffLimit must be 0")
check(mspec.get("template", {}).get("spec", {}).get("restartPolicy") == "Never", "merge-job: restartPolicy must be Never")
check("llmload merge" in script and "shard-*.json" in script, "merge-job: must run llmload merge over shard-*.json")
check("__RUN_ID__" in (here / "merge-job.yaml").read_text(), "merge-job.yaml: placeholder __RUN_ID__ is missing")
# The shards write /results/$(RUN_ID)/shard-$(JOB_COMPLETION_INDEX).json; the merge script
# must glob that same directory (its $dir, with $RUN_ID from its own env).
out_dir = out.rsplit("/", 1)[0].replace("$(RUN_ID)", "$RUN_ID")
dirs = re.findall(r'\bdir="([^"]*)"', script)
resolved = script.replace('"$dir"', dirs[0]).replace("$dir", dirs[0]) if len(dirs) == 1 else script
check(out_dir + "/shard-*.json" in resolved, f"merge-job: must merge {out_dir}/shard-*.json, the shards' files")
check("RUN_ID" in env_names(mc), "merge-job: RUN_ID must be in env")

# Cross-references: every pod mounts the same ConfigMap / PVC and uses one image.
cm_name = cm.get("metadata", {}).get("name")
pvc_name = pvc.get("metadata", {}).get("name")
images = set()
for what, obj in (("shards-job", shards), ("merge-job", merge), ("mock", deploy), ("reader pod", reader)):
    pspec = obj.get("spec", {}) if obj.get("kind") == "Pod" else obj.get("spec", {}).get("template", {}).get("spec", {})
    for v in pspec.get("volumes", []):
        if "configMap" in v:
            check(v["configMap"].get("name") == cm_name, f"{what}: mounts ConfigMap {v['configMap'].get('name')}, not {cm_name}")
        if "persistentVolumeClaim" in v:
            check(v["persistentVolumeClaim"].get("claimName") == pvc_name, f"{what}: mounts PVC {v['persistentVolumeClaim'].get('claimName')}, not {pvc_name}")
    for ct in pspec.get("containers", []):
        images.add(ct.get("image"))
        check(ct.get("imagePullPolicy") in ("IfNotPresent", "Never"),
              f"{what}: imagePullPolicy must be IfNotPresent or Never (the image is loaded into the cluster, not pulled)")
    check(pspec.get("securityContext", {}).get("runAsNonRoot") is True, f"{what}: runAsNonRoot must be true")
check(len(images) == 1, f"all pods must use one image, found {sorted(map(str, images))}")

# The scenario targets the mock Service (the same port), and the claims are there.
data = cm.get("data", {})
check({"scenario.toml", "claims.toml"} <= set(data), "ConfigMap: needs scenario.toml and claims.toml")
try:
    import tomllib  # Python 3.11+ (Debian 12's python3)
    scen = tomllib.loads(data.get("scenario.toml", ""))
    claims = tomllib.loads(data.get("claims.toml", ""))
except ImportError:
    problems.append("python3 >= 3.11 (tomllib) is needed to read the scenario and claims")
    scen, claims = {}, {}
except tomllib.TOMLDecodeError as e:
    problems.append(f"ConfigMap: TOML: {e}")
    scen, claims = {}, {}
port = svc.get("spec", {}).get("ports", [{}])[0].get("port")
want = f"http://{svc.get('metadata', {}).get('name')}:{port}/v1"
urls = [t.get("base_url") for t in scen.get("targets", [])]
check(want in urls, f"scenario: no target with base_url {want} (the mock Service), found {urls}")
check(all(t.get("api_key_env") in (None, "OPENAI_API_KEY") for t in scen.get("targets", [])),
      "scenario: api_key_env must be OPENAI_API_KEY, the variable the Job sets")
check(all("expr" in cl for cl in claims.get("claims", [])) and claims.get("claims"), "claims.toml: every [[claims]] needs expr")
margs = " ".join(str(a) for a in deploy.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [{}])[0].get("args", []))
check(f"--port={port}" in margs and "--host=0.0.0.0" in margs, "mock: must listen on 0.0.0.0 and the Service's port")

# kustomization: the standing resources only, all present.
kust = yaml.safe_load((here / "kustomization.yaml").read_text())
for r in kust.get("resources", []):
    check((here / r).is_file(), f"kustomization: {r} does not exist")
for r in ("secret.yaml", "shards-job.yaml", "merge-job.yaml"):
    check(r not in kust.get("resources", []), f"kustomization: must not list {r}")

# Dockerfile: COPY sources exist in the build context (the repository root); non-root user.
dockerfile = (here / "Dockerfile").read_text()
for line in dockerfile.splitlines():
    m = re.match(r"\s*COPY\s+(?!--from)(.+)", line)
    if m:
        for src in m.group(1).split()[:-1]:
            check((root / src).exists(), f"Dockerfile: COPY source {src} does not exist in the repository root")
users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
check(users and not users[-1].startswith(("0", "root")), "Dockerfile: the final USER must be non-root")
check("/usr/local/bin/llmload" in dockerfile, "Dockerfile: the binary must be /usr/local/bin/llmload")

for p in problems:
    print(f"FAIL: {p}", file=sys.stderr)
sys.exit(1 if problems else 0)
PY
  ok "sharding contract and cross-references"
else
  fail "sharding contract and cross-references (see above)"
fi

# --- 3. kubectl, parse level --------------------------------------------------------------------
if command -v kubectl >/dev/null; then
  if out="$(kubectl kustomize "$here" 2>&1)"; then
    ok "kubectl kustomize"
  else
    fail "kubectl kustomize: $out"
  fi
else
  echo "skip: kubectl not installed (kubectl kustomize)"
fi

# --- 4. the scenario, by llmload itself ---------------------------------------------------------
bin="${LLMLOAD_BIN:-}"
for b in "$root/target/release/llmload" "$root/target/debug/llmload"; do
  if [ -z "$bin" ] && [ -x "$b" ]; then bin="$b"; fi
done
if [ -n "$bin" ]; then
  "$py" -c 'import sys, yaml; d = yaml.safe_load(open(sys.argv[1])); open(sys.argv[2], "w").write(d["data"]["scenario.toml"])' \
    "$work/scenario-configmap.yaml" "$work/scenario.toml"
  if out="$(OPENAI_API_KEY=validate-only "$bin" validate "$work/scenario.toml" 2>&1)"; then
    ok "llmload validate: the ConfigMap's scenario ($bin)"
  else
    fail "llmload validate: the ConfigMap's scenario: $out"
  fi
else
  echo "skip: no llmload binary (cargo build, or LLMLOAD_BIN) for llmload validate"
fi

# --- 5. the scripts -----------------------------------------------------------------------------
for s in "$here/walkthrough.sh" "$here/validate.sh"; do
  if bash -n "$s"; then ok "bash -n $(basename "$s")"; else fail "bash -n $(basename "$s")"; fi
  if command -v shellcheck >/dev/null; then
    if out="$(shellcheck "$s" 2>&1)"; then ok "shellcheck $(basename "$s")"; else fail "shellcheck $(basename "$s"): $out"; fi
  fi
done

if [ "$failures" -gt 0 ]; then
  echo "deploy/kubernetes: $failures check(s) failed" >&2
  exit 1
fi
echo "deploy/kubernetes: all checks passed"
