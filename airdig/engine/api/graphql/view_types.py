"""GraphQL types of the estate-scale views: summarised neighbourhoods, time travel and graph diffs
(docs/ui-api.md)."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from airdig.engine.api.graphql.intel_types import Change, ServiceEdge, ServiceMapColumns, ServiceNode
from airdig.engine.api.graphql.types import Resource, as_json, field
from airdig.engine.api.views import check_first, ts
from airdig.engine.intel import asof, diff, neighborhood


def resource_at(n: asof.NodeAt) -> Resource:
    """A resource as of a time: the node's fields then, plus whether history could say everything."""
    r = Resource.of(n.node)
    if n.at is not None:
        r.as_of = ts(n.at)
        r.as_of_exact = n.exact
        r.as_of_gaps = list(n.gaps)
    return r


@strawberry.type(description="How many members of a group are in each health status.")
class HealthCounts:
    healthy: int
    warning: int
    critical: int
    unknown: int


@strawberry.type(description="Nodes of one kind shown as one item: \"94 aws.ec2.instance in subnet-a\".")
class NodeGroup:
    id: strawberry.ID = strawberry.field(description="group:<by>:<value>:<kind>, stable across requests; "
                                                     "pass it in `expand` to open the group in place.")
    label: str
    kind: str = strawberry.field(description="The members' kind (\"*\" for the group of other kinds).")
    by: str = strawberry.field(description="kind, subnet, securityGroup, namespace, account or other.")
    value: str
    value_name: str | None
    count: int
    worst_health: str = strawberry.field(description="critical > warning > healthy > unknown.")
    health: HealthCounts
    drifted: int = strawberry.field(description="Members whose drift status is drifted, missing or unmanaged.")
    members: strawberry.Private[list[str]]

    @field("Member ids, sorted; `after` is the last id of the previous page.")
    def member_ids(self, first: int | None = 100, after: strawberry.ID | None = None) -> list[strawberry.ID]:
        n = check_first(first)
        return [strawberry.ID(m) for m in neighborhood.group_members(self.members, n, str(after) if after else None)]

    @classmethod
    def of(cls, g: neighborhood.Group) -> NodeGroup:
        return cls(id=strawberry.ID(g.id), label=g.label, kind=g.kind, by=g.by, value=g.value,
                   value_name=g.value_name, count=len(g.members), worst_health=g.worst_health,
                   health=HealthCounts(**g.health), drifted=g.drifted, members=g.members)


@strawberry.type(description="Edges between two visible items (nodes or groups) of one type, counted.")
class GraphLink:
    src: strawberry.ID
    dst: strawberry.ID
    type: str
    count: int


@strawberry.type(description="A neighbourhood summarised to a budget of visible items.")
class Neighborhood:
    center: Resource | None
    nodes: list[Resource]
    groups: list[NodeGroup]
    edges: list[GraphLink]
    total: int = strawberry.field(description="Nodes in the neighbourhood (center included) before grouping.")
    truncated: bool
    at: str | None
    as_of_exact: bool

    @classmethod
    def of(cls, s: neighborhood.Summarised) -> Neighborhood:
        nodes = [resource_at(n) for n in s.nodes]
        return cls(center=nodes[0] if nodes else None, nodes=nodes, groups=[NodeGroup.of(g) for g in s.groups],
                   edges=links(s.links), total=s.total, truncated=s.truncated, at=ts(s.at), as_of_exact=s.exact)


def links(rows: list[tuple[str, str, str, int]]) -> list[GraphLink]:
    return [GraphLink(src=strawberry.ID(a), dst=strawberry.ID(b), type=t, count=c) for a, b, t, c in rows]


@strawberry.type
class AttributeChange:
    name: str = strawberry.field(description="name, managedBy, attrs.<key> or tags.<key>.")
    # null is a value here: an attribute that did not exist at `from` (before) or no longer exists at `to` (after)
    before: JSON | None
    after: JSON | None


@strawberry.type
class StatusChange:
    before: str
    after: str


@strawberry.type(description="A resource that existed at both times and changed in between.")
class ResourceChange:
    resource: Resource
    attributes: list[AttributeChange]
    exact: bool = strawberry.field(description="False: one end's attributes are not in history; `attributes` "
                                               "then names what changed, with null values.")
    health: StatusChange | None
    drift: StatusChange | None
    who: str | None
    when: str
    source: str
    changes: list[Change]


@strawberry.type
class DiffCounts:
    appeared: int
    vanished: int
    changed: int
    appeared_edges: int
    vanished_edges: int


@strawberry.type(description="What appeared, vanished and changed between two times.")
class GraphDiff:
    from_: str = strawberry.field(name="from")
    to: str
    appeared: list[Resource]
    vanished: list[Resource]
    changed: list[ResourceChange]
    appeared_edges: list[GraphLink]
    vanished_edges: list[GraphLink]
    counts: DiffCounts
    truncated: bool

    @classmethod
    def of(cls, d: diff.GraphDiff) -> GraphDiff:
        def status(x: tuple[str, str] | None) -> StatusChange | None:
            return StatusChange(before=x[0], after=x[1]) if x else None

        changed = [ResourceChange(
            resource=resource_at(c.node), exact=c.exact, health=status(c.health), drift=status(c.drift),
            attributes=[AttributeChange(name=a.name, before=as_json(a.before), after=as_json(a.after))
                        for a in c.attributes],
            who=c.who, when=(ts(c.newest.time) if c.newest else ts(d.hi)) or "",
            source=c.newest.source if c.newest else "", changes=[Change.of(x) for x in c.changes]) for c in d.changed]
        return cls(from_=ts(d.lo) or "", to=ts(d.hi) or "", appeared=[resource_at(n) for n in d.appeared],
                   vanished=[resource_at(n) for n in d.vanished], changed=changed,
                   appeared_edges=links([(e.src, e.dst, e.type, 1) for e in d.appeared_edges]),
                   vanished_edges=links([(e.src, e.dst, e.type, 1) for e in d.vanished_edges]),
                   counts=DiffCounts(appeared=d.counts["appeared"], vanished=d.counts["vanished"],
                                     changed=d.counts["changed"], appeared_edges=d.counts["appearedEdges"],
                                     vanished_edges=d.counts["vanishedEdges"]), truncated=d.truncated)


@strawberry.type(description="Health over the estate as of a time.")
class HealthAt:
    at: str
    counts: HealthCounts
    resources: list[Resource]


@strawberry.type(description="Services and their call edges; with `budget`, large maps are grouped.")
class ServiceMap:
    nodes: list[ServiceNode]
    edges: list[ServiceEdge]
    groups: list[NodeGroup] = strawberry.field(default_factory=list, description="With `budget`: services "
                                               "grouped by namespace, then account (edges may name a group id).")
    grouped: bool = False
    columns: ServiceMapColumns | None = strawberry.field(default=None, description=(
        "Nodes, groups and edges as parallel arrays (~4x smaller, no object per edge): for drawing "
        "large maps. The same window, `at`, `budget` and `expand` as `nodes`/`edges`."))
