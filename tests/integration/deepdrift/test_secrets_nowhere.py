"""A secret planted anywhere in the estate appears nowhere AirDig writes, publishes, logs, serves or reports.

Each kind of secret is planted where operators really put them: an emulated AWS account (moto server:
Lambda environment variables, EC2 user data, instance tags, a security-group description, an unmanaged
function's environment), a simulated Kubernetes API (pod and deployment ``env`` values, container
args, and a Secret object the scanner must never ask for), a Terraform state (a ``password``
attribute, an attribute listed in ``sensitive_attributes``, environment variables) and CloudTrail
request parameters and identities. The real pillars run as the CLI runs them (``skygraph scan``,
``deepdrift watch --once``, ``deepdrift detect`` in every format) into an engine on the embedded stack
(SQLite + embedded bus) and on MariaDB + Kafka + Redis. Then every place is searched for every secret
(raw, base64 and JSON-escaped): all store tables, every topic of the bus, the data directory, every log
line, the REST and GraphQL responses (the GraphQL queries are the UI's own, read from its JavaScript),
the UI's pages as headless Chromium renders them (and every response it fetched) and the
table/JSON/HTML reports.

The Kubernetes API is simulated (no cluster can run here): list endpoints and bearer auth as documented
in the Kubernetes API reference, reached through a kubeconfig by the official client.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import io
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

from airdig.backends.registry import open_bus, open_cache, open_store
from airdig.engine.app import build_app
from airdig.engine.service import EngineService
from airdig.model.events import TOPICS, to_rfc3339
from tests.conftest import Backends

from .conftest import ENV_KEYS

pytestmark = pytest.mark.slow

ACCOUNT = "123456789012"
JWT_HEADER = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"


def _jwt(sub: str) -> str:
    payload = base64.urlsafe_b64encode(json.dumps({"sub": sub}).encode()).decode().rstrip("=")
    return f"{JWT_HEADER}.{payload}.c2lnbmF0dXJlLW9mLXRoZS10b2tlbi0xMjM0NTY3ODkw"


PEM_BODY = "MIIEpAIBAAKCAQEAsEcReTpEmBoDyQx7Zk2"
# name -> the secret text that must never appear (each one unique, so a hit names its leak)
SECRETS = {
    "lambda env DB_PASSWORD": "LamEnvPw-7Qx9Zt",
    "lambda env URL credentials": "LamUrlPw-3Kd8Vb",
    "lambda env AWS access key id": "AKIAZQ3DRSTUVWXY2345",
    "lambda env AWS secret key": "Zx9/Kq2LmN8pQr4StUv6WxY0aBcDeFgHiJkLmN0p",
    "lambda env JWT": _jwt("lambda-claims-4471"),
    "lambda env PEM private key": PEM_BODY,
    "lambda env bearer token": "bt5Fh2Jk8Lm3NpQ7",
    "lambda env pwd": "PwdVal-9Zt4Rw",
    "unmanaged lambda env token": "RogueTok-6Yh1Xc",
    "ec2 user data": "UserDataPw-8JqLm",
    "ec2 tag password": "TagPw-6VbNm2",
    "ec2 tag URL credentials": "TagUrlPw-2LpQw",
    "security group description": "SgDescPw-4HnKs",
    "k8s pod env password": "K8sEnvPw-1QaZx",
    "k8s pod env URL credentials": "K8sUrlPw-5WsXc",
    "k8s container arg api key": "K8sArgKey-3EdCv",
    "k8s deployment env JWT": _jwt("k8s-deploy-8812"),
    "k8s Secret object data": "K8sSecretData-7RfTg",
    "terraform password attribute": "TfDbPw-2MnBv",
    "terraform sensitive_attributes": "TfSensitiveDesc-0OkIj",
    "terraform env password": "TfEnvPw-5TgBh",
    "terraform user data": "TfUserDataPw-3WeRt",
    "cloudtrail request password": "CtParamPw-9OlMn",
    "cloudtrail request URL credentials": "CtUrlPw-1AsDf",
    "cloudtrail request authorization": "CtAuthTok-4RfVbGt",
    "cloudtrail identity access key id": "ASIAQWERTYUIOPASDFGH",
}
PEM = f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\nq8Zx9+Yw==\n-----END RSA PRIVATE KEY-----\n"


def _forms(secret: str) -> set[str]:
    """The ways a secret can be written down: raw, JSON-escaped, base64 (with and without padding)."""
    b64 = base64.b64encode(secret.encode()).decode()
    return {secret, json.dumps(secret)[1:-1], b64.rstrip("="), base64.urlsafe_b64encode(secret.encode()).decode().rstrip("=")}


def assert_no_secret(where: str, blob: str | bytes) -> None:
    text = blob.decode("utf-8", "replace") if isinstance(blob, bytes) else blob
    leaks = [name for name, s in SECRETS.items() if any(f in text for f in _forms(s))]
    assert not leaks, f"{where} holds {leaks}"


# ------------------------------------------------------------------------------------------- the estate


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("index.py", "def handler(event, context):\n    return None\n")
    return buf.getvalue()


def _lambda_env() -> dict[str, str]:
    return {"QUEUE": "jobs-v2", "DB_PASSWORD": SECRETS["lambda env DB_PASSWORD"],
            "DATABASE_URL": f"postgres://app:{SECRETS['lambda env URL credentials']}@db.internal:5432/orders",
            "AWS_ACCESS_KEY_ID": SECRETS["lambda env AWS access key id"],
            "S3_SYNC": SECRETS["lambda env AWS secret key"], "CLAIMS": SECRETS["lambda env JWT"],
            "TLS_KEY": PEM, "UPSTREAM_AUTH": f"Bearer {SECRETS['lambda env bearer token']}",
            "pwd": SECRETS["lambda env pwd"]}


def _build_aws() -> dict[str, str]:
    import boto3

    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="app", VpcId=vpc, Description=(
        f"app tier; password={SECRETS['security group description']}"))["GroupId"]
    ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    user_data = f"#!/bin/bash\nexport DB_PASSWORD={SECRETS['ec2 user data']}\n/opt/app/start\n"
    inst = ec2.run_instances(ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1, SubnetId=subnet,
                             SecurityGroupIds=[sg], UserData=user_data, TagSpecifications=[{
                                 "ResourceType": "instance", "Tags": [
                                     {"Key": "Name", "Value": "app-0"},
                                     {"Key": "db_password", "Value": SECRETS["ec2 tag password"]},
                                     {"Key": "cache", "Value": f"redis://:{SECRETS['ec2 tag URL credentials']}@cache:6379"}]}])
    iid = inst["Instances"][0]["InstanceId"]
    iam = boto3.client("iam")
    role = iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    lam = boto3.client("lambda")
    fn = lam.create_function(FunctionName="worker", Runtime="python3.11", Role=role, Handler="index.handler",
                             Code={"ZipFile": _zip()}, Description="worker v2",
                             Environment={"Variables": _lambda_env()})
    lam.create_function(FunctionName="rogue", Runtime="python3.11", Role=role, Handler="index.handler",
                        Code={"ZipFile": _zip()},
                        Environment={"Variables": {"API_TOKEN": SECRETS["unmanaged lambda env token"]}})
    return {"vpc": vpc, "subnet": subnet, "sg": sg, "ami": ami, "instance": iid, "role": role,
            "function_arn": fn["FunctionArn"]}


def _state(ids: dict[str, str]) -> dict[str, Any]:
    provider = 'provider["registry.terraform.io/hashicorp/aws"]'
    env = {**_lambda_env(), "QUEUE": "jobs", "DB_PASSWORD": SECRETS["terraform env password"]}
    user_data = f"#!/bin/bash\nexport DB_PASSWORD={SECRETS['terraform user data']}\n/opt/app/start\n"

    def res(rtype: str, name: str, attrs: dict[str, Any], sensitive: list[Any] | None = None) -> dict[str, Any]:
        return {"mode": "managed", "type": rtype, "name": name, "provider": provider,
                "instances": [{"schema_version": 0, "attributes": attrs, "sensitive_attributes": sensitive or []}]}

    return {"version": 4, "terraform_version": "1.7.5", "serial": 3, "lineage": "5b0c1d2e-secrets", "outputs": {},
            "resources": [
                res("aws_security_group", "app", {
                    "id": ids["sg"], "name": "app", "vpc_id": ids["vpc"], "tags": {}, "tags_all": {},
                    "description": f"app tier; password={SECRETS['security group description']}",
                    "ingress": [], "egress": []}),
                res("aws_instance", "app", {
                    "id": ids["instance"], "ami": ids["ami"], "instance_type": "t3.small", "subnet_id": ids["subnet"],
                    "vpc_security_group_ids": [ids["sg"]], "key_name": "",
                    "user_data_base64": base64.b64encode(user_data.encode()).decode(),
                    "tags": {"Name": "app-0", "db_password": SECRETS["terraform password attribute"]}}),
                res("aws_lambda_function", "worker", {
                    "id": "worker", "function_name": "worker", "arn": ids["function_arn"], "runtime": "python3.11",
                    "handler": "index.handler", "role": ids["role"], "memory_size": 128, "timeout": 3,
                    "description": SECRETS["terraform sensitive_attributes"],
                    "environment": [{"variables": env}]},
                    [[{"type": "get_attr", "value": "description"}]]),
                res("aws_db_instance", "gone", {
                    "id": "db-GONE", "identifier": "gone-db", "engine": "postgres", "instance_class": "db.t3.micro",
                    "username": "app", "password": SECRETS["terraform password attribute"],
                    "allocated_storage": 20}),
            ]}


def _trail(root: Path, ids: dict[str, str]) -> Path:
    at = datetime.now(UTC) - timedelta(hours=1)
    ident = {"type": "IAMUser", "principalId": "AIDAEXAMPLECAROL", "arn": f"arn:aws:iam::{ACCOUNT}:user/carol",
             "accountId": ACCOUNT, "accessKeyId": SECRETS["cloudtrail identity access key id"], "userName": "carol"}

    def rec(n: int, source: str, name: str, params: dict[str, Any]) -> dict[str, Any]:
        return {"eventVersion": "1.09", "userIdentity": ident,
                "eventTime": (at + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "eventSource": source, "eventName": name, "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.9",
                "userAgent": "aws-cli/2.15.30", "requestParameters": params, "responseElements": None,
                "requestID": f"req-{n}", "eventID": f"0b7d8c6e-0000-4000-8000-00000000000{n}", "readOnly": False,
                "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": ACCOUNT}

    records = [
        rec(1, "lambda.amazonaws.com", "UpdateFunctionConfiguration20150331v2", {
            "functionName": "worker", "environment": {"variables": {
                "QUEUE": "jobs-v2", "DB_PASSWORD": SECRETS["cloudtrail request password"],
                "DATABASE_URL": f"postgres://app:{SECRETS['cloudtrail request URL credentials']}@db.internal/orders"}}}),
        rec(2, "ec2.amazonaws.com", "ModifyInstanceAttribute", {
            "instanceId": ids["instance"], "instanceType": {"value": "t3.micro"},
            "userData": f"curl -H 'Authorization: Bearer {SECRETS['cloudtrail request authorization']}' x"}),
        rec(3, "rds.amazonaws.com", "ModifyDBInstance", {
            "dBInstanceIdentifier": "gone-db", "masterUserPassword": SECRETS["cloudtrail request password"]}),
    ]
    day = at.strftime("%Y/%m/%d")
    folder = root / "AWSLogs" / ACCOUNT / "CloudTrail" / "us-east-1" / day
    folder.mkdir(parents=True)
    name = f"{ACCOUNT}_CloudTrail_us-east-1_{at.strftime('%Y%m%dT%H%MZ')}_s1.json.gz"
    (folder / name).write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))
    return root


# ------------------------------------------------------------------------------------ simulated Kubernetes


def _k8s_objects() -> dict[str, list[dict[str, Any]]]:
    meta = {"namespace": "shop", "uid": "5e0a5c1e-0000-4000-8000-000000000001", "creationTimestamp": "2026-11-01T08:00:00Z",
            "labels": {"app": "api"}}
    container = {"name": "api", "image": "ghcr.io/example/api:1.0", "args": [
        "serve", "--api-key", SECRETS["k8s container arg api key"]], "env": [
        {"name": "DB_PASSWORD", "value": SECRETS["k8s pod env password"]},
        {"name": "DATABASE_URL", "value": f"mysql://app:{SECRETS['k8s pod env URL credentials']}@db.shop:3306/api"},
        {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "api-creds", "key": "token"}}},
        {"name": "LOG_LEVEL", "value": "info"}], "envFrom": [{"secretRef": {"name": "api-env"}}]}
    deploy_container = {**container, "env": [{"name": "SESSION", "value": SECRETS["k8s deployment env JWT"]}]}
    return {
        "namespaces": [{"metadata": {"name": "shop", "uid": "ns-shop"}, "spec": {}, "status": {"phase": "Active"}}],
        "pods": [{"metadata": {**meta, "name": "api-0"}, "spec": {"containers": [container]},
                  "status": {"phase": "Running", "podIP": "10.1.1.50"}}],
        "deployments": [{"metadata": {**meta, "name": "api", "uid": "dep-api"}, "spec": {
            "replicas": 1, "selector": {"matchLabels": {"app": "api"}},
            "template": {"metadata": {"labels": {"app": "api"}}, "spec": {"containers": [deploy_container]}}}}],
        "secrets": [{"metadata": {"name": "api-creds", "namespace": "shop", "uid": "sec-1"}, "type": "Opaque",
                     "data": {"token": base64.b64encode(SECRETS["k8s Secret object data"].encode()).decode()}}],
    }


class _K8sApi(BaseHTTPRequestHandler):
    token = "k8s-test-token-31337"
    lists: dict[str, list[dict[str, Any]]] = {}
    asked: list[str] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        type(self).asked.append(path)
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            status, body = 401, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 401}
        else:
            status, body = 200, {"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": "7"},
                                 "items": type(self).lists.get(path.rsplit("/", 1)[-1], [])}
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture(scope="module")
def kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    _K8sApi.lists = _k8s_objects()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _K8sApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    path = tmp_path_factory.mktemp("k8s") / "kubeconfig"
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "shop",
        "clusters": [{"name": "shop", "cluster": {"server": f"http://127.0.0.1:{server.server_address[1]}"}}],
        "users": [{"name": "scanner", "user": {"token": _K8sApi.token}}],
        "contexts": [{"name": "shop", "context": {"cluster": "shop", "user": "scanner"}}]}))
    yield path
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def planted(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("planted")
    ids = _build_aws()
    state = root / "terraform.tfstate"
    state.write_text(json.dumps(_state(ids)))
    return {"state": state, "trail": _trail(root / "trail", ids)}


# ------------------------------------------------------------------------------------------- the run


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from airdig.cli.main import main; main()", *args],
                          env=env, capture_output=True, text=True, timeout=300, check=False)


def _store_dump(url: str) -> str:
    """Every row of every table of the store, as text."""
    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(url.split("sqlite:///", 1)[1])
        try:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            return "\n".join(repr(row) for t in tables for row in conn.execute(f'SELECT * FROM "{t}"'))
        finally:
            conn.close()
    import pymysql

    parts = urlsplit(url)
    conn = pymysql.connect(host=parts.hostname, port=parts.port or 3306, user=parts.username,
                           password=parts.password or "", database=parts.path.lstrip("/"))
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW TABLES")
            tables = [r[0] for r in cur.fetchall()]
            out = []
            for t in tables:
                cur.execute(f"SELECT * FROM `{t}`")
                out.extend(repr(row) for row in cur.fetchall())
            return "\n".join(out)
    finally:
        conn.close()


def _bus_dump(url: str) -> tuple[int, str]:
    """(count, text) of every record of every topic, read from the beginning by a fresh group."""
    bus = open_bus(url)
    try:
        consumer = bus.consumer(f"leak-check-{time.monotonic_ns()}", list(TOPICS))
        got: list[str] = []
        idle = 0
        deadline = time.monotonic() + 60
        while idle < 3 and time.monotonic() < deadline:
            records = consumer.poll(1000, timeout=1.0)
            idle = 0 if records else idle + 1
            got.extend(r.value.decode("utf-8", "replace") + r.key for r in records)
        consumer.close()
        return len(got), "\n".join(got)
    finally:
        bus.close()


def _ui_queries() -> dict[str, str]:
    """The GraphQL documents the UI sends, read from its JavaScript (template constants filled in). A query
    built by a one-parameter arrow function (``const DRIFTS = (at) => `…${at ? ", at: $at" : ""}…` ``) is
    taken in both forms: ``DRIFTS`` (parameter unset) and ``DRIFTS(at)`` (set)."""
    static = Path(__file__).resolve().parents[3] / "airdig" / "ui" / "static" / "js"
    consts: dict[str, str] = {}
    for js in sorted(static.rglob("*.js")):
        found = re.findall(r"(?:export )?const ([A-Z_]+) = (?:\((\w+)\) => )?[`\"](.*?)[`\"];", js.read_text(),
                           re.DOTALL)
        for name, param, body in found:
            if not param:
                consts[name] = body
                continue
            cond = re.compile(r"\$\{" + param + r' \? "([^"]*)" : "([^"]*)"\}')
            consts[name] = cond.sub(lambda m: m.group(2), body)
            consts[f"{name}({param})"] = cond.sub(lambda m: m.group(1), body)
    queries: dict[str, str] = {}
    for name, body in consts.items():
        if not re.match(r"\s*(query\b|\{)", body):
            continue
        for _ in range(3):
            body = re.sub(r"\$\{([A-Z_]+)\}", lambda m: consts.get(m.group(1), m.group(0)), body)
        if "${" not in body and ("query" in body or body.lstrip().startswith("{")):
            queries[name] = body
    return queries


def _browse_ui(svc: EngineService, node_ids: list[str], worker_id: str) -> None:
    """Headless Chromium on the real UI: the home, drift and resource pages as rendered, and every
    response the browser received, hold no secret."""
    from urllib.parse import quote

    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    from airdig.ui.app import build_ui_app
    from tests.integration.ui.conftest import CHROMIUM, CHROMIUM_ARGS
    from tests.unit.ui.servers import serve

    bodies: list[str] = []
    with serve(build_app(svc)) as engine_url, serve(build_ui_app(engine_url)) as ui_url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(base_url=ui_url)
            page.set_default_timeout(15_000)
            def keep(response: Any) -> None:
                if response.ok and "json" in (response.headers.get("content-type") or ""):
                    # a body the browser already discarded (the page navigated away) was not rendered either
                    with contextlib.suppress(PlaywrightError):
                        bodies.append(response.text())

            page.on("response", keep)
            settled = "(sel) => { const el = document.querySelector(sel); return el && !el.querySelector('.spin'); }"
            for url, panel in [("/", "#recent"), ("/#/drift", "main"),
                               *((f"/#/r/{quote(n, safe='')}", "#attrs") for n in node_ids)]:
                page.goto(url)
                page.wait_for_selector(panel)
                page.wait_for_function(settled, arg=panel)
                page.wait_for_load_state("networkidle")
                assert_no_secret(f"UI page {url}", page.content())
            page.goto(f"/#/r/{quote(worker_id, safe='')}")
            page.wait_for_function(settled, arg="#attrs")
            shown = page.locator("#attrs").inner_text()
            assert "Runtime" in shown and "python3.11" in shown  # the page rendered the (redacted) attrs
        finally:
            browser.close()
    assert len(bodies) > len(node_ids)
    for body in bodies:
        assert_no_secret("a response the UI fetched", body)


def _variables(query: str, rid: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for var, _type in re.findall(r"\$(\w+)\s*:\s*([\w!]+)", query.split("{", 1)[0]):
        out[var] = {"id": rid, "q": "app", "at": to_rfc3339(time.time())}.get(var)
    return {k: v for k, v in out.items() if v is not None}


def test_planted_secrets_appear_nowhere(backends: Backends, planted: dict[str, Path], kubeconfig: Path,
                                        data_dir: Path, tmp_path: Path, moto_endpoint: str,
                                        capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="airdig")
    env = {**{k: v for k, v in os.environ.items() if k not in ENV_KEYS and not k.startswith("AIRDIG_")},
           "AWS_ENDPOINT_URL": moto_endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AIRDIG_DATA_DIR": str(data_dir), "AIRDIG_LOG_LEVEL": "debug",
           "AIRDIG_DATABASE_URL": backends.store_url, "AIRDIG_BUS_URL": backends.bus_url,
           "AIRDIG_CACHE_URL": backends.cache_url, "HOME": str(tmp_path)}
    state, trail = str(planted["state"]), str(planted["trail"])
    runs = {
        "skygraph scan": _cli(["skygraph", "scan", "--regions", "us-east-1", "--services", "ec2,lambda,iam",
                               "--kubeconfig", str(kubeconfig), "--tfstate", state,
                               "--output", str(tmp_path / "graph.json")], env),
        "deepdrift watch": _cli(["deepdrift", "watch", "--once", "--state", state, "--cloudtrail", trail], env),
    }
    for fmt in ("table", "json", "html"):
        runs[f"deepdrift detect {fmt}"] = _cli(["deepdrift", "detect", "--state", state, "--cloudtrail", trail,
                                                "--format", fmt], env)
    for name, proc in runs.items():
        assert proc.returncode in (0, 1), f"{name}: {proc.stderr[-2000:]}"  # 1 = drift found / a scope failed
        assert_no_secret(f"{name} stdout", proc.stdout)
        assert_no_secret(f"{name} log (stderr)", proc.stderr)

    # the scan really read what was planted, and DeepDrift really compared it
    graph = json.loads((tmp_path / "graph.json").read_text())
    kinds = {n["kind"] for n in graph["nodes"]}
    assert {"aws.lambda.function", "aws.ec2.instance", "aws.ec2.security-group", "k8s.pod", "k8s.deployment",
            "k8s.secret", "terraform.resource"} <= kinds
    assert not any(p.endswith("/secrets") for p in _K8sApi.asked)  # the Secret object was never asked for
    worker = next(n for n in graph["nodes"] if n["kind"] == "aws.lambda.function" and n["name"] == "worker")
    env_vars = worker["attrs"]["Environment"]["Variables"]
    assert env_vars["QUEUE"] == "jobs-v2" and env_vars["DB_PASSWORD"] == "(sensitive)"
    assert env_vars["DATABASE_URL"] == "postgres://app:***@db.internal:5432/orders"  # useful part kept
    pod = next(n for n in graph["nodes"] if n["kind"] == "k8s.pod")
    pod_env = {e["name"]: e.get("value") for e in pod["attrs"]["spec"]["containers"][0]["env"]}
    assert pod_env["DB_PASSWORD"] == "(sensitive)" and pod_env["LOG_LEVEL"] == "info"
    assert pod_env["DATABASE_URL"] == "mysql://app:***@db.shop:3306/api"
    assert pod["attrs"]["spec"]["containers"][0]["args"] == ["serve", "--api-key", "(sensitive)"]
    group = next(n for n in graph["nodes"] if n["kind"] == "aws.ec2.security-group" and n["name"] == "app")
    assert group["attrs"]["Description"] == "app tier; password=***"
    report = json.loads(runs["deepdrift detect json"].stdout)
    by_type = {(d["resource_type"], d["kind"]) for d in report["drifts"]}
    assert {("aws_lambda_function", "changed"), ("aws_lambda_function", "unmanaged"), ("aws_instance", "changed"),
            ("aws_db_instance", "missing")} <= by_type
    assert_no_secret("skygraph --output graph", json.dumps(graph))

    # bus: every record of every topic
    count, bus_text = _bus_dump(backends.bus_url)
    assert count > 10
    assert_no_secret(f"bus ({backends.name})", bus_text)

    # engine: consume everything, then the store, the API and the engine's own logs
    store = open_store(backends.store_url)
    store.migrate()
    svc = EngineService(store=store, bus=open_bus(backends.bus_url), cache=open_cache(backends.cache_url),
                        group="leak-check-engine")
    svc.start()
    try:
        deadline = time.monotonic() + 120
        while True:
            stats = svc.processor.stats if svc.processor else None
            done = stats.applied + stats.duplicates + stats.deadlettered if stats else 0
            if done >= count:
                break
            assert time.monotonic() < deadline, f"engine handled {done} of {count} events"
            time.sleep(0.2)
        assert_no_secret(f"store tables ({backends.name})", _store_dump(backends.store_url))
        with TestClient(build_app(svc)) as client:
            ids = [n["id"] for n in graph["nodes"]]
            for path in ("/api/v1/resources?first=100", "/api/v1/drift-events?first=100", "/api/v1/timeline?first=100",
                         "/api/v1/search?q=app", "/api/v1/coverage"):
                resp = client.get(path)
                assert resp.status_code == 200, (path, resp.text[:300])
                assert_no_secret(f"REST {path}", resp.text)
            for rid in ids:
                resp = client.get(f"/api/v1/resources/{rid}")
                assert resp.status_code == 200, (rid, resp.text[:300])
                assert_no_secret(f"REST resource {rid}", resp.text)
            queries = _ui_queries()
            assert {"RESOURCE", "RESOURCE(at)", "TIMELINE", "DRIFTS", "DRIFTS(at)", "LIST", "NEIGHBORHOOD"} <= set(queries)
            worker_id = worker["id"]
            served = 0
            for name, query in queries.items():
                for rid in ids if "$id" in query else [worker_id]:
                    body = client.post("/graphql", json={"query": query, "variables": _variables(query, rid)}).json()
                    assert_no_secret(f"GraphQL {name} ({rid})", json.dumps(body))
                    served += "data" in body and body["data"] is not None
            assert served > len(ids)
            detail = client.post("/graphql", json={"query": queries["RESOURCE"], "variables": {"id": worker_id}}).json()
            assert detail["data"]["resource"]["attrs"]["Environment"]["Variables"]["QUEUE"] == "jobs-v2"
        pages = [n["id"] for n in graph["nodes"] if n["kind"] in (
            "aws.lambda.function", "aws.ec2.instance", "aws.ec2.security-group", "k8s.pod", "k8s.deployment")]
        _browse_ui(svc, pages, worker_id)
    finally:
        svc.stop()
        store.close()
    captured = capfd.readouterr()
    assert_no_secret("engine logs", captured.out + captured.err + caplog.text)

    # everything on disk: graph state, watch state, the embedded store and bus files
    for f in data_dir.rglob("*"):
        if f.is_file():
            assert_no_secret(f"data dir file {f.name}", f.read_bytes())
