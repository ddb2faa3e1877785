"""Plan-aware drift: what a pending apply is making is ``pending``, not drift.

``tests/data/deepdrift/plan.json`` follows Terraform's documented JSON plan format (``terraform show -json``):
an update of the instance type (already applied to the cloud), a security-group rule being added, an
update whose live value is NOT the planned one, a delete, a create and a no-op.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from airdig.deepdrift.detect import compute
from airdig.deepdrift.mapping import Ctx
from airdig.deepdrift.plan import load_plan, parse_plan
from airdig.deepdrift.report import to_table
from airdig.deepdrift.tfstate import parse_state
from airdig.errors import InvalidInput

PLAN = Path(__file__).resolve().parents[2] / "data" / "deepdrift" / "plan.json"
CTX = Ctx(region="us-east-1", account="111122223333")
Q = "https://sqs.us-east-1.amazonaws.com/111122223333/jobs"


def _res(t: str, n: str, a: dict[str, Any]) -> dict[str, Any]:
    return {"mode": "managed", "type": t, "name": n, "instances": [{"attributes": a}]}


STATE = orjson.dumps({"version": 4, "resources": [
    _res("aws_instance", "web", {"id": "i-0123456789abcdef0", "instance_type": "t3.micro", "ami": "ami-0abc",
                                 "subnet_id": "subnet-1", "tags": {"Name": "web", "Owner": "platform"}}),
    _res("aws_security_group", "web", {"id": "sg-0aaa", "name": "web", "description": "web", "vpc_id": "vpc-1",
                                       "ingress": [{"protocol": "tcp", "from_port": 8080, "to_port": 8080,
                                                    "cidr_blocks": ["10.0.0.0/16"]}], "egress": []}),
    _res("aws_sqs_queue", "jobs", {"id": Q, "name": "jobs", "delay_seconds": 0}),
    _res("aws_s3_bucket", "old", {"id": "acme-old-logs", "bucket": "acme-old-logs"}),
    _res("aws_s3_bucket", "kept", {"id": "acme-kept", "bucket": "acme-kept"})]})

LIVE: dict[str, list[dict[str, Any]]] = {
    "ec2.instances": [{"InstanceId": "i-0123456789abcdef0", "InstanceType": "t3.large", "ImageId": "ami-0abc",
                       "SubnetId": "subnet-1", "OwnerId": "111122223333",
                       "Tags": [{"Key": "Name", "Value": "web"}, {"Key": "Owner", "Value": "mallory"}]}],
    "ec2.security_groups": [{"GroupId": "sg-0aaa", "GroupName": "web", "Description": "web", "VpcId": "vpc-1",
                             "IpPermissions": [
                                 {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080,
                                  "IpRanges": [{"CidrIp": "10.0.0.0/16"}]},
                                 {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
                                  "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "https"}]}],
                             "IpPermissionsEgress": []}],
    "sqs.queues": [{"QueueUrl": Q, "Attributes": {"DelaySeconds": "9"}}],
    "s3.buckets": [{"Name": "acme-kept", "TagSet": []}, {"Name": "acme-new-assets", "TagSet": []}],
}


def _run(with_plan: bool) -> Any:
    plan = load_plan(str(PLAN)) if with_plan else None
    return compute(parse_state(STATE, "prod.tfstate").resources, LIVE, {}, CTX, [], plan=plan)


def _summary(items: list[dict[str, Any]]) -> set[tuple[str, str, tuple[str, ...]]]:
    return {(d["kind"], d["terraform_address"] or d["native_id"], tuple(x["path"] for x in d["diffs"])) for d in items}


def test_without_a_plan_everything_is_drift() -> None:
    assert _summary(_run(False).drifts) == {
        ("changed", "aws_instance.web", ("instance_type", "tags.Owner")),
        ("changed", "aws_security_group.web", ("ingress",)),
        ("changed", "aws_sqs_queue.jobs", ("delay_seconds",)),
        ("missing", "aws_s3_bucket.old", ()),
        ("unmanaged", "acme-new-assets", ())}


def test_what_the_pending_apply_makes_is_pending() -> None:
    result = _run(True)
    # the tag nobody planned and the queue delay the plan sets to 5 (live is 9) stay drift
    assert _summary(result.drifts) == {("changed", "aws_instance.web", ("tags.Owner",)),
                                       ("changed", "aws_sqs_queue.jobs", ("delay_seconds",))}
    assert _summary(result.pending) == {
        ("changed", "aws_instance.web", ("instance_type",)),
        ("changed", "aws_security_group.web", ("ingress",)),
        ("missing", "aws_s3_bucket.old", ()),
        ("unmanaged", "aws_s3_bucket.new", ())}  # named by the address the plan creates it at
    actions = {p["terraform_address"]: p["actions"] for p in result.pending}
    assert actions == {"aws_instance.web": ["update"], "aws_security_group.web": ["update"],
                       "aws_s3_bucket.old": ["delete"], "aws_s3_bucket.new": ["create"]}
    assert result.coverage["pending"] == 4
    assert "pending (delete): aws_s3_bucket.old missing" in to_table(result)
    assert len({d["id"] for d in result.drifts + result.pending}) == 6  # split drifts keep distinct ids


def test_an_update_that_leaves_the_rules_alone_does_not_hide_rule_drift() -> None:
    doc = orjson.loads(PLAN.read_bytes())
    sg = next(rc for rc in doc["resource_changes"] if rc["address"] == "aws_security_group.web")["change"]
    sg["after"] = {**sg["before"], "tags": {"Owner": "net"}}  # only a tag is planned
    sg["after_unknown"] = {}
    result = compute(parse_state(STATE, "prod.tfstate").resources, LIVE, {}, CTX, [],
                     plan=parse_plan(orjson.dumps(doc), "plan.json"))
    assert ("changed", "aws_security_group.web", ("ingress",)) in _summary(result.drifts)


def test_only_pending_changes_mean_in_sync() -> None:
    live = {**LIVE, "ec2.instances": [{**LIVE["ec2.instances"][0], "Tags": [
        {"Key": "Name", "Value": "web"}, {"Key": "Owner", "Value": "platform"}]}],
            "sqs.queues": [{"QueueUrl": Q, "Attributes": {"DelaySeconds": "0"}}]}
    result = compute(parse_state(STATE, "prod.tfstate").resources, live, {}, CTX, [], plan=load_plan(str(PLAN)))
    assert result.drifts == [] and len(result.pending) == 4
    assert result.exit_code == 0


@pytest.mark.parametrize(("raw", "message"), [
    (b"{", "not valid JSON"),
    (b'{"version": 4, "resources": []}', "not a Terraform JSON plan"),
    (b'{"format_version": "1.0", "values": {}}', "not a plan"),
    (b'{"format_version": "1.2", "resource_changes": [{"address": "a.b", "type": "a", "change": {"actions": ["upsert"]}}]}',
     "change.actions"),
    (b'{"format_version": "1.2", "resource_changes": [{"address": "a.b", "type": "a", "change": {"actions": ["update"], "after": 3}}]}',
     "change.after must be an object"),
])
def test_bad_plans_are_rejected_precisely(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as err:
        parse_plan(raw, "plan.json")
    assert str(err.value).startswith("plan.json: ")
