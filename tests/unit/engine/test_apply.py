"""The apply path on its own: native references from traces, drift status, idempotence per event type;
on SQLite, MariaDB (plaintext and TLS) and TiDB."""

from __future__ import annotations

from airdig.backends.interfaces import Record, Store
from airdig.engine.apply import Applier
from airdig.model.events import CloudEvent, resource_event
from airdig.model.graph import Node
from tests.conftest import ON_TIDB_TOO

pytestmark = ON_TIDB_TOO

I1 = "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc"
SVC = "service://shop/checkout"


def rec(ev: CloudEvent, offset: int = 0) -> Record:
    return Record(ev.topic, 0, offset, ev.subject, ev.encode(), ev.time)


def runs_on(dst: str, t: float) -> CloudEvent:
    return CloudEvent(type="airdig.trace.edge", source="tracecore", subject=SVC, time=t,
                      data={"src": SVC, "dst": dst, "type": "runs_on"})


def edges(store: Store) -> set[tuple[str, str, str]]:
    return {(e.src, e.type, e.dst) for e in store.edges([SVC], "out")}


def test_native_refs_resolve_now_or_when_the_node_arrives(store: Store) -> None:
    a = Applier(store)
    # the trace names a host before any scan saw it: the edge waits on the native id ...
    a.apply([rec(runs_on("native://i-0abc", 10.0))])
    assert edges(store) == {(SVC, "runs_on", "native://i-0abc")}
    # ... and moves to the instance once SkyGraph reports it
    inst = Node(id=I1, kind="aws.ec2.instance", name="web", native_ids=("i-0abc",))
    a.apply([rec(resource_event("created", inst, "skygraph", time=20.0))])
    assert edges(store) == {(SVC, "runs_on", I1)}
    # later trace edges resolve at once, including a 12-character container id
    pod = Node(id="k8s://prod/shop/pod/checkout-1", kind="k8s.pod", name="checkout-1",
               native_ids=("3f5e2a9c1b7d" + "a" * 52,))
    a.apply([rec(resource_event("created", pod, "skygraph", time=30.0)),
             rec(runs_on("native://3f5e2a9c1b7d", 31.0), 1)])
    assert edges(store) == {(SVC, "runs_on", I1), (SVC, "runs_on", pod.id)}


def test_drift_sets_and_resolution_clears_node_status(store: Store) -> None:
    a = Applier(store)
    a.apply([rec(resource_event("created", Node(id=I1, kind="aws.ec2.instance"), "skygraph", time=1.0))])
    drift = {"id": "d1", "resource_id": I1, "resource_type": "aws_instance", "kind": "changed",
             "severity": "medium", "diffs": [{"path": "instance_type", "expected": "t3.micro", "actual": "t3.large"}],
             "cause": None, "remediation": None}
    a.apply([rec(CloudEvent(type="airdig.drift.detected", source="deepdrift", subject=I1, data=drift, time=5.0))])
    node = store.get_node(I1)
    assert node is not None and node.drift_status == "drifted" and node.drift_last_event == "d1"
    a.apply([rec(CloudEvent(type="airdig.drift.resolved", source="deepdrift", subject=I1, data=drift, time=9.0))])
    node = store.get_node(I1)
    assert node is not None and node.drift_status == "in_sync"
    assert [d.status for d in store.drift_events(resource_id=I1)] == ["resolved"]


def test_every_event_type_is_idempotent(store: Store) -> None:
    a = Applier(store)
    evs = [
        resource_event("created", Node(id=I1, kind="aws.ec2.instance"), "skygraph", time=1.0),
        CloudEvent(type="airdig.health.changed", source="pulsesight", subject=I1, time=2.0,
                   data={"node_id": I1, "status": "critical", "previous": "healthy", "reasons": []}),
        CloudEvent(type="airdig.security.event", source="pulsesight", subject=I1, time=3.0,
                   data={"id": "f1", "source": "falco", "rule": "Terminal shell in container", "priority": "notice"}),
        CloudEvent(type="airdig.change.recorded", source="deepdrift", subject=I1, time=4.0,
                   data={"id": "ct-1", "kind": "cloudtrail", "summary": "StopInstances", "actor": "bob"}),
        runs_on(I1, 5.0),
    ]
    first = a.apply([rec(e, i) for i, e in enumerate(evs)])
    again = a.apply([rec(e, i) for i, e in enumerate(evs)])
    assert first.applied == 5 and not first.dead
    assert again.applied == 0 and again.duplicates == 5
    counts = store.table_counts()
    assert counts["changes"] == 4  # created, health, security, cloudtrail; the edge has no timeline row
    assert counts["edges"] == 1
    node = store.get_node(I1)
    assert node is not None and node.health_status == "critical"


