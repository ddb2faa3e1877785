"""What the incident looks like from the outside, stamped with event time: OTLP spans of the
incident's service (normal traffic through the window, then the degraded edge from the onset), and the
Alertmanager v4 webhook whose ``startsAt`` is when the alert fired.
"""

from __future__ import annotations

import os
import random
from typing import Any

from airdig.demo.estate import ACCOUNT, REGION
from airdig.model.events import to_rfc3339
from bench.rca.kube import CLUSTER
from bench.rca.plan import Incident

# continuous traffic, as a service under alerting has: 20 requests a minute, evenly spread (one exported
# batch every 30 s); a burst every two minutes left half the minutes without a call, and no onset can be
# placed closer than the gaps in the traffic
BATCH_EVERY = 30.0  # seconds of event time between two exported batches
PER_BATCH = 10  # requests per batch
K8S_FAMILIES = ("image_deploy", "env_change")
FN_FAMILIES = ("lambda_config", "kms_disabled")


def service_name(inc: Incident) -> str:
    return "worker" if inc.family in FN_FAMILIES else "api"


def symptom(inc: Incident) -> tuple[str, dict[str, str]]:
    """The node the alert is about and the labels the alert carries to name it."""
    if inc.family == "target_deregistered":  # CloudWatch's HealthyHostCount alarm on the target group
        return inc.ids["tg_arn"], {"target_group": inc.ids["tg"]}
    name = service_name(inc)  # the service's own RED alert (latency or error ratio)
    return f"service://{inc.ns}/{name}", {"service_namespace": inc.ns, "service_name": name}


def _resource(inc: Incident, t: float) -> dict[str, str]:
    """The exporting process's resource at ``t``: after a rollout, the new Pod's name."""
    attrs = {"service.name": service_name(inc), "service.namespace": inc.ns, "service.version": "4.1.0",
             "deployment.environment.name": "prod", "cloud.provider": "aws", "cloud.account.id": ACCOUNT,
             "cloud.region": REGION}
    if inc.family in FN_FAMILIES:
        attrs.update({"cloud.platform": "aws_lambda", "faas.name": inc.ids["fn"]})
        return attrs
    attrs.update({"cloud.platform": "aws_ec2", "host.id": inc.ids["host"]})
    if inc.family in K8S_FAMILIES:
        attrs.update({"k8s.cluster.name": CLUSTER, "k8s.namespace.name": inc.ns,
                      "k8s.pod.name": inc.ids["pod_after" if t >= inc.truth_at else "pod_before"]})
    return attrs


def batches(inc: Incident, rng: random.Random, every: float = BATCH_EVERY, lead: float = 1500.0
            ) -> list[tuple[float, bytes]]:
    """ExportTraceServiceRequests, one per ``every`` seconds from ``lead`` seconds before the onset to one
    interval past the alert, each with the time its last span ended (when an SDK would export it)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

    def kv(attrs: dict[str, Any]) -> list[KeyValue]:
        return [KeyValue(key=k, value=AnyValue(int_value=v) if isinstance(v, int) else AnyValue(string_value=v))
                for k, v in attrs.items()]

    out = []
    t = inc.onset - lead
    gap = every / PER_BATCH  # requests spread evenly over the interval
    while t < inc.alert_at + every:
        degraded = t >= inc.onset
        spans = []
        for n in range(PER_BATCH):
            start = t + n * gap
            slow = degraded and inc.degrade == "latency"
            failed = degraded and inc.degrade == "errors" and rng.random() < 0.4
            db_ms = rng.uniform(300, 600) if slow else rng.uniform(3, 9)
            total = db_ms + rng.uniform(2, 6)
            trace_id, server, client = os.urandom(16), os.urandom(8), os.urandom(8)
            err = Status(code=Status.STATUS_CODE_ERROR if failed else Status.STATUS_CODE_UNSET)
            spans.append(Span(trace_id=trace_id, span_id=server, name="POST /orders", kind=Span.SPAN_KIND_SERVER,
                              start_time_unix_nano=int(start * 1e9), end_time_unix_nano=int((start + total / 1000) * 1e9),
                              attributes=kv({"http.request.method": "POST", "http.route": "/orders",
                                             "http.response.status_code": 500 if failed else 200}), status=err))
            spans.append(Span(trace_id=trace_id, span_id=client, parent_span_id=server, name="INSERT orders",
                              kind=Span.SPAN_KIND_CLIENT, start_time_unix_nano=int((start + 0.001) * 1e9),
                              end_time_unix_nano=int((start + 0.001 + db_ms / 1000) * 1e9),
                              attributes=kv({"db.system.name": "postgresql", "db.namespace": "orders",
                                             "db.operation.name": "INSERT", "server.address": inc.ids["db_endpoint"],
                                             "server.port": 5432}), status=err))
        rs = ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])
        rs.resource.attributes.extend(kv(_resource(inc, t)))
        out.append((t + PER_BATCH * gap + 1.0, ExportTraceServiceRequest(resource_spans=[rs]).SerializeToString()))
        t += every
    return out


def alert(inc: Incident) -> dict[str, Any]:
    """The Alertmanager webhook (v4) for the incident's symptom, firing since ``inc.alert_at``."""
    _node, labels = symptom(inc)
    name = "TargetGroupNoHealthyHosts" if inc.family == "target_deregistered" else (
        "ServiceLatencyHigh" if inc.degrade == "latency" else "ServiceErrorRatioHigh")
    full = {"alertname": name, "severity": "critical", **labels}
    return {"version": "4", "groupKey": f"{{}}:{{alertname=\"{name}\"}}", "status": "firing", "receiver": "airdig",
            "groupLabels": {"alertname": name}, "commonLabels": full, "commonAnnotations": {},
            "externalURL": "http://alertmanager.example:9093", "truncatedAlerts": 0,
            "alerts": [{"status": "firing", "labels": full,
                        "annotations": {"summary": f"{labels} {name}"},
                        "startsAt": to_rfc3339(inc.alert_at), "endsAt": "0001-01-01T00:00:00Z",
                        "generatorURL": "http://prometheus.example:9090/graph", "fingerprint": os.urandom(8).hex()}]}
