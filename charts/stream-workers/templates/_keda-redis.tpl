{{/*
autoscaling.mode=keda-redis: KEDA reads each pool's group lag from Redis itself. The trigger type
follows the topology (`redis-streams` for one server, `redis-sentinel-streams`, `redis-cluster-streams`),
with the same addresses, credentials and TLS files the services use. With streamShards > 1 the pool's
stream is the keys S{0} … S{N-1}; one trigger reads one key and KEDA's HPA takes the maximum over
triggers, so the chart renders a trigger per shard (named shard0, shard1, …) and sums them with
`advanced.scalingModifiers` (KEDA 2.12+): the pool scales on the total lag, as the built-in autoscaler.
*/}}

{{/* The TriggerAuthentication's secretTargetRef entries (root); empty when KEDA needs no secret. */}}
{{- define "sw.kedaRedisAuthRefs" -}}
{{- $e := .Values.externalRedis -}}
{{- if .Values.redis.enabled -}}
{{- if .Values.redis.auth.enabled }}
- parameter: password
  name: {{ include "sw.redisAuthSecret" . }}
  key: {{ .Values.redis.auth.passwordKey }}
{{- end }}
{{- else -}}
{{- if $e.passwordKey }}
- parameter: password
  name: {{ $e.existingSecret }}
  key: {{ $e.passwordKey }}
{{- end }}
{{- if $e.usernameKey }}
- parameter: username
  name: {{ $e.existingSecret }}
  key: {{ $e.usernameKey }}
{{- end }}
{{- if and $e.sentinel.hosts $e.sentinel.passwordKey }}
- parameter: sentinelPassword
  name: {{ include "sw.sentinelSecret" . }}
  key: {{ $e.sentinel.passwordKey }}
{{- end }}
{{- if include "sw.redisTlsFiles" . }}
{{- with $e.tls.caKey }}
- parameter: ca
  name: {{ $e.tls.existingSecret }}
  key: {{ . }}
{{- end }}
{{- if $e.tls.certKey }}
- parameter: cert
  name: {{ $e.tls.existingSecret }}
  key: {{ $e.tls.certKey }}
- parameter: key
  name: {{ $e.tls.existingSecret }}
  key: {{ $e.tls.keyKey }}
{{- end }}
{{- end }}
{{- end -}}
{{- end -}}

{{/* The trigger type of the topology. */}}
{{- define "sw.kedaRedisTriggerType" -}}
{{- $t := include "sw.redisTopology" . -}}
{{- if eq $t "sentinel" }}redis-sentinel-streams{{ else if eq $t "cluster" }}redis-cluster-streams{{ else }}redis-streams{{ end -}}
{{- end -}}

{{/* The triggers of one pool: dict root, pool, auth (the TriggerAuthentication's name, or ""). */}}
{{- define "sw.kedaRedisTriggers" -}}
{{- $root := .root -}}
{{- $e := $root.Values.externalRedis -}}
{{- $a := .pool.autoscaling -}}
{{- $topology := include "sw.redisTopology" $root -}}
{{- $shards := int $root.Values.streamShards -}}
{{- range $i := until $shards }}
- type: {{ include "sw.kedaRedisTriggerType" $root }}
  {{- if gt $shards 1 }}
  name: {{ printf "shard%d" $i }}
  {{- end }}
  metadata:
    {{- if eq $topology "chart" }}
    address: {{ printf "%s:6379" (include "sw.redisHost" $root) | quote }}
    {{- with $root.Values.redis.auth.username }}
    username: {{ . | quote }}
    {{- end }}
    {{- else }}
    {{- if eq $topology "sentinel" }}
    addresses: {{ join "," $e.sentinel.hosts | quote }}
    sentinelMaster: {{ $e.sentinel.masterName | quote }}
    {{- with $e.sentinel.username }}
    sentinelUsername: {{ . | quote }}
    {{- end }}
    {{- else if eq $topology "cluster" }}
    addresses: {{ join "," $e.cluster.nodes | quote }}
    {{- else }}
    address: {{ required "externalRedis.address (host:port) is required for autoscaling.mode=keda-redis with an external Redis" $e.address | quote }}
    {{- end }}
    {{- with $e.username }}
    username: {{ . | quote }}
    {{- end }}
    {{- end }}
    stream: {{ ternary (printf "%s{%d}" $.pool.stream $i) $.pool.stream (gt $shards 1) | quote }}
    consumerGroup: {{ $.pool.group | quote }}
    lagCount: {{ $a.targetPerReplica | int64 | quote }}
    activationLagCount: {{ $a.activation | int64 | quote }}
    {{- if or $root.Values.autoscaling.kedaRedis.enableTLS (and (ne $topology "chart") $e.tls.enabled) }}
    enableTLS: "true"
    {{- end }}
  {{- with $.auth }}
  authenticationRef:
    name: {{ . }}
  {{- end }}
{{- end }}
{{- end -}}

{{/* advanced.scalingModifiers summing the shard triggers (dict root, pool); empty with one shard. */}}
{{- define "sw.kedaRedisScalingModifiers" -}}
{{- $shards := int .root.Values.streamShards -}}
{{- if and (eq .pool.autoscaling.mode "keda-redis") (gt $shards 1) }}
{{- $terms := list }}
{{- range $i := until $shards }}{{ $terms = append $terms (printf "shard%d" $i) }}{{ end }}
# The pool's lag is the sum over its {{ $shards }} shards (one trigger each).
scalingModifiers:
  formula: {{ join " + " $terms | quote }}
  target: {{ .pool.autoscaling.targetPerReplica | int64 | quote }}
  activationTarget: {{ .pool.autoscaling.activation | int64 | quote }}
  metricType: AverageValue
{{- end }}
{{- end -}}
