"""Classic Load Balancers (``elb`` API).

Id: the documented ARN ``arn:aws:elasticloadbalancing:<region>:<account>:loadbalancer/<name>`` (the API
returns none). Edges: VPC ``contains`` it; subnets and security groups ``network`` → it; it
``depends_on`` each registered instance. Its DNS name is a native id (Route 53 aliases, Kubernetes
LoadBalancer services on the in-tree provider).
"""

from __future__ import annotations

from typing import Any

from airdig.skygraph.aws.common import Clients, Where, each, jsonable, node, paginate, tag_list, without
from airdig.skygraph.aws.spec import E, KindSpec, arn_of
from airdig.skygraph.graph import Fragment

CLB = "aws.elb.load-balancer"
SPECS = (KindSpec(CLB, ("elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeTags"),
                  E("aws.ec2.vpc", "contains", CLB) + E("aws.ec2.subnet", "network", CLB)
                  + E("aws.ec2.security-group", "network", CLB) + E(CLB, "depends_on", "aws.ec2.instance"),
                  "arn:aws:elasticloadbalancing:<region>:<account>:loadbalancer/<name>", "name, DNS name"),)


def get_elb(clients: Clients, where: Where) -> dict[str, Any]:
    elb = clients.client("elb", where.region)
    lbs = paginate(elb, "describe_load_balancers", "LoadBalancerDescriptions")
    names = [lb["LoadBalancerName"] for lb in lbs]
    tags: dict[str, Any] = {}
    for i in range(0, len(names), 20):  # DescribeTags takes at most 20 names
        for d in elb.describe_tags(LoadBalancerNames=names[i:i + 20]).get("TagDescriptions", []):
            tags[d["LoadBalancerName"]] = jsonable(d.get("Tags", []))
    return {"LoadBalancerDescriptions": lbs, "Tags": tags}


def transform_elb(raw: dict[str, Any], where: Where, scope: str) -> Fragment:
    f = Fragment(scope)
    tags: dict[str, Any] = raw.get("Tags") or {}
    for lb in each(raw.get("LoadBalancerDescriptions")):
        name = lb["LoadBalancerName"]
        arn = arn_of(where.partition, "elasticloadbalancing", where.region, where.account, f"loadbalancer/{name}")
        attrs = without(lb)
        attrs["Instances"] = sorted(i.get("InstanceId", "") for i in each(lb.get("Instances")))
        dns = lb.get("DNSName")
        f.add(node(CLB, arn, where, name, attrs, tag_list(tags.get(name)), [name, dns, (dns or "").lower()]))
        f.link(lb.get("VPCId"), "contains", arn)
        for s in lb.get("Subnets") or []:
            f.link(s, "network", arn)
        for g in lb.get("SecurityGroups") or []:
            f.link(g, "network", arn)
        for i in attrs["Instances"]:
            f.link(arn, "depends_on", i)
    return f
