"""How VPCs reach beyond themselves: VPC endpoints, peering connections, Transit Gateways with their
attachments and route tables, egress-only internet gateways, Elastic IPs.

Read as their own scope (``vpclinks/<region>``) so a denied Transit Gateway call never fails the core
``ec2`` scope. Route tables (``ec2`` scope) point at these through their routes (``depends_on``).
"""

from __future__ import annotations

from typing import Any

from airdig.skygraph.aws.common import (
    Clients,
    Where,
    each,
    jsonable,
    name_tag,
    node,
    paginate,
    tag_list,
    without,
)
from airdig.skygraph.aws.spec import E, KindSpec, arn_of
from airdig.skygraph.graph import Fragment

VPC, SUBNET, SG, RT = "aws.ec2.vpc", "aws.ec2.subnet", "aws.ec2.security-group", "aws.ec2.route-table"
ENDPOINT, PEERING = "aws.ec2.vpc-endpoint", "aws.ec2.vpc-peering-connection"
TGW, TGW_ATT, TGW_RT = "aws.ec2.transit-gateway", "aws.ec2.transit-gateway-attachment", "aws.ec2.transit-gateway-route-table"
EIGW, EIP = "aws.ec2.egress-only-internet-gateway", "aws.ec2.elastic-ip"

SPECS = (
    KindSpec(ENDPOINT, ("ec2:DescribeVpcEndpoints",),
             E(VPC, "contains", ENDPOINT) + E(SUBNET, "network", ENDPOINT) + E(SG, "network", ENDPOINT)
             + E(RT, "depends_on", ENDPOINT),
             "arn:aws:ec2:<region>:<account>:vpc-endpoint/<vpce-id>", "endpoint id, DNS names"),
    KindSpec(PEERING, ("ec2:DescribeVpcPeeringConnections",), E(PEERING, "network", VPC),
             "arn:aws:ec2:<region>:<account>:vpc-peering-connection/<pcx-id>", "peering connection id"),
    KindSpec(TGW, ("ec2:DescribeTransitGateways",), E(TGW, "contains", TGW_ATT, TGW_RT), "",
             "transit gateway id"),
    KindSpec(TGW_ATT, ("ec2:DescribeTransitGatewayAttachments",), E(TGW_ATT, "network", VPC),
             "arn:aws:ec2:<region>:<account>:transit-gateway-attachment/<tgw-attach-id>", "attachment id"),
    KindSpec(TGW_RT, ("ec2:DescribeTransitGatewayRouteTables",), (),
             "arn:aws:ec2:<region>:<account>:transit-gateway-route-table/<tgw-rtb-id>", "route table id"),
    KindSpec(EIGW, ("ec2:DescribeEgressOnlyInternetGateways",), E(VPC, "contains", EIGW),
             "arn:aws:ec2:<region>:<account>:egress-only-internet-gateway/<eigw-id>", "gateway id"),
    KindSpec(EIP, ("ec2:DescribeAddresses",), E(EIP, "network", "aws.ec2.instance", "aws.ec2.network-interface"),
             "arn:aws:ec2:<region>:<account>:elastic-ip/<eipalloc-id>", "allocation id, public IP"),
)

_CALLS = (
    ("describe_vpc_endpoints", "VpcEndpoints"),
    ("describe_vpc_peering_connections", "VpcPeeringConnections"),
    ("describe_transit_gateways", "TransitGateways"),
    ("describe_transit_gateway_attachments", "TransitGatewayAttachments"),
    ("describe_transit_gateway_route_tables", "TransitGatewayRouteTables"),
    ("describe_egress_only_internet_gateways", "EgressOnlyInternetGateways"),
)


def get_vpc_links(clients: Clients, where: Where) -> dict[str, Any]:
    ec2 = clients.client("ec2", where.region)
    out = {key: paginate(ec2, op, key) for op, key in _CALLS}
    out["Addresses"] = jsonable(ec2.describe_addresses().get("Addresses", []))  # not paginated
    return out


def _arn(where: Where, resource: str) -> str:
    return arn_of(where.partition, "ec2", where.region, where.account, resource)


