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
{{- $proto := $k.securityProtocol | default "PLAINTEXT" -}}
{{- if not (has $proto (list "PLAINTEXT" "SSL" "SASL_SSL" "SASL_PLAINTEXT")) }}
{{- fail "dataPlatform.kafka.securityProtocol must be PLAINTEXT, SSL, SASL_SSL or SASL_PLAINTEXT" }}
{{- end }}
{{- if ne $proto "PLAINTEXT" }}{{ $q = printf "%s&security.protocol=%s" $q $proto }}{{ end -}}
{{- if $k.saslMechanism }}
{{- $q = printf "%s&sasl.mechanism=%s" $q $k.saslMechanism }}
{{- if eq $k.saslMechanism "AWS_MSK_IAM" }}
{{- $q = printf "%s&region=%s" $q (required "dataPlatform.kafka.region is required with AWS_MSK_IAM" $k.region) }}
{{- end }}
{{- if $k.saslUsername }}{{ $q = printf "%s&sasl.username=%s" $q $k.saslUsername }}{{ end -}}
{{- if and .Values.secrets.existingSecret .Values.secrets.kafkaPasswordKey }}
{{- $q = printf "%s&sasl.password_env=AIRDIG_SECRET_KAFKA_PASSWORD" $q }}
{{- end }}
{{- end }}
{{- if and (contains "SSL" $proto) .Values.tls.existingSecret .Values.tls.caKey }}
{{- $q = printf "%s&ssl.ca.location=%s" $q (include "airdig.tlsFile" (dict "key" .Values.tls.caKey)) }}
{{- end }}
{{- range $name, $value := $k.properties }}
{{- if regexMatch "(?i)password|secret" $name }}
{{- fail (printf "dataPlatform.kafka.properties.%s looks like a credential: put it in secrets.existingSecret" $name) }}
{{- end }}
{{- $q = printf "%s&%s=%s" $q $name (toString $value) }}
{{- end }}
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
{{- if and $s.existingSecret $s.kafkaPasswordKey }}
{{ include "airdig.secretEnv" (dict "root" $root "name" "AIRDIG_SECRET_KAFKA_PASSWORD" "key" $s.kafkaPasswordKey) }}
{{- end }}
- name: AIRDIG_BUS_URL
  value: {{ include "airdig.busUrl" $root | quote }}
- name: AIRDIG_CONSUMER_GROUP
  value: {{ $v.engine.consumerGroup | quote }}
{{- if $dp.tenant }}
- name: AIRDIG_TENANT
  value: {{ $dp.tenant | quote }}
{{- end }}
{{- $tcAuth := $v.tracecore.auth | default dict -}}
{{- if eq $role "tracecore" }}
{{- if not (or $tcAuth.tokenStore $tcAuth.tokensFileKey) }}
{{- fail "tracecore checks OTLP senders' bearer tokens: set tracecore.auth.tokenStore=true and/or tracecore.auth.tokensFileKey" }}
{{- end }}
{{- if $tcAuth.tokenStore }}
- name: AIRDIG_TOKEN_STORE
  value: "on"
{{- end }}
{{- if $tcAuth.tokensFileKey }}
{{- if not $s.existingSecret }}
{{- fail "tracecore.auth.tokensFileKey names a key of secrets.existingSecret: set secrets.existingSecret" }}
{{- end }}
- name: AIRDIG_TOKENS_FILE
  value: {{ printf "/etc/airdig/tokens/%s" $tcAuth.tokensFileKey | quote }}
{{- end }}
{{- end }}
{{- if or (has $role (list "engine" "migrate" "prune")) (and (eq $role "tracecore") $tcAuth.tokenStore) }}
{{- $db := required "dataPlatform.database.url is required (e.g. mysql://airdig@basic-tidb.tidb:4000/airdig)" $dp.database.url }}
{{- $db = include "airdig.databaseUrl" $root }}
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
{{- $redis := $dp.redis.url }}
{{- if and (hasPrefix "rediss://" $redis) $v.tls.existingSecret $v.tls.caKey }}
{{- $redis = printf "%s%sssl_ca=%s" $redis (include "airdig.sep" $redis) (include "airdig.tlsFile" (dict "key" $v.tls.caKey)) }}
{{- end }}
- name: AIRDIG_CACHE_URL
  value: {{ regexReplaceAll "^(rediss?)://(([^@:/]*)(:[^@]*)?@)?" $redis "${1}://${3}:$(AIRDIG_SECRET_REDIS_PASSWORD)@" | quote }}
{{- else }}
{{- $redis := $dp.redis.url }}
{{- if and (hasPrefix "rediss://" $redis) $v.tls.existingSecret $v.tls.caKey }}
{{- $redis = printf "%s%sssl_ca=%s" $redis (include "airdig.sep" $redis) (include "airdig.tlsFile" (dict "key" $v.tls.caKey)) }}
{{- end }}
- name: AIRDIG_CACHE_URL
  value: {{ $redis | quote }}
{{- end }}
{{- end }}
{{- if and (has $role (list "engine" "tracecore")) $dp.tempo.url }}
- name: AIRDIG_TRACES_URL
  value: {{ $dp.tempo.url | quote }}
{{- if and $s.existingSecret $s.tracesAuthKey }}
{{ include "airdig.secretEnv" (dict "root" $root "name" "AIRDIG_TRACES_AUTH" "key" $s.tracesAuthKey) }}
{{- end }}
{{- end }}
{{- if and $v.tls.serve (has $role (list "engine" "ui" "tracecore" "pulsesight")) }}
{{- if not $v.tls.existingSecret }}
{{- fail "tls.serve needs tls.existingSecret (a Secret with tls.certKey and tls.keyKey)" }}
{{- end }}
- name: AIRDIG_TLS_CERT_FILE
  value: {{ include "airdig.tlsFile" (dict "key" $v.tls.certKey) | quote }}
