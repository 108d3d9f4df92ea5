{{/* Names and labels shared by every object of the chart. */}}

{{- define "syncer.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "syncer.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "syncer.selectorLabels" -}}
app.kubernetes.io/name: {{ include "syncer.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "syncer.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "syncer.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "syncer.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "syncer.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "syncer.leaseName" -}}
{{- default (printf "%s-leader" (include "syncer.fullname" .)) .Values.leaderElection.leaseName -}}
{{- end -}}

{{- define "syncer.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The namespace of the state Secrets (state.backend kubernetes). */}}
{{- define "syncer.stateNamespace" -}}
{{- default .Release.Namespace .Values.state.namespace -}}
{{- end -}}

{{/* A state volume (SQLite file on a PVC) is in use. */}}
{{- define "syncer.statePVC" -}}
{{- if and (eq .Values.state.backend "sqlite") .Values.persistence.enabled }}true{{ end -}}
{{- end -}}

{{/* The syncer config: the user's `config` with the chart's listen address and state path. */}}
{{- define "syncer.config" -}}
{{- $config := deepCopy .Values.config -}}
{{- $server := default (dict) $config.server -}}
{{- $_ := set $server "listen" (printf "0.0.0.0:%d" (int .Values.server.port)) -}}
{{- $_ := set $server "webhookListen" (printf "0.0.0.0:%d" (int .Values.server.webhookPort)) -}}
{{- $_ := set $config "server" $server -}}
{{- $state := default (dict) $config.state -}}
{{- $_ := set $state "path" "/var/lib/syncer/state.db" -}}
{{- if eq .Values.state.backend "kubernetes" -}}
{{- $_ := set $state "kubernetes" (dict "cluster" "in-cluster" "namespace" (include "syncer.stateNamespace" .)) -}}
{{- end -}}
{{- $_ := set $config "state" $state -}}
{{- toYaml $config -}}
{{- end -}}

{{/* Checks on combinations the schema cannot express. */}}
{{/* "true" when the replicas shard the apps: sharding on and the state in Kubernetes
(a SQLite file belongs to one process); empty otherwise. */}}
{{- define "syncer.sharded" -}}
{{- if and .Values.sharding.enabled (eq .Values.state.backend "kubernetes") -}}true{{- end -}}
{{- end -}}

{{/* "true" when one replica leads and the others stand by (no sharding). */}}
{{- define "syncer.leaderElected" -}}
{{- if and .Values.leaderElection.enabled (not (include "syncer.sharded" .)) -}}true{{- end -}}
{{- end -}}

{{- define "syncer.validate" -}}
{{- if eq (int .Values.server.port) (int .Values.server.webhookPort) -}}
{{- fail "server.port and server.webhookPort must differ: the API and the webhook receivers listen apart" -}}
{{- end -}}
{{- if and (gt (int .Values.replicaCount) 1) (not (or (include "syncer.sharded" .) (include "syncer.leaderElected" .))) -}}
{{- fail "replicaCount > 1 needs sharding.enabled=true (state.backend kubernetes) or leaderElection.enabled=true: two replicas otherwise would both deploy" -}}
{{- end -}}
{{- if not (or .Values.existingConfigMap .Values.config) -}}
{{- fail "set config (the syncer configuration) or existingConfigMap" -}}
{{- end -}}
{{- end -}}

{{/* The namespaces a namespaced RBAC grants: rbac.namespaces, else every app namespace
(and gateway.allowedNamespaces) of config. A JSON list. */}}
{{- define "syncer.rbacNamespaces" -}}
{{- $found := list -}}
{{- if .Values.rbac.namespaces -}}
{{- $found = .Values.rbac.namespaces -}}
{{- else if not .Values.existingConfigMap -}}
{{- range (.Values.config.apps | default list) -}}
{{- if .namespace -}}{{- $found = append $found .namespace -}}{{- end -}}
{{- range ((.gateway | default dict).allowedNamespaces | default list) -}}
{{- $found = append $found . -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toJson (uniq $found | sortAlpha) -}}
{{- end -}}


{{/* Fails unless the cluster serves a Prometheus Operator kind (its CRD is installed). */}}
{{- define "syncer.requireMonitoringKind" -}}
{{- $kind := index . 0 -}}
{{- $values := index . 1 -}}
{{- $ctx := index . 2 -}}
{{- if not ($ctx.Capabilities.APIVersions.Has (printf "monitoring.coreos.com/v1/%s" $kind)) -}}
{{- fail (printf "%s.enabled=true needs the Prometheus Operator CRD monitoring.coreos.com/v1 %s in the cluster: install the operator (or kube-prometheus-stack) first, or set %s.enabled=false (helm template: add --api-versions monitoring.coreos.com/v1/%s)" $values $kind $values $kind) -}}
{{- end -}}
{{- end -}}

{{/* The label matchers of this release's series, as the ServiceMonitor scrapes them
(job = the Service's name); prometheusRule.selector overrides them. */}}
{{- define "syncer.metricsSelector" -}}
{{- default (printf "job=%q, namespace=%q" (include "syncer.fullname" .) .Release.Namespace) .Values.prometheusRule.selector -}}
{{- end -}}
