"""DeepDrift benchmark: compare N state resources with live snapshots and attribute against M CloudTrail
records; report seconds next to the bare parse time (orjson.loads) of the same inputs.

    .venv/bin/python bench/deepdrift.py          # 50,000 resources, 1,000,000 records
    .venv/bin/python bench/deepdrift.py --quick  # 2,000 resources, 40,000 records

Inputs are synthetic but in the real shapes (state v4, DescribeInstances / DescribeSecurityGroups /
ListBuckets / SQS / DynamoDB items, CloudTrail records with EC2 ``items`` wrappers) and written to a temp
folder first, so both timings read the same bytes from disk.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airdig.deepdrift.cloudtrail import load_trail
from airdig.deepdrift.detect import compute
from airdig.deepdrift.mapping import Ctx
from airdig.deepdrift.tfstate import parse_state

TYPES = ("aws_instance", "aws_security_group", "aws_s3_bucket", "aws_sqs_queue", "aws_dynamodb_table")
RECORDS_PER_FILE = 20_000


def _make(n: int, rnd: random.Random) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]], list[str]]:
    """A state, the live items matching it (2% changed, 0.5% gone, 0.5% unmanaged) and the ids."""
    resources: list[dict[str, Any]] = []
    live: dict[str, list[dict[str, Any]]] = {"ec2.instances": [], "ec2.security_groups": [], "s3.buckets": [],
                                             "sqs.queues": [], "dynamodb.tables": []}
    ids: list[str] = []
    for i in range(n):
        t = TYPES[i % len(TYPES)]
        tags = {"Name": f"r{i}", "Team": "core"}
        changed, gone = rnd.random() < 0.02, rnd.random() < 0.005
        live_tags = [{"Key": "Name", "Value": f"r{i}"}, {"Key": "Team", "Value": "ops" if changed else "core"}]
        if t == "aws_instance":
            rid = f"i-{i:017x}"
            attrs = {"id": rid, "instance_type": "t3.micro", "ami": "ami-1", "subnet_id": "subnet-1",
                     "vpc_security_group_ids": ["sg-1"], "tags": tags}
            item = {"InstanceId": rid, "InstanceType": "t3.large" if changed else "t3.micro", "ImageId": "ami-1",
                    "SubnetId": "subnet-1", "SecurityGroups": [{"GroupId": "sg-1"}], "Tags": live_tags,
                    "State": {"Name": "running"}, "OwnerId": "111122223333"}
            key = "ec2.instances"
        elif t == "aws_security_group":
            rid = f"sg-{i:017x}"
            attrs = {"id": rid, "name": f"g{i}", "description": "d", "vpc_id": "vpc-1", "tags": tags,
                     "ingress": [{"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["0.0.0.0/0"]}]}
            perms = [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
            if changed:
                perms.append({"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]})
            item = {"GroupId": rid, "GroupName": f"g{i}", "Description": "d", "VpcId": "vpc-1", "Tags": live_tags,
                    "IpPermissions": perms, "IpPermissionsEgress": []}
            key = "ec2.security_groups"
        elif t == "aws_s3_bucket":
            rid = f"bucket-{i}"
            attrs = {"id": rid, "bucket": rid, "tags": tags}
            item = {"Name": rid, "TagSet": live_tags}
            key = "s3.buckets"
        elif t == "aws_sqs_queue":
            rid = f"https://sqs.us-east-1.amazonaws.com/111122223333/q{i}"
            attrs = {"id": rid, "name": f"q{i}", "visibility_timeout_seconds": 30, "delay_seconds": 0}
            item = {"QueueUrl": rid, "Attributes": {"VisibilityTimeout": "60" if changed else "30", "DelaySeconds": "0"}}
            key = "sqs.queues"
        else:
            rid = f"table-{i}"
            attrs = {"id": rid, "name": rid, "billing_mode": "PAY_PER_REQUEST", "hash_key": "id",
                     "attribute": [{"name": "id", "type": "S"}]}
            item = {"TableName": rid, "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
                    "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                    "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}]}
            key = "dynamodb.tables"
        resources.append({"mode": "managed", "type": t, "name": f"r{i}", "provider": "provider.aws",
                          "instances": [{"schema_version": 0, "attributes": attrs, "sensitive_attributes": []}]})
        if not gone:
            live[key].append(item)
        ids.append(rid)
    for j in range(n // 200):  # unmanaged
        live["s3.buckets"].append({"Name": f"stray-{j}", "TagSet": []})
    return {"version": 4, "serial": 1, "lineage": "bench", "resources": resources}, live, ids


def _records(m: int, ids: list[str], rnd: random.Random) -> list[dict[str, Any]]:
    out = []
    for k in range(m):
        rid = ids[rnd.randrange(len(ids))]
        write = rnd.random() < 0.2
        # writes carry the parameters CloudTrail records (what they set), reads only the id
        tag = {"tagSet": {"items": [{"key": "Team", "value": "ops"}]}}
        if rid.startswith("i-"):
            src = "ec2.amazonaws.com"
            if write and k % 2:
                name, params = "ModifyInstanceAttribute", {"instanceId": rid, "instanceType": {"value": "t3.large"}}
            else:
                name = "CreateTags" if write else "DescribeInstances"
                params = {"resourcesSet": {"items": [{"resourceId": rid}]}, **(tag if write else {})}
        elif rid.startswith("sg-"):
            src, name = "ec2.amazonaws.com", ("CreateTags" if write else "DescribeSecurityGroups")
            params = {"resourcesSet": {"items": [{"resourceId": rid}]}, **(tag if write else {})}
        elif rid.startswith("bucket-"):
            src, name, params = "s3.amazonaws.com", ("PutBucketTagging" if write else "GetBucketAcl"), {"bucketName": rid}
            if write:
                params["Tagging"] = {"TagSet": {"Tag": [{"Key": "Team", "Value": "ops"}]}}
        elif rid.startswith("https://"):
            src, name, params = "sqs.amazonaws.com", ("SetQueueAttributes" if write else "GetQueueAttributes"), {"queueUrl": rid}
            if write:
                params["attributes"] = {"VisibilityTimeout": "60"}
        else:
            src, name, params = "dynamodb.amazonaws.com", ("UpdateTable" if write else "DescribeTable"), {"tableName": rid}
            if write:
                params["billingMode"] = "PAY_PER_REQUEST"
        out.append({"eventVersion": "1.09", "eventID": f"{k:08x}-0000-4000-8000-{rnd.getrandbits(48):012x}",
                    "eventTime": f"2025-06-{1 + k % 28:02d}T{k % 24:02d}:{k % 60:02d}:{(k // 60) % 60:02d}Z",
                    "eventSource": src, "eventName": name, "awsRegion": "us-east-1", "readOnly": not write,
                    "sourceIPAddress": "203.0.113.5", "userAgent": "aws-cli/2.15.30 Python/3.11.8",
                    "userIdentity": {"type": "IAMUser", "userName": f"u{k % 50}",
                                     "arn": f"arn:aws:iam::111122223333:user/u{k % 50}"},
                    "requestParameters": params, "responseElements": None, "eventType": "AwsApiCall",
                    "recipientAccountId": "111122223333"})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small inputs, finishes in seconds")
    ap.add_argument("--resources", type=int, default=None)
    ap.add_argument("--records", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=1,
                    help="measure bare parse and the full run this many times, interleaved; report the fastest "
                         "of each (a shared, loaded machine makes single timings noisy)")
    args = ap.parse_args()
    n = args.resources or (2_000 if args.quick else 50_000)
    m = args.records or (40_000 if args.quick else 1_000_000)
    rnd = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="deepdrift-bench-") as tmp:
        root = Path(tmp)
        state, live, ids = _make(n, rnd)
        (root / "state.tfstate").write_bytes(orjson.dumps(state))
        (root / "live.json").write_bytes(orjson.dumps(live))
        del state, live
        files = []
        (root / "trail").mkdir()
        for f in range(0, m, RECORDS_PER_FILE):
            path = root / "trail" / f"trail-{f // RECORDS_PER_FILE:04d}.json"
            path.write_bytes(orjson.dumps({"Records": _records(min(RECORDS_PER_FILE, m - f), ids, rnd)}))
            files.append(path)
        size = sum(os.path.getsize(p) for p in root.rglob("*") if p.is_file())
        gc.collect()

        bare = bare_paused = full = t_parse = float("inf")
        for _ in range(max(1, args.repeat)):
            t0 = time.perf_counter()
            orjson.loads((root / "state.tfstate").read_bytes())
            orjson.loads((root / "live.json").read_bytes())
            for p in files:
                orjson.loads(p.read_bytes())
            bare = min(bare, time.perf_counter() - t0)
            gc.collect()
            # the stricter floor: the same loads with the cyclic GC paused, as DeepDrift itself parses
            gc.disable()
            t0 = time.perf_counter()
            orjson.loads((root / "state.tfstate").read_bytes())
            orjson.loads((root / "live.json").read_bytes())
            for p in files:
                orjson.loads(p.read_bytes())
            bare_paused = min(bare_paused, time.perf_counter() - t0)
            gc.enable()
            gc.collect()

            t0 = time.perf_counter()
            resources = parse_state((root / "state.tfstate").read_bytes(), "state.tfstate").resources
            live_items = orjson.loads((root / "live.json").read_bytes())
            trail = load_trail([str(root / "trail")])  # the folder path `detect --cloudtrail DIR` takes
            if trail.errors:
                raise SystemExit(f"bench input unreadable: {trail.errors[0]}")
            parsed = time.perf_counter() - t0
            result = compute(resources, live_items, {}, Ctx("us-east-1", "111122223333"), trail.events)
            elapsed = time.perf_counter() - t0
            if elapsed < full:
                full, t_parse = elapsed, parsed
            del resources, live_items
            gc.collect()

    kinds: dict[str, int] = {}
    for d in result.drifts:
        kinds[d["kind"]] = kinds.get(d["kind"], 0) + 1
    print(orjson.dumps({
        "benchmark": "deepdrift detect+attribute", "quick": args.quick, "state_resources": n,
        "cloudtrail_records": m, "write_events": len(trail.events), "input_bytes": size,
        "drifts": len(result.drifts), "drifts_by_kind": kinds,
        "attributed": sum(1 for d in result.drifts if d["cause"]),
        "diff_paths": sum(len(d["diffs"]) for d in result.drifts),
        "diff_paths_attributed": sum(1 for d in result.drifts for x in d["diffs"] if x.get("cause")),
        "seconds_total": round(full, 3), "seconds_read_and_parse_stage": round(t_parse, 3),
        "seconds_compare_and_attribute_stage": round(full - t_parse, 3),
        "baseline_bare_parse_seconds": round(bare, 3), "ratio_to_bare_parse": round(full / bare, 2),
        "baseline_bare_parse_gc_paused_seconds": round(bare_paused, 3),
        "ratio_to_bare_parse_gc_paused": round(full / bare_paused, 2),
        "repeat": args.repeat, "aim_ratio": 2.0,
    }, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
