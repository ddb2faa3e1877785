"""PulseSight: health of graph nodes from metrics, logs, runtime security events and alerts.

Signals (PromQL/LogQL rule results, TraceCore edge statistics, Alertmanager alerts, Falco events) are
mapped to node ids through the native-id index, folded into one status per node (worst wins) and every
status transition is published as ``airdig.health.changed``. PulseSight never writes the store.
"""
