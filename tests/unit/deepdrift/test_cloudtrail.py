from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from airdig.deepdrift.cloudtrail import (
    RateLimiter,
    Trail,
    TrailSeen,
    channel_of,
    parse_record,
    principal_of,
    read_lookup,
)
from airdig.errors import InvalidInput


def rec(name: str, source: str, eid: str, when: str = "2025-01-01T00:00:00Z", **extra: Any) -> dict[str, Any]:
    base = {"eventID": eid, "eventName": name, "eventSource": source, "eventTime": when,
            "userIdentity": {"type": "IAMUser", "userName": "bob", "arn": "arn:aws:iam::1:user/bob"},
            "userAgent": "aws-cli/2.15.0", "sourceIPAddress": "203.0.113.1"}
    return {**base, **extra}


@pytest.mark.parametrize(("identity", "expected"), [
    ({"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/AWSReservedSSO_Admin_ab12/alice@example.com",
      "sessionContext": {"sessionIssuer": {"userName": "AWSReservedSSO_Admin_ab12",
                                           "arn": "arn:aws:iam::1:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_ab12"}}},
     ("assumed-role/AWSReservedSSO_Admin_ab12/alice@example.com", "alice@example.com")),
    ({"type": "IAMUser", "userName": "bob", "arn": "arn:aws:iam::1:user/bob"}, ("user/bob", "")),
    ({"type": "Root", "arn": "arn:aws:iam::1:root"}, ("root", "")),
    ({"type": "AWSService", "invokedBy": "autoscaling.amazonaws.com"}, ("autoscaling.amazonaws.com", "")),
    ({"type": "FederatedUser", "arn": "arn:aws:sts::1:federated-user/carol"}, ("federated-user/carol", "carol")),
    ({"type": "AWSAccount", "accountId": "999"}, ("account/999", "")),
    ({"type": "IdentityCenterUser", "onBehalfOf": {"userId": "u-1"}}, ("sso-user/u-1", "")),
    ({"type": "WebIdentityUser", "userName": "gh:repo"}, ("webidentityuser/gh:repo", "")),
])
def test_principal_for_every_identity_type(identity: dict[str, Any], expected: tuple[str, str]) -> None:
    principal, _, _, session = principal_of(identity)
    assert (principal, session) == expected


@pytest.mark.parametrize(("ua", "kind", "console", "expected"), [
    ("APN/1.0 HashiCorp/1.0 Terraform/1.7.5 terraform-provider-aws/5.40.0 aws-sdk-go-v2/1.25", "IAMUser", False,
     "terraform"),
    ("console.amazonaws.com", "AssumedRole", False, "console"),
    ("[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12]", "Root", False, "console"),
    ("AWS Internal", "AssumedRole", True, "console"),
    ("aws-cli/2.15.30 Python/3.11.8", "IAMUser", False, "cli-sdk"),
    ("Boto3/1.34.69 md/Botocore#1.34.69", "AssumedRole", False, "cli-sdk"),
    ("autoscaling.amazonaws.com", "AWSService", False, "aws-service"),
    ("", "IAMUser", False, "unknown"),
])
def test_channel(ua: str, kind: str, console: bool, expected: str) -> None:
    assert channel_of(ua, kind, console) == expected


def test_ec2_items_wrappers_and_collisions_by_event_source() -> None:
    ev = parse_record(rec("CreateTags", "ec2.amazonaws.com", "1", requestParameters={
        "resourcesSet": {"items": [{"resourceId": "subnet-1"}, {"resourceId": "i-2"}]},
        "tagSet": {"items": [{"key": "A", "value": "b"}]}}), "t")
    assert ev is not None and [(t.kind, t.ids, t.attributes) for t in ev.targets] == [
        ("aws.ec2.subnet", ("subnet-1",), ("tags.A",)), ("aws.ec2.instance", ("i-2",), ("tags.A",))]
    kms = parse_record(rec("CreateAlias", "kms.amazonaws.com", "2", requestParameters={
        "aliasName": "alias/app", "targetKeyId": "arn:aws:kms:us-east-1:1:key/k-1"}), "t")
    lam = parse_record(rec("CreateAlias", "lambda.amazonaws.com", "3", requestParameters={
        "functionName": "app", "name": "live"}), "t")
    assert kms is not None and [(t.kind, t.ids) for t in kms.targets] == [
        ("aws.kms.key", ("arn:aws:kms:us-east-1:1:key/k-1", "k-1"))]
    assert lam is not None and [(t.kind, t.ids, t.attributes) for t in lam.targets] == [
        ("aws.lambda.function", ("app",), ("alias[live]",))]
    unknown = parse_record(rec("FrobnicateWidget", "ec2.amazonaws.com", "4", requestParameters={"instanceId": "i-2"}),
                           "t")
    assert unknown is not None and not unknown.known and unknown.targets == ()  # never guessed


