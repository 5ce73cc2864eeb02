#!/usr/bin/env bash
# A sharded llmload run on a local Kubernetes cluster, end to end, without an API key:
# build the image, load it into the cluster, start the shared mock server, run 4 shards of one
# 200 req/s run from a common start instant, merge them, check the claims, and copy the merged
# result, claims verdicts and HTML report to results/k8s-<run>/ on this machine.
#
#   kind create cluster                      # or: minikube start --cpus 6 --memory 8g
#   deploy/kubernetes/walkthrough.sh         # CLUSTER=minikube deploy/kubernetes/walkthrough.sh
#
# Needs: docker, kubectl, kind or minikube, GNU date (macOS: brew install coreutils and put its
# gnubin first on PATH). The cluster needs ~6 CPUs free for 4 one-core shards + the mock.
#
# Environment:
#   CLUSTER       kind (default) or minikube
#   KIND_CLUSTER  name of the kind cluster (default: kind)
#   IMAGE         image tag (default: llmload:dev; the manifests name llmload:dev)
#   LEAD_S        seconds from now to the common start instant (default: 90); every shard pod
#                 must be running before then, or it refuses (exit 2) and the Job fails
#   SKIP_BUILD=1  use the image already in the cluster
#
# See docs/scale-out.md. This script was written without a cluster to run it on.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

CLUSTER="${CLUSTER:-kind}"
KIND_CLUSTER="${KIND_CLUSTER:-kind}"
IMAGE="${IMAGE:-llmload:dev}"
LEAD_S="${LEAD_S:-90}"

say() { printf '\n== %s\n' "$*"; }

# Waits until Job $1 has the condition Complete (returns 0) or Failed (returns 1), at most $2
# seconds. `kubectl wait --for=condition=complete` alone would sit out its whole timeout on a
# Job that failed.
wait_job() {
  local job="$1" limit="$2" waited=0 complete failed
  while [ "$waited" -lt "$limit" ]; do
    complete="$(kubectl get job "$job" -o jsonpath='{.status.conditions[?(@.type=="Complete")].status}')"
    failed="$(kubectl get job "$job" -o jsonpath='{.status.conditions[?(@.type=="Failed")].status}')"
    if [ "$complete" = "True" ]; then return 0; fi
    if [ "$failed" = "True" ]; then return 1; fi
    sleep 5
    waited=$((waited + 5))
  done
  echo "job/$job: neither complete nor failed after ${limit} s" >&2
  return 1
}

for tool in docker kubectl date sed; do
  command -v "$tool" >/dev/null || { echo "walkthrough: $tool is required" >&2; exit 2; }
done
if ! date -u -d '+1 seconds' +%s >/dev/null 2>&1; then
  echo "walkthrough: GNU date is required (date -d)" >&2
  exit 2
fi
if [ "$IMAGE" != "llmload:dev" ]; then
  echo "walkthrough: the manifests name llmload:dev; to use $IMAGE, change image: in them too" >&2
fi

if [ "${SKIP_BUILD:-0}" != "1" ]; then
  say "building $IMAGE (release build inside the image: several minutes)"
  docker build -f deploy/kubernetes/Dockerfile -t "$IMAGE" .
  say "loading $IMAGE into the $CLUSTER cluster"
  case "$CLUSTER" in
    kind) kind load docker-image "$IMAGE" --name "$KIND_CLUSTER" ;;
    minikube) minikube image load "$IMAGE" ;;
    *) echo "walkthrough: CLUSTER must be kind or minikube" >&2; exit 2 ;;
  esac
fi

say "mock server, results volume, scenario and claims"
kubectl apply -k deploy/kubernetes
# The scenario names OPENAI_API_KEY and llmload refuses an http(s) target whose variable is
# unset, so the Secret must exist. Keep one that is already there (it may hold a real key for
# another scenario); otherwise create one with a dummy value, which the mock ignores.
if ! kubectl get secret llmload-api-key >/dev/null 2>&1; then
  kubectl create secret generic llmload-api-key \
    --from-literal=OPENAI_API_KEY=dummy-key-the-mock-ignores
