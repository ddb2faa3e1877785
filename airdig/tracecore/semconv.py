"""Semantic-convention keys TraceCore reads, each with the older name instrumentations still send.

OpenTelemetry renamed many attributes (``db.name`` -> ``db.namespace``, ``http.status_code`` ->
``http.response.status_code``...). Real fleets run both generations at once, so every key is read
under both names and stored under the new one; when a span carries both, the new name wins.
"""

from __future__ import annotations

# new name -> older names, in preference order
KEY_PAIRS: dict[str, tuple[str, ...]] = {
    "db.namespace": ("db.name",),
    "db.system.name": ("db.system",),
    "service.peer.name": ("peer.service",),
    "server.address": ("net.peer.name", "net.sock.peer.name"),
    "server.port": ("net.peer.port",),
    "http.response.status_code": ("http.status_code",),
    "rpc.grpc.status_code": (),
    "rpc.system": (),
    "messaging.system": (),
    "messaging.destination.name": ("messaging.destination",),
}

# every accepted key -> (its new name, priority: 0 = new name, higher = older)
SPAN_KEYS: dict[str, tuple[str, int]] = {}
for _new, _olds in KEY_PAIRS.items():
    SPAN_KEYS[_new] = (_new, 0)
    for _i, _old in enumerate(_olds, start=1):
        SPAN_KEYS[_old] = (_new, _i)

# resource attributes that name the service or the infrastructure it runs on
RESOURCE_KEYS: frozenset[str] = frozenset({
    "service.name", "service.namespace", "service.version", "service.instance.id",
    "host.id", "host.name", "k8s.pod.uid", "k8s.pod.name", "k8s.namespace.name", "k8s.node.name",
    "k8s.cluster.name", "container.id", "cloud.resource_id", "cloud.provider", "cloud.platform",
    "cloud.account.id", "cloud.region", "faas.name", "faas.id", "deployment.environment",
    "deployment.environment.name",
})

DB_SYSTEM = "db.system.name"
DB_NAMESPACE = "db.namespace"
PEER_SERVICE = "service.peer.name"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
HTTP_STATUS = "http.response.status_code"
GRPC_STATUS = "rpc.grpc.status_code"
MESSAGING_SYSTEM = "messaging.system"
MESSAGING_DESTINATION = "messaging.destination.name"


def normalize(attrs: dict[str, object]) -> dict[str, object]:
    """Map a plain attribute dict onto the new names (the new name wins over an old one)."""
    out: dict[str, object] = {}
    prio: dict[str, int] = {}
    for key, value in attrs.items():
        hit = SPAN_KEYS.get(key)
        if hit is None:
            continue
        new, p = hit
        if new not in prio or p < prio[new]:
            out[new] = value
            prio[new] = p
    return out
