"""Breadth-first walks over the stored graph, one SQL query per hop.

Two directions, both derived from the declared edge types (``airdig.model.kinds.EDGE_TYPES``):
*effects* (where does trouble at X go? — impact / blast radius) and *causes* (what could have caused
trouble at X? — the candidates of root cause). Each hop is one query on indexed columns, which keeps a
3-hop impact on a million-edge graph to three round trips, on SQLite and on TiDB alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from airdig.backends.interfaces import Store
from airdig.model.ids import node_key
from airdig.model.kinds import EDGE_TYPES, Propagation

MAX_FRONTIER = 5000  # nodes expanded per hop; beyond it the walk says it was truncated

_K = TypeVar("_K", int, str)  # what the walk runs on: 8-byte node keys (now) or node ids (as of a time)


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


def walk(store: Store, root: str, hops: int, mode: str = "effects", types: Sequence[str] | None = None,
         at: float | None = None) -> Walk:
    """Nodes within ``hops`` of ``root``, each with its shortest path (the heaviest among equals).

    Now (``at`` None), the walk runs on 8-byte node keys (one index-only query per hop); ids are looked
    up once, at the end, for the nodes reached. As of a past ``at`` it follows the edges that existed
    then (the ``edges`` table's first_seen/deleted_at, two queries per hop): the walk index holds only
    the edges alive now."""
    if mode not in ("effects", "causes"):
        raise ValueError(f"unknown walk mode {mode!r}")
    fwd, bwd = _split(types)
    # effects follow src->dst on forward edges and dst->src on backward edges; causes the reverse
    out_types, in_types = (fwd, bwd) if mode == "effects" else (bwd, fwd)
    if at is None:
        root_key = node_key(root)
        best, truncated = _bfs(root_key, hops, lambda frontier: store.hop_keys(frontier, out_types, in_types))
        ids = store.node_ids_for_keys([k for k in best if k != root_key])
        ids[root_key] = root
        return _walk_of(root, root_key, best, ids, truncated)

    def hop_at(frontier: list[str]) -> list[tuple[str, str, str]]:
        out = [(s, d, t) for s, d, t in store.edge_links(frontier, "out", out_types, at)] if out_types else []
        if in_types:
            out += [(d, s, t) for s, d, t in store.edge_links(frontier, "in", in_types, at)]
        return out

    best_at, truncated = _bfs(root, hops, hop_at)
    return _walk_of(root, root, best_at, {k: k for k in best_at}, truncated)


def _bfs(root: _K, hops: int, hop: Callable[[list[_K]], Iterable[tuple[_K, _K, str]]],
         ) -> tuple[dict[_K, tuple[int, _K | None, float, str]], bool]:
    """Breadth-first from ``root``: node -> (distance, parent, path weight, edge type from the parent).
    ``hop(frontier)`` answers ``(from, to, type)`` for the edges to follow out of the frontier."""
    best: dict[_K, tuple[int, _K | None, float, str]] = {root: (0, None, 1.0, "")}
    frontier = [root]
    truncated = False
    for distance in range(1, hops + 1):
        if not frontier:
            break
        if len(frontier) > MAX_FRONTIER:
            frontier, truncated = frontier[:MAX_FRONTIER], True
        nxt: dict[_K, tuple[int, _K | None, float, str]] = {}
        for frm, to, typ in hop(frontier):
            if to in best:
                continue
            weight = best[frm][2] * EDGE_TYPES[typ].weight
            old = nxt.get(to)
            if old is None or weight > old[2]:
                nxt[to] = (distance, frm, weight, typ)
        best.update(nxt)
        frontier = sorted(nxt)
    return best, truncated


def _walk_of(root: str, root_token: _K, best: dict[_K, tuple[int, _K | None, float, str]], ids: dict[_K, str],
             truncated: bool) -> Walk:
    def path(k: _K) -> tuple[tuple[str, ...], tuple[str, ...]]:
        nodes: list[str] = []
        types_: list[str] = []
        cur: _K | None = k
        while cur is not None:
            _, parent, _, typ = best[cur]
            nodes.append(ids.get(cur, f"key:{cur}"))
            if parent is not None:
                types_.append(typ)
            cur = parent
        return tuple(reversed(nodes)), tuple(reversed(types_))

    reached = []
    for k, (d, _parent, weight, _typ) in best.items():
        if k == root_token or k not in ids:  # a key with no id is an edge written before its node key: skip
            continue
        nodes, types_ = path(k)
        reached.append(Reached(ids[k], d, nodes, weight, types_))
    reached.sort(key=lambda r: (r.distance, -r.weight, r.id))
    return Walk(root=root, reached=reached, truncated=truncated)
