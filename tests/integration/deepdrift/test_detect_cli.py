"""`airdig deepdrift detect` as a subprocess against the emulated account (moto server)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

EXPECTED = {
    # (terraform address or type.id, kind, severity, diff paths, event name, principal, channel)
    ("aws_security_group.web", "changed", "critical", ("ingress",), "AuthorizeSecurityGroupIngress",
     "assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/alice@example.com", "console"),
    ("aws_instance.web[0]", "changed", "medium", ("instance_type",), "ModifyInstanceAttribute", "user/bob",
     "cli-sdk"),
    ('module.net.aws_subnet.this["a"]', "changed", "low", ("tags.Tier",), "CreateTags",
     "assumed-role/deploy-bot/ci-run-77", "cli-sdk"),
    ("aws_s3_bucket.logs", "missing", "high", (), "DeleteBucket", "root", "console"),
    ("aws_iam_role.intruder-role", "unmanaged", "high", (), "CreateRole", "user/mallory", "cli-sdk"),
    # issue 19: each path its own writer (the drift-level cause is the later of two medium paths) ...
    ("aws_lambda_function.worker", "changed", "medium", ("timeout", "description"),
     "UpdateFunctionConfiguration20150331v2", "user/dave", "cli-sdk"),
    # ... and a detached managed policy is a change of the role itself, by the detaching principal
    ("aws_iam_role_policy_attachment.app_readonly", "changed", "medium",
     ("managed_policy_arns[arn:aws:iam::123456789012:policy/app-readonly]",), "DetachRolePolicy", "user/erin",
     "cli-sdk"),
}


def run(account: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from airdig.cli.main import main; main()", *args],
                          env=account.env, capture_output=True, text=True, timeout=120)


def summary(drifts: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    out = set()
    for d in drifts:
        name = d["terraform_address"] or f"{d['resource_type']}.{d['native_id']}"
        cause = d["cause"] or {}
        out.add((name, d["kind"], d["severity"], tuple(x["path"] for x in d["diffs"]), cause.get("event_name"),
                 cause.get("principal"), cause.get("channel")))
    return out


def test_detect_json_reports_exactly_the_changes(account: Any) -> None:
    proc = run(account, "deepdrift", "detect", "--state", str(account.state), "--cloudtrail",
               str(account.trail), "--format", "json")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert summary(doc["drifts"]) == EXPECTED
    by_addr = {d["terraform_address"]: d for d in doc["drifts"]}
    sg = by_addr["aws_security_group.web"]
    assert sg["diffs"][0]["actual"] == ["tcp 22-22 0.0.0.0/0", "tcp 443-443 0.0.0.0/0", "tcp 8080-8080 10.0.0.0/16"]
    assert sg["cause"]["source_ip"] == "198.51.100.7"
    assert sg["cause"]["session"] == "alice@example.com"
    assert sg["remediation"]["action"] == "revert"
    inst = by_addr["aws_instance.web[0]"]
    assert [{k: x[k] for k in ("path", "expected", "actual")} for x in inst["diffs"]] == [
        {"path": "instance_type", "expected": "t3.micro", "actual": "t3.large"}]
    assert inst["diffs"][0]["cause"]["event_name"] == "ModifyInstanceAttribute"  # not bob's Stop/Start
    assert by_addr['module.net.aws_subnet.this["a"]']["remediation"]["action"] == "adopt"
    fn = by_addr["aws_lambda_function.worker"]
    assert [(x["path"], x["cause"]["principal"], x["cause"]["source_ip"]) for x in fn["diffs"]] == [
        ("timeout", "user/carol", "203.0.113.21"), ("description", "user/dave", "203.0.113.22")]
    assert fn["resource_id"] == account.ids["function_arn"]
    detached = by_addr["aws_iam_role_policy_attachment.app_readonly"]
    assert detached["resource_id"] == account.ids["role_arn"]  # the role's real ARN: graph walks reach it
    assert detached["diffs"][0]["cause"]["event_time"] == "2025-06-02T13:30:00Z"
    assert doc["attribution"]["unknown_events"] == {}
    role = next(d for d in doc["drifts"] if d["kind"] == "unmanaged")
    assert role["resource_id"] == "arn:aws:iam::123456789012:role/intruder-role"
    assert role["remediation"]["command"] == "terraform import aws_iam_role.intruder-role intruder-role"
    for d in doc["drifts"]:
        assert set(d) >= {"id", "resource_id", "resource_type", "terraform_address", "kind", "severity", "diffs",
                          "cause", "remediation"}
    cov = doc["coverage"]
    assert (cov["managed"], cov["total"]) == (15, 16)  # the logs bucket is gone, the intruder role is new
    assert cov["by_type"]["aws_iam_role"] == {"managed": 1, "total": 2, "status": "ok"}
    assert doc["errors"] == []


def test_detect_without_cloudtrail_has_no_causes(account: Any) -> None:
    proc = run(account, "deepdrift", "detect", "--state", str(account.state), "--format", "json")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert {d["cause"] is None for d in doc["drifts"]} == {True}
    assert {x["cause"] is None for d in doc["drifts"] for x in d["diffs"]} == {True}
    assert len(doc["drifts"]) == 7


def test_ignore_rules_drop_drifts(account: Any, tmp_path: Path) -> None:
    ignore = tmp_path / ".driftignore"
    ignore.write_text("# tags are managed elsewhere\nmodule.net.*.tags.*\naws_iam_role.intruder-role\n")
    proc = run(account, "deepdrift", "detect", "--state", str(account.state), "--ignore-file", str(ignore),
               "--ignore", "aws_s3_bucket.logs", "--format", "json")
    assert proc.returncode == 1, proc.stderr
    names = {d["terraform_address"] for d in json.loads(proc.stdout)["drifts"]}
    assert names == {"aws_security_group.web", "aws_instance.web[0]", "aws_lambda_function.worker",
                     "aws_iam_role_policy_attachment.app_readonly"}


def test_all_ignored_exits_zero(account: Any) -> None:
    proc = run(account, "deepdrift", "detect", "--state", str(account.state), "--ignore", "aws_*",
               "--ignore", "module.*", "--format", "table")
    assert proc.returncode == 0, proc.stderr
    assert "No drift" in proc.stdout


def test_table_and_html_outputs_never_show_secrets(account: Any, tmp_path: Path) -> None:
    outputs = []
    for fmt in ("table", "json", "html"):
        out = tmp_path / f"report.{fmt}"
        proc = run(account, "deepdrift", "detect", "--state", str(account.state), "--cloudtrail",
                   str(account.trail), "--format", fmt, "--output", str(out))
        assert proc.returncode == 1, proc.stderr
        outputs.append(out.read_text() + proc.stdout + proc.stderr)
    table, _, page = outputs
    assert "aws_security_group.web" in table and "AuthorizeSecurityGroupIngress" in table
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page and "http" not in page.split("</style>")[0]
    assert "module.net.aws_subnet.this[&quot;a&quot;]" in page
    secrets = (account.ids["db_password"], account.ids["api_token"])
    assert all(s in account.state.read_text() for s in secrets)
    for text in outputs:
        for secret in secrets:
            assert secret not in text


def test_bad_inputs_are_reported_and_the_rest_processed(account: Any, tmp_path: Path) -> None:
    v3 = tmp_path / "old.tfstate"
    v3.write_text(json.dumps({"version": 3, "serial": 1, "modules": []}))
    truncated = tmp_path / "cut.tfstate"
    truncated.write_text(account.state.read_text()[:500])
    trail = tmp_path / "trail"
    (trail / "x").mkdir(parents=True)
    for f in account.trail.rglob("*.json.gz"):
        (trail / "x" / f.name).write_bytes(f.read_bytes())
    (trail / "x" / "broken.json.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    (trail / "x" / "odd.json.gz").write_bytes(gzip.compress(json.dumps(
        {"Records": [{"eventName": "Mystery", "what": 1}]}).encode()))
    proc = run(account, "deepdrift", "detect", "--state", str(v3), "--state", str(truncated), "--state",
               str(account.state), "--cloudtrail", str(trail), "--format", "json")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    # two states could not be read: the intruder role may be theirs, so it is not called unmanaged
    assert summary(doc["drifts"]) == {d for d in EXPECTED if d[1] != "unmanaged"}
    assert doc["coverage"]["unmanaged"]["status"] == "unknown"
    assert [s["status"] for s in doc["coverage"]["states"]] == ["checked", "unknown", "unknown"]
    errors = "\n".join(doc["errors"])
    assert f"{v3}: state format version 3 is not supported" in errors
    assert f"{truncated}: not valid JSON" in errors
    assert "broken.json.gz: unreadable CloudTrail log file" in errors
    assert "odd.json.gz: Records[0]: not a CloudTrail record: no 'eventID'" in errors
    assert "warning:" in proc.stderr


def test_only_bad_state_exits_2_with_one_line(account: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.tfstate"
    bad.write_text("{\"version\": 4, \"resources\": [")
    proc = run(account, "deepdrift", "detect", "--state", str(bad), "--format", "json")
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("airdig: error:") and str(bad) in proc.stderr
    assert "Traceback" not in proc.stderr


def test_state_from_s3_and_http_backends(account: Any) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import boto3

    body = account.state.read_bytes()
    boto3.client("s3").put_object(Bucket="acme-app-assets", Key="tf/prod.tfstate", Body=body)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        for source in ("s3://acme-app-assets/tf/prod.tfstate", f"http://127.0.0.1:{server.server_port}/state"):
            proc = run(account, "deepdrift", "detect", "--state", source, "--cloudtrail", str(account.trail),
                       "--format", "json")
            assert proc.returncode == 1, proc.stderr
            assert summary(json.loads(proc.stdout)["drifts"]) == EXPECTED
    finally:
        server.shutdown()
        server.server_close()
    proc = run(account, "deepdrift", "detect", "--state", "s3://acme-app-assets/tf/none.tfstate", "--format", "json")
    assert proc.returncode == 2 and "s3://acme-app-assets/tf/none.tfstate: could not read" in proc.stderr
