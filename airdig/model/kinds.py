"""The graph's vocabulary, declared once: node kinds and edge types.

GraphQL enums, the docs and the impact traversal all read these tables; add a kind here and every
surface knows it. Edge types carry a direction, an inverse name and the direction in which a failure
propagates, which is what ``impact`` and ``rootCause`` walk.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Propagation(StrEnum):
    """Which way trouble travels along an edge ``src -[type]-> dst``."""

    FORWARD = "forward"  # trouble at src reaches dst (an SG guards the instance it points to)
    BACKWARD = "backward"  # trouble at dst reaches src (a database fails its callers)
    NONE = "none"  # bookkeeping only (Terraform ownership)


@dataclass(frozen=True)
class EdgeType:
    name: str
    description: str
    inverse: str
    propagation: Propagation
    weight: float  # how strongly failure travels along it (1.0 = always), used to rank impact and causes


@dataclass(frozen=True)
class NodeKind:
    name: str
    provider: str
    description: str


EDGE_TYPES: dict[str, EdgeType] = {
    e.name: e
    for e in (
        EdgeType("contains", "A container holds a member (VPC contains subnet, namespace contains pod).",
                 "contained_in", Propagation.FORWARD, 0.6),
        EdgeType("network", "Network path or guard (subnet or security group to instance, ENI, RDS).",
                 "networked_by", Propagation.FORWARD, 0.9),
        EdgeType("depends_on", "The source needs the destination to work (instance needs RDS, Lambda reads SQS).",
                 "needed_by", Propagation.BACKWARD, 0.9),
        EdgeType("runs_on", "The source executes on the destination (pod on node, service on instance).",
                 "hosts", Propagation.BACKWARD, 1.0),
        EdgeType("calls", "Service calls service (from traces), with rate, errors and latency.",
                 "called_by", Propagation.BACKWARD, 1.0),
        EdgeType("manages", "A Terraform address manages a resource.", "managed_by", Propagation.NONE, 0.0),
    )
}

_K = NodeKind
NODE_KINDS: dict[str, NodeKind] = {
    k.name: k
    for k in (
        _K("aws.ec2.vpc", "aws", "VPC"),
        _K("aws.ec2.subnet", "aws", "VPC subnet"),
        _K("aws.ec2.route-table", "aws", "Route table"),
        _K("aws.ec2.route", "aws", "Route of a route table (destination → target)"),
        _K("aws.ec2.internet-gateway", "aws", "Internet gateway"),
        _K("aws.ec2.nat-gateway", "aws", "NAT gateway"),
        _K("aws.ec2.security-group", "aws", "Security group with its rules"),
        _K("aws.ec2.network-interface", "aws", "Elastic network interface"),
        _K("aws.ec2.instance", "aws", "EC2 instance"),
        _K("aws.ec2.volume", "aws", "EBS volume"),
        _K("aws.ec2.launch-template", "aws", "Launch template"),
        _K("aws.autoscaling.group", "aws", "Auto Scaling group"),
        _K("aws.elbv2.load-balancer", "aws", "Application/Network load balancer"),
        _K("aws.elbv2.listener", "aws", "Load balancer listener"),
        _K("aws.elbv2.target-group", "aws", "Target group with registered targets"),
        _K("aws.rds.instance", "aws", "RDS DB instance"),
        _K("aws.rds.cluster", "aws", "RDS/Aurora cluster"),
        _K("aws.rds.subnet-group", "aws", "DB subnet group"),
        _K("aws.lambda.function", "aws", "Lambda function"),
        _K("aws.s3.bucket", "aws", "S3 bucket"),
        _K("aws.dynamodb.table", "aws", "DynamoDB table"),
        _K("aws.sqs.queue", "aws", "SQS queue"),
        _K("aws.sns.topic", "aws", "SNS topic"),
        _K("aws.iam.role", "aws", "IAM role"),
        _K("aws.iam.instance-profile", "aws", "IAM instance profile"),
        _K("aws.iam.policy", "aws", "IAM managed policy"),
        _K("aws.iam.user", "aws", "IAM user"),
        _K("aws.kms.key", "aws", "KMS key"),
        _K("aws.eks.cluster", "aws", "EKS cluster"),
        _K("aws.eks.nodegroup", "aws", "EKS managed node group"),
        _K("aws.elasticache.cluster", "aws", "ElastiCache cluster"),
        _K("aws.ec2.vpc-endpoint", "aws", "VPC endpoint (gateway or interface)"),
        _K("aws.ec2.vpc-peering-connection", "aws", "VPC peering connection"),
        _K("aws.ec2.transit-gateway", "aws", "Transit Gateway"),
        _K("aws.ec2.transit-gateway-attachment", "aws", "Transit Gateway attachment"),
        _K("aws.ec2.transit-gateway-route-table", "aws", "Transit Gateway route table"),
        _K("aws.ec2.egress-only-internet-gateway", "aws", "Egress-only internet gateway"),
        _K("aws.ec2.elastic-ip", "aws", "Elastic IP address"),
        _K("aws.elbv2.listener-rule", "aws", "ALB listener rule"),
        _K("aws.elb.load-balancer", "aws", "Classic load balancer"),
        _K("aws.ecs.cluster", "aws", "ECS cluster"),
        _K("aws.ecs.service", "aws", "ECS service"),
        _K("aws.ecs.task", "aws", "ECS task (running)"),
        _K("aws.ecs.task-definition", "aws", "ECS task definition (revisions in use)"),
        _K("aws.ecs.container-instance", "aws", "ECS container instance"),
        _K("aws.ecr.repository", "aws", "ECR repository"),
        _K("aws.efs.file-system", "aws", "EFS file system"),
        _K("aws.efs.mount-target", "aws", "EFS mount target"),
        _K("aws.efs.access-point", "aws", "EFS access point"),
        _K("aws.secretsmanager.secret", "aws", "Secrets Manager secret (metadata only, never the value)"),
        _K("aws.acm.certificate", "aws", "ACM certificate"),
        _K("aws.cloudwatch.alarm", "aws", "CloudWatch metric alarm"),
        _K("aws.logs.log-group", "aws", "CloudWatch Logs log group"),
        _K("aws.events.event-bus", "aws", "EventBridge event bus"),
        _K("aws.events.rule", "aws", "EventBridge rule with its targets"),
        _K("aws.states.state-machine", "aws", "Step Functions state machine"),
        _K("aws.states.activity", "aws", "Step Functions activity"),
        _K("aws.kinesis.stream", "aws", "Kinesis data stream"),
        _K("aws.firehose.delivery-stream", "aws", "Kinesis Data Firehose delivery stream"),
        _K("aws.kafka.cluster", "aws", "MSK (Kafka) cluster"),
        _K("aws.opensearch.domain", "aws", "OpenSearch domain"),
        _K("aws.autoscaling.policy", "aws", "Auto Scaling policy"),
        _K("aws.apigateway.rest-api", "aws", "API Gateway REST API"),
        _K("aws.apigateway.stage", "aws", "API Gateway REST API stage"),
        _K("aws.apigatewayv2.api", "aws", "API Gateway HTTP/WebSocket API"),
        _K("aws.apigatewayv2.stage", "aws", "API Gateway v2 stage"),
        _K("aws.apigatewayv2.integration", "aws", "API Gateway v2 integration"),
        _K("aws.route53.hosted-zone", "aws", "Route 53 hosted zone"),
        _K("aws.route53.record-set", "aws", "Route 53 record set"),
        _K("aws.route53.health-check", "aws", "Route 53 health check"),
        _K("aws.cloudfront.distribution", "aws", "CloudFront distribution"),
        _K("k8s.namespace", "k8s", "Namespace"),
        _K("k8s.node", "k8s", "Node"),
        _K("k8s.pod", "k8s", "Pod"),
        _K("k8s.deployment", "k8s", "Deployment"),
        _K("k8s.replicaset", "k8s", "ReplicaSet"),
        _K("k8s.statefulset", "k8s", "StatefulSet"),
        _K("k8s.daemonset", "k8s", "DaemonSet"),
        _K("k8s.job", "k8s", "Job"),
        _K("k8s.cronjob", "k8s", "CronJob"),
        _K("k8s.service", "k8s", "Service"),
        _K("k8s.ingress", "k8s", "Ingress"),
        _K("k8s.configmap", "k8s", "ConfigMap (name only)"),
        _K("k8s.secret", "k8s", "Secret (name only, never data)"),
        _K("k8s.pvc", "k8s", "PersistentVolumeClaim"),
        _K("k8s.pv", "k8s", "PersistentVolume"),
        _K("k8s.hpa", "k8s", "HorizontalPodAutoscaler"),
        _K("service", "otel", "A service seen in traces"),
        _K("service.database", "otel", "A database seen only from its clients' spans (virtual node)"),
        _K("service.queue", "otel", "A messaging destination seen in spans (virtual node)"),
        _K("service.external", "otel", "A peer seen only from client spans (virtual node)"),
        _K("terraform.resource", "terraform", "A Terraform resource address"),
    )
}

HEALTH_STATUSES = ("healthy", "warning", "critical", "unknown")
DRIFT_STATUSES = ("in_sync", "drifted", "unmanaged", "missing", "unknown")
HEALTH_RANK = {"unknown": 0, "healthy": 1, "warning": 2, "critical": 3}


def edge_type(name: str) -> EdgeType:
    """The declared edge type, or :class:`KeyError` naming the known ones."""
    try:
        return EDGE_TYPES[name]
    except KeyError:
        raise KeyError(f"unknown edge type {name!r}; known: {', '.join(EDGE_TYPES)}") from None
