from __future__ import annotations

from airdig.model.graph import Edge, Node
from airdig.skygraph.diff import changed_paths, diff
from airdig.skygraph.graph import Graph, ScopeGraph


def _sg(*nodes: Node, edges: tuple[Edge, ...] = ()) -> ScopeGraph:
    return ScopeGraph({n.id: n for n in nodes}, {e.key: e for e in edges})


A = Node(id="a", kind="aws.ec2.security-group", name="db", attrs={"IpPermissions": [{"FromPort": 5432}], "VpcId": "v"},
         tags={"env": "prod"})
B = Node(id="b", kind="aws.ec2.instance", attrs={"State": {"Name": "running"}, "Placement": {"AZ": "a"}})


def test_changed_paths_descend_into_objects_and_stop_at_lists() -> None:
    new = Node(id="b", kind="aws.ec2.instance", attrs={"State": {"Name": "stopped"}, "Placement": {"AZ": "a"}},
               tags={"team": "x"})
    assert changed_paths(B, new) == ["attrs.State.Name", "tags.team"]
    a2 = Node(id="a", kind=A.kind, name="db", attrs={"IpPermissions": [{"FromPort": 6432}], "VpcId": "v"}, tags=A.tags)
    assert changed_paths(A, a2) == ["attrs.IpPermissions"]
    assert changed_paths(A, A) == []


def test_created_updated_deleted_and_edges() -> None:
    prev = {"ec2/r": _sg(A, B, edges=(Edge("a", "b", "network"),))}
    a2 = Node(id="a", kind=A.kind, name="db", attrs={**A.attrs, "VpcId": "v2"}, tags=A.tags)
    c = Node(id="c", kind="aws.ec2.instance")
    cur = Graph({"ec2/r": _sg(a2, c, edges=(Edge("a", "c", "network"),))})
    ch = diff(prev, cur)
    assert {(x.action, x.node.id, x.changed) for x in ch.nodes} == {
        ("updated", "a", ("attrs.VpcId",)), ("created", "c", ()), ("deleted", "b", ())}
    assert {(x.action, x.edge.key) for x in ch.edges} == {
        ("observed", ("a", "network", "c")), ("deleted", ("a", "network", "b"))}


def test_a_failed_scope_emits_nothing_and_a_node_moving_scope_is_not_deleted() -> None:
    prev = {"ec2/r": _sg(A), "lambda/r": _sg(B)}
    cur = Graph({"ec2/r": ScopeGraph(), "rds/r": _sg(A)})  # lambda failed; A moved from ec2 to rds
    ch = diff(prev, cur, failed={"lambda/r"})
    assert [(x.action, x.node.id) for x in ch.nodes] == [("created", "a")]
    assert diff(prev, Graph({"lambda/r": ScopeGraph()}), failed={"lambda/r"}).nodes == []
