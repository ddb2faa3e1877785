from __future__ import annotations

from typing import Any

import pytest

from airdig.deepdrift.attribute import TrailIndex, explain, resource_keys
from airdig.deepdrift.cloudtrail import parse_record
from airdig.deepdrift.remediation import import_command, remediation
from airdig.deepdrift.severity import rule_severity, severity


def ev(eid: str, name: str, when: str, params: dict[str, Any], ua: str = "aws-cli/2") -> Any:
    e = parse_record({"eventID": eid, "eventName": name, "eventSource": "ec2.amazonaws.com", "eventTime": when,
                      "userIdentity": {"type": "IAMUser", "userName": "u"}, "userAgent": ua,
                      "requestParameters": params}, "t")
    assert e is not None
    return e


def test_cause_is_the_latest_fitting_call_outside_terraform() -> None:
    events = [
        ev("1", "RunInstances", "2025-01-01T00:00:00Z", {"instanceId": "i-1"}, ua="HashiCorp/1.0 Terraform/1.7"),
        ev("2", "StopInstances", "2025-01-02T00:00:00Z", {"instancesSet": {"items": [{"instanceId": "i-1"}]}}),
        ev("3", "ModifyInstanceAttribute", "2025-01-02T00:01:00Z", {"instanceId": "i-1"}),
        ev("4", "StartInstances", "2025-01-02T00:02:00Z", {"instancesSet": {"items": [{"instanceId": "i-1"}]}}),
        ev("5", "CreateTags", "2025-01-02T00:03:00Z", {"resourcesSet": {"items": [{"resourceId": "i-1"}]}}),
        ev("6", "ModifyInstanceAttribute", "2025-01-03T00:00:00Z", {"instanceId": "i-9"}),
    ]
    index = TrailIndex(events)
    touching = index.touching(resource_keys("ec2", ["i-1"]))
    assert [e.event_id for e in touching] == ["1", "2", "3", "4", "5"]
    assert explain("changed", ["instance_type"], touching)[0].event_id == "3"
    assert explain("changed", ["tags.Name"], touching)[0].event_id == "5"
    assert explain("changed", ["instance_type"], touching, before=events[1].ts)[0].event_id == "2"
    assert explain("missing", [], []) == []


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
