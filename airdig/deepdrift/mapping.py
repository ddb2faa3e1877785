"""Per resource type: how live API items map to Terraform attributes (the pure *transform* step).

Each :class:`TypeSpec` says which fetcher lists the type, how an API item becomes Terraform-shaped
attributes (``transform``), which attributes are compared and how they are normalised, how a state
instance and a live item are matched (``key``), the node kind and ARN, and the ``terraform import`` id.
Transforms are pure functions of literal API responses, tested without AWS.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airdig.deepdrift import rules
from airdig.model.ids import aws_arn, s3_bucket_arn

Raw = dict[str, Any]
Attrs = dict[str, Any]


@dataclass(frozen=True)
class Ctx:
    region: str
    account: str


def tag_map(tags: Any) -> dict[str, str]:
    """``[{"Key": k, "Value": v}]`` (any key casing) or a map, to a map without AWS-reserved ``aws:`` keys."""
    out: dict[str, str] = {}
    if isinstance(tags, dict):
        items = list(tags.items())
    elif isinstance(tags, list):
        items = []
        for t in tags:
            if isinstance(t, dict):
                low = {str(k).lower(): v for k, v in t.items()}
                items.append((low.get("key"), low.get("value")))
    else:
        return out
    for k, v in items:
        if k is not None and not str(k).startswith("aws:"):
            out[str(k)] = "" if v is None else str(v)
    return out


def _ec2(kind: str, fn: Callable[[Raw], Attrs]) -> Callable[[Raw, Ctx], list[Attrs]]:
    """EC2 APIs return bare ids: add the documented ARN (the graph's node id)."""
    def transform(item: Raw, ctx: Ctx) -> list[Attrs]:
        attrs = fn(item)
        attrs["arn"] = aws_arn(kind, ctx.region, item.get("OwnerId") or ctx.account, attrs["id"])
        return [attrs]
    return transform


def _instance_attrs(i: Raw) -> Attrs:
    return {"id": i["InstanceId"], "instance_type": i.get("InstanceType"), "ami": i.get("ImageId"),
            "subnet_id": i.get("SubnetId"), "key_name": i.get("KeyName"),
            "vpc_security_group_ids": sorted(g["GroupId"] for g in i.get("SecurityGroups", [])),
            "tags": tag_map(i.get("Tags"))}


def _security_group_attrs(g: Raw) -> Attrs:
    gid = g["GroupId"]
    return {"id": gid, "name": g.get("GroupName"), "description": g.get("Description"),
            "vpc_id": g.get("VpcId"), "tags": tag_map(g.get("Tags")),
            "ingress": rules.from_api(g.get("IpPermissions", []), gid),
            "egress": rules.from_api(g.get("IpPermissionsEgress", []), gid),
            "_default": g.get("GroupName") == "default"}


def _vpc_attrs(v: Raw) -> Attrs:
    return {"id": v["VpcId"], "cidr_block": v.get("CidrBlock"), "instance_tenancy": v.get("InstanceTenancy"),
            "tags": tag_map(v.get("Tags")), "_default": bool(v.get("IsDefault"))}


def _subnet_attrs(s: Raw) -> Attrs:
    return {"id": s["SubnetId"], "vpc_id": s.get("VpcId"), "cidr_block": s.get("CidrBlock"),
            "availability_zone": s.get("AvailabilityZone"),
            "map_public_ip_on_launch": s.get("MapPublicIpOnLaunch"), "tags": tag_map(s.get("Tags")),
            "_default": bool(s.get("DefaultForAz"))}


_instance = _ec2("aws.ec2.instance", _instance_attrs)
_security_group = _ec2("aws.ec2.security-group", _security_group_attrs)
_vpc = _ec2("aws.ec2.vpc", _vpc_attrs)
_subnet = _ec2("aws.ec2.subnet", _subnet_attrs)


def _db_instance(d: Raw, ctx: Ctx) -> list[Attrs]:
    return [{"id": d.get("DbiResourceId") or d["DBInstanceIdentifier"], "identifier": d["DBInstanceIdentifier"],
             "arn": d.get("DBInstanceArn"), "instance_class": d.get("DBInstanceClass"), "engine": d.get("Engine"),
             "allocated_storage": d.get("AllocatedStorage"), "username": d.get("MasterUsername"),
             "publicly_accessible": d.get("PubliclyAccessible"), "storage_encrypted": d.get("StorageEncrypted"),
             "multi_az": d.get("MultiAZ"), "backup_retention_period": d.get("BackupRetentionPeriod"),
             "deletion_protection": d.get("DeletionProtection"), "tags": tag_map(d.get("TagList"))}]


def _bucket(b: Raw, ctx: Ctx) -> list[Attrs]:
    return [{"id": b["Name"], "bucket": b["Name"], "arn": s3_bucket_arn(b["Name"]), "tags": tag_map(b.get("TagSet"))}]


def _role(r: Raw, ctx: Ctx) -> list[Attrs]:
    path = r.get("Path") or "/"
    return [{"id": r["RoleName"], "name": r["RoleName"], "arn": r.get("Arn"), "path": path,
             "description": r.get("Description") or "", "max_session_duration": r.get("MaxSessionDuration"),
             "assume_role_policy": r.get("AssumeRolePolicyDocument"), "tags": tag_map(r.get("Tags")),
             "_default": path.startswith(("/aws-service-role/", "/aws-reserved/"))}]


def _role_policies(r: Raw, ctx: Ctx) -> list[Attrs]:
    role = r["RoleName"]
    return [{"id": f"{role}:{name}", "role": role, "name": name, "policy": doc,
             "arn": f"{r.get('Arn', '')}#inline/{name}"} for name, doc in (r.get("InlinePolicies") or {}).items()]


def _role_attachments(r: Raw, ctx: Ctx) -> list[Attrs]:
    role = r["RoleName"]
    return [{"id": f"{role}/{arn}", "role": role, "policy_arn": arn, "arn": f"{r.get('Arn', '')}#attached/{arn}"}
            for arn in r.get("AttachedPolicyArns") or []]


def _function(f: Raw, ctx: Ctx) -> list[Attrs]:
    env = (f.get("Environment") or {}).get("Variables") or {}
    return [{"id": f["FunctionName"], "function_name": f["FunctionName"], "arn": f.get("FunctionArn"),
             "runtime": f.get("Runtime"), "handler": f.get("Handler"), "role": f.get("Role"),
             "memory_size": f.get("MemorySize"), "timeout": f.get("Timeout"),
             "description": f.get("Description") or "", "environment": [{"variables": env}] if env else []}]


def _load_balancer(lb: Raw, ctx: Ctx) -> list[Attrs]:
    return [{"id": lb["LoadBalancerArn"], "arn": lb["LoadBalancerArn"], "name": lb.get("LoadBalancerName"),
             "internal": lb.get("Scheme") == "internal", "load_balancer_type": lb.get("Type"),
             "subnets": sorted(z["SubnetId"] for z in lb.get("AvailabilityZones", []) if z.get("SubnetId")),
             "security_groups": sorted(lb.get("SecurityGroups") or [])}]


def _target_group(tg: Raw, ctx: Ctx) -> list[Attrs]:
    return [{"id": tg["TargetGroupArn"], "arn": tg["TargetGroupArn"], "name": tg.get("TargetGroupName"),
             "port": tg.get("Port"), "protocol": tg.get("Protocol"), "vpc_id": tg.get("VpcId"),
             "target_type": tg.get("TargetType")}]


def _table(t: Raw, ctx: Ctx) -> list[Attrs]:
    keys = {k["KeyType"]: k["AttributeName"] for k in t.get("KeySchema", [])}
    mode = (t.get("BillingModeSummary") or {}).get("BillingMode") or "PROVISIONED"
    tp = t.get("ProvisionedThroughput") or {}
    out: Attrs = {"id": t["TableName"], "name": t["TableName"], "arn": t.get("TableArn"), "billing_mode": mode,
                  "hash_key": keys.get("HASH"), "range_key": keys.get("RANGE"),
                  "attribute": sorted(f"{a['AttributeName']}:{a['AttributeType']}"
                                      for a in t.get("AttributeDefinitions", []))}
    if mode == "PROVISIONED":
        out["read_capacity"] = tp.get("ReadCapacityUnits")
        out["write_capacity"] = tp.get("WriteCapacityUnits")
    return [out]


def _queue(q: Raw, ctx: Ctx) -> list[Attrs]:
    a = q.get("Attributes") or {}
    url = q["QueueUrl"]
    return [{"id": url, "url": url, "name": url.rstrip("/").rsplit("/", 1)[-1], "arn": a.get("QueueArn"),
             "visibility_timeout_seconds": a.get("VisibilityTimeout"),
             "message_retention_seconds": a.get("MessageRetentionPeriod"), "delay_seconds": a.get("DelaySeconds"),
             "max_message_size": a.get("MaximumMessageSize"),
             "receive_wait_time_seconds": a.get("ReceiveMessageWaitTimeSeconds"),
             "fifo_queue": a.get("FifoQueue", "false"), "policy": a.get("Policy")}]


def _key(k: Raw, ctx: Ctx) -> list[Attrs]:
    if k.get("KeyState") in ("PendingDeletion", "PendingReplicaDeletion"):
        return []  # Terraform drops such keys from state on refresh: they count as gone
    return [{"id": k["KeyId"], "key_id": k["KeyId"], "arn": k.get("Arn"), "description": k.get("Description") or "",
             "key_usage": k.get("KeyUsage"), "is_enabled": k.get("Enabled"),
             "enable_key_rotation": k.get("KeyRotationEnabled"),
             "customer_master_key_spec": k.get("KeySpec") or k.get("CustomerMasterKeySpec"),
             "_default": k.get("KeyManager") == "AWS"}]


def _attr(name: str) -> Callable[[Attrs], str]:
    return lambda a: str(a.get(name) or "")


_ID = _attr("id")


def _queue_name(a: Attrs) -> str:
    return str(a.get("name") or str(a.get("id") or "").rstrip("/").rsplit("/", 1)[-1])


@dataclass(frozen=True)
class TypeSpec:
    type: str
    kind: str
    service: str  # CloudTrail eventSource prefix (ec2.amazonaws.com -> "ec2")
    fetcher: str
    transform: Callable[[Raw, Ctx], list[Attrs]]
    compared: dict[str, str]  # attribute -> normaliser (see compare.normalise)
    key: Callable[[Attrs], str] = _ID  # matches a state instance to a live item
    import_id: Callable[[Attrs], str] = _ID
    listable: bool = True  # False: no unmanaged detection (no listing of its own)


_TAGS = {"tags": "tags"}
SPECS: dict[str, TypeSpec] = {s.type: s for s in (
    TypeSpec("aws_instance", "aws.ec2.instance", "ec2", "ec2.instances", _instance,
             {"instance_type": "scalar", "ami": "scalar", "subnet_id": "scalar", "key_name": "scalar",
              "vpc_security_group_ids": "set", **_TAGS}),
    TypeSpec("aws_security_group", "aws.ec2.security-group", "ec2", "ec2.security_groups", _security_group,
             {"name": "scalar", "description": "scalar", "vpc_id": "scalar", "ingress": "set", "egress": "set",
              **_TAGS}),
    TypeSpec("aws_vpc", "aws.ec2.vpc", "ec2", "ec2.vpcs", _vpc,
             {"cidr_block": "scalar", "instance_tenancy": "scalar", **_TAGS}),
    TypeSpec("aws_subnet", "aws.ec2.subnet", "ec2", "ec2.subnets", _subnet,
             {"vpc_id": "scalar", "cidr_block": "scalar", "availability_zone": "scalar",
              "map_public_ip_on_launch": "bool", **_TAGS}),
    TypeSpec("aws_db_instance", "aws.rds.instance", "rds", "rds.db_instances", _db_instance,
             {"instance_class": "scalar", "engine": "scalar", "allocated_storage": "number", "username": "scalar",
              "publicly_accessible": "bool", "storage_encrypted": "bool", "multi_az": "bool",
              "backup_retention_period": "number", "deletion_protection": "bool", **_TAGS},
             key=lambda a: str(a.get("identifier") or a.get("id") or ""), import_id=_attr("identifier")),
    TypeSpec("aws_s3_bucket", "aws.s3.bucket", "s3", "s3.buckets", _bucket, dict(_TAGS),
             key=lambda a: str(a.get("bucket") or a.get("id") or "")),
    TypeSpec("aws_iam_role", "aws.iam.role", "iam", "iam.roles", _role,
             {"path": "scalar", "description": "scalar", "max_session_duration": "number",
              "assume_role_policy": "json", **_TAGS},
             key=lambda a: str(a.get("name") or a.get("id") or "")),
    TypeSpec("aws_iam_role_policy", "aws.iam.policy", "iam", "iam.roles", _role_policies, {"policy": "json"},
             key=lambda a: f"{a.get('role', '')}:{a.get('name', '')}"
             if a.get("role") and a.get("name") else str(a.get("id") or "")),
    TypeSpec("aws_iam_role_policy_attachment", "aws.iam.policy", "iam", "iam.roles", _role_attachments, {},
             key=lambda a: f"{a.get('role', '')}/{a.get('policy_arn', '')}",
             import_id=lambda a: f"{a.get('role', '')}/{a.get('policy_arn', '')}"),
    TypeSpec("aws_lambda_function", "aws.lambda.function", "lambda", "lambda.functions", _function,
             {"runtime": "scalar", "handler": "scalar", "role": "scalar", "memory_size": "number",
              "timeout": "number", "description": "scalar", "environment": "env"},
             key=lambda a: str(a.get("function_name") or a.get("id") or ""), import_id=_attr("function_name")),
    TypeSpec("aws_lb", "aws.elbv2.load-balancer", "elasticloadbalancing", "elbv2.load_balancers",
             _load_balancer, {"name": "scalar", "internal": "bool", "load_balancer_type": "scalar",
                              "subnets": "set", "security_groups": "set"}),
    TypeSpec("aws_lb_target_group", "aws.elbv2.target-group", "elasticloadbalancing", "elbv2.target_groups",
             _target_group, {"name": "scalar", "port": "number", "protocol": "scalar", "vpc_id": "scalar",
                             "target_type": "scalar"}),
    TypeSpec("aws_dynamodb_table", "aws.dynamodb.table", "dynamodb", "dynamodb.tables", _table,
             {"billing_mode": "scalar", "hash_key": "scalar", "range_key": "scalar", "read_capacity": "number",
              "write_capacity": "number", "attribute": "ddb_attributes"},
             key=lambda a: str(a.get("name") or a.get("id") or ""), import_id=_attr("name")),
    TypeSpec("aws_sqs_queue", "aws.sqs.queue", "sqs", "sqs.queues", _queue,
             {"visibility_timeout_seconds": "number", "message_retention_seconds": "number",
              "delay_seconds": "number", "max_message_size": "number", "receive_wait_time_seconds": "number",
              "fifo_queue": "bool", "policy": "json"},
             key=_queue_name),
    TypeSpec("aws_kms_key", "aws.kms.key", "kms", "kms.keys", _key,
             {"description": "scalar", "key_usage": "scalar", "is_enabled": "bool",
              "enable_key_rotation": "bool", "customer_master_key_spec": "scalar"},
             key=lambda a: str(a.get("key_id") or a.get("id") or "")),
)}
# Standalone security-group rules: checked against their group (no listing, no import of their own).
for _rtype in rules.RULE_TYPES:
    SPECS[_rtype] = TypeSpec(_rtype, "aws.ec2.security-group", "ec2", "ec2.security_groups",
                             lambda item, ctx: [], {}, listable=False)


def synth_arn(spec: TypeSpec, attrs: Attrs, ctx: Ctx) -> str:
    """The node id of a resource: its ARN from the attributes, or the documented format."""
    arn = attrs.get("arn")
    if isinstance(arn, str) and arn.startswith("arn:"):
        return arn
    key = spec.key(attrs)
    if spec.kind.startswith("aws.ec2."):
        return aws_arn(spec.kind, ctx.region, ctx.account, str(attrs.get("id") or key))
    if spec.type == "aws_s3_bucket":
        return s3_bucket_arn(key)
    if spec.type == "aws_iam_role":
        return f"arn:aws:iam::{ctx.account}:role/{key}"
    documented = {"aws_lambda_function": "function:", "aws_dynamodb_table": "table/", "aws_sqs_queue": "",
                  "aws_db_instance": "db:", "aws_kms_key": "key/"}
    if spec.type in documented:
        return f"arn:aws:{spec.service}:{ctx.region}:{ctx.account}:{documented[spec.type]}{key}"
    return f"arn:aws:{spec.service}:{ctx.region}:{ctx.account}:{spec.type}/{key}"


_SQS_URL = re.compile(r"^https?://sqs\.([a-z0-9-]+)\.amazonaws\.com")
_ZONE = re.compile(r"^([a-z]{2}(?:-[a-z]+)+-\d+)")


def resource_region(attrs: Attrs, default: str) -> str:
    """The region a state instance lives in, read from the instance itself: the ``region`` attribute
    (AWS provider v6), the region field of its ARN, a queue URL's host, or its availability zone;
    ``default`` when none says (Terraform does not store the provider's ``region`` in state)."""
    region = attrs.get("region")
    if isinstance(region, str) and region:
        return region
    arn = attrs.get("arn")
    if isinstance(arn, str) and arn.startswith("arn:"):
        parts = arn.split(":", 5)
        if len(parts) > 3 and parts[3]:
            return parts[3]
    for key in ("url", "id"):
        m = _SQS_URL.match(str(attrs.get(key) or ""))
        if m:
            return m.group(1)
    zone = attrs.get("availability_zone")
    if isinstance(zone, str):
        m = _ZONE.match(zone)
        if m:
            return m.group(1)
    return default


def resource_account(attrs: Attrs) -> str:
    """The account in the instance's ARN ('' when it has none or the ARN has no account field)."""
    arn = attrs.get("arn")
    if isinstance(arn, str) and arn.startswith("arn:"):
        parts = arn.split(":", 5)
        if len(parts) > 4:
            return parts[4]
    return ""
