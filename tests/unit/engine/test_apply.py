"""The apply path on its own: native references from traces, drift status, idempotence per event type."""

from __future__ import annotations

from airdig.backends.interfaces import Record, Store
from airdig.engine.apply import Applier
from airdig.model.events import CloudEvent, resource_event
from airdig.model.graph import Node

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
