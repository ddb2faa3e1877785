"""Which node a CloudTrail write changes, and which Terraform attributes it can set: one declarative table.

Attribution asks, per drifted attribute, "which write set this value?". Guessing from API-name patterns
blames the last person who touched the resource for every difference; instead each known write says
what it changes. An entry names the event source and event names, the graph node kind it changes, the
request parameters that carry that node's id (ARN or native id), and a map from request parameter
names to the Terraform attributes they set (``dBInstanceClass`` → ``instance_class``). Some attributes
depend on the call's values, not its parameter names: the tag keys of ``CreateTags``, the policy ARN of
``AttachRolePolicy``, the target ids of ``RegisterTargets``; small *detail* functions read those.

Event names this table does not know are never guessed: :func:`targets` returns None and the caller
counts them. A write that names no node of a known kind (``CreateTags`` on an AMI) changes nothing the
graph shows and yields an empty list.

    hit = targets("rds", "ModifyDBInstance", {"dBInstanceIdentifier": "appdb", "dBInstanceClass": "db.m5.large"}, {})
    # [Target(kind="aws.rds.instance", ids=("appdb",), attributes=("instance_class",))]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airdig.model.ids import aws_arn

CREATED = "(created)"  # the write created the node: it set every attribute
DELETED = "(deleted)"  # the write deleted the node

Detail = Callable[[dict[str, Any]], list[str]]


@dataclass(frozen=True)
class Write:
    """One row of the table: ``names`` in ``source`` change a node of ``kind`` found by ``id``.

    ``id`` lists request-parameter paths (dots for nesting, ``[]`` for each list item) holding the node's
    id; ``response_id`` the same in ``responseElements`` (for creates, whose id the response gives).
    ``params`` maps request-parameter paths to Terraform attributes; ``always`` are attributes the call
    sets whatever its parameters; ``detail`` derives attribute paths from the parameters' values.
    """

    source: str
    names: tuple[str, ...]
    kind: str
    id: tuple[str, ...] = ()
    params: Mapping[str, str] = field(default_factory=dict)
    always: tuple[str, ...] = ()
    detail: Detail | None = None
    response_id: tuple[str, ...] = ()
    kind_by_id: bool = False  # the kind follows from the id's prefix (EC2 CreateTags on i-/sg-/subnet-…)


@dataclass(frozen=True)
class Target:
    """A node a write changed: its kind, the ids it is known by (ARN and/or native id), what it set."""

    kind: str
    ids: tuple[str, ...]
    attributes: tuple[str, ...]


# ---- reading request parameters -------------------------------------------------------------------

def _unwrap(node: Any) -> list[Any]:
    if isinstance(node, dict) and len(node) == 1 and "items" in node:
        node = node["items"]
    return node if isinstance(node, list) else [node]


def values(doc: Any, path: str) -> list[Any]:
    """Every value at ``path`` (``a.b``, ``a[].b``), looking through EC2's ``{"items": [...]}`` wrappers."""
    nodes = [doc]
    for part in path.split("."):
        each = part.endswith("[]")
        key = part[:-2] if each else part
        found: list[Any] = []
        for node in nodes:
            for item in _unwrap(node):
                if isinstance(item, dict) and item.get(key) is not None:
                    found.extend(_unwrap(item[key]) if each else [item[key]])
        nodes = found
    return nodes


def _strings(doc: Any, path: str) -> list[str]:
    """The non-empty strings (or numbers) at ``path``; a list is read item by item, a map by its keys."""
    out: list[str] = []
    for v in values(doc, path):
        for x in (v if isinstance(v, list) else list(v) if isinstance(v, dict) else [v]):
            if isinstance(x, str | int) and not isinstance(x, bool) and x != "":
                out.append(str(x))
    return out


@dataclass(frozen=True)
class TagKeys:
    """``tags.<key>`` for every tag key the call names (adds, updates and removals alike)."""

    paths: tuple[str, ...]
    prefix: str = "tags"

    def __call__(self, params: dict[str, Any]) -> list[str]:
        keys = {k for p in self.paths for k in _strings(params, p)}
        return [f"{self.prefix}.{k}" for k in sorted(keys)] or [self.prefix]

    def __str__(self) -> str:
        return f"`{self.prefix}.<key>` per tag key"


@dataclass(frozen=True)
class Keyed:
    """``prefix[<value>]`` for each value at ``path`` (a policy ARN, a policy name, a target id)."""

    prefix: str
    path: str

    def __call__(self, params: dict[str, Any]) -> list[str]:
        return [f"{self.prefix}[{v}]" for v in _strings(params, self.path)] or [self.prefix]

    def __str__(self) -> str:
        return f"`{self.prefix}[<{self.path}>]`"


@dataclass(frozen=True)
class Routes:
    """``route[<destination>]`` for the route a route call names."""

    def __call__(self, params: dict[str, Any]) -> list[str]:
        dests = [v for p in ("destinationCidrBlock", "destinationIpv6CidrBlock", "destinationPrefixListId")
                 for v in _strings(params, p)]
        return [f"route[{d}]" for d in dests] or ["route"]

    def __str__(self) -> str:
        return "`route[<destination>]`"


