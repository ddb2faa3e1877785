"""ALB listener rules (the default action is on the listener, ``elbv2`` scope).

Read as their own scope (``elbv2-rules/<region>``): an ALB with many listeners costs one call per
listener, and a failure there must not drop the load balancers. Edges: listener ``contains`` rule, rule
``depends_on`` the target groups it forwards to.
"""

from __future__ import annotations

from typing import Any

from airdig.skygraph.aws.common import Clients, Where, each, jsonable, node, paginate, without
from airdig.skygraph.aws.elbv2 import _forward_targets
from airdig.skygraph.aws.spec import E, KindSpec
from airdig.skygraph.graph import Fragment

RULE = "aws.elbv2.listener-rule"
SPECS = (KindSpec(RULE, ("elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeListeners",
                         "elasticloadbalancing:DescribeRules"),
                  E("aws.elbv2.listener", "contains", RULE) + E(RULE, "depends_on", "aws.elbv2.target-group")),)


def get_elbv2_rules(clients: Clients, where: Where) -> dict[str, Any]:
    elb = clients.client("elbv2", where.region)
    rules: list[Any] = []
    for lb in paginate(elb, "describe_load_balancers", "LoadBalancers"):
        if lb.get("Type") != "application":
            continue  # NLB/GWLB listeners have no rules
        for ls in paginate(elb, "describe_listeners", "Listeners", LoadBalancerArn=lb["LoadBalancerArn"]):
            for r in elb.describe_rules(ListenerArn=ls["ListenerArn"]).get("Rules", []):
                rules.append({**r, "ListenerArn": ls["ListenerArn"]})
    return {"Rules": jsonable(rules)}


def transform_elbv2_rules(raw: dict[str, Any], where: Where, scope: str) -> Fragment:
    f = Fragment(scope)
    for r in each(raw.get("Rules")):
        if r.get("IsDefault"):
            continue  # the default rule is the listener's default action
        arn = r["RuleArn"]
        f.add(node(RULE, arn, where, f"priority {r.get('Priority')}", without(r), {}, []))
        f.link(r.get("ListenerArn"), "contains", arn)
        for tg in _forward_targets(r.get("Actions")):
            f.link(arn, "depends_on", tg)
    return f
