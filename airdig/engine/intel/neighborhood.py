"""A resource's neighbourhood, summarised to a budget and optionally as of a past time.

Walks the edges table (not the walk index, which holds only live edges) so a neighbourhood as of a
past time includes edges deleted since; finds each member's grouping keys (its subnet and security
group from the ``network``/``contains`` edges pointing at it, its namespace from its id, its account),
and hands the lot to :func:`airdig.engine.intel.grouping.summarise`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from airdig.backends.interfaces import EdgeRow, NodeRow, Store
from airdig.engine.intel import asof, grouping, servicemap
from airdig.engine.intel.reads import MAX_NEIGHBOR_DEPTH, check_edge_types, resolve_id
from airdig.engine.intel.servicemap import EdgeSummary
from airdig.errors import InvalidInput, NotFound

MAX_HOOD_NODES = 20_000
GROUP_KEYS = ("kind", "subnet", "securityGroup", "namespace", "account")
DEFAULT_BUDGET = 60
MIN_BUDGET, MAX_BUDGET = 10, 500
# grouping keys found on edges: key -> the kind of the node at the other end (an edge into the member)
EDGE_KEYS = {"subnet": "aws.ec2.subnet", "securityGroup": "aws.ec2.security-group"}
KEY_EDGE_TYPES = ("network", "contains")


@dataclass
class Group:
    """A visible group with its members' numbers (for the API types)."""

    id: str
    kind: str
    by: str
    value: str
    value_name: str | None
    members: list[str]
    worst_health: str
    health: dict[str, int]
    drifted: int

    @property
    def label(self) -> str:
        where = {"kind": "", "other": " of other kinds", "subnet": " in ", "securityGroup": " in ",
                 "namespace": " in namespace ", "account": " in account "}.get(self.by, f" {self.by} ")
        what = self.kind if self.kind != "*" else "nodes"
        if self.by in ("kind", "other"):
            return f"{len(self.members)} {what}{where}"
        return f"{len(self.members)} {what}{where}{self.value_name or self.value}"


@dataclass
class Summarised:
    center: NodeRow | None
    nodes: list[asof.NodeAt]
    groups: list[Group]
    links: list[tuple[str, str, str, int]]
    total: int
    truncated: bool
    at: float | None
    inexact_members: int = 0  # grouped members whose attributes history could not reconstruct

    @property
    def exact(self) -> bool:
        return self.inexact_members == 0 and all(n.exact for n in self.nodes)


def check_budget(budget: int) -> int:
    if not MIN_BUDGET <= budget <= MAX_BUDGET:
        raise InvalidInput("budget", f"must be between {MIN_BUDGET} and {MAX_BUDGET}, got {budget}")
    return budget


def check_group_by(group_by: Sequence[str] | None) -> list[str]:
    keys = list(group_by) if group_by else list(GROUP_KEYS)
    unknown = [k for k in keys if k not in GROUP_KEYS]
    if unknown:
        raise InvalidInput("groupBy", f"unknown key(s) {', '.join(unknown)}; known: {', '.join(GROUP_KEYS)}")
    return keys


def _alive(e: EdgeRow, at: float | None) -> bool:
    return e.deleted_at is None if at is None else asof.exists_at(e.first_seen, e.deleted_at, at)


def walk(store: Store, root: str, depth: int, types: Sequence[str] | None,
         at: float | None) -> tuple[list[str], dict[tuple[str, str, str], EdgeRow], bool]:
    """Node ids within ``depth`` hops (walk order, root first), the edges met, and whether the cap cut it."""
    seen = [root]
    seen_set = {root}
    edges: dict[tuple[str, str, str], EdgeRow] = {}
    frontier = [root]
    truncated = False
    for _ in range(depth):
        nxt: list[str] = []
        for e in store.edges(frontier, "both", types):
            if not _alive(e, at):
                continue
            edges[(e.src, e.type, e.dst)] = e
            for other in (e.src, e.dst):
                if other not in seen_set:
                    if len(seen) >= MAX_HOOD_NODES:
                        truncated = True
                        continue
                    seen_set.add(other)
                    seen.append(other)
                    nxt.append(other)
        frontier = nxt
        if not frontier:
            break
    return seen, edges, truncated


