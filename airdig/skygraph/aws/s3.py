"""S3 buckets (a global listing; each node carries the bucket's own region). Edge: bucket
``depends_on`` the KMS key of its default encryption."""

from __future__ import annotations

from typing import Any

from airdig.model.ids import s3_bucket_arn
from airdig.skygraph.aws.common import Clients, Where, each, jsonable, node, tag_list
from airdig.skygraph.graph import Fragment

# "this bucket has no such configuration" answers, as opposed to errors that mean "could not read"
_ABSENT = {"NoSuchTagSet", "ServerSideEncryptionConfigurationNotFoundError", "NoSuchBucketPolicy"}


def _optional(call: Any, **kwargs: Any) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    try:
        out: dict[str, Any] = jsonable(call(**kwargs))
        return out
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _ABSENT:
            return {}
        raise


def get_s3(clients: Clients, where: Where) -> dict[str, Any]:
    s3 = clients.client("s3", "us-east-1" if where.region == "global" else where.region)
    buckets = jsonable(s3.list_buckets().get("Buckets", []))
    for b in buckets:
        name = b["Name"]
        loc = s3.get_bucket_location(Bucket=name).get("LocationConstraint")
        b["Region"] = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(loc, loc)
        b["Tags"] = _optional(s3.get_bucket_tagging, Bucket=name).get("TagSet", [])
        b["Encryption"] = _optional(s3.get_bucket_encryption, Bucket=name).get(
            "ServerSideEncryptionConfiguration")
        b["Versioning"] = _optional(s3.get_bucket_versioning, Bucket=name).get("Status")
    return {"Buckets": buckets}


def transform_s3(raw: dict[str, Any], where: Where, scope: str) -> Fragment:
    f = Fragment(scope)
    for b in each(raw.get("Buckets")):
        name = b["Name"]
        arn = s3_bucket_arn(name, where.partition)
        attrs = {k: v for k, v in b.items() if k not in ("Tags", "Name")}
        f.add(node("aws.s3.bucket", arn, where, name, attrs, tag_list(b.get("Tags")), [name],
                   region=b.get("Region") or ""))
        for rule in each((b.get("Encryption") or {}).get("Rules")):
            f.link(arn, "depends_on", (rule.get("ApplyServerSideEncryptionByDefault") or {}).get("KMSMasterKeyID"))
    return f