@dataclass(frozen=True)
class BySelector:
    """EC2's ``ModifyInstanceAttribute`` form ``{"attribute": "instanceType", "value": …}``."""

    selector: str
    table: Mapping[str, str]

    def __call__(self, params: dict[str, Any]) -> list[str]:
        return [self.table[v] for v in _strings(params, self.selector) if v in self.table]

    def __str__(self) -> str:
        return f"or `{self.selector}` naming one of those parameters"


def _tag_keys(*paths: str, prefix: str = "tags") -> Detail:
    return TagKeys(paths, prefix)


def _keyed(prefix: str, path: str) -> Detail:
    return Keyed(prefix, path)


_route = Routes()


def _by_selector(selector: str, table: Mapping[str, str]) -> Detail:
    return BySelector(selector, table)


# ---- the table ------------------------------------------------------------------------------------

_INSTANCE_ATTRS = {"instanceType": "instance_type", "groupSet": "vpc_security_group_ids",
                   "groupId": "vpc_security_group_ids", "userData": "user_data",
                   "disableApiTermination": "disable_api_termination", "disableApiStop": "disable_api_stop",
                   "ebsOptimized": "ebs_optimized", "sourceDestCheck": "source_dest_check",
                   "instanceInitiatedShutdownBehavior": "instance_initiated_shutdown_behavior",
                   "blockDeviceMapping": "root_block_device", "kernel": "kernel", "ramdisk": "ramdisk",
                   "enaSupport": "ena_support"}
_EC2_ID_KINDS = (("i-", "aws.ec2.instance"), ("sg-", "aws.ec2.security-group"), ("subnet-", "aws.ec2.subnet"),
                 ("vpc-", "aws.ec2.vpc"), ("rtb-", "aws.ec2.route-table"), ("igw-", "aws.ec2.internet-gateway"),
                 ("nat-", "aws.ec2.nat-gateway"), ("eni-", "aws.ec2.network-interface"),
                 ("vol-", "aws.ec2.volume"), ("lt-", "aws.ec2.launch-template"))
_RULE_PARAMS = {"ipPermissions": "", "securityGroupRuleSet": ""}
_LAMBDA_CONFIG = {"timeout": "timeout", "memorySize": "memory_size", "description": "description",
                  "runtime": "runtime", "handler": "handler", "role": "role", "environment": "environment",
                  "vpcConfig": "vpc_config", "layers": "layers", "tracingConfig": "tracing_config",
                  "deadLetterConfig": "dead_letter_config", "kMSKeyArn": "kms_key_arn",
                  "ephemeralStorage": "ephemeral_storage", "architectures": "architectures",
                  "imageConfig": "image_config", "loggingConfig": "logging_config",
                  "snapStart": "snap_start", "fileSystemConfigs": "file_system_config"}
_LAMBDA_CODE = ("source_code_hash", "filename", "s3_bucket", "s3_key", "s3_object_version", "image_uri",
                "version", "publish")
_RDS_ATTRS = {"dBInstanceClass": "instance_class", "allocatedStorage": "allocated_storage",
              "maxAllocatedStorage": "max_allocated_storage", "publiclyAccessible": "publicly_accessible",
              "multiAZ": "multi_az", "backupRetentionPeriod": "backup_retention_period",
              "preferredBackupWindow": "backup_window", "preferredMaintenanceWindow": "maintenance_window",
              "deletionProtection": "deletion_protection", "engineVersion": "engine_version",
              "masterUserPassword": "password", "storageType": "storage_type", "iops": "iops",
              "storageThroughput": "storage_throughput", "vpcSecurityGroupIds": "vpc_security_group_ids",
              "dBParameterGroupName": "parameter_group_name", "optionGroupName": "option_group_name",
              "dBSubnetGroupName": "db_subnet_group_name", "caCertificateIdentifier": "ca_cert_identifier",
              "newDBInstanceIdentifier": "identifier", "monitoringInterval": "monitoring_interval",
              "monitoringRoleArn": "monitoring_role_arn", "autoMinorVersionUpgrade": "auto_minor_version_upgrade",
              "copyTagsToSnapshot": "copy_tags_to_snapshot", "enablePerformanceInsights":
              "performance_insights_enabled", "enableIAMDatabaseAuthentication":
              "iam_database_authentication_enabled", "networkType": "network_type"}
_RDS_CLUSTER_ATTRS = {"engineVersion": "engine_version", "backupRetentionPeriod": "backup_retention_period",
                      "deletionProtection": "deletion_protection", "masterUserPassword": "master_password",
                      "vpcSecurityGroupIds": "vpc_security_group_ids", "port": "port",
                      "preferredBackupWindow": "preferred_backup_window",
                      "preferredMaintenanceWindow": "preferred_maintenance_window",
                      "dBClusterParameterGroupName": "db_cluster_parameter_group_name",
                      "newDBClusterIdentifier": "cluster_identifier"}
_SQS_ATTRS = {f"attributes.{k}": v for k, v in {
    "VisibilityTimeout": "visibility_timeout_seconds", "MessageRetentionPeriod": "message_retention_seconds",
    "DelaySeconds": "delay_seconds", "MaximumMessageSize": "max_message_size",
    "ReceiveMessageWaitTimeSeconds": "receive_wait_time_seconds", "Policy": "policy",
    "RedrivePolicy": "redrive_policy", "RedriveAllowPolicy": "redrive_allow_policy",
    "KmsMasterKeyId": "kms_master_key_id", "KmsDataKeyReusePeriodSeconds": "kms_data_key_reuse_period_seconds",
    "SqsManagedSseEnabled": "sqs_managed_sse_enabled", "ContentBasedDeduplication": "content_based_deduplication",
    "FifoThroughputLimit": "fifo_throughput_limit", "DeduplicationScope": "deduplication_scope"}.items()}
