"""The compact span summary every TraceCore stage passes on, and its wire form on the bus.

A summary keeps what pairing, the service map and trace search need (ids, kind, times, status, the
handful of semantic-convention attributes in :mod:`.semconv`) and nothing else, so a 20-attribute span
costs a few small objects. Spans of one OTLP ``ResourceSpans`` share one :class:`Resource`.

On the bus a batch travels as one ``airdig.trace.span`` event per trace id (see :func:`encode_batch`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from airdig.errors import InvalidInput
from airdig.model.ids import service_id

KIND_UNSPECIFIED, KIND_INTERNAL, KIND_SERVER, KIND_CLIENT, KIND_PRODUCER, KIND_CONSUMER = range(6)
KIND_NAMES = ("unspecified", "internal", "server", "client", "producer", "consumer")
STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2
STATUS_NAMES = ("unset", "ok", "error")


@dataclass(slots=True)
class Resource:
    """The service that emitted spans, plus the resource attributes that locate it in the estate."""

    service: str
    namespace: str
    attrs: dict[str, str]
    _sid: str = field(default="", repr=False)

    @property
    def service_id(self) -> str:
        if not self._sid:
            self._sid = service_id(self.service, self.namespace or None)
        return self._sid

    def to_wire(self) -> list[Any]:
        return [self.service, self.namespace, self.attrs]


@dataclass(slots=True)
class SpanSummary:
    """One span, reduced. ``attrs`` holds new-name semantic-convention keys (all keys if kept whole)."""

    trace_id: str
    span_id: str
    parent_id: str
    kind: int
    name: str
    start_ns: int
    end_ns: int
    status: int
    resource: Resource
    attrs: dict[str, Any]
    links: tuple[tuple[str, str], ...] = ()
    status_message: str = ""
    state: int = 0  # pairing bookkeeping: 0 pending, 1 paired, 2 counted as unpaired
    partition: int = -1  # where the aggregator read it on the bus (-1: handed over in process)
    offset: int = -1

    @property
    def duration_ms(self) -> float:
        return max(0, self.end_ns - self.start_ns) / 1e6

    def to_store(self) -> dict[str, Any]:
        """The shape :class:`airdig.backends.interfaces.TraceStore` keeps and returns."""
        return {
            "trace_id": self.trace_id, "span_id": self.span_id, "parent_span_id": self.parent_id,
            "name": self.name, "kind": KIND_NAMES[self.kind] if 0 <= self.kind < 6 else "unspecified",
            "service": self.resource.service, "service_namespace": self.resource.namespace,
            "start_unix_nano": self.start_ns, "end_unix_nano": self.end_ns,
            "duration_ms": round(self.duration_ms, 3),
            "status": STATUS_NAMES[self.status] if 0 <= self.status < 3 else "unset",
            "status_message": self.status_message, "attributes": dict(self.attrs),
            "resource": {"service.name": self.resource.service, **self.resource.attrs},
            "links": [{"trace_id": t, "span_id": s} for t, s in self.links],
        }


def group_by_trace(spans: list[SpanSummary]) -> dict[str, list[SpanSummary]]:
    """Route keys for the bus: a span goes to its own trace, and to each other trace it links to,
    so the aggregator owning a producer's trace also sees the consumer that links to it."""
    out: dict[str, list[SpanSummary]] = {}
    for s in spans:
        out.setdefault(s.trace_id, []).append(s)
        for lt, _ in s.links:
            if lt != s.trace_id:
                bucket = out.setdefault(lt, [])
                if not bucket or bucket[-1] is not s:
                    bucket.append(s)
    return out


def encode_batch(spans: list[SpanSummary]) -> dict[str, Any]:
    """``data`` of an ``airdig.trace.span`` event: resources once, spans as positional lists."""
    resources: list[list[Any]] = []
    index: dict[int, int] = {}
    rows: list[list[Any]] = []
    for s in spans:
        ri = index.get(id(s.resource))
        if ri is None:
            ri = index[id(s.resource)] = len(resources)
            resources.append(s.resource.to_wire())
        rows.append([s.trace_id, s.span_id, s.parent_id, s.kind, s.name, s.start_ns, s.end_ns, s.status,
                     ri, s.attrs, [list(x) for x in s.links], s.status_message])
    return {"resources": resources, "spans": rows}


ResourceCache = dict[tuple[Any, ...], Resource]
RESOURCE_CACHE_SIZE = 10_000


def _resource(r: Any, cache: ResourceCache | None) -> Resource:
    """A wire resource; with ``cache``, equal resources of different records share one object (its
    service id is computed once, and the aggregator notes it once per poll)."""
    if cache is None or type(r) is not list or len(r) != 3 or type(r[2]) is not dict:
        return Resource(str(r[0]), str(r[1]), dict(r[2]))
    try:
        key = (r[0], r[1], *r[2].items())
        hit = cache.get(key)
    except TypeError:  # an unhashable attribute value: not shared
        return Resource(str(r[0]), str(r[1]), dict(r[2]))
    if hit is None:
        if len(cache) >= RESOURCE_CACHE_SIZE:
            cache.clear()
        hit = cache[key] = Resource(str(r[0]), str(r[1]), dict(r[2]))
    return hit


def decode_batch(data: dict[str, Any], source: str = "airdig.trace.span",
                 resources_cache: ResourceCache | None = None) -> list[SpanSummary]:
    """Inverse of :func:`encode_batch`, strict about shape because the bus is a trust boundary."""
    try:
        resources = [_resource(r, resources_cache) for r in data["resources"]]
        out = []
        for row in data["spans"]:
            (tid, sid, pid, kind, name, start, end, status, ri, attrs, links, msg) = row
            out.append(SpanSummary(str(tid), str(sid), str(pid), int(kind), str(name), int(start), int(end),
                                   int(status), resources[int(ri)], dict(attrs),
                                   tuple((str(a), str(b)) for a, b in links), str(msg)))
        return out
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise InvalidInput(source, f"malformed span batch: {exc!r}") from None
