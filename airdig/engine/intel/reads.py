"""Reads that both API surfaces serve (GraphQL and REST call these; neither reimplements them)."""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from airdig.backends.interfaces import ChangeRow, DriftRow, EdgeRow, Store
from airdig.engine.intel import asof
from airdig.engine.intel.graphwalk import walk
from airdig.errors import InvalidInput, NotFound
from airdig.model.events import DRIFT_COVERAGE_SUBJECT, to_rfc3339
from airdig.model.kinds import EDGE_TYPES

STALE_AFTER = 6 * 3600.0  # an edge nobody re-observed for this long is shown as stale
MAX_HOPS = 6
MAX_NEIGHBOR_DEPTH = 3
DRIFT_STATUSES = ("open", "acknowledged", "resolved")


def resolve_id(store: Store, ident: str) -> str:
    """A node id, or the single node a native id names; :class:`NotFound` otherwise."""
    if store.get_node(ident) is not None:
        return ident
    ids = store.resolve_native_id(ident)
    if len(ids) == 1:
        return ids[0]
    if len(ids) > 1:
        raise InvalidInput("id", f"{ident!r} names {len(ids)} nodes; use one of: {', '.join(ids[:5])}")
    raise NotFound("resource", ident)


def check_edge_types(types: Sequence[str] | None) -> list[str] | None:
    if not types:
        return None
    unknown = [t for t in types if t not in EDGE_TYPES]
    if unknown:
        raise InvalidInput("edgeTypes", f"unknown edge type(s) {', '.join(unknown)}; known: {', '.join(EDGE_TYPES)}")
    return list(types)


@dataclass
class Neighborhood:
    nodes: list[asof.NodeAt]
    edges: list[EdgeRow]
    truncated: bool


def neighbors(store: Store, node_id: str, depth: int, edge_types: Sequence[str] | None, first: int,
              at: float | None = None) -> Neighborhood:
    """Nodes within ``depth`` hops in either direction (at most ``first``), and the edges among them;
    with ``at``, the nodes and edges that existed then, each node as of then."""
    if at is not None:
        return _neighbors_at(store, node_id, depth, edge_types, first, at)
    if not 1 <= depth <= MAX_NEIGHBOR_DEPTH:
        raise InvalidInput("depth", f"must be between 1 and {MAX_NEIGHBOR_DEPTH}, got {depth}")
    root = resolve_id(store, node_id)
    types = check_edge_types(edge_types)
    seen = [root]
    seen_set = {root}
    edges: dict[tuple[str, str, str], EdgeRow] = {}
    frontier = [root]
    truncated = False
    for _ in range(depth):
        nxt: list[str] = []
        for e in store.edges(frontier, "both", types):
            if e.deleted_at is not None:
                continue
            edges[(e.src, e.type, e.dst)] = e
            for other in (e.src, e.dst):
                if other not in seen_set:
                    if len(seen) >= first:
                        truncated = True
                        continue
                    seen_set.add(other)
                    seen.append(other)
                    nxt.append(other)
        frontier = nxt
        if not frontier:
            break
    found = store.get_nodes(seen)
    kept = [e for e in edges.values() if e.src in seen_set and e.dst in seen_set]
    return Neighborhood(nodes=[asof.NodeAt(found[i], None) for i in seen if i in found], edges=kept,
                        truncated=truncated)


def _neighbors_at(store: Store, node_id: str, depth: int, edge_types: Sequence[str] | None, first: int,
                  at: float) -> Neighborhood:
    from airdig.engine.intel import neighborhood

    if not 1 <= depth <= MAX_NEIGHBOR_DEPTH:
        raise InvalidInput("depth", f"must be between 1 and {MAX_NEIGHBOR_DEPTH}, got {depth}")
    root = resolve_id(store, node_id)
    types = check_edge_types(edge_types)
    ids, links, _ = neighborhood.walk(store, root, depth, types, at)
    briefs = asof.nodes_at(store, ids, at, brief=True)
    if root not in briefs:
        raise NotFound("resource", f"{node_id} (at that time)")
    kept_ids = [i for i in ids if i in briefs]
    page = kept_ids[:first]
    keep = set(page)
    found = asof.nodes_at(store, page, at)
    met = {lk for lk in links if lk[0] in keep and lk[1] in keep}
    edges = [e for e in store.edges(page, "out", types) if (e.src, e.dst, e.type) in met]
    return Neighborhood(nodes=[found[i] for i in page if i in found], truncated=len(kept_ids) > first, edges=edges)