def test_change_rows_keep_when_the_change_happened_not_when_it_was_seen(store: Store) -> None:
    from airdig.model.events import to_rfc3339

    sg = Node(id="arn:aws:ec2:us-east-1:123456789012:security-group/sg-1", kind="aws.ec2.security-group", name="sg")
    found = resource_event("created", sg, "skygraph", time=100.0)
    found.data["discovered"] = True
    seen = resource_event("updated", sg, "skygraph", changed=["attrs.IpPermissions"], time=700.0)
    seen.data["observed_between"] = [to_rfc3339(100.0), to_rfc3339(700.0)]
    write = CloudEvent(type="airdig.change.recorded", source="deepdrift", subject=sg.id, time=650.0, data={
        "id": "ct-1", "kind": "cloudtrail", "summary": "RevokeSecurityGroupIngress", "time": to_rfc3339(400.0)})
    drift = CloudEvent(type="airdig.drift.detected", source="deepdrift", subject=sg.id, time=900.0, data={
        "id": "d-1", "resource_id": sg.id, "kind": "changed", "severity": "high", "diffs": [{"path": "ingress"}],
        "observed_between": [to_rfc3339(800.0), to_rfc3339(900.0)]})
    bad = resource_event("updated", sg, "skygraph", changed=["name"], time=950.0)
    bad.data["observed_between"] = [to_rfc3339(950.0), to_rfc3339(100.0)]
    res = Applier(store).apply([rec(e, i) for i, e in enumerate([found, seen, write, drift, bad])])
    assert len(res.dead) == 1 and "observed_between" in res.dead[0][1] and "earliest is after latest" in res.dead[0][1]
    rows = {c.id: c for c in store.changes(sg.id, None, None)}
    assert rows[found.id].details.get("discovered") is True and "change_time" not in rows[found.id].details
    assert rows[seen.id].details["change_time"] == {"earliest": 100.0, "latest": 700.0, "basis": "scan"}
    assert rows["ct-1"].details["change_time"] == {"earliest": 400.0, "latest": 400.0, "basis": "cloudtrail"}
    assert rows[drift.id].details["change_time"] == {"earliest": 800.0, "latest": 900.0, "basis": "drift watch"}
    assert rows[drift.id].details["drift_kind"] == "changed"


def _drift(drift_id: str, kind: str, resolved: bool, t: float) -> Record:
    data = {"id": drift_id, "resource_id": I1, "resource_type": "aws_instance", "kind": kind, "severity": "low",
            "diffs": [{"path": f"p.{drift_id}", "expected": 1, "actual": 2}], "cause": None, "remediation": None}
    etype = "airdig.drift.resolved" if resolved else "airdig.drift.detected"
    return rec(CloudEvent(type=etype, source="deepdrift", subject=I1, data=data, time=t))


def test_resolving_one_drift_leaves_the_node_drifted_while_another_is_open(store: Store) -> None:
    a = Applier(store)
    a.apply([rec(resource_event("created", Node(id=I1, kind="aws.ec2.instance"), "skygraph", time=1.0))])
    a.apply([_drift("d1", "changed", False, 5.0), _drift("d2", "changed", False, 6.0)])
    a.apply([_drift("d1", "changed", True, 9.0)])
    node = store.get_node(I1)
    assert node is not None and node.drift_status == "drifted" and node.drift_last_event == "d2"
    a.apply([_drift("d2", "changed", True, 10.0)])
    node = store.get_node(I1)
    assert node is not None and node.drift_status == "in_sync"