fi
kubectl rollout status deployment/llmload-mock --timeout=180s

# One start instant for every shard, far enough ahead for all pods to be scheduled and running,
# and a run directory named after it (no colons: it is also a kubectl cp path).
START_AT="$(date -u -d "+${LEAD_S} seconds" +%Y-%m-%dT%H:%M:%SZ)"
RUN_ID="$(date -u -d "$START_AT" +%Y%m%dT%H%M%SZ)"
say "run $RUN_ID: 4 shards start at $START_AT (in ${LEAD_S} s)"

# A Job's pod template cannot be changed: remove the previous run's Jobs (the files on the
# volume stay, each run in its own directory).
kubectl delete job llmload-shards llmload-merge --ignore-not-found --wait=true
sed -e "s/__START_AT__/${START_AT}/" -e "s/__RUN_ID__/${RUN_ID}/" \
  deploy/kubernetes/shards-job.yaml | kubectl apply -f -

# warmup 5 s + duration 60 s + cooldown 2 s + drain, after the lead.
if ! wait_job llmload-shards $((LEAD_S + 300)); then
  echo "walkthrough: the shards Job failed; its pods' logs:" >&2
  kubectl logs -l app.kubernetes.io/component=shard --prefix --tail=50 >&2 || true
  kubectl describe job llmload-shards >&2 || true
  exit 1
fi
kubectl get pods -l app.kubernetes.io/component=shard -o wide

say "merging and checking run $RUN_ID"
sed -e "s/__RUN_ID__/${RUN_ID}/" deploy/kubernetes/merge-job.yaml | kubectl apply -f -
merge_ok=1
wait_job llmload-merge 300 || merge_ok=0
kubectl logs job/llmload-merge || true
if [ "$merge_ok" = "0" ]; then
  echo "walkthrough: the merge Job failed (a failed claim, an invalid run or a refused merge: see its log above); copying what it wrote" >&2
fi

say "copying results/k8s-$RUN_ID from the results volume"
# A pod that only mounts the volume, so kubectl cp (which needs tar in the container; the
# llmload image has it) can read it.
kubectl delete pod llmload-results-reader --ignore-not-found --wait=true
kubectl apply -f - <<'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: llmload-results-reader
  labels:
    app.kubernetes.io/name: llmload
    app.kubernetes.io/component: results-reader
spec:
  restartPolicy: Never
  securityContext:
    runAsNonRoot: true
    runAsUser: 10001
    runAsGroup: 10001
  containers:
    - name: reader
      image: llmload:dev
      imagePullPolicy: IfNotPresent
      command: ["sleep", "3600"]
      resources:
        requests:
          cpu: 50m
          memory: 32Mi
        limits:
          cpu: 200m
          memory: 64Mi
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities:
          drop: ["ALL"]
      volumeMounts:
        - name: results
          mountPath: /results
          readOnly: true
  volumes:
    - name: results
      persistentVolumeClaim:
        claimName: llmload-results
YAML
kubectl wait --for=condition=Ready pod/llmload-results-reader --timeout=120s
# kubectl cp creates results/k8s-<run> and puts the directory's files in it.
mkdir -p results
rm -rf "results/k8s-$RUN_ID"
kubectl cp "llmload-results-reader:/results/$RUN_ID" "results/k8s-$RUN_ID"
kubectl delete pod llmload-results-reader --wait=false

ls -l "results/k8s-$RUN_ID"
echo
echo "merged result: results/k8s-$RUN_ID/run.json   report: results/k8s-$RUN_ID/report.html"
echo "compare with one process:  llmload compare results/k8s-$RUN_ID/run.json <single-process result>"
[ "$merge_ok" = "1" ]
