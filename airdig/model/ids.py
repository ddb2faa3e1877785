"""Stable node ids (DESIGN.md, "The unified graph").

AWS nodes are ARNs (synthesised in the documented format where an API gives none), Kubernetes nodes
``k8s://<cluster>/<namespace>/<kind>/<name>``, services ``service://<namespace>/<name>``.
"""

from __future__ import annotations

import hashlib

_ARN_SERVICE_PATHS: dict[str, tuple[str, str]] = {
    # kind -> (arn service, resource prefix) for resources whose API returns no ARN
    "aws.ec2.vpc": ("ec2", "vpc/"),
    "aws.ec2.subnet": ("ec2", "subnet/"),
    "aws.ec2.route-table": ("ec2", "route-table/"),
    "aws.ec2.internet-gateway": ("ec2", "internet-gateway/"),
    "aws.ec2.nat-gateway": ("ec2", "natgateway/"),
    "aws.ec2.security-group": ("ec2", "security-group/"),
    "aws.ec2.network-interface": ("ec2", "network-interface/"),
    "aws.ec2.instance": ("ec2", "instance/"),
    "aws.ec2.volume": ("ec2", "volume/"),
    "aws.ec2.launch-template": ("ec2", "launch-template/"),
    "aws.elasticache.cluster": ("elasticache", "cluster:"),
}


def aws_arn(kind: str, region: str, account: str, native_id: str, partition: str = "aws") -> str:
    """The documented ARN of a resource whose API answers with a bare id (``i-0abc`` → instance ARN)."""
    try:
        service, prefix = _ARN_SERVICE_PATHS[kind]
    except KeyError:
        raise KeyError(f"no ARN format known for kind {kind!r}") from None
    return f"arn:{partition}:{service}:{region}:{account}:{prefix}{native_id}"


def s3_bucket_arn(name: str, partition: str = "aws") -> str:
    return f"arn:{partition}:s3:::{name}"


def k8s_id(cluster: str, namespace: str | None, kind: str, name: str) -> str:
    """``k8s://cluster/namespace/kind/name``; cluster-scoped objects use ``_`` as the namespace."""
    return f"k8s://{cluster}/{namespace or '_'}/{kind.lower()}/{name}"


def service_id(name: str, namespace: str | None = None) -> str:
    return f"service://{namespace or '_'}/{name}"


def terraform_id(address: str, workspace: str = "default") -> str:
    return f"terraform://{workspace}/{address}"


def node_key(node_id: str) -> int:
    """A node's 8-byte walk key (signed, as BIGINT and SQLite INTEGER store it); graph walks run on these."""
    return int.from_bytes(hashlib.sha1(node_id.encode()).digest()[:8], "big", signed=True)
