"""Secrets Manager secrets — metadata only.

Only ``ListSecrets`` is called: it returns names, KMS keys, rotation settings, tags and version stage
labels, never a value. ``GetSecretValue`` is deliberately not called anywhere in SkyGraph, so the
scanner's role needs no ``secretsmanager:GetSecretValue`` and a scan cannot leak a secret. Edges: secret
``depends_on`` its KMS key and its rotation Lambda. ``LastAccessedDate`` is left out (it moves on reads).
"""

from __future__ import annotations

from typing import Any

from airdig.skygraph.aws.common import Clients, Where, each, node, paginate, tag_list, without
from airdig.skygraph.aws.spec import E, KindSpec
from airdig.skygraph.graph import Fragment

SECRET = "aws.secretsmanager.secret"
SPECS = (KindSpec(SECRET, ("secretsmanager:ListSecrets",),
                  E(SECRET, "depends_on", "aws.kms.key", "aws.lambda.function"), natives="name"),)

# the only keys kept: a future API field (or a server that sends more) never reaches the graph
_KEEP = ("ARN", "Name", "Description", "KmsKeyId", "RotationEnabled", "RotationLambdaARN", "RotationRules",
         "LastRotatedDate", "LastChangedDate", "DeletedDate", "NextRotationDate", "Tags", "SecretVersionsToStages",
         "OwningService", "CreatedDate", "PrimaryRegion", "ReplicationStatus")


def get_secrets(clients: Clients, where: Where) -> dict[str, Any]:
    sm = clients.client("secretsmanager", where.region)
    return {"SecretList": [{k: s[k] for k in _KEEP if k in s} for s in paginate(sm, "list_secrets", "SecretList")]}


def transform_secrets(raw: dict[str, Any], where: Where, scope: str) -> Fragment:
    f = Fragment(scope)
    for s in each(raw.get("SecretList")):
        if s.get("DeletedDate"):
            continue  # scheduled for deletion: no longer usable
        arn = s["ARN"]
        attrs = without({k: s[k] for k in _KEEP if k in s}, "Tags")
        f.add(node(SECRET, arn, where, s.get("Name", arn), attrs, tag_list(s.get("Tags")), [s.get("Name")]))
        f.link(arn, "depends_on", s.get("KmsKeyId"))
        f.link(arn, "depends_on", s.get("RotationLambdaARN"))
    return f
