"""CloudWatch metric alarms.

Edges: alarm ``depends_on`` the resource its dimensions name (instance, load balancer, target group, DB
instance, Lambda function, SQS queue, DynamoDB table, ECS service, Auto Scaling group…) and the SNS
topics / Auto Scaling policies it notifies. ``StateValue``/``StateReason``/state timestamps are left
out: the alarm's state is health (PulseSight's business), not configuration.
"""

from __future__ import annotations

from typing import Any

from airdig.skygraph.aws.common import Clients, Where, each, node, paginate, without
from airdig.skygraph.aws.spec import E, KindSpec, arn_of
from airdig.skygraph.graph import Fragment

ALARM = "aws.cloudwatch.alarm"
SPECS = (KindSpec(ALARM, ("cloudwatch:DescribeAlarms",),
                  E(ALARM, "depends_on", "aws.ec2.instance", "aws.elbv2.load-balancer", "aws.elbv2.target-group",
                    "aws.elb.load-balancer", "aws.rds.instance", "aws.rds.cluster", "aws.lambda.function", "aws.sqs.queue",
                    "aws.dynamodb.table", "aws.autoscaling.group", "aws.ecs.cluster", "aws.ecs.service",
                    "aws.sns.topic", "aws.autoscaling.policy", "aws.kinesis.stream", "aws.states.state-machine",
                    "aws.ec2.nat-gateway", "aws.ec2.volume"), natives="alarm name"),)

_VOLATILE = ("StateValue", "StateReason", "StateReasonData", "StateUpdatedTimestamp", "StateTransitionedTimestamp",
             "AlarmConfigurationUpdatedTimestamp")


# dimension → (ARN service, resource format) for dimensions that carry a name, not a unique id
_BY_ARN = {
    "QueueName": ("sqs", "{}"),
    "TopicName": ("sns", "{}"),
    "TableName": ("dynamodb", "table/{}"),
    "FunctionName": ("lambda", "function:{}"),
    "DBInstanceIdentifier": ("rds", "db:{}"),
    "DBClusterIdentifier": ("rds", "cluster:{}"),
    "StreamName": ("kinesis", "stream/{}"),
}


def get_cloudwatch(clients: Clients, where: Where) -> dict[str, Any]:
    cw = clients.client("cloudwatch", where.region)
    return {"MetricAlarms": paginate(cw, "describe_alarms", "MetricAlarms", AlarmTypes=["MetricAlarm"])}


def dimension_refs(dims: dict[str, str], where: Where) -> list[str]:
    """The references a metric's dimensions name (ids, names or ARNs the native index resolves)."""
    out: list[str] = []

    def elb(res: str) -> str:
        return arn_of(where.partition, "elasticloadbalancing", where.region, where.account, res)

    for key, value in dims.items():
        if key == "LoadBalancer":  # app/<name>/<id> (ALB/NLB); a Classic ELB uses LoadBalancerName
            out.append(elb(f"loadbalancer/{value}"))
        elif key == "TargetGroup":  # targetgroup/<name>/<id>
            out.append(elb(value))
        elif key == "LoadBalancerName":
            out.append(elb(f"loadbalancer/{value}"))
        elif key == "ServiceName" and "ClusterName" in dims:
            out.append(arn_of(where.partition, "ecs", where.region, where.account,
                              f"service/{dims['ClusterName']}/{value}"))
        elif key == "ClusterName" and "ServiceName" not in dims:
            out.append(arn_of(where.partition, "ecs", where.region, where.account, f"cluster/{value}"))
        elif key in _BY_ARN:  # names collide across services (a queue and a table both "orders"): use the ARN
            service, fmt = _BY_ARN[key]
            out.append(arn_of(where.partition, service, where.region, where.account, fmt.format(value)))
        elif key in ("StateMachineArn", "InstanceId", "AutoScalingGroupName", "NatGatewayId", "VolumeId"):
            out.append(value)
    return out


def transform_cloudwatch(raw: dict[str, Any], where: Where, scope: str) -> Fragment:
    f = Fragment(scope)
    for a in each(raw.get("MetricAlarms")):
        arn = a["AlarmArn"]
        f.add(node(ALARM, arn, where, a.get("AlarmName", arn), without(a, *_VOLATILE), {}, [a.get("AlarmName")]))
        dims = {str(d.get("Name")): str(d.get("Value")) for d in each(a.get("Dimensions"))}
        for ref in dimension_refs(dims, where):
            f.link(arn, "depends_on", ref)
        for action in {*(a.get("AlarmActions") or []), *(a.get("OKActions") or []),
                       *(a.get("InsufficientDataActions") or [])}:
            if ":sns:" in action or ":autoscaling:" in action:
                f.link(arn, "depends_on", action)
    return f
