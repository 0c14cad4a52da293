{{/*
Worker pools. `workers` is a map of pools; each pool is `workerDefaults` with the pool's own values
merged over it (maps key by key; a value of null removes the default). An empty map renders one pool
named `worker` (the single-pool chart of earlier versions). The deprecated `worker:` block is merged
over `workerDefaults` first, so values written for the single pool keep rendering the same pool.
*/}}

{{/* Deep merge: dict "base" "over" → JSON. Maps merge key by key, null deletes, anything else replaces. */}}
{{- define "sw.deepMerge" -}}
{{- $out := deepCopy (default dict .base) -}}
{{- range $k, $v := (default dict .over) -}}
{{- if kindIs "invalid" $v -}}
{{- $_ := unset $out $k -}}
{{- else if and (kindIs "map" $v) (kindIs "map" (get $out $k)) -}}
{{- $_ := set $out $k (include "sw.deepMerge" (dict "base" (get $out $k) "over" $v) | fromJson) -}}
{{- else -}}
{{- $_ := set $out $k $v -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* Components whose object names a pool name would collide with. */}}
{{- define "sw.reservedPoolNames" -}}
producer lag-exporter autoscaler redis redis-headless dashboard monitoring services
{{- end -}}

{{/*
The resolved pools as JSON {"pools": [...]}, sorted by name. Each pool: its merged settings plus
name, deployment (object name), stream, group, image (reference), autoscaling (the top-level
`autoscaling` with the pool's overrides), external (true when the pool scales a Deployment the chart
does not render) and podSelector (the pods' labels as key=value,…; empty when unknown).
*/}}
{{- define "sw.pools" -}}
{{- $root := . -}}
{{- $defaults := include "sw.deepMerge" (dict "base" .Values.workerDefaults "over" .Values.worker) | fromJson -}}
{{- $map := .Values.workers -}}
{{- if not $map }}{{ $map = dict "worker" dict }}{{ end -}}
{{- $reserved := splitList " " (include "sw.reservedPoolNames" .) -}}
{{- $pools := list -}}
{{- $seen := dict -}}
{{- range $name := keys $map | sortAlpha -}}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" $name) -}}
{{- fail (printf "workers.%s: a pool name must be lower case letters, digits and -, starting and ending with a letter or digit" $name) -}}
{{- end -}}
{{- if has $name $reserved -}}
{{- fail (printf "workers.%s: %q is the name of another component of the chart; choose another pool name" $name $name) -}}
{{- end -}}
{{- $p := include "sw.deepMerge" (dict "base" $defaults "over" (default dict (get $map $name))) | fromJson -}}
{{- $_ := set $p "name" $name -}}
{{- $_ := set $p "stream" (default $root.Values.stream $p.stream) -}}
{{- $_ := set $p "group" (default $root.Values.group $p.group) -}}
{{- $key := printf "%s/%s" $p.stream $p.group -}}
{{- if hasKey $seen $key -}}
{{- fail (printf "workers.%s: stream %q and group %q are already consumed by pool %q; give each pool reading the same stream its own group" $name $p.stream $p.group (get $seen $key)) -}}
{{- end -}}
{{- $_ := set $seen $key $name -}}
{{- if and $p.deadLetterStream (gt (int $root.Values.streamShards) 1) -}}
{{- fail (printf "workers.%s.deadLetterStream: must stay empty with streamShards=%v (each shard has its own dead-letter stream, %s{i}:dlq)" $name $root.Values.streamShards $p.stream) -}}
{{- end -}}
{{- $ext := default dict $p.external -}}
{{- $_ := set $p "external" (not (empty $ext.deploymentName)) -}}
{{- $_ := set $p "externalPodLabels" (default dict $ext.podLabels) -}}
{{- if $p.external -}}
{{- $_ := set $p "deployment" $ext.deploymentName -}}
{{- $sel := list -}}
{{- range $k, $v := $p.externalPodLabels }}{{ $sel = append $sel (printf "%s=%s" $k $v) }}{{ end -}}
{{- $_ := set $p "podSelector" (join "," (sortAlpha $sel)) -}}
{{- else -}}
{{- $_ := set $p "deployment" (include "sw.componentName" (dict "root" $root "component" $name)) -}}
{{- $_ := set $p "podSelector" (printf "app.kubernetes.io/name=%s,app.kubernetes.io/instance=%s,app.kubernetes.io/component=%s" (include "sw.name" $root) $root.Release.Name $name) -}}
{{- end -}}
{{- $img := default dict $p.image -}}
{{- if $img.repository -}}
{{- $_ := set $p "imageRef" (ternary (printf "%s@%s" $img.repository $img.digest) (printf "%s:%s" $img.repository (default $root.Chart.AppVersion $img.tag)) (not (empty $img.digest))) -}}
{{- else -}}
{{- $_ := set $p "imageRef" (include "sw.image" $root) -}}
{{- end -}}
{{- $_ := set $p "pullPolicy" (default $root.Values.image.pullPolicy $img.pullPolicy) -}}
{{- $auto := include "sw.deepMerge" (dict "base" (omit $root.Values.autoscaling "builtin" "kedaRedis") "over" (default dict $p.autoscaling)) | fromJson -}}
{{- if lt (int $auto.maxReplicas) (int $auto.minReplicas) -}}
{{- fail (printf "workers.%s.autoscaling: maxReplicas (%v) is below minReplicas (%v)" $name $auto.maxReplicas $auto.minReplicas) -}}
{{- end -}}
{{- if and (eq $auto.mode "builtin") (eq $auto.scalingMode "rate") (gt (int $root.Values.streamShards) 1) -}}
{{- fail (printf "workers.%s.autoscaling.scalingMode: rate is not available with streamShards=%v (the rate signal reads one stream); use lag" $name $root.Values.streamShards) -}}
{{- end -}}
{{- $_ := set $p "autoscaling" $auto -}}
{{- $pools = append $pools $p -}}
{{- end -}}
{{- toJson (dict "pools" $pools) -}}
{{- end -}}

{{/* "true" when some pool is scaled by the chart's own autoscaler. */}}
{{- define "sw.anyBuiltin" -}}
{{- range (include "sw.pools" . | fromJson).pools }}{{ if eq .autoscaling.mode "builtin" }}true{{ end }}{{ end -}}
{{- end -}}

{{/* "true" when some pool is scaled by KEDA's external trigger on the lag exporter's gRPC scaler. */}}
{{- define "sw.anyKedaExternal" -}}
{{- range (include "sw.pools" . | fromJson).pools }}{{ if eq .autoscaling.mode "keda-external" }}true{{ end }}{{ end -}}
{{- end -}}

{{/* Labels of one pool's objects: the component is the pool's name. dict "root" "pool". */}}
{{- define "sw.poolLabels" -}}
{{ include "sw.labels" (dict "root" .root "component" .pool.name) }}
stream-workers.io/pool: {{ .pool.name }}
{{- end -}}
