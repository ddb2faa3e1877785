"""Blast radius: breadth-first over the graph from a resource, following how failure propagates.

An edge ``src -[type]-> dst`` carries trouble in the direction declared in
``airdig.model.kinds.EDGE_TYPES`` (forward: src to dst; backward: dst to src; none: not at all). The
graph comes from ``skygraph scan --output`` JSON; a resource may be named by node id, native id or name.

    graph = Graph.load("scan.json")
    for hit in graph.impact("sg-0abc", hops=3): print(hit["distance"], hit["id"])
"""

from __future__ import annotations

from collections import defaultdict, deque
from typing import Any

import orjson

from airdig.errors import InvalidInput, NotFound
from airdig.model.graph import Edge, Node
from airdig.model.kinds import EDGE_TYPES, Propagation


class Graph:
    def __init__(self, nodes: list[Node], edges: list[Edge]) -> None:
        self.nodes = {n.id: n for n in nodes}
        self.next: dict[str, list[tuple[str, str, float]]] = defaultdict(list)
        for e in edges:
            et = EDGE_TYPES[e.type]
            if et.propagation is Propagation.FORWARD:
                self.next[e.src].append((e.dst, e.type, et.weight))
            elif et.propagation is Propagation.BACKWARD:
                self.next[e.dst].append((e.src, e.type, et.weight))
        self.aliases: dict[str, str] = {}
        for n in nodes:
            for alias in (*n.native_ids, n.name, n.id.rsplit("/", 1)[-1]):
                if alias:
                    self.aliases.setdefault(alias, n.id)

    @classmethod
    def from_json(cls, doc: Any, source: str) -> Graph:
        if not isinstance(doc, dict) or not isinstance(doc.get("nodes"), list) or not isinstance(
                doc.get("edges"), list):
            raise InvalidInput(source, 'expected {"nodes": [...], "edges": [...]} (skygraph scan --output)')
        nodes = [Node.from_dict(n, f"{source}: nodes[{i}]") for i, n in enumerate(doc["nodes"])]
        edges = [Edge.from_dict(e, f"{source}: edges[{i}]") for i, e in enumerate(doc["edges"])]
        return cls(nodes, edges)

    @classmethod
    def load(cls, path: str) -> Graph:
        try:
            with open(path, "rb") as fh:
                doc = orjson.loads(fh.read())
        except OSError as exc:
            raise InvalidInput(path, f"cannot read the graph file: {exc.strerror or exc}") from None
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(path, f"the graph file is not JSON: {exc}") from None
        return cls.from_json(doc, path)

    def resolve(self, ref: str) -> str:
        if ref in self.nodes:
            return ref
        if ref in self.aliases:
            return self.aliases[ref]
        raise NotFound("resource", ref)

    def impact(self, ref: str, hops: int = 3) -> list[dict[str, Any]]:
        """Affected nodes (the start excluded) with distance, path of ids and score (product of weights)."""
        start = self.resolve(ref)
        seen = {start}
        queue: deque[tuple[str, list[str], float]] = deque([(start, [start], 1.0)])
        out: list[dict[str, Any]] = []
        while queue:
            node, path, score = queue.popleft()
            if len(path) - 1 >= hops:
                continue
            for nxt, etype, weight in self.next.get(node, ()):
                if nxt in seen:
                    continue
                seen.add(nxt)
                npath = [*path, nxt]
                n = self.nodes.get(nxt)
                out.append({"id": nxt, "kind": n.kind if n else "", "name": n.name if n else "",
                            "distance": len(npath) - 1, "path": npath, "via": etype,
                            "score": round(score * weight, 4)})
                queue.append((nxt, npath, score * weight))
        return out

    def radius(self, ref: str, hops: int = 3) -> int:
        """How many nodes trouble at ``ref`` reaches; 0 when the graph does not know ``ref``."""
        try:
            return len(self.impact(ref, hops))
        except NotFound:
            return 0


def impact_from_engine(engine_url: str, ref: str, hops: int, token: str | None = None,
                       ca_file: str | None = None) -> list[dict[str, Any]]:
    """Ask a running engine: ``GET {engine}/api/v1/impact/{id}?hops=N`` answering ``{"nodes": [...]}``;
    an https engine is verified against ``ca_file`` or the system CAs."""
    import httpx

    from airdig.edge.tls import client_context

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"{engine_url.rstrip('/')}/api/v1/impact/{ref}"
    try:
        resp = httpx.get(url, params={"hops": hops}, headers=headers, timeout=30.0, verify=client_context(ca_file))
    except httpx.HTTPError as exc:
        raise InvalidInput(engine_url, f"cannot reach the engine: {exc}") from None
    if resp.status_code == 404:
        raise NotFound("resource", ref)
    if resp.status_code != 200:
        raise InvalidInput(url, f"the engine answered {resp.status_code}: {resp.text[:200]}")
    body = resp.json()
    nodes = body.get("nodes") if isinstance(body, dict) else None
    if not isinstance(nodes, list):
        raise InvalidInput(url, 'expected {"nodes": [...]} from the engine')
    return nodes
