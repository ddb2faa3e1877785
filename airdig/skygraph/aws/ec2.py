"""EC2 and VPC: VPCs, subnets, route tables and their routes, gateways, security groups, ENIs,
instances, volumes, launch templates.

Edges: VPC contains subnet / route table / gateway / security group; subnet and security group
``network`` → instance, ENI; a security group rule that names another group → ``network`` edge from the
group holding the rule to the group it names (a change to the rule reaches that group's members);
route table ``network`` → associated subnet, ``contains`` → each route (``aws.ec2.route``, id
``<route table ARN>/route/<destination>``) and ``depends_on`` → its gateways; a route ``depends_on`` →
its target (IGW, NAT, Transit Gateway, peering, ENI, instance, VPC endpoint…); instance ``depends_on``
its volumes, ENIs and instance profile; volume ``depends_on`` its KMS key.
"""

from __future__ import annotations

from typing import Any

import orjson

from airdig.skygraph.aws.common import Clients, Where, each, name_tag, node, paginate, tag_list, without
from airdig.skygraph.graph import Fragment

_CALLS = (
    ("describe_vpcs", "Vpcs"),
    ("describe_subnets", "Subnets"),
    ("describe_route_tables", "RouteTables"),
    ("describe_internet_gateways", "InternetGateways"),
    ("describe_nat_gateways", "NatGateways"),
    ("describe_security_groups", "SecurityGroups"),
    ("describe_network_interfaces", "NetworkInterfaces"),
    ("describe_instances", "Reservations"),
    ("describe_volumes", "Volumes"),
    ("describe_launch_templates", "LaunchTemplates"),
)


_ROUTE_DESTINATIONS = ("DestinationCidrBlock", "DestinationIpv6CidrBlock", "DestinationPrefixListId")
_ROUTE_TARGETS = ("GatewayId", "NatGatewayId", "NetworkInterfaceId", "InstanceId", "VpcPeeringConnectionId",
                  "TransitGatewayId", "EgressOnlyInternetGatewayId", "CarrierGatewayId", "LocalGatewayId",
                  "CoreNetworkArn")


def get_ec2(clients: Clients, where: Where) -> dict[str, Any]:
    ec2 = clients.client("ec2", where.region)
    return {key: paginate(ec2, op, key) for op, key in _CALLS}


