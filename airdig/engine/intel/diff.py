"""What changed in the graph between two times: nodes and edges that appeared or vanished, and nodes
whose attributes, health or drift changed, with who and when from the change timeline.

Attribute before/after values come from the node as of each end (:mod:`airdig.engine.intel.asof`);
where history cannot reconstruct an end, the changed attribute names recorded on the timeline are
listed without values and the change is marked inexact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from airdig.backends.interfaces import ChangeRow, EdgeRow, NodeRow, Store
from airdig.engine.intel import asof, neighborhood
from airdig.engine.intel.reads import MAX_NEIGHBOR_DEPTH, resolve_id
from airdig.errors import InvalidInput

# the kinds of timeline rows that make a node "changed" in a diff
CHANGE_KINDS = ("updated", "health", "drift", "drift_resolved", "drift_acknowledged", "cloudtrail", "deploy",
                "scaling", "security")
MAX_CHANGES_PER_NODE = 20


@dataclass
class AttributeChange:
    name: str
    before: Any
    after: Any


@dataclass
class NodeChange:
    node: asof.NodeAt  # as of `to`
    attributes: list[AttributeChange]
    exact: bool
    health: tuple[str, str] | None
    drift: tuple[str, str] | None
    changes: list[ChangeRow]  # in the window, newest first

    @property
    def newest(self) -> ChangeRow | None:
        return self.changes[0] if self.changes else None

    @property
    def who(self) -> str | None:
        return next((c.actor for c in self.changes if c.actor), None)


@dataclass
class GraphDiff:
    lo: float
    hi: float
    appeared: list[asof.NodeAt]
    vanished: list[asof.NodeAt]
    changed: list[NodeChange]
    appeared_edges: list[EdgeRow]
    vanished_edges: list[EdgeRow]
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def truncated(self) -> bool:
        return (self.counts["appeared"] > len(self.appeared) or self.counts["vanished"] > len(self.vanished)
                or self.counts["changed"] > len(self.changed)
                or self.counts["appearedEdges"] > len(self.appeared_edges)
                or self.counts["vanishedEdges"] > len(self.vanished_edges))


def graph_diff(store: Store, lo: float, hi: float, scope: str | None = None, depth: int = 2,
               first: int = 100) -> GraphDiff:
    if lo >= hi:
        raise InvalidInput("from", "must be before to")
    if not 1 <= depth <= MAX_NEIGHBOR_DEPTH:
        raise InvalidInput("depth", f"must be between 1 and {MAX_NEIGHBOR_DEPTH}, got {depth}")
    ids: list[str] | None = None
    if scope is not None:
        root = resolve_id(store, scope)
        a, _, _ = neighborhood.walk(store, root, depth, None, lo)
        b, _, _ = neighborhood.walk(store, root, depth, None, hi)
        ids = list(dict.fromkeys(a + b))
    appeared, n_app = store.nodes_appeared(lo, hi, ids, first)
    vanished, n_van = store.nodes_vanished(lo, hi, ids, first)
    e_app, n_eapp = store.edges_between(lo, hi, True, ids, first)
    e_van, n_evan = store.edges_between(lo, hi, False, ids, first)
    changed_ids, n_changed = store.changed_node_ids(lo, hi, CHANGE_KINDS, ids, first * 2)
    # a node created or deleted in the window is listed as appeared / vanished, not as changed
    before = asof.nodes_at(store, changed_ids, lo)
    after = asof.nodes_at(store, changed_ids, hi)
    kept = [i for i in changed_ids if i in before and i in after][:first]
    n_changed -= len([i for i in changed_ids if not (i in before and i in after)])
    timeline = _window_changes(store, kept, lo, hi)
    changed = [_node_change(before[i], after[i], timeline.get(i, [])) for i in kept]
    return GraphDiff(lo=lo, hi=hi, appeared=_at(store, appeared, hi), vanished=_at(store, vanished, lo),
                     changed=changed, appeared_edges=e_app, vanished_edges=e_van,
                     counts={"appeared": n_app, "vanished": n_van, "changed": max(n_changed, len(changed)),
                             "appearedEdges": n_eapp, "vanishedEdges": n_evan})


def _at(store: Store, rows: Sequence[NodeRow], at: float) -> list[asof.NodeAt]:
    found = asof.nodes_at(store, [n.id for n in rows], at)
    return [found[n.id] for n in rows if n.id in found]


def _window_changes(store: Store, ids: Sequence[str], lo: float, hi: float) -> dict[str, list[ChangeRow]]:
    out: dict[str, list[ChangeRow]] = {}
    for c in store.changes_of(ids, lo, hi, CHANGE_KINDS, limit=max(1, len(ids)) * MAX_CHANGES_PER_NODE):
        if c.time > lo:  # (lo, hi]: a change exactly at `from` is part of the state at `from`
            rows = out.setdefault(c.node_id, [])
            if len(rows) < MAX_CHANGES_PER_NODE:
                rows.append(c)
    return out


def _node_change(before: asof.NodeAt, after: asof.NodeAt, changes: list[ChangeRow]) -> NodeChange:
    b, a = before.node, after.node
    exact = before.exact and after.exact
    if exact:
        attrs = attribute_changes(b, a)
    else:  # values unknown at one end: name what the timeline says changed, without values
        names = dict.fromkeys(str(p) for c in changes if c.kind == "updated"
                              for p in (c.details.get("changed") or []))
        attrs = [AttributeChange(n, None, None) for n in names]
    return NodeChange(node=after, attributes=attrs, exact=exact,
                      health=(b.health_status, a.health_status) if b.health_status != a.health_status else None,
                      drift=(b.drift_status, a.drift_status) if b.drift_status != a.drift_status else None,
                      changes=changes)


def attribute_changes(b: NodeRow, a: NodeRow) -> list[AttributeChange]:
    """Differences between two states of a node: name, managedBy, each top-level attr, each tag."""
    out: list[AttributeChange] = []
    if b.name != a.name:
        out.append(AttributeChange("name", b.name, a.name))
    if b.managed_by != a.managed_by:
        out.append(AttributeChange("managedBy", b.managed_by, a.managed_by))
    for k in sorted(set(b.attrs) | set(a.attrs)):
        if b.attrs.get(k) != a.attrs.get(k):
            out.append(AttributeChange(f"attrs.{k}", b.attrs.get(k), a.attrs.get(k)))
    for k in sorted(set(b.tags) | set(a.tags)):
        if b.tags.get(k) != a.tags.get(k):
            out.append(AttributeChange(f"tags.{k}", b.tags.get(k), a.tags.get(k)))
    return out
