"""Unknown is never "gone": DeepDrift against an emulated account (moto server) where part of the picture
cannot be read. Each test here failed on the code before scopes existed (see the issue's false positives).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airdig.backends.registry import open_bus
from airdig.model.events import TOPIC_DRIFT, CloudEvent

pytestmark = pytest.mark.slow

ACCOUNT_ID = "123456789012"  # moto's default account


def _state(resources: list[dict[str, Any]]) -> str:
    return json.dumps({"version": 4, "terraform_version": "1.9.5", "serial": 3, "lineage": "scopes",
                       "outputs": {}, "resources": resources})


def _res(rtype: str, name: str, attrs: dict[str, Any]) -> dict[str, Any]:
    return {"mode": "managed", "type": rtype, "name": name,
            "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
            "instances": [{"schema_version": 0, "attributes": attrs, "sensitive_attributes": []}]}


def _bucket(name: str, tags: dict[str, str]) -> dict[str, Any]:
    return _res("aws_s3_bucket", name.replace("-", "_"),
                {"id": name, "bucket": name, "arn": f"arn:aws:s3:::{name}", "tags": tags, "tags_all": tags})


@pytest.fixture(scope="module")
def world(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    import boto3

    root = tmp_path_factory.mktemp("scopes")
    s3 = boto3.client("s3", region_name="us-east-1")
    for name, tags in (("team-a-assets", {"Team": "a"}), ("team-b-assets", {"Team": "b-live"})):
        s3.create_bucket(Bucket=name)
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]})
    s3.create_bucket(Bucket="tfstate-store")
    eu = boto3.client("dynamodb", region_name="eu-west-1")
    table = eu.create_table(TableName="eu-orders", BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])["TableDescription"]
    state_a = root / "team-a.tfstate"
    state_a.write_text(_state([
        _bucket("team-a-assets", {"Team": "a"}),
        _bucket("tfstate-store", {}),
        # lives in eu-west-1 (its ARN says so) while the run's default region is us-east-1
        _res("aws_dynamodb_table", "eu_orders", {
            "id": "eu-orders", "name": "eu-orders", "arn": table["TableArn"], "billing_mode": "PAY_PER_REQUEST",
            "hash_key": "id", "attribute": [{"name": "id", "type": "S"}]})]))
    # team B's state: the bucket's tag differs from live (a changed drift owned by this state)
    s3.put_object(Bucket="tfstate-store", Key="team-b.tfstate",
                  Body=_state([_bucket("team-b-assets", {"Team": "b"})]).encode())
    env = {**os.environ, "AIRDIG_LOG_LEVEL": "warning", "AIRDIG_DATA_DIR": str(root / "data")}
    yield {"root": root, "state_a": state_a, "state_b": "s3://tfstate-store/team-b.tfstate", "env": env,
           "table_arn": table["TableArn"]}


def cli(world: dict[str, Any], *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from airdig.cli.main import main; main()", "deepdrift", *args],
                          env=env or world["env"], capture_output=True, text=True, timeout=180)


def test_a_state_in_another_region_is_read_there_not_missing(world: dict[str, Any]) -> None:
    proc = cli(world, "detect", "--state", str(world["state_a"]), "--format", "json")
    doc = json.loads(proc.stdout)
    # team B's bucket is in no state given here; the eu-west-1 table is not missing
    assert [(d["kind"], d["native_id"]) for d in doc["drifts"]] == [("unmanaged", "team-b-assets")]
    assert proc.returncode == 1, proc.stderr
    scopes = {(s["type"], s["region"]): s for s in doc["coverage"]["scopes"]}
    eu = scopes[("aws_dynamodb_table", "eu-west-1")]
    assert (eu["status"], eu["state_resources"], eu["compared"], eu["live"], eu["managed"]) == ("checked", 1, 1, 1, 1)
    assert scopes[("aws_dynamodb_table", "us-east-1")]["status"] == "checked"
    assert scopes[("aws_s3_bucket", "global")]["account"] == ACCOUNT_ID
    assert doc["coverage"]["compared"] == {"state_resources": 3, "compared": 3, "share": 1.0}


def test_an_unreadable_state_makes_nothing_unmanaged(world: dict[str, Any]) -> None:
    missing = "s3://tfstate-store/team-c.tfstate"  # the object cannot be read (NoSuchKey; AccessDenied alike)
    proc = cli(world, "detect", "--state", str(world["state_a"]), "--state", missing, "--format", "json")
    doc = json.loads(proc.stdout)
    assert [d for d in doc["drifts"] if d["kind"] == "unmanaged"] == []  # team-b-assets may be team C's
    assert proc.returncode == 2, proc.stderr
    states = {s["source"]: s for s in doc["coverage"]["states"]}
    assert states[str(world["state_a"])]["status"] == "checked"
    assert states[missing]["status"] == "unknown" and "could not read" in states[missing]["reason"]
    assert doc["coverage"]["unmanaged"]["status"] == "unknown"
    table = cli(world, "detect", "--state", str(world["state_a"]), "--state", missing)
    assert f"state {missing}: unknown" in table.stdout
    assert "unmanaged detection: unknown" in table.stdout


def _drifts(events: list[CloudEvent]) -> list[CloudEvent]:
    return [e for e in events if e.type in ("airdig.drift.detected", "airdig.drift.resolved")]


def _drain(data_dir: Path) -> list[CloudEvent]:
    bus = open_bus(f"embedded://{data_dir / 'bus.db'}")
    try:
        consumer = bus.consumer("scopes", [TOPIC_DRIFT])
        out: list[CloudEvent] = []
        while records := consumer.poll(500, timeout=0.5):
            out += [CloudEvent.decode(r.value, "bus") for r in records]
            consumer.commit(records)
        consumer.close()
        return out
    finally:
        bus.close()


def test_watch_keeps_the_drifts_of_a_state_that_became_unreadable(world: dict[str, Any]) -> None:
    import boto3

    data_dir = world["root"] / "watch-data"
    env = {**world["env"], "AIRDIG_DATA_DIR": str(data_dir)}
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.put_bucket_tagging(Bucket="team-a-assets", Tagging={"TagSet": [{"Key": "Team", "Value": "a"}]})
    s3.create_bucket(Bucket="stray-bucket")
    try:
        state_a = world["root"] / "team-a-us.tfstate"  # team A without its eu-west-1 table
        state_a.write_text(_state([_bucket("team-a-assets", {"Team": "a"}), _bucket("tfstate-store", {})]))
        args = ("watch", "--once", "--state", str(state_a), "--state", world["state_b"])
        first = cli(world, *args, env=env)
        assert first.returncode == 0, first.stderr
        detected = {(e.data["kind"], e.data["native_id"]) for e in _drifts(_drain(data_dir))}
        assert detected == {("changed", "team-b-assets"), ("unmanaged", "stray-bucket")}
        body = s3.get_object(Bucket="tfstate-store", Key="team-b.tfstate")["Body"].read()
        s3.delete_object(Bucket="tfstate-store", Key="team-b.tfstate")  # team B's state cannot be read now
        try:
            second = cli(world, *args, env=env)
            assert second.returncode == 0, second.stderr
            events = _drain(data_dir)
            assert [(e.type, e.data["native_id"]) for e in _drifts(events)] == []  # nothing "resolved"
            coverage = [e.data for e in events if e.type == "airdig.drift.coverage"]
            assert len(coverage) == 1 and coverage[0]["unmanaged"]["status"] == "unknown"
            assert {s["source"]: s["status"] for s in coverage[0]["states"]}[world["state_b"]] == "unknown"
        finally:
            s3.put_object(Bucket="tfstate-store", Key="team-b.tfstate", Body=body)
        third = cli(world, "watch", "--once", "--state", str(state_a), env=env)
        assert third.returncode == 0, third.stderr
        # team B's state is no longer given at all: its changed drift is resolved, its bucket unmanaged
        assert sorted((e.type, e.data["kind"], e.data["native_id"]) for e in _drifts(_drain(data_dir))) == [
            ("airdig.drift.detected", "unmanaged", "team-b-assets"),
            ("airdig.drift.resolved", "changed", "team-b-assets")]
    finally:
        s3.delete_bucket(Bucket="stray-bucket")


def test_a_failed_sts_call_is_an_error_not_an_empty_account(world: dict[str, Any]) -> None:
    env = {**world["env"], "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:9", "AWS_MAX_ATTEMPTS": "1"}
    proc = cli(world, "detect", "--state", str(world["state_a"]), "--format", "json", env=env)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stdout == ""
    assert "STS" in proc.stderr and "account id" in proc.stderr
    assert "Traceback" not in proc.stderr


class _Raw:
    """The body of an HTTP answer, as botocore reads it (``stream()``)."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_kw: Any) -> Iterator[bytes]:
        yield self.body