def test_an_older_drift_event_never_overrides_a_newer_verdict(store: Store) -> None:
    a = Applier(store)
    a.apply([rec(resource_event("created", Node(id=I1, kind="aws.ec2.instance"), "skygraph", time=1.0))])
    a.apply([_drift("d1", "changed", True, 9.0)])  # the resolution arrives first ...
    a.apply([_drift("d1", "changed", False, 5.0)])  # ... the detection it answers arrives late
    node = store.get_node(I1)
    assert node is not None and node.drift_status == "in_sync"
    assert [d.status for d in store.drift_events(resource_id=I1)] == ["resolved"]


def test_two_aggregators_statistics_of_one_window_add_up(store: Store) -> None:
    """Each TraceCore aggregator pairs its own share of the traces and publishes its own statistics for the
    same edge and window; the store must keep both shares, not let the last overwrite the first."""
    from airdig.tracecore.aggregator import Aggregator
    from airdig.tracecore.metrics import TraceCoreMetrics
    from airdig.tracecore.pairing import Call
    from airdig.tracecore.spans import Resource, SpanSummary

    def calls(agg: Aggregator, n: int) -> None:
        res_a, res_b = Resource("front", "", {}), Resource("orders", "", {})
        spans = []
        for i in range(n):
            tid = f"{agg.member}{i:020x}"[:32]
            spans.append(SpanSummary(tid, f"{i + 1:016x}", "", 3, "GET", 0, 5_000_000, 0, res_a, {}))
            spans.append(SpanSummary(tid, f"{i + 99:016x}", f"{i + 1:016x}", 2, "GET", 1_000_000, 4_000_000, 0,
                                     res_b, {}))
        got: list[Call] = agg.offer(spans)
        assert len(got) == n

    a, b = Aggregator(None, TraceCoreMetrics()), Aggregator(None, TraceCoreMetrics())
    calls(a, 3)
    calls(b, 5)
    events = [ev for agg in (a, b) for ev in agg.window_events(everything=True)]
    Applier(store).apply([rec(ev, i) for i, ev in enumerate(events)])
    [row] = [r for r in store.service_edge_stats(None, None) if r.src.endswith("front")]
    assert row.request_count == 8
    assert sum(row.latency["counts"]) == 8


def _calls(part: int, requests: int, errors: int, ms: float, start: float = 600.0) -> CloudEvent:
    """A calls window of TraceCore: ``requests`` calls all in the latency bucket holding ``ms``."""
    from airdig.tracecore.servicemap import LATENCY_BOUNDS_MS

    counts = [0] * (len(LATENCY_BOUNDS_MS) + 1)
    counts[next(i for i, b in enumerate(LATENCY_BOUNDS_MS) if ms <= b)] = requests
    return CloudEvent(type="airdig.trace.edge", source="tracecore", subject=SVC, time=start + 100 + part,
                      id=f"edge-{start}-{part}", data={
                          "src": SVC, "dst": "service://shop/orders", "type": "calls", "window_start": start,
                          "window_seconds": 60, "part": part, "producer": "agg1",
                          "stats": {"request_count": requests, "error_count": errors, "errors": {"5xx": errors},
                                    "latency_ms": {"bounds": list(LATENCY_BOUNDS_MS), "counts": counts},
                                    "p50": ms, "p95": ms, "p99": ms}})


