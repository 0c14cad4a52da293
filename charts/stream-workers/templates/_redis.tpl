{{/*
How every service reaches Redis: the REDIS_* variables, and the volumes holding the external Redis'
password and TLS files. One place for the topology rules (docs/kubernetes.md, "External Redis");
values.schema.json rejects the combinations these helpers would otherwise have to guess about.
*/}}

{{/* Where the Redis password and the TLS files are mounted in every service container. */}}
{{- define "sw.redisAuthDir" -}}/etc/stream-workers/redis-auth{{- end -}}
{{- define "sw.redisTlsDir" -}}/etc/stream-workers/redis-tls{{- end -}}

{{/* The topology: `chart` (the in-chart Redis), `sentinel`, `cluster` or `server` (one external server). */}}
{{- define "sw.redisTopology" -}}
{{- $e := .Values.externalRedis -}}
{{- if .Values.redis.enabled -}}chart
{{- else if $e.sentinel.hosts -}}sentinel
{{- else if $e.cluster.nodes -}}cluster
{{- else -}}server
{{- end -}}
{{- end -}}

{{/* The Secret holding the sentinels' password (`externalRedis.sentinel.existingSecret`, else `externalRedis.existingSecret`). */}}
{{- define "sw.sentinelSecret" -}}
{{- $e := .Values.externalRedis -}}
{{- default $e.existingSecret $e.sentinel.existingSecret -}}
{{- end -}}

{{/* "true" when the services talk TLS to the external Redis with files from `externalRedis.tls.existingSecret`. */}}
{{- define "sw.redisTlsFiles" -}}
{{- $t := .Values.externalRedis.tls -}}
{{- if and (not .Values.redis.enabled) $t.enabled $t.existingSecret }}true{{ end -}}
{{- end -}}

{{/*
REDIS_URL / REDIS_SENTINELS / REDIS_CLUSTER_NODES and the credentials and TLS settings of every
service. No password is ever in values or in a URL the chart writes: the in-chart Redis' password comes
from its Secret as REDIS_PASSWORD; an external Redis' password is a file of its Secret
(REDIS_PASSWORD_FILE, re-read at each reconnect: rotation without a restart), or inside the URL the
Secret holds. Also STREAM_SHARDS, the key layout every service that talks to Redis must agree on.
*/}}
{{- define "sw.redisEnv" -}}
{{- $e := .Values.externalRedis }}
{{- $topology := include "sw.redisTopology" . }}
{{- if eq $topology "chart" }}
- name: REDIS_URL
  value: {{ printf "redis://%s:6379" (include "sw.redisHost" .) | quote }}
{{- if .Values.redis.acl.enabled }}
{{- /* Each service's user and password come from sw.redisUserEnv (REDIS_USERNAME, REDIS_PASSWORD). */}}
{{- else if .Values.redis.auth.enabled }}
{{- with .Values.redis.auth.username }}
- name: REDIS_USERNAME
  value: {{ . | quote }}
{{- end }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "sw.redisAuthSecret" . }}
      key: {{ .Values.redis.auth.passwordKey }}
{{- end }}
{{- else }}
{{- if eq $topology "sentinel" }}
- name: REDIS_SENTINELS
  value: {{ join "," $e.sentinel.hosts | quote }}