_DDB_ATTRS = {"billingMode": "billing_mode", "provisionedThroughput.readCapacityUnits": "read_capacity",
              "provisionedThroughput.writeCapacityUnits": "write_capacity",
              "attributeDefinitions": "attribute", "globalSecondaryIndexUpdates": "global_secondary_index",
              "streamSpecification": "stream_enabled", "sSESpecification": "server_side_encryption",
              "tableClass": "table_class", "deletionProtectionEnabled": "deletion_protection_enabled",
              "replicaUpdates": "replica"}
_ASG_ATTRS = {"minSize": "min_size", "maxSize": "max_size", "desiredCapacity": "desired_capacity",
              "launchTemplate": "launch_template", "launchConfigurationName": "launch_configuration",
              "mixedInstancesPolicy": "mixed_instances_policy", "vPCZoneIdentifier": "vpc_zone_identifier",
              "healthCheckType": "health_check_type", "healthCheckGracePeriod": "health_check_grace_period",
              "defaultCooldown": "default_cooldown", "terminationPolicies": "termination_policies",
              "maxInstanceLifetime": "max_instance_lifetime", "capacityRebalance": "capacity_rebalance",
              "newInstancesProtectedFromScaleIn": "protect_from_scale_in"}
_TG_ATTRS = {"healthCheckProtocol": "health_check", "healthCheckPort": "health_check",
             "healthCheckPath": "health_check", "healthCheckEnabled": "health_check",
             "healthCheckIntervalSeconds": "health_check", "healthCheckTimeoutSeconds": "health_check",
             "healthyThresholdCount": "health_check", "unhealthyThresholdCount": "health_check",
             "matcher": "health_check"}

_S3_CONFIG: dict[str, str] = {
    "PutBucketPolicy": "policy", "DeleteBucketPolicy": "policy", "PutBucketAcl": "acl",
    "PutBucketVersioning": "versioning", "PutBucketEncryption": "server_side_encryption_configuration",
    "DeleteBucketEncryption": "server_side_encryption_configuration",
    "PutBucketPublicAccessBlock": "public_access_block", "DeleteBucketPublicAccessBlock": "public_access_block",
    "PutBucketLogging": "logging", "PutBucketLifecycle": "lifecycle_rule",
    "PutBucketLifecycleConfiguration": "lifecycle_rule", "DeleteBucketLifecycle": "lifecycle_rule",
    "PutBucketCors": "cors_rule", "DeleteBucketCors": "cors_rule", "PutBucketWebsite": "website",
    "DeleteBucketWebsite": "website", "PutBucketReplication": "replication_configuration",
    "DeleteBucketReplication": "replication_configuration", "PutBucketNotification": "notification",
    "PutBucketNotificationConfiguration": "notification", "PutBucketOwnershipControls": "ownership_controls",
    "DeleteBucketOwnershipControls": "ownership_controls", "PutBucketRequestPayment": "request_payer",
    "PutBucketAccelerateConfiguration": "acceleration_status", "PutBucketObjectLockConfiguration":
    "object_lock_configuration", "PutBucketIntelligentTieringConfiguration": "intelligent_tiering",
    "PutBucketAnalyticsConfiguration": "analytics", "PutBucketMetricsConfiguration": "metrics",
    "PutBucketInventoryConfiguration": "inventory"}

_EC2_TAGS = _tag_keys("tagSet.items[].key", "tagSet[].key")
_ARN_TAGS = _tag_keys("tags[].key", "tags[].Key", "tagKeys[]", "tagKeys", "tags", "Tags[].Key")

