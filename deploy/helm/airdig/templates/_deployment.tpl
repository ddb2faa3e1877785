{{/*
One role's Deployment. Call with a dict:
  root, role, cfg (the role's values), args (the airdig command line), ports (list of
  {name, port}), probePort (named port for /healthz and /readyz, "" = no HTTP probes), spread (bool),
  autoscaled (bool: leave replicas to the HPA/KEDA), dataClaim (PVC name for /data, "" = emptyDir),
  recreate (bool), execProbe (optional command list: an exec liveness probe for a role without a
  listener), serviceAccount (optional: a service account other than the chart's, e.g. the scanner's).
*/}}
{{- define "airdig.deployment" -}}
{{- $root := .root -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "airdig.component" (dict "root" $root "role" .role) }}
  labels:
    {{- include "airdig.labels" (dict "root" $root "role" .role) | nindent 4 }}
spec:
  {{- if not .autoscaled }}
  replicas: {{ .cfg.replicas | default 1 }}
  {{- end }}
  revisionHistoryLimit: 5
  {{- if .recreate }}
  strategy:
    type: Recreate
  {{- end }}
  selector:
    matchLabels:
      {{- include "airdig.selectorLabels" (dict "root" $root "role" .role) | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "airdig.labels" (dict "root" $root "role" .role) | nindent 8 }}
      {{- if .probePort }}
      annotations:
        prometheus.io/scrape: "true"
        prometheus.io/path: /metrics
        prometheus.io/port: {{ (index .ports 0).port | quote }}
      {{- end }}
    spec:
      serviceAccountName: {{ .serviceAccount | default (include "airdig.serviceAccountName" $root) }}
      automountServiceAccountToken: false
      {{- include "airdig.podCommon" (dict "root" $root "cfg" .cfg) | trim | nindent 6 }}
      {{- if .spread }}
      {{- include "airdig.topologySpread" (dict "root" $root "role" .role) | nindent 6 }}
      {{- end }}
      containers:
        - name: {{ .role }}
          image: {{ include "airdig.image" $root }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args:
            {{- toYaml .args | nindent 12 }}
          env:
            {{- include "airdig.env" (dict "root" $root "role" .role) | nindent 12 }}
          {{- with $root.Values.extraEnvFrom }}
          envFrom:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with .ports }}
          ports:
            {{- range . }}
            - name: {{ .name }}
              containerPort: {{ .port }}
              protocol: TCP
            {{- end }}
          {{- end }}
          {{- if .probePort }}
          {{- include "airdig.httpProbes" (dict "root" $root "port" .probePort) | nindent 10 }}
          {{- else if .execProbe }}
          livenessProbe:
            exec:
              command:
                {{- toYaml .execProbe | nindent 16 }}
            initialDelaySeconds: {{ $root.Values.probes.liveness.initialDelaySeconds }}
            periodSeconds: {{ $root.Values.probes.liveness.periodSeconds }}
            timeoutSeconds: {{ $root.Values.probes.liveness.timeoutSeconds }}
            failureThreshold: {{ $root.Values.probes.liveness.failureThreshold }}
          {{- end }}
          resources:
            {{- toYaml .cfg.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            {{- include "airdig.volumeMounts" . | nindent 12 }}
      volumes:
        {{- include "airdig.scratchVolumes" . | nindent 8 }}
        - name: data
          {{- if .dataClaim }}
          persistentVolumeClaim:
            claimName: {{ .dataClaim }}
          {{- else }}
          emptyDir: {}
          {{- end }}
{{- end -}}

{{/* ClusterIP Service; call with (dict "root" $ "role" "engine" "ports" (list (dict "name" "http" "port" 8080))). */}}
{{- define "airdig.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "airdig.component" (dict "root" .root "role" .role) }}
  labels:
    {{- include "airdig.labels" (dict "root" .root "role" .role) | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "airdig.selectorLabels" (dict "root" .root "role" .role) | nindent 4 }}
  ports:
    {{- range .ports }}
    - name: {{ .name }}
      port: {{ .port }}
      targetPort: {{ .name }}
      protocol: TCP
      {{- if .appProtocol }}
      appProtocol: {{ .appProtocol }}
      {{- end }}
    {{- end }}
{{- end -}}

{{/* PodDisruptionBudget from cfg.pdb (minAvailable or maxUnavailable). */}}
{{- define "airdig.pdb" -}}
{{- if .cfg.pdb.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "airdig.component" (dict "root" .root "role" .role) }}
  labels:
    {{- include "airdig.labels" (dict "root" .root "role" .role) | nindent 4 }}
spec:
  {{- if hasKey .cfg.pdb "minAvailable" }}
  minAvailable: {{ .cfg.pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ .cfg.pdb.maxUnavailable | default 1 }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "airdig.selectorLabels" (dict "root" .root "role" .role) | nindent 6 }}
{{- end }}
{{- end -}}
