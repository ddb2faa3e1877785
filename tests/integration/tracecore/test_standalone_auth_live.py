"""``airdig tracecore serve`` as its own process (the Kubernetes role): with auth on and no token
source it refuses to start and says what to set; with a token file (a mounted Secret) or the engine's
token store, both receivers — a real gRPC client and a real HTTP client — refuse calls without a valid
token and accept the listed ones."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub

from airdig.backends.registry import open_store
from airdig.demo.estate import free_ports
from airdig.engine.auth import TokenService

FILE_TOKEN = "adg_static-collector-token-0123456789"
READ_ONLY = "adg_static-dashboard-token-0123456789"


def _cmd(grpc_port: int, http_port: int) -> list[str]:
    return [sys.executable, "-m", "airdig.cli", "tracecore", "serve", "--host", "127.0.0.1",
            "--otlp-grpc-port", str(grpc_port), "--otlp-http-port", str(http_port), "--route", "local",
            "--no-aggregate", "--no-store"]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRDIG_")}
    return {**env, "AIRDIG_DATA_DIR": str(tmp_path), "AIRDIG_LOG_FORMAT": "text", **extra}


@pytest.fixture
def ports() -> tuple[int, int]:
    grpc_port, http_port = free_ports(2)
    return grpc_port, http_port


@contextmanager
def _serve(tmp_path: Path, ports: tuple[int, int], **env: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(_cmd(*ports), env=_env(tmp_path, **env), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (proc.stderr.read() if proc.stderr else b"").decode()
            try:
                if httpx.get(f"http://127.0.0.1:{ports[1]}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "tracecore did not start"
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def _export(stub: TraceServiceStub, token: str | None) -> str:
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    req = ExportTraceServiceRequest()
    try:
        stub.Export(req, metadata=metadata, timeout=5)
    except grpc.RpcError as exc:
        return str(exc.code().name)
    return "OK"


def _post(http_port: int, token: str | None) -> int:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    return httpx.post(f"http://127.0.0.1:{http_port}/v1/traces", content=b"{}", headers=headers,
                      timeout=5).status_code


def test_auth_on_without_a_token_source_is_a_start_up_error(tmp_path: Path, ports: tuple[int, int]) -> None:
    proc = subprocess.run(_cmd(*ports), env=_env(tmp_path), capture_output=True, timeout=60, check=False)
    assert proc.returncode != 0
    err = proc.stderr.decode()
    assert "tracecore has no token source" in err and "AIRDIG_TOKEN_STORE" in err and "AIRDIG_TOKENS_FILE" in err


def test_token_file_guards_both_receivers(tmp_path: Path, ports: tuple[int, int]) -> None:
    tokens = tmp_path / "tokens"
    # a line without role= may send spans in (as file tokens always could); a viewer line may not
    tokens.write_text(f"{FILE_TOKEN} otel-collector\n{READ_ONLY} dashboards role=viewer\n")
    with _serve(tmp_path, ports, AIRDIG_TOKENS_FILE=str(tokens)) as proc:
        with grpc.insecure_channel(f"127.0.0.1:{ports[0]}") as channel:
            stub = TraceServiceStub(channel)
            assert [_export(stub, t) for t in (None, "adg_wrong-token-0123456789", READ_ONLY, FILE_TOKEN)] == \
                ["UNAUTHENTICATED", "UNAUTHENTICATED", "PERMISSION_DENIED", "OK"]
        assert [_post(ports[1], t) for t in (None, "adg_wrong-token-0123456789", READ_ONLY, FILE_TOKEN)] == \
            [401, 401, 403, 200]
        proc.terminate()
        _, err = proc.communicate(timeout=15)
        assert proc.returncode == 0
        assert b"tracecore" in err and FILE_TOKEN.encode() not in err


def test_token_store_guards_both_receivers(tmp_path: Path, ports: tuple[int, int]) -> None:
    url = f"sqlite:///{tmp_path / 'airdig.db'}"
    store = open_store(url)
    store.migrate()
    token, _ = TokenService(store).create("collector", "editor")
    viewer, _ = TokenService(store).create("dashboards", "viewer")
    store.close()
    with _serve(tmp_path, ports, AIRDIG_TOKEN_STORE="on", AIRDIG_DATABASE_URL=url):
        with grpc.insecure_channel(f"127.0.0.1:{ports[0]}") as channel:
            stub = TraceServiceStub(channel)
            assert [_export(stub, t) for t in (None, "adg_wrong-token-0123456789", viewer, token)] == \
                ["UNAUTHENTICATED", "UNAUTHENTICATED", "PERMISSION_DENIED", "OK"]
        assert [_post(ports[1], t) for t in (None, viewer, token)] == [401, 403, 200]
