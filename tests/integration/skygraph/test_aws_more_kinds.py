"""The kinds added for issue 14 against the AWS API emulator (moto server): every kind is created with
boto3, scanned, and its edges to the rest of the estate checked; every edge a scan draws must be one a
collector declares (``SPECS``), so the generated kind table in docs/skygraph.md cannot lie."""

from __future__ import annotations

from pathlib import Path

import orjson

from airdig.skygraph.aws.catalog import all_specs, declared_edges, kind_service
from airdig.skygraph.graph_state import GraphState
from airdig.skygraph.scan import ScanOptions, run_scan
from tests.integration.skygraph.conftest import ACCOUNT, REGION, Topology
from tests.integration.skygraph.estate_more import build_more

OPTS = ScanOptions(regions=[REGION], k8s=False)


def ec2(kind: str, native: str) -> str:
    return f"arn:aws:ec2:{REGION}:{ACCOUNT}:{kind}/{native}"


def test_new_kinds_and_their_edges(topology: Topology, data_dir: Path) -> None:
    t = build_more(topology)
    ids, arns = t.ids, t.arns
    report = run_scan(OPTS, GraphState(data_dir))
    assert report.failed == []
    nodes = {n.id: n for n in report.graph.nodes()}
    kinds = {n.kind for n in nodes.values()}
    new = {"aws.ec2.vpc-endpoint", "aws.ec2.vpc-peering-connection", "aws.ec2.transit-gateway",
           "aws.ec2.transit-gateway-attachment", "aws.ec2.transit-gateway-route-table",
           "aws.ec2.egress-only-internet-gateway", "aws.ec2.elastic-ip", "aws.elbv2.listener-rule",
           "aws.elb.load-balancer", "aws.ecs.cluster", "aws.ecs.service", "aws.ecs.task", "aws.ecs.task-definition",
           "aws.ecs.container-instance",            "aws.ecr.repository", "aws.efs.file-system", "aws.efs.mount-target", "aws.efs.access-point",
           "aws.secretsmanager.secret", "aws.acm.certificate", "aws.cloudwatch.alarm", "aws.logs.log-group",
           "aws.events.event-bus", "aws.events.rule", "aws.states.state-machine", "aws.states.activity",
           "aws.kinesis.stream", "aws.firehose.delivery-stream", "aws.kafka.cluster", "aws.opensearch.domain",
           "aws.autoscaling.policy", "aws.apigateway.rest-api", "aws.apigateway.stage", "aws.apigatewayv2.api",
           "aws.apigatewayv2.stage", "aws.apigatewayv2.integration", "aws.route53.hosted-zone",
           "aws.route53.record-set", "aws.cloudfront.distribution", "aws.ec2.route", "aws.iam.user",
           "aws.iam.policy"}
    assert new - kinds == set()
    assert len({k for k in kinds if k.startswith("aws.")}) >= 60

    edges = {e.key for e in report.graph.edges()}
    vpc, rt = ec2("vpc", ids["vpc"]), ec2("route-table", ids["rt"])
    sub_a, sub_b = ec2("subnet", ids["sub_a"]), ec2("subnet", ids["sub_b"])
    sg_web, sg_db, sg_lb = (ec2("security-group", ids[k]) for k in ("sg_web", "sg_db", "sg_lb"))
    web1 = ec2("instance", ids["web1"])
    expected = {
        # VPC links; routes reach the peering connection and the gateway endpoint
        (vpc, "contains", ec2("vpc-endpoint", ids["vpce"])),
        (rt, "depends_on", ec2("vpc-endpoint", ids["vpce"])),
        (rt, "depends_on", ec2("vpc-peering-connection", ids["pcx"])),
        # routes as nodes: the table contains the route, the route depends on its target
        (rt, "contains", f"{rt}/route/10.1.0.0/16"),
        (f"{rt}/route/10.1.0.0/16", "depends_on", ec2("vpc-peering-connection", ids["pcx"])),
        (f"{rt}/route/0.0.0.0/0", "depends_on", ec2("internet-gateway", ids["igw"])),
        # IAM: a user and a role depend on the customer managed policy attached to them
        (arns["user_ci"], "depends_on", arns["policy_orders"]),
        (topology.arns["fn_role"], "depends_on", arns["policy_orders"]),
        (ec2("vpc-peering-connection", ids["pcx"]), "network", ec2("vpc", ids["other_vpc"])),
        (arns["tgw"], "contains", ec2("transit-gateway-attachment", ids["tgw_att"])),
        (arns["tgw"], "contains", ec2("transit-gateway-route-table", ids["tgw_rt"])),
        (ec2("transit-gateway-attachment", ids["tgw_att"]), "network", vpc),
        (vpc, "contains", ec2("egress-only-internet-gateway", ids["eigw"])),
        # listener rule, Classic ELB
        (arns["listener"], "contains", arns["rule"]),
        (arns["rule"], "depends_on", arns["tg"]),
        (sub_a, "network", arns["clb"]),
        (sg_lb, "network", arns["clb"]),
        (arns["clb"], "depends_on", web1),
        # ECS → target group, subnets, SGs, roles, ECR
        (arns["ecs_cluster"], "contains", arns["ecs_service"]),
        (arns["ecs_cluster"], "contains", arns["task"]),
        (arns["ecs_service"], "depends_on", arns["tg"]),
        (arns["ecs_service"], "depends_on", arns["taskdef"]),
        (sub_a, "network", arns["ecs_service"]),
        (sg_web, "network", arns["ecs_service"]),
        (arns["task"], "depends_on", arns["worker_td"]),
        (arns["task"], "runs_on", arns["ci"]),
        (arns["ecs_cluster"], "contains", arns["ci"]),
        (arns["ci"], "runs_on", ec2("instance", ids["web2"])),
        (arns["taskdef"], "depends_on", arns["fn_role"]),
        (arns["taskdef"], "depends_on", arns["role"]),
        (arns["taskdef"], "depends_on", arns["repo"]),
        # EFS
        (arns["fs"], "contains", arns["mt"]),
        (arns["fs"], "contains", arns["ap"]),
        (arns["fs"], "depends_on", arns["key"]),
        (sub_a, "network", arns["mt"]),
        (sg_web, "network", arns["mt"]),
        # secret metadata, alarms, EventBridge, Step Functions
        (arns["secret"], "depends_on", arns["key"]),
        (arns["alarm_alb"], "depends_on", arns["lb"]),
        (arns["alarm_alb"], "depends_on", arns["topic"]),
        (arns["alarm_queue"], "depends_on", arns["queue"]),
        (arns["bus"], "contains", arns["ev_rule"]),
        (arns["ev_rule"], "depends_on", arns["fn"]),
        (arns["ev_rule"], "depends_on", arns["queue"]),
        (arns["sm"], "depends_on", arns["fn"]),
        (arns["sm"], "depends_on", arns["fn_role"]),
        # streams, search, Kafka
        (arns["firehose"], "depends_on", arns["stream"]),
        (arns["firehose"], "depends_on", "arn:aws:s3:::orders-archive"),
        (sub_a, "network", arns["domain"]),
        (sg_db, "network", arns["domain"]),
        (sub_b, "network", arns["msk"]),
        (sg_db, "network", arns["msk"]),
        (arns["asg"], "contains", arns["policy"]),
        # API Gateway → Lambda / ALB listener
        (arns["rest"], "depends_on", arns["fn"]),
        (arns["api"], "contains", arns["integ"]),
        (arns["api"], "contains", arns["stage2"]),
        (arns["integ"], "depends_on", arns["fn"]),
        (arns["integ_alb"], "depends_on", arns["listener"]),
        # CloudFront → S3 / ALB; Route 53 → ALB / CloudFront / an Elastic IP
        (arns["dist"], "depends_on", "arn:aws:s3:::orders-archive"),
        (arns["dist"], "depends_on", arns["lb"]),
        (arns["zone"], "contains", arns["rec_alb"]),
        (arns["rec_alb"], "depends_on", arns["lb"]),
        (arns["rec_cdn"], "depends_on", arns["dist"]),
        (arns["rec_vpn"], "depends_on", ec2("elastic-ip", ids["eip"])),
    }
    assert expected - edges == set()

    # every edge drawn is declared by the collector that drew it (the generated doc lists these)
    declared = declared_edges()
    for scope, sg in report.graph.scopes.items():
        for e in sg.edges.values():
            key = (nodes[e.src].kind, e.type, nodes[e.dst].kind)
            assert key in declared, f"{scope} draws an undeclared edge {key}"
    assert all(kind_service(n.kind) for n in nodes.values())
    # the native ids the doc promises are the ones indexed: a kind declares natives iff its nodes carry them
    spec = {k.kind: k for _, k in all_specs()}
    with_natives = {n.kind for n in nodes.values() if n.native_ids}
    assert {k for k in kinds if spec[k].natives} == with_natives

    # the secret's value is never read: it appears nowhere in the graph or the saved state
    blob = orjson.dumps(report.graph.to_json()) + b"".join(p.read_bytes() for p in data_dir.rglob("*.json"))
    assert b"hunter2-do-not-leak" not in blob
    # a rescan of an unchanged estate publishes nothing (no volatile field left in the new kinds)
    # (moto issues a requested certificate 60 s after the request: on a loaded machine the two scans can
    # straddle that moment, which is a real change of the certificate, not a volatile field)
    changes = run_scan(OPTS, GraphState(data_dir)).changes.nodes
    assert [c for c in changes if not (c.node.kind == "aws.acm.certificate" and c.node.attrs.get("Status") == "ISSUED"
                                       and set(c.changed) <= {"attrs.Status", "attrs.DomainValidationOptions"})] == []
