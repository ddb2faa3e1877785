"""SkyGraph organisation scan and CloudTrail follow benchmark (issue 14), against the AWS API emulator.

1. ``--accounts`` x ``--regions`` (default 20 x 3): an organisation in moto (the management account and
   member accounts, each region holding a VPC, a subnet, instances and queues). A ``--org`` scan of
   ``ec2`` and ``sqs`` (AssumeRole per member, fetch, transform, resolve, diff, state save) next to the
   baseline measured in the same run: the same describe calls made bare, with the same credentials and
   the same number of threads. Aim: ≤ 1.3x.
2. Follow: a queue is created, its CloudTrail record (EventBridge shape) sent to the follow queue, and
   the time until the node's ``created`` event is handed to the bus measured (``--follow-samples``
   times; p50/p95). Aim: p95 < 5 s.
3. Follow re-describe: a security-group rule opened, its record sent, the time until the group's row
   in the engine's store (SQLite, through the applier) holds the new rule — the write re-described
   alone (mapped) against the same write re-reading its whole scopes (unmapped), in the same run.

    .venv/bin/python bench/skygraph_org.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ROLE = "OrganizationAccountAccessRole"
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2", "eu-central-1")


def _start_moto() -> Any:
    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_SESSION_TOKEN="testing",
                      AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}")
    return server


def _session_in(account: str | None) -> Any:
    import boto3

    if account is None:
        return boto3.session.Session()
    creds = boto3.client("sts").assume_role(RoleArn=f"arn:aws:iam::{account}:role/{ROLE}",
                                            RoleSessionName="bench")["Credentials"]
    return boto3.session.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                                 aws_session_token=creds["SessionToken"])


def bench_org(n_accounts: int, regions: list[str], instances: int) -> dict[str, Any]:
    import boto3
    from botocore.config import Config

    from airdig.skygraph.aws.common import RETRY_CONFIG, Clients, Where
    from airdig.skygraph.aws.ec2 import get_ec2
    from airdig.skygraph.aws.sqs import get_sqs
    from airdig.skygraph.graph_state import GraphState
    from airdig.skygraph.scan import ScanOptions, run_scan

    org = boto3.client("organizations")
    org.create_organization(FeatureSet="ALL")
    members = [org.create_account(AccountName=f"a{i}", Email=f"a{i}@example.com")["CreateAccountStatus"]["AccountId"]
               for i in range(n_accounts - 1)]
    sessions = {None: _session_in(None), **{a: _session_in(a) for a in members}}
    for session in sessions.values():
        for region in regions:
            ec2 = session.client("ec2", region_name=region)
            vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
            sub = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/20")["Subnet"]["SubnetId"]
            ec2.run_instances(ImageId="ami-12c6146b", InstanceType="t3.micro", SubnetId=sub, MinCount=instances,
                              MaxCount=instances)
            sqs = session.client("sqs", region_name=region)
            for q in range(3):
                sqs.create_queue(QueueName=f"q{q}")
    workers = 8
    config = Config(retries=RETRY_CONFIG, max_pool_connections=workers * 2)
    me = boto3.client("sts").get_caller_identity()["Account"]

    def bare(job: tuple[Any, str, str]) -> None:
        session, region, svc = job
        clients = Clients(session, config)
        (get_ec2 if svc == "ec2" else get_sqs)(clients, Where("0", region))

    jobs = [(s, r, svc) for s in sessions.values() for r in regions for svc in ("ec2", "sqs")]

    def run_bare() -> float:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(bare, jobs))
        return time.perf_counter() - t0

    bare_before = run_bare()
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        report = run_scan(ScanOptions(regions=regions, services=["ec2", "sqs"], k8s=False, org=True, workers=workers,
                                      role_name=ROLE), GraphState(d))
        t_scan = time.perf_counter() - t0
    bare_after = run_bare()  # the baseline before and after the scan: the faster one is the fairer one
    t_bare = min(bare_before, bare_after)
    nodes = sum(1 for _ in report.graph.nodes())
    return {"accounts": n_accounts, "regions": len(regions), "scopes": len(report.scopes),
            "failed_scopes": len(report.failed), "nodes": nodes, "caller": me, "scan_s": round(t_scan, 3),
            "baseline_bare_describe_calls_s": round(t_bare, 3),
            "baseline_runs_s": [round(bare_before, 3), round(bare_after, 3)], "overhead_ratio": round(t_scan / t_bare, 2)}


def bench_follow(samples: int) -> dict[str, Any]:
    import boto3

    from airdig.model.events import CloudEvent
    from airdig.skygraph.follow import Follower
    from airdig.skygraph.graph_state import GraphState
    from airdig.skygraph.scan import ScanOptions, run_scan

    region = "us-west-1"  # a region the organisation part left empty
    sqs = boto3.client("sqs", region_name=region)
    home = boto3.client("sqs")  # the follow queue lives in the default region, as its URL says on AWS
    url = home.create_queue(QueueName="trail")["QueueUrl"]
    latencies: list[float] = []
    with tempfile.TemporaryDirectory() as d:
        state = GraphState(d)
        run_scan(ScanOptions(regions=[region], services=["sqs"], k8s=False), state)
        sent: dict[str, float] = {}

        def publish(ev: CloudEvent) -> None:
            if ev.type == "airdig.resource.created" and ev.subject in sent:
                latencies.append(time.perf_counter() - sent.pop(ev.subject))

        follower = Follower(url, state, publish, wait_seconds=1)
        account = boto3.client("sts").get_caller_identity()["Account"]
        for i in range(samples):
            q = sqs.create_queue(QueueName=f"new-{i}")["QueueUrl"]
            rec = {"eventSource": "sqs.amazonaws.com", "eventName": "CreateQueue", "awsRegion": region,
                   "readOnly": False, "userIdentity": {"arn": f"arn:aws:iam::{account}:user/bench"},
                   "requestParameters": {"queueName": f"new-{i}"}, "responseElements": {"queueUrl": q}}
            sent[f"arn:aws:sqs:{region}:{account}:new-{i}"] = time.perf_counter()
            home.send_message(QueueUrl=url, MessageBody=json.dumps({"detail-type": "AWS API Call via CloudTrail",
                                                                   "detail": rec}))
            while sent:
                follower.step()
    latencies.sort()
    p95 = latencies[max(0, int(len(latencies) * 0.95) - 1)]
    return {"samples": len(latencies), "p50_s": round(statistics.median(latencies), 3), "p95_s": round(p95, 3),
            "max_s": round(latencies[-1], 3)}


def bench_redescribe(samples: int, instances: int) -> dict[str, Any]:
    """A security-group rule opened in an ec2 scope of ``instances`` instances: CloudTrail record put in the
    follow queue → the group's row updated in the engine's store (SQLite, the applier the engine runs), when
    the write is re-described alone (mapped) and, the baseline in the same run, when the same record
    without the group id (unmapped) makes follow re-read the whole ``ec2`` + ``vpclinks`` scopes."""
    import boto3

    from airdig.backends.interfaces import Record
    from airdig.backends.registry import open_store
    from airdig.engine.apply import Applier
    from airdig.model.events import CloudEvent
    from airdig.skygraph.follow import Follower
    from airdig.skygraph.graph_state import GraphState
    from airdig.skygraph.scan import ScanOptions, run_scan

    region = "sa-east-1"  # untouched by the other parts
    ec2 = boto3.client("ec2", region_name=region)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    sub = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/20")["Subnet"]["SubnetId"]
    groups = [ec2.create_security_group(GroupName=f"g{i}", Description="g", VpcId=vpc)["GroupId"] for i in range(20)]
    ec2.run_instances(ImageId="ami-12c6146b", InstanceType="t3.micro", SubnetId=sub, MinCount=instances,
                      MaxCount=instances, SecurityGroupIds=groups[:2])
    home = boto3.client("sqs")
    url = home.create_queue(QueueName="trail-redescribe")["QueueUrl"]
    account = boto3.client("sts").get_caller_identity()["Account"]
    out: dict[str, Any] = {"region_nodes": 0, "instances": instances}
    with tempfile.TemporaryDirectory() as d:
        state = GraphState(Path(d) / "state")
        out["region_nodes"] = sum(1 for _ in run_scan(ScanOptions(regions=[region], services=["ec2", "vpclinks"],
                                                                  k8s=False), state).graph.nodes())
        store = open_store(f"sqlite:///{d}/airdig.db")
        store.migrate()
        applier = Applier(store)
        for mode in ("mapped", "unmapped"):
            latencies: list[float] = []
            for i in range(samples):
                gid = groups[i % len(groups)]
                port = 2000 + i + (0 if mode == "mapped" else 1000)
                arn = f"arn:aws:ec2:{region}:{account}:security-group/{gid}"
                ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
                    {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": "10.1.0.0/16"}]}])
                params = {"groupId": gid} if mode == "mapped" else {}
                rec = {"eventSource": "ec2.amazonaws.com", "eventName": "AuthorizeSecurityGroupIngress",
                       "awsRegion": region, "readOnly": False, "recipientAccountId": account,
                       "userIdentity": {"arn": f"arn:aws:iam::{account}:user/bench"},
                       "requestParameters": params, "responseElements": {"_return": True}}
                done: list[float] = []

                def publish(ev: CloudEvent, arn: str = arn, done: list[float] = done, port: int = port) -> None:
                    applier.apply([Record(ev.topic, 0, 0, ev.subject, ev.encode(), ev.time)])
                    if ev.subject == arn and ev.type == "airdig.resource.updated":
                        row = store.get_node(arn)
                        if row is not None and any(p.get("FromPort") == port for p in row.attrs["IpPermissions"]):
                            done.append(time.perf_counter())

                follower = Follower(url, state, publish, wait_seconds=1)
                t0 = time.perf_counter()
                home.send_message(QueueUrl=url, MessageBody=json.dumps(
                    {"detail-type": "AWS API Call via CloudTrail", "detail": rec}))
                while not done and time.perf_counter() - t0 < 60:
                    follower.step()
                latencies.append((done[0] if done else float("inf")) - t0)
            latencies.sort()
            out[mode] = {"samples": len(latencies), "p50_s": round(statistics.median(latencies), 3),
                         "p95_s": round(latencies[max(0, int(len(latencies) * 0.95) - 1)], 3),
                         "max_s": round(latencies[-1], 3)}
        out["speedup_p50"] = round(out["unmapped"]["p50_s"] / out["mapped"]["p50_s"], 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 accounts x 2 regions, 5 follow samples")
    ap.add_argument("--accounts", type=int, default=None)
    ap.add_argument("--regions", type=int, default=None)
    ap.add_argument("--instances", type=int, default=None, help="instances per account and region")
    ap.add_argument("--follow-samples", type=int, default=None)
    ap.add_argument("--only", choices=("org", "follow", "redescribe"), action="append",
                    help="run only these parts (repeatable; default all)")
    args = ap.parse_args()
    accounts = args.accounts or (3 if args.quick else 20)
    regions = list(REGIONS[:args.regions or (2 if args.quick else 3)])
    parts = set(args.only or ("org", "follow", "redescribe"))
    samples = args.follow_samples or (5 if args.quick else 20)
    server = _start_moto()
    try:
        out: dict[str, Any] = {"benchmark": "skygraph_org", "quick": args.quick, "load_avg_at_start": os.getloadavg()}
        if "org" in parts:
            out["org_scan"] = bench_org(accounts, regions, args.instances or (2 if args.quick else 10))
        if "follow" in parts:
            out["follow"] = bench_follow(samples)
        if "redescribe" in parts:
            out["follow_redescribe"] = bench_redescribe(samples, args.instances or (10 if args.quick else 100))
    finally:
        server.stop()
    print(orjson.dumps(out).decode())


if __name__ == "__main__":
    main()
