"""Route 53 (global): hosted zones, their record sets, health checks.

Record sets have no ARN; their id is the documented zone ARN extended with the record's name, type and
set identifier: ``arn:aws:route53:::hostedzone/<zone-id>/recordset/<name>/<type>[/<set-id>]``.
Edges: zone ``contains`` its records; a private zone ``depends_on`` its VPCs; an alias record
``depends_on`` its target (load balancer, CloudFront distribution, API, bucket website — found by DNS
name), an A/AAAA/CNAME record ``depends_on`` the node holding the address or name when exactly one does
(Elastic IP, instance, ENI; an IP held by an instance *and* its ENI is ambiguous and stays unlinked);
a record ``depends_on`` its health check.
"""

from __future__ import annotations

from typing import Any

from airdig.skygraph.aws.common import Clients, Where, each, jsonable, node, paginate, tag_list, without
from airdig.skygraph.aws.spec import E, KindSpec
from airdig.skygraph.graph import Fragment

ZONE, RECORD, CHECK = "aws.route53.hosted-zone", "aws.route53.record-set", "aws.route53.health-check"
SPECS = (
    KindSpec(ZONE, ("route53:ListHostedZones", "route53:GetHostedZone", "route53:ListTagsForResource"),
             E(ZONE, "contains", RECORD) + E(ZONE, "depends_on", "aws.ec2.vpc"),
             "arn:aws:route53:::hostedzone/<zone-id>", "zone id, zone name"),
    KindSpec(RECORD, ("route53:ListResourceRecordSets",),
             E(RECORD, "depends_on", "aws.elbv2.load-balancer", "aws.elb.load-balancer",
               "aws.cloudfront.distribution", "aws.ec2.elastic-ip", "aws.ec2.instance", CHECK),
             "arn:aws:route53:::hostedzone/<zone-id>/recordset/<name>/<type>[/<set-id>]"),
    KindSpec(CHECK, ("route53:ListHealthChecks",), (), "arn:aws:route53:::healthcheck/<id>", "health check id"),
)


def get_route53(clients: Clients, where: Where) -> dict[str, Any]:
    r53 = clients.client("route53", "us-east-1")
    zones = paginate(r53, "list_hosted_zones", "HostedZones")
    for z in zones:
        zid = z["Id"].rsplit("/", 1)[-1]
        z["VPCs"] = jsonable(r53.get_hosted_zone(Id=zid).get("VPCs", []))
        z["Tags"] = jsonable(r53.list_tags_for_resource(ResourceType="hostedzone", ResourceId=zid)
                             .get("ResourceTagSet", {}).get("Tags", []))
        z["RecordSets"] = paginate(r53, "list_resource_record_sets", "ResourceRecordSets", HostedZoneId=zid)
    checks = paginate(r53, "list_health_checks", "HealthChecks")
    return {"HostedZones": zones, "HealthChecks": checks}


def dns_ref(name: str | None) -> str | None:
    """A DNS name as other nodes index it: no trailing dot, lower case, no ``dualstack.`` prefix."""
    if not name:
        return None
    n = name.rstrip(".").lower()
    return n.removeprefix("dualstack.")


def transform_route53(raw: dict[str, Any], where: Where, scope: str) -> Fragment:
    f = Fragment(scope)
    p = where.partition
    for z in each(raw.get("HostedZones")):
        zid = z["Id"].rsplit("/", 1)[-1]
        zarn = f"arn:{p}:route53:::hostedzone/{zid}"
        attrs = without(z, "Tags", "RecordSets", "ResourceRecordSetCount")
        f.add(node(ZONE, zarn, where, z.get("Name", zid).rstrip("."), attrs, tag_list(z.get("Tags")),
                   [zid, z.get("Name")], region=""))
        for v in each(z.get("VPCs")):
            f.link(zarn, "depends_on", v.get("VPCId"))
        for r in each(z.get("RecordSets")):
            name = str(r.get("Name", "")).rstrip(".")
            rid = f"{zarn}/recordset/{name}/{r.get('Type')}"
            if r.get("SetIdentifier"):
                rid += f"/{r['SetIdentifier']}"
            f.add(node(RECORD, rid, where, f"{name} {r.get('Type')}", dict(r), {}, [], region=""))
            f.link(zarn, "contains", rid)
            f.link(rid, "depends_on", dns_ref((r.get("AliasTarget") or {}).get("DNSName")))
            f.link(rid, "depends_on", r.get("HealthCheckId"))
            if r.get("Type") in ("A", "AAAA", "CNAME"):
                for v in each(r.get("ResourceRecords")):
                    value = str(v.get("Value") or "")
                    f.link(rid, "depends_on", dns_ref(value) if r.get("Type") == "CNAME" else value)
    for c in each(raw.get("HealthChecks")):
        cid = c["Id"]
        f.add(node(CHECK, f"arn:{p}:route53:::healthcheck/{cid}", where, cid,
                   without(c, "HealthCheckVersion"), {}, [cid], region=""))
    return f
