"""EKS clusters and managed node groups.

Edges: cluster ``contains`` node group, node group ``contains`` its Auto Scaling groups (named in
``resources.autoScalingGroups``), cluster and node group ``depends_on`` their IAM roles, subnets and
security groups ``network`` → cluster / node group.
"""

from __future__ import annotations

from typing import Any

from airdig.skygraph.aws.common import Clients, Where, each, jsonable, node, paginate, without
from airdig.skygraph.graph import Fragment


def get_eks(clients: Clients, where: Where) -> dict[str, Any]:
    eks = clients.client("eks", where.region)
    clusters, groups = [], []
    for name in paginate(eks, "list_clusters", "clusters"):
        clusters.append(jsonable(eks.describe_cluster(name=name)["cluster"]))
        for ng in paginate(eks, "list_nodegroups", "nodegroups", clusterName=name):
            groups.append(jsonable(eks.describe_nodegroup(clusterName=name, nodegroupName=ng)["nodegroup"]))
    return {"clusters": clusters, "nodegroups": groups}


def _tags(d: dict[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in (d.get("tags") or {}).items()}


def transform_eks(raw: dict[str, Any], where: Where, scope: str) -> Fragment:
    f = Fragment(scope)
    by_name: dict[str, str] = {}
    for c in each(raw.get("clusters")):
        arn = c["arn"]
        by_name[c.get("name", "")] = arn
        endpoint = (c.get("endpoint") or "").removeprefix("https://")
        f.add(node("aws.eks.cluster", arn, where, c.get("name", arn), without(c, "tags", "health"), _tags(c),
                   [endpoint]))
        f.link(arn, "depends_on", c.get("roleArn"))
        vpc = c.get("resourcesVpcConfig") or {}
        for s in vpc.get("subnetIds") or []:
            f.link(s, "network", arn)
        for g in [*(vpc.get("securityGroupIds") or []), vpc.get("clusterSecurityGroupId")]:
            f.link(g, "network", arn)
    for ng in each(raw.get("nodegroups")):
        arn = ng["nodegroupArn"]
        f.add(node("aws.eks.nodegroup", arn, where, ng.get("nodegroupName", arn),
                   without(ng, "tags", "health"), _tags(ng), []))
        f.link(by_name.get(ng.get("clusterName", "")), "contains", arn)
        f.link(arn, "depends_on", ng.get("nodeRole"))
        for s in ng.get("subnets") or []:
            f.link(s, "network", arn)
        for asg in each((ng.get("resources") or {}).get("autoScalingGroups")):
            f.link(arn, "contains", asg.get("name"))
    return f
