"""`airdig deepdrift watch --once` publishes drift events on change only, onto the embedded bus."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airdig.backends.registry import open_bus
from airdig.model.events import TOPIC_DRIFT, CloudEvent, to_rfc3339

pytestmark = pytest.mark.slow


def watch_once(account: Any, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from airdig.cli.main import main; main()", "deepdrift", "watch",
                           "--once", "--state", str(account.state), "--cloudtrail", str(account.trail), *extra],
                          env=account.env, capture_output=True, text=True, timeout=120)


def drain(data_dir: Path, group: str) -> list[CloudEvent]:
    bus = open_bus(f"embedded://{data_dir / 'bus.db'}")
    try:
        consumer = bus.consumer(group, [TOPIC_DRIFT])
        out: list[CloudEvent] = []
        while True:
            records = consumer.poll(500, timeout=0.5)
            if not records:
                break
            for r in records:
                ev = CloudEvent.decode(r.value, "bus")
                if ev.subject != r.key:
                    raise AssertionError(f"bus key {r.key} differs from subject {ev.subject}")
                out.append(ev)
            consumer.commit(records)
        consumer.close()
        return out
    finally:
        bus.close()


def test_watch_publishes_on_change_only(account: Any) -> None:
    data_dir = Path(account.env["AIRDIG_DATA_DIR"])
    first = watch_once(account)
    assert first.returncode == 0, first.stderr
    events = drain(data_dir, "g")
    detected = [e for e in events if e.type == "airdig.drift.detected"]
    changes = [e for e in events if e.type == "airdig.change.recorded"]
    coverage = [e for e in events if e.type == "airdig.drift.coverage"]
    # every write the table maps to a node is a change on record, drift or not (11 in the trail: the
    # Terraform-made CreateSecurityGroup and bob's Stop/StartInstances included; the failed and the
    # read-only calls are not writes)
    assert len(detected) == 7 and len(changes) == 11 and len(coverage) == 1 and len(events) == 19
    assert coverage[0].subject == "deepdrift:coverage" and coverage[0].data["unmanaged"] == {"status": "checked"}
    kinds = sorted((e.data["resource_type"], e.data["kind"]) for e in detected)
    assert kinds == [("aws_iam_role", "unmanaged"), ("aws_iam_role_policy_attachment", "changed"),
                     ("aws_instance", "changed"), ("aws_lambda_function", "changed"), ("aws_s3_bucket", "missing"),
                     ("aws_security_group", "changed"), ("aws_subnet", "changed")]
    for e in detected:
        assert e.subject == e.data["resource_id"]
        assert {"id", "resource_id", "resource_type", "terraform_address", "kind", "severity", "diffs", "cause",
                "remediation", "detected_at"} <= set(e.data)
    by_event = {e.data["id"]: e for e in changes}
    sg_change = by_event["a1b2c3d4-0000-4000-8000-000000000002"]
    assert sg_change.data["kind"] == "cloudtrail" and sg_change.data["actor"].endswith("/alice@example.com")
    assert sg_change.subject == f"arn:aws:ec2:us-east-1:123456789012:security-group/{account.ids['sg_id']}"
    assert sg_change.data["time"] == "2025-06-02T09:15:00.000000Z"
    assert sg_change.data["details"]["attributes"] == ["ingress"]
    stop = by_event["a1b2c3d4-0000-4000-8000-000000000003"]  # caused no drift, still on record
    assert stop.subject == f"arn:aws:ec2:us-east-1:123456789012:instance/{account.ids['instance_id']}"
    assert (stop.data["details"]["event_name"], stop.data["details"]["attributes"]) == (
        "StopInstances", ["instance_state"])
    detach = by_event["a1b2c3d4-0000-4000-8000-000000000013"]
    assert detach.subject == account.ids["role_arn"] and to_rfc3339(detach.time) == "2025-06-02T13:30:00.000000Z"
    assert detach.data["details"]["attributes"] == [f"managed_policy_arns[{account.ids['policy_arn']}]"]
    assert detach.data["details"]["request_parameters"]["roleName"] == "app-role"
    lambda_writers = {e.data["actor"]: e.data["details"]["attributes"] for e in changes
                      if e.subject == account.ids["function_arn"]}
    assert lambda_writers == {"user/carol": ["timeout"], "user/dave": ["description"]}

    second = watch_once(account)
    assert second.returncode == 0, second.stderr
    assert drain(data_dir, "g") == []

    third = watch_once(account, "--ignore", "aws_s3_bucket.logs")
    assert third.returncode == 0, third.stderr
    resolved = drain(data_dir, "g")
    assert [(e.type, e.data["terraform_address"]) for e in resolved] == [("airdig.drift.resolved", "aws_s3_bucket.logs")]

    raw = (data_dir / "bus.db").read_bytes() + (data_dir / "deepdrift-watch.json").read_bytes()
    for secret in (account.ids["db_password"], account.ids["api_token"]):
        assert secret.encode() not in raw
