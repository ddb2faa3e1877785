"""API tokens: hashed at rest, roles, 401 without a token on a non-loopback engine, open on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from airdig.backends.interfaces import Record, Store
from airdig.backends.registry import open_bus, open_cache, open_store
from airdig.engine.app import build_app
from airdig.engine.apply import Applier
from airdig.engine.auth import TokenService, hash_token, is_loopback, role_allows
from airdig.engine.service import EngineService
from airdig.errors import InvalidInput
from airdig.model.events import TOPIC_DRIFT, CloudEvent

DRIFT_ID = "drift-sg-1"
SG = "arn:aws:ec2:us-east-1:123456789012:security-group/sg-0abc"


@pytest.fixture
def svc(data_dir: Path) -> Iterator[EngineService]:
    store = open_store(f"sqlite:///{data_dir / 'airdig.db'}")
    store.migrate()
    service = EngineService(store=store, bus=open_bus(f"embedded://{data_dir / 'bus.db'}"),
                            cache=open_cache("memory://"), group="auth-test")
    service.start(process_events=False)
    yield service
    service.stop()


def add_drift(store: Store) -> None:
    ev = CloudEvent(type="airdig.drift.detected", source="deepdrift", subject=SG, data={
        "id": DRIFT_ID, "resource_id": SG, "resource_type": "aws_security_group", "terraform_address": "aws_sg.web",
        "kind": "changed", "severity": "high", "diffs": [{"path": "ingress", "expected": [], "actual": ["0.0.0.0/0"]}],
        "cause": None, "remediation": None, "detected_at": "2026-01-01T00:00:00Z"})
    result = Applier(store).apply([Record(TOPIC_DRIFT, 0, 0, SG, ev.encode(), 0.0)])
    assert result.applied == 1 and not result.dead


ACK = f'mutation {{ acknowledgeDrift(id: "{DRIFT_ID}") {{ id status }} }}'


def db_bytes(data_dir: Path) -> bytes:
    """Every byte SQLite wrote (the database file and its write-ahead log)."""
    return b"".join(p.read_bytes() for p in sorted(data_dir.glob("airdig.db*")))


def gql(client: TestClient, query: str, token: str | None = None) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = client.post("/graphql", json={"query": query}, headers=headers)
    body: dict[str, Any] = r.json()
    return r.status_code, body


def test_roles_and_loopback_rules() -> None:
    assert role_allows("admin", "editor") and role_allows("editor", "editor") and role_allows("viewer", "viewer")
    assert not role_allows("viewer", "editor") and not role_allows("nobody", "viewer")
    assert {h for h in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost") if is_loopback(h)} == {
        "127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"}
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.5", "engine.internal", ""))


def test_tokens_are_hashed_at_rest(svc: EngineService, data_dir: Path) -> None:
    tokens = TokenService(svc.store)
    secret, row = tokens.create("ci-pipeline", "viewer")
    assert secret.startswith("adg_") and len(secret) > 40
    assert row.token_hash == hash_token(secret) != secret
    stored = svc.store.list_api_tokens()
    assert [(r.id, r.name, r.role) for r in stored] == [(row.id, "ci-pipeline", "viewer")]
    assert all(secret not in str(v) for r in stored for v in vars(r).values())
    raw = db_bytes(data_dir)
    assert secret.encode() not in raw and hash_token(secret).encode() in raw
    with pytest.raises(InvalidInput):
        tokens.create("x", "root")
    with pytest.raises(InvalidInput):
        tokens.create("  ", "viewer")


def test_non_loopback_engine_requires_a_token(svc: EngineService) -> None:
    tokens = TokenService(svc.store)
    viewer, _ = tokens.create("dashboard", "viewer")
    revoked, _ = tokens.create("old", "admin")
    assert tokens.revoke("old") == 1
    add_drift(svc.store)
    with TestClient(build_app(svc, require_auth=True)) as client:
        for path in ("/healthz", "/readyz", "/metrics"):
            assert client.get(path).status_code == 200, path
        r = client.get("/api/v1/resources?first=5")
        assert r.status_code == 401
        assert r.json()["code"] == "UNAUTHENTICATED"
        assert r.headers["www-authenticate"].startswith("Bearer")
        status, body = gql(client, "{ resources(first: 1) { totalCount } }")
        assert status == 401 and body["code"] == "UNAUTHENTICATED"
        for bad in ("not-a-token", revoked):
            status, body = gql(client, "{ resources(first: 1) { totalCount } }", bad)
            assert status == 401 and body["code"] == "UNAUTHENTICATED", bad
        r = client.get("/api/v1/resources?first=5", headers={"Authorization": f"Basic {viewer}"})
        assert r.status_code == 401
        r = client.get("/api/v1/resources?first=5", headers={"Authorization": f"Bearer {viewer}"})
        assert r.status_code == 200 and r.json()["totalCount"] == 0
        status, body = gql(client, "{ resources(first: 1) { totalCount } }", viewer)
        assert status == 200 and body == {"data": {"resources": {"totalCount": 0}}}


def test_viewer_cannot_mutate_editor_can(svc: EngineService) -> None:
    tokens = TokenService(svc.store)
    viewer, _ = tokens.create("dashboard", "viewer")
    editor, _ = tokens.create("oncall", "editor")
    add_drift(svc.store)
    with TestClient(build_app(svc, require_auth=True)) as client:
        status, body = gql(client, ACK, viewer)
        assert status == 200 and body["data"] is None
        assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
        assert "editor" in body["errors"][0]["message"]
        # the viewer's attempt changed nothing
        status, body = gql(client, '{ driftEvents(first: 5) { edges { node { id status } } } }', viewer)
        assert [e["node"] for e in body["data"]["driftEvents"]["edges"]] == [{"id": DRIFT_ID, "status": "open"}]
        status, body = gql(client, ACK, editor)
        assert body == {"data": {"acknowledgeDrift": {"id": DRIFT_ID, "status": "acknowledged"}}}


def test_loopback_engine_is_open(svc: EngineService) -> None:
    add_drift(svc.store)
    with TestClient(build_app(svc, require_auth=False)) as client:
        assert client.get("/api/v1/resources?first=5").status_code == 200
        status, body = gql(client, ACK)
        assert status == 200
        assert body == {"data": {"acknowledgeDrift": {"id": DRIFT_ID, "status": "acknowledged"}}}


def _ws_init(client: TestClient, payload: dict[str, Any] | None, headers: dict[str, str] | None = None
             ) -> dict[str, Any]:
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"], headers=dict(headers or {})) as ws:
        ws.send_json({"type": "connection_init", "payload": payload or {}})
        msg: dict[str, Any] = ws.receive_json()
        return msg


def test_websocket_authenticates_in_connection_init(svc: EngineService) -> None:
    viewer, _ = TokenService(svc.store).create("ui", "viewer")
    with TestClient(build_app(svc, require_auth=True)) as client:
        assert _ws_init(client, {"Authorization": f"Bearer {viewer}"}) == {"type": "connection_ack"}
        assert _ws_init(client, None, {"Authorization": f"Bearer {viewer}"}) == {"type": "connection_ack"}
        with pytest.raises(WebSocketDisconnect) as err:
            _ws_init(client, None)
        assert err.value.code == 4403
        with pytest.raises(WebSocketDisconnect) as err:
            _ws_init(client, {"Authorization": "Bearer wrong"})
        assert err.value.code == 4403
        with pytest.raises(WebSocketDisconnect) as err:  # a bad header is refused at the handshake
            _ws_init(client, None, {"Authorization": "Bearer wrong"})
        assert err.value.code == 4401
    with TestClient(build_app(svc, require_auth=False)) as client:
        assert _ws_init(client, None) == {"type": "connection_ack"}


def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AIRDIG_DATA_DIR": str(data_dir), "AIRDIG_LOG_LEVEL": "warning"}
    env.pop("AIRDIG_DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "airdig.cli", "token", *args], capture_output=True, text=True,
                          env=env, timeout=60)


def test_token_cli_create_list_revoke(data_dir: Path) -> None:
    made = _cli(data_dir, "create", "--role", "editor", "--name", "deploy-bot", "--format", "json")
    assert made.returncode == 0, made.stderr
    info = json.loads(made.stdout)
    assert info["role"] == "editor" and info["name"] == "deploy-bot" and info["token"].startswith("adg_")
    plain = _cli(data_dir, "create", "--role", "viewer", "--name", "grafana")
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.strip().startswith("adg_") and "not shown again" in plain.stderr

    listed = _cli(data_dir, "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert {(r["name"], r["role"], r["revoked_at"]) for r in rows} == {("deploy-bot", "editor", None),
                                                                        ("grafana", "viewer", None)}
    assert info["token"] not in listed.stdout
    table = _cli(data_dir, "list")
    assert "deploy-bot" in table.stdout and info["token"] not in table.stdout

    gone = _cli(data_dir, "revoke", info["id"])
    assert gone.returncode == 0 and "revoked 1 token" in gone.stdout
    assert [r["name"] for r in json.loads(_cli(data_dir, "list", "--format", "json").stdout)] == ["grafana"]
    every = json.loads(_cli(data_dir, "list", "--all", "--format", "json").stdout)
    assert {r["name"]: r["revoked_at"] is not None for r in every} == {"deploy-bot": True, "grafana": False}

    again = _cli(data_dir, "revoke", info["id"])
    assert again.returncode != 0 and "no active token" in again.stderr
    bad = _cli(data_dir, "create", "--role", "root", "--name", "x")
    assert bad.returncode != 0 and "root" in bad.stderr
    raw = db_bytes(data_dir)
    assert info["token"].encode() not in raw and hash_token(info["token"]).encode() in raw