- name: AIRDIG_TLS_KEY_FILE
  value: {{ include "airdig.tlsFile" (dict "key" $v.tls.keyKey) | quote }}
{{- end }}
{{- if and (or (has $role (list "engine" "tracecore" "pulsesight")) (and $v.tls.serve (has $role (list "ui" "deepdrift")))) $v.tls.existingSecret }}
{{- if $v.tls.caKey }}
- name: AIRDIG_HTTP_CA_FILE
  value: {{ include "airdig.tlsFile" (dict "key" $v.tls.caKey) | quote }}
{{- end }}
{{- if and $v.tls.clientCertKey $v.tls.clientKeyKey }}
- name: AIRDIG_HTTP_CERT_FILE
  value: {{ include "airdig.tlsFile" (dict "key" $v.tls.clientCertKey) | quote }}
- name: AIRDIG_HTTP_KEY_FILE
  value: {{ include "airdig.tlsFile" (dict "key" $v.tls.clientKeyKey) | quote }}
{{- end }}
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
{{- if and $s.existingSecret $s.metricsAuthKey $dp.mimir.url }}
{{ include "airdig.secretEnv" (dict "root" $root "name" "AIRDIG_METRICS_AUTH" "key" $s.metricsAuthKey) }}
{{- end }}
{{- if and $s.existingSecret $s.logsAuthKey $dp.loki.url }}
{{ include "airdig.secretEnv" (dict "root" $root "name" "AIRDIG_LOGS_AUTH" "key" $s.logsAuthKey) }}
{{- end }}
{{- if not (and $s.existingSecret $s.pulsesightSecretKey) }}
{{- fail "pulsesight listens on the pod network and needs a webhook secret: set secrets.existingSecret and secrets.pulsesightSecretKey (or pulsesight.enabled=false)" }}
{{- end }}
{{ include "airdig.secretEnv" (dict "root" $root "name" "AIRDIG_PULSESIGHT_SECRET" "key" $s.pulsesightSecretKey) }}
- name: AIRDIG_PULSESIGHT_RESOLVER_URL
  value: {{ include "airdig.engineUrl" $root | quote }}
{{- if and $s.existingSecret $s.apiTokenKey }}
{{ include "airdig.secretEnv" (dict "root" $root "name" "AIRDIG_PULSESIGHT_RESOLVER_TOKEN" "key" $s.apiTokenKey) }}
{{- end }}
{{- end }}
{{- if eq $role "deepdrift" }}
- name: AIRDIG_ENGINE_URL
  value: {{ include "airdig.engineUrl" $root | quote }}
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

{{/* The engine's in-cluster URL (https when tls.serve). */}}
{{- define "airdig.engineUrl" -}}
{{- printf "%s://%s:%d" (ternary "https" "http" (.Values.tls.serve | default false)) (include "airdig.component" (dict "root" . "role" "engine")) (int .Values.engine.port) -}}
{{- end -}}

