"""From OpenTelemetry resource attributes and peer attributes to graph nodes.

Rules (documented in docs/tracecore.md):

* ``host.id`` is an EC2 instance id on AWS. Its ARN needs the account and region: when the resource
  carries ``cloud.account.id`` and ``cloud.region`` (the AWS resource detectors set both) we publish the
  instance ARN; otherwise ``native://<host.id>``, which the engine resolves through its native-id index.
  ``host.name`` is used (as ``native://``) only when there is no ``host.id``.
* Pods: ``k8s://<cluster>/<namespace>/pod/<name>`` when ``k8s.cluster.name`` is known, else
  ``native://<k8s.pod.uid>``, else ``native://<namespace>/<pod name>``. Nodes likewise.
* ``container.id`` is published as its 12-character short form (``native://<first 12 hex>``), the
  one form that a full id and a short id share.
* ``faas.name`` -> Lambda ARN with account and region, else ``native://<name>``;
  ``cloud.resource_id`` as is when it is an ARN, else ``native://``.
* A virtual database node whose address ends in ``.rds.amazonaws.com`` or ``.cache.amazonaws.com``
  depends on ``native://<address>`` (the endpoint DNS name; SkyGraph indexes it).
"""

from __future__ import annotations

from typing import Any

from airdig.model.graph import Node
from airdig.model.ids import aws_arn, k8s_id
from airdig.tracecore import semconv as sc
from airdig.tracecore.spans import Resource, SpanSummary

NATIVE = "native://"
_AWS_ENDPOINT_SUFFIXES = (".rds.amazonaws.com", ".cache.amazonaws.com", ".rds.amazonaws.com.cn",
                          ".cache.amazonaws.com.cn")


def native(value: str) -> str:
    return NATIVE + value


def infra_refs(res: Resource) -> list[str]:
    """Node ids (or ``native://`` references) the service of ``res`` runs on, most specific first."""
    a = res.attrs
    out: list[str] = []
    account, region = a.get("cloud.account.id", ""), a.get("cloud.region", "")
    cluster = a.get("k8s.cluster.name", "")
    if a.get("faas.name"):
        if account and region:
            out.append(f"arn:aws:lambda:{region}:{account}:function:{a['faas.name']}")
        else:
            out.append(native(a["faas.name"]))
    rid = a.get("cloud.resource_id", "")
    if rid:
        out.append(rid if rid.startswith("arn:") else native(rid))
    pod, ns = a.get("k8s.pod.name", ""), a.get("k8s.namespace.name", "")
    if pod and ns and cluster:
        out.append(k8s_id(cluster, ns, "pod", pod))
    elif a.get("k8s.pod.uid"):
        out.append(native(a["k8s.pod.uid"]))
    elif pod and ns:
        out.append(native(f"{ns}/{pod}"))
    node = a.get("k8s.node.name", "")
    if node:
        out.append(k8s_id(cluster, None, "node", node) if cluster else native(node))
    cid = a.get("container.id", "")
    if cid:
        out.append(native(cid[:12]))
    hid = a.get("host.id", "")
    if hid:
        aws = a.get("cloud.provider", "aws") == "aws" and hid.startswith("i-")
        out.append(aws_arn("aws.ec2.instance", region, account, hid) if aws and account and region
                   else native(hid))
    elif a.get("host.name"):
        out.append(native(a["host.name"]))
    seen: set[str] = set()
    return [x for x in out if not (x in seen or seen.add(x))]  # type: ignore[func-returns-value]


def service_node(res: Resource) -> Node:
    attrs: dict[str, Any] = {"service.name": res.service}
    if res.namespace:
        attrs["service.namespace"] = res.namespace
    for key in ("service.version", "deployment.environment.name", "deployment.environment"):
        if res.attrs.get(key):
            attrs[key] = res.attrs[key]
    return Node(id=res.service_id, kind="service", provider="otel", name=res.service, attrs=attrs,
                account=res.attrs.get("cloud.account.id", ""), region=res.attrs.get("cloud.region", ""))


def virtual_peer(span: SpanSummary) -> tuple[Node, str] | None:
    """The node a client/producer span calls when no server side answered, with the connection type
    (``database``, ``messaging_system`` or ``virtual_node``), or None if the span names no peer."""
    a = span.attrs
    addr = a.get(sc.SERVER_ADDRESS)
    port = a.get(sc.SERVER_PORT)
    endpoint = f"{addr}:{port}" if addr and port else (str(addr) if addr else "")
    system = a.get(sc.DB_SYSTEM)
    if system:
        dbname = a.get(sc.DB_NAMESPACE)
        name = endpoint or (f"{system}/{dbname}" if dbname else str(system))
        attrs: dict[str, Any] = {"db.system.name": system}
        if dbname:
            attrs["db.namespace"] = dbname
        if addr:
            attrs["server.address"] = addr
        if port:
            attrs["server.port"] = port
        return Node(id=f"service://~db/{name}", kind="service.database", provider="otel", name=name,
                    attrs=attrs), "database"
    msys = a.get(sc.MESSAGING_SYSTEM)
    if msys:
        dest = a.get(sc.MESSAGING_DESTINATION) or endpoint or "unknown"
        name = f"{msys}/{dest}"
        return Node(id=f"service://~queue/{name}", kind="service.queue", provider="otel", name=name,
                    attrs={"messaging.system": msys, "messaging.destination.name": dest}), "messaging_system"
    peer = a.get(sc.PEER_SERVICE) or endpoint
    if peer:
        return Node(id=f"service://~external/{peer}", kind="service.external", provider="otel", name=str(peer),
                    attrs={"peer": peer}), "virtual_node"
    return None


def endpoint_dependency(node: Node) -> str | None:
    """``native://<endpoint>`` for a virtual database on an RDS / ElastiCache endpoint."""
    addr = node.attrs.get("server.address")
    if node.kind == "service.database" and isinstance(addr, str) and addr.lower().endswith(_AWS_ENDPOINT_SUFFIXES):
        return native(addr.lower())
    return None