def _sorted_rules(rules: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Rules in a stable order (the API's order is not), so a re-scan reports no phantom change."""
    out = []
    for r in rules or []:
        r = {k: (sorted(v, key=orjson.dumps) if isinstance(v, list) else v) for k, v in r.items()}
        out.append(r)
    return sorted(out, key=lambda r: orjson.dumps(r, option=orjson.OPT_SORT_KEYS))


def transform_ec2(raw: dict[str, Any], where: Where, scope: str) -> Fragment:
    f = Fragment(scope)
    for v in each(raw.get("Vpcs")):
        tags = tag_list(v.get("Tags"))
        vid = where.arn("aws.ec2.vpc", v["VpcId"])
        f.add(node("aws.ec2.vpc", vid, where, name_tag(tags, v["VpcId"]), without(v, "Tags"), tags,
                   [v["VpcId"]]))
    for s in each(raw.get("Subnets")):
        tags = tag_list(s.get("Tags"))
        sid = s.get("SubnetArn") or where.arn("aws.ec2.subnet", s["SubnetId"])
        f.add(node("aws.ec2.subnet", sid, where, name_tag(tags, s["SubnetId"]),
                   without(s, "Tags", "AvailableIpAddressCount"), tags, [s["SubnetId"]]))
        f.link(s.get("VpcId"), "contains", sid)
    for rt in each(raw.get("RouteTables")):
        tags = tag_list(rt.get("Tags"))
        rid = where.arn("aws.ec2.route-table", rt["RouteTableId"])
        f.add(node("aws.ec2.route-table", rid, where, name_tag(tags, rt["RouteTableId"]), without(rt, "Tags"),
                   tags, [rt["RouteTableId"]]))
        f.link(rt.get("VpcId"), "contains", rid)
        for assoc in each(rt.get("Associations")):
            f.link(rid, "network", assoc.get("SubnetId"))
        for route in each(rt.get("Routes")):
            dest = next((route[k] for k in _ROUTE_DESTINATIONS if route.get(k)), None)
            # a route is its own node too (what a change to one route reaches), named by its destination
            route_id = f"{rid}/route/{dest}" if dest else None
            if route_id:
                f.add(node("aws.ec2.route", route_id, where, f"{rt['RouteTableId']} {dest}", dict(route)))
                f.link(rid, "contains", route_id)
            for key in _ROUTE_TARGETS:
                gw = route.get(key)
                if gw and gw != "local":
                    f.link(rid, "depends_on", gw)  # kept: walks from a subnet reach its gateways in one hop
                    f.link(route_id, "depends_on", gw)
    for igw in each(raw.get("InternetGateways")):
        tags = tag_list(igw.get("Tags"))
        gid = where.arn("aws.ec2.internet-gateway", igw["InternetGatewayId"])
        f.add(node("aws.ec2.internet-gateway", gid, where, name_tag(tags, igw["InternetGatewayId"]),
                   without(igw, "Tags"), tags, [igw["InternetGatewayId"]]))
        for att in each(igw.get("Attachments")):
            f.link(att.get("VpcId"), "contains", gid)
    for nat in each(raw.get("NatGateways")):
        tags = tag_list(nat.get("Tags"))
        nid = where.arn("aws.ec2.nat-gateway", nat["NatGatewayId"])
        addrs = list(each(nat.get("NatGatewayAddresses")))
        f.add(node("aws.ec2.nat-gateway", nid, where, name_tag(tags, nat["NatGatewayId"]), without(nat, "Tags"),
                   tags, [nat["NatGatewayId"], *(a.get("PublicIp") for a in addrs)]))
        f.link(nat.get("SubnetId"), "contains", nid)
    for sg in each(raw.get("SecurityGroups")):
        tags = tag_list(sg.get("Tags"))
        gid = sg.get("SecurityGroupArn") or where.arn("aws.ec2.security-group", sg["GroupId"])
        attrs = without(sg, "Tags")
        attrs["IpPermissions"] = _sorted_rules(sg.get("IpPermissions"))
        attrs["IpPermissionsEgress"] = _sorted_rules(sg.get("IpPermissionsEgress"))
        f.add(node("aws.ec2.security-group", gid, where, sg.get("GroupName") or sg["GroupId"], attrs, tags,
                   [sg["GroupId"]]))
        f.link(sg.get("VpcId"), "contains", gid)
        for rule in (*attrs["IpPermissions"], *attrs["IpPermissionsEgress"]):
            for pair in each(rule.get("UserIdGroupPairs")):
                if pair.get("GroupId") != sg["GroupId"]:
                    f.link(gid, "network", pair.get("GroupId"))
    for eni in each(raw.get("NetworkInterfaces")):
        tags = tag_list(eni.get("TagSet") or eni.get("Tags"))
        eid = where.arn("aws.ec2.network-interface", eni["NetworkInterfaceId"])
        assoc = eni.get("Association") or {}
        f.add(node("aws.ec2.network-interface", eid, where, name_tag(tags, eni["NetworkInterfaceId"]),
                   without(eni, "TagSet", "Tags"), tags,
                   [eni["NetworkInterfaceId"], eni.get("PrivateIpAddress"), assoc.get("PublicIp")]))
        f.link(eni.get("SubnetId"), "network", eid)
        for g in each(eni.get("Groups")):
            f.link(g.get("GroupId"), "network", eid)
        f.link((eni.get("Attachment") or {}).get("InstanceId"), "depends_on", eid)
    for res in each(raw.get("Reservations")):
        for inst in each(res.get("Instances")):
            # EC2 lists terminated instances for about an hour; they are gone, not "changed"
            if (inst.get("State") or {}).get("Name") != "terminated":
                _instance(f, inst, where)
    for vol in each(raw.get("Volumes")):
        tags = tag_list(vol.get("Tags"))
        vid = where.arn("aws.ec2.volume", vol["VolumeId"])
        f.add(node("aws.ec2.volume", vid, where, name_tag(tags, vol["VolumeId"]), without(vol, "Tags"), tags,
                   [vol["VolumeId"]]))
        f.link(vid, "depends_on", vol.get("KmsKeyId"))
    for lt in each(raw.get("LaunchTemplates")):
        tags = tag_list(lt.get("Tags"))
        lid = where.arn("aws.ec2.launch-template", lt["LaunchTemplateId"])
        f.add(node("aws.ec2.launch-template", lid, where, lt.get("LaunchTemplateName") or lt["LaunchTemplateId"],
                   without(lt, "Tags"), tags, [lt["LaunchTemplateId"], lt.get("LaunchTemplateName")]))
    return f


def _instance(f: Fragment, inst: dict[str, Any], where: Where) -> None:
    tags = tag_list(inst.get("Tags"))
    iid = where.arn("aws.ec2.instance", inst["InstanceId"])
    natives = [inst["InstanceId"], inst.get("PrivateIpAddress"), inst.get("PublicIpAddress"),
               inst.get("PrivateDnsName"), inst.get("PublicDnsName")]
    f.add(node("aws.ec2.instance", iid, where, name_tag(tags, inst["InstanceId"]),
               without(inst, "Tags", "NetworkInterfaces"), tags, natives))
    f.link(inst.get("SubnetId"), "network", iid)
    for g in each(inst.get("SecurityGroups")):
        f.link(g.get("GroupId"), "network", iid)
    f.link(iid, "depends_on", (inst.get("IamInstanceProfile") or {}).get("Arn"))
    for bdm in each(inst.get("BlockDeviceMappings")):
        f.link(iid, "depends_on", (bdm.get("Ebs") or {}).get("VolumeId"))
