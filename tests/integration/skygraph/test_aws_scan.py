"""The AWS scanner against the AWS API emulator (moto server) holding a realistic topology."""

from __future__ import annotations

import time
from pathlib import Path

import boto3
import orjson
import pytest

from airdig.backends.interfaces import Bus
from airdig.model.events import TOPIC_RESOURCES, CloudEvent, parse_time
from airdig.skygraph.graph_state import GraphState
from airdig.skygraph.scan import ScanOptions, run_scan

ACCOUNT = "123456789012"
REGION = "us-east-1"
OPTS = ScanOptions(regions=[REGION], k8s=False)


def ec2(kind: str, native: str) -> str:
    return f"arn:aws:ec2:{REGION}:{ACCOUNT}:{kind}/{native}"


def _drain(bus: Bus, group: str, expected: int) -> list[CloudEvent]:
    """Read ``expected`` events (a Kafka group may take seconds to join), then make sure no more come."""
    import time

    consumer = bus.consumer(group, [TOPIC_RESOURCES])
    out: list[CloudEvent] = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            records = consumer.poll(max_records=1000, timeout=1.0)
            out.extend(CloudEvent.decode(r.value) for r in records)
            if records:
                consumer.commit(records)
            elif len(out) >= expected:
                break
    finally:
        consumer.close()
    return out


