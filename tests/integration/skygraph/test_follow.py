"""``skygraph follow`` against the AWS API emulator: real changes are made in moto, and the CloudTrail
records describing them (moto does not emit CloudTrail, so the records are written here in CloudTrail's
documented record format) arrive the two documented ways — EventBridge events in an SQS queue, and a
trail's gzipped log file in S3 announced by an S3 notification."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import boto3

from airdig.model.events import CloudEvent
from airdig.skygraph.follow import Follower, write_of
from airdig.skygraph.graph_state import GraphState
from airdig.skygraph.scan import ScanOptions, run_scan
from tests.integration.skygraph.conftest import ACCOUNT, REGION, Topology

ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
BOB = f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer/bob"
CAROL = f"arn:aws:iam::{ACCOUNT}:user/carol"


def record(source: str, name: str, who: str, request: dict[str, Any], response: dict[str, Any] | None = None,
           region: str = REGION) -> dict[str, Any]:
    return {"eventVersion": "1.09", "userIdentity": {"type": "IAMUser", "arn": who, "accountId": ACCOUNT},
            "eventTime": "2026-12-02T06:00:00Z", "eventSource": source, "eventName": name, "awsRegion": region,
            "sourceIPAddress": "203.0.113.9", "requestParameters": request, "responseElements": response,
            "readOnly": False, "eventType": "AwsApiCall", "recipientAccountId": ACCOUNT}


def via_eventbridge(rec: dict[str, Any]) -> str:
    return json.dumps({"version": "0", "id": "e1", "detail-type": "AWS API Call via CloudTrail",
                       "source": "aws." + rec["eventSource"].split(".")[0], "account": ACCOUNT,
                       "time": rec["eventTime"], "region": rec["awsRegion"], "resources": [], "detail": rec})


def _queue() -> tuple[Any, str]:
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="cloudtrail-writes", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    return sqs, url


def test_follow_rereads_touched_scopes_and_names_the_writer(topology: Topology, data_dir: Path) -> None:
    ids = topology.ids
    state = GraphState(data_dir)
    sqs, url = _queue()
    run_scan(ScanOptions(regions=[REGION], k8s=False), state)
    ec2 = boto3.client("ec2", region_name=REGION)

    # three real writes: a rule opened, a queue created (both via EventBridge), a role created (S3 log file)
    ec2.authorize_security_group_ingress(GroupId=ids["sg_db"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 6432, "ToPort": 6432, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    late = sqs.create_queue(QueueName="late")["QueueUrl"]
    iam = boto3.client("iam", region_name=REGION)
    iam.create_role(RoleName="batch", AssumeRolePolicyDocument="{}")
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="trail-logs")
    log_file = gzip.compress(json.dumps({"Records": [
        record("iam.amazonaws.com", "CreateRole", CAROL, {"roleName": "batch"}, region="us-east-1")]}).encode())
    key = f"AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/2026/12/02/{ACCOUNT}_CloudTrail_{REGION}_x.json.gz"
    s3.put_object(Bucket="trail-logs", Key=key, Body=log_file)

    for body in (
        via_eventbridge(record("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", ALICE, {"groupId": ids["sg_db"]})),
        via_eventbridge(record("sqs.amazonaws.com", "CreateQueue", BOB, {"queueName": "late"}, {"queueUrl": late})),
        via_eventbridge({**record("ec2.amazonaws.com", "DescribeInstances", ALICE, {}), "readOnly": True}),
        json.dumps({"Records": [{"eventSource": "aws:s3", "s3": {"bucket": {"name": "trail-logs"},
                                                                 "object": {"key": key}}}]}),
        "this is not json",
    ):
        sqs.send_message(QueueUrl=url, MessageBody=body)

    events: list[CloudEvent] = []
    follower = Follower(url, state, events.append, wait_seconds=0)
    while follower.step():
        pass
    st = follower.stats
    assert (st.messages, st.writes, st.ignored_records, st.bad_messages, st.scopes_failed) == (5, 3, 1, 1, 0)
    assert st.failures[0].startswith("message ") and "JSONDecodeError" in st.failures[0]
    # the security group alone was re-described (mapped write); sqs in the region and iam globally were
    # re-read as scopes (writes not mapped to their resources)
    assert (st.scopes_read, st.redescribed_writes, st.redescribed_nodes, st.unmapped_writes) == (3, 1, 1, 2)
    confirmed_scopes = {e.data["scope"] for e in events if e.type == "airdig.resource.confirmed"}
    assert confirmed_scopes <= {f"sqs/{REGION}", "iam/global"}, confirmed_scopes

    resources = {(e.type, e.subject): e for e in events
                 if e.type.startswith("airdig.resource.") and e.type != "airdig.resource.confirmed"}
    sg = resources[("airdig.resource.updated", topology.ec2_arn("security-group", ids["sg_db"]))]
    assert sg.data["actor"] == ALICE and sg.data["changed"] == ["attrs.IpPermissions"]
    queue = resources[("airdig.resource.created", f"arn:aws:sqs:{REGION}:{ACCOUNT}:late")]
    assert queue.data["actor"] == BOB
    role = resources[("airdig.resource.created", f"arn:aws:iam::{ACCOUNT}:role/batch")]
    assert role.data["actor"] == CAROL
    assert set(resources) == {("airdig.resource.updated", sg.subject), ("airdig.resource.created", queue.subject),
                              ("airdig.resource.created", role.subject)}
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages") is None


def test_a_busy_scope_leaves_its_message_for_redelivery(topology: Topology, data_dir: Path) -> None:
    state = GraphState(data_dir)
    sqs, url = _queue()
    run_scan(ScanOptions(regions=[REGION], services=["sqs"], k8s=False), state)
    late = sqs.create_queue(QueueName="late")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=via_eventbridge(
        record("sqs.amazonaws.com", "CreateQueue", BOB, {"queueName": "late"}, {"queueUrl": late})))
    events: list[CloudEvent] = []
    follower = Follower(url, state, events.append, wait_seconds=0)
    with state.lock(f"sqs/{REGION}"):  # a full scan holds the scope
        follower.step()
    assert follower.stats.scopes_failed == 1 and events == []
    follower.step()  # redelivered (visibility timeout 0 here), now read
    assert [(e.type, e.data.get("actor")) for e in events if e.type in ("airdig.resource.created",
                                                                         "airdig.resource.updated")] == [
        ("airdig.resource.created", BOB)]
    assert follower.step() == 0


def test_a_mapped_write_redescribes_only_the_resources_it_touched(topology: Topology, data_dir: Path) -> None:
    """AuthorizeSecurityGroupIngress on sg_db re-reads sg_db alone (DescribeSecurityGroups filtered to it):
    a change to sg_web made without a record is not seen until a scope read, the edges other sections drew
    to sg_db stay, only sg_db is confirmed; DeleteSecurityGroup deletes; a write not mapped (CreateTags on a
    subnet) falls back to the scope re-read."""
    ids = topology.ids
    state = GraphState(data_dir)
    sqs, url = _queue()
    run_scan(ScanOptions(regions=[REGION], services=["ec2"], k8s=False), state)
    before = state.load(f"ec2/{REGION}")
    assert before is not None
    db, web = topology.ec2_arn("security-group", ids["sg_db"]), topology.ec2_arn("security-group", ids["sg_web"])
    ec2 = boto3.client("ec2", region_name=REGION)
    ec2.authorize_security_group_ingress(GroupId=ids["sg_db"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 6432, "ToPort": 6432, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    ec2.authorize_security_group_ingress(GroupId=ids["sg_web"], IpPermissions=[  # no record: not followed
        {"IpProtocol": "tcp", "FromPort": 9999, "ToPort": 9999, "IpRanges": [{"CidrIp": "10.9.0.0/16"}]}])
    sqs.send_message(QueueUrl=url, MessageBody=via_eventbridge(record(
        "ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", ALICE,
        {"groupId": ids["sg_db"], "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 6432}]}},
        {"_return": True, "securityGroupRuleSet": {"items": [{"groupId": ids["sg_db"]}]}})))
    events: list[CloudEvent] = []
    follower = Follower(url, state, events.append, wait_seconds=0)
    follower.step()
    st = follower.stats
    assert (st.redescribed_writes, st.redescribed_nodes, st.unmapped_writes, st.scopes_failed) == (1, 1, 0, 0)
    changed = [(e.type, e.subject, e.data.get("actor")) for e in events if e.type != "airdig.resource.confirmed"]
    assert changed == [("airdig.resource.updated", db, ALICE)]  # not sg_web: it was not read
    assert "confirmed_at" in events[0].data and [e for e in events if e.type == "airdig.resource.confirmed"] == []
    after = state.load(f"ec2/{REGION}")
    assert after is not None and after.observed_at == before.observed_at
    assert set(after.nodes) == set(before.nodes) and set(after.edges) == set(before.edges)
    assert after.nodes[web] == before.nodes[web] and after.nodes[db] != before.nodes[db]
    # its own edges are drawn again from the new answer (its rule names sg_web), the rest left as they were
    assert (db, "network", web) in after.edges and after.edges == before.edges

    # a group created, then deleted: the describe returns it, then no longer does; its edges go with it
    created = ec2.create_security_group(GroupName="spare2", Description="spare2", VpcId=ids["vpc"])["GroupId"]
    events.clear()
    sqs.send_message(QueueUrl=url, MessageBody=via_eventbridge(record(
        "ec2.amazonaws.com", "CreateSecurityGroup", BOB, {"groupName": "spare2", "vpcId": ids["vpc"]},
        {"_return": True, "groupId": created})))
    follower.step()
    new_sg = topology.ec2_arn("security-group", created)
    assert [(e.type, e.subject, e.data.get("actor")) for e in events if e.type.startswith("airdig.resource.")] == [
        ("airdig.resource.created", new_sg, BOB)]
    assert any(e.type == "airdig.edge.observed" and e.data["edge"]["dst"] == new_sg for e in events)  # vpc contains
    ec2.delete_security_group(GroupId=created)
    events.clear()
    sqs.send_message(QueueUrl=url, MessageBody=via_eventbridge(record(
        "ec2.amazonaws.com", "DeleteSecurityGroup", CAROL, {"groupId": created}, {"_return": True})))
    follower.step()
    assert [(e.type, e.subject, e.data.get("actor")) for e in events if e.type.startswith("airdig.resource.")] == [
        ("airdig.resource.deleted", new_sg, CAROL)]
    assert any(e.type == "airdig.edge.deleted" and e.data["edge"]["dst"] == new_sg for e in events)

    # tags on a subnet: not mapped, so the ec2 and vpclinks scopes are read whole
    events.clear()
    sqs.send_message(QueueUrl=url, MessageBody=via_eventbridge(record(
        "ec2.amazonaws.com", "CreateTags", ALICE, {"resourcesSet": {"items": [{"resourceId": ids["sub_a"]}]},
                                                   "tagSet": {"items": [{"key": "k", "value": "v"}]}})))
    before_unmapped = follower.stats.unmapped_writes
    follower.step()
    assert follower.stats.unmapped_writes == before_unmapped + 1
    assert f"ec2/{REGION}" in {e.data["scope"] for e in events if e.type == "airdig.resource.confirmed"}


def test_database_and_function_writes_redescribe_only_that_database_and_function(topology: Topology,
                                                                                  data_dir: Path) -> None:
    """ModifyDBInstance re-reads that DB instance alone (its subnet, security-group, subnet-group and KMS
    edges drawn again, unchanged); UpdateFunctionConfiguration (CloudTrail's name carries the API version)
    re-reads that function with its tags and event source mappings, so neither its tags nor its queue and
    stream edges are lost; only the re-described nodes change or are confirmed."""
    state = GraphState(data_dir)
    sqs, url = _queue()
    run_scan(ScanOptions(regions=[REGION], services=["rds", "lambda"], k8s=False), state)
    rds_before, fn_before = state.load(f"rds/{REGION}"), state.load(f"lambda/{REGION}")
    assert rds_before is not None and fn_before is not None
    db, fn = topology.arns["db"], topology.arns["fn"]
    boto3.client("rds", region_name=REGION).modify_db_instance(
        DBInstanceIdentifier="orders-db", DBInstanceClass="db.t3.large", ApplyImmediately=True)
    boto3.client("lambda", region_name=REGION).update_function_configuration(FunctionName="worker", Timeout=42)
    for rec in (record("rds.amazonaws.com", "ModifyDBInstance", ALICE,
                       {"dBInstanceIdentifier": "orders-db", "dBInstanceClass": "db.t3.large", "applyImmediately": True},
                       {"dBInstanceIdentifier": "orders-db", "dBInstanceArn": db}),
                record("lambda.amazonaws.com", "UpdateFunctionConfiguration20150331v2", BOB,
                       {"functionName": "worker", "timeout": 42}, {"functionName": "worker", "functionArn": fn})):
        sqs.send_message(QueueUrl=url, MessageBody=via_eventbridge(rec))
    events: list[CloudEvent] = []
    follower = Follower(url, state, events.append, wait_seconds=0)
    follower.step()
    while sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"]["ApproximateNumberOfMessages"] != "0":
        follower.step()
    st = follower.stats
    assert (st.redescribed_writes, st.redescribed_nodes, st.unmapped_writes, st.scopes_failed) == (2, 2, 0, 0)
    changed = {(e.type, e.subject, e.data.get("actor")) for e in events if e.type != "airdig.resource.confirmed"}
    assert changed == {("airdig.resource.updated", db, ALICE), ("airdig.resource.updated", fn, BOB)}
    by_subject = {e.subject: e for e in events if e.type == "airdig.resource.updated"}
    assert "attrs.DBInstanceClass" in by_subject[db].data["changed"]
    assert "attrs.Timeout" in by_subject[fn].data["changed"]
    assert not any(p.startswith("tags") for p in by_subject[fn].data["changed"])  # tags read with it
    rds_after, fn_after = state.load(f"rds/{REGION}"), state.load(f"lambda/{REGION}")
    assert rds_after is not None and fn_after is not None
    assert set(rds_after.nodes) == set(rds_before.nodes) and rds_after.edges == rds_before.edges
    assert set(fn_after.nodes) == set(fn_before.nodes) and fn_after.edges == fn_before.edges
    assert fn_after.nodes[fn].tags == fn_before.nodes[fn].tags == {"team": "orders"}
    assert [e for e in events if e.type.startswith("airdig.edge.")] == []


def test_writes_map_to_the_resources_they_touched() -> None:
    from airdig.skygraph.follow_targets import Target, targets_of

    rec = record("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", ALICE, {"groupId": "sg-0123456789abcdef0"})
    assert targets_of(rec) == [Target("SecurityGroups", ("sg-0123456789abcdef0",))]
    rec = record("ec2.amazonaws.com", "StopInstances", ALICE, {"instancesSet": {"items": [
        {"instanceId": "i-0aaaaaaaaaaaaaaaa"}, {"instanceId": "i-0bbbbbbbbbbbbbbbb"}]}})
    assert targets_of(rec) == [Target("Reservations", ("i-0aaaaaaaaaaaaaaaa", "i-0bbbbbbbbbbbbbbbb"))]
    tags = record("ec2.amazonaws.com", "CreateTags", ALICE, {"resourcesSet": {"items": [
        {"resourceId": "sg-0123456789abcdef0"}, {"resourceId": "i-0aaaaaaaaaaaaaaaa"}]}})
    assert targets_of(tags) == [Target("SecurityGroups", ("sg-0123456789abcdef0",)),
                                Target("Reservations", ("i-0aaaaaaaaaaaaaaaa",))]
    mixed = record("ec2.amazonaws.com", "CreateTags", ALICE, {"resourcesSet": {"items": [
        {"resourceId": "sg-0123456789abcdef0"}, {"resourceId": "vol-0123456789abcdef0"}]}})
    assert targets_of(mixed) is None  # a volume too: not mapped, the scope is re-read
    assert targets_of(record("ec2.amazonaws.com", "RunInstances", ALICE, {"instanceType": "t3.micro"},
                             {"instancesSet": {"items": [{"instanceId": "i-0aaaaaaaaaaaaaaaa"}]}})) is None
    assert targets_of(record("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", ALICE, {})) is None
    assert targets_of(record("sqs.amazonaws.com", "CreateQueue", ALICE, {"queueName": "q"})) is None
    # RDS: by identifier, by a tag write's instance ARN; a cluster's tags and cluster writes are not mapped
    assert targets_of(record("rds.amazonaws.com", "RebootDBInstance", ALICE, {"dBInstanceIdentifier": "db1"})) == [
        Target("DBInstances", ("db1",))]
    replica = record("rds.amazonaws.com", "CreateDBInstanceReadReplica", ALICE, {
        "dBInstanceIdentifier": "db1-ro", "sourceDBInstanceIdentifier": f"arn:aws:rds:{REGION}:{ACCOUNT}:db:db1"})
    assert targets_of(replica) == [Target("DBInstances", ("db1", "db1-ro"))]
    assert targets_of(record("rds.amazonaws.com", "AddTagsToResource", ALICE, {
        "resourceName": f"arn:aws:rds:{REGION}:{ACCOUNT}:db:db1"})) == [Target("DBInstances", ("db1",))]
    assert targets_of(record("rds.amazonaws.com", "AddTagsToResource", ALICE, {
        "resourceName": f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:c1"})) is None
    assert targets_of(record("rds.amazonaws.com", "ModifyDBCluster", ALICE, {"dBClusterIdentifier": "c1"})) is None
    # Lambda: versioned event names; a name, an ARN with a qualifier, a tag write's resource, a mapping's response
    fn_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:worker"
    for name, req, resp in (("UpdateFunctionCode20150331v2", {"functionName": "worker"}, None),
                            ("PutFunctionConcurrency20171031", {"functionName": fn_arn + ":live"}, None),
                            ("TagResource20170331v2", {"resource": fn_arn}, None),
                            ("DeleteEventSourceMapping20150331", {"uUID": "1234"}, {"functionArn": fn_arn})):
        assert targets_of(record("lambda.amazonaws.com", name, ALICE, req, resp)) == [
            Target("Functions", ("worker",))], name
    assert targets_of(record("lambda.amazonaws.com", "PublishLayerVersion20181031", ALICE,
                             {"layerName": "deps"})) is None


def test_reads_failures_and_unknown_services_are_not_writes() -> None:
    assert write_of(record("sqs.amazonaws.com", "GetQueueAttributes", BOB, {}) | {"readOnly": None}) is None
    assert write_of(record("sqs.amazonaws.com", "CreateQueue", BOB, {}) | {"errorCode": "AccessDenied"}) is None
    assert write_of(record("glue.amazonaws.com", "CreateJob", BOB, {})) is None
    w = write_of(record("elasticloadbalancing.amazonaws.com", "CreateRule", BOB, {"listenerArn": "arn:x"}))
    assert w is not None and w.services == ("elbv2", "elbv2-rules", "elb") and "arn:x" in w.names


def test_org_follow_rereads_the_writing_account_only(org: dict[str, str], data_dir: Path) -> None:
    from tests.integration.skygraph.conftest import ROLE, in_account

    state = GraphState(data_dir)
    sqs, url = _queue()
    run_scan(ScanOptions(regions=[REGION], services=["sqs"], k8s=False, org=True, role_name=ROLE), state)
    prod = org["prod"]
    late = in_account(prod, "sqs").create_queue(QueueName="late")["QueueUrl"]
    rec = record("sqs.amazonaws.com", "CreateQueue", f"arn:aws:sts::{prod}:assumed-role/deployer/bob",
                 {"queueName": "late"}, {"queueUrl": late}) | {"recipientAccountId": prod}
    sqs.send_message(QueueUrl=url, MessageBody=via_eventbridge(rec))
    events: list[CloudEvent] = []
    follower = Follower(url, state, events.append, wait_seconds=0, org=True, role_name=ROLE)
    follower.step()
    assert follower.stats.scopes_read == 1 and follower.stats.scopes_failed == 0
    created = [e for e in events if e.type == "airdig.resource.created"]
    assert [(e.subject, e.data["actor"]) for e in created] == [
        (f"arn:aws:sqs:{REGION}:{prod}:late", f"arn:aws:sts::{prod}:assumed-role/deployer/bob")]
    saved = state.load(f"sqs/{prod}/{REGION}")
    assert saved is not None and f"arn:aws:sqs:{REGION}:{prod}:late" in saved.nodes

    # a mapped write in a member account is re-described alone, in that account, through the role
    p_ec2 = in_account(prod, "ec2")
    vpc = p_ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["prod-vpc"]}])["Vpcs"][0]["VpcId"]
    gid = p_ec2.create_security_group(GroupName="api", Description="api", VpcId=vpc)["GroupId"]
    run_scan(ScanOptions(regions=[REGION], services=["ec2"], k8s=False, org=True, role_name=ROLE), state)
    p_ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    carol = f"arn:aws:iam::{prod}:user/carol"
    sqs.send_message(QueueUrl=url, MessageBody=via_eventbridge(record(
        "ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", carol, {"groupId": gid}) | {"recipientAccountId": prod}))
    events.clear()
    follower.step()
    assert (follower.stats.redescribed_writes, follower.stats.redescribed_nodes) == (1, 1)
    sg_arn = f"arn:aws:ec2:{REGION}:{prod}:security-group/{gid}"
    assert [(e.type, e.subject, e.data.get("actor")) for e in events] == [("airdig.resource.updated", sg_arn, carol)]
    saved_sg = state.load(f"ec2/{prod}/{REGION}")
    assert saved_sg is not None and saved_sg.nodes[sg_arn].attrs["IpPermissions"][0]["FromPort"] == 443

    # without --org, another account's record is not this follower's business
    sqs.send_message(QueueUrl=url, MessageBody=via_eventbridge(rec))
    single = Follower(url, GraphState(data_dir / "single"), events.append, wait_seconds=0)
    single.step()
    assert (single.stats.writes, single.stats.ignored_records, single.stats.scopes_read) == (0, 1, 0)


def test_an_unreadable_queue_is_a_precise_error_and_run_keeps_following(aws_env: str, data_dir: Path) -> None:
    import pytest

    from airdig.skygraph.follow import FollowError

    sqs, url = _queue()
    sqs.delete_queue(QueueUrl=url)
    follower = Follower(url, GraphState(data_dir), None, wait_seconds=0)
    with pytest.raises(FollowError, match=r"cannot receive from .*cloudtrail-writes: .*NonExistentQueue"):
        follower.step()
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 3

    follower.run(stop)  # returns when told to stop, not with the queue's error
    assert len(calls) > 3
