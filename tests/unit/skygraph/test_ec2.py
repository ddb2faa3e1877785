"""EC2 transform on recorded-shape DescribeSecurityGroups / DescribeInstances literals."""

from __future__ import annotations

from pathlib import Path

import orjson

from airdig.skygraph.aws.common import Where
from airdig.skygraph.aws.ec2 import transform_ec2
from airdig.skygraph.graph import resolve

W = Where("123456789012", "us-east-1")
DATA = Path(__file__).resolve().parents[2] / "data" / "skygraph" / "aws"


def _sg(group: str, rules: list[dict[str, object]]) -> dict[str, object]:
    return {"GroupId": group, "GroupName": group, "Description": "d", "VpcId": "vpc-1", "OwnerId": W.account,
            "IpPermissions": rules, "IpPermissionsEgress": [], "Tags": [{"Key": "team", "Value": "core"}]}


def test_security_group_rules_naming_groups_become_edges_and_rule_order_is_irrelevant() -> None:
    r1 = {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [],
          "UserIdGroupPairs": [{"GroupId": "sg-web", "UserId": W.account}]}
    r2 = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "UserIdGroupPairs": [],
          "IpRanges": [{"CidrIp": "10.0.0.0/8"}, {"CidrIp": "192.168.0.0/16"}]}
    raw = {"Vpcs": [{"VpcId": "vpc-1", "CidrBlock": "10.0.0.0/16"}],
           "SecurityGroups": [_sg("sg-db", [r1, r2]), _sg("sg-web", [])]}
    g = resolve([transform_ec2(raw, W, "ec2/us-east-1")])
    arn = W.arn("aws.ec2.security-group", "sg-db")
    assert {e.key for e in g.edges()} == {
        (W.arn("aws.ec2.vpc", "vpc-1"), "contains", arn),
        (W.arn("aws.ec2.vpc", "vpc-1"), "contains", W.arn("aws.ec2.security-group", "sg-web")),
        (arn, "network", W.arn("aws.ec2.security-group", "sg-web")),
    }
    reordered = {**raw, "SecurityGroups": [_sg("sg-db", [{**r2, "IpRanges": r2["IpRanges"][::-1]}, r1]),  # type: ignore[index]
                                           _sg("sg-web", [])]}
    again = transform_ec2(reordered, W, "ec2/us-east-1")
    first = transform_ec2(raw, W, "ec2/us-east-1")
    assert [n.attrs for n in again.nodes] == [n.attrs for n in first.nodes]
    assert next(n for n in first.nodes if n.id == arn).tags == {"team": "core"}


def test_recorded_instance_edges_and_terminated_instances_are_gone() -> None:
    raw = orjson.loads((DATA / "ec2.json").read_bytes())
    frag = transform_ec2(raw, W, "ec2/us-east-1")
    inst = next(n for n in frag.nodes if n.kind == "aws.ec2.instance")
    assert inst.name == "prod-general"
    assert {"i-0a1b2c3d4e5f60718", "10.0.1.10", "ip-10-0-1-10.ec2.internal"} <= set(inst.native_ids)
    assert "NetworkInterfaces" not in inst.attrs and "Tags" not in inst.attrs
    refs = {(e.src, e.type, e.dst) for e in frag.edges}
    assert (inst.id, "depends_on", "vol-0e1d2c3b4a5968770") in refs
    assert ("sg-0a1b2c3d4e5f60003", "network", inst.id) in refs
    raw["Reservations"][0]["Instances"][0]["State"] = {"Code": 48, "Name": "terminated"}
    assert [n for n in transform_ec2(raw, W, "s").nodes if n.kind == "aws.ec2.instance"] == []
