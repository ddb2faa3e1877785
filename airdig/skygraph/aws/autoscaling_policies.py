"""Auto Scaling policies (own scope ``autoscaling-policies/<region>``, so a denied call never drops the
groups). Edges: group ``contains`` its policies; the CloudWatch alarms that trigger a policy reach it from
the alarm side (``cloudwatch`` scope). The alarm list on a policy is kept (a re-wired alarm is a change)."""

from __future__ import annotations

from typing import Any

from airdig.skygraph.aws.common import Clients, Where, each, node, paginate, without
from airdig.skygraph.aws.spec import E, KindSpec
from airdig.skygraph.graph import Fragment

POLICY = "aws.autoscaling.policy"
SPECS = (KindSpec(POLICY, ("autoscaling:DescribePolicies",), E("aws.autoscaling.group", "contains", POLICY),
                  natives="policy name"),)


def get_autoscaling_policies(clients: Clients, where: Where) -> dict[str, Any]:
    asg = clients.client("autoscaling", where.region)
    return {"ScalingPolicies": paginate(asg, "describe_policies", "ScalingPolicies")}


def transform_autoscaling_policies(raw: dict[str, Any], where: Where, scope: str) -> Fragment:
    f = Fragment(scope)
    for p in each(raw.get("ScalingPolicies")):
        arn = p["PolicyARN"]
        attrs = without(p)
        attrs["Alarms"] = sorted(a.get("AlarmName", "") for a in each(p.get("Alarms")))
        f.add(node(POLICY, arn, where, p.get("PolicyName", arn), attrs, {}, [p.get("PolicyName")]))
        f.link(p.get("AutoScalingGroupName"), "contains", arn)
    return f