def test_a_failed_rotation_status_call_is_unknown_not_rotation_disabled(world: dict[str, Any]) -> None:
    """The key lives in moto; only GetKeyRotationStatus is answered with AccessDenied, injected at the HTTP
    layer of the real client (moto cannot make one call fail)."""
    from botocore.awsrequest import AWSResponse

    from airdig.deepdrift.detect import compute
    from airdig.deepdrift.live import Clients, fetch_keys
    from airdig.deepdrift.mapping import Ctx
    from airdig.deepdrift.tfstate import parse_state

    clients = Clients("us-east-1")
    kms = clients("kms")
    key = kms.create_key(Description="rotating")["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=key)

    def deny(request: Any, **_kw: Any) -> AWSResponse:
        body = b'{"__type":"AccessDeniedException","message":"not authorized to perform kms:GetKeyRotationStatus"}'
        return AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.1",
                                              "x-amzn-RequestId": "r-1"}, _Raw(body))

    kms.meta.events.register("before-send.kms.GetKeyRotationStatus", deny)
    try:
        items = [i for i in fetch_keys(clients) if i["KeyId"] == key]
    finally:
        kms.meta.events.unregister("before-send.kms.GetKeyRotationStatus", deny)
        kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    state = parse_state(_state([_res("aws_kms_key", "k", {
        "id": key, "key_id": key, "description": "rotating", "enable_key_rotation": True, "is_enabled": True,
        "key_usage": "ENCRYPT_DECRYPT"})]), "k.tfstate")
    result = compute(state.resources, {"kms.keys": items}, {}, Ctx("us-east-1", ACCOUNT_ID), [])
    assert result.drifts == []
    assert any("enable_key_rotation" in e and "AccessDenied" in e for e in result.errors), result.errors
    assert result.exit_code == 2


