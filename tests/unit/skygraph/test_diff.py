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


def test_changes_carry_when_the_scope_was_last_seen_and_a_first_scan_is_discovery() -> None:
    from airdig.model.events import parse_time
    from airdig.skygraph.scan import change_events

    first = change_events(diff({}, Graph({"ec2/r": _sg(A, B)})), at=2000.0)
    assert all(e.data.get("discovered") is True and "observed_between" not in e.data
               for e in first if e.type == "airdig.resource.created")
    prev = _sg(A, B)
    prev.observed_at = 1000.0  # as GraphState.load returns it
    a2 = Node(id="a", kind=A.kind, name="db", attrs={**A.attrs, "VpcId": "v2"}, tags=A.tags)
    c = Node(id="c", kind="aws.ec2.instance")
    evs = change_events(diff({"ec2/r": prev}, Graph({"ec2/r": _sg(a2, c)})), at=2000.0)
    by = {(e.type, e.subject): e for e in evs}
    for key in (("airdig.resource.updated", "a"), ("airdig.resource.created", "c"), ("airdig.resource.deleted", "b")):
        assert [parse_time(x) for x in by[key].data["observed_between"]] == [1000.0, 2000.0], key
        assert "discovered" not in by[key].data


def test_a_deployment_rollout_is_timed_by_its_newest_replica_set() -> None:
    from airdig.skygraph.scan import change_events

    dep = Node(id="k8s://c/ns/Deployment/web", kind="k8s.deployment", provider="k8s",
               attrs={"uid": "u-1", "spec": {"template": {"image": "web:1"}}})
    dep2 = Node(id=dep.id, kind=dep.kind, provider="k8s", attrs={"uid": "u-1", "spec": {"template": {"image": "web:2"}}})
    rs = Node(id="k8s://c/ns/ReplicaSet/web-2", kind="k8s.replicaset", provider="k8s",
              attrs={"uid": "r-2", "creationTimestamp": "2026-01-01T00:10:00Z",
                     "ownerReferences": [{"kind": "Deployment", "uid": "u-1"}]})
    prev = {"k8s.deployment/c": _sg(dep), "k8s.replicaset/c": _sg()}
    for sg in prev.values():
        sg.observed_at = 1767225600.0  # 2026-01-01T00:00:00Z
    cur = Graph({"k8s.deployment/c": _sg(dep2), "k8s.replicaset/c": _sg(rs)})
    evs = {e.subject: e for e in change_events(diff(prev, cur), at=1767226200.0 + 300)}
    assert evs[dep.id].data["changed_at"] == "2026-01-01T00:10:00.000000Z"
    assert evs[rs.id].data["changed_at"] == "2026-01-01T00:10:00.000000Z"  # a new object: its creation


def test_a_rollout_is_timed_by_its_new_replica_set_even_before_the_previous_scan_not_by_a_rollback() -> None:
    """The new ReplicaSet's creationTimestamp is the API server's record of the rollout; a scan that
    observed the scope after it (a scanner clock ahead of the server's) does not discard it. A rollback
    scales an older ReplicaSet up and creates none: nothing new, no rollout time."""
    from airdig.skygraph.scan import change_events

    def dep(image: str) -> Node:
        return Node(id="k8s://c/ns/Deployment/web", kind="k8s.deployment", provider="k8s",
                    attrs={"uid": "u-1", "spec": {"template": {"image": image}}})

    def rs(name: str, created: str) -> Node:
        return Node(id=f"k8s://c/ns/ReplicaSet/{name}", kind="k8s.replicaset", provider="k8s",
                    attrs={"uid": name, "creationTimestamp": created,
                           "ownerReferences": [{"kind": "Deployment", "uid": "u-1"}]})

    old, new = rs("web-1", "2025-12-31T00:00:00Z"), rs("web-2", "2026-01-01T00:10:00Z")
    prev = {"k8s.deployment/c": _sg(dep("web:1")), "k8s.replicaset/c": _sg(old)}
    for sg in prev.values():
        sg.observed_at = 1767226200.0 + 60  # the scanner's clock: a minute after the server's creation time
    evs = {e.subject: e for e in change_events(diff(prev, Graph({"k8s.deployment/c": _sg(dep("web:2")),
                                                                 "k8s.replicaset/c": _sg(old, new)})),
                                               at=1767226200.0 + 300)}
    assert evs[dep("x").id].data["changed_at"] == "2026-01-01T00:10:00.000000Z"
    # rolled back: web-1 (old, existing) takes over again; web-2 stays the newest but is not new
    prev = {"k8s.deployment/c": _sg(dep("web:2")), "k8s.replicaset/c": _sg(old, new)}
    for sg in prev.values():
        sg.observed_at = 1767226200.0 + 600
    evs = {e.subject: e for e in change_events(diff(prev, Graph({"k8s.deployment/c": _sg(dep("web:1")),
                                                                 "k8s.replicaset/c": _sg(old, new)})),
                                               at=1767226200.0 + 900)}
    assert "changed_at" not in evs[dep("x").id].data and evs[dep("x").id].data["observed_between"]