def test_late_parts_of_a_window_add_up_and_redelivery_counts_once(store: Store) -> None:
    from airdig.engine.intel import servicemap

    a = Applier(store)
    a.apply([rec(_calls(0, 4, 0, 10.0, start=540.0)), rec(_calls(0, 5, 1, 10.0), 1)])
    a.apply([rec(_calls(1, 3, 2, 400.0), 2)])  # late data for the window at 600, published after it
    a.apply([rec(_calls(1, 3, 2, 400.0), 3), rec(_calls(0, 5, 1, 10.0), 4)])  # both redelivered
    rows = store.service_edge_stats(0, 10_000, [SVC])
    assert [(r.window_start, r.request_count, r.error_count, r.errors) for r in rows] == \
        [(540.0, 4, 0, {"5xx": 0}), (600.0, 8, 3, {"5xx": 3})]
    assert [r.request_count for r in store.service_edge_stats(0, 10_000)] == [4, 8]
    # 3 of the 8 calls were slow: the window's p95 comes from the added histograms, in the slow bucket
    assert rows[1].p95 is not None and 250 < rows[1].p95 <= 500
    [edge] = servicemap.service_map(store, 0, 10_000)[0]
    assert edge.request_count == 12 and edge.error_count == 3 and edge.seconds == 120.0
    [cmp] = servicemap.before_after(store, [SVC], 600.0, 60.0)
    assert cmp["before"]["requests"] == 4 and cmp["after"]["requests"] == 8
    assert cmp["after"]["errorRatio"] == round(3 / 8, 4)


def test_a_bad_part_is_set_aside_with_the_reason(store: Store) -> None:
    ev = _calls(0, 1, 0, 10.0)
    ev.data["part"] = "one"
    result = Applier(store).apply([rec(ev), rec(_calls(0, 2, 0, 10.0, start=540.0), 1)])
    [(_, reason)] = result.dead
    assert f"event {ev.id}" in reason and "part must be a non-negative integer" in reason
    assert [r.request_count for r in store.service_edge_stats(0, 10_000)] == [2]  # nothing else lost


def _asg_write(eid: str, t: float, target: dict[str, str] | None = None) -> CloudEvent:
    from airdig.model.events import to_rfc3339

    data = {"id": eid, "kind": "cloudtrail", "summary": "SetDesiredCapacity (autoscaling.amazonaws.com) by dba",
            "time": to_rfc3339(t), "target": target if target is not None else
            {"kind": "aws.autoscaling.group", "account": "123456789012", "region": "us-east-1"}}
    return CloudEvent(type="airdig.change.recorded", source="deepdrift", subject="native://app", time=t, data=data)


def test_a_write_named_by_native_id_reaches_its_node_now_or_when_the_node_arrives(store: Store) -> None:
    """An Auto Scaling group's ARN holds a UUID no request carries: DeepDrift sends ``native://<name>``
    with the node's kind; the engine binds it to the one node of that kind claiming the name."""
    asg = Node(id="arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:9f1c:autoScalingGroupName/app",
               kind="aws.autoscaling.group", account="123456789012", region="us-east-1", name="app",
               native_ids=("app",))
    fn = Node(id="arn:aws:lambda:us-east-1:123456789012:function:app", kind="aws.lambda.function",
              account="123456789012", region="us-east-1", name="app", native_ids=("app",))  # same name, other kind
    a = Applier(store)
    a.apply([rec(_asg_write("ct-early", 50.0))])  # before any scan saw the group: the row waits
    assert [c.id for c in store.changes("native://app", None, None)] == ["ct-early"]
    a.apply([rec(resource_event("created", fn, "skygraph", time=60.0)),
             rec(resource_event("created", asg, "skygraph", time=60.0), 1)])
    a.apply([rec(_asg_write("ct-late", 300.0))])
    rows = {c.id: c for c in store.changes(asg.id, None, None)}
    assert {"ct-early", "ct-late"} <= set(rows) and rows["ct-late"].time == 300.0
    assert rows["ct-late"].details["change_time"] == {"earliest": 300.0, "latest": 300.0, "basis": "cloudtrail"}
    assert not [c for c in store.changes(fn.id, None, None) if c.kind == "cloudtrail"]
    assert not store.changes("native://app", None, None)


def test_a_native_write_stays_unbound_when_the_id_is_ambiguous_or_malformed(store: Store) -> None:
    a = Applier(store)
    for i, region in enumerate(("us-east-1", "eu-west-1")):
        a.apply([rec(resource_event("created", Node(
            id=f"arn:aws:autoscaling:{region}:123456789012:autoScalingGroup:u{i}:autoScalingGroupName/app",
            kind="aws.autoscaling.group", account="123456789012", region=region, name="app", native_ids=("app",)),
            "skygraph", time=10.0), i)])
    a.apply([rec(_asg_write("ct-any-region", 20.0, {"kind": "aws.autoscaling.group"}))])
    assert [c.id for c in store.changes("native://app", None, None)] == ["ct-any-region"]  # two claim it
    bad = _asg_write("ct-bad", 30.0)
    bad.data["target"] = ["aws.autoscaling.group"]
    res = a.apply([rec(bad)])
    assert len(res.dead) == 1 and "target must be an object" in res.dead[0][1]


