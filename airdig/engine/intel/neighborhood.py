"""A resource's neighbourhood, summarised to a budget and optionally as of a past time.

Walks the edges table (not the walk index, which holds only live edges) so a neighbourhood as of a
past time includes edges deleted since; finds each member's grouping keys (its subnet and security
group from the ``network``/``contains`` edges pointing at it, its namespace from its id, its account),
and hands the lot to :func:`airdig.engine.intel.grouping.summarise`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from airdig.backends.interfaces import NodeRow, Store
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

    @property
    def exact(self) -> bool:
        """Whether every visible node's state as of ``at`` is reconstructed (groups show only kind,
        health and drift, which history always has)."""
        return all(n.exact for n in self.nodes)


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


def walk(store: Store, root: str, depth: int, types: Sequence[str] | None,
         at: float | None) -> tuple[list[str], set[tuple[str, str, str]], bool]:
    """Node ids within ``depth`` hops (walk order, root first), the edges met ``(src, dst, type)``, and
    whether the cap cut it. Edges are those alive now, or that existed at ``at``."""
    seen = [root]
    seen_set = {root}
    edges: set[tuple[str, str, str]] = set()
    frontier = [root]
    truncated = False
    for _ in range(depth):
        nxt: list[str] = []
        for e in store.edge_links(frontier, "both", types, at):
            edges.add(e)
            for other in (e[0], e[1]):
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
    incoming = [e for e in store.edge_links([i for i in nodes if i != center and i.startswith("arn:")], "in",
                                            KEY_EDGE_TYPES, at) if e[0] != center]
    srcs = {e[0] for e in incoming}
    known = {i: n for i, n in nodes.items() if i in srcs}
    rest = [s for s in srcs if s not in known]
    known.update(store.node_briefs(rest) if rest else {})
    kind_key = {kind: k for k, kind in wanted.items()}
    candidates: dict[str, dict[str, list[str]]] = {}  # member -> key -> values
    size: dict[str, int] = {}
    for s_id, d_id, _ in incoming:
        src = known.get(s_id)
        key = kind_key.get(src.kind) if src is not None else None
        if src is None or key is None or d_id not in out:
            continue
        candidates.setdefault(d_id, {}).setdefault(key, []).append(s_id)
        size[s_id] = size.get(s_id, 0) + 1
        names[s_id] = src.name
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
    # kind, account, health and drift (as of `at`) of every member; attrs only for what stays visible
    briefs = asof.nodes_at(store, ids, at, brief=True)
    if root not in briefs:
        raise NotFound("resource", f"{node_id} (at that time)" if at is not None else node_id)
    order = [i for i in ids if i in briefs]
    rows = {i: n.node for i, n in briefs.items()}
    mkeys, names = member_keys(store, rows, keys, at, root) if len(order) > budget else ({}, {})
    summary = grouping.summarise(root, order, {i: n.kind for i, n in rows.items()}, mkeys, list(edges), budget,
                                 keys, expand, {i: _rank(n) for i, n in rows.items()})
    full = asof.nodes_at(store, summary.nodes, at)
    return Summarised(center=full[root].node, nodes=[full[i] for i in summary.nodes if i in full],
                      groups=[_group(b, rows, names) for b in summary.groups], links=summary.links,
                      total=len(order), truncated=truncated, at=at)


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
