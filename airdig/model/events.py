"""The CloudEvents 1.0 envelope and the event types of AirDig's topics.

Pillars publish events, never rows: ``subject`` is the resource id and also the bus key, so one
resource's events stay ordered within a partition. Decoding is strict and every rejection names the
field, because a malformed event goes to the dead-letter topic with that reason.

    ev = resource_event("updated", node, source="skygraph", changed=["attrs.InstanceType"])
    bus.publish(TOPIC_RESOURCES, ev.subject, ev.encode())
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from airdig.errors import InvalidInput
from airdig.model.graph import Edge, Node

TOPIC_RESOURCES = "airdig.resources"
TOPIC_DRIFT = "airdig.drift"
TOPIC_TRACES = "airdig.traces"
TOPIC_HEALTH = "airdig.health"
TOPIC_DEADLETTER = "airdig.deadletter"
TOPICS: dict[str, str] = {
    TOPIC_RESOURCES: "Resource and edge changes from SkyGraph scans (created / updated / deleted).",
    TOPIC_DRIFT: "Drift detected / resolved by DeepDrift, and attributed changes (CloudTrail writes).",
    TOPIC_TRACES: "Service nodes, call edges with per-window statistics, service-to-infrastructure edges.",
    TOPIC_HEALTH: "Health transitions and runtime security events from PulseSight.",
    TOPIC_DEADLETTER: "Events the engine could not apply, with the reason.",
}

# event type -> topic it travels on
EVENT_TYPES: dict[str, str] = {
    "airdig.resource.created": TOPIC_RESOURCES,
    "airdig.resource.updated": TOPIC_RESOURCES,
    "airdig.resource.deleted": TOPIC_RESOURCES,
    "airdig.resource.confirmed": TOPIC_RESOURCES,
    "airdig.edge.observed": TOPIC_RESOURCES,
    "airdig.edge.deleted": TOPIC_RESOURCES,
    "airdig.change.recorded": TOPIC_DRIFT,
    "airdig.drift.detected": TOPIC_DRIFT,
    "airdig.drift.resolved": TOPIC_DRIFT,
    "airdig.drift.coverage": TOPIC_DRIFT,
    "airdig.trace.service": TOPIC_TRACES,
    "airdig.trace.edge": TOPIC_TRACES,
    "airdig.trace.span": TOPIC_TRACES,
    "airdig.health.changed": TOPIC_HEALTH,
    "airdig.security.event": TOPIC_HEALTH,
}

# subject of ``airdig.drift.coverage`` and node id of the change rows the engine keeps it in
DRIFT_COVERAGE_SUBJECT = "deepdrift:coverage"

_REQUIRED = ("specversion", "id", "source", "type", "time", "subject")


# TraceCore's span batches travel on airdig.traces as binary blocks, not CloudEvents (see
# airdig/tracecore/spanblock.py); every other consumer of the topic skips them on these first bytes
SPAN_BLOCK_MAGIC = b"\x00ADSB\x01"


def is_span_block(value: bytes) -> bool:
    """A TraceCore span block (internal to TraceCore's aggregators), not a CloudEvent."""
    return value[:6] == SPAN_BLOCK_MAGIC


def now() -> float:
    import time

    return time.time()


def to_rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_time(value: Any, source: str = "time") -> float:
    """RFC 3339 (``Z`` or offset, any fraction) or epoch seconds → epoch seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str) or not value:
        raise InvalidInput(source, f"expected an RFC 3339 time, got {value!r}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Python 3.11 accepts up to microseconds; trim nanosecond fractions (Falco, Go tools).
    if "." in text:
        head, _, rest = text.partition(".")
        digits = ""
        for ch in rest:
            if not ch.isdigit():
                break
            digits += ch
        text = f"{head}.{digits[:6]}{rest[len(digits):]}" if digits else head + rest
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(source, f"expected an RFC 3339 time, got {value!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


@dataclass(frozen=True)
class CloudEvent:
    """A CloudEvents 1.0 event in structured JSON mode."""

    type: str
    source: str
    subject: str
    data: dict[str, Any]
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    time: float = field(default_factory=now)
    specversion: str = "1.0"

    @property
    def topic(self) -> str:
        return EVENT_TYPES[self.type]

    def to_dict(self) -> dict[str, Any]:
        return {
            "specversion": self.specversion, "id": self.id, "source": self.source, "type": self.type,
            "time": to_rfc3339(self.time), "subject": self.subject,
            "datacontenttype": "application/json", "data": self.data,
        }

    def encode(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def decode(cls, raw: bytes | str, source: str = "event") -> CloudEvent:
        """Parse and validate an envelope; :class:`InvalidInput` says exactly what is wrong."""
        try:
            d = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(source, f"not JSON: {exc}") from None
        if not isinstance(d, dict):
            raise InvalidInput(source, "a CloudEvent must be a JSON object")
        missing = [k for k in _REQUIRED if not d.get(k)]
        if missing:
            raise InvalidInput(source, f"CloudEvent lacks required attribute(s): {', '.join(missing)}")
        if d["specversion"] != "1.0":
            raise InvalidInput(source, f"unsupported specversion {d['specversion']!r} (want '1.0')")
        for key in ("id", "source", "type", "subject"):
            if not isinstance(d[key], str):
                raise InvalidInput(source, f"CloudEvent attribute {key!r} must be a string")
        if d["type"] not in EVENT_TYPES:
            raise InvalidInput(source, f"unknown event type {d['type']!r}")
        data = d.get("data")
        if not isinstance(data, dict):
            raise InvalidInput(source, f"event {d['id']}: 'data' must be a JSON object")
        return cls(type=d["type"], source=d["source"], subject=d["subject"], data=data, id=d["id"],
                   time=parse_time(d["time"], f"{source}: time"), specversion="1.0")


def resource_event(action: str, node: Node, source: str, changed: list[str] | None = None,
                   time: float | None = None, actor: str | None = None,
                   confirmed_at: float | None = None) -> CloudEvent:
    """``airdig.resource.created|updated|deleted`` carrying the node snapshot.

    ``confirmed_at`` (optional, never on ``deleted``): when the read that returned this snapshot was
    made — the cloud's own confirmation that the node exists as described (see :func:`confirm_events`).
    """
    if action not in ("created", "updated", "deleted"):
        raise ValueError(f"unknown resource action {action!r}")
    data: dict[str, Any] = {"node": node.to_dict()}
    if changed:
        data["changed"] = changed
    if actor:
        data["actor"] = actor
    if confirmed_at is not None and action != "deleted":
        data["confirmed_at"] = to_rfc3339(confirmed_at)
    kwargs: dict[str, Any] = {} if time is None else {"time": time}
    return CloudEvent(type=f"airdig.resource.{action}", source=source, subject=node.id, data=data, **kwargs)


CONFIRM_SUBJECT_PREFIX = "scope://"
CONFIRM_CHUNK = 1000  # node ids per confirmation event: ~100 KB, well under Kafka's 1 MB default


def confirm_events(scope: str, node_ids: list[str], at: float, source: str, interval: float | None = None,
                   time: float | None = None, chunk: int = CONFIRM_CHUNK) -> list[CloudEvent]:
    """``airdig.resource.confirmed``: the read of ``scope`` made at ``at`` saw these nodes unchanged.

    A scan publishes only differences, so without this a node that never changes would look as old as
    its last change. One event per ``chunk`` ids, keyed by the scope (``scope://<scope>``), with
    ``interval`` = seconds since the scope's previous successful read (the scan cadence the UI judges
    staleness by). Applying it only moves ``confirmed_at`` forward: no timeline row, no new version.
    """
    kwargs: dict[str, Any] = {} if time is None else {"time": time}
    base: dict[str, Any] = {"scope": scope, "confirmed_at": to_rfc3339(at)}
    if interval is not None:
        base["interval"] = round(interval, 3)
    return [CloudEvent(type="airdig.resource.confirmed", source=source, subject=CONFIRM_SUBJECT_PREFIX + scope,
                       data={**base, "nodes": node_ids[i:i + chunk]}, **kwargs)
            for i in range(0, len(node_ids), chunk)]


def edge_event(action: str, edge: Edge, source: str, time: float | None = None) -> CloudEvent:
    """``airdig.edge.observed|deleted``; keyed by the edge's source node."""
    if action not in ("observed", "deleted"):
        raise ValueError(f"unknown edge action {action!r}")
    kwargs: dict[str, Any] = {} if time is None else {"time": time}
    return CloudEvent(type=f"airdig.edge.{action}", source=source, subject=edge.src,
                      data={"edge": edge.to_dict()}, **kwargs)


def decode_node(ev: CloudEvent) -> Node:
    return Node.from_dict(ev.data.get("node"), f"event {ev.id}: data.node")


def decode_edge(ev: CloudEvent) -> Edge:
    return Edge.from_dict(ev.data.get("edge"), f"event {ev.id}: data.edge")
