#!/usr/bin/env bash
# Renders the plain manifests in k8s/ from the chart (default values: built-in autoscaler, in-chart
# Redis, namespace stream-workers). `make manifests` runs it; charts/test/manifests.test.ts fails when
# k8s/ is out of date. OUT_DIR=<dir> renders elsewhere (the test does that).
#
# Plain manifests fit one Kubernetes version range; the chart picks API versions and fields from the
# server it installs to (templates/_helpers.tpl). k8s/ is rendered for Kubernetes 1.27 and newer
# (policy/v1 PodDisruptionBudget with unhealthyPodEvictionPolicy, topology spread matchLabelKeys),
# pinned here so that the output does not follow Helm's own default version. On older clusters
# (1.20-1.26) install the chart instead.
set -euo pipefail
cd "$(dirname "$0")/.."
HELM=${HELM:-.tools/bin/helm}
OUT_DIR=${OUT_DIR:-k8s}
NAMESPACE=stream-workers
# The oldest Kubernetes the manifests are for, and the API a server of that version lists.
KUBE_VERSION=1.27.0
API_VERSIONS=policy/v1/PodDisruptionBudget
[ -x "$HELM" ] || { echo "render-manifests: $HELM missing: run 'bash scripts/install-tools.sh'" >&2; exit 1; }
mkdir -p "$OUT_DIR"
header="# Generated from charts/stream-workers by scripts/render-manifests.sh (make manifests). Do not edit:
# change the chart (or values) and re-run it. charts/test checks that this file is up to date.
# Redis requires a password: create its Secret first, e.g.
#   kubectl -n stream-workers create secret generic stream-workers-redis-auth --from-literal=password=\"\$(openssl rand -hex 24)\"
# For Kubernetes $KUBE_VERSION and newer; on older clusters install the chart (it picks the API versions)."
{
  echo "$header"
  # Plain manifests are not managed by Helm: drop Helm's bookkeeping labels.
  # No generated API token in a committed file: the producer reads the Secret
  # stream-workers-producer-tokens (key `tokens`, API_TOKENS_FILE format) that you create (docs/producer.md).
  "$HELM" template stream-workers charts/stream-workers --namespace "$NAMESPACE" \
    --kube-version "$KUBE_VERSION" --api-versions "$API_VERSIONS" \
    --set redis.auth.existingSecret=stream-workers-redis-auth \
    --set producer.auth.token.existingSecret=stream-workers-producer-tokens \
    | grep -v -e '^ *helm.sh/chart: ' -e '^ *app.kubernetes.io/managed-by: Helm$'
} > "$OUT_DIR/stream-workers.yaml"
cat > "$OUT_DIR/namespace.yaml" <<YAML
$header
apiVersion: v1
kind: Namespace
metadata:
  name: $NAMESPACE
  labels:
    # Every pod of the chart meets the "restricted" Pod Security Standard: enforce it.
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: latest
    pod-security.kubernetes.io/warn: restricted
YAML
cat > "$OUT_DIR/kustomization.yaml" <<YAML
$header
# kubectl apply -k k8s/    (or reference this directory from your own kustomization and patch it)
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: $NAMESPACE
resources:
  - namespace.yaml
  - stream-workers.yaml
images:
  # Point this at your registry, e.g. newName: registry.example.com/stream-workers, newTag: 1.2.3
  - name: ghcr.io/stream-workers/stream-workers
    newTag: "$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' charts/stream-workers/Chart.yaml)"
YAML
echo "render-manifests: wrote $OUT_DIR/stream-workers.yaml ($(grep -c '^kind: ' "$OUT_DIR/stream-workers.yaml") objects), namespace.yaml, kustomization.yaml"
