"""The AWS collectors, one module per service family, and the table the scanner walks.

Each entry names the scope's service, whether it is global (read once, not per region), the ``get``
(boto3 I/O) and the pure ``transform``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airdig.skygraph.aws import (
    acm,
    analytics,
    apigateway,
    autoscaling,
    autoscaling_policies,
    cloudfront,
    cloudwatch,
    dynamodb,
    ec2,
    ecr,
    ecs,
    efs,
    eks,
    elasticache,
    elb,
    elbv2,
    elbv2_rules,
    events,
    iam,
    kms,
    lambda_,
    logs,
    rds,
    route53,
    s3,
    secrets,
    sns,
    sqs,
    stepfunctions,
    streams,
    vpc_links,
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
    # issue 14: the kinds declared with their edges and source calls (``SPECS`` in each module)
    AwsService("vpclinks", False, vpc_links.get_vpc_links, vpc_links.transform_vpc_links),
    AwsService("elbv2-rules", False, elbv2_rules.get_elbv2_rules, elbv2_rules.transform_elbv2_rules),
    AwsService("elb", False, elb.get_elb, elb.transform_elb),
    AwsService("ecs", False, ecs.get_ecs, ecs.transform_ecs),
    AwsService("ecr", False, ecr.get_ecr, ecr.transform_ecr),
    AwsService("efs", False, efs.get_efs, efs.transform_efs),
    AwsService("secretsmanager", False, secrets.get_secrets, secrets.transform_secrets),
    AwsService("acm", False, acm.get_acm, acm.transform_acm),
    AwsService("cloudwatch", False, cloudwatch.get_cloudwatch, cloudwatch.transform_cloudwatch),
    AwsService("logs", False, logs.get_logs, logs.transform_logs),
    AwsService("events", False, events.get_events, events.transform_events),
    AwsService("stepfunctions", False, stepfunctions.get_stepfunctions, stepfunctions.transform_stepfunctions),
    AwsService("kinesis", False, streams.get_streams, streams.transform_streams),
    AwsService("kafka", False, analytics.get_msk, analytics.transform_msk),
    AwsService("opensearch", False, analytics.get_opensearch, analytics.transform_opensearch),
    AwsService("autoscaling-policies", False, autoscaling_policies.get_autoscaling_policies,
               autoscaling_policies.transform_autoscaling_policies),
    AwsService("apigateway", False, apigateway.get_apigateway, apigateway.transform_apigateway),
    AwsService("route53", True, route53.get_route53, route53.transform_route53),
    AwsService("cloudfront", True, cloudfront.get_cloudfront, cloudfront.transform_cloudfront),
)

SERVICE_NAMES = tuple(s.name for s in SERVICES)
