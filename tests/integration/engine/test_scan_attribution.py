"""Who set each changed attribute of a SkyGraph scan diff, through the real pillars.

A Lambda function in the AWS API emulator (moto server) is scanned by ``airdig skygraph scan``; then alice
cuts its timeout and bob edits its description through the API, and a second scan sees both. The
CloudTrail files describing the two writes (moto keeps no trail, so the test writes them in the
delivered-to-S3 layout, as AWS would) are read by ``airdig deepdrift watch --once``. The engine consumes
the bus and answers, per changed path of the scan diff, alice for ``attrs.Timeout``, bob for
``attrs.Description`` and nobody for the attributes no request named (``attrs.LastModified``…).
Runs on SQLite and on MariaDB (the bus is the embedded one the CLIs publish to).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from airdig.backends.registry import open_bus, open_cache, open_store
from airdig.engine.app import build_app
from airdig.engine.service import EngineService
from tests.integration.deepdrift.conftest import ENV_KEYS, moto_endpoint  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow
ACCOUNT = "123456789012"
CLI = [sys.executable, "-c", "from airdig.cli.main import main; main()"]
STATE = {"version": 4, "terraform_version": "1.7.5", "serial": 1, "lineage": "scan-attribution",
         "outputs": {}, "resources": []}


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc


def record(eid: str, who: str, at: float, params: dict[str, Any], ip: str,
           name: str = "UpdateFunctionConfiguration20150331v2") -> dict[str, Any]:
    return {"eventVersion": "1.09", "userIdentity": {
        "type": "IAMUser", "principalId": f"AIDA{who.upper()}", "arn": f"arn:aws:iam::{ACCOUNT}:user/{who}",
        "accountId": ACCOUNT, "userName": who},
        "eventTime": datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "lambda.amazonaws.com", "eventName": name,
        "awsRegion": "us-east-1", "sourceIPAddress": ip, "userAgent": "aws-cli/2.15.30 Python/3.11.8",
        "requestParameters": params, "responseElements": None, "requestID": eid, "eventID": eid,
        "readOnly": False, "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": ACCOUNT,
        "eventCategory": "Management"}


def write_trail(root: Path, records: list[dict[str, Any]], at: float) -> None:
    day = datetime.fromtimestamp(at, UTC)
    folder = root / "AWSLogs" / ACCOUNT / "CloudTrail" / "us-east-1" / day.strftime("%Y/%m/%d")
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{ACCOUNT}_CloudTrail_us-east-1_{day.strftime('%Y%m%dT%H%MZ')}_a1.json.gz"
    (folder / name).write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))


@pytest.fixture(params=["sqlite", "mariadb"])
def store_for(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'engine.db'}"
    url: str = request.getfixturevalue("mysql_url")
    return url


def test_each_changed_attribute_of_a_scan_diff_names_its_writer(moto_endpoint: str,  # noqa: F811
                                                               store_for: str, tmp_path: Path) -> None:
    import boto3

    httpx.post(f"{moto_endpoint}/moto-api/reset", timeout=30).raise_for_status()  # one account per stack
    data = tmp_path / "airdig"
    data.mkdir()
    env = {**{k: v for k, v in os.environ.items() if k not in ENV_KEYS and k != "KUBECONFIG"},
           "AWS_ENDPOINT_URL": moto_endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AIRDIG_DATA_DIR": str(data), "AIRDIG_LOG_LEVEL": "warning",
           "HOME": str(tmp_path)}
    iam = boto3.client("iam")
    role = iam.create_role(RoleName="worker-role", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("index.py", "def handler(event, context):\n    return None\n")
    lam = boto3.client("lambda")
    fn = lam.create_function(FunctionName="worker", Runtime="python3.11", Role=role, Handler="index.handler",
                             Code={"ZipFile": buf.getvalue()}, Timeout=30, Description="original")["FunctionArn"]
    scan = ("skygraph", "scan", "--regions", "us-east-1", "--services", "lambda")
    cli(env, *scan)
    time.sleep(1.1)
    t_alice = time.time()
    lam.update_function_configuration(FunctionName="worker", Timeout=10)
    time.sleep(1.1)
    t_bob = time.time()
    lam.update_function_configuration(FunctionName=fn, Description="edited by bob")
    t_carol = time.time()
    lam.tag_resource(Resource=fn, Tags={"Owner": "carol"})
    lam.tag_resource(Resource=fn, Tags={"Team": "core"})  # a write whose CloudTrail record is not on file
    time.sleep(1.1)
    cli(env, *scan)

    state = tmp_path / "empty.tfstate"
    state.write_text(json.dumps(STATE))
    trail = tmp_path / "trail"
    write_trail(trail, [record("e-bob", "bob", t_bob, {"functionName": fn, "description": "edited by bob"},
                               "203.0.113.22"),
                        record("e-alice", "alice", t_alice, {"functionName": "worker", "timeout": 10},
                               "203.0.113.21"),
                        record("e-carol", "carol", t_carol, {"resource": fn, "tags": {"Owner": "carol"}},
                               "203.0.113.23", "TagResource20170331v2")], t_bob)
    cli(env, "deepdrift", "watch", "--once", "--state", str(state), "--cloudtrail", str(trail))

    store = open_store(store_for)
    store.migrate()
    svc = EngineService(store=store, bus=open_bus(f"embedded://{data / 'bus.db'}"), cache=open_cache("memory://"),
                        group="scan-attribution")
    svc.start()
    try:
        deadline = time.monotonic() + 60
        while len(store.changes_of([fn], None, None, ["updated", "cloudtrail"])) < 4:
            if time.monotonic() > deadline:
                raise AssertionError(f"changes on the function: {store.changes_of([fn], None, None)}")
            time.sleep(0.2)
        with TestClient(build_app(svc)) as client:
            body = client.post("/graphql", json={"query": """query($id: ID!) { timeline(id: $id, first: 20) {
                kind writers { path writer { eventId eventName time principal channel sourceIp }
                               writers { eventId } } } }""", "variables": {"id": fn}}).json()
            assert "errors" not in body, body
            (diff,) = [c for c in body["data"]["timeline"] if c["kind"] == "updated"]
            who = {p["path"]: p["writer"] for p in diff["writers"]}
            assert who["attrs.Timeout"]["principal"] == "user/alice"
            assert who["attrs.Timeout"]["sourceIp"] == "203.0.113.21"
            assert who["attrs.Timeout"]["eventName"] == "UpdateFunctionConfiguration20150331v2"
            assert who["attrs.Description"]["principal"] == "user/bob"
            assert who["attrs.Description"]["eventId"] == "e-bob"
            assert who["attrs.Description"]["channel"]
            assert who["tags.Owner"]["principal"] == "user/carol"
            assert who["tags.Team"] is None  # no write on record named that key: no name rather than a guess
            assert set(who) == {"attrs.Timeout", "attrs.Description", "tags.Owner", "tags.Team"}
            by_path = {p["path"]: [w["eventId"] for w in p["writers"]] for p in diff["writers"]}
            assert by_path["attrs.Timeout"] == ["e-alice"] and by_path["attrs.Description"] == ["e-bob"]

            items = client.get("/api/v1/timeline", params={"id": fn}).json()["items"]
            (rest,) = [c for c in items if c["kind"] == "updated"]
            assert {p["path"]: (p["writer"] or {}).get("principal") for p in rest["writers"]} == {
                p: (w or {}).get("principal") for p, w in who.items()}
    finally:
        svc.stop()
        store.close()
