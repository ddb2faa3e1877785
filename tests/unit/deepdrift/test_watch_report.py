from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from airdig.deepdrift.cloudtrail import parse_record
from airdig.deepdrift.detect import DetectResult, compute
from airdig.deepdrift.mapping import Ctx
from airdig.deepdrift.report import to_html, to_table
from airdig.deepdrift.tfstate import parse_state
from airdig.deepdrift.watch import Watcher
from airdig.model.events import CloudEvent, parse_time

CTX = Ctx(region="us-east-1", account="111122223333")
STATE = b"""{"version": 4, "resources": [
 {"mode": "managed", "type": "aws_sqs_queue", "name": "jobs", "instances": [{"attributes": {
   "id": "https://sqs/1/jobs", "name": "jobs", "delay_seconds": 0}}]},
 {"mode": "managed", "type": "aws_db_instance", "name": "db", "instances": [{"attributes": {
   "id": "db-1", "identifier": "appdb", "password": "pw-never-shown", "instance_class": "db.t3.micro"},
   "sensitive_attributes": [[{"type": "get_attr", "value": "password"}]]}]},
 {"mode": "managed", "type": "aws_lambda_function", "name": "fn", "instances": [{"attributes": {
   "id": "fn", "function_name": "fn", "environment": [{"variables": {"DB_PASSWORD": "old-secret"}}]}}]}]}
"""


class FakeBus:
    url = "fake://"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, bytes]] = []

    def publish(self, topic: str, key: str, value: bytes) -> None:
        self.sent.append((topic, key, value))

    def flush(self, timeout: float = 10.0) -> None:
        return None


def run(live_delay: str, live_env: dict[str, str], failed: dict[str, str] | None = None) -> DetectResult:
    resources = parse_state(STATE, "s").resources
    live: dict[str, list[dict[str, Any]]] = {
        "sqs.queues": [{"QueueUrl": "https://sqs/1/jobs", "Attributes": {"DelaySeconds": live_delay}}],
        "rds.db_instances": [{"DBInstanceIdentifier": "appdb", "DBInstanceClass": "db.t3.micro"}],
        "lambda.functions": [{"FunctionName": "fn", "Environment": {"Variables": live_env}}]}
    events = [parse_record({"eventID": "e1", "eventName": "SetQueueAttributes", "eventSource": "sqs.amazonaws.com",
                            "eventTime": "2025-01-01T00:00:00Z", "userIdentity": {"type": "Root"},
                            "userAgent": "console.amazonaws.com",
                            "requestParameters": {"queueUrl": "https://sqs/1/jobs", "attributes": {"DelaySeconds": "5"}}},
                           "t")]
    return compute(resources, live, failed or {}, CTX, [e for e in events if e is not None])


def test_compute_attributes_and_redacts() -> None:
    result = run("5", {"DB_PASSWORD": "new-secret"})
    by_type = {d["resource_type"]: d for d in result.drifts}
    assert set(by_type) == {"aws_sqs_queue"}  # the env secret is redacted on both sides: not comparable
    q = by_type["aws_sqs_queue"]
    assert q["diffs"] == [{"path": "delay_seconds", "expected": 0, "actual": 5, "cause": {
        "event_id": "e1", "event_name": "SetQueueAttributes", "event_time": "2025-01-01T00:00:00Z",
        "principal": "root", "channel": "console", "source_ip": ""}}]
    assert q["cause"]["event_name"] == "SetQueueAttributes" and q["cause"]["principal"] == "root"
    assert result.exit_code == 1
    text = to_table(result) + to_html(result) + str(result.to_json())
    for secret in ("pw-never-shown", "old-secret", "new-secret"):
        assert secret not in text


def test_unknown_type_is_never_missing() -> None:
    result = run("0", {"DB_PASSWORD": "x"}, failed={"sqs.queues": "AccessDenied"})
    assert result.drifts == [] or all(d["resource_type"] != "aws_sqs_queue" for d in result.drifts)
    assert result.coverage["unknown_types"] == ["aws_sqs_queue"]
    assert result.exit_code == 2


def test_watcher_publishes_on_change_only(tmp_path: Path) -> None:
    bus = FakeBus()
    w = Watcher(bus, tmp_path / "w.json")  # type: ignore[arg-type]
    assert w.cycle(run("5", {"DB_PASSWORD": "x"})) == {"detected": 1, "resolved": 0, "changes": 1}
    assert w.cycle(run("5", {"DB_PASSWORD": "x"})) == {"detected": 0, "resolved": 0, "changes": 0}
    assert w.cycle(run("7", {"DB_PASSWORD": "x"})) == {"detected": 1, "resolved": 0, "changes": 0}
    w2 = Watcher(bus, tmp_path / "w.json")  # type: ignore[arg-type]  # a later --once run
    assert w2.cycle(run("0", {"DB_PASSWORD": "x"}, failed={"sqs.queues": "timeout"})) == {"detected": 0, "resolved": 0, "changes": 0}
    assert w2.cycle(run("0", {"DB_PASSWORD": "x"})) == {"detected": 0, "resolved": 1, "changes": 0}
    types = [CloudEvent.decode(v).type for _, _, v in bus.sent]
    # the coverage matrix goes out on the first cycle and whenever it changes (sqs unknown, then known again)
    assert types == ["airdig.drift.detected", "airdig.change.recorded", "airdig.drift.coverage",
                     "airdig.drift.detected", "airdig.drift.coverage", "airdig.drift.resolved",
                     "airdig.drift.coverage"]
    assert {t for t, _, _ in bus.sent} == {"airdig.drift"}