- name: REDIS_SENTINEL_MASTER
  value: {{ required "externalRedis.sentinel.masterName is required with externalRedis.sentinel.hosts" $e.sentinel.masterName | quote }}
{{- with $e.sentinel.username }}
- name: REDIS_SENTINEL_USERNAME
  value: {{ . | quote }}
{{- end }}
{{- if $e.sentinel.passwordKey }}
- name: REDIS_SENTINEL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ required "externalRedis.sentinel.passwordKey needs externalRedis.sentinel.existingSecret or externalRedis.existingSecret" (include "sw.sentinelSecret" .) }}
      key: {{ $e.sentinel.passwordKey }}
{{- end }}
{{- else if eq $topology "cluster" }}
- name: REDIS_CLUSTER_NODES
  value: {{ join "," $e.cluster.nodes | quote }}
{{- else if and $e.existingSecret $e.urlKey (not $e.url) }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $e.existingSecret }}
      key: {{ $e.urlKey }}
{{- else }}
- name: REDIS_URL
  value: {{ required "externalRedis.url, externalRedis.existingSecret (with urlKey), externalRedis.sentinel.hosts or externalRedis.cluster.nodes is required when redis.enabled is false" $e.url | quote }}
{{- end }}
{{- if $e.username }}
- name: REDIS_USERNAME
  value: {{ $e.username | quote }}
{{- else if $e.usernameKey }}
- name: REDIS_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ required "externalRedis.usernameKey needs externalRedis.existingSecret" $e.existingSecret }}
      key: {{ $e.usernameKey }}
{{- end }}
{{- if $e.passwordKey }}
- name: REDIS_PASSWORD_FILE
  value: {{ printf "%s/password" (include "sw.redisAuthDir" .) | quote }}
{{- end }}
{{- if $e.tls.enabled }}
- name: REDIS_TLS
  value: "true"
{{- if include "sw.redisTlsFiles" . }}
{{- with $e.tls.caKey }}
- name: REDIS_TLS_CA_FILE
  value: {{ printf "%s/ca.crt" (include "sw.redisTlsDir" $) | quote }}
{{- end }}
{{- if $e.tls.certKey }}
- name: REDIS_TLS_CERT_FILE
  value: {{ printf "%s/tls.crt" (include "sw.redisTlsDir" .) | quote }}
- name: REDIS_TLS_KEY_FILE
  value: {{ printf "%s/tls.key" (include "sw.redisTlsDir" .) | quote }}
{{- end }}
{{- end }}
{{- with $e.tls.serverName }}
- name: REDIS_TLS_SERVERNAME
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}
- name: STREAM_SHARDS
  value: {{ .Values.streamShards | int64 | quote }}
- name: LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- end -}}

{{/*
The volumes behind REDIS_PASSWORD_FILE and the REDIS_TLS_*_FILE variables (root). Whole-directory
mounts (no subPath), so a rotated Secret reaches the running pods.
*/}}
{{- define "sw.redisVolumes" -}}
{{- $e := .Values.externalRedis }}
{{- if and (not .Values.redis.enabled) $e.passwordKey }}
- name: redis-auth
  secret:
    secretName: {{ required "externalRedis.passwordKey needs externalRedis.existingSecret" $e.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ $e.passwordKey }}
        path: password
{{- end }}
{{- if include "sw.redisTlsFiles" . }}
- name: redis-tls
  secret:
    secretName: {{ $e.tls.existingSecret }}
    defaultMode: 0440
    items:
      {{- with $e.tls.caKey }}
      - key: {{ . }}
        path: ca.crt
      {{- end }}
      {{- if $e.tls.certKey }}
      - key: {{ $e.tls.certKey }}
        path: tls.crt
      - key: {{ required "externalRedis.tls.keyKey is required with externalRedis.tls.certKey (a client certificate needs its key)" $e.tls.keyKey }}
        path: tls.key
      {{- end }}
{{- end }}
{{- end -}}

{{/* The mounts of sw.redisVolumes, read-only. */}}
{{- define "sw.redisVolumeMounts" -}}
{{- $e := .Values.externalRedis }}
{{- if and (not .Values.redis.enabled) $e.passwordKey }}
- name: redis-auth
  mountPath: {{ include "sw.redisAuthDir" . }}
  readOnly: true
{{- end }}
{{- if include "sw.redisTlsFiles" . }}
- name: redis-tls
  mountPath: {{ include "sw.redisTlsDir" . }}
  readOnly: true
{{- end }}
{{- end -}}