def test_reads_and_failures_are_dropped_unknown_shapes_rejected() -> None:
    assert parse_record(rec("DescribeInstances", "ec2.amazonaws.com", "1"), "t") is None
    assert parse_record(rec("DeleteBucket", "s3.amazonaws.com", "2", errorCode="AccessDenied"), "t") is None
    assert parse_record(rec("GetObject", "s3.amazonaws.com", "3", readOnly=False), "t") is not None
    with pytest.raises(InvalidInput, match="no 'eventID'"):
        parse_record({"eventName": "X"}, "f.json.gz: Records[3]")
    with pytest.raises(InvalidInput, match="userIdentity"):
        parse_record({**rec("X", "ec2.amazonaws.com", "9"), "userIdentity": None}, "f")


def test_secret_request_parameters_are_redacted() -> None:
    ev = parse_record(rec("ModifyDBInstance", "rds.amazonaws.com", "1", requestParameters={
        "dBInstanceIdentifier": "db", "masterUserPassword": "hunter2"}), "t")
    assert ev is not None and "hunter2" not in json.dumps(ev.request_parameters)
    assert "hunter2" not in repr(ev) and "hunter2" not in json.dumps(ev.to_saved())


def test_remembered_events_are_saved_redacted_and_read_back(tmp_path: Path) -> None:
    ev = parse_record(rec("ModifyDBInstance", "rds.amazonaws.com", "1", requestParameters={
        "dBInstanceIdentifier": "db", "masterUserPassword": "hunter2"}), "t")
    assert ev is not None
    seen = TrailSeen(str(tmp_path / "seen.json"))
    seen.keys["s3://b/k.json.gz"], seen.events = ev.ts, [ev]
    seen.save()
    assert b"hunter2" not in (tmp_path / "seen.json").read_bytes()
    back = TrailSeen(str(tmp_path / "seen.json"))
    assert back.keys == {"s3://b/k.json.gz": ev.ts}
    assert back.events[0].event_id == ev.event_id and back.events[0].targets == ev.targets
    assert back.events[0].targets and back.events[0].known and back.events[0].region == ev.region
    (tmp_path / "seen.json").write_bytes(b"{broken")
    assert TrailSeen(str(tmp_path / "seen.json")).keys == {}  # unreadable: read the window again


def test_trail_sorts_and_deduplicates_and_reports_bad_files() -> None:
    trail = Trail()
    a = rec("ModifyVpcAttribute", "ec2.amazonaws.com", "b", "2025-01-02T00:00:00Z", requestParameters={"vpcId": "v"})
    b = rec("CreateVpc", "ec2.amazonaws.com", "a", "2025-01-01T00:00:00Z")
    trail.add_log_bytes(gzip.compress(json.dumps({"Records": [a, b]}).encode()), "f1")
    trail.add_log_bytes(json.dumps({"Records": [a, {"odd": 1}]}).encode(), "f2")
    trail.add_log_bytes(b"\x1f\x8b garbage", "f3")
    trail.add_log_bytes(b'{"events": []}', "f4")
    trail.finish()
    assert [e.event_id for e in trail.events] == ["a", "b"]
    assert [e.source for e in trail.errors] == ["f2: Records[1]", "f3", "f4"]
    assert trail.records == 4


class FakeCloudTrail:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def lookup_events(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        n = len(self.calls)
        events = [{"CloudTrailEvent": json.dumps(rec("CreateRole", "iam.amazonaws.com", f"e{n}",
                                                     requestParameters={"roleName": "r"}))}]
        return {"Events": events, **({"NextToken": f"t{n}"} if n < 3 else {})}


def test_lookup_paginates_at_two_requests_per_second() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    fake = FakeCloudTrail()
    trail = Trail()
    read_lookup(trail, client=fake, limiter=RateLimiter(2.0, clock=lambda: now[0], sleep=sleep))
    assert [c.get("NextToken") for c in fake.calls] == [None, "t1", "t2"]
    assert fake.calls[0]["LookupAttributes"] == [{"AttributeKey": "ReadOnly", "AttributeValue": "false"}]
    assert slept == [0.5, 0.5]
    assert [e.event_id for e in trail.finish().events] == ["e1", "e2", "e3"]
