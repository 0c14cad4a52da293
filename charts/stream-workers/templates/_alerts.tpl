{{/*
The alert groups of files/alerts.yaml (the single source), with values applied: alerts in
monitoring.prometheusRule.disabled left out, per-alert `for`/`severity` overrides, extra labels, and
the runbook base URL.
*/}}
{{- define "sw.alertGroups" -}}
{{- $pr := .Values.monitoring.prometheusRule -}}
{{- $src := .Files.Get "files/alerts.yaml" | fromYaml -}}
{{- $defaultBase := "https://github.com/stream-workers/stream-workers/blob/main/docs/runbook.md" -}}
{{- $groups := list -}}
{{- range $src.groups -}}
{{- $rules := list -}}
{{- range .rules -}}
{{- if not (has .alert $pr.disabled) -}}
{{- $rule := deepCopy . -}}
{{- $o := get $pr.overrides .alert | default dict -}}
{{- if $o.for }}{{ $_ := set $rule "for" $o.for }}{{ end -}}
{{- $labels := merge (deepCopy $pr.additionalAlertLabels) (deepCopy $rule.labels) -}}
{{- if $o.severity }}{{ $_ := set $labels "severity" $o.severity }}{{ end -}}
{{- $_ := set $rule "labels" $labels -}}
{{- $ann := deepCopy $rule.annotations -}}
{{- $_ := set $ann "runbook_url" (replace $defaultBase $pr.runbookBaseUrl $ann.runbook_url) -}}
{{- $_ := set $rule "annotations" $ann -}}
{{- $rules = append $rules $rule -}}
{{- end -}}
{{- end -}}
{{- if $rules -}}
{{- $groups = append $groups (dict "name" .name "rules" $rules) -}}
{{- end -}}
{{- end -}}
{{- toYaml (dict "groups" $groups) -}}
{{- end -}}
