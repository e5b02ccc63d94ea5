{{/* Names, labels and the rendered gateway config. */}}

{{- define "mcp-gateway.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's resources are named after it (mcp-gateway when the release is called that). */}}
{{- define "mcp-gateway.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "mcp-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mcp-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "mcp-gateway.labels" -}}
{{ include "mcp-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "mcp-gateway.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "mcp-gateway.configMapName" -}}
{{- .Values.existingConfigMap | default (printf "%s-config" (include "mcp-gateway.fullname" .)) -}}
{{- end -}}

{{/*
The gateway config as the pod reads it: .Values.config with the addresses the
pod layout needs. Envoy listens on the pod IP; its admin and the sidecar's
ext_proc port stay on loopback (the pod's containers share it, nothing else
reaches it); the sidecar's telemetry endpoint is on the pod IP for the kubelet's
probes and Prometheus.
*/}}
{{- define "mcp-gateway.config" -}}
{{- $layout := dict
  "gateway" (dict "listen" (printf "0.0.0.0:%d" (int .Values.ports.http)) "admin" "127.0.0.1:9901")
  "sidecar" (dict "listen" "127.0.0.1:9000")
  "telemetry" (dict "listen" (printf "0.0.0.0:%d" (int .Values.ports.metrics))) -}}
{{- $config := mustMergeOverwrite (deepCopy (.Values.config | default dict)) $layout -}}
{{- if not (hasKey $config.gateway "allowed_hosts") -}}
{{- $svc := include "mcp-gateway.fullname" . -}}
{{- $port := int .Values.service.port -}}
{{- $_ := set $config.gateway "allowed_hosts" (list
  (printf "%s:%d" $svc $port)
  (printf "%s.%s.svc:%d" $svc .Release.Namespace $port)
  (printf "%s.%s.svc.cluster.local:%d" $svc .Release.Namespace $port)
  "localhost:*" "127.0.0.1:*") -}}
{{- end -}}
{{- if and (include "mcp-gateway.policyVolume" .) (not (dig "policy" "bundle" "" $config)) -}}
{{- $_ := set $config "policy" (mustMergeOverwrite (get $config "policy" | default dict) (dict "bundle" (printf "/etc/mcp-gateway-policy/%s" .Values.policyBundle.key))) -}}
{{- end -}}
{{- toYaml $config -}}
{{- end -}}

{{/* The policy bundle's volume source, or nothing. */}}
{{- define "mcp-gateway.policyVolume" -}}
{{- if and .Values.policyBundle.secretName .Values.policyBundle.configMapName -}}
{{- fail "policyBundle: set secretName or configMapName, not both" -}}
{{- else if .Values.policyBundle.secretName -}}
secret:
  secretName: {{ .Values.policyBundle.secretName }}
  items: [{ key: {{ .Values.policyBundle.key | quote }}, path: {{ .Values.policyBundle.key | quote }} }]
{{- else if .Values.policyBundle.configMapName -}}
configMap:
  name: {{ .Values.policyBundle.configMapName }}
  items: [{ key: {{ .Values.policyBundle.key | quote }}, path: {{ .Values.policyBundle.key | quote }} }]
{{- end -}}
{{- end -}}
