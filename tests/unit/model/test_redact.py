from __future__ import annotations

import base64

import pytest

from airdig.model.redact import (
    REDACTED,
    is_secret_key,
    redact,
    redact_path_value,
    redact_tags,
    redact_text,
    redact_url,
)

pytestmark = pytest.mark.usefixtures("walk")  # every test on both walks, Python and compiled (conftest.py)


@pytest.mark.parametrize("key", ["password", "master_password", "DB_PASSWORD", "secretAccessKey", "token",
                                 "private_key", "auth_token", "MasterUserPassword", "client_secret", "api_key"])
def test_secret_like_keys(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["kms_key_id", "secret_arn", "password_length", "userName", "tokenType", "name",
                                 "accessKeyId"])
def test_not_secret_keys(key: str) -> None:
    assert not is_secret_key(key)


def test_redact_keys_and_paths_without_touching_the_input() -> None:
    value = {"masterUserPassword": "p", "conf": {"list": [{"x": 1}, {"x": 2}]}, "empty_password": ""}
    out = redact(value, [("conf", "list", 1, "x")])
    assert out == {"masterUserPassword": REDACTED, "conf": {"list": [{"x": 1}, {"x": REDACTED}]},
                   "empty_password": ""}
    assert value["masterUserPassword"] == "p"


def test_redact_path_value() -> None:
    assert redact_path_value("environment.API_TOKEN", "abc") == REDACTED
    assert redact_path_value("instance_type", "t3.large") == "t3.large"
    assert redact_path_value("tags.Owner", {"password": "x"}) == {"password": REDACTED}


# Made-up credentials in the documented formats (AWS's own documentation examples where AWS has one).
AKID = "AKIAIOSFODNN7EXAMPLE"
ASID = "ASIAY34FZKBOKMUTVV7A"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0."
       "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bq1\nq8Zx9+Yw==\n-----END RSA PRIVATE KEY-----"


@pytest.mark.parametrize(("text", "expected", "hidden"), [
    ("postgres://app:hunter2@db:5432/x", "postgres://app:***@db:5432/x", "hunter2"),
    ("amqp://app:p@ss/w#rd@mq/vhost", "amqp://app:***@mq/vhost", "ss/w#rd"),
    ("see https://example.com/a:b@c", "see https://example.com/a:b@c", None),
    ("DATABASE_URL=mysql://root:pa%24%24@10.0.0.5/orders?ssl=1", "DATABASE_URL=mysql://root:***@10.0.0.5/orders?ssl=1",
     "pa%24%24"),
    (f"key {AKID} in use", "key AKIA*** in use", AKID),
    (f"session {ASID}", "session ASIA***", ASID),
    (SECRET_KEY, "***", SECRET_KEY),
    (f"aws_secret_access_key = {SECRET_KEY}", "aws_secret_access_key = ***", SECRET_KEY),
    (f"token {JWT}", "token ***", JWT),
    (f"key:\n{PEM}\nend", "key:\n-----BEGIN RSA PRIVATE KEY-----***-----END RSA PRIVATE KEY-----\nend", "MIIEowIBAAKCAQEA7bq1"),
    ("Authorization: Bearer abcdef0123456789", "Authorization: Bearer ***", "abcdef0123456789"),
    ("curl -H 'Authorization: Basic dXNlcjpwYXNz' x", "curl -H 'Authorization: Basic ***' x", "dXNlcjpwYXNz"),
    ("export DB_PASSWORD=s3cr3t-value\nstart", "export DB_PASSWORD=***\nstart", "s3cr3t-value"),
    ("app --db-password s3cr3t-value -v", "app --db-password *** -v", "s3cr3t-value"),
    ("app --db-password=s3cr3t-value --port 80", "app --db-password=*** --port 80", "s3cr3t-value"),
    ('{"api_key": "k-123456789"}', '{"api_key": "***"}', "k-123456789"),
    ("Server=db;User Id=app;Password=Pa55word!;", "Server=db;User Id=app;Password=***;", "Pa55word!"),
    ("pwd=abc12345", "pwd=***", "abc12345"),
])
def test_value_patterns_hide_only_the_secret_part(text: str, expected: str, hidden: str | None) -> None:
    out = redact_text(text)
    if hidden is not None:
        assert hidden not in out
    assert out == expected


