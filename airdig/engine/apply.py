"""Applying events to the store: idempotent, newer-wins, one transaction per batch.

The contract with the bus is at-least-once delivery; this module turns it into exactly-once effect:
an event id already recorded (in ``applied_events``, claimed by the transaction that applies it; or, for
events applied before those claims, in the change timeline, whose rows carry the event id) is skipped, and a node (or edge, or health) row only takes a
state whose event time is at least its current version, so a stale event can never overwrite a newer
one — not even when two replicas apply overlapping batches during a rebalance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from airdig.backends.interfaces import ChangeRow, EdgeRow, EventsClaimed, NodeRow, Record, Store
from airdig.backends.store.sql import SqlTx
from airdig.engine.intel import changetime
from airdig.engine.limits import check_row, check_rows
from airdig.errors import BackendUnavailable, InvalidInput, StoreRejected
from airdig.model.events import (
    DRIFT_COVERAGE_SUBJECT,
    CloudEvent,
    decode_edge,
    decode_node,
    is_span_block,
    parse_time,
)
from airdig.model.graph import Edge, check_drift_status, check_health_status

DRIFT_KINDS = ("changed", "missing", "unmanaged")
STATE_KEY = "state"  # details key of a resource change row: the node state it set (not served in timelines)
SEVERITIES = ("low", "medium", "high", "critical")


@dataclass
class Plan:
    """Everything one batch will write, gathered before the transaction opens."""

    nodes: list[NodeRow] = field(default_factory=list)
    edges: list[tuple[EdgeRow, float]] = field(default_factory=list)
    natives: list[tuple[str, str]] = field(default_factory=list)
    changes: list[ChangeRow] = field(default_factory=list)
    drifts: list[tuple[Any, ...]] = field(default_factory=list)
    node_drift: list[tuple[str, str, float, str]] = field(default_factory=list)  # node, status, time, drift id
    health: list[tuple[Any, ...]] = field(default_factory=list)
    service_edges: list[tuple[Any, ...]] = field(default_factory=list)
    notices: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (channel, payload) fan-out
    confirms: list[tuple[list[str], float, float | None]] = field(default_factory=list)  # ids, at, interval

    def extend(self, other: Plan) -> None:
        for f in fields(self):
            getattr(self, f.name).extend(getattr(other, f.name))

    def check_limits(self, event_id: str) -> None:
        """Every row this plan writes fits its columns (see :mod:`airdig.engine.limits`)."""
        src = f"event {event_id}"
        check_row("applied_events", {"event_id": event_id}, src)
        check_rows("nodes", ({"id": n.id, "kind": n.kind, "provider": n.provider, "account": n.account,
                              "region": n.region, "name": n.name, "managed_by": n.managed_by, "version": n.version,
                              "first_seen": n.first_seen, "last_seen": n.last_seen, "deleted_at": n.deleted_at}
                             for n in self.nodes), src)
        check_rows("edges", ({"src": e.src, "dst": e.dst, "type": e.type, "version": v, "first_seen": e.first_seen,
                              "last_seen": e.last_seen} for e, v in self.edges), src)
        check_rows("native_ids", ({"native_id": n, "node_id": node} for n, node in self.natives), src)
        check_rows("changes", ({"id": c.id, "node_id": c.node_id, "time": c.time, "kind": c.kind,
                                "source": c.source} for c in self.changes), src)
        names = ("id", "resource_id", "resource_type", "terraform_address", "kind", "severity", "status")
        check_rows("drift_events", ({**dict(zip(names, r[:7], strict=True)), "detected_at": r[10],
                                     "resolved_at": r[11], "version": r[12]} for r in self.drifts), src)
        check_rows("health", ({"node_id": r[0], "status": r[1], "since": r[3], "version": r[4]}
                              for r in self.health), src)
        scols = ("id", "src", "dst", "window_start", "window_seconds", "request_count", "error_count")
        check_rows("service_edges", ({**dict(zip(scols, r[:7], strict=True)), "p50": r[9], "p95": r[10],
                                      "p99": r[11]} for r in self.service_edges), src)


@dataclass
class ApplyResult:
    applied: int = 0
    duplicates: int = 0
    dead: list[tuple[Record, str]] = field(default_factory=list)
    notices: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)


def _str(d: dict[str, Any], key: str, source: str, required: bool = True) -> str | None:
    v = d.get(key)
    if v is None and not required:
        return None
    if not isinstance(v, str) or (required and not v):
        raise InvalidInput(source, f"field {key!r} must be a non-empty string")
    return v


def _num(d: dict[str, Any], key: str, source: str, default: float | None = None) -> float:
    v = d.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise InvalidInput(source, f"field {key!r} must be a number")
    return float(v)


# ------------------------------------------------------------------ one planner per event type


def _plan_resource(ev: CloudEvent, plan: Plan) -> None:
    node = decode_node(ev)
    if node.id != ev.subject:
        raise InvalidInput(f"event {ev.id}", f"subject {ev.subject!r} differs from data.node.id {node.id!r}")
    action = ev.type.rsplit(".", 1)[1]
    plan.nodes.append(NodeRow(
        id=node.id, kind=node.kind, provider=node.provider, account=node.account, region=node.region,
        name=node.name or node.id, attrs=node.attrs, tags=node.tags, managed_by=node.managed_by, version=ev.time,
        first_seen=ev.time, last_seen=ev.time, deleted_at=ev.time if action == "deleted" else None,
    ))
    plan.natives += [(n, node.id) for n in node.native_ids]
    if action != "deleted" and ev.data.get("confirmed_at") is not None:
        plan.confirms.append(([node.id], parse_time(ev.data["confirmed_at"], f"event {ev.id}: data.confirmed_at"),
                              None))
    changed = ev.data.get("changed") or []
    if not isinstance(changed, list):
        raise InvalidInput(f"event {ev.id}", "data.changed must be a list of attribute paths")
    summary = f"{node.kind} {node.name or node.id} {action}"
    if changed:
        summary += ": " + ", ".join(str(c) for c in changed[:8]) + (" …" if len(changed) > 8 else "")
    actor = ev.data.get("actor")
    details: dict[str, Any] = {"changed": changed} if changed else {}
    details.update(_scan_time(ev, node.attrs, action))
    # the state this event sets, so the graph can be shown as of any time (airdig.engine.intel.asof)
    details[STATE_KEY] = {"name": node.name or node.id, "attrs": node.attrs, "tags": node.tags,
                          "managed_by": node.managed_by}
    plan.changes.append(ChangeRow(id=ev.id, node_id=node.id, time=ev.time, kind=action, source=ev.source,
                                  summary=summary, actor=actor if isinstance(actor, str) else None,
                                  details=details))
    plan.notices.append(("resourceUpdated", {"id": node.id, "action": action, "time": ev.time}))


def _plan_confirm(ev: CloudEvent, plan: Plan) -> None:
    """``airdig.resource.confirmed``: a read of a scope saw these nodes unchanged at ``confirmed_at``.
    Only ``nodes.confirmed_at`` (and the scope's cadence, ``interval``) move; no version, no timeline row,
    no fan-out — a confirmation is not a change."""
    d = ev.data
    src = f"event {ev.id}: data"
    ids = d.get("nodes")
    if not isinstance(ids, list) or not all(isinstance(x, str) and x for x in ids):
        raise InvalidInput(src, "nodes must be a list of node ids")
    at = parse_time(d.get("confirmed_at"), f"{src}.confirmed_at")
    interval = d.get("interval")
    if interval is not None and (isinstance(interval, bool) or not isinstance(interval, int | float) or interval < 0):
        raise InvalidInput(src, "interval must be a non-negative number of seconds")
    if ids:
        plan.confirms.append((ids, at, float(interval) if interval is not None else None))


def _bounds(value: Any, src: str) -> tuple[float | None, float | None]:
    """``[earliest, latest]`` as a producer sends it (RFC 3339 or epoch seconds; either may be null)."""
    if not isinstance(value, list) or len(value) != 2:
        raise InvalidInput(src, "must be a list [earliest, latest] of times (either may be null)")
    lo, hi = (parse_time(v, src) if v is not None else None for v in value)
    if lo is not None and hi is not None and lo > hi:
        raise InvalidInput(src, "earliest is after latest")
    return lo, hi


def _scan_time(ev: CloudEvent, attrs: dict[str, Any], action: str) -> dict[str, Any]:
    """When a scanned change happened: between the scope's previous observation and this one
    (``data.observed_between``), narrowed to the object's own rollout or creation time when it has one
    (``data.changed_at``). A node created by the first scan of its scope (``data.discovered``, or no
    bound at all from an older producer) was discovered, not changed."""
    src = f"event {ev.id}: data"
    out: dict[str, Any] = {}
    lo: float | None = None
    if ev.data.get("observed_between") is not None:
        lo, _ = _bounds(ev.data["observed_between"], f"{src}.observed_between")
    if ev.data.get("discovered") or (action == "created" and lo is None):
        out["discovered"] = True
        return out
    at = ev.data.get("changed_at")
    if at is not None:
        # the object's own record of the write (set by the API server when it happened) decides, even
        # before the previous observation: that scan missed the object or ran on a clock ahead of the
        # server's; only a time after this observation is impossible
        t = parse_time(at, f"{src}.changed_at")
        if t <= ev.time + 1:
            out["change_time"] = changetime.interval(t, t, "rollout")
            return out
    out["change_time"] = changetime.interval(lo, ev.time, "scan")
    return out


def _plan_edge(ev: CloudEvent, plan: Plan) -> None:
    edge = decode_edge(ev)
    deleted = ev.type.endswith(".deleted")
    plan.edges.append((EdgeRow(src=edge.src, dst=edge.dst, type=edge.type, attrs=edge.attrs, first_seen=ev.time,
                               last_seen=ev.time, deleted_at=ev.time if deleted else None), ev.time))


def _plan_change(ev: CloudEvent, plan: Plan) -> None:
    d = ev.data
    src = f"event {ev.id}: data"
    kind = _str(d, "kind", src) or "change"
    summary = _str(d, "summary", src) or ""
    when = parse_time(d["time"], f"{src}.time") if "time" in d else ev.time
    details = d.get("details") or {}
    if not isinstance(details, dict):
        raise InvalidInput(src, "field 'details' must be an object")
    if "change_time" not in details:  # the time of the write itself (CloudTrail eventTime, a rollout)
        lo, hi = _bounds(d["observed_between"], f"{src}.observed_between") if d.get("observed_between") \
            else (when, when)
        details = {**details, "change_time": changetime.interval(lo, hi if hi is not None else when,
                                                                 "cloudtrail" if kind == "cloudtrail" else "reported")}
    target = d.get("target")
    if target is not None:  # the node is named by a native id only (``native://<id>``): what to look for
        if not ev.subject.startswith(NATIVE) or not isinstance(target, dict) \
                or not all(isinstance(target.get(k, ""), str) for k in ("kind", "account", "region")):
            raise InvalidInput(src, "target must be an object {kind?, account?, region?} of strings, "
                                    "with a native:// subject")
        details = {**details, "target": {k: v for k, v in target.items() if k in ("kind", "account", "region")}}
    plan.changes.append(ChangeRow(id=str(d.get("id") or ev.id), node_id=ev.subject, time=when, kind=kind,
                                  source=ev.source, summary=summary, actor=_str(d, "actor", src, required=False),
                                  details=details))


def _plan_drift(ev: CloudEvent, plan: Plan) -> None:
    d = ev.data
    src = f"event {ev.id}: data"
    drift_id = _str(d, "id", src)
    resource_id = _str(d, "resource_id", src) or ev.subject
    kind = _str(d, "kind", src)
    if kind not in DRIFT_KINDS:
        raise InvalidInput(src, f"drift kind {kind!r} is not one of {', '.join(DRIFT_KINDS)}")
    severity = _str(d, "severity", src)
    if severity not in SEVERITIES:
        raise InvalidInput(src, f"severity {severity!r} is not one of {', '.join(SEVERITIES)}")
    diffs = d.get("diffs") or []
    if not isinstance(diffs, list) or not all(isinstance(x, dict) and "path" in x for x in diffs):
        raise InvalidInput(src, "diffs must be a list of {path, expected, actual}")
    cause = d.get("cause")
    if cause is not None and not isinstance(cause, dict):
        raise InvalidInput(src, "cause must be an object or null")
    resolved = ev.type.endswith(".resolved")
    detected_at = parse_time(d["detected_at"], f"{src}.detected_at") if d.get("detected_at") else ev.time
    status = "resolved" if resolved else "open"
    plan.drifts.append((drift_id, resource_id, str(d.get("resource_type") or ""), d.get("terraform_address"), kind,
                        severity, status, diffs, cause, d.get("remediation"), detected_at,
                        ev.time if resolved else None, ev.time))
    node_status = "in_sync" if resolved else {"changed": "drifted", "missing": "missing",
                                              "unmanaged": "unmanaged"}[str(kind)]
    check_drift_status(node_status, src)
    plan.node_drift.append((str(resource_id), node_status, ev.time, str(drift_id)))
    actor = cause.get("principal") if isinstance(cause, dict) else None
    paths = ", ".join(str(x["path"]) for x in diffs[:5])
    # when the drift happened: the CloudTrail write that caused it, else between the last watch cycle
    # that still found the resource clean and the one that found it drifted
    if isinstance(cause, dict) and cause.get("event_time"):
        t = parse_time(cause["event_time"], f"{src}.cause.event_time")
        when = changetime.interval(t, t, "cloudtrail")
    else:
        lo = _bounds(d["observed_between"], f"{src}.observed_between")[0] if d.get("observed_between") else None
        when = changetime.interval(lo, detected_at, "drift watch")
    plan.changes.append(ChangeRow(
        id=ev.id, node_id=str(resource_id), time=ev.time, kind="drift_resolved" if resolved else "drift",
        source=ev.source, actor=actor if isinstance(actor, str) else None,
        summary=f"drift {'resolved' if resolved else kind} ({severity})" + (f": {paths}" if paths else ""),
        details={"drift_id": drift_id, "severity": severity, "cause": cause, "drift_kind": kind,
                 "paths": [str(x["path"]) for x in diffs[:50]], "change_time": when}))
    if not resolved:
        plan.notices.append(("driftDetected", {"id": drift_id, "resourceId": resource_id, "severity": severity,
                                               "kind": kind, "time": ev.time}))


def _plan_drift_coverage(ev: CloudEvent, plan: Plan) -> None:
    """DeepDrift's coverage matrix (published by ``watch`` when it changes) kept as a change row of kind
    ``drift_coverage``: the newest row is what ``driftCoverage`` serves, older ones are its history."""
    d = ev.data
    src = f"event {ev.id}: data"
    for key in ("managed", "total", "by_type"):
        if key not in d:
            raise InvalidInput(src, f"coverage needs {key!r}")
    if not isinstance(d["by_type"], dict) or not isinstance(d.get("scopes", []), list):
        raise InvalidInput(src, "by_type must be an object and scopes a list")
    unknown = sum(1 for s in d.get("scopes", []) if isinstance(s, dict) and s.get("status") == "unknown")
    raw_compared = d.get("compared")
    compared: dict[str, Any] = raw_compared if isinstance(raw_compared, dict) else {}
    plan.changes.append(ChangeRow(
        id=ev.id, node_id=DRIFT_COVERAGE_SUBJECT, time=ev.time, kind="drift_coverage", source=ev.source,
        summary=f"DeepDrift coverage: {compared.get('compared', '?')}/{compared.get('state_resources', '?')} state "
                f"resources compared, {unknown} unknown scope(s)", details=d))


def _plan_service(ev: CloudEvent, plan: Plan) -> None:
    node = decode_node(ev)
    plan.nodes.append(NodeRow(
        id=node.id, kind=node.kind, provider=node.provider or "otel", account=node.account, region=node.region,
        name=node.name or node.id, attrs=node.attrs, tags=node.tags, managed_by=None, version=ev.time,
        first_seen=ev.time, last_seen=ev.time))
    plan.natives += [(n, node.id) for n in node.native_ids]


def _plan_trace_edge(ev: CloudEvent, plan: Plan) -> None:
    d = ev.data
    src_ = f"event {ev.id}: data"
    edge = Edge.from_dict({"src": d.get("src"), "dst": d.get("dst"), "type": d.get("type")}, src_)
    start = _num(d, "window_start", src_, default=ev.time)
    plan.edges.append((EdgeRow(src=edge.src, dst=edge.dst, type=edge.type, attrs={"observed_by": "traces"},
                               first_seen=ev.time, last_seen=ev.time), ev.time))
    stats = d.get("stats")
    if stats is None:
        return
    if not isinstance(stats, dict):
        raise InvalidInput(src_, "stats must be an object")
    from airdig.backends.store.sql import edge_id

    window = int(_num(d, "window_seconds", src_, default=60))
    # late data for a window comes as further parts (per producer): each part is its own row, and the
    # readers add up the rows of one window; a redelivered part overwrites itself only
    wkey = f"w{window}:{start}"
    part, producer = d.get("part"), d.get("producer")
    if part is not None or producer is not None:
        if not isinstance(part, int) or isinstance(part, bool) or part < 0 or not isinstance(producer, str | None):
            raise InvalidInput(src_, "part must be a non-negative integer and producer a string")
        wkey += f":{producer or ''}:{part or 0}"
    plan.service_edges.append((
        edge_id(edge.src, wkey, edge.dst), edge.src, edge.dst, start, window,
        int(_num(stats, "request_count", src_, 0)), int(_num(stats, "error_count", src_, 0)),
        stats.get("errors") or {}, stats.get("latency_ms") or {},
        stats.get("p50"), stats.get("p95"), stats.get("p99"),
    ))


def _plan_health(ev: CloudEvent, plan: Plan) -> None:
    d = ev.data
    src = f"event {ev.id}: data"
    node_id = _str(d, "node_id", src, required=False) or ev.subject
    status = check_health_status(str(_str(d, "status", src)), src)
    reasons = d.get("reasons") or []
    if not isinstance(reasons, list):
        raise InvalidInput(src, "reasons must be a list")
    since = parse_time(d["since"], f"{src}.since") if d.get("since") else ev.time
    plan.health.append((node_id, status, reasons, since, ev.time))
    previous = d.get("previous")
    plan.changes.append(ChangeRow(
        id=ev.id, node_id=node_id, time=ev.time, kind="health", source=ev.source,
        summary=f"health {previous or '?'} → {status}" + (
            f": {reasons[0].get('message') or reasons[0].get('rule')}" if reasons and isinstance(reasons[0], dict)
            else ""),
        details={"status": status, "previous": previous, "reasons": reasons, "since": since}))
    if status == "critical":
        plan.notices.append(("alertFired", {"nodeId": node_id, "status": status, "reasons": reasons,
                                            "time": ev.time}))


def _plan_security(ev: CloudEvent, plan: Plan) -> None:
    d = ev.data
    src = f"event {ev.id}: data"
    rule = _str(d, "rule", src)
    priority = str(d.get("priority") or "")
    plan.changes.append(ChangeRow(
        id=str(d.get("id") or ev.id), node_id=ev.subject,
        time=parse_time(d["time"], f"{src}.time") if d.get("time") else ev.time, kind="security",
        source=ev.source, summary=f"{priority} {rule}".strip(), actor=None,
        details={k: d.get(k) for k in ("output", "fields", "tags", "hostname", "priority", "rule")}))


PLANNERS: dict[str, Callable[[CloudEvent, Plan], None]] = {
    "airdig.resource.created": _plan_resource,
    "airdig.resource.updated": _plan_resource,
    "airdig.resource.deleted": _plan_resource,
    "airdig.resource.confirmed": _plan_confirm,
    "airdig.edge.observed": _plan_edge,
    "airdig.edge.deleted": _plan_edge,
    "airdig.change.recorded": _plan_change,
    "airdig.drift.detected": _plan_drift,
    "airdig.drift.resolved": _plan_drift,
    "airdig.drift.coverage": _plan_drift_coverage,
    "airdig.trace.service": _plan_service,
    "airdig.trace.edge": _plan_trace_edge,
    "airdig.health.changed": _plan_health,
    "airdig.security.event": _plan_security,
}
# span batches travel on airdig.traces for TraceCore's aggregators; the engine does not store them
IGNORED_TYPES = frozenset({"airdig.trace.span"})


NATIVE = "native://"


def _lookup(tx: SqlTx, natives: set[str]) -> dict[str, str]:
    """native id → node id, where exactly one node claims it (12-hex container ids match by prefix)."""
    found: dict[str, set[str]] = {}
    ids = sorted(natives)
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        for nid, node in tx.fetch(f"SELECT native_id, node_id FROM native_ids WHERE native_id IN "
                                  f"({','.join('?' * len(chunk))})", chunk):
            found.setdefault(nid, set()).add(node)
    for short in (n for n in ids if n not in found and len(n) == 12 and _is_hex(n)):
        for _nid, node in tx.fetch("SELECT native_id, node_id FROM native_ids WHERE native_id LIKE ?",
                                  (short.lower() + "%",)):
            found.setdefault(short, set()).add(node)
    return {n: next(iter(nodes)) for n, nodes in found.items() if len(nodes) == 1}


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


def _resolve_native_refs(tx: SqlTx, edges: list[tuple[EdgeRow, float]]) -> list[tuple[EdgeRow, float]]:
    """TraceCore names infrastructure it cannot turn into an ARN ``native://<id>`` (a host id, a container
    id, an RDS endpoint); the native-id index turns it into the node, when the node is known."""
    refs = {x[len(NATIVE):] for e, _ in edges for x in (e.src, e.dst) if x.startswith(NATIVE)}
    if not refs:
        return edges
    known = _lookup(tx, refs)

    def fix(x: str) -> str:
        return known.get(x[len(NATIVE):], x) if x.startswith(NATIVE) else x

    return [(replace(e, src=fix(e.src), dst=fix(e.dst)), v) for e, v in edges]


def _rebind_native_edges(tx: SqlTx, pairs: list[tuple[str, str]]) -> None:
    """A node that arrives after the traces that named it takes over their ``native://`` edges."""
    refs = {NATIVE + n: node for n, node in pairs}
    if len(refs) > 2000:  # a large scan batch: bind in chunks, one query each
        items = list(refs.items())
        for i in range(0, len(items), 2000):
            _rebind_native_edges(tx, [(k[len(NATIVE):], v) for k, v in items[i:i + 2000]])
        return
    keys = sorted(refs)
    marks = ",".join("?" * len(keys))
    rows = tx.fetch(f"SELECT src, dst, type, attrs, version, first_seen, last_seen, deleted_at FROM edges "
                    f"WHERE dst IN ({marks}) OR src IN ({marks})", keys + keys)
    if not rows:
        return
    from airdig.backends.store.sql import loads

    moved = [(EdgeRow(src=refs.get(r[0], r[0]), dst=refs.get(r[1], r[1]), type=r[2], attrs=loads(r[3]) or {},
                      first_seen=r[5], last_seen=r[6], deleted_at=r[7]), float(r[4])) for r in rows]
    tx.upsert_edges([e for e, _ in moved], [v for _, v in moved])
    tx.delete_edges([(r[0], r[2], r[1]) for r in rows])