@dataclass
class ImpactResult:
    root: str
    reached: list[tuple[str, int, list[str]]]
    nodes: dict[str, asof.NodeAt]
    truncated: bool
    at: float | None = None


def impact(store: Store, node_id: str, hops: int = 3, with_resources: bool = True,
           at: float | None = None) -> ImpactResult:
    """The blast radius; ``with_resources`` also loads every reached node (one query per 500). As of a
    past ``at``: over the edges that existed then, each reached node as it was then (a node that did not
    exist then is left out, and so is a root that did not: NOT_FOUND)."""
    if not 1 <= hops <= MAX_HOPS:
        raise InvalidInput("hops", f"must be between 1 and {MAX_HOPS}, got {hops}")
    root = resolve_id(store, node_id)
    if at is not None and root not in asof.nodes_at(store, [root], at, brief=True):
        raise NotFound("resource", f"{node_id} (at that time)")
    w = walk(store, root, hops, mode="effects", at=at)
    reached = [(r.id, r.distance, list(r.path)) for r in w.reached]
    ids = [r[0] for r in reached]
    nodes: dict[str, asof.NodeAt] = {}
    if at is None:
        if with_resources:
            nodes = {i: asof.NodeAt(n, None) for i, n in store.get_nodes(ids).items()}
    else:
        nodes = asof.nodes_at(store, ids, at, brief=not with_resources)
        reached = [r for r in reached if r[0] in nodes]
        if not with_resources:
            nodes = {}
    return ImpactResult(root, reached, nodes, w.truncated, at)


def timeline(store: Store, node_id: str | None, since: float | None, until: float | None, first: int,
             hops: int = 0) -> list[ChangeRow]:
    """Changes on a node (and, with ``hops``, on the nodes around it), newest first; all nodes without id."""
    if node_id is None:
        return store.changes(None, since, until, first)
    root = resolve_id(store, node_id)
    if hops <= 0:
        return store.changes(root, since, until, first)
    if hops > MAX_NEIGHBOR_DEPTH:
        raise InvalidInput("hops", f"must be between 0 and {MAX_NEIGHBOR_DEPTH}, got {hops}")
    ids = [n.node.id for n in neighbors(store, root, hops, None, 500).nodes] or [root]
    return store.changes_of(ids, since, until, limit=first)


def encode_drift_cursor(d: DriftRow) -> str:
    return base64.urlsafe_b64encode(f"{d.detected_at!r}|{d.id}".encode()).decode().rstrip("=")


def decode_drift_cursor(cursor: str | None) -> tuple[float, str] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, drift_id = raw.partition("|")
        return float(at), drift_id
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("after", f"not a cursor returned by this API: {cursor!r}") from None


def set_drift_status(store: Store, drift_id: str, status: str, actor: str | None) -> DriftRow:
    if status not in ("acknowledged", "resolved"):
        raise InvalidInput("status", f"{status!r} is not acknowledged or resolved")
    row = store.update_drift_status(drift_id, status, time.time(), actor)
    if row is None:
        raise NotFound("drift event", drift_id)
    return row


def drift_coverage(store: Store) -> dict[str, Any] | None:
    """DeepDrift's coverage matrix as of the newest applied ``airdig.drift.coverage`` (None before any)."""
    rows = store.changes_of([DRIFT_COVERAGE_SUBJECT], None, None, ["drift_coverage"], 1)
    if not rows:
        return None
    return {**rows[0].details, "asOf": to_rfc3339(rows[0].time), "source": rows[0].source}
