"""The AWS collectors, one module per service family, and the table the scanner walks.

Each entry names the scope's service, whether it is global (read once, not per region), the ``get``
(boto3 I/O) and the pure ``transform``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airdig.skygraph.aws import (
    autoscaling,
    dynamodb,
    ec2,
    eks,
    elasticache,
    elbv2,
    iam,
    kms,
    lambda_,
    rds,
    s3,
    sns,
    sqs,
)
from airdig.skygraph.aws.common import Clients, Where
from airdig.skygraph.graph import Fragment


@dataclass(frozen=True)
class AwsService:
    name: str
    is_global: bool
    get: Callable[[Clients, Where], dict[str, Any]]
    transform: Callable[[dict[str, Any], Where, str], Fragment]


SERVICES: tuple[AwsService, ...] = (
    AwsService("ec2", False, ec2.get_ec2, ec2.transform_ec2),
    AwsService("autoscaling", False, autoscaling.get_autoscaling, autoscaling.transform_autoscaling),
    AwsService("elbv2", False, elbv2.get_elbv2, elbv2.transform_elbv2),
    AwsService("rds", False, rds.get_rds, rds.transform_rds),
    AwsService("lambda", False, lambda_.get_lambda, lambda_.transform_lambda),
    AwsService("dynamodb", False, dynamodb.get_dynamodb, dynamodb.transform_dynamodb),
    AwsService("sqs", False, sqs.get_sqs, sqs.transform_sqs),
    AwsService("sns", False, sns.get_sns, sns.transform_sns),
    AwsService("kms", False, kms.get_kms, kms.transform_kms),
    AwsService("eks", False, eks.get_eks, eks.transform_eks),
    AwsService("elasticache", False, elasticache.get_elasticache, elasticache.transform_elasticache),
    AwsService("iam", True, iam.get_iam, iam.transform_iam),
    AwsService("s3", True, s3.get_s3, s3.transform_s3),
)

SERVICE_NAMES = tuple(s.name for s in SERVICES)
