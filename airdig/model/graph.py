"""Nodes and edges of the unified graph, as plain frozen values.

Times are UNIX epoch seconds (float) everywhere inside AirDig; the APIs render them as RFC 3339.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from airdig.errors import InvalidInput
from airdig.model.kinds import DRIFT_STATUSES, EDGE_TYPES, HEALTH_STATUSES


@dataclass(frozen=True)
class Health:
    status: str = "unknown"
    reasons: tuple[dict[str, Any], ...] = ()
    since: float | None = None


@dataclass(frozen=True)
class Drift:
    status: str = "unknown"
    last_event: str | None = None


@dataclass(frozen=True)
class Node:
    """A resource, service or other thing in the graph; ``id`` is globally unique and stable."""

    id: str
    kind: str
    provider: str = ""
    account: str = ""
    region: str = ""
    name: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    native_ids: tuple[str, ...] = ()
    managed_by: str | None = None
    health: Health = Health()
    drift: Drift = Drift()
    first_seen: float | None = None
    last_seen: float | None = None
    deleted_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The shape of ``skygraph scan --output`` plus the optional fields."""
        d: dict[str, Any] = {
            "id": self.id, "kind": self.kind, "provider": self.provider, "account": self.account,
            "region": self.region, "name": self.name, "attrs": self.attrs, "tags": self.tags,
        }
        if self.native_ids:
            d["native_ids"] = list(self.native_ids)
        if self.managed_by:
            d["managed_by"] = self.managed_by
        return d

    @classmethod
    def from_dict(cls, d: Any, source: str = "node") -> Node:
        """Build from untrusted data, rejecting it with a precise reason."""
        if not isinstance(d, dict):
            raise InvalidInput(source, f"a node must be an object, got {type(d).__name__}")
        for key in ("id", "kind"):
            if not isinstance(d.get(key), str) or not d[key]:
                raise InvalidInput(source, f"node field {key!r} must be a non-empty string")
        attrs = d.get("attrs") or {}
        tags = d.get("tags") or {}
        if not isinstance(attrs, dict):
            raise InvalidInput(source, f"node {d['id']}: 'attrs' must be an object")
        if not isinstance(tags, dict):
            raise InvalidInput(source, f"node {d['id']}: 'tags' must be an object")
        natives = d.get("native_ids") or []
        if not isinstance(natives, list) or not all(isinstance(n, str) for n in natives):
            raise InvalidInput(source, f"node {d['id']}: 'native_ids' must be a list of strings")
        for key in ("provider", "account", "region", "name"):
            if d.get(key) is not None and not isinstance(d[key], str):
                raise InvalidInput(source, f"node {d['id']}: {key!r} must be a string")
        return cls(
            id=d["id"], kind=d["kind"], provider=d.get("provider") or "", account=d.get("account") or "",
            region=d.get("region") or "", name=d.get("name") or "", attrs=attrs,
            tags={str(k): str(v) for k, v in tags.items()}, native_ids=tuple(natives),
            managed_by=d.get("managed_by"),
        )


@dataclass(frozen=True)
class Edge:
    """A directed, typed relation ``src -[type]-> dst``."""

    src: str
    dst: str
    type: str
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.src, self.type, self.dst)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"src": self.src, "dst": self.dst, "type": self.type}
        if self.attrs:
            d["attrs"] = self.attrs
        return d

    @classmethod
    def from_dict(cls, d: Any, source: str = "edge") -> Edge:
        if not isinstance(d, dict):
            raise InvalidInput(source, f"an edge must be an object, got {type(d).__name__}")
        for key in ("src", "dst", "type"):
            if not isinstance(d.get(key), str) or not d[key]:
                raise InvalidInput(source, f"edge field {key!r} must be a non-empty string")
        if d["type"] not in EDGE_TYPES:
            raise InvalidInput(source, f"unknown edge type {d['type']!r}; known: {', '.join(EDGE_TYPES)}")
        attrs = d.get("attrs") or {}
        if not isinstance(attrs, dict):
            raise InvalidInput(source, "edge 'attrs' must be an object")
        return cls(src=d["src"], dst=d["dst"], type=d["type"], attrs=attrs)


# --- construction without the generated __init__ (SkyGraph builds one Node and a few Edges per resource) ---
# A frozen dataclass's __init__ stores each field through ``__dataclass_builtins_object__.__setattr__``,
# looked up per field: 2.2 µs for a Node, 0.6 µs for an Edge. These store the same fields through one
# bound ``object.__setattr__`` (what __init__ ends up calling), with the same defaults (the very default
# objects the dataclass holds), so the instance is what the constructor builds, attribute storage
# included (its __dict__ is never materialised: filling __dict__ directly was faster to build but made
# every later attribute read slower, resolution at 1M resources by ~2 s). Equal to the constructors'
# instances; tests/unit/model/test_graph_make.py keeps them in step with the fields.

_new = object.__new__
_set = object.__setattr__
_NODE_DEFAULTS = {f.name: f.default for f in fields(Node) if f.default is not MISSING}
_HEALTH: Health = _NODE_DEFAULTS["health"]
_DRIFT: Drift = _NODE_DEFAULTS["drift"]


def make_node(id: str, kind: str, provider: str, account: str, region: str, name: str,
              attrs: dict[str, Any], tags: dict[str, str], native_ids: tuple[str, ...]) -> Node:
    """``Node(id=…, …, native_ids=…)`` with every other field at its default, built faster."""
    n = _new(Node)
    _set(n, "id", id)
    _set(n, "kind", kind)
    _set(n, "provider", provider)
    _set(n, "account", account)
    _set(n, "region", region)
    _set(n, "name", name)
    _set(n, "attrs", attrs)
    _set(n, "tags", tags)
    _set(n, "native_ids", native_ids)
    _set(n, "managed_by", None)
    _set(n, "health", _HEALTH)
    _set(n, "drift", _DRIFT)
    _set(n, "first_seen", None)
    _set(n, "last_seen", None)
    _set(n, "deleted_at", None)
    return n


def make_edge(src: str, dst: str, type_: str, attrs: dict[str, Any] | None = None) -> Edge:
    """``Edge(src, dst, type_, attrs)`` (a new empty ``attrs`` when None, like the constructor's
    default), built faster."""
    e = _new(Edge)
    _set(e, "src", src)
    _set(e, "dst", dst)
    _set(e, "type", type_)
    _set(e, "attrs", {} if attrs is None else attrs)
    return e


def check_health_status(status: str, source: str) -> str:
    if status not in HEALTH_STATUSES:
        raise InvalidInput(source, f"health status {status!r} is not one of {', '.join(HEALTH_STATUSES)}")
    return status


def check_drift_status(status: str, source: str) -> str:
    if status not in DRIFT_STATUSES:
        raise InvalidInput(source, f"drift status {status!r} is not one of {', '.join(DRIFT_STATUSES)}")
    return status
