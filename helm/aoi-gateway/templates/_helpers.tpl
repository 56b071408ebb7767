{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "aoi-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Name of every object: release-chart, or the release alone when it already holds the chart name. */}}
{{- define "aoi-gateway.fullname" -}}
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

{{- define "aoi-gateway.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Immutable: used by the Deployment's selector, never add to it. */}}
{{- define "aoi-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "aoi-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "aoi-gateway.labels" -}}
helm.sh/chart: {{ include "aoi-gateway.chart" . }}
{{ include "aoi-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/component: gateway
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "aoi-gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "aoi-gateway.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "aoi-gateway.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* Whether the chart's own Secrets are needed, and which Secrets hold the password and the keys.
The password (an environment variable) is in the Secret whose checksum rolls the pods; the
credential files, which the node re-reads live, are in a Secret of their own. */}}
{{- define "aoi-gateway.chartSecretNeeded" -}}
{{- if and .Values.redis.password (not .Values.redis.existingSecret) }}true{{- end }}
{{- end }}

{{- define "aoi-gateway.credentialsSecret" -}}
{{- printf "%s-credentials" (include "aoi-gateway.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "aoi-gateway.inlineApiKeys" -}}
{{- if and .Values.apiKeys.keys (not .Values.apiKeys.existingSecret) }}true{{- end }}
{{- end }}

{{- define "aoi-gateway.inlineDeviceKey" -}}
{{- if and .Values.deviceAuth.key (not .Values.deviceAuth.existingSecret) }}true{{- end }}
{{- end }}

{{- define "aoi-gateway.redisPasswordSecret" -}}
{{- if .Values.redis.existingSecret }}{{ .Values.redis.existingSecret }}{{- else if .Values.redis.password }}{{ include "aoi-gateway.fullname" . }}{{- end }}
{{- end }}

{{- define "aoi-gateway.redisPasswordKey" -}}
{{- if .Values.redis.existingSecret }}{{ .Values.redis.existingSecretPasswordKey }}{{- else }}redis-password{{- end }}
{{- end }}

{{- define "aoi-gateway.apiKeysSecret" -}}
{{- if .Values.apiKeys.existingSecret }}{{ .Values.apiKeys.existingSecret }}{{- else if .Values.apiKeys.keys }}{{ include "aoi-gateway.credentialsSecret" . }}{{- end }}
{{- end }}

{{- define "aoi-gateway.apiKeysKey" -}}
{{- if .Values.apiKeys.existingSecret }}{{ .Values.apiKeys.existingSecretKey }}{{- else }}api-keys{{- end }}
{{- end }}

{{- define "aoi-gateway.deviceKeySecret" -}}
{{- if .Values.deviceAuth.existingSecret }}{{ .Values.deviceAuth.existingSecret }}{{- else if .Values.deviceAuth.key }}{{ include "aoi-gateway.credentialsSecret" . }}{{- end }}
{{- end }}

{{- define "aoi-gateway.deviceKeyKey" -}}
{{- if .Values.deviceAuth.existingSecret }}{{ .Values.deviceAuth.existingSecretKey }}{{- else }}device-jwt-key{{- end }}
{{- end }}

{{/* Where the credential files are mounted (a directory each: a Secret volume without
subPath, so that the kubelet updates the files in place). */}}
{{- define "aoi-gateway.apiKeysFile" -}}/etc/aoi-gateway/api-keys/api-keys{{- end }}
{{- define "aoi-gateway.deviceKeyFile" -}}/etc/aoi-gateway/device-jwt/key{{- end }}

{{/* Container port; the Service maps service.port onto it. */}}
{{- define "aoi-gateway.containerPort" -}}8080{{- end }}

{{/* Operations port (/healthz, /readyz, /metrics only): probes and scrapes use it, so they
still answer when the main port is full. */}}
{{- define "aoi-gateway.opsPort" -}}8081{{- end }}

{{/* Long enough for preStop, the node's drain grace, and a margin. */}}
{{- define "aoi-gateway.terminationGracePeriodSeconds" -}}
{{- add .Values.preStopSleep .Values.gateway.drainGrace .Values.terminationGraceMargin }}
{{- end }}

{{/* Refuse contradictory settings early, at render time. */}}
{{- define "aoi-gateway.validate" -}}
{{- $modes := 0 }}
{{- if .Values.redis.sentinel.enabled }}{{ $modes = add1 $modes }}{{ end }}
{{- if .Values.redis.cluster.enabled }}{{ $modes = add1 $modes }}{{ end }}
{{- if gt $modes 1 }}
{{- fail "redis.sentinel.enabled and redis.cluster.enabled are mutually exclusive" }}
{{- end }}
{{- if and .Values.redis.sentinel.enabled (not .Values.redis.sentinel.addresses) }}
{{- fail "redis.sentinel.addresses must list at least one host:port" }}
{{- end }}
{{- if and .Values.redis.cluster.enabled (not .Values.redis.cluster.addresses) }}
{{- fail "redis.cluster.addresses must list at least one host:port" }}
{{- end }}
{{- if and (or .Values.deviceAuth.audience .Values.deviceAuth.issuer) (not (include "aoi-gateway.deviceKeySecret" .)) }}
{{- fail "deviceAuth.audience and deviceAuth.issuer need deviceAuth.key or deviceAuth.existingSecret" }}
{{- end }}
{{- if and (not .Values.redis.url) (eq $modes 0) }}
{{- fail "redis.url is required unless redis.sentinel or redis.cluster is enabled (the node would otherwise start an embedded dev Redis)" }}
{{- end }}
{{- if regexMatch "^rediss?://[^/@]*:[^/@]+@" (.Values.redis.url | default "") }}
{{- fail "redis.url must not hold a password: use redis.password or redis.existingSecret" }}
{{- end }}
{{- if ge (float64 .Values.gateway.drainWindow) (float64 .Values.gateway.drainGrace) }}
{{- fail "gateway.drainWindow must be shorter than gateway.drainGrace" }}
{{- end }}
{{- end }}
