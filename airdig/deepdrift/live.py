"""Reading the live AWS state of every covered resource type (the *get* step: I/O only).

Each fetcher lists one resource type with boto3 (paginated) and returns the raw API items; the pure
transforms in :mod:`airdig.deepdrift.mapping` turn them into Terraform-shaped attributes. A fetcher that
fails marks its type *unknown* for this run: its state resources are never reported "missing" and its
live resources never "unmanaged". boto3 honours ``AWS_ENDPOINT_URL`` (tests point it at moto).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airdig.logs import get_logger

log = get_logger("deepdrift.live")

Raw = dict[str, Any]


@dataclass
class Clients:
    """boto3 clients created on first use, one per service, for one region."""

    region: str | None = None
    _session: Any = None
    _clients: dict[str, Any] = field(default_factory=dict)

    def __call__(self, service: str) -> Any:
        if service not in self._clients:
            import boto3

            if self._session is None:
                self._session = boto3.session.Session(region_name=self.region)
            self._clients[service] = self._session.client(service)
        return self._clients[service]

    @property
    def region_name(self) -> str:
        name = self.region or (self._session.region_name if self._session else None)
        if not name:
            import boto3

            name = boto3.session.Session().region_name
        return name or "us-east-1"

    def account_id(self) -> str:
        try:
            return str(self("sts").get_caller_identity()["Account"])
        except Exception as exc:  # an account id only decorates synthesised ARNs
            log.warning("could not read the account id", error=str(exc))
            return ""


def _pages(client: Any, op: str, key: str, **kwargs: Any) -> list[Raw]:
    out: list[Raw] = []
    for page in client.get_paginator(op).paginate(**kwargs):
        out.extend(page.get(key, []))
    return out


def fetch_instances(c: Clients) -> list[Raw]:
    out: list[Raw] = []
    for page in c("ec2").get_paginator("describe_instances").paginate():
        for res in page.get("Reservations", []):
            for inst in res.get("Instances", []):
                if inst.get("State", {}).get("Name") not in ("terminated", "shutting-down"):
                    out.append({**inst, "OwnerId": res.get("OwnerId", "")})
    return out


def fetch_security_groups(c: Clients) -> list[Raw]:
    return _pages(c("ec2"), "describe_security_groups", "SecurityGroups")


def fetch_vpcs(c: Clients) -> list[Raw]:
    return _pages(c("ec2"), "describe_vpcs", "Vpcs")


def fetch_subnets(c: Clients) -> list[Raw]:
    return _pages(c("ec2"), "describe_subnets", "Subnets")


def fetch_db_instances(c: Clients) -> list[Raw]:
    return _pages(c("rds"), "describe_db_instances", "DBInstances")


def fetch_buckets(c: Clients) -> list[Raw]:
    s3 = c("s3")
    out: list[Raw] = []
    for b in s3.list_buckets().get("Buckets", []):
        try:
            tags = s3.get_bucket_tagging(Bucket=b["Name"]).get("TagSet", [])
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if code not in ("NoSuchTagSet", "NoSuchTagSetError"):
                raise
            tags = []
        out.append({**b, "TagSet": tags})
    return out


def fetch_roles(c: Clients) -> list[Raw]:
    iam = c("iam")
    out: list[Raw] = []
    for role in _pages(iam, "list_roles", "Roles"):
        name = role["RoleName"]
        tags = _pages(iam, "list_role_tags", "Tags", RoleName=name)
        inline = {}
        for pname in _pages(iam, "list_role_policies", "PolicyNames", RoleName=name):
            inline[pname] = iam.get_role_policy(RoleName=name, PolicyName=pname)["PolicyDocument"]
        attached = [p["PolicyArn"] for p in _pages(iam, "list_attached_role_policies", "AttachedPolicies",
                                                   RoleName=name)]
        out.append({**role, "Tags": tags, "InlinePolicies": inline, "AttachedPolicyArns": attached})
    return out


def fetch_functions(c: Clients) -> list[Raw]:
    return _pages(c("lambda"), "list_functions", "Functions")


def fetch_load_balancers(c: Clients) -> list[Raw]:
    return _pages(c("elbv2"), "describe_load_balancers", "LoadBalancers")


def fetch_target_groups(c: Clients) -> list[Raw]:
    return _pages(c("elbv2"), "describe_target_groups", "TargetGroups")


def fetch_tables(c: Clients) -> list[Raw]:
    ddb = c("dynamodb")
    return [ddb.describe_table(TableName=name)["Table"]
            for name in _pages(ddb, "list_tables", "TableNames")]


def fetch_queues(c: Clients) -> list[Raw]:
    sqs = c("sqs")
    out: list[Raw] = []
    for url in _pages(sqs, "list_queues", "QueueUrls"):
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]).get("Attributes", {})
        out.append({"QueueUrl": url, "Attributes": attrs})
    return out


def fetch_keys(c: Clients) -> list[Raw]:
    kms = c("kms")
    out: list[Raw] = []
    for key in _pages(kms, "list_keys", "Keys"):
        meta = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
        if meta.get("KeyManager") == "CUSTOMER" and meta.get("KeyState") not in ("PendingDeletion",
                                                                                 "PendingReplicaDeletion"):
            try:
                meta["KeyRotationEnabled"] = kms.get_key_rotation_status(KeyId=key["KeyId"]).get(
                    "KeyRotationEnabled", False)
            except Exception as exc:  # asymmetric keys reject the call; rotation is then simply off
                log.debug("no rotation status", key=key["KeyId"], error=str(exc))
                meta["KeyRotationEnabled"] = False
        out.append(meta)
    return out


# Terraform types whose live items one fetcher lists; several types can share a fetcher.
FETCHERS: dict[str, Callable[[Clients], list[Raw]]] = {
    "ec2.instances": fetch_instances,
    "ec2.security_groups": fetch_security_groups,
    "ec2.vpcs": fetch_vpcs,
    "ec2.subnets": fetch_subnets,
    "rds.db_instances": fetch_db_instances,
    "s3.buckets": fetch_buckets,
    "iam.roles": fetch_roles,
    "lambda.functions": fetch_functions,
    "elbv2.load_balancers": fetch_load_balancers,
    "elbv2.target_groups": fetch_target_groups,
    "dynamodb.tables": fetch_tables,
    "sqs.queues": fetch_queues,
    "kms.keys": fetch_keys,
}


def fetch_all(clients: Clients, names: list[str]) -> tuple[dict[str, list[Raw]], dict[str, str]]:
    """Run the named fetchers; returns (items per fetcher, reason per fetcher that failed)."""
    items: dict[str, list[Raw]] = {}
    failed: dict[str, str] = {}
    for name in names:
        try:
            items[name] = FETCHERS[name](clients)
        except Exception as exc:  # any failure = "could not fetch", never "gone"
            reason = f"{type(exc).__name__}: {exc}"
            log.warning("could not fetch live resources", fetcher=name, error=reason)
            failed[name] = reason
    return items, failed