TABLE: tuple[Write, ...] = (
    # EC2 instances
    Write("ec2", ("RunInstances",), "aws.ec2.instance", response_id=("instancesSet[].instanceId",),
          always=(CREATED,)),
    Write("ec2", ("TerminateInstances",), "aws.ec2.instance", id=("instancesSet[].instanceId",), always=(DELETED,)),
    Write("ec2", ("StopInstances", "StartInstances", "RebootInstances"), "aws.ec2.instance",
          id=("instancesSet[].instanceId",), always=("instance_state",)),
    Write("ec2", ("ModifyInstanceAttribute",), "aws.ec2.instance", id=("instanceId",), params=_INSTANCE_ATTRS,
          detail=_by_selector("attribute", _INSTANCE_ATTRS)),
    Write("ec2", ("ModifyInstanceMetadataOptions",), "aws.ec2.instance", id=("instanceId",),
          always=("metadata_options",)),
    Write("ec2", ("AssociateIamInstanceProfile", "ReplaceIamInstanceProfileAssociation"), "aws.ec2.instance",
          id=("instanceId",), always=("iam_instance_profile",)),
    Write("ec2", ("ModifyInstanceCreditSpecification",), "aws.ec2.instance",
          id=("instanceCreditSpecification[].instanceId",), always=("credit_specification",)),
    # tags on any EC2 resource: the node kind follows from the id prefix
    Write("ec2", ("CreateTags", "DeleteTags"), "aws.ec2.*", id=("resourcesSet[].resourceId",), detail=_EC2_TAGS,
          kind_by_id=True),
    # security groups and their rules (recorded on the group)
    Write("ec2", ("CreateSecurityGroup",), "aws.ec2.security-group", response_id=("groupId",), always=(CREATED,)),
    Write("ec2", ("DeleteSecurityGroup",), "aws.ec2.security-group", id=("groupId",), always=(DELETED,)),
    Write("ec2", ("AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress",
                  "UpdateSecurityGroupRuleDescriptionsIngress"), "aws.ec2.security-group", id=("groupId",),
          always=("ingress",)),
    Write("ec2", ("AuthorizeSecurityGroupEgress", "RevokeSecurityGroupEgress",
                  "UpdateSecurityGroupRuleDescriptionsEgress"), "aws.ec2.security-group", id=("groupId",),
          always=("egress",)),
    Write("ec2", ("ModifySecurityGroupRules",), "aws.ec2.security-group", id=("groupId",),
          always=("ingress", "egress")),
    # VPCs, subnets
    Write("ec2", ("CreateVpc",), "aws.ec2.vpc", response_id=("vpc.vpcId",), always=(CREATED,)),
    Write("ec2", ("DeleteVpc",), "aws.ec2.vpc", id=("vpcId",), always=(DELETED,)),
    Write("ec2", ("ModifyVpcAttribute",), "aws.ec2.vpc", id=("vpcId",),
          params={"enableDnsSupport": "enable_dns_support", "enableDnsHostnames": "enable_dns_hostnames",
                  "enableNetworkAddressUsageMetrics": "enable_network_address_usage_metrics"}),
    Write("ec2", ("AssociateVpcCidrBlock", "DisassociateVpcCidrBlock"), "aws.ec2.vpc", id=("vpcId",),
          always=("secondary_cidr_blocks",)),
    Write("ec2", ("CreateSubnet",), "aws.ec2.subnet", response_id=("subnet.subnetId",), always=(CREATED,)),
    Write("ec2", ("DeleteSubnet",), "aws.ec2.subnet", id=("subnetId",), always=(DELETED,)),
    Write("ec2", ("ModifySubnetAttribute",), "aws.ec2.subnet", id=("subnetId",),
          params={"mapPublicIpOnLaunch": "map_public_ip_on_launch",
                  "assignIpv6AddressOnCreation": "assign_ipv6_address_on_creation",
                  "enableDns64": "enable_dns64", "privateDnsHostnameTypeOnLaunch": "private_dns_hostname_type_on_launch"}),
    # route tables and their routes (recorded on the route table)
    Write("ec2", ("CreateRouteTable",), "aws.ec2.route-table", response_id=("routeTable.routeTableId",),
          always=(CREATED,)),
    Write("ec2", ("DeleteRouteTable",), "aws.ec2.route-table", id=("routeTableId",), always=(DELETED,)),
    Write("ec2", ("CreateRoute", "ReplaceRoute", "DeleteRoute"), "aws.ec2.route-table", id=("routeTableId",),
          detail=_route),
    Write("ec2", ("AssociateRouteTable",), "aws.ec2.route-table", id=("routeTableId",), always=("association",)),
    Write("ec2", ("ReplaceRouteTableAssociation",), "aws.ec2.route-table", id=("routeTableId",),
          always=("association",)),
    # volumes, network interfaces, gateways
    Write("ec2", ("ModifyVolume",), "aws.ec2.volume", id=("ModifyVolumeRequest.VolumeId", "volumeId"),
          params={"ModifyVolumeRequest.Size": "size", "ModifyVolumeRequest.VolumeType": "type",
                  "ModifyVolumeRequest.Iops": "iops", "ModifyVolumeRequest.Throughput": "throughput"}),
    Write("ec2", ("AttachVolume", "DetachVolume"), "aws.ec2.volume", id=("volumeId",), always=("attachment",)),
    Write("ec2", ("DeleteVolume",), "aws.ec2.volume", id=("volumeId",), always=(DELETED,)),
    Write("ec2", ("ModifyNetworkInterfaceAttribute",), "aws.ec2.network-interface", id=("networkInterfaceId",),
          params={"groupSet": "security_groups", "sourceDestCheck": "source_dest_check",
                  "description": "description", "attachment": "attachment"}),
    Write("ec2", ("CreateNatGateway",), "aws.ec2.nat-gateway", response_id=("CreateNatGatewayResponse.natGateway.natGatewayId",
                                                                           "natGateway.natGatewayId"),
          always=(CREATED,)),
    Write("ec2", ("DeleteNatGateway",), "aws.ec2.nat-gateway", id=("DeleteNatGatewayRequest.NatGatewayId",
                                                                   "natGatewayId"), always=(DELETED,)),
    Write("ec2", ("AttachInternetGateway", "DetachInternetGateway"), "aws.ec2.internet-gateway",
          id=("internetGatewayId",), always=("vpc_id",)),
    Write("ec2", ("DeleteInternetGateway",), "aws.ec2.internet-gateway", id=("internetGatewayId",),
          always=(DELETED,)),
    # RDS
    Write("rds", ("CreateDBInstance",), "aws.rds.instance", id=("dBInstanceIdentifier",), always=(CREATED,)),
    Write("rds", ("DeleteDBInstance",), "aws.rds.instance", id=("dBInstanceIdentifier",), always=(DELETED,)),
    Write("rds", ("ModifyDBInstance",), "aws.rds.instance", id=("dBInstanceIdentifier",), params=_RDS_ATTRS),
    Write("rds", ("RebootDBInstance", "StopDBInstance", "StartDBInstance"), "aws.rds.instance",
          id=("dBInstanceIdentifier",), always=("instance_state",)),
    Write("rds", ("CreateDBCluster",), "aws.rds.cluster", id=("dBClusterIdentifier",), always=(CREATED,)),
    Write("rds", ("DeleteDBCluster",), "aws.rds.cluster", id=("dBClusterIdentifier",), always=(DELETED,)),
    Write("rds", ("ModifyDBCluster",), "aws.rds.cluster", id=("dBClusterIdentifier",), params=_RDS_CLUSTER_ATTRS),
    Write("rds", ("AddTagsToResource", "RemoveTagsFromResource"), "aws.rds.*", id=("resourceName",),
          detail=_tag_keys("tags[].key", "tagKeys[]"), kind_by_id=True),
    Write("rds", ("ModifyDBSubnetGroup",), "aws.rds.subnet-group", id=("dBSubnetGroupName",),
          params={"subnetIds": "subnet_ids", "dBSubnetGroupDescription": "description"}),
    # Lambda (CloudTrail appends an API version to some names: UpdateFunctionConfiguration20150331v2)
    Write("lambda", ("CreateFunction",), "aws.lambda.function", id=("functionName",), always=(CREATED,)),
    Write("lambda", ("DeleteFunction",), "aws.lambda.function", id=("functionName",), always=(DELETED,)),
    Write("lambda", ("UpdateFunctionConfiguration",), "aws.lambda.function", id=("functionName",),
          params=_LAMBDA_CONFIG),
    Write("lambda", ("UpdateFunctionCode",), "aws.lambda.function", id=("functionName",), always=_LAMBDA_CODE),
    Write("lambda", ("PutFunctionConcurrency", "DeleteFunctionConcurrency"), "aws.lambda.function",
          id=("functionName",), always=("reserved_concurrent_executions",)),
    Write("lambda", ("AddPermission", "RemovePermission"), "aws.lambda.function", id=("functionName",),
          detail=_keyed("permission", "statementId")),
    Write("lambda", ("CreateAlias", "UpdateAlias", "DeleteAlias"), "aws.lambda.function", id=("functionName",),
          detail=_keyed("alias", "name")),
    Write("lambda", ("PublishVersion",), "aws.lambda.function", id=("functionName",), always=("version",)),
    Write("lambda", ("TagResource", "UntagResource"), "aws.lambda.function", id=("resource",),
          detail=_tag_keys("tags", "tagKeys[]", "tagKeys")),
    # IAM roles, their managed-policy attachments and inline policies (recorded on the role)
    Write("iam", ("CreateRole",), "aws.iam.role", id=("roleName",), always=(CREATED,)),
    Write("iam", ("DeleteRole",), "aws.iam.role", id=("roleName",), always=(DELETED,)),
    Write("iam", ("AttachRolePolicy", "DetachRolePolicy"), "aws.iam.role", id=("roleName",),
          detail=_keyed("managed_policy_arns", "policyArn")),
    Write("iam", ("PutRolePolicy", "DeleteRolePolicy"), "aws.iam.role", id=("roleName",),
          detail=_keyed("inline_policy", "policyName")),
    Write("iam", ("UpdateAssumeRolePolicy",), "aws.iam.role", id=("roleName",), always=("assume_role_policy",)),
    Write("iam", ("UpdateRole",), "aws.iam.role", id=("roleName",),
          params={"description": "description", "maxSessionDuration": "max_session_duration"}),
    Write("iam", ("UpdateRoleDescription",), "aws.iam.role", id=("roleName",), always=("description",)),
    Write("iam", ("PutRolePermissionsBoundary", "DeleteRolePermissionsBoundary"), "aws.iam.role",
          id=("roleName",), always=("permissions_boundary",)),
    Write("iam", ("TagRole", "UntagRole"), "aws.iam.role", id=("roleName",), detail=_ARN_TAGS),
    Write("iam", ("AddRoleToInstanceProfile", "RemoveRoleFromInstanceProfile"), "aws.iam.instance-profile",
          id=("instanceProfileName",), always=("role",)),
    # S3 bucket configuration (object-level data events are not configuration)
    Write("s3", ("CreateBucket",), "aws.s3.bucket", id=("bucketName",), always=(CREATED,)),
    Write("s3", ("DeleteBucket",), "aws.s3.bucket", id=("bucketName",), always=(DELETED,)),
    Write("s3", ("PutBucketTagging", "DeleteBucketTagging"), "aws.s3.bucket", id=("bucketName",),
          detail=_tag_keys("Tagging.TagSet.Tag[].Key", "Tagging.TagSet[].Key")),
    *(Write("s3", (name,), "aws.s3.bucket", id=("bucketName",), always=(attr,)) for name, attr in _S3_CONFIG.items()),
    # ELBv2: load balancers, target groups and their registered targets (recorded on the target group)
    Write("elasticloadbalancing", ("CreateLoadBalancer",), "aws.elbv2.load-balancer",
          response_id=("loadBalancers[].loadBalancerArn",), always=(CREATED,)),
    Write("elasticloadbalancing", ("DeleteLoadBalancer",), "aws.elbv2.load-balancer", id=("loadBalancerArn",),
          always=(DELETED,)),
    Write("elasticloadbalancing", ("SetSecurityGroups",), "aws.elbv2.load-balancer", id=("loadBalancerArn",),
          always=("security_groups",)),
    Write("elasticloadbalancing", ("SetSubnets",), "aws.elbv2.load-balancer", id=("loadBalancerArn",),
          always=("subnets",)),
    Write("elasticloadbalancing", ("SetIpAddressType",), "aws.elbv2.load-balancer", id=("loadBalancerArn",),
          always=("ip_address_type",)),
    Write("elasticloadbalancing", ("ModifyLoadBalancerAttributes",), "aws.elbv2.load-balancer",
          id=("loadBalancerArn",), detail=_keyed("attributes", "attributes[].key")),
    Write("elasticloadbalancing", ("CreateListener",), "aws.elbv2.load-balancer", id=("loadBalancerArn",),
          always=("listener",)),
    Write("elasticloadbalancing", ("ModifyListener", "DeleteListener"), "aws.elbv2.listener", id=("listenerArn",),
          params={"port": "port", "protocol": "protocol", "defaultActions": "default_action",
                  "certificates": "certificate_arn", "sslPolicy": "ssl_policy"}),
    Write("elasticloadbalancing", ("CreateTargetGroup",), "aws.elbv2.target-group",
          response_id=("targetGroups[].targetGroupArn",), always=(CREATED,)),
    Write("elasticloadbalancing", ("DeleteTargetGroup",), "aws.elbv2.target-group", id=("targetGroupArn",),
          always=(DELETED,)),
    Write("elasticloadbalancing", ("ModifyTargetGroup",), "aws.elbv2.target-group", id=("targetGroupArn",),
          params=_TG_ATTRS),
    Write("elasticloadbalancing", ("ModifyTargetGroupAttributes",), "aws.elbv2.target-group",
          id=("targetGroupArn",), detail=_keyed("attributes", "attributes[].key")),
    Write("elasticloadbalancing", ("RegisterTargets", "DeregisterTargets"), "aws.elbv2.target-group",
          id=("targetGroupArn",), detail=_keyed("targets", "targets[].id")),
    Write("elasticloadbalancing", ("AddTags", "RemoveTags"), "aws.elbv2.*", id=("resourceArns[]",),
          detail=_tag_keys("tags[].key", "tagKeys[]"), kind_by_id=True),
    # Auto Scaling
    Write("autoscaling", ("CreateAutoScalingGroup",), "aws.autoscaling.group", id=("autoScalingGroupName",),
          always=(CREATED,)),
    Write("autoscaling", ("DeleteAutoScalingGroup",), "aws.autoscaling.group", id=("autoScalingGroupName",),
          always=(DELETED,)),
    Write("autoscaling", ("UpdateAutoScalingGroup",), "aws.autoscaling.group", id=("autoScalingGroupName",),
          params=_ASG_ATTRS),
    Write("autoscaling", ("SetDesiredCapacity",), "aws.autoscaling.group", id=("autoScalingGroupName",),
          always=("desired_capacity",)),
    Write("autoscaling", ("AttachLoadBalancerTargetGroups", "DetachLoadBalancerTargetGroups"),
          "aws.autoscaling.group", id=("autoScalingGroupName",), detail=_keyed("target_group_arns",
                                                                               "targetGroupARNs[]")),
    Write("autoscaling", ("AttachTrafficSources", "DetachTrafficSources"), "aws.autoscaling.group",
          id=("autoScalingGroupName",), always=("traffic_source",)),
    Write("autoscaling", ("CreateOrUpdateTags", "DeleteTags"), "aws.autoscaling.group",
          id=("tags[].resourceId",), detail=_tag_keys("tags[].key", prefix="tag")),
    # DynamoDB
    Write("dynamodb", ("CreateTable",), "aws.dynamodb.table", id=("tableName",), always=(CREATED,)),
    Write("dynamodb", ("DeleteTable",), "aws.dynamodb.table", id=("tableName",), always=(DELETED,)),
    Write("dynamodb", ("UpdateTable",), "aws.dynamodb.table", id=("tableName",), params=_DDB_ATTRS),
    Write("dynamodb", ("UpdateTimeToLive",), "aws.dynamodb.table", id=("tableName",), always=("ttl",)),
    Write("dynamodb", ("UpdateContinuousBackups",), "aws.dynamodb.table", id=("tableName",),
          always=("point_in_time_recovery",)),
    Write("dynamodb", ("TagResource", "UntagResource"), "aws.dynamodb.table", id=("resourceArn",),
          detail=_ARN_TAGS),
    # SQS
    Write("sqs", ("CreateQueue",), "aws.sqs.queue", id=("queueName",), always=(CREATED,)),
    Write("sqs", ("DeleteQueue",), "aws.sqs.queue", id=("queueUrl",), always=(DELETED,)),
    Write("sqs", ("SetQueueAttributes",), "aws.sqs.queue", id=("queueUrl",), params=_SQS_ATTRS),
    Write("sqs", ("TagQueue", "UntagQueue"), "aws.sqs.queue", id=("queueUrl",),
          detail=_tag_keys("tags", "tagKeys[]")),
    # SNS
    Write("sns", ("CreateTopic",), "aws.sns.topic", response_id=("topicArn",), always=(CREATED,)),
    Write("sns", ("DeleteTopic",), "aws.sns.topic", id=("topicArn",), always=(DELETED,)),
    Write("sns", ("SetTopicAttributes",), "aws.sns.topic", id=("topicArn",), detail=_keyed("attributes", "attributeName")),
    Write("sns", ("Subscribe",), "aws.sns.topic", id=("topicArn",), detail=_keyed("subscription", "endpoint")),
    Write("sns", ("TagResource", "UntagResource"), "aws.sns.topic", id=("resourceArn",),
          detail=_tag_keys("tags[].key", "tags[].Key", "tagKeys[]")),
    # EKS and ElastiCache
    Write("eks", ("UpdateClusterConfig",), "aws.eks.cluster", id=("name",),
          params={"resourcesVpcConfig": "vpc_config", "logging": "enabled_cluster_log_types",
                  "accessConfig": "access_config"}),
    Write("eks", ("UpdateClusterVersion",), "aws.eks.cluster", id=("name",), always=("version",)),
    Write("eks", ("DeleteCluster",), "aws.eks.cluster", id=("name",), always=(DELETED,)),
    Write("eks", ("UpdateNodegroupConfig", "UpdateNodegroupVersion"), "aws.eks.nodegroup", id=("nodegroupName",),
          params={"scalingConfig": "scaling_config", "labels": "labels", "taints": "taint",
                  "updateConfig": "update_config", "version": "version", "releaseVersion": "release_version",
                  "launchTemplate": "launch_template"}),
    Write("elasticache", ("ModifyCacheCluster",), "aws.elasticache.cluster", id=("cacheClusterId",),
          params={"cacheNodeType": "node_type", "numCacheNodes": "num_cache_nodes",
                  "engineVersion": "engine_version", "securityGroupIds": "security_group_ids",
                  "cacheParameterGroupName": "parameter_group_name", "snapshotRetentionLimit":
                  "snapshot_retention_limit", "preferredMaintenanceWindow": "maintenance_window"}),
    Write("elasticache", ("DeleteCacheCluster",), "aws.elasticache.cluster", id=("cacheClusterId",),
          always=(DELETED,)),
    # KMS
    Write("kms", ("CreateKey",), "aws.kms.key", response_id=("keyMetadata.keyId",), always=(CREATED,)),
    Write("kms", ("ScheduleKeyDeletion",), "aws.kms.key", id=("keyId",), always=(DELETED, "is_enabled")),
    Write("kms", ("CancelKeyDeletion",), "aws.kms.key", id=("keyId",), always=("is_enabled",)),
    Write("kms", ("DisableKey", "EnableKey"), "aws.kms.key", id=("keyId",), always=("is_enabled",)),
    Write("kms", ("EnableKeyRotation", "DisableKeyRotation"), "aws.kms.key", id=("keyId",),
          always=("enable_key_rotation",)),
    Write("kms", ("UpdateKeyDescription",), "aws.kms.key", id=("keyId",), always=("description",)),
    Write("kms", ("PutKeyPolicy",), "aws.kms.key", id=("keyId",), always=("policy",)),
    Write("kms", ("TagResource", "UntagResource"), "aws.kms.key", id=("keyId",),
          detail=_tag_keys("tags[].tagKey", "tagKeys[]")),
    Write("kms", ("CreateAlias", "UpdateAlias", "DeleteAlias"), "aws.kms.key", id=("targetKeyId",),
          detail=_keyed("alias", "aliasName")),
)

