"""GraphQL types of the engine's intelligence: subgraphs, drift events, service map, impact, root cause."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from airdig.backends.interfaces import ChangeRow, DriftRow, EdgeRow, NodeRow
from airdig.engine.api.graphql.types import Health, PageInfo, Resource, as_json
from airdig.engine.api.views import public_details, ts
from airdig.engine.intel.writers import PathWriters
from airdig.engine.intel.writers import Writer as TrailWrite


@strawberry.type(description="An edge of the graph; `stale` when no scan or trace has observed it lately.")
class GraphEdge:
    src: strawberry.ID
    dst: strawberry.ID
    type: str
    last_seen: str | None
    stale: bool

    @classmethod
    def of(cls, e: EdgeRow, stale_before: float) -> GraphEdge:
        return cls(src=strawberry.ID(e.src), dst=strawberry.ID(e.dst), type=e.type, last_seen=ts(e.last_seen),
                   stale=e.last_seen < stale_before)


@strawberry.type(description="Nodes and edges around a node.")
class Subgraph:
    nodes: list[Resource]
    edges: list[GraphEdge]
    truncated: bool


@strawberry.type(description="The CloudTrail event that explains a drift, or one changed attribute of it.")
class Cause:
    event_id: str | None
    event_name: str | None
    event_time: str | None
    principal: str | None
    channel: str | None
    source_ip: str | None

    @classmethod
    def of(cls, c: object) -> Cause | None:
        if not isinstance(c, dict):
            return None
        return cls(event_id=c.get("event_id"), event_name=c.get("event_name"), event_time=c.get("event_time"),
                   principal=c.get("principal"), channel=c.get("channel"), source_ip=c.get("source_ip"))


@strawberry.type(description="One changed attribute: Terraform's value, the live value, and the CloudTrail "
                             "write that set the live value (null when no write on record touched it).")
class Diff:
    path: str
    expected: JSON | None
    actual: JSON | None
    cause: Cause | None = None


@strawberry.type(description="A difference between Terraform and the cloud, attributed where possible.")
class DriftEvent:
    id: strawberry.ID
    resource_id: strawberry.ID
    resource_type: str
    terraform_address: str | None
    kind: str
    severity: str
    status: str
    diffs: list[Diff]
    cause: Cause | None
    remediation: JSON | None
    detected_at: str
    resolved_at: str | None
    resource: Resource | None

    @classmethod
    def of(cls, d: DriftRow, node: NodeRow | None) -> DriftEvent:
        cause = Cause.of(d.cause)
        return cls(id=strawberry.ID(d.id), resource_id=strawberry.ID(d.resource_id), resource_type=d.resource_type,
                   terraform_address=d.terraform_address, kind=d.kind, severity=d.severity, status=d.status,
                   diffs=[Diff(path=str(x.get("path")), expected=as_json(x.get("expected")),
                               actual=as_json(x.get("actual")), cause=Cause.of(x.get("cause"))) for x in d.diffs],
                   cause=cause, remediation=as_json(d.remediation), detected_at=ts(d.detected_at) or "",
                   resolved_at=ts(d.resolved_at), resource=Resource.of(node) if node else None)


@strawberry.type
class DriftEventEdge:
    cursor: str
    node: DriftEvent


@strawberry.type
class DriftEventConnection:
    edges: list[DriftEventEdge]
    page_info: PageInfo
    total_count: int


@strawberry.input
class DriftFilter:
    resource_id: strawberry.ID | None = None
    status: str | None = None
    severity: str | None = None
    kind: str | None = None


@strawberry.type
class ServiceNode:
    id: strawberry.ID
    kind: str
    name: str
    health: Health | None


@strawberry.type(description="Calls from src to dst over the window: counts, error rate, latency (ms).")
class ServiceEdge:
    src: strawberry.ID
    dst: strawberry.ID
    request_count: int
    error_count: int
    error_rate: float
    p50: float | None
    p95: float | None
    p99: float | None


@strawberry.type(description="The same service map as parallel arrays, for drawing thousands of services: "
                             "entry i of `ids`, `kinds`, `names` and `health` is one item (the services, then "
                             "the groups in `groups` order); entry j of the edge arrays is one call edge, whose "
                             "`src`/`dst` are indexes into `ids`.")
class ServiceMapColumns:
    ids: list[strawberry.ID]
    kinds: list[str]
    names: list[str]
    health: list[str | None] = strawberry.field(description="Health status (a group's worst); null: not known.")
    src: list[int]
    dst: list[int]
    request_count: list[int]
    error_count: list[int]
    error_rate: list[float]
    p50: list[float | None]
    p95: list[float | None]
    p99: list[float | None]


@strawberry.type(description="A node reached by the walk, with its distance and path from the start.")
class ImpactNode:
    id: strawberry.ID
    distance: int
    path: list[strawberry.ID]
    resource: Resource | None


@strawberry.type
class Impact:
    root: strawberry.ID
    nodes: list[ImpactNode]
    truncated: bool


@strawberry.type(description="A CloudTrail write behind a changed attribute of a scan diff.")
class Writer:
    event_id: str
    event_name: str | None
    time: str
    principal: str | None
    channel: str | None
    source_ip: str | None

    @classmethod
    def of(cls, w: TrailWrite | None) -> Writer | None:
        if w is None:
            return None
        return cls(event_id=w.event_id, event_name=w.event_name, time=ts(w.time) or "", principal=w.principal,
                   channel=w.channel, source_ip=w.source_ip)


@strawberry.type(description="One changed attribute of a scan diff: the latest CloudTrail write before detection "
                             "whose request touched it (`writer`, null when none on record did — never a guess) "
                             "and every such write since the previous scan, newest first (`writers`).")
class ChangedAttribute:
    path: str
    writer: Writer | None
    writers: list[Writer]


@strawberry.type(description="One line of a node's change timeline.")
class Change:
    id: strawberry.ID
    resource_id: strawberry.ID
    time: str
    kind: str
    source: str
    actor: str | None
    summary: str
    details: JSON
    writers: list[ChangedAttribute] = strawberry.field(
        default_factory=list, description="Scan diffs (`updated`): who set each changed attribute "
                                          "(empty for other kinds).")

    @classmethod
    def of(cls, c: ChangeRow, found: dict[str, list[PathWriters]] | None = None) -> Change:
        """``found``: :func:`airdig.engine.intel.writers.for_changes` of the batch, when asked for."""
        attrs = [ChangedAttribute(path=p.path, writer=Writer.of(p.writer),
                                  writers=[w for w in map(Writer.of, p.writers) if w is not None])
                 for p in (found or {}).get(c.id, [])]
        return cls(id=strawberry.ID(c.id), resource_id=strawberry.ID(c.node_id), time=ts(c.time) or "", kind=c.kind,
                   source=c.source, actor=c.actor, summary=c.summary, details=as_json(public_details(c.details)), writers=attrs)


@strawberry.type
class EdgeNumbers:
    rate: float
    error_ratio: float
    p95: float | None
    requests: int


@strawberry.type(description="A call edge's numbers in equal windows before and after a change.")
class EdgeComparison:
    src: strawberry.ID
    dst: strawberry.ID
    before: EdgeNumbers | None
    after: EdgeNumbers | None


@strawberry.type(description="When a change happened (not when it was detected): a point for a CloudTrail "
                             "write or a rollout; for a scan diff or an unexplained drift, between the last "
                             "observation of the old state and the first of the new (`earliest` null: unbounded).")
class ChangeTime:
    earliest: str | None
    latest: str
    basis: str


@strawberry.type(description="The factors a candidate's score multiplies (see docs/engine.md).")
class ScoreFactors:
    kind: float
    distance: float
    time: float
    evidence: float


@strawberry.type(description="A state change ranked as a possible cause, with its evidence chain.")
class Candidate:
    score: float
    change: Change
    path: list[strawberry.ID]
    distance: int
    evidence: list[str]
    before_after: list[EdgeComparison]
    change_time: ChangeTime
    after_onset: bool = strawberry.field(description="Made after the symptom began: listed last, cannot be its cause.")
    deciding: str | None = strawberry.field(description="The evidence that carries (or sinks) this candidate.")
    factors: ScoreFactors


@strawberry.type(description="When the symptom began: a step in an affected call edge, a health transition, "
                             "or (neither found) the time asked about.")
class Onset:
    time: str
    source: str
    detail: str


@strawberry.type(description="A change in the window that is never a candidate (posture, discovery), and why.")
class SetAside:
    change: Change
    reason: str


@strawberry.type
class RootCause:
    symptom: strawberry.ID
    at: str
    summary: str
    candidates: list[Candidate]
    impact: list[ImpactNode]
    onset: Onset | None
    verdict: str | None = strawberry.field(description="Why #1 beat #2: the margin and the deciding evidence.")
    margin: float | None = strawberry.field(description="Score of #1 over score of #2 (null with one candidate).")
    set_aside: list[SetAside]


@strawberry.type(description="Terraform coverage of the live AWS graph.")
class Coverage:
    managed: int
    total: int
    by_type: JSON
