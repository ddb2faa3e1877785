"""MSK (Managed Streaming for Kafka) clusters and OpenSearch domains.

Edges: client subnets and security groups ``network`` → cluster / domain (VPC domains); both
``depends_on`` their KMS key. Broker node counts and versions that AWS bumps on its own are kept (a
resize is a change); ``State``/``Processing`` flags are left out.
"""

from __future__ import annotations

from typing import Any

from airdig.skygraph.aws.common import Clients, Where, each, jsonable, node, paginate, tag_list, without
from airdig.skygraph.aws.spec import E, KindSpec
from airdig.skygraph.graph import Fragment

MSK, DOMAIN = "aws.kafka.cluster", "aws.opensearch.domain"
SUBNET, SG, KEY = "aws.ec2.subnet", "aws.ec2.security-group", "aws.kms.key"
SPECS = (
    KindSpec(MSK, ("kafka:ListClustersV2",), E(SUBNET, "network", MSK) + E(SG, "network", MSK)
             + E(MSK, "depends_on", KEY), natives="cluster name"),
    KindSpec(DOMAIN, ("es:ListDomainNames", "es:DescribeDomains", "es:ListTags"),
             E(SUBNET, "network", DOMAIN) + E(SG, "network", DOMAIN) + E(DOMAIN, "depends_on", KEY),
             natives="domain name, endpoint"),
)


def get_msk(clients: Clients, where: Where) -> dict[str, Any]:
    kafka = clients.client("kafka", where.region)
    return {"ClusterInfoList": paginate(kafka, "list_clusters_v2", "ClusterInfoList")}


def transform_msk(raw: dict[str, Any], where: Where, scope: str) -> Fragment:
    f = Fragment(scope)
    for c in each(raw.get("ClusterInfoList")):
        arn = c["ClusterArn"]
        f.add(node(MSK, arn, where, c.get("ClusterName", arn), without(c, "Tags", "State", "StateInfo"),
                   {str(k): str(v) for k, v in (c.get("Tags") or {}).items()}, [c.get("ClusterName")]))
        prov = c.get("Provisioned") or {}
        brokers = prov.get("BrokerNodeGroupInfo") or {}
        vpc = ((c.get("Serverless") or {}).get("VpcConfigs") or [{}])
        subnets = list(brokers.get("ClientSubnets") or []) + [s for v in each(vpc) for s in v.get("SubnetIds") or []]
        groups = list(brokers.get("SecurityGroups") or []) + [g for v in each(vpc) for g in v.get("SecurityGroupIds") or []]
        for s in subnets:
            f.link(s, "network", arn)
        for g in groups:
            f.link(g, "network", arn)
        f.link(arn, "depends_on", ((prov.get("EncryptionInfo") or {}).get("EncryptionAtRest") or {}).get("DataVolumeKMSKeyId"))
    return f


def get_opensearch(clients: Clients, where: Where) -> dict[str, Any]:
    os_ = clients.client("opensearch", where.region)
    names = [d["DomainName"] for d in os_.list_domain_names().get("DomainNames", [])]
    domains: list[Any] = []
    for i in range(0, len(names), 5):  # DescribeDomains takes at most 5 names
        domains.extend(jsonable(os_.describe_domains(DomainNames=names[i:i + 5]).get("DomainStatusList", [])))
    for d in domains:
        d["Tags"] = jsonable(os_.list_tags(ARN=d["ARN"]).get("TagList", []))
    return {"DomainStatusList": domains}


def transform_opensearch(raw: dict[str, Any], where: Where, scope: str) -> Fragment:
    f = Fragment(scope)
    for d in each(raw.get("DomainStatusList")):
        arn = d["ARN"]
        endpoints = [d.get("Endpoint"), *(d.get("Endpoints") or {}).values()]
        f.add(node(DOMAIN, arn, where, d.get("DomainName", arn),
                   without(d, "Tags", "Processing", "UpgradeProcessing", "DomainProcessingStatus", "ModifyingProperties"),
                   tag_list(d.get("Tags")), [d.get("DomainName"), d.get("DomainId"), *endpoints]))
        vpc = d.get("VPCOptions") or {}
        for s in vpc.get("SubnetIds") or []:
            f.link(s, "network", arn)
        for g in vpc.get("SecurityGroupIds") or []:
            f.link(g, "network", arn)
        f.link(arn, "depends_on", (d.get("EncryptionAtRestOptions") or {}).get("KmsKeyId"))
    return f
