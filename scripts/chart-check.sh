#!/usr/bin/env bash
# helm lint --strict + helm template for the default values and every
# charts/stream-workers/ci/*-values.yaml, then promtool on the alert rules (when installed).
# Tools come from scripts/install-tools.sh (`make tools`). Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
HELM=.tools/bin/helm
CHART=charts/stream-workers
[ -x "$HELM" ] || { echo "chart-check: $HELM missing: run 'bash scripts/install-tools.sh'" >&2; exit 1; }
"$HELM" version --short
n=0
for values in "" "$CHART"/ci/*-values.yaml; do
  label=${values:-defaults}
  args=()
  [ -n "$values" ] && args=(--values "$values")
  "$HELM" lint --strict --quiet "$CHART" "${args[@]}" >/dev/null || { echo "chart-check: helm lint failed for $label" >&2; "$HELM" lint --strict "$CHART" "${args[@]}" >&2; exit 1; }
  objects=$("$HELM" template sw "$CHART" --namespace stream-workers "${args[@]}" | grep -c '^kind: ')
  printf 'chart-check: %-55s lint ok, template ok (%s objects)\n' "$label" "$objects"
  n=$((n + 1))
done
if command -v promtool >/dev/null 2>&1; then
  promtool check rules "$CHART/files/alerts.yaml"
  promtool test rules charts/test/fixtures/alerts.test.yaml
else
  echo "chart-check: promtool not installed; skipped the alert rule checks (scripts/install-tools.sh installs it)" >&2
fi
echo "chart-check: $n values sets linted and rendered"
