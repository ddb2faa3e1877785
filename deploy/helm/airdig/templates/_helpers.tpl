{{/* Names and labels. */}}
{{- define "airdig.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "airdig.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "airdig.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "airdig.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* "<fullname>-<role>"; call with (dict "root" $ "role" "engine") */}}
{{- define "airdig.component" -}}
{{- printf "%s-%s" (include "airdig.fullname" .root) .role | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "airdig.selectorLabels" -}}
app.kubernetes.io/name: {{ include "airdig.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .role }}
{{- end -}}

{{- define "airdig.labels" -}}
{{ include "airdig.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: airdig
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The one AirDig image every role runs. */}}
{{- define "airdig.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if eq (toString $tag) "latest" -}}
{{- fail "image.tag: \"latest\" is not allowed; pin a version or a digest" -}}
{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (toString $tag) -}}
{{- end -}}
{{- end -}}

{{- define "airdig.serviceAccountName" -}}
{{- include "airdig.fullname" . -}}
{{- end -}}

{{- define "airdig.scannerServiceAccountName" -}}
{{- include "airdig.component" (dict "root" . "role" "skygraph") -}}
{{- end -}}

{{/* The Kafka bus URL from dataPlatform.kafka. */}}
{{- define "airdig.busUrl" -}}
{{- $k := .Values.dataPlatform.kafka -}}
{{- $servers := required "dataPlatform.kafka.bootstrapServers is required (e.g. airdig-kafka-kafka-bootstrap.kafka:9092)" $k.bootstrapServers -}}
{{- $q := printf "partitions=%d&replication=%d" (int $k.partitions) (int $k.replication) -}}
{{- if $k.topicPrefix }}{{ $q = printf "%s&prefix=%s" $q $k.topicPrefix }}{{ end -}}
{{- printf "kafka://%s?%s" $servers $q -}}
{{- end -}}

{{/*
A secretKeyRef env entry; call with (dict "root" $ "name" "ENV" "key" "secret-key").
*/}}
{{- define "airdig.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .root.Values.secrets.existingSecret }}
      key: {{ .key }}
{{- end -}}

{{/*
Environment of one role; call with (dict "root" $ "role" "engine").
Secrets are referenced (secretKeyRef) and spliced into URLs with Kubernetes' $(VAR) expansion, so no
credential is ever rendered. Each role gets only the settings it reads.
*/}}
{{- define "airdig.env" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
{{- $dp := $v.dataPlatform -}}
{{- $s := $v.secrets -}}
{{- $role := .role -}}
- name: AIRDIG_DATA_DIR
  value: /data
- name: AIRDIG_LOG_FORMAT
  value: json
- name: AIRDIG_BUS_URL
  value: {{ include "airdig.busUrl" $root | quote }}
- name: AIRDIG_CONSUMER_GROUP
  value: {{ $v.engine.consumerGroup | quote }}
{{- if $dp.tenant }}
- name: AIRDIG_TENANT
  value: {{ $dp.tenant | quote }}
{{- end }}
{{- if has $role (list "engine" "migrate") }}
{{- $db := required "dataPlatform.database.url is required (e.g. mysql://airdig@basic-tidb.tidb:4000/airdig)" $dp.database.url }}
{{- if regexMatch "^[a-z]+://[^/@]*:[^/@]*@" $db }}
{{- fail "dataPlatform.database.url must not hold a password: put it in secrets.existingSecret (key secrets.databasePasswordKey)" }}
{{- end }}
{{- if and $s.existingSecret $s.databasePasswordKey }}
{{ include "airdig.secretEnv" (dict "root" $root "name" "AIRDIG_SECRET_DATABASE_PASSWORD" "key" $s.databasePasswordKey) }}
- name: AIRDIG_DATABASE_URL
  value: {{ regexReplaceAll "^([a-z]+://[^/@:]+)@" $db "${1}:$(AIRDIG_SECRET_DATABASE_PASSWORD)@" | quote }}
{{- else }}
- name: AIRDIG_DATABASE_URL
  value: {{ $db | quote }}
{{- end }}
{{- end }}
{{- if and (eq $role "engine") $dp.redis.url }}
{{- if regexMatch "^[a-z]+://[^/@]*:[^/@]*@" $dp.redis.url }}
{{- fail "dataPlatform.redis.url must not hold a password: put it in secrets.existingSecret (key secrets.redisPasswordKey)" }}
{{- end }}
{{- if and $s.existingSecret $s.redisPasswordKey }}
{{ include "airdig.secretEnv" (dict "root" $root "name" "AIRDIG_SECRET_REDIS_PASSWORD" "key" $s.redisPasswordKey) }}
- name: AIRDIG_CACHE_URL
  value: {{ regexReplaceAll "^(rediss?)://([^@]*@)?" $dp.redis.url "${1}://:$(AIRDIG_SECRET_REDIS_PASSWORD)@" | quote }}
{{- else }}
- name: AIRDIG_CACHE_URL
  value: {{ $dp.redis.url | quote }}
{{- end }}
{{- end }}
{{- if and (has $role (list "engine" "tracecore")) $dp.tempo.url }}
- name: AIRDIG_TRACES_URL
  value: {{ $dp.tempo.url | quote }}
{{- end }}
{{- if eq $role "pulsesight" }}
{{- if $dp.mimir.url }}
- name: AIRDIG_METRICS_URL
  value: {{ $dp.mimir.url | quote }}
{{- end }}
{{- if $dp.loki.url }}
- name: AIRDIG_LOGS_URL
  value: {{ $dp.loki.url | quote }}
{{- end }}
{{- if not (and $s.existingSecret $s.pulsesightSecretKey) }}
{{- fail "pulsesight listens on the pod network and needs a webhook secret: set secrets.existingSecret and secrets.pulsesightSecretKey (or pulsesight.enabled=false)" }}
{{- end }}
{{ include "airdig.secretEnv" (dict "root" $root "name" "AIRDIG_PULSESIGHT_SECRET" "key" $s.pulsesightSecretKey) }}
- name: AIRDIG_PULSESIGHT_RESOLVER_URL
  value: {{ printf "http://%s:%d" (include "airdig.component" (dict "root" $root "role" "engine")) (int $v.engine.port) | quote }}
{{- if and $s.existingSecret $s.apiTokenKey }}
{{ include "airdig.secretEnv" (dict "root" $root "name" "AIRDIG_PULSESIGHT_RESOLVER_TOKEN" "key" $s.apiTokenKey) }}
{{- end }}
{{- end }}
{{- if eq $role "deepdrift" }}
- name: AIRDIG_ENGINE_URL
  value: {{ printf "http://%s:%d" (include "airdig.component" (dict "root" $root "role" "engine")) (int $v.engine.port) | quote }}
{{- if and $s.existingSecret $s.apiTokenKey }}
{{ include "airdig.secretEnv" (dict "root" $root "name" "AIRDIG_API_TOKEN" "key" $s.apiTokenKey) }}
{{- end }}
{{- end }}
{{- range $name, $value := $v.extraEnv }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{/* Pod-level settings shared by every role; call with (dict "root" $ "cfg" .Values.engine). */}}
{{- define "airdig.podCommon" -}}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with .cfg.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .cfg.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .cfg.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Spread across zones and hosts; call with (dict "root" $ "role" "engine"). */}}
{{- define "airdig.topologySpread" -}}
{{- $ts := .root.Values.topologySpread -}}
topologySpreadConstraints:
{{- range $k := list "zone" "host" }}
{{- $c := index $ts $k }}
  - maxSkew: {{ $c.maxSkew }}
    topologyKey: {{ $c.topologyKey }}
    whenUnsatisfiable: {{ $c.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- include "airdig.selectorLabels" (dict "root" $.root "role" $.role) | nindent 8 }}
{{- end }}
{{- end -}}

{{/* HTTP liveness /healthz and readiness /readyz on a named port; call with (dict "root" $ "port" "http"). */}}
{{- define "airdig.httpProbes" -}}
{{- $p := .root.Values.probes -}}
livenessProbe:
  httpGet:
    path: {{ $p.liveness.path }}
    port: {{ .port }}
  initialDelaySeconds: {{ $p.liveness.initialDelaySeconds }}
  periodSeconds: {{ $p.liveness.periodSeconds }}
  timeoutSeconds: {{ $p.liveness.timeoutSeconds }}
  failureThreshold: {{ $p.liveness.failureThreshold }}
readinessProbe:
  httpGet:
    path: {{ $p.readiness.path }}
    port: {{ .port }}
  initialDelaySeconds: {{ $p.readiness.initialDelaySeconds }}
  periodSeconds: {{ $p.readiness.periodSeconds }}
  timeoutSeconds: {{ $p.readiness.timeoutSeconds }}
  failureThreshold: {{ $p.readiness.failureThreshold }}
{{- end -}}

{{/* Writable scratch: the root filesystem is read-only. */}}
{{- define "airdig.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: data
  mountPath: /data
{{- end -}}

{{- define "airdig.scratchVolumes" -}}
- name: tmp
  emptyDir: {}
{{- end -}}

{{/* POSIX-shell single quoting of one argument. */}}
{{- define "airdig.shquote" -}}
{{- printf "'%s'" (replace "'" "'\\''" (toString .)) -}}
{{- end -}}