@pytest.mark.parametrize("text", [
    "secretsmanager:GetSecretValue", "arn:aws:iam::123456789012:role/token-refresher",
    "e5fa44f2b31c1fb553b6021e7360d07d5d91ff5e",  # a git/sha1 hash is not an AWS secret key
    "allow web tier", "https://example.com/path?x=1", "AIDAJQABLZS4A3QDU576Q", "token expired at 10:00",
    "sts:GetSessionToken", "logs/AWSLogs/123456789012/CloudTrail/us-east-1/2026/12/01",
])
def test_ordinary_values_are_left_alone(text: str) -> None:
    assert redact_text(text) == text


def test_name_value_pairs_kubernetes_env_and_aws_tags() -> None:
    env = [{"name": "DB_PASSWORD", "value": "hunter2"}, {"name": "LOG_LEVEL", "value": "debug"},
           {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}},
           {"name": "DATABASE_URL", "value": "postgres://app:hunter2@db:5432/x"}]
    assert redact({"env": env}) == {"env": [
        {"name": "DB_PASSWORD", "value": REDACTED}, {"name": "LOG_LEVEL", "value": "debug"},
        {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}},
        {"name": "DATABASE_URL", "value": "postgres://app:***@db:5432/x"}]}
    assert redact([{"Key": "deploy_token", "Value": "t0k3n-value"}]) == [{"Key": "deploy_token", "Value": REDACTED}]
    assert redact_tags({"db_password": "x", "url": "redis://:hunter2@cache:6379", "team": "orders"}) == {
        "db_password": REDACTED, "url": "redis://:***@cache:6379", "team": "orders"}


def test_argv_lists_hide_the_value_after_a_secret_flag() -> None:
    args = ["serve", "--db-password", "s3cr3t-value", "--port", "80", "--api-key=k-123456789"]
    assert redact(args) == ["serve", "--db-password", REDACTED, "--port", "80", "--api-key=***"]


def test_user_data_is_decoded_and_redacted() -> None:
    script = f"#!/bin/bash\nexport AWS_SECRET_ACCESS_KEY={SECRET_KEY}\necho ready\n"
    out = redact({"UserData": base64.b64encode(script.encode()).decode(), "user_data": script})
    assert out == {"UserData": "#!/bin/bash\nexport AWS_SECRET_ACCESS_KEY=***\necho ready\n",
                   "user_data": "#!/bin/bash\nexport AWS_SECRET_ACCESS_KEY=***\necho ready\n"}
    assert redact_path_value("user_data", script) == out["user_data"]


def test_flags_and_kubernetes_token_volumes_are_not_secrets() -> None:
    spec = {"automountServiceAccountToken": True, "volumes": [{"projected": {"sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}]}}]}
    assert redact(spec) == spec
    sha1 = "d1ee2a1c8f0e4c52c7ba7d5b2f19f0b9cc1b4f3e"  # what Terraform stores for user_data
    assert redact({"user_data": sha1}) == {"user_data": sha1}


def test_redaction_is_idempotent() -> None:
    value = {"env": {"DB_URL": "postgres://app:hunter2@db/x", "password": "p"}, "cmd": f"run {AKID}"}
    once = redact(value)
    assert redact(once) == once


def test_backend_url_keeps_user_and_host() -> None:
    assert redact_url("mysql://airdig:hunter2@db:3306/airdig") == "mysql://airdig:***@db:3306/airdig"
    assert redact_url("kafka://broker:9092") == "kafka://broker:9092"
