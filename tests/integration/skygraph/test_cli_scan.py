"""``airdig skygraph scan`` as a subprocess against the AWS API emulator, publishing to the embedded bus."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

from airdig.backends.registry import open_bus
from airdig.model.events import TOPIC_RESOURCES, CloudEvent

CLI = [sys.executable, "-c", "from airdig.cli.main import main; main()", "skygraph", "scan"]


def _run(args: list[str], data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "AIRDIG_DATA_DIR": str(data_dir), "AIRDIG_LOG_LEVEL": "warning", **env}
    full.pop("KUBECONFIG", None)
    full["HOME"] = str(data_dir)  # no ~/.kube/config: AWS only
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=full, timeout=120, check=False)


def test_cli_scan_writes_the_graph_and_publishes(topology, data_dir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "graph.json"
    proc = _run(["--regions", "us-east-1", "--output", str(out)], data_dir)
    assert proc.returncode == 0, proc.stderr
    assert "skygraph scan:" in proc.stderr and "0 failed" in proc.stderr
    graph = orjson.loads(out.read_bytes())
    ids = {n["id"] for n in graph["nodes"]}
    assert f"arn:aws:ec2:us-east-1:123456789012:instance/{topology.ids['web1']}" in ids
    assert all(set(n) == {"id", "kind", "provider", "account", "region", "name", "attrs", "tags"} for n in graph["nodes"])

    bus = open_bus(f"embedded://{data_dir / 'bus.db'}")
    try:
        consumer = bus.consumer("t-cli", [TOPIC_RESOURCES])
        events = [CloudEvent.decode(r.value) for r in consumer.poll(max_records=10000, timeout=2.0)]
        consumer.close()
    finally:
        bus.close()
    assert {e.subject for e in events if e.type == "airdig.resource.created"} == ids


def test_cli_scan_exits_nonzero_with_a_summary_when_a_scope_fails(topology, data_dir: Path,  # type: ignore[no-untyped-def]
                                                                  deny_endpoint: str) -> None:
    proc = _run(["--regions", "us-east-1", "--services", "lambda,sqs", "--no-publish"], data_dir,
                AWS_ENDPOINT_URL_LAMBDA=deny_endpoint)
    assert proc.returncode == 1
    assert "scope failed: lambda/us-east-1: AccessDeniedException" in proc.stderr
    assert "1 of 2 scopes failed" in proc.stderr


def test_cli_rejects_an_unknown_service(data_dir: Path) -> None:
    proc = _run(["--services", "ec3", "--no-publish"], data_dir)
    assert proc.returncode == 2
    assert "unknown service(s) ec3" in proc.stderr


def test_a_second_scan_of_the_same_scopes_stands_down_while_the_first_holds_the_lease(data_dir: Path) -> None:
    """Two scan replicas of one scope set (issue 13): while one holds the lease the other publishes nothing."""
    import time

    from airdig.backends.registry import open_store

    state = str(Path(__file__).parents[2] / "data" / "skygraph" / "terraform.tfstate")
    args = ["--no-aws", "--no-k8s", "--tfstate", state]
    store = open_store(f"sqlite:///{data_dir / 'airdig.db'}")
    store.migrate()
    # another replica's scan of the same scopes is under way: its lease row is live
    import hashlib

    key = orjson.dumps([False, None, None, False, None, None, None, [state]])
    scope = "skygraph:scan:" + hashlib.sha1(key).hexdigest()
    assert store.acquire_lease(scope, "other-replica", 60, time.time())
    proc = _run(args, data_dir)
    assert proc.returncode == 0, proc.stderr
    assert "another replica holds the scan lease" in proc.stderr
    assert not (data_dir / "bus.db").exists() or _published(data_dir, "a") == 0
    store.release_lease(scope, "other-replica")
    proc = _run(args, data_dir)
    assert proc.returncode == 0, proc.stderr
    assert _published(data_dir, "b") > 0
    assert store.lease_holder(scope, time.time()) is None  # released when the scan finished
    store.close()


def _published(data_dir: Path, group: str) -> int:
    bus = open_bus(f"embedded://{data_dir / 'bus.db'}")
    try:
        consumer = bus.consumer(f"t-{group}", [TOPIC_RESOURCES])
        n = len(consumer.poll(max_records=10000, timeout=1.0))
        consumer.close()
        return n
    finally:
        bus.close()


def test_cli_rejects_a_malformed_account_id_before_reading_anything(data_dir: Path) -> None:
    proc = _run(["--account", "123456789012,12345", "--no-publish"], data_dir)
    assert proc.returncode == 2
    assert "not an AWS account id (12 digits): 12345" in proc.stderr
    proc = _run(["--org", "--role-name", "bad role", "--no-publish"], data_dir)
    assert proc.returncode == 2
    assert "not an IAM role name: 'bad role'" in proc.stderr


def test_cli_org_scan(org, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    proc = _run(["--regions", "us-east-1", "--services", "sqs", "--org", "--role-name", "AirDigScanner",
                 "--no-publish", "--output", "-"], data_dir, AIRDIG_SKYGRAPH_EXTERNAL_ID="ext-1")
    assert proc.returncode == 0, proc.stderr
    names = {n["name"] for n in orjson.loads(proc.stdout)["nodes"]}
    assert names == {"mgmt-jobs", "prod-jobs", "staging-jobs"}


def test_cli_follow_once_reports_a_bad_message_and_stays_well(aws_env: str, data_dir: Path) -> None:
    import boto3

    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="trail")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody='{"hello": "world"}')
    proc = subprocess.run([*CLI[:-1], "follow", "--queue-url", url, "--once", "--wait", "0", "--no-publish"],
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "AIRDIG_DATA_DIR": str(data_dir), "HOME": str(data_dir)})
    assert proc.returncode == 0, proc.stderr
    assert "1 messages, 0 writes, 0 ignored records, 1 bad messages" in proc.stderr
    assert "neither a CloudTrail record" in proc.stderr