def test_a_drift_is_placed_after_the_last_cycle_that_did_not_show_it(tmp_path: Path) -> None:
    bus = FakeBus()
    w = Watcher(bus, tmp_path / "w.json")  # type: ignore[arg-type]
    w.cycle(run("5", {"DB_PASSWORD": "x"}))  # the first cycle: nothing bounds the drift from below
    before = time.time()
    w.cycle(run("5", {"DB_PASSWORD": "x"}))  # unchanged: nothing published, but the cycle looked
    w2 = Watcher(bus, tmp_path / "w.json")  # type: ignore[arg-type]  # a later --once run remembers it
    w2.cycle(run("7", {"DB_PASSWORD": "x"}))
    detected = [e for e in (CloudEvent.decode(v) for _, _, v in bus.sent) if e.type == "airdig.drift.detected"]
    assert len(detected) == 2 and "observed_between" not in detected[0].data
    lo, hi = (parse_time(x) for x in detected[1].data["observed_between"])
    assert before <= lo <= hi <= time.time()


def test_every_mapped_write_is_published_once_per_node_it_changed(tmp_path: Path) -> None:
    from airdig.deepdrift.cloudtrail import Trail

    trail = Trail()
    trail.add_records([
        {"eventID": "t1", "eventName": "CreateTags", "eventSource": "ec2.amazonaws.com",
         "eventTime": "2025-01-01T00:00:00Z", "awsRegion": "us-east-1", "recipientAccountId": "111122223333",
         "userIdentity": {"type": "IAMUser", "userName": "bob"}, "userAgent": "aws-cli/2",
         "requestParameters": {"resourcesSet": {"items": [{"resourceId": "i-1"}, {"resourceId": "sg-1"}]},
                               "tagSet": {"items": [{"key": "Owner", "value": "bob"}]}}},
        {"eventID": "t2", "eventName": "FrobnicateWidget", "eventSource": "ec2.amazonaws.com",
         "eventTime": "2025-01-01T00:01:00Z", "userIdentity": {"type": "Root"}, "requestParameters": {}},
    ], "t")
    result = compute([], {}, {}, CTX, trail.finish().events)
    bus = FakeBus()
    w = Watcher(bus, tmp_path / "w.json")  # type: ignore[arg-type]
    assert w.cycle(result)["changes"] == 2  # no drift at all: the write is still on record, once per node
    events = [e for e in (CloudEvent.decode(v) for _, _, v in bus.sent) if e.type == "airdig.change.recorded"]
    assert [(e.subject, e.data["id"], e.data["details"]["attributes"]) for e in events] == [
        ("arn:aws:ec2:us-east-1:111122223333:instance/i-1", "t1", ["tags.Owner"]),
        ("arn:aws:ec2:us-east-1:111122223333:security-group/sg-1",
         "t1@arn:aws:ec2:us-east-1:111122223333:security-group/sg-1", ["tags.Owner"])]
    assert {(e.type, e.data["details"]["event_id"], e.data["time"]) for e in events} == {
        ("airdig.change.recorded", "t1", "2025-01-01T00:00:00.000000Z")}
    assert [k for _, k, v in bus.sent if b"airdig.change.recorded" in v] == [e.subject for e in events]
    assert Watcher(bus, tmp_path / "w.json").cycle(result)["changes"] == 0  # type: ignore[arg-type]
    assert result.attribution["unknown_events"] == {"ec2:FrobnicateWidget": 1}


def test_a_write_whose_arn_cannot_be_derived_is_published_by_native_id(tmp_path: Path) -> None:
    """An Auto Scaling group's ARN holds a UUID no request carries: the write still goes out, as
    ``native://<name>`` with the node's kind, account and region, for the engine's native-id index."""
    from airdig.deepdrift.cloudtrail import Trail

    trail = Trail()
    trail.add_records([
        {"eventID": "s1", "eventName": "SetDesiredCapacity", "eventSource": "autoscaling.amazonaws.com",
         "eventTime": "2025-01-01T00:00:00Z", "awsRegion": "us-east-1", "recipientAccountId": "111122223333",
         "userIdentity": {"type": "IAMUser", "userName": "bob"}, "userAgent": "aws-cli/2",
         "requestParameters": {"autoScalingGroupName": "workers", "desiredCapacity": 1}}], "t")
    result = compute([], {}, {}, CTX, trail.finish().events)
    assert result.attribution["unresolved_targets"] == 0 and result.attribution["mapped"] == 1
    bus = FakeBus()
    assert Watcher(bus, tmp_path / "w.json").cycle(result)["changes"] == 1  # type: ignore[arg-type]
    ev = next(e for e in (CloudEvent.decode(v) for _, _, v in bus.sent) if e.type == "airdig.change.recorded")
    assert ev.subject == "native://workers" and ev.data["time"] == "2025-01-01T00:00:00.000000Z"
    assert ev.data["target"] == {"kind": "aws.autoscaling.group", "account": "111122223333", "region": "us-east-1"}
