"""DeepDrift CloudTrail-from-S3 benchmark: objects listed and read, and seconds, per watch cycle on a bucket
holding a year of delivered logs (moto server on loopback), next to the full read of the bucket (what one
cycle cost before incremental reading) measured in the same run.

    .venv/bin/python bench/deepdrift_cloudtrail_s3.py            # 365 days x 2 regions x 4 objects
    .venv/bin/python bench/deepdrift_cloudtrail_s3.py --quick    # 60 days x 2 regions x 2 objects
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airdig.deepdrift.cloudtrail import Trail, TrailSeen, load_trail, read_s3

ACCT, BUCKET = "123456789012", "bench-trail"


def _body(day: datetime, n: int, records: int) -> bytes:
    recs = [{"eventVersion": "1.09", "eventID": f"{n:08x}-{i:04x}", "eventTime": f"{day:%Y-%m-%dT%H:%M:%SZ}",
             "eventSource": "ec2.amazonaws.com", "eventName": "CreateTags" if i % 5 == 0 else "DescribeInstances",
             "readOnly": i % 5 != 0, "userAgent": "aws-cli/2.15.30", "sourceIPAddress": "203.0.113.5",
             "userIdentity": {"type": "IAMUser", "userName": "u", "arn": f"arn:aws:iam::{ACCT}:user/u"},
             "requestParameters": {"resourcesSet": {"items": [{"resourceId": f"i-{n:08x}{i:04x}"}]}}}
            for i in range(records)]
    return gzip.compress(orjson.dumps({"Records": recs}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--since-hours", type=float, default=48.0)
    args = ap.parse_args()
    days, per_day, records = (60, 2, 50) if args.quick else (365, 4, 100)
    regions = ("us-east-1", "eu-west-1")
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(AWS_ENDPOINT_URL=f"http://{host}:{port}", AWS_ACCESS_KEY_ID="bench",
                      AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    import boto3

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    now = time.time()
    start = datetime.fromtimestamp(now, UTC)
    n = 0
    for d in range(days):
        for region in regions:
            for k in range(per_day):
                n += 1
                day = start - timedelta(days=d, hours=k)
                s3.put_object(Bucket=BUCKET, Key=f"AWSLogs/{ACCT}/CloudTrail/{region}/{day:%Y/%m/%d}/"
                                                 f"{ACCT}_CloudTrail_{region}_{day:%Y%m%dT%H%M}Z_{n:06d}.json.gz",
                              Body=_body(day, n, records))
    out: dict[str, Any] = {"benchmark": "deepdrift cloudtrail s3 incremental", "quick": args.quick,
                           "objects_in_bucket": n, "records_per_object": records, "since_hours": args.since_hours}
    try:
        t0 = time.perf_counter()
        full = Trail()
        stats = read_s3(full, f"s3://{BUCKET}")
        out["baseline_full_read"] = {**stats, "seconds": round(time.perf_counter() - t0, 3)}
        with tempfile.TemporaryDirectory() as tmp:
            path = str(Path(tmp) / "deepdrift-cloudtrail.json")
            for cycle, when in (("first_cycle", now), ("second_cycle", now + 60)):
                t0 = time.perf_counter()
                trail = load_trail([f"s3://{BUCKET}"], args.since_hours, seen=TrailSeen(path), now=when)
                out[cycle] = {**trail.s3_stats[0], "events": len(trail.events),
                              "seconds": round(time.perf_counter() - t0, 3)}
            day = datetime.fromtimestamp(now + 120, UTC)
            s3.put_object(Bucket=BUCKET, Key=f"AWSLogs/{ACCT}/CloudTrail/us-east-1/{day:%Y/%m/%d}/new.json.gz",
                          Body=_body(day, n + 1, records))
            t0 = time.perf_counter()
            trail = load_trail([f"s3://{BUCKET}"], args.since_hours, seen=TrailSeen(path), now=now + 180)
            out["cycle_after_one_new_object"] = {**trail.s3_stats[0], "events": len(trail.events),
                                                 "seconds": round(time.perf_counter() - t0, 3)}
            out["remembered_bytes"] = os.path.getsize(path)
    finally:
        server.stop()
    print(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