# The kind of an ARN-named resource (tag calls that take any ARN).
_ARN_KINDS = ((":rds:", ":db:", "aws.rds.instance"), (":rds:", ":cluster:", "aws.rds.cluster"),
              (":elasticloadbalancing:", ":loadbalancer/", "aws.elbv2.load-balancer"),
              (":elasticloadbalancing:", ":targetgroup/", "aws.elbv2.target-group"),
              (":elasticloadbalancing:", ":listener/", "aws.elbv2.listener"))
_VERSION_SUFFIX = re.compile(r"\d{8}(v\d+)?$")

INDEX: dict[tuple[str, str], Write] = {}
for _w in TABLE:
    for _name in _w.names:
        if (_w.source, _name) in INDEX:
            raise ValueError(f"writes table: {_w.source} {_name} declared twice")
        INDEX[(_w.source, _name)] = _w


def lookup(source: str, event_name: str) -> Write | None:
    """The table row for a write, with CloudTrail's API-version suffixes stripped (``…20150331v2``)."""
    row = INDEX.get((source, event_name))
    if row is None and event_name[-1:].isdigit():
        row = INDEX.get((source, _VERSION_SUFFIX.sub("", event_name)))
    return row


def _kind_of(row: Write, ident: str) -> str | None:
    if not row.kind_by_id:
        return row.kind
    if ident.startswith("arn:"):
        for service, marker, kind in _ARN_KINDS:
            if service in ident and marker in ident:
                return kind
        return None
    for prefix, kind in _EC2_ID_KINDS:
        if ident.startswith(prefix):
            return kind
    return None


