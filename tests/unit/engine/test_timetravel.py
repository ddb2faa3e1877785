"""The graph as of a past time and the diff between two times, on SQLite and MariaDB (``store`` fixture).

Every fact is written through the real apply path (events → Applier → store), as the engine does."""

from __future__ import annotations

from typing import Any

import pytest

from airdig.backends.interfaces import Record, Store
from airdig.engine.apply import Applier
from airdig.engine.intel import asof, diff, graphwalk, neighborhood, reads
from airdig.errors import NotFound
from airdig.model.events import CloudEvent, edge_event, resource_event
from airdig.model.graph import Edge, Node

ACCT = "123456789012"
SUBNET = f"arn:aws:ec2:us-east-1:{ACCT}:subnet/subnet-a"
SG = f"arn:aws:ec2:us-east-1:{ACCT}:security-group/sg-web"
INST = [f"arn:aws:ec2:us-east-1:{ACCT}:instance/i-{n}" for n in range(3)]


def rec(ev: CloudEvent, offset: int = 0) -> Record:
    return Record(ev.topic, 0, offset, ev.subject, ev.encode(), ev.time)


def inst(n: int, itype: str = "t3.micro") -> Node:
    return Node(id=INST[n], kind="aws.ec2.instance", provider="aws", account=ACCT, region="us-east-1",
                name=f"web-{n}", attrs={"InstanceType": itype}, tags={"team": "pay"})


def health(node: str, status: str, t: float, previous: str | None = None) -> CloudEvent:
    return CloudEvent(type="airdig.health.changed", source="pulsesight", subject=node, time=t,
                      data={"status": status, "previous": previous,
                            "reasons": [{"rule": "p95", "message": f"{status} at {t}"}]})


def drift(event: str, t: float) -> CloudEvent:
    data: dict[str, Any] = {"id": "d-1", "resource_id": INST[2], "resource_type": "aws_instance", "kind": "changed",
                            "severity": "high", "diffs": [{"path": "instance_type", "expected": "t3.micro",
                                                          "actual": "t3.large"}], "cause": None}
    if event == "detected":
        data["detected_at"] = t
    else:
        data["detected_at"] = 220.0
    return CloudEvent(type=f"airdig.drift.{event}", source="deepdrift", subject=INST[2], time=t, data=data)


def build(store: Store) -> None:
    """t=100 subnet, SG and three instances; 150 i-0 critical; 200 i-0 resized by alice; 220 drift on i-2;
    250 i-0 healthy; 280 drift resolved; 300 i-1 deleted."""
    a = Applier(store)
    evs = [resource_event("created", Node(id=SUBNET, kind="aws.ec2.subnet", provider="aws", account=ACCT,
                                          name="subnet-a"), "skygraph", time=100.0),
           resource_event("created", Node(id=SG, kind="aws.ec2.security-group", provider="aws", account=ACCT,
                                          name="sg-web"), "skygraph", time=100.0)]
    evs += [resource_event("created", inst(n), "skygraph", time=100.0) for n in range(3)]
    evs += [edge_event("observed", Edge(SUBNET, i, "network"), "skygraph", time=100.0) for i in INST]
    evs += [edge_event("observed", Edge(SG, i, "network"), "skygraph", time=100.0) for i in INST]
    a.apply([rec(e, k) for k, e in enumerate(evs)])
    a.apply([rec(health(INST[0], "critical", 150.0, "healthy"))])
    a.apply([rec(resource_event("updated", inst(0, "t3.large"), "skygraph", changed=["InstanceType"], time=200.0,
                                actor="alice"))])
    a.apply([rec(drift("detected", 220.0))])
    a.apply([rec(health(INST[0], "healthy", 250.0, "critical"))])
    a.apply([rec(drift("resolved", 280.0))])
    a.apply([rec(resource_event("deleted", inst(1), "skygraph", time=300.0)),
             rec(edge_event("deleted", Edge(SUBNET, INST[1], "network"), "skygraph", time=300.0), 1),
             rec(edge_event("deleted", Edge(SG, INST[1], "network"), "skygraph", time=300.0), 2)])


def test_a_node_as_of_before_and_after_a_change(store: Store) -> None:
    build(store)
    assert asof.nodes_at(store, [INST[0]], 50.0) == {}  # not there yet
    before = asof.nodes_at(store, [INST[0]], 190.0)[INST[0]]
    assert before.exact and before.node.attrs == {"InstanceType": "t3.micro"}
    assert before.node.health_status == "critical" and before.node.health_reasons[0]["message"] == "critical at 150.0"
    after = asof.nodes_at(store, [INST[0]], 210.0)[INST[0]]
    assert after.node.attrs == {"InstanceType": "t3.large"} and after.node.health_status == "critical"
    assert asof.nodes_at(store, [INST[0]], 260.0)[INST[0]].node.health_status == "healthy"
    assert asof.nodes_at(store, [INST[0]], 120.0)[INST[0]].node.health_status == "unknown"  # no health known then