def _matches(target: Any, kind: str, account: str | None, region: str | None) -> bool:
    """Whether a node (kind, account, region) is the one a ``native://`` change's target describes."""
    t = target if isinstance(target, dict) else {}
    return all(not t.get(k) or t[k] == v for k, v in (("kind", kind), ("account", account), ("region", region)))


def _resolve_native_changes(tx: SqlTx, changes: list[ChangeRow]) -> list[ChangeRow]:
    """A write DeepDrift could place only by a native id (an Auto Scaling group's name: its ARN holds a
    UUID no request carries; a KMS key named by alias) comes as ``native://<id>`` with the node's kind.
    The node is the one node of that kind (and account, region) that claims the id; otherwise the row
    keeps its reference until such a node arrives (:func:`_rebind_native_changes`)."""
    refs = {c.node_id[len(NATIVE):] for c in changes if c.node_id.startswith(NATIVE)}
    if not refs:
        return changes
    claims: dict[str, list[tuple[str, str, str | None, str | None]]] = {}
    ids = sorted(refs)
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        for nid, node, kind, account, region in tx.fetch(
                "SELECT native_ids.native_id, nodes.id, nodes.kind, nodes.account, nodes.region FROM native_ids "
                f"JOIN nodes ON nodes.id = native_ids.node_id WHERE native_ids.native_id IN "
                f"({','.join('?' * len(chunk))})", chunk):
            claims.setdefault(nid, []).append((node, kind, account, region))
    out = []
    for c in changes:
        if c.node_id.startswith(NATIVE):
            target = c.details.get("target") if isinstance(c.details, dict) else None
            nodes = {n for n, kind, account, region in claims.get(c.node_id[len(NATIVE):], [])
                     if _matches(target, kind, account, region)}
            if len(nodes) == 1:
                c = replace(c, node_id=nodes.pop())
        out.append(c)
    return out


