{{/* The name of the release's objects. */}}
{{- define "keyway-agent.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "keyway-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "keyway-agent.labels" -}}
{{ include "keyway-agent.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "keyway-agent.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/* An HCL object of labels: { "env" = "prod", "team" = ["a", "b"] }. */}}
{{- define "keyway-agent.hclLabels" -}}
{{- $pairs := list -}}
{{- range $k, $v := . -}}
{{- if kindIs "slice" $v -}}
{{- $items := list -}}
{{- range $v }}{{ $items = append $items (toString . | quote) }}{{ end -}}
{{- $pairs = append $pairs (printf "%s = [%s]" (quote $k) (join ", " $items)) -}}
{{- else -}}
{{- $pairs = append $pairs (printf "%s = %s" (quote $k) (toString $v | quote)) -}}
{{- end -}}
{{- end -}}
{ {{ join ", " $pairs }} }
{{- end -}}
