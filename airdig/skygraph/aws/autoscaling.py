"""Auto Scaling groups: ASG ``contains`` its instances, ``depends_on`` its launch template, subnets
``network`` → the ASG."""

from __future__ import annotations

from typing import Any

from airdig.skygraph.aws.common import Clients, Where, each, node, paginate, tag_list, without
from airdig.skygraph.graph import Fragment


def get_autoscaling(clients: Clients, where: Where) -> dict[str, Any]:
    asg = clients.client("autoscaling", where.region)
    return {"AutoScalingGroups": paginate(asg, "describe_auto_scaling_groups", "AutoScalingGroups")}


def transform_autoscaling(raw: dict[str, Any], where: Where, scope: str) -> Fragment:
    f = Fragment(scope)
    for g in each(raw.get("AutoScalingGroups")):
        name = g["AutoScalingGroupName"]
        gid = g.get("AutoScalingGroupARN") or f"arn:{where.partition}:autoscaling:{where.region}:{where.account}:autoScalingGroup:*:autoScalingGroupName/{name}"
        attrs = without(g, "Tags")
        # membership is an edge; lifecycle/health of each member would make every scan an update
        attrs["Instances"] = sorted(i["InstanceId"] for i in each(g.get("Instances")))
        f.add(node("aws.autoscaling.group", gid, where, name, attrs, tag_list(g.get("Tags")), [name]))
        for i in each(g.get("Instances")):
            f.link(gid, "contains", i.get("InstanceId"))
        lt = g.get("LaunchTemplate") or (g.get("MixedInstancesPolicy") or {}).get(
            "LaunchTemplate", {}).get("LaunchTemplateSpecification") or {}
        f.link(gid, "depends_on", lt.get("LaunchTemplateId") or lt.get("LaunchTemplateName"))
        for subnet in (g.get("VPCZoneIdentifier") or "").split(","):
            f.link(subnet.strip(), "network", gid)
    return f
