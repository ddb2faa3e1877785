"""The GraphQL schema at ``/graphql``: root fields named in DESIGN.md "APIs".

Abuse is stopped before execution: query depth, alias count and token count are limited, and every
list requires ``first`` ≤ 100. Errors carry ``extensions.code`` from :mod:`airdig.engine.api.errors`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError
from starlette.concurrency import run_in_threadpool
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.scalars import JSON
from strawberry.types import Info
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField

from airdig.backends.interfaces import NodeRow, Store
from airdig.engine.api.graphql.cost import QueryCost, VariableCost
from airdig.engine.api.graphql.hotread import HotRoot
from airdig.engine.api.graphql.intel_types import (
    Candidate,
    Change,
    ChangeTime,
    Coverage,
    DriftEvent,
    DriftEventConnection,
    DriftEventEdge,
    DriftFilter,
    EdgeComparison,
    EdgeNumbers,
    GraphEdge,
    Impact,
    ImpactNode,
    Onset,
    RootCause,
    ScoreFactors,
    ServiceEdge,
    ServiceMapColumns,
    ServiceNode,
    SetAside,
    Subgraph,
)
from airdig.engine.api.graphql.offloop import OffLoop
from airdig.engine.api.graphql.plainlists import PlainListsContext, check_resolve_hooks
from airdig.engine.api.graphql.types import (
    PageInfo,
    Resource,
    ResourceConnection,
    ResourceEdge,
    ResourceFilter,
    as_json,
    field,
    health_of,
)
from airdig.engine.api.graphql.view_types import (
    GraphDiff,
    HealthAt,
    HealthCounts,
    Neighborhood,
    NodeGroup,
    ServiceMap,
    resource_at,
)
from airdig.engine.api.views import check_first, decode_cursor, encode_cursor, node_filter, ts
from airdig.engine.intel import asof, diff, reads, writers
from airdig.engine.intel import neighborhood as hood
from airdig.engine.intel.workers import run_root_cause
from airdig.engine.service import EngineService
from airdig.errors import AirDigError, InvalidInput, NotFound
from airdig.logs import get_logger
from airdig.model.events import parse_time

log = get_logger("engine.graphql")

MAX_DEPTH = 10
MAX_ALIASES = 30
MAX_TOKENS = 2000


def _svc(info: Info[Any, Any]) -> EngineService:
    svc: EngineService = info.context["service"]
    return svc


@strawberry.type
class Query:
    @field("One resource by its id (ARN, k8s://…, service://…) or native id.")
    async def resource(self, info: Info[Any, Any], id: strawberry.ID, at: str | None = None) -> Resource | None:
        # async: a hit of the in-process cache is answered on the loop (no thread hop); everything else
        # (a miss, a native id, Redis, a time in the past) reads in a worker thread
        return await load_resource(_svc(info), str(id), at)

    @field("Resources matching a filter, paged with `first` (≤ 100) and `after`.")
    def resources(self, info: Info[Any, Any], first: int | None = None, after: str | None = None,
                  filter: ResourceFilter | None = None) -> ResourceConnection:
        n = check_first(first)
        f = filter or ResourceFilter()
        flt = node_filter(kind=f.kind, provider=f.provider, account=f.account, region=f.region, tag=f.tag,
                          health=f.health, drift=f.drift,
                          changed_since=parse_time(f.changed_since, "changedSince") if f.changed_since else None,
                          include_deleted=f.include_deleted)
        store = _svc(info).store
        rows = store.list_nodes(flt, n + 1, decode_cursor(after))
        page = rows[:n]
        edges = [ResourceEdge(cursor=encode_cursor(r.id), node=Resource.of(r)) for r in page]
        return ResourceConnection(
            edges=edges, page_info=PageInfo(has_next_page=len(rows) > n, end_cursor=edges[-1].cursor if edges else None),
            total_count=store.count_nodes(flt))

    @field("Find resources by id, native id (i-…, sg-…, IP, DNS name) or name substring.")
    def search(self, info: Info[Any, Any], query: str, first: int | None = 20) -> list[Resource]:
        n = check_first(first)
        if len(query) > 512:
            raise InvalidInput("query", "search text is longer than 512 characters")
        return [Resource.of(r) for r in _svc(info).store.search_nodes(query, n)]


    @field("Nodes within `depth` hops (either direction) and the edges among them.")
    def neighbors(self, info: Info[Any, Any], id: strawberry.ID, depth: int = 1, edge_types: list[str] | None = None,
                  first: int | None = 100, at: str | None = None) -> Subgraph:
        n = check_first(first)
        when = parse_time(at, "at") if at else None
        hood = reads.neighbors(_svc(info).store, str(id), depth, edge_types, n, when)
        stale_before = (when or time.time()) - reads.STALE_AFTER
        return Subgraph(nodes=[resource_at(x) for x in hood.nodes],
                        edges=[GraphEdge.of(e, stale_before) for e in hood.edges], truncated=hood.truncated)

    @field("The neighbourhood summarised to `budget` visible items (nodes + groups), optionally as of `at`; "
           "`expand` opens groups in place (docs/ui-api.md).")
    def neighborhood(self, info: Info[Any, Any], id: strawberry.ID, depth: int = 1,
                     budget: int = hood.DEFAULT_BUDGET, group_by: list[str] | None = None,
                     expand: list[strawberry.ID] | None = None, edge_types: list[str] | None = None,
                     at: str | None = None) -> Neighborhood:
        s = hood.neighborhood(_svc(info).store, str(id), depth, budget, group_by,
                              [str(g) for g in expand or []], edge_types, parse_time(at, "at") if at else None)
        return Neighborhood.of(s)

    @field("What appeared, vanished and changed between two times, with who and when from the timeline; "
           "`scope` bounds it to a node's `depth`-hop neighbourhood.")
    def graph_diff(self, info: Info[Any, Any], from_: Annotated[str, strawberry.argument(name="from")], to: str,
                   scope: strawberry.ID | None = None, depth: int = 2, first: int | None = 100) -> GraphDiff:
        n = check_first(first)
        return GraphDiff.of(diff.graph_diff(_svc(info).store, parse_time(from_, "from"), parse_time(to, "to"),
                                            str(scope) if scope else None, depth, n))

    @field("Health counts over the estate as of `at`, and the resources whose health then was one of `status`.")
    def health_at(self, info: Info[Any, Any], at: str, status: list[str] | None = None,
                  first: int | None = 50) -> HealthAt:
        n = check_first(first)
        when = parse_time(at, "at")
        counts, items = asof.health_summary(_svc(info).store, when, status or ["critical", "warning"], n)
        return HealthAt(at=ts(when) or "", counts=HealthCounts(**counts), resources=[resource_at(x) for x in items])

    @field("Drift events, newest first, paged with `first` (≤ 100) and `after`.")
    def drift_events(self, info: Info[Any, Any], first: int | None = None, after: str | None = None,
                     filter: DriftFilter | None = None, at: str | None = None) -> DriftEventConnection:
        n = check_first(first)
        f = filter or DriftFilter()
        store = _svc(info).store
        if at is not None:
            return _drift_events_at(store, f, n, after, parse_time(at, "at"))
        args = {"resource_id": str(f.resource_id) if f.resource_id else None, "status": f.status,
                "severity": f.severity, "kind": f.kind}
        rows = store.drift_events(**args, first=n + 1, after=reads.decode_drift_cursor(after))
        page = rows[:n]
        nodes = store.get_nodes([d.resource_id for d in page])  # one query for the page, not one per row
        edges = [DriftEventEdge(cursor=reads.encode_drift_cursor(d), node=DriftEvent.of(d, nodes.get(d.resource_id)))
                 for d in page]
        return DriftEventConnection(edges=edges, page_info=PageInfo(
            has_next_page=len(rows) > n, end_cursor=edges[-1].cursor if edges else None),
            total_count=store.count_drift_events(**args))

    @field("Services and their call edges with counts, error rate and latency over [since, until].")
    def service_map(self, info: Info[Any, Any], since: str | None = None, until: str | None = None,
                    at: str | None = None, budget: int | None = None,
                    expand: list[strawberry.ID] | None = None) -> ServiceMap:
        if at is not None and until is not None:
            raise InvalidInput("at", "give either at or until (at is the end of the window)")
        lo, hi = _window(since, until or at, 900)
        store = _svc(info).store
        gm, found = hood.service_map(store, lo, hi, budget, [str(g) for g in expand or []])
        if at is not None:  # health as it was at the end of the window
            found = {i: n.node for i, n in asof.nodes_at(store, list(found), hi, brief=True).items()}
        nodes = [ServiceNode(id=strawberry.ID(i), kind=nd.kind if nd else "service", name=nd.name if nd else i,
                             health=health_of(nd) if nd else None)
                 for i in gm.nodes for nd in (found.get(i),)] if _selects(info, "nodes") else []
        edges = [ServiceEdge(src=strawberry.ID(e.src), dst=strawberry.ID(e.dst), request_count=e.request_count,
                             error_count=e.error_count, error_rate=round(e.error_rate, 4), p50=e.p50, p95=e.p95,
                             p99=e.p99) for e in gm.edges] if _selects(info, "edges") else []
        return ServiceMap(nodes=nodes, groups=[NodeGroup.of(g) for g in gm.groups], grouped=gm.grouped, edges=edges,
                          columns=_service_map_columns(gm, found) if _selects(info, "columns") else None)

    @field("Blast radius: what trouble at this node reaches, breadth-first up to `hops` (default 3); with `at`, "
           "over the graph as it was then (each resource as of then).")
    def impact(self, info: Info[Any, Any], id: strawberry.ID, hops: int = 3, at: str | None = None) -> Impact:
        res = reads.impact(_svc(info).store, str(id), hops, with_resources=_selects(info, "nodes", "resource"),
                           at=parse_time(at, "at") if at else None)
        return Impact(root=strawberry.ID(res.root), truncated=res.truncated, nodes=[
            ImpactNode(id=strawberry.ID(i), distance=d, path=[strawberry.ID(p) for p in path],
                       resource=resource_at(res.nodes[i]) if i in res.nodes else None) for i, d, path in res.reached])

    @field("What changed: a node's change timeline (with `hops`, also its neighbours'), or everything.")
    def timeline(self, info: Info[Any, Any], id: strawberry.ID | None = None, since: str | None = None,
                 until: str | None = None, first: int | None = 50, hops: int = 0) -> list[Change]:
        n = check_first(first)
        lo = parse_time(since, "since") if since else None
        hi = parse_time(until, "until") if until else None
        store = _svc(info).store
        rows = reads.timeline(store, str(id) if id else None, lo, hi, n, hops)
        found = writers.for_changes(store, rows) if _selects(info, "writers") else None
        return [Change.of(c, found) for c in rows]

    @field("Dig: rank the state changes that could explain a symptom at a node around time `at`.")
    async def root_cause(self, info: Info[Any, Any], id: strawberry.ID, at: str | None = None,
                         window_minutes: int = 30) -> RootCause:
        # async: the walk runs in an intel worker process (or a worker thread without a pool), and the
        # loop only builds the answer from its result
        if not 1 <= window_minutes <= 24 * 60:
            raise InvalidInput("windowMinutes", f"must be between 1 and 1440, got {window_minutes}")
        svc = _svc(info)
        when = parse_time(at, "at") if at else time.time()
        want_writers = _selects(info, "candidates", "change", "writers") or \
            _selects(info, "setAside", "change", "writers")
        res = await run_root_cause(svc.intel_pool, svc.store, str(id), when, window_minutes * 60.0, want_writers)
        dg, found, who = res.diagnosis, res.nodes, res.writers
        onset = dg.onset
        return RootCause(
            symptom=strawberry.ID(res.symptom), at=ts(when) or "", summary=dg.symptom_summary,
            candidates=[Candidate(
                score=c.score, change=Change.of(c.change, who), path=[strawberry.ID(p) for p in c.path],
                distance=c.distance, evidence=c.evidence,
                before_after=[EdgeComparison(src=strawberry.ID(b["src"]), dst=strawberry.ID(b["dst"]),
                                             before=_numbers(b["before"]), after=_numbers(b["after"]))
                              for b in c.before_after],
                change_time=ChangeTime(earliest=ts(c.change_time.earliest), latest=ts(c.change_time.latest) or "",
                                       basis=c.change_time.basis),
                after_onset=c.after_onset, deciding=c.deciding,
                factors=ScoreFactors(**{k: c.factors.get(k, 1.0) for k in ("kind", "distance", "time", "evidence")}))
                for c in dg.candidates],
            impact=[ImpactNode(id=strawberry.ID(i), distance=d, path=[strawberry.ID(p) for p in path],
                               resource=Resource.of(found[i]) if i in found else None) for i, d, path in dg.impact],
            onset=Onset(time=ts(onset.time) or "", source=onset.source, detail=onset.detail) if onset else None,
            verdict=dg.verdict, margin=dg.margin,
            set_aside=[SetAside(change=Change.of(ch, who), reason=why) for ch, why in dg.set_aside[:100]])

    @field("Terraform coverage of the live AWS graph (managed / total, per kind).")
    def coverage(self, info: Info[Any, Any]) -> Coverage:
        cov = _svc(info).store.coverage()
        return Coverage(managed=cov["managed"], total=cov["total"], by_type=as_json(cov["by_type"]))

    @field("DeepDrift's coverage matrix from the latest `deepdrift watch` cycle (as in `deepdrift detect "
           "--format json`: managed, total, byType, scopes, states, unmanaged, compared) plus `asOf`; "
           "null before any watch cycle was applied.")
    def drift_coverage(self, info: Info[Any, Any]) -> JSON | None:
        return as_json(reads.drift_coverage(_svc(info).store))


def _drift_events_at(store: Store, f: DriftFilter, n: int, after: str | None, when: float) -> DriftEventConnection:
    page, more, total = asof.drift_events_at(store, when, str(f.resource_id) if f.resource_id else None, f.status,
                                             f.severity, f.kind, n, reads.decode_drift_cursor(after))
    nodes = store.get_nodes([d.resource_id for d in page])
    edges = [DriftEventEdge(cursor=reads.encode_drift_cursor(d), node=DriftEvent.of(d, nodes.get(d.resource_id)))
             for d in page]
    return DriftEventConnection(edges=edges, page_info=PageInfo(
        has_next_page=more, end_cursor=edges[-1].cursor if edges else None), total_count=total)


async def load_resource(svc: EngineService, ident: str, at: str | None) -> Resource | None:
    """What ``resource(id, at)`` answers; also the loader of its hot read path (:data:`HOT_ROOTS`)."""
    if at is not None:
        return await run_in_threadpool(_resource_at, svc, ident, parse_time(at, "at"))
    node = svc.read_cache.peek(ident)
    if node is None:
        node = await run_in_threadpool(_resource, svc, ident)
    return Resource.of(node) if node else None


async def _hot_resource(context: dict[str, Any], args: dict[str, Any]) -> Resource | None:
    return await load_resource(context["service"], str(args["id"]), args.get("at"))


# root fields answered by airdig.engine.api.graphql.hotread when a document only reads plain fields of them
HOT_ROOTS: dict[str, HotRoot] = {"resource": _hot_resource}


def _resource_at(svc: EngineService, ident: str, when: float) -> Resource | None:
    try:
        found = asof.nodes_at(svc.store, [reads.resolve_id(svc.store, ident)], when)
    except NotFound:
        return None
    return resource_at(next(iter(found.values()))) if found else None


def _resource(svc: EngineService, ident: str) -> NodeRow | None:
    node = svc.read_cache.node(ident)
    if node is None:
        ids = svc.store.resolve_native_id(ident)
        node = svc.read_cache.node(ids[0]) if len(ids) == 1 else None
    return node


def _service_map_columns(gm: hood.GroupedServiceMap, found: dict[str, NodeRow]) -> ServiceMapColumns:
    """``serviceMap { columns }``: one array per field, edges as indexes into ``ids``; no per-item object
    on either side (20,000 edges: ~1 MB of JSON instead of ~3.5 MB, and no object per edge in the browser)."""
    ids, kinds, names, health = [], [], [], []
    for i in gm.nodes:
        nd = found.get(i)
        ids.append(strawberry.ID(i))
        kinds.append(nd.kind if nd else "service")
        names.append(nd.name if nd else i)
        health.append(nd.health_status if nd else None)
    for g in gm.groups:
        ids.append(strawberry.ID(g.id))
        kinds.append(g.kind)
        names.append(g.label)
        health.append(g.worst_health)
    index = {str(x): k for k, x in enumerate(ids)}
    e = gm.edges
    return ServiceMapColumns(ids=ids, kinds=kinds, names=names, health=health,
                             src=[index[x.src] for x in e], dst=[index[x.dst] for x in e],
                             request_count=[x.request_count for x in e], error_count=[x.error_count for x in e],
                             error_rate=[round(x.error_rate, 4) for x in e], p50=[x.p50 for x in e],
                             p95=[x.p95 for x in e], p99=[x.p99 for x in e])


def _selects(info: Info[Any, Any], *path: str) -> bool:
    """Whether the query asks for the field at ``path`` under this one (so loading it can be skipped),
    through fragment spreads and inline fragments too."""
    fields: list[Any] = list(info.selected_fields)
    for name in path:
        nxt = [s for f in fields for s in _fields_of(getattr(f, "selections", [])) if s.name == name]
        if not nxt:
            return False
        fields = nxt
    return True


def _fields_of(selections: list[Any]) -> Iterator[SelectedField]:
    """The fields of a selection set, fragments (spread or inline) opened."""
    for s in selections:
        if isinstance(s, SelectedField):
            yield s
        elif isinstance(s, FragmentSpread | InlineFragment):
            yield from _fields_of(s.selections)


def _numbers(d: dict[str, Any] | None) -> EdgeNumbers | None:
    if d is None:
        return None
    return EdgeNumbers(rate=d["rate"], error_ratio=d["errorRatio"], p95=d["p95"], requests=d["requests"])


def _window(since: str | None, until: str | None, default_seconds: float) -> tuple[float, float]:
    hi = parse_time(until, "until") if until else time.time()
    lo = parse_time(since, "since") if since else hi - default_seconds
    if lo >= hi:
        raise InvalidInput("since", "must be before until")
    return lo, hi


def _actor(info: Info[Any, Any]) -> str | None:
    principal = info.context.get("principal")
    return str(principal) if principal else None


@strawberry.type
class Mutation:
    @field("Acknowledge a drift event (someone is on it). Needs the editor role.")
    def acknowledge_drift(self, info: Info[Any, Any], id: strawberry.ID) -> DriftEvent:
        store = _svc(info).store
        row = reads.set_drift_status(store, str(id), "acknowledged", _actor(info))
        _svc(info).invalidate()
        return DriftEvent.of(row, store.get_node(row.resource_id))

    @field("Mark a drift event resolved (reverted or adopted). Needs the editor role.")
    def resolve_drift(self, info: Info[Any, Any], id: strawberry.ID) -> DriftEvent:
        store = _svc(info).store
        row = reads.set_drift_status(store, str(id), "resolved", _actor(info))
        _svc(info).invalidate()
        return DriftEvent.of(row, store.get_node(row.resource_id))


class ErrorCodes(SchemaExtension):
    """Give every error an ``extensions.code`` (AirDig's own, else GRAPHQL_VALIDATION / INTERNAL)."""

    def on_operation(self) -> Any:
        yield
        result = self.execution_context.result
        if result is None or not result.errors:
            return
        fixed: list[GraphQLError] = []
        for err in result.errors:
            orig = err.original_error
            if isinstance(orig, AirDigError):
                code = orig.code
            elif orig is None and (err.extensions or {}).get("code"):
                code = str((err.extensions or {})["code"])
            elif orig is None and _is_limit(err.message):
                code = "LIMIT_EXCEEDED"
            elif orig is None:
                code = "GRAPHQL_VALIDATION"
            else:
                code = "INTERNAL"
            message = err.message if orig is None or isinstance(orig, AirDigError) else "internal error"
            fixed.append(GraphQLError(message, nodes=err.nodes, source=err.source, positions=err.positions,
                                      path=err.path, original_error=orig,
                                      extensions={**(err.extensions or {}), "code": code}))
        result.errors = fixed


_LIMIT_MESSAGES = ("exceeds maximum operation depth", "aliases found. allowed", "more than", "query cost")


def _is_limit(message: str) -> bool:
    """Strawberry's depth, alias and token limiters report plain validation errors: recognise them, so
    a caller can tell "too big" (LIMIT_EXCEEDED) from "wrong" (GRAPHQL_VALIDATION)."""
    low = message.lower()
    return any(m in low for m in _LIMIT_MESSAGES) and ("token" in low or "depth" in low or "alias" in low
                                                       or "cost" in low)


# The limits run as validation rules. Their rule classes are built once here, so that every request
# names the very same rules and the validation cache (keyed by document *and* rules) can hit.
_LIMIT_RULES = [*QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
                *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules, QueryCost]


def _extensions() -> list[Any]:
    # factories, so every request gets fresh extension instances; the caches keep parsed and validated
    # documents across requests (a cached document was already checked against the limits)
    return [lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS), lambda: ParserCache(maxsize=512),
            lambda: AddValidationRules(_LIMIT_RULES), lambda: ValidationCache(maxsize=512), VariableCost, ErrorCodes, OffLoop]


class _Schema(strawberry.Schema):
    """Logs one structured line per failed operation instead of Strawberry's tracebacks on stderr:
    a caller's mistake (bad input, limits, auth) at debug, an internal failure at error with its trace."""

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        for err in errors:
            orig = err.original_error
            if orig is None or isinstance(orig, AirDigError):
                log.debug("graphql request rejected", error=err.message,
                          code=orig.code if isinstance(orig, AirDigError) else "GRAPHQL_VALIDATION")
            else:
                log.exception_of(orig, "graphql resolver failed", path=".".join(str(p) for p in err.path or []))


def build_schema() -> strawberry.Schema:
    from airdig.engine.api.graphql.subscriptions import Subscription
    from airdig.engine.auth import MutationGuard

    extensions = [*_extensions(), MutationGuard]  # MutationGuard: mutations need the editor role
    check_resolve_hooks(extensions)
    return _Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        execution_context_class=PlainListsContext,  # long lists (serviceMap's 20,000 edges) at attribute speed
    )
