from __future__ import annotations

from typing import Any

import pytest

from airdig.deepdrift.attribute import TrailIndex, attribute, last_writer
from airdig.deepdrift.cloudtrail import parse_record
from airdig.deepdrift.remediation import import_command, remediation
from airdig.deepdrift.severity import rule_severity, severity


def ev(eid: str, name: str, when: str, params: dict[str, Any], ua: str = "aws-cli/2",
       response: dict[str, Any] | None = None) -> Any:
    e = parse_record({"eventID": eid, "eventName": name, "eventSource": "ec2.amazonaws.com", "eventTime": when,
                      "userIdentity": {"type": "IAMUser", "userName": "u"}, "userAgent": ua,
                      "requestParameters": params, "responseElements": response}, "t")
    assert e is not None
    return e


def test_each_path_names_the_latest_write_that_touched_it() -> None:
    events = [
        ev("1", "RunInstances", "2025-01-01T00:00:00Z", {"instanceType": "t3.micro"},
           ua="HashiCorp/1.0 Terraform/1.7", response={"instancesSet": {"items": [{"instanceId": "i-1"}]}}),
        ev("2", "StopInstances", "2025-01-02T00:00:00Z", {"instancesSet": {"items": [{"instanceId": "i-1"}]}}),
        ev("3", "ModifyInstanceAttribute", "2025-01-02T00:01:00Z",
           {"instanceId": "i-1", "instanceType": {"value": "t3.large"}}),
        ev("4", "StartInstances", "2025-01-02T00:02:00Z", {"instancesSet": {"items": [{"instanceId": "i-1"}]}}),
        ev("5", "CreateTags", "2025-01-02T00:03:00Z", {"resourcesSet": {"items": [{"resourceId": "i-1"}]},
                                                      "tagSet": {"items": [{"key": "Name", "value": "x"}]}}),
        ev("6", "ModifyInstanceAttribute", "2025-01-03T00:00:00Z", {"instanceId": "i-9", "instanceType": {"value": "m5"}}),
    ]
    writes = TrailIndex(events).writes("aws.ec2.instance", ["i-1"])
    assert [w.event.event_id for w in writes] == ["1", "2", "3", "4", "5"]
    assert last_writer("instance_type", writes).event_id == "3"  # type: ignore[union-attr]
    assert last_writer("tags.Name", writes).event_id == "5"  # type: ignore[union-attr]
    # a tag write on another key never explains tags.Env: the creation set it
    assert last_writer("tags.Env", writes).event_id == "1"  # type: ignore[union-attr]
    # before the modify, the creation set the type; stop/start touch no configuration
    assert last_writer("instance_type", writes, before=events[2].ts - 1).event_id == "1"  # type: ignore[union-attr]
    diffs: list[dict[str, object]] = [{"path": "instance_type", "expected": "t3.micro", "actual": "t3.large"},
                                      {"path": "tags.Name", "expected": "a", "actual": "x"}]
    found = attribute("changed", "aws_instance", diffs, writes)
    assert [e.event_id if e else None for e in found.per_path] == ["3", "5"]
    assert found.cause is not None and found.cause.event_id == "3"  # medium beats the low tag change
    assert [e.event_id for e in found.related] == ["5"]
    assert attribute("missing", "aws_instance", [], writes).cause is None  # no delete on record
    assert attribute("unmanaged", "aws_instance", [], writes).cause.event_id == "1"  # type: ignore[union-attr]


@pytest.mark.parametrize(("rule", "level"), [
    ("tcp 22-22 0.0.0.0/0", "critical"), ("tcp 5432-5432 ::/0", "critical"), ("all 0-0 0.0.0.0/0", "critical"),
    ("tcp 443-443 0.0.0.0/0", "high"), ("tcp 22-22 10.0.0.0/8", "medium"), ("tcp 0-65535 0.0.0.0/0", "critical"),
])
def test_rule_severity(rule: str, level: str) -> None:
    assert rule_severity(rule) == level


def test_severity_levels() -> None:
    assert severity("changed", "aws_instance", [{"path": "tags.Owner", "expected": "a", "actual": "b"}]) == "low"
    assert severity("changed", "aws_instance", [{"path": "instance_type", "expected": "a", "actual": "b"}]) == "medium"
    assert severity("changed", "aws_kms_key", [{"path": "is_enabled", "expected": True, "actual": False}]) == "critical"
    assert severity("changed", "aws_iam_role_policy", [{"path": "policy.Statement", "expected": [],
                                                        "actual": [{"Action": ["*"], "Resource": ["*"]}]}]) == "critical"
    assert severity("missing", "aws_s3_bucket", []) == "high"
    assert severity("missing", "aws_db_instance", []) == "critical"
    assert severity("unmanaged", "aws_iam_role", []) == "high"
    assert severity("unmanaged", "aws_sqs_queue", []) == "medium"
    assert severity("changed", "aws_instance", [{"path": "tags.A", "expected": "a", "actual": "b"}],
                    blast_radius=25) == "medium"


def test_remediation_import_ids_per_type() -> None:
    assert import_command("aws_db_instance", {"id": "db-ABC", "identifier": "appdb"}, "appdb") == \
        "terraform import aws_db_instance.appdb appdb"
    assert import_command("aws_iam_role_policy_attachment", {"role": "r", "policy_arn": "arn:aws:iam::aws:policy/X"},
                          "r") == "terraform import aws_iam_role_policy_attachment.r r/arn:aws:iam::aws:policy/X"
    assert import_command("aws_sqs_queue", {"id": "https://q/1/jobs"}, "1jobs").endswith("aws_sqs_queue.r_1jobs https://q/1/jobs")
    rem = remediation("changed", "aws_subnet", "aws_subnet.a", "low", [{"path": "tags.T", "expected": "a", "actual": "b"}])
    assert rem["action"] == "adopt" and rem["adopt"] == {"tags.T": "b"}
    assert remediation("changed", "aws_subnet", "aws_subnet.a", "high", [])["action"] == "revert"
