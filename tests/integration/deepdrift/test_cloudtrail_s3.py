"""Incremental CloudTrail reading from S3 (moto server): a bucket holding a year of delivered logs; a cycle
lists only the day folders inside the window and reads only objects no earlier cycle read."""

from __future__ import annotations

import gzip
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from airdig.deepdrift.cloudtrail import TrailSeen, load_trail

pytestmark = pytest.mark.slow

ACCT = "123456789012"
BUCKET = "org-trail"
NOW = time.time()


def _record(n: int, when: datetime) -> dict[str, Any]:
    return {"eventVersion": "1.09", "eventID": f"evt-{n:06d}", "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": "s3.amazonaws.com", "eventName": "PutBucketTagging", "awsRegion": "us-east-1",
            "readOnly": False, "userAgent": "aws-cli/2.15.30", "sourceIPAddress": "203.0.113.9",
            "userIdentity": {"type": "IAMUser", "userName": "bob", "arn": f"arn:aws:iam::{ACCT}:user/bob"},
            "requestParameters": {"bucketName": f"b{n}"}, "responseElements": None}


def _put(s3: Any, n: int, when: datetime, region: str = "us-east-1") -> str:
    key = (f"AWSLogs/{ACCT}/CloudTrail/{region}/{when:%Y/%m/%d}/"
           f"{ACCT}_CloudTrail_{region}_{when:%Y%m%dT%H%M}Z_{n:06d}.json.gz")
    s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(json.dumps({"Records": [_record(n, when)]}).encode()))
    return key


@pytest.fixture(scope="module")
def year_of_logs(moto_endpoint: str) -> dict[str, int]:
    """One object per day and region for 365 days, in two regions (730 objects)."""
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    now = datetime.fromtimestamp(NOW, UTC)
    n = 0
    for day in range(365):
        for region in ("us-east-1", "eu-west-1"):
            n += 1
            _put(s3, n, now - timedelta(days=day, minutes=5), region)
    return {"objects": n}


def test_a_cycle_reads_only_the_window_and_then_only_new_objects(year_of_logs: dict[str, int], tmp_path: Path) -> None:
    import boto3

    path = str(tmp_path / "deepdrift-cloudtrail.json")
    first = load_trail([f"s3://{BUCKET}"], since_hours=48, seen=TrailSeen(path), now=NOW)
    stats = first.s3_stats[0]
    # 3 day folders (the window's first day, yesterday, today) x 2 regions, of 730 objects in the bucket
    assert (stats["listed"], stats["read"], stats["skipped"]) == (6, 6, 0)
    assert stats["list_calls"] <= 3 + 6  # the layout levels (delimiter listings) and one listing per day folder
    assert len(first.events) == 6 and first.errors == []
    assert min(e.ts for e in first.events) >= NOW - 3 * 86400

    second = load_trail([f"s3://{BUCKET}"], since_hours=48, seen=TrailSeen(path), now=NOW + 60)  # like `--once`
    assert (second.s3_stats[0]["read"], second.s3_stats[0]["skipped"]) == (0, 6)
    # the events of objects read in the earlier cycle are still there for attribution
    assert [e.event_id for e in second.events] == [e.event_id for e in first.events]

    s3 = boto3.client("s3", region_name="us-east-1")
    key = _put(s3, 999_999, datetime.fromtimestamp(NOW + 120, UTC))
    try:
        third = load_trail([f"s3://{BUCKET}/AWSLogs/{ACCT}/CloudTrail/"], since_hours=48, seen=TrailSeen(path),
                           now=NOW + 180)
        assert (third.s3_stats[0]["read"], third.s3_stats[0]["skipped"]) == (1, 6)
        assert "evt-999999" in {e.event_id for e in third.events} and len(third.events) == 7
    finally:
        s3.delete_object(Bucket=BUCKET, Key=key)


def test_the_remembered_keys_and_events_stay_bounded_by_the_window(year_of_logs: dict[str, int],
                                                                     tmp_path: Path) -> None:
    path = str(tmp_path / "seen.json")
    load_trail([f"s3://{BUCKET}"], since_hours=48, seen=TrailSeen(path), now=NOW)
    later = NOW + 10 * 86400  # ten days on: the earlier objects and their events fell out of the window
    seen = TrailSeen(path)
    trail = load_trail([f"s3://{BUCKET}"], since_hours=48, seen=seen, now=later)
    assert trail.s3_stats[0]["read"] == 0  # no logs were delivered in those ten days
    assert seen.keys == {} and seen.events == [] and trail.events == []
    assert len(Path(path).read_bytes()) < 100


def test_a_prefix_below_the_layout_is_listed_whole(year_of_logs: dict[str, int]) -> None:
    """A custom prefix that is not a CloudTrail layout level cannot be cut into day folders."""
    when = datetime.fromtimestamp(NOW, UTC) - timedelta(days=200)
    prefix = f"AWSLogs/{ACCT}/CloudTrail/us-east-1/{when:%Y/%m}/"
    trail = load_trail([f"s3://{BUCKET}/{prefix}"], since_hours=48, now=NOW)
    assert trail.s3_stats[0]["read"] >= 28 and trail.errors == []
