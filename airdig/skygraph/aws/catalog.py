"""Every AWS kind SkyGraph reads, the calls it comes from and the edges drawn, per scanner service.

The collectors written before the declarations existed (``ec2`` … ``s3``) are declared here; newer
modules carry their own ``SPECS`` next to their transform. :func:`render_markdown` produces the kind
table of ``docs/skygraph.md`` (between the ``skygraph-kinds`` markers): ``python -m
airdig.skygraph.aws.catalog`` rewrites it, and ``tests/unit/skygraph/test_catalog.py`` fails when the doc
is stale. The integration scan checks every edge it draws against :func:`declared_edges`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from airdig.skygraph.aws import (
    acm,
    analytics,
    apigateway,
    autoscaling_policies,
    cloudfront,
    cloudwatch,
    ecr,
    ecs,
    efs,
    elb,
    elbv2_rules,
    events,
    logs,
    route53,
    secrets,
    stepfunctions,
    streams,
    vpc_links,
)
from airdig.skygraph.aws.spec import E, KindSpec

_VPC, _SUBNET, _SG, _RT = "aws.ec2.vpc", "aws.ec2.subnet", "aws.ec2.security-group", "aws.ec2.route-table"
_IGW, _NAT, _ENI, _INST = "aws.ec2.internet-gateway", "aws.ec2.nat-gateway", "aws.ec2.network-interface", "aws.ec2.instance"
_VOL, _LT, _KEY, _ROLE = "aws.ec2.volume", "aws.ec2.launch-template", "aws.kms.key", "aws.iam.role"
_PROFILE, _ASG, _LB = "aws.iam.instance-profile", "aws.autoscaling.group", "aws.elbv2.load-balancer"
_LIS, _TG, _FN, _Q = "aws.elbv2.listener", "aws.elbv2.target-group", "aws.lambda.function", "aws.sqs.queue"
_RDS, _RDSC, _SNG = "aws.rds.instance", "aws.rds.cluster", "aws.rds.subnet-group"
_T, _TABLE = "aws.sns.topic", "aws.dynamodb.table"
_EKS, _NG, _EC = "aws.eks.cluster", "aws.eks.nodegroup", "aws.elasticache.cluster"

_EC2_ARN = "arn:aws:ec2:<region>:<account>:{}/<id>"
_ROUTE, _POLICY, _USER = "aws.ec2.route", "aws.iam.policy", "aws.iam.user"
_ROUTE_TARGETS = (_IGW, _NAT, _ENI, _INST, "aws.ec2.vpc-endpoint", "aws.ec2.vpc-peering-connection",
                  "aws.ec2.transit-gateway", "aws.ec2.egress-only-internet-gateway")

# service → kinds, in the scanner's order (airdig.skygraph.aws.SERVICES)
SPECS: dict[str, tuple[KindSpec, ...]] = {
    "ec2": (
        KindSpec(_VPC, ("ec2:DescribeVpcs",), E(_VPC, "contains", _SUBNET, _RT, _IGW, _SG), _EC2_ARN.format("vpc"),
                 "VPC id"),
        KindSpec(_SUBNET, ("ec2:DescribeSubnets",), E(_SUBNET, "contains", _NAT) + E(_SUBNET, "network", _INST, _ENI),
                 "the API's SubnetArn", "subnet id"),
        KindSpec(_RT, ("ec2:DescribeRouteTables",),
                 E(_RT, "network", _SUBNET) + E(_RT, "contains", _ROUTE) + E(_RT, "depends_on", *_ROUTE_TARGETS),
                 _EC2_ARN.format("route-table"), "route table id"),
        KindSpec(_ROUTE, ("ec2:DescribeRouteTables",), E(_ROUTE, "depends_on", *_ROUTE_TARGETS),
                 "arn:aws:ec2:<region>:<account>:route-table/<id>/route/<destination CIDR or prefix list>"),
        KindSpec(_IGW, ("ec2:DescribeInternetGateways",), (), _EC2_ARN.format("internet-gateway"), "gateway id"),
        KindSpec(_NAT, ("ec2:DescribeNatGateways",), (), _EC2_ARN.format("natgateway"), "gateway id, public IPs"),
        KindSpec(_SG, ("ec2:DescribeSecurityGroups",), E(_SG, "network", _SG, _INST, _ENI),
                 "the API's SecurityGroupArn", "group id"),
        KindSpec(_ENI, ("ec2:DescribeNetworkInterfaces",), (), _EC2_ARN.format("network-interface"),
                 "ENI id, private IP, public IP"),
        KindSpec(_INST, ("ec2:DescribeInstances",), E(_INST, "depends_on", _ENI, _VOL, _PROFILE),
                 _EC2_ARN.format("instance"), "instance id, IPs, DNS names"),
        KindSpec(_VOL, ("ec2:DescribeVolumes",), E(_VOL, "depends_on", _KEY), _EC2_ARN.format("volume"), "volume id"),
        KindSpec(_LT, ("ec2:DescribeLaunchTemplates",), (), _EC2_ARN.format("launch-template"), "template id, name"),
    ),
    "autoscaling": (
        KindSpec(_ASG, ("autoscaling:DescribeAutoScalingGroups",),
                 E(_ASG, "contains", _INST) + E(_ASG, "depends_on", _LT) + E(_SUBNET, "network", _ASG), natives="name"),
    ),
    "elbv2": (
        KindSpec(_LB, ("elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeTags"),
                 E(_VPC, "contains", _LB) + E(_SUBNET, "network", _LB) + E(_SG, "network", _LB)
                 + E(_LB, "contains", _LIS), natives="DNS name, name"),
        KindSpec(_LIS, ("elasticloadbalancing:DescribeListeners",), E(_LIS, "depends_on", _TG)),
        KindSpec(_TG, ("elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth"),
                 E(_TG, "depends_on", _INST, _ENI, _FN), natives="name"),
    ),
    "rds": (
        KindSpec(_RDS, ("rds:DescribeDBInstances",),
                 E(_RDS, "depends_on", _SNG, _KEY) + E(_SUBNET, "network", _RDS) + E(_SG, "network", _RDS),
                 natives="identifier, endpoint, resource id"),
        KindSpec(_RDSC, ("rds:DescribeDBClusters",),
                 E(_RDSC, "contains", _RDS) + E(_RDSC, "depends_on", _SNG, _KEY) + E(_SG, "network", _RDSC),
                 natives="identifier, endpoints, resource id"),
        KindSpec(_SNG, ("rds:DescribeDBSubnetGroups",), E(_VPC, "contains", _SNG) + E(_SNG, "depends_on", _SUBNET),
                 natives="name"),
    ),
    "lambda": (
        KindSpec(_FN, ("lambda:ListFunctions", "lambda:ListTags", "lambda:ListEventSourceMappings"),
                 E(_FN, "depends_on", _ROLE, _KEY, _Q, _T, _TABLE, "aws.kinesis.stream", "aws.kafka.cluster")
                 + E(_SUBNET, "network", _FN) + E(_SG, "network", _FN), natives="name"),
    ),
    "dynamodb": (KindSpec(_TABLE, ("dynamodb:ListTables", "dynamodb:DescribeTable"), E(_TABLE, "depends_on", _KEY),
                          natives="name, latest stream ARN"),),
    "sqs": (KindSpec(_Q, ("sqs:ListQueues", "sqs:GetQueueAttributes", "sqs:ListQueueTags"),
                     E(_Q, "depends_on", _Q, _KEY), natives="queue URL, name"),),
    "sns": (KindSpec(_T, ("sns:ListTopics", "sns:GetTopicAttributes", "sns:ListSubscriptionsByTopic"),
                     E(_T, "depends_on", _Q, _FN, _KEY)),),
    "kms": (KindSpec(_KEY, ("kms:ListKeys", "kms:DescribeKey", "kms:ListResourceTags", "kms:ListAliases"),
                     natives="key id, aliases"),),
    "eks": (
        KindSpec(_EKS, ("eks:ListClusters", "eks:DescribeCluster"),
                 E(_EKS, "contains", _NG) + E(_EKS, "depends_on", _ROLE) + E(_SUBNET, "network", _EKS)
                 + E(_SG, "network", _EKS), natives="API endpoint host"),
        KindSpec(_NG, ("eks:ListNodegroups", "eks:DescribeNodegroup"),
                 E(_NG, "contains", _ASG) + E(_NG, "depends_on", _ROLE) + E(_SUBNET, "network", _NG)),
    ),
    "elasticache": (KindSpec(_EC, ("elasticache:DescribeCacheClusters", "elasticache:DescribeCacheSubnetGroups"),
                             E(_SG, "network", _EC) + E(_SUBNET, "network", _EC),
                             "arn:aws:elasticache:<region>:<account>:cluster:<id>", "cluster id, endpoints"),),
    "iam": (
        KindSpec(_ROLE, ("iam:ListRoles", "iam:ListRoleTags", "iam:ListAttachedRolePolicies", "iam:ListRolePolicies"),
                 E(_ROLE, "depends_on", _POLICY), natives="role id"),
        KindSpec(_PROFILE, ("iam:ListInstanceProfiles",), E(_PROFILE, "depends_on", _ROLE), natives="profile id, name"),
        KindSpec(_USER, ("iam:ListUsers", "iam:ListUserTags", "iam:ListAttachedUserPolicies", "iam:ListUserPolicies"),
                 E(_USER, "depends_on", _POLICY), natives="user id, name"),
        KindSpec(_POLICY, ("iam:ListPolicies (Scope=Local: customer managed)", "iam:ListPolicyTags"),
                 natives="policy id"),
    ),
    "s3": (KindSpec("aws.s3.bucket", ("s3:ListBuckets", "s3:GetBucketLocation", "s3:GetBucketTagging",
                                      "s3:GetBucketEncryption", "s3:GetBucketVersioning"),
                    E("aws.s3.bucket", "depends_on", _KEY), "arn:aws:s3:::<bucket>", "bucket name"),),
    "vpclinks": vpc_links.SPECS,
    "elbv2-rules": elbv2_rules.SPECS,
    "elb": elb.SPECS,
    "ecs": ecs.SPECS,
    "ecr": ecr.SPECS,
    "efs": efs.SPECS,
    "secretsmanager": secrets.SPECS,
    "acm": acm.SPECS,
    "cloudwatch": cloudwatch.SPECS,
    "logs": logs.SPECS,
    "events": events.SPECS,
    "stepfunctions": stepfunctions.SPECS,
    "kinesis": streams.SPECS,
    "kafka": analytics.SPECS[:1],
    "opensearch": analytics.SPECS[1:],
    "autoscaling-policies": autoscaling_policies.SPECS,
    "apigateway": apigateway.SPECS,
    "route53": route53.SPECS,
    "cloudfront": cloudfront.SPECS,
}

BEGIN, END = "<!-- skygraph-kinds:begin (generated by python -m airdig.skygraph.aws.catalog) -->", "<!-- skygraph-kinds:end -->"
DOC = Path(__file__).resolve().parents[3] / "docs" / "skygraph.md"


def all_specs() -> list[tuple[str, KindSpec]]:
    return [(svc, k) for svc, kinds in SPECS.items() for k in kinds]


def declared_edges() -> set[tuple[str, str, str]]:
    return {(e.src, e.type, e.dst) for _, k in all_specs() for e in k.edges}


def kind_service(kind: str) -> str | None:
    """The scanner service (``--services`` name) that reads ``kind``."""
    return next((svc for svc, k in all_specs() if k.kind == kind), None)


def _edge_text(k: KindSpec) -> str:
    groups: dict[tuple[str, str, str], list[str]] = {}
    for e in k.edges:
        if e.src == k.kind:
            groups.setdefault(("→", e.type, ""), []).append(f"`{e.dst}`")
        elif e.dst == k.kind:
            groups.setdefault(("←", e.type, ""), []).append(f"`{e.src}`")
        else:
            groups.setdefault(("", e.type, e.src), []).append(f"`{e.dst}`")
    parts = []
    for (way, type_, src), dsts in groups.items():
        if way == "→":
            parts.append(f"{type_} → {', '.join(dsts)}")
        elif way == "←":
            parts.append(f"{', '.join(dsts)} {type_} → this")
        else:
            parts.append(f"`{src}` {type_} → {', '.join(dsts)}")
    return "; ".join(parts) or "—"


def render_markdown() -> str:
    """The generated kind table: one row per kind with its scope service, source calls, id and edges."""
    specs = all_specs()
    lines = [BEGIN, "",
             f"{len(specs)} AWS kinds from {len(SPECS)} scanner services. *Id* is the API's ARN unless a format "
             "is given (the API returns none, the documented format is synthesised); *native ids* are indexed so "
             "other scopes' references (ids, names, DNS names, IPs) resolve to the node.", "",
             "| kind | service (scope) | source calls | id | native ids | edges (src -type-> dst) |",
             "|---|---|---|---|---|---|"]
    for svc, k in specs:
        calls = ", ".join(f"`{c}`" for c in k.calls)
        arn = f"`{k.arn}`" if k.arn.startswith("arn:") else (k.arn or "API ARN")
        lines.append(f"| `{k.kind}` | `{svc}` | {calls} | {arn} | {k.natives or '—'} | {_edge_text(k)} |")
    lines += ["", END]
    return "\n".join(lines)


def with_table(doc: str) -> str:
    """``doc`` with the generated section replaced (appended before ``## Events`` when absent)."""
    table = render_markdown()
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        return head + table + rest.split(END, 1)[1]
    marker = "## Events"
    head, _, tail = doc.partition(marker)
    return f"{head}### Every AWS kind\n\n{table}\n\n{marker}{tail}"


if __name__ == "__main__":  # pragma: no cover - the doc regenerator
    DOC.write_text(with_table(DOC.read_text(encoding="utf-8")), encoding="utf-8")
    sys.stdout.write(f"{DOC}: {len(all_specs())} kinds\n")
