#!/usr/bin/env bash
# End to end on a kind cluster (needs Docker and kind; kubectl and helm come from .tools/bin):
# build the image, load it into kind, helm install with the built-in autoscaler, produce a burst,
# watch the workers scale up and back down, and assert that no event was lost.
#
#   bash scripts/e2e-kind.sh                 # creates (and afterwards deletes) cluster stream-workers-e2e
#   KIND_CLUSTER=dev KEEP=1 bash scripts/e2e-kind.sh   # reuse a cluster, keep everything afterwards
#   EVENTS=20000 MAX_REPLICAS=8 bash scripts/e2e-kind.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.tools/bin:$PATH"
CLUSTER=${KIND_CLUSTER:-stream-workers-e2e}
NS=${NAMESPACE:-stream-workers-e2e}
RELEASE=sw
EVENTS=${EVENTS:-5000}
MAX_REPLICAS=${MAX_REPLICAS:-5}
IMAGE=stream-workers
TAG=e2e
STREAM=events
GROUP=workers
TIMEOUT_S=${TIMEOUT_S:-600}

for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null 2>&1 || { echo "e2e-kind: $tool not found (kubectl/helm: bash scripts/install-tools.sh)" >&2; exit 1; }
done

created=0
if ! kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  kind create cluster --name "$CLUSTER" --wait 120s
  created=1
fi
cleanup() {
  status=$?
  if [ "$status" -ne 0 ]; then
    echo "e2e-kind: FAILED; state for debugging:" >&2
    kubectl -n "$NS" get all,pvc 2>&1 | sed 's/^/  /' >&2 || true
    kubectl -n "$NS" logs deploy/$RELEASE-stream-workers-autoscaler --tail=50 2>&1 | sed 's/^/  autoscaler: /' >&2 || true
  fi
  if [ "${KEEP:-0}" != 1 ]; then
    kubectl delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
    [ "$created" = 1 ] && kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
  fi
  exit $status
}
trap cleanup EXIT
kubectl config use-context "kind-$CLUSTER" >/dev/null

echo "e2e-kind: building and loading $IMAGE:$TAG"
IMAGE=$IMAGE TAG=$TAG bash scripts/build-images.sh
kind load docker-image "$IMAGE:$TAG" --name "$CLUSTER"
# The chart's pinned redis:7.2.16 (values.yaml redis.image.digest).
docker pull -q redis@sha256:0637954999d01b7c9ce9167db2da50656e2590d3b884f1c600c5f63bb6e6773c >/dev/null && kind load docker-image redis@sha256:0637954999d01b7c9ce9167db2da50656e2590d3b884f1c600c5f63bb6e6773c --name "$CLUSTER"

kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f -
kubectl label namespace "$NS" pod-security.kubernetes.io/enforce=restricted --overwrite

echo "e2e-kind: installing the chart (builtin autoscaling, 0..$MAX_REPLICAS workers)"
helm upgrade --install "$RELEASE" charts/stream-workers --namespace "$NS" --wait --timeout 5m \
  --set image.repository=$IMAGE --set image.tag=$TAG --set image.pullPolicy=Never \
  --set stream=$STREAM --set group=$GROUP \
  --set autoscaling.mode=builtin --set autoscaling.minReplicas=0 --set autoscaling.maxReplicas="$MAX_REPLICAS" \
  --set autoscaling.targetPerReplica=200 --set autoscaling.pollingIntervalSeconds=2 \
  --set autoscaling.cooldownPeriodSeconds=30 --set autoscaling.scaleDownWindowSeconds=30 \
  --set worker.simulation.workMs=20 --set worker.concurrency=10 \
  --set redis.persistence.size=1Gi

REDIS_POD=$RELEASE-stream-workers-redis-0
WORKER=deploy/$RELEASE-stream-workers-worker
rcli() { kubectl -n "$NS" exec -i "$REDIS_POD" -- redis-cli "$@"; }
group_field() { # XINFO GROUPS field of our group
  rcli XINFO GROUPS "$STREAM" 2>/dev/null | awk -v f="$1" 'prev==f {print; exit} {prev=$0}'
}

# The group exists before the burst (a worker would create it at 0 too).
rcli XGROUP CREATE "$STREAM" "$GROUP" 0 MKSTREAM >/dev/null 2>&1 || true
start_replicas=$(kubectl -n "$NS" get "$WORKER" -o jsonpath='{.spec.replicas}')
echo "e2e-kind: worker replicas before the burst: $start_replicas; producing $EVENTS events"
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
seq 1 "$EVENTS" | awk -v now="$now" -v stream="$STREAM" \
  '{printf "XADD %s * specversion 1.0 id e2e-%d source /e2e type e2e.burst time %s datacontenttype application/json data \"{\\\"n\\\":%d}\"\n", stream, $1, now, $1}' \
  | rcli >/dev/null

echo "e2e-kind: waiting for the workers to scale up"
peak=0
deadline=$((SECONDS + TIMEOUT_S))
while :; do
  replicas=$(kubectl -n "$NS" get "$WORKER" -o jsonpath='{.spec.replicas}')
  [ "${replicas:-0}" -gt "$peak" ] && peak=$replicas
  lag=$(group_field lag); pending=$(group_field pending)
  printf '  replicas=%s lag=%s pending=%s\n' "$replicas" "$lag" "$pending"
  if [ "$peak" -ge 2 ] && [ "$lag" = 0 ] && [ "$pending" = 0 ]; then break; fi
  [ $SECONDS -lt $deadline ] || { echo "e2e-kind: backlog not drained within ${TIMEOUT_S}s (peak replicas $peak)" >&2; exit 1; }
  sleep 3
done
echo "e2e-kind: drained with a peak of $peak replicas"

read_count=$(group_field entries-read)
dlq=$(rcli XLEN "$STREAM:dlq")
[ "$read_count" -ge "$EVENTS" ] || { echo "e2e-kind: only $read_count of $EVENTS entries were read by the group" >&2; exit 1; }
[ "$dlq" = 0 ] || { echo "e2e-kind: $dlq events were dead-lettered" >&2; exit 1; }
echo "e2e-kind: no loss: $read_count entries read and acked, 0 pending, 0 dead-lettered"

echo "e2e-kind: waiting for the scale-down to 0 (cooldown 30 s)"
deadline=$((SECONDS + TIMEOUT_S))
until [ "$(kubectl -n "$NS" get "$WORKER" -o jsonpath='{.spec.replicas}')" = 0 ]; do
  [ $SECONDS -lt $deadline ] || { echo "e2e-kind: workers did not scale back to 0" >&2; exit 1; }
  sleep 5
done
echo "e2e-kind: PASS (scaled 0 -> $peak -> 0, $EVENTS events, none lost)"