{{/* HTTP liveness /healthz and readiness /readyz on a named port; call with (dict "root" $ "port" "http").
     With tls.serve the probes speak HTTPS (the kubelet does not verify the certificate). */}}
{{- define "airdig.httpProbes" -}}
{{- $p := .root.Values.probes -}}
{{- $scheme := ternary "HTTPS" "HTTP" (.root.Values.tls.serve | default false) -}}
livenessProbe:
  httpGet:
    path: {{ $p.liveness.path }}
    port: {{ .port }}
    scheme: {{ $scheme }}
  initialDelaySeconds: {{ $p.liveness.initialDelaySeconds }}
  periodSeconds: {{ $p.liveness.periodSeconds }}
  timeoutSeconds: {{ $p.liveness.timeoutSeconds }}
  failureThreshold: {{ $p.liveness.failureThreshold }}
readinessProbe:
  httpGet:
    path: {{ $p.readiness.path }}
    port: {{ .port }}
    scheme: {{ $scheme }}
  initialDelaySeconds: {{ $p.readiness.initialDelaySeconds }}
  periodSeconds: {{ $p.readiness.periodSeconds }}
  timeoutSeconds: {{ $p.readiness.timeoutSeconds }}
  failureThreshold: {{ $p.readiness.failureThreshold }}
{{- end -}}

{{/* Writable scratch: the root filesystem is read-only. */}}
{{- define "airdig.volumeMounts" -}}
{{- $root := .root | default . -}}
- name: tmp
  mountPath: /tmp
- name: data
  mountPath: /data
{{- if $root.Values.tls.existingSecret }}
- name: tls
  mountPath: /etc/airdig/tls
  readOnly: true
{{- end }}
{{- if and (eq (.role | default "") "tracecore") ($root.Values.tracecore.auth | default dict).tokensFileKey }}
- name: tokens
  mountPath: /etc/airdig/tokens
  readOnly: true
{{- end }}
{{- end -}}

{{- define "airdig.scratchVolumes" -}}
{{- $root := .root | default . -}}
- name: tmp
  emptyDir: {}
{{- if $root.Values.tls.existingSecret }}
- name: tls
  secret:
    secretName: {{ $root.Values.tls.existingSecret }}
    defaultMode: 0444
{{- end }}
{{- $tcAuth := $root.Values.tracecore.auth | default dict }}
{{- if and (eq (.role | default "") "tracecore") $tcAuth.tokensFileKey }}
- name: tokens
  secret:
    secretName: {{ $root.Values.secrets.existingSecret }}
    items:
      - key: {{ $tcAuth.tokensFileKey }}
        path: {{ $tcAuth.tokensFileKey }}
    defaultMode: 0440
{{- end }}
{{- end -}}

{{/* A file of tls.existingSecret as mounted; call with (dict "root" $ "key" "ca.crt"). */}}
{{- define "airdig.tlsFile" -}}
{{- printf "/etc/airdig/tls/%s" .key -}}
{{- end -}}

{{/* "?" or "&": how to append one more option to URL . */}}
{{- define "airdig.sep" -}}
{{- if contains "?" . }}&{{ else }}?{{ end -}}
{{- end -}}

{{/* The database URL with its TLS options (dataPlatform.database.tls, tls.*). */}}
{{- define "airdig.databaseUrl" -}}
{{- $v := .Values -}}
{{- $url := $v.dataPlatform.database.url -}}
{{- $mode := $v.dataPlatform.database.tls | default "" -}}
{{- if $mode }}
{{- if not (has $mode (list "required" "verify_ca" "verify_identity")) }}
{{- fail "dataPlatform.database.tls must be empty, required, verify_ca or verify_identity" }}
{{- end }}
{{- $url = printf "%s%sssl_mode=%s" $url (include "airdig.sep" $url) $mode }}
{{- if and $v.tls.existingSecret $v.tls.caKey }}
{{- $url = printf "%s&ssl_ca=%s" $url (include "airdig.tlsFile" (dict "key" $v.tls.caKey)) }}
{{- end }}
{{- if and $v.tls.existingSecret $v.tls.clientCertKey $v.tls.clientKeyKey }}
{{- $url = printf "%s&ssl_cert=%s&ssl_key=%s" $url (include "airdig.tlsFile" (dict "key" $v.tls.clientCertKey)) (include "airdig.tlsFile" (dict "key" $v.tls.clientKeyKey)) }}
{{- end }}
{{- end }}
{{- $url -}}
{{- end -}}

{{/* POSIX-shell single quoting of one argument. */}}
{{- define "airdig.shquote" -}}
{{- printf "'%s'" (replace "'" "'\\''" (toString .)) -}}
{{- end -}}
