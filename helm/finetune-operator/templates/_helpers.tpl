{{/*
Chart name, overridable with nameOverride.
*/}}
{{- define "finetune-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name used as the prefix of every resource. Truncated to 63 characters because some
Kubernetes name fields are limited to that (DNS-1123 labels).
*/}}
{{- define "finetune-operator.fullname" -}}
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

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "finetune-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every resource.
*/}}
{{- define "finetune-operator.labels" -}}
helm.sh/chart: {{ include "finetune-operator.chart" . }}
{{ include "finetune-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: finetune-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels: stable across upgrades (a Deployment's selector is immutable).
*/}}
{{- define "finetune-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "finetune-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Name of the ServiceAccount the operator runs as.
*/}}
{{- define "finetune-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "finetune-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Operator image reference: a digest pins it; otherwise the tag, defaulting to appVersion.
*/}}
{{- define "finetune-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
"true" when watchNamespaces holds a Kopf glob (*, ?, [ or a ! negation) rather than plain names.
*/}}
{{- define "finetune-operator.watchesPatterns" -}}
{{- range .Values.watchNamespaces }}
{{- if regexMatch "[*?\\[!]" . }}true{{ end }}
{{- end }}
{{- end }}

{{/*
"true" when the operator needs cluster-wide rights: it watches all namespaces, or globs whose
matches are not known at install time.
*/}}
{{- define "finetune-operator.clusterWide" -}}
{{- if or (empty .Values.watchNamespaces) (include "finetune-operator.watchesPatterns" .) }}true{{ end }}
{{- end }}

{{/*
Name of the ClusterKopfPeering of this release: cluster-scoped, so the release namespace is part
of it (a DNS subdomain: dots allowed).
*/}}
{{- define "finetune-operator.peeringName" -}}
{{- printf "%s.%s" .Release.Namespace (include "finetune-operator.fullname" .) | trunc 253 | trimSuffix "-" }}
{{- end }}