def id_forms(ident: str) -> tuple[str, ...]:
    """The forms a resource is known by: an ARN and its trailing name, a queue URL and its name."""
    if ident.startswith("arn:"):
        resource = ident.split(":", 5)[-1]
        return ident, re.split(r"[/:]", resource)[-1]
    if ident.startswith(("https://", "http://")):
        return ident, ident.rstrip("/").rsplit("/", 1)[-1]
    return (ident,)


def _present(params: dict[str, Any], path: str) -> bool:
    """Whether the request carries ``path`` (plain dotted paths walked directly: this runs per write)."""
    if "[" in path:
        return bool(values(params, path))
    node: Any = params
    for part in path.split("."):
        if isinstance(node, dict) and set(node) == {"items"}:
            return bool(values(node, part))
        if not isinstance(node, dict):
            return False
        node = node.get(part)
        if node is None:
            return False
    return True


def attributes_of(row: Write, params: dict[str, Any]) -> tuple[str, ...]:
    """The Terraform attribute paths the write sets, in table order, without repeats."""
    out: dict[str, None] = dict.fromkeys(row.always)
    for param, attr in row.params.items():
        if _present(params, param):
            out[attr] = None
    if row.detail is not None:
        out.update(dict.fromkeys(row.detail(params)))
    return tuple(out)