def _rebind_native_changes(tx: SqlTx, plan: Plan) -> None:
    """A node that arrives after the writes that named it by native id takes over their changes."""
    nodes = {n.id: n for n in plan.nodes}
    refs: dict[str, list[str]] = {}
    for native, node in plan.natives:
        if node in nodes:
            refs.setdefault(NATIVE + native[:255], []).append(node)
    keys = sorted(refs)
    moves: list[tuple[str, str]] = []
    for i in range(0, len(keys), 500):
        chunk = keys[i:i + 500]
        from airdig.backends.store.sql import loads

        for cid, ref, details in tx.fetch(f"SELECT id, node_id, details FROM changes WHERE node_id IN "
                                          f"({','.join('?' * len(chunk))})", chunk):
            target = (loads(details) or {}).get("target")
            fit = {n for n in refs[ref] if _matches(target, nodes[n].kind, nodes[n].account, nodes[n].region)}
            if len(fit) == 1:
                moves.append((fit.pop(), cid))
    tx.run_many("UPDATE changes SET node_id = ? WHERE id = ?", moves)


def _write(tx: SqlTx, plan: Plan) -> None:
    from airdig.backends.store.sql import dumps

    if plan.nodes:
        tx.upsert_nodes(plan.nodes)
    if plan.natives:
        tx.add_native_ids(plan.natives)
    for ids, at, interval in plan.confirms:  # after the upsert: a node created in this batch is confirmed too
        tx.confirm_nodes(ids, at, interval)
    if plan.edges:
        edges = _resolve_native_refs(tx, plan.edges)
        tx.upsert_edges([e for e, _ in edges], [v for _, v in edges])
    if plan.natives:
        _rebind_native_edges(tx, plan.natives)
    if plan.natives:
        _rebind_native_changes(tx, plan)
    if plan.changes:
        tx.add_changes(_resolve_native_changes(tx, plan.changes))
    d = tx._s.d
    if plan.drifts:
        cols = ("id", "resource_id", "resource_type", "terraform_address", "kind", "severity", "status", "diffs",
                "cause", "remediation", "detected_at", "resolved_at", "version")
        tx.run_many(d.upsert("drift_events", cols, ("id",), "version", keep_min=("detected_at",)), [
            (*r[:7], dumps(r[7]), dumps(r[8]) if r[8] is not None else None,
             dumps(r[9]) if r[9] is not None else None, *r[10:]) for r in plan.drifts])
    if plan.node_drift:
        _derive_drift_status(tx, {nid for nid, _, _, _ in plan.node_drift})
    if plan.health:
        tx.run_many(d.upsert("health", ("node_id", "status", "reasons", "since", "version"), ("node_id",), "version"),
                    [(n, s, dumps(r), since, v) for n, s, r, since, v in plan.health])
    if plan.service_edges:
        scols = ("id", "src", "dst", "window_start", "window_seconds", "request_count", "error_count", "errors",
                 "latency", "p50", "p95", "p99")
        tx.run_many(d.upsert("service_edges", scols, ("id",), None), [
            (*r[:7], dumps(r[7]), dumps(r[8]), *r[9:]) for r in plan.service_edges])



