{{- define "cmtflow.fullname" -}}
{{- printf "%s-cmtflow" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "cmtflow.labels" -}}
app.kubernetes.io/name: cmtflow
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "cmtflow.pvcName" -}}
{{- if .Values.dataRoot.persistence.existingClaim -}}
{{- .Values.dataRoot.persistence.existingClaim -}}
{{- else -}}
{{- printf "%s-data" (include "cmtflow.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "cmtflow.namespace" -}}
{{- default .Release.Namespace .Values.compute.namespace -}}
{{- end -}}

{{- define "cmtflow.marquezUrl" -}}
{{- if .Values.openlineage.url -}}
{{- .Values.openlineage.url -}}
{{- else -}}
{{- printf "http://%s-marquez:%d" (include "cmtflow.fullname" .) (int .Values.marquez.port) -}}
{{- end -}}
{{- end -}}
