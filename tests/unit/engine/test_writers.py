"""Who set each changed attribute of a scan diff (``airdig.engine.intel.writers``).

Pure rules on change rows shaped as the applier stores them, a property test over any interleaving of
writes, and the batch read through the real Applier and store (SQLite and MariaDB via ``store``).
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airdig.backends.interfaces import ChangeRow, Record, Store
from airdig.deepdrift.cloudtrail import TrailEvent
from airdig.deepdrift.watch import change_event
from airdig.engine.apply import Applier
from airdig.engine.intel.writers import for_changes, touches, writers_of
from airdig.model.events import CloudEvent, to_rfc3339
from airdig.model.graph import Node
from airdig.skygraph.diff import diff_scope
from airdig.skygraph.graph import ScopeGraph
from airdig.skygraph.scan import change_events

FN = "arn:aws:lambda:us-east-1:123456789012:function:worker"
T = 1_790_000_000.0


def scan_diff(changed: list[str], earliest: float | None, latest: float, node: str = FN) -> ChangeRow:
    return ChangeRow(id=f"scan-{latest}", node_id=node, time=latest, kind="updated", source="airdig/skygraph",
                     summary="", details={"changed": changed, "change_time": {"earliest": earliest, "latest": latest,
                                                                                "basis": "scan"}})


def write(eid: str, at: float, who: str, params: dict[str, Any], attributes: list[str] | None = None,
          node: str = FN, name: str = "UpdateFunctionConfiguration20150331v2") -> ChangeRow:
    return ChangeRow(id=eid, node_id=node, time=at, kind="cloudtrail", source="airdig/deepdrift", summary="",
                     actor=who, details={"event_id": eid, "event_name": name, "channel": "console",
                                         "source_ip": "198.51.100.7", "attributes": attributes or [],
                                         "request_parameters": params})


def named(found: list[Any]) -> dict[str, str | None]:
    return {p.path: (p.writer.event_id if p.writer else None) for p in found}


def test_two_people_each_named_for_their_own_attribute() -> None:
    row = scan_diff(["attrs.Timeout", "attrs.Description", "attrs.LastModified"], T - 3600, T)
    writes = [write("alice", T - 600, "user/alice", {"functionName": "worker", "timeout": 10}),
              write("bob", T - 300, "user/bob", {"functionName": "worker", "description": "edited"}),
              write("carol", T - 60, "user/carol", {"functionName": "worker", "reservedConcurrentExecutions": 5},
                    name="PutFunctionConcurrency20171031")]
    found = writers_of(row, writes)
    assert named(found) == {"attrs.Timeout": "alice", "attrs.Description": "bob", "attrs.LastModified": None}
    alice = found[0].writer
    assert alice is not None and (alice.principal, alice.channel, alice.source_ip, alice.time) == (
        "user/alice", "console", "198.51.100.7", T - 600)
    assert all(w.event_id != "carol" for p in found for w in p.writers)  # touched none of the changed paths


def test_only_writes_before_detection_and_on_this_node_count() -> None:
    row = scan_diff(["attrs.Timeout"], T - 3600, T)
    writes = [write("late", T + 5, "user/late", {"timeout": 3}),
              write("other", T - 10, "user/x", {"timeout": 3}, node=FN + "-2"),
              ChangeRow(id="d", node_id=FN, time=T - 20, kind="drift", source="x", summary="",
                        details={"request_parameters": {"timeout": 3}})]
    assert named(writers_of(row, writes)) == {"attrs.Timeout": None}


def test_several_writers_of_one_path_are_listed_newest_first_and_the_last_is_the_writer() -> None:
    row = scan_diff(["attrs.IpPermissions"], T - 3600, T)
    items = {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22}]}
    writes = [write("old", T - 7200, "user/a", {"groupId": "sg-1", "ipPermissions": items}),
              write("w1", T - 900, "user/b", {"groupId": "sg-1", "ipPermissions": items}),
              write("w2", T - 100, "user/c", {"groupId": "sg-1", "ipPermissions": items})]
    (p,) = writers_of(row, writes)
    assert p.writer is not None and p.writer.event_id == "w2"
    assert [w.event_id for w in p.writers] == ["w2", "w1"]  # "old" precedes the previous scan


def test_the_writer_before_the_previous_scan_still_names_the_value_when_nothing_later_touched_it() -> None:
    row = scan_diff(["attrs.DBInstanceClass"], T - 600, T)  # RDS applies a resize later than the call
    (p,) = writers_of(row, [write("dba", T - 900, "user/dba", {"dBInstanceIdentifier": "db",
                                                                "dBInstanceClass": "db.m5.large"})])
    assert p.writer is not None and p.writer.event_id == "dba" and [w.event_id for w in p.writers] == ["dba"]


def test_egress_rules_are_not_blamed_for_an_ingress_diff() -> None:
    rules = {"items": [{"ipProtocol": "-1", "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}
    row = scan_diff(["attrs.IpPermissions", "attrs.IpPermissionsEgress"], T - 3600, T,
                    node="arn:aws:ec2:us-east-1:1:security-group/sg-1")
    writes = [write("in", T - 500, "user/a", {"groupId": "sg-1", "ipPermissions": rules},
                    node=row.node_id, name="AuthorizeSecurityGroupIngress"),
              write("out", T - 100, "user/b", {"groupId": "sg-1", "ipPermissions": rules},
                    node=row.node_id, name="RevokeSecurityGroupEgress")]
    assert named(writers_of(row, writes)) == {"attrs.IpPermissions": "in", "attrs.IpPermissionsEgress": "out"}


def test_modify_attribute_calls_name_their_attribute_as_a_value() -> None:
    node = "arn:aws:ec2:us-east-1:1:instance/i-1"
    row = scan_diff(["attrs.InstanceType", "attrs.SourceDestCheck"], T - 3600, T, node=node)
    writes = [write("old-shape", T - 50, "user/a", {"instanceId": "i-1", "attribute": "instanceType",
                                                    "value": "t3.large"}, node=node,
                    name="ModifyInstanceAttribute"),
              write("not-a-modify", T - 10, "user/b", {"attribute": "sourceDestCheck"}, node=node,
                    name="DescribeInstanceAttribute")]
    assert named(writers_of(row, writes)) == {"attrs.InstanceType": "old-shape", "attrs.SourceDestCheck": None}


def test_tags_are_matched_by_the_key_the_call_named() -> None:
    row = scan_diff(["tags.Owner", "tags.Env"], None, T)
    writes = [write("tag", T - 10, "user/t", {"resourceName": "arn", "tags": [{"key": "Owner"}]},
                    attributes=["tags.Owner"], name="AddTagsToResource"),
              write("all", T - 5, "user/u", {"resourceName": "arn", "tags": "[redacted]"}, attributes=["tags"])]
    assert named(writers_of(row, writes)) == {"tags.Owner": "tag", "tags.Env": None}


def test_paths_no_request_names_have_no_writer() -> None:
    w = write("x", T - 1, "user/x", {"functionName": "worker", "timeout": 3, "tags": {"a": "b"}})
    assert touches("attrs.Timeout", w) and touches("attrs.timeout.Nested[0]", w)
    assert not touches("name", w) and not touches("attrs.", w) and not touches("tags.a", w)
    assert not touches("attrs.TimeoutSeconds", w)
    created = ChangeRow(id="c", node_id=FN, time=T, kind="created", source="s", summary="", details={})
    assert writers_of(created, [w]) == []


PARAM = {"attrs.Timeout": "timeout", "attrs.Description": "description", "attrs.MemorySize": "memorySize",
         "attrs.Environment": "environment"}
write_st = st.tuples(st.integers(0, 100), st.sets(st.sampled_from(sorted(PARAM)), max_size=3))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(write_st, max_size=12), st.integers(0, 100), st.randoms(use_true_random=False))
def test_any_interleaving_names_each_paths_last_toucher_before_detection(
        plan: list[tuple[int, set[str]]], detect: int, rnd: Any) -> None:
    writes = [write(f"e{i:02d}", T + t, f"user/{i}", {"functionName": "worker", **{PARAM[p]: 1 for p in paths}})
              for i, (t, paths) in enumerate(plan)]
    shuffled = list(writes)
    rnd.shuffle(shuffled)  # arrival order must not matter
    row = scan_diff(sorted(PARAM), None, T + detect)
    got = named(writers_of(row, shuffled))
    for path, param in PARAM.items():
        touching = [w for w in writes if param in w.details["request_parameters"] and w.time <= T + detect]
        expected = max(touching, key=lambda w: (w.time, w.id)).id if touching else None
        assert got[path] == expected
        listed = next(p for p in writers_of(row, shuffled) if p.path == path).writers
        assert {w.event_id for w in listed} == {w.id for w in touching}


def trail(eid: str, name: str, ts: float, who: str, params: dict[str, Any]) -> TrailEvent:
    return TrailEvent(event_id=eid, event_name=name, event_source="lambda.amazonaws.com", event_time=to_rfc3339(ts),
                      ts=ts, principal=who, principal_type="IAMUser", principal_arn=f"arn:aws:iam::1:{who}",
                      session="", channel="api", user_agent="aws-cli/2", source_ip="203.0.113.9",
                      raw_parameters=params)


class Counting:
    """The real store, counting change reads (the batch must cost one)."""

    def __init__(self, store: Store) -> None:
        self.store, self.reads = store, 0

    def changes_of(self, *a: Any, **kw: Any) -> list[ChangeRow]:
        self.reads += 1
        return self.store.changes_of(*a, **kw)


def fn_node(timeout: int, description: str, name: str = "worker") -> Node:
    nid = FN.replace("worker", name)
    return Node(id=nid, kind="aws.lambda.function", provider="aws", account="123456789012", region="us-east-1",
                name=name, attrs={"Timeout": timeout, "Description": description}, native_ids=(name,))


def test_a_batch_of_scan_diffs_is_resolved_with_one_store_read(store: Store) -> None:
    def graph(*nodes: Node, at: float | None = None) -> ScopeGraph:
        return ScopeGraph(nodes={n.id: n for n in nodes}, edges={}, observed_at=at)

    one = graph(fn_node(30, "v1"), fn_node(30, "v1", "other"))
    two = graph(fn_node(10, "edited"), fn_node(30, "v2", "other"))
    evs: list[CloudEvent] = [*change_events(diff_scope(None, one), at=T - 3600)]
    one.observed_at = T - 3600
    evs += change_events(diff_scope(one, two), at=T)
    evs += [change_event(trail("e-a", "UpdateFunctionConfiguration20150331v2", T - 600, "user/alice",
                               {"functionName": "worker", "timeout": 10}), FN, ("timeout",)),
            change_event(trail("e-b", "UpdateFunctionConfiguration20150331v2", T - 300, "user/bob",
                               {"functionName": FN, "description": "edited"}), FN, ("description",))]
    result = Applier(store).apply([Record(e.topic, 0, i, e.subject, e.encode(), e.time) for i, e in enumerate(evs)])
    assert not result.dead, result.dead
    rows = store.changes_of([FN, FN.replace("worker", "other")], None, None, ["updated"])
    assert len(rows) == 2
    counting = Counting(store)
    found = for_changes(counting, rows)  # type: ignore[arg-type]
    assert counting.reads == 1
    by_node = {r.node_id: named(found[r.id]) for r in rows}
    assert by_node == {FN: {"attrs.Timeout": "e-a", "attrs.Description": "e-b"},
                       FN.replace("worker", "other"): {"attrs.Description": None}}


def test_root_cause_folds_a_scan_diff_under_the_write_that_touched_it_not_the_latest_on_the_node() -> None:
    from airdig.engine.intel.rootcause import _screen

    row = scan_diff(["attrs.Timeout"], T - 3600, T)
    alice = write("alice", T - 600, "user/alice", {"functionName": "worker", "timeout": 10})
    carol = write("carol", T - 60, "user/carol", {"functionName": "worker", "reservedConcurrentExecutions": 5},
                  name="PutFunctionConcurrency20171031")
    kept, folded, _ = _screen([carol, row, alice])
    assert [c.id for c in folded.get("alice", [])] == [row.id] and "carol" not in folded
    assert {c.id for c in kept} == {"alice", "carol"}
    # with no write that touched a changed attribute, the scan still saw the node's latest write
    untouched = scan_diff(["attrs.LastModified"], T - 3600, T)
    assert [c.id for c in _screen([carol, untouched, alice])[1].get("carol", [])] == [untouched.id]


def test_graphql_and_rest_answer_the_writers_of_a_page_with_one_read(store: Store, monkeypatch: Any,
                                                                     tmp_path: Any) -> None:
    from starlette.testclient import TestClient

    from airdig.backends.registry import open_bus, open_cache
    from airdig.engine.app import build_app
    from airdig.engine.service import EngineService

    names = [f"fn{i}" for i in range(4)]
    before = ScopeGraph(nodes={n.id: n for n in (fn_node(30, "v1", x) for x in names)}, edges={})
    after = ScopeGraph(nodes={n.id: n for n in (fn_node(10, "v2", x) for x in names)}, edges={})
    evs: list[CloudEvent] = [*change_events(diff_scope(None, before), at=T - 3600)]
    before.observed_at = T - 3600
    evs += change_events(diff_scope(before, after), at=T)
    evs += [change_event(trail(f"e-{x}", "UpdateFunctionConfiguration20150331v2", T - 100, f"user/{x}",
                               {"functionName": x, "timeout": 10}), FN.replace("worker", x), ("timeout",))
            for x in names]
    assert not Applier(store).apply([Record(e.topic, 0, i, e.subject, e.encode(), e.time)
                                     for i, e in enumerate(evs)]).dead
    reads: list[Any] = []
    real = store.changes_of
    monkeypatch.setattr(store, "changes_of", lambda *a, **kw: reads.append(a) or real(*a, **kw))
    svc = EngineService(store=store, bus=open_bus(f"embedded://{tmp_path / 'bus.db'}"), cache=open_cache("memory://"), group="w")
    with TestClient(build_app(svc)) as client:
        body = client.post("/graphql", json={"query": """{ timeline(first: 50) { id kind resourceId
            writers { path writer { eventId principal sourceIp channel } } } }"""}).json()
        assert "errors" not in body, body
        assert len(reads) == 1
        diffs = [c for c in body["data"]["timeline"] if c["kind"] == "updated"]
        assert len(diffs) == 4
        for c in diffs:
            x = c["resourceId"].rsplit(":", 1)[-1]
            assert {p["path"]: p["writer"] and p["writer"]["eventId"] for p in c["writers"]} == {
                "attrs.Timeout": f"e-{x}", "attrs.Description": None}
        assert all(c["writers"] == [] for c in body["data"]["timeline"] if c["kind"] != "updated")
        reads.clear()
        assert "errors" not in client.post("/graphql", json={"query": "{ timeline(first: 50) { id } }"}).json()
        assert reads == []  # not asked for: not read
        items = client.get("/api/v1/timeline", params={"first": 50}).json()["items"]
        assert len(reads) == 1
        rest = {c["resourceId"]: c["writers"] for c in items if c["kind"] == "updated"}
        fn0 = {p["path"]: p["writer"] for p in rest[FN.replace("worker", "fn0")]}
        assert fn0["attrs.Timeout"]["principal"] == "user/fn0" and fn0["attrs.Description"] is None



def test_root_cause_shows_the_writer_of_a_scan_diff_candidate(store: Store, tmp_path: Any) -> None:
    """The scan saw a timeout applied after alice's call (before the previous scan): the diff stays a
    candidate of its own, and its evidence and ``writers`` name alice for the timeout, nobody else."""
    from starlette.testclient import TestClient

    from airdig.backends.registry import open_bus, open_cache
    from airdig.engine.app import build_app
    from airdig.engine.service import EngineService

    one = ScopeGraph(nodes={FN: fn_node(30, "v1")}, edges={})
    evs: list[CloudEvent] = [*change_events(diff_scope(None, one), at=T - 3600)]
    one.observed_at = T - 1500
    evs += change_events(diff_scope(one, ScopeGraph(nodes={FN: fn_node(10, "v1")}, edges={})), at=T - 300)
    evs.append(change_event(trail("e-a", "UpdateFunctionConfiguration20150331v2", T - 1700, "user/alice",
                                  {"functionName": "worker", "timeout": 10}), FN, ("timeout",)))
    evs.append(change_event(trail("e-c", "PutFunctionConcurrency20171031", T - 1600, "user/carol",
                                  {"functionName": "worker", "reservedConcurrentExecutions": 5}), FN,
                            ("reserved_concurrent_executions",)))
    evs.append(CloudEvent("airdig.health.changed", "pulsesight", FN, {
        "node_id": FN, "status": "critical", "previous": "healthy", "since": to_rfc3339(T),
        "reasons": [{"rule": "errors", "message": "timeouts"}]}, time=T))
    assert not Applier(store).apply([Record(e.topic, 0, i, e.subject, e.encode(), e.time)
                                     for i, e in enumerate(evs)]).dead
    svc = EngineService(store=store, bus=open_bus(f"embedded://{tmp_path / 'bus.db'}"),
                        cache=open_cache("memory://"), group="w")
    with TestClient(build_app(svc)) as client:
        body = client.post("/graphql", json={"query": """query($id: ID!, $at: String) { rootCause(id: $id, at: $at) {
            candidates { evidence change { id kind writers { path writer { principal eventName } } } }
            setAside { change { id writers { path } } } } }""",
            "variables": {"id": FN, "at": to_rfc3339(T + 60)}}).json()
    assert "errors" not in body, body
    (scan,) = [c for c in body["data"]["rootCause"]["candidates"] if c["change"]["kind"] == "updated"]
    assert scan["change"]["writers"] == [{"path": "attrs.Timeout", "writer": {
        "principal": "user/alice", "eventName": "UpdateFunctionConfiguration20150331v2"}}]
    assert any(e.startswith("attrs.Timeout set by user/alice (UpdateFunctionConfiguration") for e in scan["evidence"])
    assert not any("carol" in e for e in scan["evidence"])
