"""GraphQL object types of the unified graph."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import strawberry
from strawberry.scalars import JSON

from airdig.backends.interfaces import NodeRow
from airdig.engine.api.views import confirm_stale, ts


@strawberry.type(description="Health of a node with the reasons (rule, value, threshold, since).")
class Health:
    status: str
    reasons: JSON
    since: str | None


@strawberry.type(description="Drift state of a node.")
class Drift:
    status: str
    last_event: str | None


@strawberry.type(description="A node of the unified graph: a cloud resource, Kubernetes object or service.")
class Resource:
    id: strawberry.ID
    kind: str
    name: str
    provider: str
    account: str
    region: str
    attrs: JSON
    tags: JSON
    managed_by: str | None
    health: Health
    drift: Drift
    first_seen: str | None
    last_seen: str | None = strawberry.field(description="Time of the last event applied to the node (a change, "
                                             "a delete, a trace sighting); not a confirmation — see confirmedAt.")
    deleted_at: str | None
    confirmed_at: str | None = strawberry.field(description="The last time the cloud confirmed the node: the "
                                                "start of the newest scan or follow read that saw it.")
    confirm_interval: float | None = strawberry.field(description="Seconds between the last two reads of the "
                                                      "node's scope (its scan cadence), when known.")
    confirm_stale: bool | None = strawberry.field(description="confirmedAt is older than two scan intervals or "
                                                  "24 h; null when nothing ever confirmed the node.")
    as_of: str | None = strawberry.field(default=None, description="The time this state is as of (null: now).")
    as_of_exact: bool = strawberry.field(default=True, description="False when history could not reconstruct "
                                                                   "part of the state then (see asOfGaps).")
    as_of_gaps: list[str] = strawberry.field(default_factory=list, description="Parts not reconstructed as of "
                                                                               "`asOf` (attrs): shown as now.")

    @classmethod
    def of(cls, n: NodeRow) -> Resource:
        return cls(
            id=strawberry.ID(n.id), kind=n.kind, name=n.name, provider=n.provider, account=n.account,
            region=n.region, attrs=as_json(n.attrs), tags=as_json(n.tags), managed_by=n.managed_by,
            health=health_of(n),
            drift=Drift(status=n.drift_status, last_event=n.drift_last_event), first_seen=ts(n.first_seen),
            last_seen=ts(n.last_seen), deleted_at=ts(n.deleted_at), confirmed_at=ts(n.confirmed_at),
            confirm_interval=n.confirm_interval, confirm_stale=confirm_stale(n))


def health_of(n: NodeRow) -> Health:
    """A node's health alone (the service map's 5,000 nodes need no more than this of the node)."""
    return Health(status=n.health_status, reasons=as_json(n.health_reasons), since=ts(n.health_since))


F = TypeVar("F", bound=Callable[..., Any])


def as_json(v: Any) -> JSON:
    return cast(JSON, v)


def field(description: str) -> Callable[[F], F]:
    """``strawberry.field`` with a type mypy can follow (strawberry's own decorator is untyped)."""
    return cast(Callable[[F], F], strawberry.field(description=description))


@strawberry.type
class ResourceEdge:
    cursor: str
    node: Resource


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type(description="A page of resources (Relay connection, keyset cursors).")
class ResourceConnection:
    edges: list[ResourceEdge]
    page_info: PageInfo
    total_count: int


@strawberry.input(description="Filters on resources; all given filters must match.")
class ResourceFilter:
    kind: str | None = None
    provider: str | None = None
    account: str | None = None
    region: str | None = None
    tag: str | None = strawberry.field(default=None, description="`key` (has the tag) or `key=value`.")
    health: str | None = None
    drift: str | None = None
    changed_since: str | None = strawberry.field(default=None, description="RFC 3339 time.")
    include_deleted: bool = False