_NODE_STATUS = {"changed": "drifted", "missing": "missing", "unmanaged": "unmanaged"}


def _derive_drift_status(tx: SqlTx, node_ids: set[str]) -> None:
    """A node's drift status follows from its drift rows as they now stand (each row newer-wins on its
    own), never from the last event written: drifted while any drift of the node is open (the newest
    open one names the status and ``drift_last_event``), ``in_sync`` once every one is resolved. So
    resolving one drift leaves the node drifted while another is open, and a stale event that lost on
    its row cannot flip the node either. A node not yet in the graph gets no status (its drift events
    are still stored and listed)."""
    ids = sorted(node_ids)
    rows: dict[str, list[tuple[Any, ...]]] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        for r in tx.fetch(f"SELECT resource_id, id, status, kind, version FROM drift_events WHERE resource_id IN "
                          f"({','.join('?' * len(chunk))})", chunk):
            rows.setdefault(r[0], []).append(r)
    updates = []
    for nid in ids:
        drifts = sorted(rows.get(nid, []), key=lambda r: (r[4], r[1]))
        if not drifts:
            continue
        open_ = [r for r in drifts if r[2] == "open"]
        if open_:
            newest = open_[-1]
            updates.append((_NODE_STATUS.get(str(newest[3]), "drifted"), newest[1], nid))
        else:
            updates.append(("in_sync", drifts[-1][1], nid))
    tx.run_many("UPDATE nodes SET drift_status = ?, drift_last_event = ? WHERE id = ?", updates)


