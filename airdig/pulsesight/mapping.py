"""From signal labels to node ids, through the native-id index; unmapped signals are kept and listed.

Metrics, logs, alerts and Falco events name things the way their exporters do (``instance_id``,
``InstanceId``, ``pod`` + ``namespace``, ``k8s_pod_name``, a 12-character container id, an RDS
identifier, a load-balancer name). :func:`candidates` turns labels into native ids to look up, most
specific first; a :class:`NodeResolver` answers with the node id. PulseSight never reads the store:
:class:`EngineResolver` asks the engine's REST API, :class:`StaticResolver` uses a mapping file (tests,
standalone use).

    mapper = Mapper(StaticResolver({"i-0abc": "arn:aws:ec2:...:instance/i-0abc"}))
    node_id = mapper.map("prometheus", "cpu", {"instance_id": "i-0abc"})
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import httpx
import orjson
import yaml

from airdig.errors import BackendUnavailable, ConfigError
from airdig.logs import get_logger

log = get_logger("pulsesight.mapping")

# label names, in the order tried, that each carry a native id on their own
_SINGLE_LABELS = (
    "node_id", "instance_id", "InstanceId", "instanceId", "aws_instance_id", "host_id", "host.id",
    "k8s_pod_uid", "pod_uid", "k8s.pod.uid",
    "dbinstance_identifier", "DBInstanceIdentifier", "db_instance_identifier", "dbidentifier",
    "DBClusterIdentifier", "dbcluster_identifier",
    "load_balancer", "LoadBalancer", "load_balancer_name", "lb_name", "loadbalancer",
    "TargetGroup", "target_group",
    "FunctionName", "function_name", "QueueName", "queue_name", "TableName", "table_name",
    "CacheClusterId", "cache_cluster_id", "bucket", "BucketName",
)
_POD_PAIRS = (("namespace", "pod"), ("k8s_namespace_name", "k8s_pod_name"), ("k8s.ns.name", "k8s.pod.name"),
              ("kubernetes_namespace", "kubernetes_pod_name"), ("exported_namespace", "exported_pod"))
_NODE_LABELS = ("k8s_node_name", "node", "kubernetes_node", "nodename", "k8s.node.name", "hostname",
                "host", "host_name")
_CONTAINER_LABELS = ("container_id", "container.id", "k8s_container_id")
_SERVICE_PAIRS = (("service_namespace", "service_name"), ("service.namespace", "service.name"))
_CONTAINER_ID = re.compile(r"^(?:[a-z]+://)?([0-9a-f]{12,64})$")


def is_node_id(value: str) -> bool:
    """A label that already holds a node id (ARN, k8s://, service://) needs no lookup."""
    return value.startswith("arn:") or ("://" in value and value.split("://", 1)[0] in (
        "k8s", "service", "terraform"))


def _instance(value: str) -> list[str]:
    """``10.0.1.5:9100`` → the address with and without the port (exporters add the scrape port)."""
    out = [value]
    host, sep, port = value.rpartition(":")
    if sep and port.isdigit() and host and not host.endswith(":"):
        out.append(host.strip("[]"))
    return out


def candidates(labels: Mapping[str, str], prefer: Sequence[str] = (), template: str | None = None) -> list[str]:
    """Native ids (or node ids) a signal's labels may name, most specific first, without duplicates."""
    out: list[str] = []

    def add(v: str | None) -> None:
        if v and v not in out:
            out.append(v)

    if template:
        # a series without the template's labels falls back to the well-known ones
        with contextlib.suppress(KeyError, ValueError, IndexError):
            add(template.format_map(dict(labels)))
    for name in prefer:
        if name in labels:
            for v in _instance(labels[name]) if name == "instance" else [labels[name]]:
                add(v)
    for name in _SINGLE_LABELS:
        add(labels.get(name))
    for ns_label, pod_label in _POD_PAIRS:
        if labels.get(pod_label):
            if labels.get(ns_label):
                add(f"{labels[ns_label]}/{labels[pod_label]}")
            add(labels[pod_label])
    for ns_label, svc_label in _SERVICE_PAIRS:
        if labels.get(svc_label):
            add(f"service://{labels.get(ns_label) or '_'}/{labels[svc_label]}")
    for name in _CONTAINER_LABELS:
        m = _CONTAINER_ID.match(labels.get(name, ""))
        if m:
            add(m.group(1)[:12])  # Falco reports the 12-char prefix; the index matches on it
    if "instance" in labels:
        for v in _instance(labels["instance"]):
            add(v)
    for name in _NODE_LABELS:
        add(labels.get(name))
    return out


@runtime_checkable
class NodeResolver(Protocol):
    """Native id → node ids. Raises :class:`BackendUnavailable` when the index cannot be asked."""

    def resolve(self, native_id: str) -> list[str]: ...


class StaticResolver:
    """A fixed native-id → node-id mapping (a dict, or a YAML/JSON file of one).

    Container ids match on their first 12 characters, as Falco reports them.
    """

    def __init__(self, mapping: Mapping[str, str | Sequence[str]]) -> None:
        self._map: dict[str, list[str]] = {}
        for k, v in mapping.items():
            self._map[str(k)] = [v] if isinstance(v, str) else [str(x) for x in v]
        self._prefix = {k[:12]: v for k, v in self._map.items() if _CONTAINER_ID.match(k) and len(k) > 12}

    @classmethod
    def from_file(cls, path: str | Path) -> StaticResolver:
        p = Path(path)
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError("pulsesight node map", f"cannot read {p}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError("pulsesight node map", f"{p} is not valid YAML/JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError("pulsesight node map", f"{p} must map native ids to node ids")
        return cls(data)

    def resolve(self, native_id: str) -> list[str]:
        return list(self._map.get(native_id) or self._prefix.get(native_id) or [])


class EngineResolver:
    """Asks the engine: ``GET {base}/api/v1/resolve?native_id=...`` → ``{"node_ids": [...]}``.

    Answers (including "no such id") are cached for ``ttl`` seconds so a rule over thousands of series
    costs one request per distinct id per TTL, not per evaluation.
    """

    def __init__(self, base_url: str, token: str | None = None, ttl: float = 60.0, timeout: float = 5.0,
                 transport: httpx.BaseTransport | None = None, ca_file: str | None = None) -> None:
        from airdig.edge.tls import client_context

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout,
                                    transport=transport, verify=client_context(ca_file))
        self._ttl = ttl
        self._cache: dict[str, tuple[float, list[str]]] = {}
        self._lock = threading.Lock()

    def resolve(self, native_id: str) -> list[str]:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(native_id)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        try:
            resp = self._client.get("/api/v1/resolve", params={"native_id": native_id})
        except httpx.HTTPError as exc:
            raise BackendUnavailable("engine resolve API", f"{self.base_url}: {exc}") from exc
        if resp.status_code == 404:
            ids: list[str] = []
        elif resp.status_code != 200:
            raise BackendUnavailable("engine resolve API", f"{self.base_url}: HTTP {resp.status_code}")
        else:
            try:
                body = orjson.loads(resp.content)
            except orjson.JSONDecodeError as exc:
                raise BackendUnavailable("engine resolve API", f"answer is not JSON: {exc}") from exc
            raw = body.get("node_ids") if isinstance(body, dict) else None
            if raw is None and isinstance(body, dict) and isinstance(body.get("node_id"), str):
                raw = [body["node_id"]]
            ids = [str(x) for x in raw] if isinstance(raw, list) else []
        with self._lock:
            self._cache[native_id] = (now, ids)
        return ids

    def close(self) -> None:
        self._client.close()


class Mapper:
    """Labels → one node id, remembering every signal it could not map (served as ``unmapped``)."""

    def __init__(self, resolver: NodeResolver, keep: int = 1000) -> None:
        self.resolver = resolver
        self._keep = keep
        self._unmapped: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()

    def map(self, source: str, signal: str, labels: Mapping[str, str], prefer: Sequence[str] = (),
            template: str | None = None, value: Any = None) -> str | None:
        cands = candidates(labels, prefer, template)
        reason = "no label names a known resource"
        for cand in cands:
            if is_node_id(cand):
                return cand
            try:
                ids = self.resolver.resolve(cand)
            except BackendUnavailable as exc:
                reason = f"resolver unavailable: {exc}"
                log.warning("cannot resolve native id", native_id=cand, reason=str(exc))
                break
            if ids:
                if len(ids) > 1:
                    log.debug("native id names several nodes; taking the first", native_id=cand, nodes=ids)
                return sorted(ids)[0]
            reason = "not in the native-id index"
        self._remember(source, signal, labels, cands, reason, value)
        return None

    def _remember(self, source: str, signal: str, labels: Mapping[str, str], cands: list[str], reason: str,
                  value: Any) -> None:
        key = (source, signal, ",".join(f"{k}={v}" for k, v in sorted(labels.items())))
        with self._lock:
            entry = self._unmapped.pop(key, None) or {"source": source, "signal": signal, "labels": dict(labels),
                                                      "first_seen": time.time(), "count": 0}
            entry.update(candidates=cands, reason=reason, value=value, last_seen=time.time(),
                         count=entry["count"] + 1)
            self._unmapped[key] = entry  # re-inserted last: oldest first when trimming
            while len(self._unmapped) > self._keep:
                self._unmapped.pop(next(iter(self._unmapped)))

    def unmapped(self) -> list[dict[str, Any]]:
        with self._lock:
            return sorted(self._unmapped.values(), key=lambda e: -float(e["last_seen"]))
