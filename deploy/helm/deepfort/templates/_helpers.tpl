{{/* Names: at most 63 characters (DNS labels). */}}
{{- define "deepfort.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "deepfort.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "deepfort.centerFullname" -}}
{{- printf "%s-center" (include "deepfort.fullname" . | trunc 56 | trimSuffix "-") }}
{{- end }}

{{- define "deepfort.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "deepfort.selectorLabels" -}}
app.kubernetes.io/name: {{ include "deepfort.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "deepfort.labels" -}}
helm.sh/chart: {{ include "deepfort.chart" . }}
{{ include "deepfort.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "deepfort.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "deepfort.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "deepfort.secretName" -}}
{{- default (include "deepfort.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{- define "deepfort.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "deepfort.port" -}}
{{- dig "server" "port" 8080 .Values.config }}
{{- end }}

{{- define "deepfort.metricsPort" -}}
{{- dig "observability" "metrics_port" "" .Values.config }}
{{- end }}

{{/*
The deepfort.yaml of the ConfigMap: .Values.config, and with the center enabled, role edge plus the vLLM
center as an upstream model (its key comes from CENTER_API_KEY) that routed questions ask for.
*/}}
{{- define "deepfort.config" -}}
{{- $config := deepCopy .Values.config }}
{{- if .Values.center.enabled }}
{{- $_ := set $config "role" "edge" }}
{{- $upstream := dict "id" .Values.center.servedModelName "upstream_model" .Values.center.servedModelName "api_key_env" "CENTER_API_KEY" }}
{{- $_ := set $upstream "upstream" (printf "http://%s:%d/v1" (include "deepfort.centerFullname" .) (int .Values.center.port)) }}
{{- $_ := set $config "models" (append (default list $config.models) $upstream) }}
{{- $routing := default dict $config.routing }}
{{- $_ := set $routing "center_model" (default .Values.center.servedModelName $routing.center_model) }}
{{- $_ := set $config "routing" $routing }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{/* Settings that are secrets: environment variables from the Secret, each set only when its key exists. */}}
{{- define "deepfort.secretEnv" -}}
{{- $secret := include "deepfort.secretName" . }}
{{- range $name, $key := dict "DEEPFORT_CLUSTER__KEYS" "cluster-keys" "DEEPFORT_CLUSTER__NODE_SECRET" "node-secret" "DEEPFORT_STORE__URL" "store-url" "DEEPFORT_SECURITY__REDIS_URL" "redis-url" "CENTER_API_KEY" "center-api-key" }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $key }}
      optional: true
{{- end }}
{{- end }}

{{/* Refuse values that would deploy something broken. */}}
{{- define "deepfort.validate" -}}
{{- $s := .Values.secrets }}
{{- $several := or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1) }}
{{- if and $several (not $s.existingSecret) }}
{{- if not $s.storeUrl }}
{{- fail "several gateway replicas need a shared database: set secrets.storeUrl (PostgreSQL) or secrets.existingSecret" }}
{{- end }}
{{- if not $s.masterKeyring }}
{{- fail "several gateway replicas need one master keyring: set secrets.masterKeyring (or secrets.existingSecret)" }}
{{- end }}
{{- end }}
{{- if and $several .Values.persistence.data.enabled (not .Values.persistence.data.existingClaim) (not (has "ReadWriteMany" .Values.persistence.data.accessModes)) }}
{{- fail "several gateway replicas cannot share a ReadWriteOnce /data volume: set persistence.data.enabled=false (state in PostgreSQL) or a ReadWriteMany class" }}
{{- end }}
{{- if and .Values.center.enabled (not $s.centerApiKey) (not $s.existingSecret) }}
{{- fail "center.enabled needs secrets.centerApiKey (vLLM's API key, sent by the gateway)" }}
{{- end }}
{{- if and .Values.serviceMonitor.enabled (not (include "deepfort.metricsPort" .)) }}
{{- fail "serviceMonitor.enabled needs config.observability.metrics_port" }}
{{- end }}
{{- end }}
