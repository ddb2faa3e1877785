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


def test_routes_are_nodes_of_their_table_with_an_edge_to_their_target() -> None:
    raw = {"Vpcs": [{"VpcId": "vpc-1"}],
           "InternetGateways": [{"InternetGatewayId": "igw-1", "Attachments": [{"VpcId": "vpc-1"}]}],
           "NatGateways": [{"NatGatewayId": "nat-1", "SubnetId": "subnet-1"}],
           "RouteTables": [{"RouteTableId": "rtb-1", "VpcId": "vpc-1", "Associations": [], "Routes": [
               {"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "State": "active"},
               {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-1", "State": "active"},
               {"DestinationIpv6CidrBlock": "::/0", "NatGatewayId": "nat-1", "State": "active"},
               {"DestinationPrefixListId": "pl-1", "TransitGatewayId": "tgw-gone", "State": "blackhole"}]}]}
    g = resolve([transform_ec2(raw, W, "ec2/us-east-1")])
    rt = W.arn("aws.ec2.route-table", "rtb-1")
    routes = {n.id: n for n in g.nodes() if n.kind == "aws.ec2.route"}
    assert set(routes) == {f"{rt}/route/10.0.0.0/16", f"{rt}/route/0.0.0.0/0", f"{rt}/route/::/0", f"{rt}/route/pl-1"}
    default = routes[f"{rt}/route/0.0.0.0/0"]
    assert default.name == "rtb-1 0.0.0.0/0" and default.attrs["GatewayId"] == "igw-1" and default.native_ids == ()
    edges = {e.key for e in g.edges()}
    assert {(rt, "contains", r) for r in routes} <= edges
    assert (default.id, "depends_on", W.arn("aws.ec2.internet-gateway", "igw-1")) in edges
    assert (f"{rt}/route/::/0", "depends_on", W.arn("aws.ec2.nat-gateway", "nat-1")) in edges
    # the local route has no target; a target that is not known (a deleted TGW) draws nothing
    assert not [e for e in edges if e[0] in (f"{rt}/route/10.0.0.0/16", f"{rt}/route/pl-1") and e[1] == "depends_on"]
