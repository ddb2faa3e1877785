"""The CloudTrail writes table: what each known write changes, read from literal request parameters."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from airdig.deepdrift.writes import (
    CREATED,
    DELETED,
    INDEX,
    TABLE,
    Target,
    describe,
    lookup,
    node_id,
    targets,
    touches,
)
from airdig.model.kinds import NODE_KINDS

DOCS = Path(__file__).resolve().parents[3] / "docs" / "deepdrift.md"
DATA = Path(__file__).resolve().parents[2] / "data" / "deepdrift"


@pytest.mark.parametrize(("source", "name", "params", "response", "expected"), [
    ("rds", "ModifyDBInstance", {"dBInstanceIdentifier": "appdb", "dBInstanceClass": "db.m5.large",
                                 "applyImmediately": True, "masterUserPassword": "x"}, None,
     [("aws.rds.instance", ("appdb",), ("instance_class", "password"))]),
    ("rds", "AddTagsToResource", {"resourceName": "arn:aws:rds:us-east-1:1:db:appdb",
                                  "tags": [{"key": "Env", "value": "prod"}]}, None,
     [("aws.rds.instance", ("arn:aws:rds:us-east-1:1:db:appdb", "appdb"), ("tags.Env",))]),
    ("ec2", "ModifyInstanceAttribute", {"instanceId": "i-1", "attribute": "instanceType", "value": "t3.large"},
     None, [("aws.ec2.instance", ("i-1",), ("instance_type",))]),
    ("ec2", "ModifyInstanceAttribute", {"instanceId": "i-1", "groupSet": {"items": [{"groupId": "sg-1"}]}}, None,
     [("aws.ec2.instance", ("i-1",), ("vpc_security_group_ids",))]),
    ("ec2", "RunInstances", {"instanceType": "t3.micro"}, {"instancesSet": {"items": [{"instanceId": "i-7"}]}},
     [("aws.ec2.instance", ("i-7",), (CREATED,))]),
    ("ec2", "AuthorizeSecurityGroupIngress", {"groupId": "sg-1", "ipPermissions": {"items": []}}, None,
     [("aws.ec2.security-group", ("sg-1",), ("ingress",))]),
    ("ec2", "DeleteTags", {"resourcesSet": {"items": [{"resourceId": "ami-1"}, {"resourceId": "rtb-1"}]},
                           "tagSet": {"items": [{"key": "Owner"}]}}, None,
     [("aws.ec2.route-table", ("rtb-1",), ("tags.Owner",))]),  # an AMI is no graph node
    ("ec2", "ReplaceRoute", {"routeTableId": "rtb-1", "destinationCidrBlock": "0.0.0.0/0",
                             "natGatewayId": "nat-1"}, None,
     [("aws.ec2.route-table", ("rtb-1",), ("route[0.0.0.0/0]",))]),
    ("lambda", "UpdateFunctionConfiguration20150331v2", {"functionName": "worker", "timeout": 10}, None,
     [("aws.lambda.function", ("worker",), ("timeout",))]),
    ("lambda", "UpdateFunctionCode20150331v2", {"functionName": "worker", "zipFile": "(sensitive)"}, None,
     [("aws.lambda.function", ("worker",), ("source_code_hash", "filename", "s3_bucket", "s3_key",
                                           "s3_object_version", "image_uri", "version", "publish"))]),
    ("lambda", "PutFunctionConcurrency20171031", {"functionName": "worker", "reservedConcurrentExecutions": 5},
     None, [("aws.lambda.function", ("worker",), ("reserved_concurrent_executions",))]),
    ("iam", "DetachRolePolicy", {"roleName": "app", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}, None,
     [("aws.iam.role", ("app",), ("managed_policy_arns[arn:aws:iam::aws:policy/ReadOnlyAccess]",))]),
    ("iam", "DeleteRolePolicy", {"roleName": "app", "policyName": "inline"}, None,
     [("aws.iam.role", ("app",), ("inline_policy[inline]",))]),
    ("s3", "PutBucketPolicy", {"bucketName": "b", "bucketPolicy": {}}, None,
     [("aws.s3.bucket", ("b",), ("policy",))]),
    ("s3", "PutBucketTagging", {"bucketName": "b", "Tagging": {"TagSet": {"Tag": {"Key": "Env", "Value": "x"}}}},
     None, [("aws.s3.bucket", ("b",), ("tags.Env",))]),
    ("elasticloadbalancing", "DeregisterTargets", {
        "targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web/abc",
        "targets": [{"id": "i-1", "port": 80}]}, None,
     [("aws.elbv2.target-group", ("arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web/abc", "abc"),
       ("targets[i-1]",))]),
    ("elasticloadbalancing", "AddTags", {"resourceArns": ["arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/web/1"],
                                         "tags": [{"key": "Env", "value": "x"}]}, None,
     [("aws.elbv2.load-balancer", ("arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/web/1", "1"),
       ("tags.Env",))]),
    ("autoscaling", "SetDesiredCapacity", {"autoScalingGroupName": "web", "desiredCapacity": 4}, None,
     [("aws.autoscaling.group", ("web",), ("desired_capacity",))]),
    ("autoscaling", "UpdateAutoScalingGroup", {"autoScalingGroupName": "web", "maxSize": 9, "minSize": 1}, None,
     [("aws.autoscaling.group", ("web",), ("min_size", "max_size"))]),
    ("dynamodb", "UpdateTable", {"tableName": "orders", "billingMode": "PROVISIONED",
                                 "provisionedThroughput": {"readCapacityUnits": 5, "writeCapacityUnits": 5}}, None,
     [("aws.dynamodb.table", ("orders",), ("billing_mode", "read_capacity", "write_capacity"))]),
    ("dynamodb", "TagResource", {"resourceArn": "arn:aws:dynamodb:us-east-1:1:table/orders",
                                 "tags": [{"key": "Env", "value": "x"}]}, None,
     [("aws.dynamodb.table", ("arn:aws:dynamodb:us-east-1:1:table/orders", "orders"), ("tags.Env",))]),
    ("kms", "DisableKey", {"keyId": "k-1"}, None, [("aws.kms.key", ("k-1",), ("is_enabled",))]),
    ("ec2", "ModifyVolume", {"ModifyVolumeRequest": {"VolumeId": "vol-1", "Size": 200}}, None,
     [("aws.ec2.volume", ("vol-1",), ("size",))]),
    ("sns", "SetTopicAttributes", {"topicArn": "arn:aws:sns:us-east-1:1:alerts", "attributeName": "Policy",
                                   "attributeValue": "{}"}, None,
     [("aws.sns.topic", ("arn:aws:sns:us-east-1:1:alerts", "alerts"), ("attributes[Policy]",))]),
    ("eks", "UpdateNodegroupConfig", {"clusterName": "prod", "nodegroupName": "general",
                                      "scalingConfig": {"desiredSize": 5}}, None,
     [("aws.eks.nodegroup", ("general",), ("scaling_config",))]),
    ("kms", "ScheduleKeyDeletion", {"keyId": "k-1", "pendingWindowInDays": 7}, None,
     [("aws.kms.key", ("k-1",), (DELETED, "is_enabled"))]),
    ("sqs", "SetQueueAttributes", {"queueUrl": "https://sqs.us-east-1.amazonaws.com/1/jobs",
                                   "attributes": {"DelaySeconds": "5"}}, None,
     [("aws.sqs.queue", ("https://sqs.us-east-1.amazonaws.com/1/jobs", "jobs"), ("delay_seconds",))]),
])
def test_targets_from_request_parameters(source: str, name: str, params: dict[str, Any], response: Any,
                                         expected: list[tuple[str, tuple[str, ...], tuple[str, ...]]]) -> None:
    found = targets(source, name, params, response)
    assert found is not None
    assert [(t.kind, t.ids, t.attributes) for t in found] == expected


def test_unknown_names_are_none_and_ids_missing_is_empty() -> None:
    assert targets("ec2", "FrobnicateWidget", {"instanceId": "i-1"}, None) is None
    assert targets("kms", "CreateAlias", {"aliasName": "alias/x"}, None) == []  # no key named: nothing
    assert lookup("lambda", "UpdateFunctionConfiguration20150331v2") is INDEX[("lambda", "UpdateFunctionConfiguration")]
    assert lookup("lambda", "UpdateFunctionConfiguration") is not None


def test_touches_matches_whole_segments_only() -> None:
    assert touches("tags", "tags.Tier") and touches("tags.Tier", "tags.Tier")
    assert not touches("tags.Name", "tags.Tier") and not touches("tags.Ti", "tags.Tier")
    assert touches("ingress", "ingress[tcp 22-22 0.0.0.0/0]") and touches("managed_policy_arns[a]", "managed_policy_arns")
    assert touches("inline_policy[p]", "inline_policy[p].policy.Statement[0].Action")
    assert not touches("inline_policy[p]", "inline_policy[q].policy")
    assert touches(CREATED, "anything") and not touches(DELETED, "anything")


def test_node_ids_follow_the_documented_arn_formats() -> None:
    def nid(kind: str, *ids: str) -> str | None:
        return node_id(Target(kind, ids, ()), "eu-west-1", "123")

    assert nid("aws.ec2.instance", "i-1") == "arn:aws:ec2:eu-west-1:123:instance/i-1"
    assert nid("aws.iam.role", "app") == "arn:aws:iam::123:role/app"
    assert nid("aws.lambda.function", "arn:aws:lambda:eu-west-1:123:function:w", "w") == \
        "arn:aws:lambda:eu-west-1:123:function:w"
    assert nid("aws.sqs.queue", "https://sqs/123/jobs", "jobs") == "arn:aws:sqs:eu-west-1:123:jobs"
    assert nid("aws.autoscaling.group", "web") is None  # the ARN holds a UUID no request carries
    assert nid("aws.kms.key", "alias/app") is None


def test_table_is_consistent_and_documented() -> None:
    doc = DOCS.read_text()
    for row in TABLE:
        assert row.kind in NODE_KINDS or row.kind_by_id, row
        assert row.id or row.response_id, row
    missing = [line for line in describe() if line not in doc]
    assert not missing, "docs/deepdrift.md lacks these rows of the writes table:\n" + "\n".join(missing)


def test_every_write_in_the_recorded_fixture_is_known() -> None:
    ids = {"sg_id": "sg-0abc", "instance_id": "i-0abc", "subnet_a": "subnet-0a", "vpc_id": "vpc-0a"}
    raw = re.sub(r"\$\{(\w+)\}", lambda m: ids.get(m.group(1), m.group(1)),
                 (DATA / "cloudtrail_records.json").read_text())
    records = [r for recs in json.loads(raw).values() for r in recs]
    for r in records:
        if r.get("readOnly") or r.get("errorCode"):
            continue
        found = targets(r["eventSource"].split(".")[0], r["eventName"], r["requestParameters"],
                        r.get("responseElements"))
        assert found, f"{r['eventName']} maps to no node"
