"""Compare a scan with the previous graph, scope by scope, into change events.

Only scopes that were read successfully this cycle are compared: a scope that failed (or was not
scanned) yields no event at all, so "could not fetch" never becomes "deleted". A node or edge that
left one scope but is present in another scope of this scan is not deleted either.

    changes = diff(previous, graph, failed={"ec2/us-east-1"})
    for c in changes.nodes: c.action, c.node.id, c.changed
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airdig.errors import InvalidInput
from airdig.model.events import parse_time
from airdig.model.graph import Edge, Node
from airdig.skygraph.graph import Graph, ScopeGraph


@dataclass(frozen=True)
class NodeChange:
    action: str  # created | updated | deleted
    node: Node
    changed: tuple[str, ...] = ()
    # when the scope was last observed still without this change (None: first scan of the scope, so a
    # "created" is discovery, not a change); root cause places the change between then and now
    observed_since: float | None = None
    changed_at: float | None = None  # the object's own record of the change (a Kubernetes rollout)
    confirmed_at: float | None = None  # when the read that returned this snapshot started (not on deletes)


@dataclass(frozen=True)
class EdgeChange:
    action: str  # observed | deleted
    edge: Edge


@dataclass(frozen=True)
class Confirmation:
    """The read of ``scope`` started at ``at`` saw ``node_ids`` exactly as before (no change event for
    them): they are confirmed without being published again. ``interval``: seconds since the scope's
    previous read, the cadence staleness is judged by."""

    scope: str
    at: float
    node_ids: tuple[str, ...]
    interval: float | None = None


@dataclass
class Changes:
    nodes: list[NodeChange] = field(default_factory=list)
    edges: list[EdgeChange] = field(default_factory=list)
    confirmed: list[Confirmation] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for c in self.nodes if c.action == action)


def _walk(prefix: str, old: Any, new: Any, out: list[str]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(old.keys() | new.keys(), key=str):
            if key not in old or key not in new:
                out.append(f"{prefix}.{key}")
            elif old[key] != new[key]:
                _walk(f"{prefix}.{key}", old[key], new[key], out)
    else:
        out.append(prefix)  # lists and scalars change as a whole: rule order is not meaningful


def changed_paths(old: Node, new: Node) -> list[str]:
    """Attribute paths that differ (``attrs.IpPermissions``, ``tags.env``, ``name``); empty when equal."""
    out: list[str] = []
    for f in ("kind", "provider", "account", "region", "name"):
        if getattr(old, f) != getattr(new, f):
            out.append(f)
    if old.attrs != new.attrs:
        _walk("attrs", old.attrs, new.attrs, out)
    if old.tags != new.tags:
        _walk("tags", old.tags, new.tags, out)
    return out


def diff_scope(prev: ScopeGraph | None, cur: ScopeGraph, present: set[str] | None = None,
               present_edges: set[tuple[str, str, str]] | None = None, scope: str = "",
               read_at: float | None = None, confirm_only: set[str] | None = None) -> Changes:
    """Changes of one scope; ``present`` ids (seen elsewhere this scan) are never reported deleted.

    With ``read_at`` (when this read of the scope started) created and updated nodes carry it as
    ``confirmed_at`` and the unchanged ones are listed in one :class:`Confirmation` (only those in
    ``confirm_only`` when given: a follow re-describe read just those, not the whole scope)."""
    ch = Changes()
    before = prev or ScopeGraph()
    since = prev.observed_at if prev is not None else None
    unchanged: list[str] = []
    old_nodes, cur_nodes, append = before.nodes, cur.nodes, ch.nodes.append
    for nid, node in cur_nodes.items():
        old = old_nodes.get(nid)
        if old is None:
            append(NodeChange("created", node, observed_since=since,
                              changed_at=_created_at(node) if prev is not None else None, confirmed_at=read_at))
            continue
        # what changed_paths compares, inline: nearly every node of a re-scan is unchanged
        if (old.attrs == node.attrs and old.tags == node.tags and old.name == node.name and old.kind == node.kind
                and old.region == node.region and old.account == node.account and old.provider == node.provider):
            paths: list[str] = []
        else:
            paths = changed_paths(old, node)
        if paths:
            append(NodeChange("updated", node, tuple(paths), observed_since=since, confirmed_at=read_at))
        elif confirm_only is None or nid in confirm_only:
            unchanged.append(nid)
    if read_at is not None and unchanged:
        interval = read_at - since if since is not None and read_at > since else None
        ch.confirmed.append(Confirmation(scope, read_at, tuple(unchanged), interval))
    for nid, old in old_nodes.items():
        if nid not in cur_nodes and (present is None or nid not in present):
            append(NodeChange("deleted", old, observed_since=since))
    old_edges, cur_edges, append_edge = before.edges, cur.edges, ch.edges.append
    for key, edge in cur_edges.items():
        if key not in old_edges:
            append_edge(EdgeChange("observed", edge))
    for key, edge in old_edges.items():
        if key not in cur_edges and (present_edges is None or key not in present_edges):
            append_edge(EdgeChange("deleted", edge))
    return ch


def _created_at(node: Node) -> float | None:
    """A Kubernetes object's ``metadata.creationTimestamp`` (kept in attrs), as epoch seconds."""
    raw = node.attrs.get("creationTimestamp") if node.provider == "k8s" else None
    if not isinstance(raw, str):
        return None
    try:
        return parse_time(raw, "creationTimestamp")
    except InvalidInput:
        return None