# a claim lost to a racing replica is retried in a new transaction; a third loss in a row is an outage
_CLAIM_ATTEMPTS = 3


@dataclass
class Prepared:
    """A decoded and planned batch: pure work, done outside the transaction (and off the writer thread)."""

    events: dict[str, tuple[CloudEvent, Record]]
    plan: Plan
    dead: list[tuple[Record, str]]
    duplicates: int


class Applier:
    """Applies a batch of bus records to the store in one transaction.

        result = Applier(store).apply(records)   # result.dead -> dead-letter topic
        # or, pipelined: prepared = applier.prepare(records); ...; applier.commit(prepared)
    """

    def __init__(self, store: Store, clock: Callable[[], float] | None = None) -> None:
        import time

        self.store = store
        self.clock = clock or time.time

    def apply(self, records: Sequence[Record]) -> ApplyResult:
        return self.commit(self.prepare(records))

    @staticmethod
    def _plan(events: dict[str, tuple[CloudEvent, Record]], dead: list[tuple[Record, str]] | None) -> Plan:
        plan = Plan()
        for ev_id, (ev, rec) in list(events.items()):
            part = Plan()
            try:
                PLANNERS[ev.type](ev, part)
                part.check_limits(ev_id)
            except InvalidInput as exc:
                reason = str(exc)
            except (KeyError, TypeError, ValueError, OverflowError) as exc:
                reason = f"event {ev_id}: malformed data ({type(exc).__name__}: {exc})"
            else:
                plan.extend(part)
                continue
            del events[ev_id]
            if dead is not None:
                dead.append((rec, reason))
        return plan

    def prepare(self, records: Sequence[Record]) -> Prepared:
        """Decode, validate and plan; bad events are set aside with the reason."""
        dead: list[tuple[Record, str]] = []
        duplicates = 0
        # de-duplicate inside the batch too (a producer retry can put one event twice in a batch)
        unique: dict[str, tuple[CloudEvent, Record]] = {}
        for rec in records:
            if is_span_block(rec.value):  # TraceCore's span batches (binary): not for the engine
                continue
            try:
                ev = CloudEvent.decode(rec.value, f"{rec.topic}[{rec.partition}]@{rec.offset}")
            except InvalidInput as exc:
                dead.append((rec, str(exc)))
                continue
            if ev.type in IGNORED_TYPES:
                continue
            if ev.id in unique:
                duplicates += 1
            else:
                unique[ev.id] = (ev, rec)
        plan = self._plan(unique, dead)
        return Prepared(events=unique, plan=plan, dead=dead, duplicates=duplicates)

    def commit(self, prepared: Prepared) -> ApplyResult:
        """Write a prepared batch in one transaction, skipping events applied before.

        When the store rejects the batch for its data (:class:`StoreRejected`), the batch is split in
        halves, each written in its own transaction, down to the one event responsible, which joins
        ``result.dead`` with the store's reason; everything else applies. A store outage
        (:class:`~airdig.errors.BackendUnavailable`) propagates: the caller retries the whole batch,
        and what a half already wrote is skipped as a duplicate then."""
        result = ApplyResult(dead=list(prepared.dead), duplicates=prepared.duplicates)
        self._commit_part(prepared.events, prepared.plan, result)
        return result

    def _commit_part(self, events: dict[str, tuple[CloudEvent, Record]], plan: Plan, result: ApplyResult) -> None:
        try:
            self._write_batch(events, plan, result)
        except StoreRejected as exc:
            if len(events) <= 1:
                for ev_id, (_, rec) in events.items():
                    result.dead.append((rec, f"event {ev_id}: {exc}"))
                return
            items = list(events.items())
            half = len(items) // 2
            for part in (dict(items[:half]), dict(items[half:])):
                self._commit_part(part, self._plan(dict(part), None), result)

    def _write_batch(self, events: dict[str, tuple[CloudEvent, Record]], plan: Plan, result: ApplyResult) -> None:
        for attempt in range(1, _CLAIM_ATTEMPTS + 1):
            try:
                with self.store.transaction() as tx:
                    if not isinstance(tx, SqlTx):
                        raise TypeError("the applier needs a SQL store transaction")
                    seen = tx.seen_events(list(events)) if events else set()
                    fresh = dict(events)
                    todo = plan
                    if seen:  # a redelivery: plan again without what is already applied (rare, so not optimised)
                        for ev_id in seen:
                            fresh.pop(ev_id, None)
                        todo = self._plan(dict(fresh), None)
                    # the claim comes first: a replica that lost the race learns it before writing anything
                    tx.claim_events(list(fresh), self.clock())
                    _write(tx, todo)
                break
            except EventsClaimed:
                # a replica racing on the same redelivered events committed first; a new transaction
                # reads its commit and takes only what is left (these events are not lost: they are its)
                if attempt == _CLAIM_ATTEMPTS:
                    raise BackendUnavailable("store", "events kept being applied by another transaction") from None
        plan = todo
        result.duplicates += len(seen)
        result.applied += len(fresh)
        result.touched |= {ev.subject for ev, _ in fresh.values()}
        result.notices += plan.notices