def transform_vpc_links(raw: dict[str, Any], where: Where, scope: str) -> Fragment:
    f = Fragment(scope)
    for ep in each(raw.get("VpcEndpoints")):
        tags = tag_list(ep.get("Tags"))
        vid = ep["VpcEndpointId"]
        arn = _arn(where, f"vpc-endpoint/{vid}")
        dns = [d.get("DnsName") for d in each(ep.get("DnsEntries"))]
        f.add(node(ENDPOINT, arn, where, name_tag(tags, ep.get("ServiceName") or vid), without(ep, "Tags"), tags,
                   [vid, *dns]))
        f.link(ep.get("VpcId"), "contains", arn)
        for s in ep.get("SubnetIds") or []:
            f.link(s, "network", arn)
        for g in each(ep.get("Groups")):
            f.link(g.get("GroupId"), "network", arn)
        for rt in ep.get("RouteTableIds") or []:
            f.link(rt, "depends_on", arn)
    for p in each(raw.get("VpcPeeringConnections")):
        if (p.get("Status") or {}).get("Code") in ("deleted", "rejected", "failed", "expired"):
            continue  # listed for a while after they are gone, like terminated instances
        tags = tag_list(p.get("Tags"))
        pid = p["VpcPeeringConnectionId"]
        arn = _arn(where, f"vpc-peering-connection/{pid}")
        f.add(node(PEERING, arn, where, name_tag(tags, pid), without(p, "Tags", "Status"), tags, [pid]))
        for side in ("RequesterVpcInfo", "AccepterVpcInfo"):
            f.link(arn, "network", (p.get(side) or {}).get("VpcId"))
    for tgw in each(raw.get("TransitGateways")):
        tags = tag_list(tgw.get("Tags"))
        tid = tgw["TransitGatewayId"]
        arn = tgw.get("TransitGatewayArn") or _arn(where, f"transit-gateway/{tid}")
        f.add(node(TGW, arn, where, name_tag(tags, tid), without(tgw, "Tags"), tags, [tid]))
    for att in each(raw.get("TransitGatewayAttachments")):
        if att.get("State") in ("deleted", "deleting", "rejected", "failed"):
            continue
        tags = tag_list(att.get("Tags"))
        aid = att["TransitGatewayAttachmentId"]
        arn = _arn(where, f"transit-gateway-attachment/{aid}")
        f.add(node(TGW_ATT, arn, where, name_tag(tags, aid), without(att, "Tags", "Association"), tags, [aid]))
        f.link(att.get("TransitGatewayId"), "contains", arn)
        if att.get("ResourceType") == "vpc":
            f.link(arn, "network", att.get("ResourceId"))
    for rt in each(raw.get("TransitGatewayRouteTables")):
        tags = tag_list(rt.get("Tags"))
        rid = rt["TransitGatewayRouteTableId"]
        arn = _arn(where, f"transit-gateway-route-table/{rid}")
        f.add(node(TGW_RT, arn, where, name_tag(tags, rid), without(rt, "Tags"), tags, [rid]))
        f.link(rt.get("TransitGatewayId"), "contains", arn)
    for gw in each(raw.get("EgressOnlyInternetGateways")):
        tags = tag_list(gw.get("Tags"))
        gid = gw["EgressOnlyInternetGatewayId"]
        arn = _arn(where, f"egress-only-internet-gateway/{gid}")
        f.add(node(EIGW, arn, where, name_tag(tags, gid), without(gw, "Tags"), tags, [gid]))
        for att in each(gw.get("Attachments")):
            f.link(att.get("VpcId"), "contains", arn)
    for a in each(raw.get("Addresses")):
        tags = tag_list(a.get("Tags"))
        alloc = a.get("AllocationId") or a.get("PublicIp")
        if not alloc:
            continue
        arn = _arn(where, f"elastic-ip/{alloc}")
        f.add(node(EIP, arn, where, name_tag(tags, a.get("PublicIp") or alloc), without(a, "Tags"), tags,
                   [alloc, a.get("PublicIp")]))
        # an ENI-attached address names both; the ENI is the precise end
        f.link(arn, "network", a.get("NetworkInterfaceId") or a.get("InstanceId"))
    return f
