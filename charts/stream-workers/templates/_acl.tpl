{{/*
Redis ACL (redis.acl.enabled): one user per service, each allowed only its commands on its keys
(docs/kubernetes.md, "Redis ACL"). Passwords are generated once and kept across upgrades (lookup of
the Secret); the ACL file holds only their SHA-256.
*/}}

{{- define "sw.aclSecretName" -}}
{{ include "sw.fullname" . }}-redis-acl
{{- end -}}

{{/* The ACL users, in order. */}}
{{- define "sw.aclUsers" -}}
producer worker exporter autoscaler admin
{{- end -}}

{{/* Commands every service needs to connect (ioredis and the core reader: HELLO, AUTH, CLIENT SETNAME, SELECT, INFO for the ready check, PING). */}}
{{- define "sw.aclConnection" -}}
-@all +ping +hello +auth +client|setname +client|id +select +info +echo
{{- end -}}

{{/*
The key patterns of one stream (root, stream): the stream itself, or with streamShards > 1 its shard
keys `S{0}` … as the pattern `S{*}` (braces are literal in Redis' glob patterns).
*/}}
{{- define "sw.aclStreamPattern" -}}
{{- if gt (int .root.Values.streamShards) 1 }}{{ printf "%s{*}" .stream }}{{ else }}{{ .stream }}{{ end -}}
{{- end -}}

{{/* The streams and dead-letter streams of every pool the chart renders (one `worker` user serves them all), as key patterns. */}}
{{- define "sw.aclWorkerKeys" -}}
{{- $root := . -}}
{{- $streams := list -}}
{{- $dlqs := list -}}
{{- range (include "sw.pools" . | fromJson).pools -}}
{{- $pattern := include "sw.aclStreamPattern" (dict "root" $root "stream" .stream) -}}
{{- $streams = append $streams $pattern -}}
{{- $dlqs = append $dlqs (.deadLetterStream | default (printf "%s:dlq" $pattern)) -}}
{{- end -}}
{{- dict "streams" ($streams | uniq) "dlqs" ($dlqs | uniq) | toJson -}}
{{- end -}}

{{/* The rules of one user (without `user <name> on #<hash>`). */}}
{{- define "sw.aclRules" -}}
{{- $root := .root -}}
{{- $keys := include "sw.aclWorkerKeys" $root | fromJson -}}
{{- $conn := include "sw.aclConnection" $root -}}
{{- if eq .user "producer" -}}
{{- $given := list -}}
{{- range (default (list $root.Values.stream) $root.Values.producer.streams) }}{{ $given = append $given (include "sw.aclStreamPattern" (dict "root" $root "stream" .)) }}{{ end -}}
{{- $streams := concat $given $keys.streams | uniq -}}
resetkeys{{ range $streams }} ~{{ . }} ~{{ . }}:idem:*{{ end }} resetchannels {{ $conn }} +xadd +evalsha +eval +get +set
{{- else if eq .user "worker" -}}
resetkeys{{ range $keys.streams }} ~{{ . }}{{ end }} resetchannels {{ $conn }} +xreadgroup +xack +xclaim +xautoclaim +xgroup|create +xgroup|createconsumer +xgroup|delconsumer +xinfo|groups +xinfo|consumers +xinfo|stream +xpending +xlen +xrange +multi +exec +evalsha +eval +script|load +client|unblock ({{ range $keys.dlqs }}~{{ . }} {{ end }}+xadd)
{{- else if eq .user "exporter" -}}
{{- $patterns := default (list "*") $root.Values.lagExporter.streams -}}
resetkeys{{ range $patterns }} ~{{ . }}{{ end }} resetchannels {{ $conn }} +xinfo|groups +xinfo|consumers +xinfo|stream +xrange +xrevrange +xpending +xlen +scan +type +multi +exec +evalsha +eval +script|load
{{- else if eq .user "autoscaler" -}}
resetkeys{{ range $keys.streams }} ~{{ . }}{{ end }} resetchannels {{ $conn }} +xinfo|groups +xinfo|consumers +xinfo|stream +xpending +xrange +xrevrange +xlen +xread +xgroup|delconsumer +evalsha +eval +script|load
{{- else if eq .user "admin" -}}
~* &* +@all
{{- end -}}
{{- end -}}

{{/* REDIS_USERNAME and REDIS_PASSWORD of a service's ACL user (dict root, user); nothing when redis.acl is off. */}}
{{- define "sw.redisUserEnv" -}}
{{- if and .root.Values.redis.enabled .root.Values.redis.acl.enabled }}
- name: REDIS_USERNAME
  value: {{ .user | quote }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "sw.aclSecretName" .root }}
      key: {{ .user }}-password
{{- end }}
{{- end -}}

{{/* The ACL file (dict root, passwords): `default` off, then one line per user (an ACL file has no comments). */}}
{{- define "sw.aclFile" -}}
user default off
{{- range $user := splitList " " (include "sw.aclUsers" .root) }}
user {{ $user }} on #{{ index $.passwords (printf "%s-password" $user) | sha256sum }} {{ include "sw.aclRules" (dict "root" $.root "user" $user) }}
{{- end }}
{{ end -}}

{{/* The Secret holding the producer's API_TOKENS_FILE (generated, or producer.auth.token.existingSecret). */}}
{{- define "sw.producerTokenSecret" -}}
{{ .Values.producer.auth.token.existingSecret | default (printf "%s-producer-tokens" (include "sw.fullname" .)) }}
{{- end -}}

{{/* The producer's AUTH_MODE variables (root). */}}
{{- define "sw.producerAuthEnv" -}}
{{- $a := .Values.producer.auth }}
- name: AUTH_MODE
  value: {{ $a.mode | quote }}
- name: RATE_LIMIT_PER_S
  value: {{ $a.rateLimitPerS | int64 | quote }}
{{- if eq $a.mode "token" }}
- name: API_TOKENS_FILE
  value: /etc/stream-workers/auth/tokens
{{- else if eq $a.mode "jwt" }}
- name: JWT_ISSUER
  value: {{ required "producer.auth.jwt.issuer is required when producer.auth.mode is jwt (the cluster's service-account issuer)" $a.jwt.issuer | quote }}
- name: JWT_AUDIENCE
  value: {{ $a.jwt.audience | quote }}
- name: JWT_STREAMS_CLAIM
  value: {{ $a.jwt.streamsClaim | quote }}
- name: JWT_DEFAULT_STREAMS
  value: {{ join "," (default (default (list .Values.stream) .Values.producer.streams) $a.jwt.defaultStreams) | quote }}
{{- if $a.jwt.jwksConfigMap }}
- name: JWT_JWKS_FILE
  value: /etc/stream-workers/jwks/jwks.json
{{- else }}
- name: JWT_JWKS_URL
  value: {{ required "producer.auth.jwt.jwksUrl or jwksConfigMap is required when producer.auth.mode is jwt" $a.jwt.jwksUrl | quote }}
{{- end }}
{{- end }}
{{- end -}}