def _rollouts(created: list[Node]) -> dict[str, float]:
    """Owner uid → creation time of its newest ReplicaSet among those new since the previous scan: a
    Deployment's rollout creates one. (A rollback scales an older ReplicaSet up again and creates none:
    its creation time is not the rollout's, so only ReplicaSets that are new count.)"""
    out: dict[str, float] = {}
    for n in created:
        if n.kind != "k8s.replicaset" or (t := _created_at(n)) is None:
            continue
        for ref in n.attrs.get("ownerReferences") or []:
            if isinstance(ref, dict) and isinstance(ref.get("uid"), str):
                out[ref["uid"]] = max(t, out.get(ref["uid"], t))
    return out


def diff(previous: Mapping[str, ScopeGraph], current: Graph, failed: set[str] | frozenset[str] = frozenset(),
         read_at: Mapping[str, float] | None = None) -> Changes:
    """Changes of every scope read successfully this cycle; ``read_at``: scope → when its read started
    (scopes given there confirm their nodes, see :func:`diff_scope`)."""
    present: set[str] = set().union(*(sg.nodes.keys() for sg in current.scopes.values()))
    # a scope graph's edges are keyed by Edge.key (resolve, the saved state, follow's splice)
    present_edges: set[tuple[str, str, str]] = set().union(*(sg.edges.keys() for sg in current.scopes.values()))
    out = Changes()
    for scope, sg in current.scopes.items():
        if scope in failed:
            continue
        ch = diff_scope(previous.get(scope), sg, present, present_edges, scope, (read_at or {}).get(scope))
        out.nodes.extend(ch.nodes)
        out.edges.extend(ch.edges)
        out.confirmed.extend(ch.confirmed)
    rollouts = _rollouts([c.node for c in out.nodes if c.action == "created" and c.observed_since is not None]) \
        if any(c.node.kind == "k8s.deployment" for c in out.nodes) else {}
    for i, c in enumerate(out.nodes):
        # a Deployment whose template changed rolled out when its new ReplicaSet was created: the API
        # server's record of that write, like a CloudTrail eventTime (the scanner's clock can lag it)
        uid = c.node.attrs.get("uid")
        if c.action == "updated" and c.node.kind == "k8s.deployment" and isinstance(uid, str) and uid in rollouts:
            out.nodes[i] = NodeChange(c.action, c.node, c.changed, c.observed_since, rollouts[uid], c.confirmed_at)
    return out
