"""RDS: DB instances, clusters, DB subnet groups.

Edges: cluster ``contains`` its member instances; subnet group ``depends_on`` its subnets; subnets and
VPC security groups ``network`` → DB instance; instance ``depends_on`` its subnet group and KMS key.
"""

from __future__ import annotations

from typing import Any

from airdig.skygraph.aws.common import Clients, Where, each, node, paginate, tag_list, without
from airdig.skygraph.graph import Fragment

# fields that move by themselves between two scans of an unchanged database
_VOLATILE = ("TagList", "LatestRestorableTime", "PendingModifiedValues", "EarliestRestorableTime")


def get_rds(clients: Clients, where: Where) -> dict[str, Any]:
    rds = clients.client("rds", where.region)
    return {
        "DBInstances": paginate(rds, "describe_db_instances", "DBInstances"),
        "DBClusters": paginate(rds, "describe_db_clusters", "DBClusters"),
        "DBSubnetGroups": paginate(rds, "describe_db_subnet_groups", "DBSubnetGroups"),
    }


def transform_rds(raw: dict[str, Any], where: Where, scope: str) -> Fragment:
    f = Fragment(scope)
    for g in each(raw.get("DBSubnetGroups")):
        name = g["DBSubnetGroupName"]
        gid = g.get("DBSubnetGroupArn") or f"arn:{where.partition}:rds:{where.region}:{where.account}:subgrp:{name}"
        f.add(node("aws.rds.subnet-group", gid, where, name, without(g), {}, [name]))
        f.link(g.get("VpcId"), "contains", gid)
        for s in each(g.get("Subnets")):
            f.link(gid, "depends_on", s.get("SubnetIdentifier"))
    for c in each(raw.get("DBClusters")):
        cid = c["DBClusterArn"]
        f.add(node("aws.rds.cluster", cid, where, c.get("DBClusterIdentifier", cid),
                   without(c, *_VOLATILE), tag_list(c.get("TagList")),
                   [c.get("DBClusterIdentifier"), c.get("Endpoint"), c.get("ReaderEndpoint"), c.get("DbClusterResourceId")]))
        for m in each(c.get("DBClusterMembers")):
            f.link(cid, "contains", m.get("DBInstanceIdentifier"))
        for sg in each(c.get("VpcSecurityGroups")):
            f.link(sg.get("VpcSecurityGroupId"), "network", cid)
        f.link(cid, "depends_on", c.get("DBSubnetGroup"))
        f.link(cid, "depends_on", c.get("KmsKeyId"))
    for db in each(raw.get("DBInstances")):
        did = db["DBInstanceArn"]
        endpoint = (db.get("Endpoint") or {}).get("Address")
        f.add(node("aws.rds.instance", did, where, db.get("DBInstanceIdentifier", did),
                   without(db, *_VOLATILE), tag_list(db.get("TagList")),
                   [db.get("DBInstanceIdentifier"), endpoint, db.get("DbiResourceId")]))
        sng = db.get("DBSubnetGroup") or {}
        f.link(did, "depends_on", sng.get("DBSubnetGroupName"))
        for s in each(sng.get("Subnets")):
            f.link(s.get("SubnetIdentifier"), "network", did)
        for sg in each(db.get("VpcSecurityGroups")):
            f.link(sg.get("VpcSecurityGroupId"), "network", did)
        f.link(did, "depends_on", db.get("KmsKeyId"))
        f.link(db.get("DBClusterIdentifier"), "contains", did)
    return f