def test_an_objects_own_creation_time_places_it_even_before_the_previous_scan(store: Store) -> None:
    """A Kubernetes object's creationTimestamp is the API server's record of the write: a previous scan
    that ran after it (missed the object, or a scanner clock ahead) does not move the change to the scan."""
    from airdig.model.events import to_rfc3339

    rs = Node(id="k8s://c/ns/replicaset/api-2", kind="k8s.replicaset", provider="k8s", name="api-2")
    ev = resource_event("created", rs, "skygraph", time=1000.0)
    ev.data["observed_between"] = [to_rfc3339(600.0), to_rfc3339(1000.0)]
    ev.data["changed_at"] = to_rfc3339(400.0)
    future = resource_event("updated", rs, "skygraph", changed=["attrs.x"], time=1100.0)
    future.data["observed_between"] = [to_rfc3339(1000.0), to_rfc3339(1100.0)]
    future.data["changed_at"] = to_rfc3339(1500.0)  # after the observation: impossible, the scan bounds it
    Applier(store).apply([rec(ev), rec(future, 1)])
    rows = {c.id: c for c in store.changes(rs.id, None, None)}
    assert rows[ev.id].details["change_time"] == {"earliest": 400.0, "latest": 400.0, "basis": "rollout"}
    assert rows[future.id].details["change_time"] == {"earliest": 1000.0, "latest": 1100.0, "basis": "scan"}


def test_confirmations_move_confirmed_at_forward_only_and_never_create_nodes(store: Store) -> None:
    """``nodes.confirmed_at`` is the newest read that saw the node (not ``last_seen``, which an unrelated
    event or a delete also moves); confirmations out of order never move it back."""
    from airdig.model.events import confirm_events

    a = Applier(store)
    inst = Node(id=I1, kind="aws.ec2.instance", name="web")
    a.apply([rec(resource_event("created", inst, "skygraph", time=20.0, confirmed_at=18.0))])
    row = store.get_node(I1)
    assert row is not None and row.confirmed_at == 18.0 and row.confirm_interval is None
    a.apply([rec(e, i) for i, e in enumerate(confirm_events("ec2/us-east-1", [I1, "arn:unknown"], 318.0,
                                                            "skygraph", interval=300.0, time=320.0))])
    row = store.get_node(I1)
    assert row is not None and (row.confirmed_at, row.confirm_interval, row.last_seen) == (318.0, 300.0, 20.0)
    assert store.get_node("arn:unknown") is None
    # an older confirmation applied late changes nothing; a newer one without a cadence keeps the cadence
    a.apply([rec(confirm_events("ec2/us-east-1", [I1], 100.0, "skygraph", interval=5.0)[0], 5)])
    a.apply([rec(confirm_events("ec2/us-east-1", [I1], 400.0, "skygraph")[0], 6)])
    row = store.get_node(I1)
    assert row is not None and (row.confirmed_at, row.confirm_interval) == (400.0, 300.0)
    # a delete is not a confirmation: confirmed_at keeps the last read that saw the node
    a.apply([rec(resource_event("deleted", inst, "skygraph", time=500.0), 7)])
    row = store.get_node(I1)
    assert row is not None and row.deleted_at == 500.0 and row.confirmed_at == 400.0


def test_a_malformed_confirmation_is_dead_lettered(store: Store) -> None:
    bad = CloudEvent(type="airdig.resource.confirmed", source="skygraph", subject="scope://x",
                     data={"nodes": "not-a-list", "confirmed_at": "2026-01-01T00:00:00Z"})
    res = Applier(store).apply([rec(bad)])
    assert len(res.dead) == 1 and "nodes must be a list" in res.dead[0][1]
