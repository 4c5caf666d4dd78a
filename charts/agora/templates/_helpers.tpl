{{/*
Agora is a cluster singleton: its CRDs and ClusterRoles are cluster-wide and its binaries keep
their Leases in agora-system, so object names are fixed rather than derived from the release.
*/}}

{{- define "agora.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "agora.labels" -}}
helm.sh/chart: {{ include "agora.chart" . }}
app.kubernetes.io/name: agora
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: agora
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of a component's pods: include "agora.selectorLabels" (list . "controller") */}}
{{- define "agora.selectorLabels" -}}
app.kubernetes.io/name: agora
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "agora.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ $tag }}
{{- end -}}
{{- end }}

{{- define "agora.controller.serviceAccountName" -}}
{{- required "controller.serviceAccount.name must be set" .Values.controller.serviceAccount.name }}
{{- end }}

{{- define "agora.executor.serviceAccountName" -}}
{{- required "executor.serviceAccount.name must be set" .Values.executor.serviceAccount.name }}
{{- end }}

{{- define "agora.executor.simulation.serviceAccountName" -}}
{{- required "executor.simulation.serviceAccountName must be set" .Values.executor.simulation.serviceAccountName }}
{{- end }}

{{/*
The binaries keep their Leases in agora-system (the controller reads the executors' Leases
there), so the chart installs nowhere else.
*/}}
{{- define "agora.validate" -}}
{{- if ne .Release.Namespace "agora-system" }}
{{- fail (printf "Agora installs into the namespace agora-system (its controller and executors keep their Leases there), not %q: use --namespace agora-system --create-namespace" .Release.Namespace) }}
{{- end }}
{{- if and .Values.executor.simulation.enabled (eq .Values.executor.simulation.serviceAccountName .Values.executor.serviceAccount.name) }}
{{- fail "executor.simulation.serviceAccountName must differ from executor.serviceAccount.name: the simulation identity acts for every node, the DaemonSet's only for its own" }}
{{- end }}
{{- if and (gt (int .Values.controller.replicas) 1) (not .Values.controller.leaderElection) }}
{{- fail "controller.leaderElection must be true when controller.replicas > 1: two leaders would hand out the same resources twice" }}
{{- end }}
{{- end }}
