{{/* Names, labels and the blocks every workload shares. */}}

{{- define "sw.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "sw.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of one component's objects: <fullname>-<component>, at most 63 characters. */}}
{{- define "sw.componentName" -}}
{{- printf "%s-%s" (include "sw.fullname" .root | trunc (int (sub 62 (len .component))) | trimSuffix "-") .component -}}
{{- end -}}

{{- define "sw.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sw.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "sw.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{ include "sw.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: stream-workers
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels every pod of this release carries (the NetworkPolicy admits them to Redis). */}}
{{- define "sw.releasePodLabels" -}}
app.kubernetes.io/name: {{ include "sw.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "sw.image" -}}
{{- $img := .Values.image -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $img.repository (default .Chart.AppVersion $img.tag) -}}
{{- end -}}
{{- end -}}

{{- define "sw.redisImage" -}}
{{- $img := .Values.redis.image -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $img.repository $img.tag -}}
{{- end -}}
{{- end -}}

{{/*
The ServiceAccount of a component (dict "root" "component": producer, worker, lagExporter,
autoscaler): `serviceAccounts.<component>.name`, else <fullname>-<component> when the chart creates
it, else `default`.
*/}}
{{- define "sw.serviceAccountName" -}}
{{- $sa := get .root.Values.serviceAccounts .component -}}
{{- if $sa.name -}}
{{- $sa.name -}}
{{- else if $sa.create -}}
{{- include "sw.componentName" (dict "root" .root "component" (.component | kebabcase)) -}}
{{- else -}}
default
{{- end -}}
{{- end -}}

{{- define "sw.redisHost" -}}
{{- printf "%s.%s.svc" (include "sw.componentName" (dict "root" . "component" "redis")) .Release.Namespace -}}
{{- end -}}

{{/* The Secret holding the in-chart Redis password: `redis.auth.existingSecret`, else the generated one. */}}
{{- define "sw.redisAuthSecret" -}}
{{- default (include "sw.componentName" (dict "root" . "component" "redis-auth")) .Values.redis.auth.existingSecret -}}
{{- end -}}

{{- define "sw.redisSecretName" -}}
{{- if .Values.redis.enabled -}}{{ include "sw.redisAuthSecret" . }}{{- else -}}{{ .Values.externalRedis.existingSecret }}{{- end -}}
{{- end -}}

{{/* Pod-level securityContext (values `podSecurityContext`, "restricted" by default). dict "root" "over". */}}
{{- define "sw.podSecurityContext" -}}
{{- include "sw.deepMerge" (dict "base" .root.Values.podSecurityContext "over" .over) | fromJson | toYaml -}}
{{- end -}}

{{/* Container-level securityContext (values `containerSecurityContext`, "restricted" by default). */}}
{{- define "sw.containerSecurityContext" -}}
{{- toYaml .Values.containerSecurityContext -}}
{{- end -}}

{{/* Probes on a service's HTTP port. */}}
{{- define "sw.probes" -}}
startupProbe:
  httpGet: { path: /livez, port: http }
  periodSeconds: 2
  failureThreshold: 30
livenessProbe:
  httpGet: { path: /livez, port: http }
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet: { path: /readyz, port: http }
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 2
{{- end -}}

{{/* prometheus.io annotations when the Prometheus Operator is not used. */}}
{{- define "sw.scrapeAnnotations" -}}
{{- if and (not .root.Values.monitoring.enabled) .root.Values.monitoring.scrapeAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end -}}

{{/*
What the Kubernetes server supports. Chart.yaml allows 1.20 and newer; each rule that depends on the
server is decided here, once, from .Capabilities (a real server's discovery under install/upgrade,
or --kube-version/--api-versions under `helm template`). Versions are compared with a "-0" suffix
so that providers' pre-release-style versions (v1.27.3-eks-...) count as that release.
*/}}

{{/*
apiVersion of the PodDisruptionBudget: policy/v1 (Kubernetes 1.21+; policy/v1beta1 is gone in
1.25) when the server lists policy/v1 PodDisruptionBudget, policy/v1beta1 otherwise (1.20).
A live server's discovery always lists the kinds (policy/v1beta1/PodDisruptionBudget on 1.20). An
offline `helm template` lists no kinds unless given --api-versions: with neither kind listed, the
Kubernetes version decides (so a plain `helm template` for a current version still gets policy/v1).
*/}}
{{- define "sw.pdbApiVersion" -}}
{{- $api := .Capabilities.APIVersions -}}
{{- if $api.Has "policy/v1/PodDisruptionBudget" -}}
policy/v1
{{- else if and (not ($api.Has "policy/v1beta1/PodDisruptionBudget")) (semverCompare ">=1.21.0-0" .Capabilities.KubeVersion.Version) -}}
policy/v1
{{- else -}}
policy/v1beta1
{{- end -}}
{{- end -}}

{{/*
"true" when the PodDisruptionBudget may carry unhealthyPodEvictionPolicy: policy/v1 only, and
Kubernetes 1.26+ (alpha there, a server without the feature gate drops the field; beta and on by
default from 1.27). Older servers reject the unknown field under server-side apply.
*/}}
{{- define "sw.pdbUnhealthyPodEvictionPolicy" -}}
{{- if and (eq (include "sw.pdbApiVersion" .) "policy/v1") (semverCompare ">=1.26.0-0" .Capabilities.KubeVersion.Version) }}true{{ end -}}
{{- end -}}

{{/*
"true" when topology spread constraints may carry matchLabelKeys (beta and on by default from
Kubernetes 1.27; an unknown field before 1.25, which server-side apply rejects).
*/}}
{{- define "sw.topologyMatchLabelKeys" -}}
{{- if semverCompare ">=1.27.0-0" .Capabilities.KubeVersion.Version }}true{{ end -}}
{{- end -}}


{{/* The common pod scheduling fields of one component's values. */}}
{{- define "sw.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "sw.imagePullSecrets" -}}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
Ports. Every port names its protocol, although TCP is the default: protocol is part of the merge
key of a Service's and a container's ports lists, and server-side apply (Helm 4) on Kubernetes 1.20
rejects a Service port without it. One helper per list, so no port can miss it.
*/}}
{{/* One Service port: dict "name" (also the container port's name it targets) "port". */}}
{{- define "sw.servicePort" -}}
- name: {{ .name }}
  port: {{ .port }}
  targetPort: {{ .name }}
  protocol: TCP
{{- end -}}
{{/* One container port: dict "name" "port". */}}
{{- define "sw.containerPort" -}}
- name: {{ .name }}
  containerPort: {{ .port }}
  protocol: TCP
{{- end -}}

{{/* Shared volumes: a writable /tmp on a read-only root filesystem. */}}
{{- define "sw.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end -}}
{{- define "sw.tmpMount" -}}
- name: tmp
  mountPath: /tmp
{{- end -}}