def targets(source: str, event_name: str, params: Any, response: Any) -> list[Target] | None:
    """The nodes a write changes (None when the event name is not in the table: count it, never guess)."""
    row = lookup(source, event_name)
    if row is None:
        return None
    params = params if isinstance(params, dict) else {}
    ids = [v for p in row.id for v in _strings(params, p)]
    ids += [v for p in row.response_id for v in _strings(response, p)]
    if not ids:
        return []
    attrs = attributes_of(row, params)
    out: list[Target] = []
    for ident in dict.fromkeys(ids):
        kind = _kind_of(row, ident)
        if kind is not None:
            out.append(Target(kind, id_forms(ident), attrs))
    return out


def touches(attribute: str, path: str) -> bool:
    """Whether a write that set ``attribute`` set the diff ``path``: equal, or one names a part of the
    other (``tags`` sets ``tags.Tier``; ``ingress`` covers ``ingress[tcp 22-22 0.0.0.0/0]``)."""
    if attribute in (CREATED, path):
        return True
    longer, shorter = (path, attribute) if len(path) > len(attribute) else (attribute, path)
    return longer.startswith(shorter) and longer[len(shorter)] in ".["


# Documented ARN formats, for writes on nodes the run did not list (``{r}`` region, ``{a}`` account).
_ARN_FORMATS = {"aws.iam.role": "arn:aws:iam::{a}:role/{id}",
                "aws.iam.instance-profile": "arn:aws:iam::{a}:instance-profile/{id}",
                "aws.s3.bucket": "arn:aws:s3:::{id}", "aws.lambda.function": "arn:aws:lambda:{r}:{a}:function:{id}",
                "aws.rds.instance": "arn:aws:rds:{r}:{a}:db:{id}", "aws.rds.cluster": "arn:aws:rds:{r}:{a}:cluster:{id}",
                "aws.dynamodb.table": "arn:aws:dynamodb:{r}:{a}:table/{id}", "aws.sqs.queue": "arn:aws:sqs:{r}:{a}:{id}",
                "aws.kms.key": "arn:aws:kms:{r}:{a}:key/{id}", "aws.eks.cluster": "arn:aws:eks:{r}:{a}:cluster/{id}",
                "aws.rds.subnet-group": "arn:aws:rds:{r}:{a}:subgrp:{id}"}


