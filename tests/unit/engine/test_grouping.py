"""Summarised neighbourhoods: the pure grouping rules, then 5,000 neighbours through the real apply path
on SQLite and MariaDB (``store`` fixture)."""

from __future__ import annotations

from airdig.backends.interfaces import Record, Store
from airdig.engine.apply import Applier
from airdig.engine.intel import grouping, neighborhood
from airdig.model.events import CloudEvent, edge_event, resource_event
from airdig.model.graph import Edge, Node

ACCT = "123456789012"
SG = f"arn:aws:ec2:us-east-1:{ACCT}:security-group/sg-fleet"
SUBNETS = [f"arn:aws:ec2:us-east-1:{ACCT}:subnet/subnet-{k}" for k in range(5)]
N = 5000


def inst_id(n: int) -> str:
    return f"arn:aws:ec2:us-east-1:{ACCT}:instance/i-{n:05d}"


# ------------------------------------------------------------------ pure rules


def test_small_neighbourhoods_are_not_grouped() -> None:
    s = grouping.summarise("c", ["c", "a", "b"], {"a": "x", "b": "y"}, {}, [("c", "a", "t"), ("c", "b", "t")], 10,
                           ["kind"])
    assert s.nodes == ["c", "a", "b"] and s.groups == [] and s.links == [("c", "a", "t", 1), ("c", "b", "t", 1)]


def test_budget_is_kept_and_small_kinds_open() -> None:
    members = [f"i{n}" for n in range(100)] + ["db1", "db2"]
    kinds = {**{m: "inst" for m in members if m.startswith("i")}, "db1": "db", "db2": "db"}
    keys = {m: {"subnet": f"s{int(m[1:]) % 3}"} for m in members if m.startswith("i")}
    edges = [("c", m, "network") for m in members] + [("i1", "db1", "depends_on"), ("i4", "db1", "depends_on")]
    s = grouping.summarise("c", ["c", *members], kinds, keys, edges, 10, ["kind", "subnet"])
    assert len(s.nodes) + len(s.groups) <= 10
    assert s.nodes[0] == "c" and {"db1", "db2"} <= set(s.nodes)
    assert sorted((g.by, g.value, len(g.members)) for g in s.groups) == [
        ("subnet", "s0", 34), ("subnet", "s1", 33), ("subnet", "s2", 33)]
    # edges to grouped members are aggregated per visible pair and type
    g1 = next(g.id for g in s.groups if g.value == "s1")
    assert ("c", g1, "network", 33) in s.links and (g1, "db1", "depends_on", 2) in s.links


def test_expand_opens_in_place_and_makes_progress() -> None:
    members = [f"m{n:03d}" for n in range(300)]
    kinds = dict.fromkeys(members, "pod")
    keys = {m: {"namespace": "shop" if n < 200 else "pay"} for n, m in enumerate(members)}
    base = grouping.summarise("c", ["c", *members], kinds, keys, [], 20, ["kind", "namespace"])
    shop = grouping.group_id("namespace", "shop", "pod")
    assert {g.id for g in base.groups} == {shop, grouping.group_id("namespace", "pay", "pod")}
    # no key splits "shop" further: as many members as fit are shown, most troubled first, rest keep the id
    prio = {"m150": 0}
    opened = grouping.summarise("c", ["c", *members], kinds, keys, [], 20, ["kind", "namespace"], [shop], prio)
    assert len(opened.nodes) + len(opened.groups) == 20
    rest = next(g for g in opened.groups if g.id == shop)
    assert "m150" in opened.nodes and len(rest.members) == 200 - (len(opened.nodes) - 1)
    assert set(rest.members).isdisjoint(opened.nodes)


def test_kinds_beyond_the_budget_share_one_group() -> None:
    members = [f"n{k}" for k in range(40)]
    s = grouping.summarise(None, members, {m: f"kind{m}" for m in members}, {}, [], 10, ["kind"])
    # 40 single-member kinds cannot all show: 10 items, the last holding the other kinds
    assert len(s.nodes) + len(s.groups) <= 10
    other = [g for g in s.groups if g.by == grouping.OTHER]
    assert len(other) == 1 and len(other[0].members) + len(s.nodes) == 40


def test_worst_health_order() -> None:
    assert grouping.worst_health(["healthy", "unknown"]) == "healthy"
    assert grouping.worst_health(["healthy", "warning", "critical"]) == "critical"
    assert grouping.worst_health(["unknown"]) == "unknown" and grouping.worst_health([]) == "unknown"


# ------------------------------------------------------------------ 5,000 neighbours in a store


def rec(ev: CloudEvent, offset: int) -> Record:
    return Record(ev.topic, 0, offset, ev.subject, ev.encode(), ev.time)


