{{/* Names and labels. Never put a version into selector labels: selectors are immutable. */}}
{{- define "streamcal.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "streamcal.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "streamcal.labels" -}}
{{ include "streamcal.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "streamcal.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "streamcal.claim" -}}
{{ .Values.storage.existingClaim | default (printf "%s-data" (include "streamcal.fullname" .)) }}
{{- end -}}

{{/* The STREAMCAL_* settings every service reads (services/settings.py). */}}
{{- define "streamcal.env" -}}
- name: STREAMCAL_BUS
  value: {{ printf "kafka://%s" .Values.kafka.bootstrap | quote }}
- name: STREAMCAL_PARTITIONS
  value: {{ .Values.kafka.partitions | quote }}
- name: STREAMCAL_REPLICATION
  value: {{ .Values.kafka.replication | quote }}
- name: STREAMCAL_KAFKA_IDEMPOTENCE
  value: {{ .Values.kafka.idempotence | quote }}
- name: STREAMCAL_KAFKA_SESSION_TIMEOUT_MS
  value: {{ .Values.kafka.sessionTimeoutMs | quote }}
- name: STREAMCAL_KAFKA_HEARTBEAT_MS
  value: {{ .Values.kafka.heartbeatMs | quote }}
- name: STREAMCAL_INGEST_DIR
  value: {{ .Values.storage.ingestPath | quote }}
- name: STREAMCAL_PRODUCTS_DIR
  value: {{ .Values.storage.productsPath | quote }}
- name: STREAMCAL_REFS_DIR
  value: {{ .Values.storage.refsPath | quote }}
- name: STREAMCAL_SHUTDOWN_GRACE_S
  value: {{ .Values.settings.shutdownGraceS | quote }}
- name: STREAMCAL_LOG_LEVEL
  value: {{ .Values.settings.logLevel | quote }}
- name: STREAMCAL_POLL_INTERVAL_S
  value: {{ .Values.settings.pollIntervalS | quote }}
- name: STREAMCAL_FORCE_POLLING
  value: {{ .Values.settings.forcePolling | quote }}
- name: STREAMCAL_TIMEOUT_S
  value: {{ .Values.settings.timeoutS | quote }}
- name: STREAMCAL_MAX_ATTEMPTS
  value: {{ .Values.settings.maxAttempts | quote }}
- name: STREAMCAL_BACKOFF_BASE_S
  value: {{ .Values.settings.backoffBaseS | quote }}
- name: STREAMCAL_BACKOFF_MAX_S
  value: {{ .Values.settings.backoffMaxS | quote }}
- name: STREAMCAL_ASSOCIATION_DEADLINE_S
  value: {{ .Values.settings.associationDeadlineS | quote }}
- name: STREAMCAL_METRICS_PORT
  value: {{ .Values.metrics.port | quote }}
{{- end -}}

{{/*
The pod template shared by every service. Arguments: root (the chart context), component, args (the
`streamcal serve` arguments), resources, and env (extra environment, a list).
terminationGracePeriodSeconds is always longer than the services' own drain time (shutdownGraceS).
*/}}
{{- define "streamcal.pod" -}}
metadata:
  labels:
    {{- include "streamcal.labels" . | nindent 4 }}
spec:
  terminationGracePeriodSeconds: {{ add .root.Values.settings.shutdownGraceS .root.Values.settings.terminationExtraS }}
  securityContext:
    runAsNonRoot: true
    runAsUser: 10001
    fsGroup: 10001
  containers:
    - name: {{ .component }}
      image: {{ include "streamcal.image" .root }}
      imagePullPolicy: {{ .root.Values.image.pullPolicy }}
      args: {{ toJson .args }}
      env:
        {{- include "streamcal.env" .root | nindent 8 }}
        {{- with .env }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      ports:
        - name: metrics
          containerPort: {{ .root.Values.metrics.port }}
      startupProbe:
        httpGet: {path: /healthz, port: metrics}
        periodSeconds: 2
        failureThreshold: 60
      livenessProbe:
        httpGet: {path: /healthz, port: metrics}
        periodSeconds: 10
        failureThreshold: 6
      readinessProbe:
        httpGet: {path: /readyz, port: metrics}
        periodSeconds: 5
      resources:
        {{- toYaml .resources | nindent 8 }}
      volumeMounts:
        - name: data
          mountPath: /data
  volumes:
    - name: data
      persistentVolumeClaim:
        claimName: {{ include "streamcal.claim" .root }}
{{- end -}}