def node_id(target: Target, region: str, account: str) -> str | None:
    """The graph id of a written node when no listing knows it: the ARN the write names, else the
    documented ARN format; None when the id cannot be derived (an Auto Scaling group's ARN holds a UUID
    that no request carries, a KMS key named by alias)."""
    for ident in target.ids:
        if ident.startswith("arn:"):
            return ident
    native = target.ids[-1] if target.ids else ""
    if not native or native.startswith("alias/"):
        return None
    if target.kind.startswith("aws.ec2."):
        try:
            return aws_arn(target.kind, region, account, native)
        except KeyError:
            return None
    fmt = _ARN_FORMATS.get(target.kind)
    return fmt.format(r=region, a=account, id=native) if fmt else None


NATIVE = "native://"  # the engine's prefix for a reference resolved through its native-id index


def native_ref(target: Target) -> str | None:
    """The reference for a written node whose graph id :func:`node_id` cannot derive: ``native://<id>``
    with the native id the request names (an Auto Scaling group's name, a KMS alias). The engine
    resolves it through the native ids SkyGraph records for its nodes (checking the kind), and binds it
    when the node arrives later, so the write still reaches its node with its eventTime."""
    native = target.ids[-1] if target.ids else ""
    return NATIVE + native if native and not native.startswith(("arn:", "http://", "https://")) else None


def describe() -> list[str]:
    """The table as Markdown rows (docs/deepdrift.md carries them; a test keeps the two equal)."""
    rows = []
    for w in TABLE:
        where = [f"`{x}`" for x in w.id] + [f"response `{x}`" for x in w.response_id]
        kind = "from the id (`i-`, `sg-`, `subnet-`, `vpc-`, `rtb-`, … or the ARN)" if w.kind_by_id else f"`{w.kind}`"
        attrs = [{CREATED: "(created)", DELETED: "(deleted)"}.get(a, f"`{a}`") for a in w.always]
        attrs += [f"`{k}`→`{v}`" for k, v in w.params.items()]
        if w.detail is not None:
            attrs.append(str(w.detail))
        rows.append(f"| {w.source} | {', '.join(w.names)} | {kind} | {', '.join(where)} | "
                    f"{'; '.join(dict.fromkeys(attrs))} |")
    return rows
