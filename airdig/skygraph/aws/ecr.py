"""ECR repositories. Edge: repository ``depends_on`` its KMS key; ECS task definitions reach the
repository through the image URI (the repository URI is a native id)."""

from __future__ import annotations

from typing import Any

from airdig.skygraph.aws.common import Clients, Where, each, jsonable, node, paginate, tag_list, without
from airdig.skygraph.aws.spec import E, KindSpec
from airdig.skygraph.graph import Fragment

REPO = "aws.ecr.repository"
SPECS = (KindSpec(REPO, ("ecr:DescribeRepositories", "ecr:ListTagsForResource"), E(REPO, "depends_on", "aws.kms.key"),
                  natives="repository URI, name"),)


def get_ecr(clients: Clients, where: Where) -> dict[str, Any]:
    ecr = clients.client("ecr", where.region)
    repos = paginate(ecr, "describe_repositories", "repositories")
    for r in repos:
        r["tags"] = jsonable(ecr.list_tags_for_resource(resourceArn=r["repositoryArn"]).get("tags", []))
    return {"Repositories": repos}


def transform_ecr(raw: dict[str, Any], where: Where, scope: str) -> Fragment:
    f = Fragment(scope)
    for r in each(raw.get("Repositories")):
        arn = r["repositoryArn"]
        f.add(node(REPO, arn, where, r.get("repositoryName", arn), without(r, "tags"), tag_list(r.get("tags")),
                   [r.get("repositoryUri"), r.get("repositoryName")]))
        f.link(arn, "depends_on", (r.get("encryptionConfiguration") or {}).get("kmsKey"))
    return f
