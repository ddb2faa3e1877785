"""ELBv2: load balancers, listeners, target groups with their registered targets.

Edges: load balancer ``contains`` listener, listener ``depends_on`` the target groups it forwards to,
target group ``depends_on`` each registered target (instance, IP or Lambda), subnets and security
groups ``network`` → load balancer. The load balancer's DNS name is a native id, which is how a
Kubernetes LoadBalancer service finds it. Listener rules beyond the default action are not read.
"""

from __future__ import annotations

from typing import Any

from airdig.skygraph.aws.common import Clients, Where, each, jsonable, node, paginate, tag_list, without
from airdig.skygraph.graph import Fragment


def get_elbv2(clients: Clients, where: Where) -> dict[str, Any]:
    elb = clients.client("elbv2", where.region)
    lbs = paginate(elb, "describe_load_balancers", "LoadBalancers")
    listeners: list[Any] = []
    for lb in lbs:
        listeners.extend(paginate(elb, "describe_listeners", "Listeners", LoadBalancerArn=lb["LoadBalancerArn"]))
    tgs = paginate(elb, "describe_target_groups", "TargetGroups")
    health = {}
    for tg in tgs:
        resp = elb.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])
        health[tg["TargetGroupArn"]] = resp.get("TargetHealthDescriptions", [])
    arns = [lb["LoadBalancerArn"] for lb in lbs] + [tg["TargetGroupArn"] for tg in tgs]
    tags: dict[str, Any] = {}
    for i in range(0, len(arns), 20):  # DescribeTags takes at most 20 ARNs
        for d in elb.describe_tags(ResourceArns=arns[i:i + 20]).get("TagDescriptions", []):
            tags[d["ResourceArn"]] = d.get("Tags", [])
    return {"LoadBalancers": lbs, "Listeners": listeners, "TargetGroups": tgs,
            "TargetHealth": jsonable(health), "Tags": jsonable(tags)}


def _forward_targets(actions: list[dict[str, Any]] | None) -> list[str]:
    out = []
    for a in each(actions):
        if a.get("TargetGroupArn"):
            out.append(a["TargetGroupArn"])
        for t in each((a.get("ForwardConfig") or {}).get("TargetGroups")):
            if t.get("TargetGroupArn"):
                out.append(t["TargetGroupArn"])
    return out


def transform_elbv2(raw: dict[str, Any], where: Where, scope: str) -> Fragment:
    f = Fragment(scope)
    tags: dict[str, Any] = raw.get("Tags") or {}
    for lb in each(raw.get("LoadBalancers")):
        arn = lb["LoadBalancerArn"]
        f.add(node("aws.elbv2.load-balancer", arn, where, lb.get("LoadBalancerName", arn), without(lb),
                   tag_list(tags.get(arn)), [lb.get("DNSName"), (lb.get("DNSName") or "").lower(),
                                              lb.get("LoadBalancerName")]))
        f.link(lb.get("VpcId"), "contains", arn)
        for az in each(lb.get("AvailabilityZones")):
            f.link(az.get("SubnetId"), "network", arn)
        for sg in lb.get("SecurityGroups") or []:
            f.link(sg, "network", arn)
    for ls in each(raw.get("Listeners")):
        arn = ls["ListenerArn"]
        f.add(node("aws.elbv2.listener", arn, where, f"{ls.get('Protocol', '')}:{ls.get('Port', '')}",
                   without(ls), {}, []))
        f.link(ls.get("LoadBalancerArn"), "contains", arn)
        for tg in _forward_targets(ls.get("DefaultActions")):
            f.link(arn, "depends_on", tg)
    health: dict[str, Any] = raw.get("TargetHealth") or {}
    for group in each(raw.get("TargetGroups")):
        arn = group["TargetGroupArn"]
        targets = [d.get("Target") or {} for d in each(health.get(arn))]
        attrs = without(group)
        # registration is configuration; the health state of each target is PulseSight's business
        attrs["Targets"] = sorted(({k: tt[k] for k in ("Id", "Port", "AvailabilityZone") if k in tt} for tt in targets),
                                  key=lambda x: (str(x.get("Id")), int(x.get("Port") or 0)))
        f.add(node("aws.elbv2.target-group", arn, where, group.get("TargetGroupName", arn), attrs,
                   tag_list(tags.get(arn)), [group.get("TargetGroupName")]))
        for t in targets:
            f.link(arn, "depends_on", t.get("Id"))
    return f
