"""``skygraph follow`` serves /healthz, /readyz and /metrics like every role: a follower on the AWS API
emulator's queue, an embedded bus, and the probe listener on a real socket."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from airdig.backends.registry import open_bus
from airdig.skygraph.follow import Follower, FollowError
from airdig.skygraph.follow_http import start_follow_probes
from airdig.skygraph.graph_state import GraphState
from airdig.skygraph.scan import ScanOptions, run_scan
from tests.integration.skygraph.conftest import REGION, Topology, _free_port
from tests.integration.skygraph.test_follow import ALICE, record, via_eventbridge


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def _settled(port: int, path: str, status: int) -> tuple[int, str]:
    """/readyz keeps its verdict two seconds (airdig.edge.probes): ask until it says ``status``."""
    deadline = time.monotonic() + 10
    got = _get(port, path)
    while got[0] != status and time.monotonic() < deadline:
        time.sleep(0.2)
        got = _get(port, path)
    return got


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics:\n{text}")


def test_probes_follow_the_loop_the_queue_and_the_bus(topology: Topology, data_dir: Path) -> None:
    state = GraphState(data_dir)
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="probe-writes", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    run_scan(ScanOptions(regions=[REGION], services=["ec2"], k8s=False), state)
    bus = open_bus(f"embedded://{data_dir / 'bus.db'}")
    published: list[Any] = []
    follower = Follower(url, state, published.append, wait_seconds=0, services=["ec2"])
    server = start_follow_probes(follower, bus, "127.0.0.1", 0, stall_after=3600)
    try:
        assert _get(server.port, "/healthz")[0] == 200
        status, body = _get(server.port, "/readyz")
        assert status == 503 and "no receive from the queue yet" in body
        assert json.loads(body)["checks"]["bus"] == "ok"

        sqs.send_message(QueueUrl=url, MessageBody=via_eventbridge(record(
            "ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", ALICE, {"groupId": topology.ids["sg_db"]})))
        sqs.send_message(QueueUrl=url, MessageBody="this is not json")
        while follower.step():
            pass
        status, body = _settled(server.port, "/readyz", 200)
        assert status == 200, body
        status, text = _get(server.port, "/metrics")
        st = follower.stats
        assert status == 200 and st.messages == 2 and st.writes == 1
        for field, name in (("messages", "messages"), ("writes", "writes"), ("bad_messages", "bad_messages"),
                            ("scopes_read", "scopes_read"), ("published", "events_published"),
                            ("redescribed_writes", "redescribed_writes"), ("unmapped_writes", "unmapped_writes")):
            assert _metric(text, f"skygraph_follow_{name}_total") == getattr(st, field), name
        assert abs(_metric(text, "skygraph_follow_last_receive_timestamp_seconds") - time.time()) < 60

        # the queue goes away: not ready, and the failure is counted
        sqs.delete_queue(QueueUrl=url)
        try:
            follower.step()
            raise AssertionError("a receive from a deleted queue succeeded")
        except FollowError:
            pass
        status, body = _settled(server.port, "/readyz", 503)
        assert status == 503 and "receives from the queue failed" in body
        assert _metric(_get(server.port, "/metrics")[1], "skygraph_follow_receive_failures_total") == 1
    finally:
        server.stop()
        bus.close()

    # a loop that stops coming round fails liveness
    stalled = start_follow_probes(follower, None, "127.0.0.1", 0, stall_after=0.2)
    try:
        follower.stats.last_round_at = time.time() - 5
        status, body = _get(stalled.port, "/healthz")
        assert status == 503 and "has not come round" in body
    finally:
        stalled.stop()


def test_cli_follow_serves_the_probes(aws_env: str, data_dir: Path) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="cli-writes")["QueueUrl"]
    port = _free_port()
    env = {**os.environ, "AIRDIG_DATA_DIR": str(data_dir), "HOME": str(data_dir)}
    proc = subprocess.Popen([sys.executable, "-c", "from airdig.cli.main import main; main()", "skygraph", "follow",
                             "--queue-url", url, "--wait", "1", "--no-publish", "--services", "ec2",
                             "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        status, body = 0, ""
        while time.monotonic() < deadline:
            try:
                status, body = _get(port, "/readyz")
            except OSError:
                status = 0
            if status == 200:
                break
            assert proc.poll() is None, proc.communicate()[1].decode()
            time.sleep(0.3)
        assert status == 200, body
        assert json.loads(body)["checks"] == {"queue": "ok"}  # --no-publish: no bus to check
        assert _get(port, "/healthz")[0] == 200
        assert "skygraph_follow_messages_total 0.0" in _get(port, "/metrics")[1]
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    assert b"skygraph follow: 0 messages" in err


def test_cli_follow_serves_its_probes_over_tls_when_the_listeners_do(aws_env: str, data_dir: Path) -> None:
    """AIRDIG_TLS_CERT_FILE/KEY_FILE cover this listener as every other (the chart's tls.serve probes it
    over HTTPS); the test CA's certificate, a plain-text client gets no answer."""
    import ssl

    from tests.conftest import server_url

    tls = Path(server_url("AIRDIG_TEST_TLS_DIR"))
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="cli-writes-tls")["QueueUrl"]
    port = _free_port()
    env = {**os.environ, "AIRDIG_DATA_DIR": str(data_dir), "HOME": str(data_dir),
           "AIRDIG_TLS_CERT_FILE": str(tls / "server.pem"), "AIRDIG_TLS_KEY_FILE": str(tls / "server.key")}
    proc = subprocess.Popen([sys.executable, "-c", "from airdig.cli.main import main; main()", "skygraph", "follow",
                             "--queue-url", url, "--wait", "1", "--no-publish", "--services", "ec2",
                             "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ca = ssl.create_default_context(cafile=str(tls / "ca.pem"))
    try:
        deadline = time.monotonic() + 60
        status = 0
        while time.monotonic() < deadline and status != 200:
            try:
                status = httpx.get(f"https://localhost:{port}/readyz", verify=ca, timeout=5).status_code
            except httpx.TransportError:
                assert proc.poll() is None, proc.communicate()[1].decode()
                time.sleep(0.3)
        assert status == 200
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
