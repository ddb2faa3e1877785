"""The graph as of a past time: which nodes and edges existed, their attributes, health and drift then.

Rules (docs/ui-api.md §3): a node or edge exists at T if ``first_seen <= T`` and it was not deleted by
T. Attributes come from the current row when it is no newer than T, else from the state snapshot the
newest ``created``/``updated`` change at or before T recorded (``details.state``); history written
before snapshots were recorded cannot say, and the answer says so (``exact=False``, gap ``attrs``)
instead of passing today's attributes off as then. Health is the newest ``health`` change at or before
T; drift follows from the drift events open at T.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from airdig.backends.interfaces import ChangeRow, DriftRow, NodeRow, Store
from airdig.engine.apply import STATE_KEY
from airdig.errors import InvalidInput

STATE_KINDS = ("created", "updated")
_DRIFT_NODE_STATUS = {"changed": "drifted", "missing": "missing", "unmanaged": "unmanaged"}


@dataclass(frozen=True)
class NodeAt:
    """A node as of ``at`` (None: now); ``gaps`` names what history could not reconstruct."""

    node: NodeRow
    at: float | None
    gaps: tuple[str, ...] = ()

    @property
    def exact(self) -> bool:
        return not self.gaps


def exists_at(first_seen: float, deleted_at: float | None, at: float) -> bool:
    return first_seen <= at and (deleted_at is None or deleted_at > at)


def nodes_at(store: Store, node_ids: Sequence[str], at: float | None, brief: bool = False) -> dict[str, NodeAt]:
    """The nodes among ``node_ids`` that existed at ``at``, each as it was then (now, when ``at`` is None).

    ``brief``: without attrs, tags and health reasons (kind, account, health and drift status only), for
    counting and grouping thousands of nodes; such rows carry no gaps (what they hold is exact)."""
    current = store.node_briefs(node_ids) if brief else store.get_nodes(node_ids)
    if at is None:
        return {i: NodeAt(n, None) for i, n in current.items() if n.deleted_at is None}
    alive = {i: n for i, n in current.items() if exists_at(n.first_seen, n.deleted_at, at)}
    if not alive:
        return {}
    ids = list(alive)
    newer = [i for i, n in alive.items() if n.version > at and not brief]
    states = store.latest_changes(newer, STATE_KINDS, at) if newer else {}
    health = store.latest_changes(ids, ("health",), at)
    drifts: dict[str, list[DriftRow]] = {}
    for d in store.drift_events_until(ids, at):
        drifts.setdefault(d.resource_id, []).append(d)
    out: dict[str, NodeAt] = {}
    for i, n in alive.items():
        gaps: tuple[str, ...] = ()
        # one replace() per node: building thousands of frozen rows is what this loop costs
        fields: dict[str, Any] = {"deleted_at": None, "last_seen": min(n.last_seen, at)}
        if n.version > at and not brief:
            snap = _state(states.get(i))
            if snap is None:
                gaps = ("attrs",)
            else:
                fields.update(name=str(snap.get("name") or n.name), attrs=dict(snap.get("attrs") or {}),
                              tags=dict(snap.get("tags") or {}), managed_by=snap.get("managed_by"))
        fields.update(_health_fields(health.get(i)))
        status, last = drift_status_at(drifts.get(i, ()), at)
        fields.update(drift_status=status, drift_last_event=last)
        out[i] = NodeAt(replace(n, **fields), at, gaps)
    return out


def _state(change: ChangeRow | None) -> dict[str, Any] | None:
    snap = change.details.get(STATE_KEY) if change is not None and isinstance(change.details, dict) else None
    return snap if isinstance(snap, dict) else None


def _health_fields(change: ChangeRow | None) -> dict[str, Any]:
    if change is None:
        return {"health_status": "unknown", "health_reasons": [], "health_since": None}
    d = change.details if isinstance(change.details, dict) else {}
    reasons = d.get("reasons")
    since = d.get("since")
    return {"health_status": str(d.get("status") or "unknown"),
            "health_reasons": reasons if isinstance(reasons, list) else [],
            "health_since": float(since) if isinstance(since, int | float) else change.time}


def drift_status_at(drifts: Sequence[DriftRow], at: float) -> tuple[str, str | None]:
    """(status, drift id) at ``at`` from the node's drift events detected by then: the newest open one
    names the status; all resolved → in_sync; none → unknown."""
    seen = [d for d in drifts if d.detected_at <= at]
    if not seen:
        return "unknown", None
    open_ = [d for d in seen if is_open_at(d, at)]
    if open_:
        newest = max(open_, key=lambda d: (d.detected_at, d.id))
        return _DRIFT_NODE_STATUS.get(newest.kind, "drifted"), newest.id
    newest = max(seen, key=lambda d: (d.resolved_at or d.detected_at, d.id))
    return "in_sync", newest.id


def is_open_at(d: DriftRow, at: float) -> bool:
    """Open at ``at``: detected by then and not resolved by then (an acknowledged drift is still open)."""
    if d.detected_at > at:
        return False
    if d.resolved_at is not None:
        return d.resolved_at > at
    return d.status != "resolved"


def drift_at(d: DriftRow, at: float) -> DriftRow:
    """A drift event with its status as it was at ``at``."""
    if is_open_at(d, at):
        return replace(d, status="open" if d.status == "resolved" else d.status, resolved_at=None)
    return replace(d, status="resolved")


def health_summary(store: Store, at: float, statuses: Sequence[str], first: int) -> tuple[dict[str, int], list[NodeAt]]:
    """Health counts over the nodes that existed at ``at``, and up to ``first`` of those whose health then
    was one of ``statuses`` (worst first, then by id), each as of ``at``."""
    latest = store.latest_changes_of_kind("health", at)
    total = store.count_nodes_existing_at(at)
    alive = nodes_at(store, list(latest), at, brief=True) if latest else {}
    counts = {"healthy": 0, "warning": 0, "critical": 0, "unknown": 0}
    for n in alive.values():
        s = n.node.health_status if n.node.health_status in counts else "unknown"
        counts[s] += 1
    counts["unknown"] += max(0, total - len(alive))
    order = {"critical": 0, "warning": 1, "healthy": 2, "unknown": 3}
    picked = sorted((n for n in alive.values() if n.node.health_status in statuses),
                    key=lambda n: (order.get(n.node.health_status, 4), n.node.id))[:first]
    full = nodes_at(store, [n.node.id for n in picked], at)  # attrs only for the page
    return counts, [full[n.node.id] for n in picked if n.node.id in full]


MAX_DRIFT_AT = 5000


def drift_events_at(store: Store, at: float, resource_id: str | None, status: str | None, severity: str | None,
                    kind: str | None, first: int, after: tuple[float, str] | None) -> tuple[list[DriftRow], bool, int]:
    """Drift events detected by ``at`` with their status then (open/acknowledged or resolved), newest
    first: (page, has next page, total). Refused above :data:`MAX_DRIFT_AT` matches (filter further)."""
    rows = [drift_at(d, at) for d in store.drift_events(
        resource_id=resource_id, severity=severity, kind=kind, first=MAX_DRIFT_AT + 1,
        after=(math.nextafter(at, math.inf), ""))]  # keyset "before": detected_at <= at
    if len(rows) > MAX_DRIFT_AT:
        raise InvalidInput("at", f"more than {MAX_DRIFT_AT} drift events by then: filter by resource or severity")
    rows = [d for d in rows if status is None or d.status == status]
    total = len(rows)
    if after is not None:
        rows = [d for d in rows if (d.detected_at, d.id) < after]
    return rows[:first], len(rows) > first, total