def populate(store: Store) -> None:
    """A security group with 5,000 instances spread over 5 subnets; instance 7 critical, 13 and 14
    warning (subnets 3 and 4), every 100th drifted."""
    store.migrate()
    evs: list[CloudEvent] = [resource_event("created", Node(id=SG, kind="aws.ec2.security-group", provider="aws",
                                                            account=ACCT, name="sg-fleet"), "t", time=1.0)]
    evs += [resource_event("created", Node(id=s, kind="aws.ec2.subnet", provider="aws", account=ACCT,
                                           name=f"subnet-{k}"), "t", time=1.0) for k, s in enumerate(SUBNETS)]
    for n in range(N):
        evs.append(resource_event("created", Node(id=inst_id(n), kind="aws.ec2.instance", provider="aws", account=ACCT,
                                                  name=f"web-{n}"), "t", time=2.0))
        evs.append(edge_event("observed", Edge(SG, inst_id(n), "network"), "t", time=2.0))
        evs.append(edge_event("observed", Edge(SUBNETS[n % 5], inst_id(n), "network"), "t", time=2.0))
    for n, status in ((7, "critical"), (13, "warning"), (14, "warning")):
        evs.append(CloudEvent(type="airdig.health.changed", source="t", subject=inst_id(n), time=3.0,
                              data={"status": status, "reasons": []}))
    for n in range(0, N, 100):
        evs.append(CloudEvent(type="airdig.drift.detected", source="t", subject=inst_id(n), time=3.0, data={
            "id": f"d{n}", "resource_id": inst_id(n), "kind": "changed", "severity": "low", "diffs": []}))
    a = Applier(store)
    for i in range(0, len(evs), 2000):
        a.apply([rec(e, i + k) for k, e in enumerate(evs[i:i + 2000])])


def test_5000_neighbours_group_within_budget_and_expand_in_place(store: Store) -> None:
    populate(store)
    s = neighborhood.neighborhood(store, SG, budget=60)
    assert s.total == N + 1 and not s.truncated
    assert len(s.nodes) + len(s.groups) <= 60 and s.nodes[0].node.id == SG
    by_subnet = {g.value: g for g in s.groups}
    assert set(by_subnet) == set(SUBNETS)  # "1000 aws.ec2.instance in subnet-k"
    assert sum(len(g.members) for g in s.groups) == N
    for k, sub in enumerate(SUBNETS):
        g = by_subnet[sub]
        assert len(g.members) == N // 5 and g.label == f"{N // 5} aws.ec2.instance in subnet-{k}"
        assert g.drifted == len([n for n in range(0, N, 100) if n % 5 == k])
    assert by_subnet[SUBNETS[2]].worst_health == "critical"  # instance 7
    assert by_subnet[SUBNETS[3]].worst_health == "warning" and by_subnet[SUBNETS[3]].health["warning"] == 1
    assert by_subnet[SUBNETS[0]].worst_health == "unknown"
    assert sorted(s.links) == sorted((SG, g.id, "network", N // 5) for g in s.groups)

    # expanding a group of 1,000 in place shows what fits, the troubled first; the rest keep the id
    gid = grouping.group_id("subnet", SUBNETS[2], "aws.ec2.instance")
    s = neighborhood.neighborhood(store, SG, budget=60, expand=[gid])
    assert len(s.nodes) + len(s.groups) == 60
    shown = [n.node.id for n in s.nodes[1:]]
    assert inst_id(7) in shown  # the critical one comes first
    rest = next(g for g in s.groups if g.id == gid)
    assert len(rest.members) + len(shown) == N // 5 and set(rest.members).isdisjoint(shown)
    assert rest.worst_health == "unknown"  # the critical member is out of the group now
    assert neighborhood.group_members(rest.members, 10, rest.members[9]) == rest.members[10:20]


# ------------------------------------------------------------------ the service map, grouped


def test_service_map_groups_by_namespace_above_the_budget(store: Store) -> None:
    store.migrate()
    evs: list[CloudEvent] = []
    db = "service://data/orders-db"
    for ns in ("shop", "pay", "ads"):
        for i in range(10):
            svc = f"service://{ns}/svc-{i}"
            evs.append(CloudEvent(type="airdig.trace.edge", source="tracecore", subject=svc, time=1000.0, data={
                "src": svc, "dst": db, "type": "calls", "window_start": 960.0, "window_seconds": 60,
                "stats": {"request_count": 100, "error_count": 5 if ns == "pay" else 0, "p50": 10.0,
                          "p95": 20.0 + i, "p99": 40.0}}))
    Applier(store).apply([rec(e, k) for k, e in enumerate(evs)])
    plain, _ = neighborhood.service_map(store, 900.0, 1100.0, None)
    assert not plain.grouped and len(plain.nodes) == 31 and len(plain.edges) == 30
    gm, _ = neighborhood.service_map(store, 900.0, 1100.0, 10)
    assert gm.grouped and len(gm.nodes) + len(gm.groups) <= 10
    assert db in gm.nodes  # a namespace of one opens
    pay = next(g for g in gm.groups if g.value == "pay")
    assert pay.id == grouping.group_id("namespace", "pay", "service") and len(pay.members) == 10
    edge = next(e for e in gm.edges if e.src == pay.id)
    assert (edge.dst, edge.request_count, edge.error_count, edge.p95) == (db, 1000, 50, 29.0)
    opened, _ = neighborhood.service_map(store, 900.0, 1100.0, 20, [pay.id])
    assert {f"service://pay/svc-{i}" for i in range(10)} <= set(opened.nodes)
    assert len(opened.nodes) + len(opened.groups) <= 20