def test_deletion_and_drift_resolution_as_of(store: Store) -> None:
    build(store)
    assert INST[1] in asof.nodes_at(store, [INST[1]], 299.0)
    assert INST[1] not in asof.nodes_at(store, [INST[1]], 300.0)
    assert INST[1] not in asof.nodes_at(store, [INST[1]], None)
    assert asof.nodes_at(store, [INST[2]], 210.0)[INST[2]].node.drift_status == "unknown"
    mid = asof.nodes_at(store, [INST[2]], 250.0)[INST[2]].node
    assert (mid.drift_status, mid.drift_last_event) == ("drifted", "d-1")
    assert asof.nodes_at(store, [INST[2]], 290.0)[INST[2]].node.drift_status == "in_sync"
    (d,) = store.drift_events_until([INST[2]], 250.0)
    assert asof.drift_at(d, 250.0).status == "open" and asof.drift_at(d, 290.0).status == "resolved"
    # the neighbourhood as of before the deletion still has i-1 and its edge; now it has not
    then = neighborhood.neighborhood(store, SUBNET, at=250.0)
    now = neighborhood.neighborhood(store, SUBNET)
    assert {n.node.id for n in then.nodes} == {SUBNET, *INST}
    assert {n.node.id for n in now.nodes} == {SUBNET, INST[0], INST[2]}
    assert (SUBNET, INST[1], "network", 1) in then.links and all(lk[1] != INST[1] for lk in now.links)


def test_history_without_a_state_snapshot_is_flagged_not_passed_off(store: Store) -> None:
    build(store)
    # an update recorded before snapshots existed: its change row has the changed paths only
    with store.transaction() as tx:
        tx.run("UPDATE changes SET details = ? WHERE node_id = ? AND kind = 'updated'",
               ('{"changed": ["InstanceType"]}', INST[0]))
        tx.run("UPDATE changes SET details = ? WHERE node_id = ? AND kind = 'created'", ("{}", INST[0]))
    old = asof.nodes_at(store, [INST[0]], 190.0)[INST[0]]
    assert not old.exact and old.gaps == ("attrs",)
    d = diff.graph_diff(store, 190.0, 210.0)
    (ch,) = d.changed
    assert not ch.exact and [(a.name, a.before, a.after) for a in ch.attributes] == [("InstanceType", None, None)]


def test_diff_between_two_times(store: Store) -> None:
    build(store)
    d = diff.graph_diff(store, 120.0, 310.0)
    assert [n.node.id for n in d.vanished] == [INST[1]]
    assert d.appeared == [] and {(e.src, e.dst) for e in d.vanished_edges} == {(SUBNET, INST[1]), (SG, INST[1])}
    changed = {c.node.node.id: c for c in d.changed}
    assert set(changed) == {INST[0], INST[2]}
    c0 = changed[INST[0]]
    assert c0.exact and [(a.name, a.before, a.after) for a in c0.attributes] == [
        ("attrs.InstanceType", "t3.micro", "t3.large")]
    assert c0.who == "alice" and c0.health == ("unknown", "healthy")
    assert [c.kind for c in c0.changes] == ["health", "updated", "health"]
    assert changed[INST[2]].drift == ("unknown", "in_sync") and changed[INST[2]].attributes == []
    assert d.counts == {"appeared": 0, "vanished": 1, "changed": 2, "appearedEdges": 0, "vanishedEdges": 2}
    later = diff.graph_diff(store, 50.0, 120.0, scope=SUBNET, depth=1)
    assert {n.node.id for n in later.appeared} == {SUBNET, *INST} and later.changed == []
    assert len(later.appeared_edges) == 3  # scoped to the subnet's neighbourhood: the SG is outside it


def test_health_summary_as_of(store: Store) -> None:
    build(store)
    counts, items = asof.health_summary(store, 200.0, ["critical"], 10)
    assert counts == {"healthy": 0, "warning": 0, "critical": 1, "unknown": 4}
    assert [n.node.id for n in items] == [INST[0]]
    counts, items = asof.health_summary(store, 400.0, ["critical"], 10)
    assert counts["critical"] == 0 and counts["healthy"] == 1 and sum(counts.values()) == 4 and items == []


def test_impact_as_of_follows_the_edges_and_states_of_then(store: Store) -> None:
    build(store)
    now = reads.impact(store, SUBNET, 3)
    assert {i for i, _, _ in now.reached} == {INST[0], INST[2]}
    then = reads.impact(store, SUBNET, 3, at=250.0)  # before i-1 and its edges were deleted
    assert {i for i, _, _ in then.reached} == set(INST)
    assert all(n.at == 250.0 for n in then.nodes.values())
    assert then.nodes[INST[1]].node.deleted_at is None
    # each reached resource as it was then: i-0 resized at 200 and healthy again from 250
    early = reads.impact(store, SUBNET, 3, at=190.0)
    assert early.nodes[INST[0]].node.attrs == {"InstanceType": "t3.micro"}
    assert early.nodes[INST[0]].node.health_status == "critical"
    # without resources: the same reach, the nodes not loaded
    bare = reads.impact(store, SUBNET, 3, with_resources=False, at=250.0)
    assert bare.reached == then.reached and bare.nodes == {}
    with pytest.raises(NotFound, match="at that time"):
        reads.impact(store, SUBNET, 3, at=50.0)


def test_the_walk_as_of_a_time_after_every_write_is_the_walk_of_now(store: Store) -> None:
    """The two walks read different tables (the key index now, the edges' lifetimes as of a time): past
    the last write they must agree on every node, distance, path and weight, in both directions."""
    build(store)
    for root, mode in ((SUBNET, "effects"), (INST[0], "causes"), (SG, "effects"), (INST[2], "causes")):
        assert graphwalk.walk(store, root, 3, mode, at=1e12) == graphwalk.walk(store, root, 3, mode)
