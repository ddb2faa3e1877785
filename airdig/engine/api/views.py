"""Rendering of store rows for the APIs (shared by REST and GraphQL so they never disagree)."""

from __future__ import annotations

import base64
from typing import Any

from airdig.backends.interfaces import ChangeRow, DriftRow, NodeFilter, NodeRow
from airdig.engine.intel.writers import PathWriters, Writer
from airdig.errors import InvalidInput, LimitExceeded
from airdig.model.events import to_rfc3339
from airdig.model.kinds import DRIFT_STATUSES, HEALTH_STATUSES

MAX_PAGE = 100


def ts(value: float | None) -> str | None:
    return to_rfc3339(value) if value is not None else None


STALE_AFTER_MAX = 86400.0  # a node no read confirmed for a day is stale whatever its scan cadence


def confirm_stale(n: NodeRow, at: float | None = None) -> bool | None:
    """Whether the cloud has not confirmed the node for longer than two scan intervals of its scope, or
    than a day; ``None`` when nothing ever confirmed it (a trace-only service, an older producer)."""
    if n.confirmed_at is None:
        return None
    import time

    limit = min(STALE_AFTER_MAX, 2 * n.confirm_interval) if n.confirm_interval else STALE_AFTER_MAX
    return (time.time() if at is None else at) - n.confirmed_at > limit


def node_view(n: NodeRow) -> dict[str, Any]:
    return {
        "id": n.id, "kind": n.kind, "provider": n.provider, "account": n.account, "region": n.region,
        "name": n.name, "attrs": n.attrs, "tags": n.tags, "managedBy": n.managed_by,
        "health": {"status": n.health_status, "reasons": n.health_reasons, "since": ts(n.health_since)},
        "drift": {"status": n.drift_status, "lastEvent": n.drift_last_event},
        "firstSeen": ts(n.first_seen), "lastSeen": ts(n.last_seen), "deletedAt": ts(n.deleted_at),
        "confirmedAt": ts(n.confirmed_at), "confirmInterval": n.confirm_interval, "confirmStale": confirm_stale(n),
    }


def encode_cursor(node_id: str) -> str:
    return base64.urlsafe_b64encode(node_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    if cursor is None or cursor == "":
        return None
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("after", f"not a cursor returned by this API: {cursor!r}") from None


def check_first(first: int | None, name: str = "first") -> int:
    """Every list is paged: ``first`` is required and at most :data:`MAX_PAGE`."""
    if first is None:
        raise LimitExceeded(f"'{name}' is required on every list (1..{MAX_PAGE})")
    if first < 1 or first > MAX_PAGE:
        raise LimitExceeded(f"'{name}' must be between 1 and {MAX_PAGE}, got {first}")
    return first


def node_filter(kind: str | None = None, provider: str | None = None, account: str | None = None,
                region: str | None = None, tag: str | None = None, health: str | None = None,
                drift: str | None = None, changed_since: float | None = None,
                include_deleted: bool = False) -> NodeFilter:
    if health is not None and health not in HEALTH_STATUSES:
        raise InvalidInput("health", f"{health!r} is not one of {', '.join(HEALTH_STATUSES)}")
    if drift is not None and drift not in DRIFT_STATUSES:
        raise InvalidInput("drift", f"{drift!r} is not one of {', '.join(DRIFT_STATUSES)}")
    tag_pair: tuple[str, str | None] | None = None
    if tag:
        key, sep, value = tag.partition("=")
        tag_pair = (key, value if sep else None)
    return NodeFilter(kind=kind, provider=provider, account=account, region=region, tag=tag_pair, health=health,
                      drift=drift, changed_since=changed_since, include_deleted=include_deleted)


def public_details(details: dict[str, Any]) -> dict[str, Any]:
    """A change row's details as served: without the node-state snapshot a resource change keeps for
    time travel (``details.state``: the whole attrs, as large as the node itself)."""
    return {k: v for k, v in details.items() if k != "state"} if "state" in details else details


def change_view(c: ChangeRow, writers: list[PathWriters] | None = None) -> dict[str, Any]:
    """A change row; ``writers`` (scan diffs: who set each changed attribute) is added when given."""
    out: dict[str, Any] = {"id": c.id, "resourceId": c.node_id, "time": ts(c.time), "kind": c.kind,
                           "source": c.source, "actor": c.actor, "summary": c.summary, "details": public_details(c.details)}
    if writers is not None:
        out["writers"] = [{"path": p.path, "writer": writer_view(p.writer),
                           "writers": [writer_view(w) for w in p.writers]} for p in writers]
    return out


def writer_view(w: Writer | None) -> dict[str, Any] | None:
    """One CloudTrail write behind a changed attribute (the GraphQL ``Writer`` has the same fields)."""
    if w is None:
        return None
    return {"eventId": w.event_id, "eventName": w.event_name, "time": ts(w.time), "principal": w.principal,
            "channel": w.channel, "sourceIp": w.source_ip}


def drift_view(d: DriftRow) -> dict[str, Any]:
    return {"id": d.id, "resourceId": d.resource_id, "resourceType": d.resource_type,
            "terraformAddress": d.terraform_address, "kind": d.kind, "severity": d.severity, "status": d.status,
            "diffs": d.diffs, "cause": d.cause, "remediation": d.remediation, "detectedAt": ts(d.detected_at),
            "resolvedAt": ts(d.resolved_at)}
