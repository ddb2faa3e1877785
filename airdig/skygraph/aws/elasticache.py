"""ElastiCache clusters. Edges: security groups and the subnets of the cache subnet group ``network`` →
cluster."""

from __future__ import annotations

from typing import Any

from airdig.skygraph.aws.common import Clients, Where, each, jsonable, node, paginate, tag_list, without
from airdig.skygraph.graph import Fragment


def get_elasticache(clients: Clients, where: Where) -> dict[str, Any]:
    ec = clients.client("elasticache", where.region)
    clusters = paginate(ec, "describe_cache_clusters", "CacheClusters", ShowCacheNodeInfo=True)
    for c in clusters:
        if c.get("ARN"):
            c["Tags"] = jsonable(ec.list_tags_for_resource(ResourceName=c["ARN"]).get("TagList", []))
    groups = paginate(ec, "describe_cache_subnet_groups", "CacheSubnetGroups")
    return {"CacheClusters": clusters, "CacheSubnetGroups": groups}


def transform_elasticache(raw: dict[str, Any], where: Where, scope: str) -> Fragment:
    f = Fragment(scope)
    subnets = {g.get("CacheSubnetGroupName"): [s.get("SubnetIdentifier") for s in each(g.get("Subnets"))]
               for g in each(raw.get("CacheSubnetGroups"))}
    for c in each(raw.get("CacheClusters")):
        cid = c["CacheClusterId"]
        arn = c.get("ARN") or where.arn("aws.elasticache.cluster", cid)
        endpoints = [(n.get("Endpoint") or {}).get("Address") for n in each(c.get("CacheNodes"))]
        f.add(node("aws.elasticache.cluster", arn, where, cid, without(c, "Tags"), tag_list(c.get("Tags")),
                   [cid, (c.get("ConfigurationEndpoint") or {}).get("Address"), *endpoints]))
        for g in each(c.get("SecurityGroups")):
            f.link(g.get("SecurityGroupId"), "network", arn)
        for s in subnets.get(c.get("CacheSubnetGroupName"), []):
            f.link(s, "network", arn)
    return f