def namespace_of(node_id: str) -> str | None:
    """``k8s://<cluster>/<ns>/<kind>/<name>`` → ns; ``service://<ns>/<name>`` → ns (if it has one)."""
    if node_id.startswith("k8s://"):
        parts = node_id[len("k8s://"):].split("/")
        return parts[1] if len(parts) >= 4 and parts[1] else None
    if node_id.startswith("service://"):
        parts = node_id[len("service://"):].split("/")
        return parts[0] if len(parts) >= 2 and parts[0] else None
    return None


def member_keys(store: Store, nodes: dict[str, NodeRow], keys: Sequence[str], at: float | None,
                center: str | None = None) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """Each node's grouping-key values, and the names of the subnets / security groups they point at
    (never the center: "in sg-web" tells nothing when sg-web is what the neighbourhood is around)."""
    out: dict[str, dict[str, str]] = {i: {} for i in nodes}
    for i, n in nodes.items():
        if "account" in keys and n.account:
            out[i]["account"] = n.account
        ns = namespace_of(i) if "namespace" in keys else None
        if ns:
            out[i]["namespace"] = ns
    names: dict[str, str] = {}
    wanted = {k: kind for k, kind in EDGE_KEYS.items() if k in keys}
    if not wanted or not nodes:
        return out, names
    incoming = [e for e in store.edges([i for i in nodes if i != center], "in", KEY_EDGE_TYPES)
                if e.src != center and _alive(e, at)]
    srcs = {e.src for e in incoming}
    known = {i: n for i, n in nodes.items() if i in srcs}
    rest = [s for s in srcs if s not in known]
    known.update(store.get_nodes(rest) if rest else {})
    kind_key = {kind: k for k, kind in wanted.items()}
    candidates: dict[str, dict[str, list[str]]] = {}  # member -> key -> values
    size: dict[str, int] = {}
    for e in incoming:
        src = known.get(e.src)
        key = kind_key.get(src.kind) if src is not None else None
        if key is None or e.dst not in out:
            continue
        candidates.setdefault(e.dst, {}).setdefault(key, []).append(e.src)
        size[e.src] = size.get(e.src, 0) + 1
        names[e.src] = src.name if src is not None else e.src
    for m, by_key in candidates.items():
        for key, values in by_key.items():
            # a member in several security groups joins the one most of its peers share
            out[m][key] = min(values, key=lambda v: (-size[v], v))
    return out, names


_PRIORITY = {"critical": 0, "warning": 1}


def neighborhood(store: Store, node_id: str, depth: int = 1, budget: int = DEFAULT_BUDGET,
                 group_by: Sequence[str] | None = None, expand: Sequence[str] = (),
                 edge_types: Sequence[str] | None = None, at: float | None = None) -> Summarised:
    if not 1 <= depth <= MAX_NEIGHBOR_DEPTH:
        raise InvalidInput("depth", f"must be between 1 and {MAX_NEIGHBOR_DEPTH}, got {depth}")
    check_budget(budget)
    keys = check_group_by(group_by)
    root = resolve_id(store, node_id)
    ids, edges, truncated = walk(store, root, depth, check_edge_types(edge_types), at)
    found = asof.nodes_at(store, ids, at)
    if root not in found:
        raise NotFound("resource", f"{node_id} (at that time)" if at is not None else node_id)
    order = [i for i in ids if i in found]
    rows = {i: n.node for i, n in found.items()}
    mkeys, names = member_keys(store, rows, keys, at, root) if len(order) > budget else ({}, {})
    summary = grouping.summarise(root, order, {i: n.kind for i, n in rows.items()}, mkeys,
                                 [(e.src, e.dst, e.type) for e in edges.values()], budget, keys, expand,
                                 {i: _rank(n) for i, n in rows.items()})
    groups = [_group(b, rows, names) for b in summary.groups]
    inexact = sum(1 for g in summary.groups for m in g.members if not found[m].exact)
    return Summarised(center=rows[root], nodes=[found[i] for i in summary.nodes], groups=groups,
                      links=summary.links, total=len(order), truncated=truncated, at=at, inexact_members=inexact)


