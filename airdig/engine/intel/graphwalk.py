"""Breadth-first walks over the stored graph, one SQL query per hop.

Two directions, both derived from the declared edge types (``airdig.model.kinds.EDGE_TYPES``):
*effects* (where does trouble at X go? — impact / blast radius) and *causes* (what could have caused
trouble at X? — the candidates of root cause). Each hop is one query on indexed columns, which keeps a
3-hop impact on a million-edge graph to three round trips, on SQLite and on TiDB alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from airdig.backends.interfaces import HopRow, Store
from airdig.model.kinds import EDGE_TYPES, Propagation

MAX_FRONTIER = 5000  # nodes expanded per hop; beyond it the walk says it was truncated


@dataclass(frozen=True)
class Reached:
    id: str
    distance: int
    path: tuple[str, ...]  # from the root to this node, both included
    weight: float  # product of the edge weights along the path
    edge_types: tuple[str, ...]


@dataclass(frozen=True)
class Walk:
    root: str
    reached: list[Reached]
    truncated: bool


def _split(types: Sequence[str] | None) -> tuple[list[str], list[str]]:
    chosen = [EDGE_TYPES[t] for t in (types or EDGE_TYPES)]
    fwd = [e.name for e in chosen if e.propagation is Propagation.FORWARD]
    bwd = [e.name for e in chosen if e.propagation is Propagation.BACKWARD]
    return fwd, bwd


_POOL = ThreadPoolExecutor(max_workers=3, thread_name_prefix="walk")
PARALLEL_FROM = 300  # a frontier this large is expanded in parallel chunks, each on its own connection


def _hop(store: Store, frontier: list[str], out_types: list[str], in_types: list[str]) -> list[HopRow]:
    if len(frontier) < PARALLEL_FROM:
        return store.hop(frontier, out_types, in_types)
    size = -(-len(frontier) // 3)
    chunks = [frontier[i:i + size] for i in range(0, len(frontier), size)]
    rows: list[HopRow] = []
    for part in _POOL.map(lambda c: store.hop(c, out_types, in_types), chunks):
        rows += part
    return rows


def walk(store: Store, root: str, hops: int, mode: str = "effects", types: Sequence[str] | None = None) -> Walk:
    """Nodes within ``hops`` of ``root``, each with its shortest path (the heaviest among equals)."""
    if mode not in ("effects", "causes"):
        raise ValueError(f"unknown walk mode {mode!r}")
    fwd, bwd = _split(types)
    # effects follow src->dst on forward edges and dst->src on backward edges; causes the reverse
    out_types, in_types = (fwd, bwd) if mode == "effects" else (bwd, fwd)
    best: dict[str, Reached] = {root: Reached(root, 0, (root,), 1.0, ())}
    frontier = [root]
    truncated = False
    for distance in range(1, hops + 1):
        if not frontier:
            break
        if len(frontier) > MAX_FRONTIER:
            frontier, truncated = frontier[:MAX_FRONTIER], True
        nxt: dict[str, Reached] = {}
        for h in _hop(store, frontier, out_types, in_types):
            if h.to_id in best:
                continue
            prev = best[h.from_id]
            cand = Reached(h.to_id, distance, (*prev.path, h.to_id), prev.weight * EDGE_TYPES[h.type].weight,
                           (*prev.edge_types, h.type))
            old = nxt.get(h.to_id)
            if old is None or cand.weight > old.weight:
                nxt[h.to_id] = cand
        best.update(nxt)
        frontier = sorted(nxt)
    reached = sorted((r for r in best.values() if r.id != root), key=lambda r: (r.distance, -r.weight, r.id))
    return Walk(root=root, reached=reached, truncated=truncated)