def test_a_read_confirms_changed_nodes_in_their_events_and_unchanged_ones_by_scope() -> None:
    """confirmedAt: created/updated events carry the read's start; the nodes that did not change are
    confirmed by ``airdig.resource.confirmed`` events of their scope (with the scan cadence), deletes never."""
    from airdig.model.events import parse_time
    from airdig.skygraph.scan import change_events

    prev = _sg(A, B, Node(id="d", kind="aws.ec2.instance"))
    prev.observed_at = 1000.0
    a2 = Node(id="a", kind=A.kind, name="db", attrs={**A.attrs, "VpcId": "v2"}, tags=A.tags)
    c = Node(id="c", kind="aws.ec2.instance")
    ch = diff({"ec2/r": prev}, Graph({"ec2/r": _sg(a2, B, c)}), read_at={"ec2/r": 1900.0})
    evs = change_events(ch, at=2000.0)
    by = {(e.type, e.subject): e for e in evs}
    assert parse_time(by[("airdig.resource.updated", "a")].data["confirmed_at"]) == 1900.0
    assert parse_time(by[("airdig.resource.created", "c")].data["confirmed_at"]) == 1900.0
    assert "confirmed_at" not in by[("airdig.resource.deleted", "d")].data
    conf = by[("airdig.resource.confirmed", "scope://ec2/r")]
    assert conf.data["nodes"] == ["b"] and conf.data["scope"] == "ec2/r" and conf.data["interval"] == 900.0
    assert parse_time(conf.data["confirmed_at"]) == 1900.0 and evs[-1] is conf  # applied after the changes
    # without a read time (a scope not read now, or an old caller) nothing is claimed
    assert all("confirmed_at" not in e.data for e in change_events(diff({"ec2/r": prev}, Graph({"ec2/r": _sg(a2)}))))


def test_confirmations_are_chunked() -> None:
    from airdig.model.events import confirm_events

    evs = confirm_events("ec2/r", [f"n{i}" for i in range(2500)], 5.0, "skygraph", chunk=1000)
    assert [len(e.data["nodes"]) for e in evs] == [1000, 1000, 500]
    assert {e.subject for e in evs} == {"scope://ec2/r"} and "interval" not in evs[0].data


def test_a_redescribe_splices_only_the_touched_nodes_and_the_edges_their_section_owns() -> None:
    """follow_targets.splice: the re-described group replaces its old self and the edges the security-group
    section draws (vpc contains it, its rules naming groups); the instance edges another section drew to
    it stay; the diff names only it, and only it is confirmed."""
    from airdig.skygraph.follow_targets import Target, splice
    from airdig.skygraph.graph import Fragment

    vpc, sg, other, inst = "arn:vpc", "arn:sg-1", "arn:sg-2", "arn:i-1"
    old_sg = Node(id=sg, kind="aws.ec2.security-group", attrs={"IpPermissions": []}, native_ids=("sg-1",))
    nodes = [Node(id=vpc, kind="aws.ec2.vpc", native_ids=("vpc-1",)), old_sg,
             Node(id=other, kind="aws.ec2.security-group", native_ids=("sg-2",)),
             Node(id=inst, kind="aws.ec2.instance", native_ids=("i-1",))]
    prev = _sg(*nodes, edges=(Edge(vpc, sg, "contains"), Edge(sg, other, "network"), Edge(sg, inst, "network"),
                              Edge(other, sg, "network")))
    prev.observed_at = 100.0
    frag = Fragment("ec2/r", read_at=200.0)
    frag.add(Node(id=sg, kind="aws.ec2.security-group", attrs={"IpPermissions": [{"FromPort": 22}]},
                  native_ids=("sg-1",)))
    frag.link("vpc-1", "contains", sg)  # drawn again from the answer, by native id
    cur, touched = splice(prev, frag, [Target("SecurityGroups", ("sg-1",))], {"ec2/r": prev})
    assert touched == {sg} and cur.observed_at == 100.0
    # the rule naming sg-2 is gone from the answer: that owned edge goes; the edge the instance section drew
    # (sg -> instance) and the one sg-2's own rule draws to it stay
    assert set(cur.edges) == {(vpc, "contains", sg), (sg, "network", inst), (other, "network", sg)}
    from airdig.skygraph.diff import diff_scope

    ch = diff_scope(prev, cur, scope="ec2/r", read_at=200.0, confirm_only=touched)
    assert [(c.action, c.node.id, c.changed) for c in ch.nodes] == [("updated", sg, ("attrs.IpPermissions",))]
    assert ch.confirmed == []  # the changed one carries confirmed_at itself; the others were not read
    # a group the describe no longer returns is deleted with every edge at it
    gone, touched = splice(prev, Fragment("ec2/r", read_at=300.0), [Target("SecurityGroups", ("sg-1",))],
                           {"ec2/r": prev})
    assert sg not in gone.nodes and not [k for k in gone.edges if sg in (k[0], k[2])] and touched == {sg}