def test_scan_builds_the_topology(topology, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    ids, arns = topology.ids, topology.arns
    report = run_scan(OPTS, GraphState(data_dir))
    assert report.failed == []
    kinds = {n.kind for n in report.graph.nodes()}
    assert kinds >= {"aws.ec2.vpc", "aws.ec2.subnet", "aws.ec2.route-table", "aws.ec2.internet-gateway",
                     "aws.ec2.security-group", "aws.ec2.network-interface", "aws.ec2.instance", "aws.ec2.volume",
                     "aws.ec2.launch-template", "aws.autoscaling.group", "aws.elbv2.load-balancer",
                     "aws.elbv2.listener", "aws.elbv2.target-group", "aws.rds.instance", "aws.rds.subnet-group",
                     "aws.lambda.function", "aws.s3.bucket", "aws.dynamodb.table", "aws.sqs.queue", "aws.sns.topic",
                     "aws.iam.role", "aws.iam.instance-profile", "aws.kms.key", "aws.eks.cluster",
                     "aws.eks.nodegroup"}
    nodes = {n.id: n for n in report.graph.nodes()}
    assert nodes[ec2("vpc", ids["vpc"])].name == "prod"
    assert nodes["arn:aws:s3:::orders-archive"].tags == {"team": "orders"}
    assert nodes[arns["fn"]].tags == {"team": "orders"}
    sg_db = nodes[ec2("security-group", ids["sg_db"])]
    assert sg_db.attrs["IpPermissions"][0]["FromPort"] == 5432

    edges = {e.key for e in report.graph.edges()}
    web1, web2 = ec2("instance", ids["web1"]), ec2("instance", ids["web2"])
    sg_web, sg_lb = ec2("security-group", ids["sg_web"]), ec2("security-group", ids["sg_lb"])
    expected = {
        (ec2("vpc", ids["vpc"]), "contains", ec2("subnet", ids["sub_a"])),
        (ec2("vpc", ids["vpc"]), "contains", ec2("subnet", ids["sub_b"])),
        (ec2("vpc", ids["vpc"]), "contains", ec2("internet-gateway", ids["igw"])),
        (ec2("route-table", ids["rt"]), "network", ec2("subnet", ids["sub_a"])),
        (ec2("route-table", ids["rt"]), "depends_on", ec2("internet-gateway", ids["igw"])),
        (ec2("subnet", ids["sub_a"]), "network", web1),
        (ec2("subnet", ids["sub_a"]), "network", web2),
        (sg_web, "network", web1),
        (sg_web, "network", web2),
        # rules naming another group: web admits lb, db admits web
        (sg_web, "network", sg_lb),
        (ec2("security-group", ids["sg_db"]), "network", sg_web),
        # load balancer → listener → target group → instances
        (sg_lb, "network", arns["lb"]),
        (ec2("subnet", ids["sub_b"]), "network", arns["lb"]),
        (arns["lb"], "contains", arns["listener"]),
        (arns["listener"], "depends_on", arns["tg"]),
        (arns["tg"], "depends_on", web1),
        (arns["tg"], "depends_on", web2),
        # instance → instance profile → role
        (web1, "depends_on", arns["profile"]),
        (arns["profile"], "depends_on", arns["role"]),
        # RDS in its subnet group, guarded by the db group, encrypted with the key
        (ec2("security-group", ids["sg_db"]), "network", arns["db"]),
        (ec2("subnet", ids["sub_a"]), "network", arns["db"]),
        (arns["db"], "depends_on", arns["db_subnets"]),
        (arns["db_subnets"], "depends_on", ec2("subnet", ids["sub_b"])),
        (arns["db"], "depends_on", arns["key"]),
        # Lambda: role, VPC, event sources (SQS queue, DynamoDB stream → table)
        (arns["fn"], "depends_on", arns["fn_role"]),
        (arns["fn"], "depends_on", arns["queue"]),
        (arns["fn"], "depends_on", arns["table"]),
        (ec2("subnet", ids["sub_b"]), "network", arns["fn"]),
        (sg_web, "network", arns["fn"]),
        (arns["topic"], "depends_on", arns["queue"]),
        # EKS cluster → node group → Auto Scaling group → instance; ASG → launch template
        (arns["cluster"], "contains", arns["nodegroup"]),
        (arns["nodegroup"], "contains", arns["asg"]),
        (arns["asg"], "contains", ec2("instance", ids["asg_instance"])),
        (arns["asg"], "depends_on", ec2("launch-template", ids["lt"])),
        (arns["cluster"], "depends_on", arns["role"]),
        # resources encrypted with the KMS key depend on it
        (ec2("volume", ids["vol"]), "depends_on", arns["key"]),
        ("arn:aws:s3:::orders-archive", "depends_on", arns["key"]),
    }
    assert expected - edges == set()
    assert report.graph.to_json()["edges"]  # the contract shape is produced from the same graph


@pytest.mark.slow
def test_rescan_publishes_exactly_the_differences(topology, data_dir: Path, bus: Bus) -> None:  # type: ignore[no-untyped-def]
    ids = topology.ids
    client = boto3.client("ec2", region_name=REGION)
    batch = client.run_instances(ImageId="ami-12c6146b", InstanceType="t3.micro", MinCount=1, MaxCount=1,
                                 SubnetId=ids["sub_b"])["Instances"][0]
    state = GraphState(data_dir)

    def publish(ev: CloudEvent) -> None:
        bus.publish(ev.topic, ev.subject, ev.encode())

    first = run_scan(OPTS, state, publish)
    bus.flush()
    events = _drain(bus, "t-events", first.published)
    created = {e.subject for e in events if e.type == "airdig.resource.created"}
    assert created == {n.id for n in first.graph.nodes()}
    assert {e.type for e in events} == {"airdig.resource.created", "airdig.edge.observed"}
    # the first scan of a scope discovers; it records no change (root cause never ranks it)
    assert all(e.data.get("discovered") is True for e in events if e.type == "airdig.resource.created")

    # an unchanged estate publishes no change, only the confirmation of every node, scope by scope
    second_started = time.time()
    second = run_scan(OPTS, state, publish)
    bus.flush()
    confirmed = _drain(bus, "t-events", second.published)
    assert {e.type for e in confirmed} == {"airdig.resource.confirmed"}
    assert sorted(n for e in confirmed for n in e.data["nodes"]) == sorted(n.id for n in first.graph.nodes())
    assert all(parse_time(e.data["confirmed_at"]) >= second_started and e.data["interval"] > 0 for e in confirmed)

    # delete an instance and change a security group rule
    client.terminate_instances(InstanceIds=[batch["InstanceId"]])
    perm = {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": ids["sg_web"]}]}
    client.revoke_security_group_ingress(GroupId=ids["sg_db"], IpPermissions=[perm])
    client.authorize_security_group_ingress(GroupId=ids["sg_db"], IpPermissions=[{**perm, "FromPort": 6432,
                                                                                    "ToPort": 6432}])
    third = run_scan(OPTS, state, publish)
    bus.flush()
    events = _drain(bus, "t-events", third.published)
    assert len(events) == third.published
    resources = [e for e in events if e.type.startswith("airdig.resource.") and not e.type.endswith(".confirmed")]
    instance = ec2("instance", batch["InstanceId"])
    deleted = [e for e in resources if e.type == "airdig.resource.deleted"]
    updated = [e for e in resources if e.type == "airdig.resource.updated"]
    # the instance's own network interface goes with it (AWS deletes it on termination)
    assert {e.subject for e in deleted if e.data["node"]["kind"] == "aws.ec2.instance"} == {instance}
    assert {e.data["node"]["kind"] for e in deleted} <= {"aws.ec2.instance", "aws.ec2.network-interface",
                                                         "aws.ec2.volume"}
    assert [e for e in resources if e.type == "airdig.resource.created"] == []
    assert len(updated) == 1
    assert updated[0].subject == ec2("security-group", ids["sg_db"])
    assert updated[0].data["changed"] == ["attrs.IpPermissions"]
    assert updated[0].data["node"]["attrs"]["IpPermissions"][0]["FromPort"] == 6432
    assert all("confirmed_at" in e.data for e in updated)
    # the change happened after the previous scan started and before this one reported it
    for e in resources:
        lo, hi = (parse_time(x) for x in e.data["observed_between"])
        assert second_started <= lo <= hi and abs(hi - e.time) < 1e-3, e.type
    edge_deleted = {(e.data["edge"]["src"], e.data["edge"]["dst"]) for e in events if e.type == "airdig.edge.deleted"}
    assert (ec2("subnet", ids["sub_b"]), instance) in edge_deleted
    for e in events:
        assert CloudEvent.decode(e.encode()).subject == e.subject


def test_access_denied_service_keeps_its_resources(topology, data_dir: Path, deny_endpoint: str,  # type: ignore[no-untyped-def]
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    state = GraphState(data_dir)
    fn = topology.arns["fn"]
    run_scan(OPTS, state)
    boto3.client("lambda", region_name=REGION).delete_function(FunctionName="worker")

    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", deny_endpoint)
    denied = run_scan(OPTS, state)
    assert [(r.scope, (r.error or "").split(":")[0]) for r in denied.failed] == [
        ("lambda/us-east-1", "AccessDeniedException")]
    assert [c for c in denied.changes.nodes if c.action == "deleted"] == []
    assert [c for c in denied.changes.edges if c.action == "deleted"] == []
    kept = state.load("lambda/us-east-1")
    assert kept is not None and fn in kept.nodes

    monkeypatch.delenv("AWS_ENDPOINT_URL_LAMBDA")
    allowed = run_scan(OPTS, state)
    assert allowed.failed == []
    assert [(c.action, c.node.id) for c in allowed.changes.nodes] == [("deleted", fn)]


def test_a_scope_locked_by_another_scan_is_reported_busy(topology, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    state = GraphState(data_dir)
    with state.lock("ec2/us-east-1"):
        report = run_scan(ScanOptions(regions=[REGION], k8s=False, services=["ec2", "sqs"]), state)
    assert [(r.scope, r.error) for r in report.failed] == [
        ("ec2/us-east-1", "scope ec2/us-east-1 is being scanned by another process")]
    assert state.load("ec2/us-east-1") is None
    assert state.load("sqs/us-east-1") is not None


def test_output_contract(topology, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    graph = run_scan(OPTS, GraphState(data_dir)).graph.to_json()
    doc = orjson.loads(orjson.dumps(graph))
    assert set(doc) == {"nodes", "edges"}
    assert all(set(n) == {"id", "kind", "provider", "account", "region", "name", "attrs", "tags"} for n in doc["nodes"])
    assert all(set(e) == {"src", "dst", "type"} for e in doc["edges"])
    ids = {n["id"] for n in doc["nodes"]}
    assert all(e["src"] in ids and e["dst"] in ids for e in doc["edges"])
