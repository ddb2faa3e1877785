"""Reading the live AWS state of every covered resource type (the *get* step: I/O only).

Each fetcher lists one resource type in one region with boto3 (paginated) and returns the raw API items;
the pure transforms in :mod:`airdig.deepdrift.mapping` turn them into Terraform-shaped attributes. A
fetcher that fails marks its scope (type, region) *unknown* for this run: its state resources are never
reported "missing" and its live resources never "unmanaged". All scopes are read in parallel threads,
each thread with its own boto3 session and clients (sessions are not thread-safe). boto3 honours
``AWS_ENDPOINT_URL`` (tests point it at moto).

An item may carry ``_unreadable: {attribute: reason}`` for a value one secondary call could not read:
that attribute is then unknown (not compared), never guessed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from airdig.errors import BackendUnavailable
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
        """The caller's account; a failed STS call is an error (an empty account would make every ARN
        wrong and every node unmatched), never an empty string."""
        try:
            account = str(self("sts").get_caller_identity()["Account"])
        except Exception as exc:
            raise BackendUnavailable("AWS STS GetCallerIdentity", f"cannot read the account id: {exc}") from None
        if not account:
            raise BackendUnavailable("AWS STS GetCallerIdentity", "the answer names no account")
        return account


class ClientPool:
    """:class:`Clients` per (thread, region): every worker thread gets its own boto3 session."""

    def __init__(self, default_region: str | None = None) -> None:
        self.default_region = default_region
        self._local = threading.local()

    def get(self, region: str | None = None) -> Clients:
        cache: dict[str | None, Clients] | None = getattr(self._local, "clients", None)
        if cache is None:
            cache = self._local.clients = {}
        region = region or self.default_region
        if region not in cache:
            cache[region] = Clients(region)
        return cache[region]


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


def _error_code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def fetch_buckets(c: Clients) -> list[Raw]:
    s3 = c("s3")
    out: list[Raw] = []
    for b in s3.list_buckets().get("Buckets", []):
        try:
            tags = s3.get_bucket_tagging(Bucket=b["Name"]).get("TagSet", [])
        except Exception as exc:
            if _error_code(exc) not in ("NoSuchTagSet", "NoSuchTagSetError"):
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
            except Exception as exc:
                if _error_code(exc) == "UnsupportedOperationException":
                    meta["KeyRotationEnabled"] = False  # asymmetric / HMAC / imported keys: no rotation exists
                else:  # denied, throttled, unreachable: unknown, not "disabled"
                    log.warning("no rotation status", key=key["KeyId"], error=str(exc))
                    meta["_unreadable"] = {"enable_key_rotation": f"GetKeyRotationStatus failed: {exc}"}
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


# Fetchers whose listing is account-wide whatever the region (S3 ListBuckets, IAM): read once, scope "global".
GLOBAL_FETCHERS = frozenset({"s3.buckets", "iam.roles"})
GLOBAL = "global"


def scope_key(fetcher: str, region: str) -> str:
    """``fetcher@region``: the key of one read in :func:`fetch_all`'s answers."""
    return f"{fetcher}@{GLOBAL if fetcher in GLOBAL_FETCHERS else region}"


def fetch_all(pool: ClientPool, tasks: list[tuple[str, str]], workers: int = 8
              ) -> tuple[dict[str, list[Raw]], dict[str, str]]:
    """Run each (fetcher, region) read in parallel; returns (items per ``scope_key``, reason per scope
    that failed). Global fetchers are read once whatever the regions."""
    keys: dict[str, tuple[str, str | None]] = {}
    for name, region in tasks:
        keys.setdefault(scope_key(name, region), (name, None if name in GLOBAL_FETCHERS else region))
    items: dict[str, list[Raw]] = {}
    failed: dict[str, str] = {}

    def one(key: str) -> None:
        name, region = keys[key]
        try:
            items[key] = FETCHERS[name](pool.get(region))
        except Exception as exc:  # any failure = "could not fetch", never "gone"
            reason = f"{type(exc).__name__}: {exc}"
            log.warning("could not fetch live resources", fetcher=name, region=region, error=reason)
            failed[key] = reason

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(keys)))) as ex:
        list(ex.map(one, sorted(keys)))
    return items, failed