def test_plan_through_the_cli(world: dict[str, Any]) -> None:
    """A plan that creates team B's bucket: with --plan it is pending, not unmanaged (exit 0)."""
    plan = world["root"] / "plan.json"
    plan.write_text(json.dumps({"format_version": "1.2", "terraform_version": "1.9.5", "resource_changes": [
        {"address": "aws_s3_bucket.team_b", "mode": "managed", "type": "aws_s3_bucket", "name": "team_b",
         "provider_name": "registry.terraform.io/hashicorp/aws",
         "change": {"actions": ["create"], "before": None, "after": {"bucket": "team-b-assets"},
                    "after_unknown": {"arn": True, "id": True}}}]}))
    proc = cli(world, "detect", "--state", str(world["state_a"]), "--plan", str(plan), "--format", "json")
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    doc = json.loads(proc.stdout)
    assert doc["drifts"] == []
    assert [(p["kind"], p["terraform_address"], p["actions"]) for p in doc["pending"]] == [
        ("unmanaged", "aws_s3_bucket.team_b", ["create"])]
    plan.write_text("{")
    bad = cli(world, "detect", "--state", str(world["state_a"]), "--plan", str(plan))
    assert bad.returncode == 2 and f"{plan}: not valid JSON" in bad.stderr and "Traceback" not in bad.stderr
