{{/* Chart name, bounded to the 63 characters a label value allows. */}}
{{- define "cvmfs-release-operator.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's objects: the release name when it already contains the chart name
(`helm install cvmfs-release-operator .` gives `cvmfs-release-operator`), else `<release>-<chart>`.
*/}}
{{- define "cvmfs-release-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "cvmfs-release-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that never change over the release's life: Deployment and Service selectors. */}}
{{- define "cvmfs-release-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cvmfs-release-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "cvmfs-release-operator.labels" -}}
helm.sh/chart: {{ include "cvmfs-release-operator.chart" . }}
{{ include "cvmfs-release-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: cvmfs-release-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "cvmfs-release-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "cvmfs-release-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "cvmfs-release-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