SERVICE_KEYS = ("namespace", "account")


@dataclass
class GroupedServiceMap:
    nodes: list[str]  # visible service ids
    groups: list[Group]
    edges: list[EdgeSummary]  # src/dst a service id or a group id
    grouped: bool


def service_map(store: Store, lo: float, hi: float, budget: int | None,
                expand: Sequence[str] = ()) -> tuple[GroupedServiceMap, dict[str, NodeRow]]:
    """The service map over [lo, hi]; with ``budget``, grouped by namespace then account when larger.

    Edges between visible items add up request and error counts; their percentiles are the worst
    member edge's (percentiles of different edges cannot be merged without their histograms)."""
    edges, ids = servicemap.service_map(store, lo, hi)
    found = store.get_nodes(ids)
    if budget is None or len(ids) <= check_budget(budget):
        return GroupedServiceMap(nodes=list(ids), groups=[], edges=list(edges), grouped=False), found
    rows = {i: found.get(i) or _placeholder(i) for i in ids}
    mkeys, names = member_keys(store, rows, SERVICE_KEYS, None)
    summary = grouping.summarise(None, ids, {i: n.kind for i, n in rows.items()}, mkeys,
                                 [(e.src, e.dst, "calls") for e in edges], budget, SERVICE_KEYS, expand,
                                 {i: _rank(n) for i, n in rows.items()})
    rep = summary.representative
    merged: dict[tuple[str, str], list[EdgeSummary]] = {}
    for e in edges:
        s, d = rep.get(e.src, e.src), rep.get(e.dst, e.dst)
        if s != d:
            merged.setdefault((s, d), []).append(e)
    out = [EdgeSummary(s, d, sum(e.request_count for e in es), sum(e.error_count for e in es),
                       _worst(e.p50 for e in es), _worst(e.p95 for e in es), _worst(e.p99 for e in es),
                       max(e.seconds for e in es)) for (s, d), es in sorted(merged.items())]
    return GroupedServiceMap(nodes=summary.nodes, groups=[_group(b, rows, names) for b in summary.groups],
                             edges=out, grouped=True), found


def _worst(values: Iterable[float | None]) -> float | None:
    return max((v for v in values if v is not None), default=None)


def _placeholder(node_id: str) -> NodeRow:
    """A service seen in call statistics whose node event has not arrived yet."""
    return NodeRow(id=node_id, kind="service", provider="otel", account="", region="", name=node_id, attrs={},
                   tags={}, managed_by=None, version=0.0, first_seen=0.0, last_seen=0.0)


def _rank(n: NodeRow) -> int:
    """Members a partly opened group shows first: critical, warning, drifted, then the rest."""
    if n.health_status in _PRIORITY:
        return _PRIORITY[n.health_status]
    return 2 if n.drift_status in grouping.DRIFTED else 3


def _group(b: grouping.Bucket, rows: dict[str, NodeRow], names: dict[str, str]) -> Group:
    health = {"healthy": 0, "warning": 0, "critical": 0, "unknown": 0}
    drifted = 0
    for m in b.members:
        n = rows[m]
        health[n.health_status if n.health_status in health else "unknown"] += 1
        drifted += n.drift_status in grouping.DRIFTED
    return Group(id=b.id, kind=b.kind, by=b.by, value=b.value, value_name=names.get(b.value), members=b.members,
                 worst_health=grouping.worst_health([s for s, c in health.items() if c]), health=health,
                 drifted=drifted)


def group_members(members: Sequence[str], first: int, after: str | None) -> list[str]:
    """A page of a group's member ids (sorted), after the id ``after``."""
    start = 0
    if after is not None:
        import bisect

        start = bisect.bisect_right(list(members), after)
    return list(members[start:start + first])
