#!/usr/bin/env bash
# helm lint --strict + helm template for the default values and every
# charts/stream-workers/ci/*-values.yaml, each for a current Kubernetes (Helm's default version) and
# for 1.20 (the oldest the chart supports; no API version or field 1.20 lacks may be rendered), then
# promtool on the alert rules (when installed). charts/test checks the renders in detail.
# Tools come from scripts/install-tools.sh (`make tools`). Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
HELM=.tools/bin/helm
CHART=charts/stream-workers
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion), and what a server of that
# version rejects: policy/v1 (1.21+), unhealthyPodEvictionPolicy (1.26+), matchLabelKeys (1.25+).
OLDEST=1.20.2
TOO_NEW_FOR_OLDEST='^apiVersion: policy/v1$|unhealthyPodEvictionPolicy:|matchLabelKeys:'
[ -x "$HELM" ] || { echo "chart-check: $HELM missing: run 'bash scripts/install-tools.sh'" >&2; exit 1; }
"$HELM" version --short
n=0
for values in "" "$CHART"/ci/*-values.yaml; do
  label=${values:-defaults}
  args=()
  [ -n "$values" ] && args=(--values "$values")
  "$HELM" lint --strict --quiet "$CHART" "${args[@]}" >/dev/null || { echo "chart-check: helm lint failed for $label" >&2; "$HELM" lint --strict "$CHART" "${args[@]}" >&2; exit 1; }
  objects=$("$HELM" template sw "$CHART" --namespace stream-workers "${args[@]}" | grep -c '^kind: ')
  "$HELM" lint --strict --quiet "$CHART" --kube-version "$OLDEST" "${args[@]}" >/dev/null || { echo "chart-check: helm lint --kube-version $OLDEST failed for $label" >&2; "$HELM" lint --strict "$CHART" --kube-version "$OLDEST" "${args[@]}" >&2; exit 1; }
  old=$("$HELM" template sw "$CHART" --namespace stream-workers --kube-version "$OLDEST" "${args[@]}")
  if too_new=$(grep -n -E "$TOO_NEW_FOR_OLDEST" <<<"$old"); then
    echo "chart-check: $label renders for Kubernetes $OLDEST what it lacks:" >&2; echo "$too_new" >&2; exit 1
  fi
  printf 'chart-check: %-55s lint ok, template ok (%s objects; %s objects for %s)\n' "$label" "$objects" "$(grep -c '^kind: ' <<<"$old")" "$OLDEST"
  n=$((n + 1))
done
if command -v promtool >/dev/null 2>&1; then
  promtool check rules "$CHART/files/alerts.yaml"
  promtool test rules charts/test/fixtures/alerts.test.yaml
else
  echo "chart-check: promtool not installed; skipped the alert rule checks (scripts/install-tools.sh installs it)" >&2
fi
echo "chart-check: $n values sets linted and rendered"
