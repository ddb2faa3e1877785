"""The graph one scan builds: fragments per scope, then references resolved to node ids.

A transform cannot always name the node at the other end of an edge: an instance names its subnet
``subnet-0abc``, an EKS node group names its Auto Scaling group by name, a Kubernetes node names its EC2
instance in ``spec.providerID``. Transforms therefore emit edges whose ends are *references* (a node id
or any native id); :func:`resolve` maps them through the native-id index of every node known (this
scan's and, for scopes not scanned now, the previous scan's) and drops what names nothing known.

    frag = Fragment(scope="ec2/us-east-1")
    frag.add(node); frag.link(vpc_arn, "contains", "subnet-0abc")
    graph = resolve([frag], known={})
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from airdig.model.graph import Edge, Node, make_edge
from airdig.model.redact import redact_node_parts


@dataclass
class Fragment:
    """What one scope (``service/region``, ``k8s.pod/<cluster>``, ``terraform/<file>``) produced."""

    scope: str
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    # when the read that produced it started (epoch s): the cloud confirmed every node at least then
    read_at: float | None = None

    def add(self, node: Node) -> Node:
        """Add a node with its secrets already hidden (:mod:`airdig.model.redact`).

        Every transform (AWS, Kubernetes, Terraform) adds its nodes here, so nothing a scan saves,
        publishes or writes to ``--output`` holds a Lambda environment secret, a container ``env``
        password, credentials in user data, a tag or a description.
        """
        name, attrs, tags = redact_node_parts(node.name, node.attrs, node.tags)
        if name is not node.name or attrs is not node.attrs or tags is not node.tags:  # all copy on write
            node = replace(node, name=name, attrs=attrs, tags=tags)
        self.nodes.append(node)
        return node

    def link(self, src: str | None, type_: str, dst: str | None) -> None:
        """Add ``src -[type]-> dst`` when both references are present (APIs often omit optional links)."""
        if src and dst and src != dst:
            self.edges.append(make_edge(src, dst, type_))

    def extend(self, other: Fragment) -> None:
        self.nodes.extend(other.nodes)
        self.edges.extend(other.edges)


@dataclass
class ScopeGraph:
    """The resolved nodes and edges of one scope: the unit the diff and the saved state work on."""

    nodes: dict[str, Node] = field(default_factory=dict)
    edges: dict[tuple[str, str, str], Edge] = field(default_factory=dict)  # keyed by Edge.key
    observed_at: float | None = field(default=None, compare=False)  # when it was read (saved graphs only)


@dataclass
class Graph:
    """A resolved scan: per-scope graphs plus the edges dropped because an end named nothing known."""

    scopes: dict[str, ScopeGraph] = field(default_factory=dict)
    unresolved: int = 0

    def nodes(self) -> Iterable[Node]:
        for sg in self.scopes.values():
            yield from sg.nodes.values()

    def edges(self) -> Iterable[Edge]:
        for sg in self.scopes.values():
            yield from sg.edges.values()

    def to_json(self) -> dict[str, Any]:
        """The ``skygraph scan --output`` contract; edges whose ends are both in this graph."""
        nodes: dict[str, Node] = {}
        for n in self.nodes():
            nodes.setdefault(n.id, n)
        edges = sorted({e.key for e in self.edges() if e.src in nodes and e.dst in nodes})
        return {
            "nodes": [
                {"id": n.id, "kind": n.kind, "provider": n.provider, "account": n.account, "region": n.region,
                 "name": n.name, "attrs": n.attrs, "tags": n.tags}
                for n in sorted(nodes.values(), key=lambda n: n.id)
            ],
            "edges": [{"src": s, "dst": d, "type": t} for s, t, d in edges],
        }


class NativeIndex:
    """Native id (``i-0abc``, a DNS name, a queue URL, a name) → node id; ambiguous ids resolve to nothing.

    One dict answers both questions: a node id maps to itself (a node id wins over another node's native
    id of the same text), a native id to its node, or to None once two nodes claim it. ``resolve`` is
    that dict's own ``get`` (one C call per edge end).
    """

    def __init__(self) -> None:
        self._map: dict[str, str | None] = {}
        self.resolve: Callable[[str], str | None] = self._map.get

    def add(self, node_id: str, natives: Iterable[str]) -> None:
        m = self._map
        m[node_id] = node_id
        claim = node_id or None  # an empty node id names nothing through its natives (as it never did)
        for n in natives:
            if not n or n == node_id:
                continue
            prev = m.setdefault(n, claim)
            # taken by another node: ambiguous (unless it is a node id, or already ambiguous)
            if prev is not claim and prev is not None and prev != node_id and prev != n:
                m[n] = None


def resolve(fragments: Iterable[Fragment], known: Mapping[str, Iterable[Node]] | None = None) -> Graph:
    """Group fragments by scope and turn edge references into node ids.

    ``known`` holds nodes of scopes not scanned now (the previous scan's), so a Kubernetes node can still
    point at an EC2 instance when this run skipped AWS.
    """
    frags = list(fragments)
    index = NativeIndex()
    add = index.add
    for frag in frags:
        for n in frag.nodes:
            add(n.id, n.native_ids)
    for nodes in (known or {}).values():
        for n in nodes:
            add(n.id, n.native_ids)
    graph = Graph()
    get = index.resolve
    unresolved = 0
    for frag in frags:
        sg = graph.scopes.setdefault(frag.scope, ScopeGraph())
        scope_nodes = sg.nodes
        for n in frag.nodes:
            scope_nodes[n.id] = n
        edges = sg.edges
        for e in frag.edges:
            src, dst = get(e.src), get(e.dst)
            if src is None or dst is None or src == dst:
                unresolved += 1
                continue
            if src == e.src and dst == e.dst:
                edges[(src, e.type, dst)] = e
            else:
                edges[(src, e.type, dst)] = make_edge(src, dst, e.type, e.attrs)
    graph.unresolved = unresolved
    return graph
