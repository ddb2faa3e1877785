"""TLS on AirDig's own listeners (``tls_cert_file``/``tls_key_file``): the engine and the UI as separate
processes (the UI's proxy verifies the engine against a private CA), TraceCore's OTLP/HTTP and OTLP/gRPC
receivers and PulseSight in-process; a plain-text client is refused on every one of them, and a bad
setting stops the start with the setting's name instead of a listener in plain text.

The certificate is the one ``scripts/services/start`` makes for the test servers (a throwaway CA; the
server certificate names localhost and 127.0.0.1)."""

from __future__ import annotations

import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from airdig.pulsesight.config import PulseSightConfig
from airdig.pulsesight.serve import start_pulsesight
from airdig.settings import Settings
from airdig.tracecore.serve import TraceCoreOptions, start_tracecore
from tests.conftest import server_url
from tests.unit.cli.test_engine_cli import AIRDIG, env_for, free_port

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


@pytest.fixture
def tls() -> dict[str, Path]:
    d = Path(server_url("AIRDIG_TEST_TLS_DIR"))
    return {"cert": d / "server.pem", "key": d / "server.key", "ca": d / "ca.pem", "other_ca": d / "other-ca.pem"}


def trusting(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


def tls_settings(data_dir: Path, tls: dict[str, Path]) -> Settings:
    return Settings.load(overrides={"data_dir": str(data_dir)}, environ={
        "AIRDIG_TLS_CERT_FILE": str(tls["cert"]), "AIRDIG_TLS_KEY_FILE": str(tls["key"])})


def export_request() -> bytes:
    span = Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="GET /", kind=Span.SPAN_KIND_SERVER,
                start_time_unix_nano=time.time_ns() - 5_000_000, end_time_unix_nano=time.time_ns())
    res = Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value="checkout"))])
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource=res, scope_spans=[ScopeSpans(spans=[span])])]).SerializeToString()


def export(channel: grpc.Channel) -> bytes:
    call = channel.unary_unary(EXPORT, request_serializer=lambda b: b, response_deserializer=lambda b: b)
    out: bytes = call(export_request(), timeout=5)
    return out


def test_tracecore_serves_otlp_http_and_grpc_over_tls_only(data_dir: Path, tls: dict[str, Path]) -> None:
    tc = start_tracecore(tls_settings(data_dir, tls), "127.0.0.1", 0, 0,
                         options=TraceCoreOptions(route="local", aggregate=False, store_traces=False))
    try:
        body = orjson.dumps({"resourceSpans": []})
        ok = httpx.post(f"https://127.0.0.1:{tc.http_port}/v1/traces", content=body, verify=trusting(tls["ca"]),
                        headers={"content-type": "application/json"}, timeout=10)
        assert ok.status_code == 200, ok.text
        with pytest.raises(httpx.TransportError):  # plain text on the TLS port: no answer
            httpx.post(f"http://127.0.0.1:{tc.http_port}/v1/traces", content=body, timeout=5,
                       headers={"content-type": "application/json"})
        with pytest.raises(httpx.ConnectError):  # a certificate from another CA is not trusted
            httpx.get(f"https://127.0.0.1:{tc.http_port}/healthz", verify=trusting(tls["other_ca"]), timeout=5)

        creds = grpc.ssl_channel_credentials(root_certificates=tls["ca"].read_bytes())
        with grpc.secure_channel(f"localhost:{tc.grpc_port}", creds) as channel:
            export(channel)  # accepted: no error
        before = tc.metrics.received.labels("accepted")._value.get()
        assert before >= 1
        with grpc.insecure_channel(f"127.0.0.1:{tc.grpc_port}") as plain, pytest.raises(grpc.RpcError) as err:
            export(plain)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert tc.metrics.received.labels("accepted")._value.get() == before
    finally:
        tc.stop()


def test_pulsesight_serves_tls(data_dir: Path, tls: dict[str, Path]) -> None:
    ps = start_pulsesight(tls_settings(data_dir, tls), "127.0.0.1", free_port(),
                          config=PulseSightConfig(resolver_url=None), rules=[], evaluate=False)
    try:
        r = httpx.get(f"https://localhost:{ps.port}/healthz", verify=trusting(tls["ca"]), timeout=10)
        assert r.status_code == 200
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{ps.port}/healthz", timeout=5)
    finally:
        ps.stop()


def wait_status(url: str, verify: ssl.SSLContext, proc: subprocess.Popen[str], status: int = 200) -> httpx.Response:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        try:
            r = httpx.get(url, verify=verify, timeout=5)
            if r.status_code == status:
                return r
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never answered {status}")


@pytest.fixture
def engine_and_ui(data_dir: Path, tls: dict[str, Path]) -> Iterator[tuple[int, int]]:
    engine_port, ui_port = free_port(), free_port()
    env = env_for(data_dir, AIRDIG_TLS_CERT_FILE=str(tls["cert"]), AIRDIG_TLS_KEY_FILE=str(tls["key"]),
                  AIRDIG_AUTH="off", AIRDIG_HTTP_CA_FILE=str(tls["ca"]))
    engine = subprocess.Popen([*AIRDIG, "engine", "--port", str(engine_port), "--intel-workers", "0"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ui = subprocess.Popen([*AIRDIG, "ui", "--port", str(ui_port), "--engine-url", f"https://localhost:{engine_port}"],
                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_status(f"https://localhost:{engine_port}/readyz", trusting(tls["ca"]), engine)
        yield engine_port, ui_port
    finally:
        for p in (ui, engine):
            p.terminate()
            p.wait(30)
            if p.stderr is not None:
                p.stderr.close()


def test_engine_and_ui_serve_tls_and_the_proxy_verifies_the_engine(engine_and_ui: tuple[int, int],
                                                                   tls: dict[str, Path]) -> None:
    engine_port, ui_port = engine_and_ui
    ca = trusting(tls["ca"])
    q = {"query": "{ __typename }"}
    direct = httpx.post(f"https://localhost:{engine_port}/graphql", json=q, verify=ca, timeout=10)
    assert direct.json() == {"data": {"__typename": "Query"}}
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{engine_port}/healthz", timeout=5)
    # the UI is ready only when its proxy reaches the engine: over TLS, verified against AIRDIG_HTTP_CA_FILE
    ready = httpx.get(f"https://localhost:{ui_port}/readyz", verify=ca, timeout=30)
    deadline = time.monotonic() + 30
    while ready.status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.3)
        ready = httpx.get(f"https://localhost:{ui_port}/readyz", verify=ca, timeout=10)
    assert ready.status_code == 200, ready.text
    proxied = httpx.post(f"https://localhost:{ui_port}/graphql", json=q, verify=ca, timeout=10,
                         headers={"origin": f"https://localhost:{ui_port}"})
    assert proxied.json() == {"data": {"__typename": "Query"}}


def test_the_ui_proxy_never_talks_to_an_engine_it_cannot_verify(engine_and_ui: tuple[int, int], data_dir: Path,
                                                                 tls: dict[str, Path]) -> None:
    engine_port, _ = engine_and_ui
    port = free_port()
    env = env_for(data_dir, AIRDIG_TLS_CERT_FILE=str(tls["cert"]), AIRDIG_TLS_KEY_FILE=str(tls["key"]))
    ui = subprocess.Popen([*AIRDIG, "ui", "--port", str(port), "--engine-url", f"https://localhost:{engine_port}"],
                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:  # no AIRDIG_HTTP_CA_FILE: the system CAs do not know the test CA, so the engine is unreachable
        r = wait_status(f"https://localhost:{port}/readyz", trusting(tls["ca"]), ui, 503)
        assert "CERTIFICATE_VERIFY_FAILED" in r.text or "certificate verify failed" in r.text, r.text
    finally:
        ui.terminate()
        ui.wait(30)
        if ui.stderr is not None:
            ui.stderr.close()


def test_a_bad_tls_setting_stops_the_start_naming_it(data_dir: Path, tls: dict[str, Path]) -> None:
    cases = (({"AIRDIG_TLS_CERT_FILE": str(tls["cert"])}, ["engine"], "AIRDIG_TLS_KEY_FILE: TLS needs both"),
             ({"AIRDIG_TLS_CERT_FILE": str(tls["cert"]), "AIRDIG_TLS_KEY_FILE": str(data_dir / "nope.key")},
              ["engine"], "AIRDIG_TLS_KEY_FILE: no such file"),
             ({"AIRDIG_TLS_CERT_FILE": str(tls["ca"]), "AIRDIG_TLS_KEY_FILE": str(tls["key"])}, ["ui"],
              "AIRDIG_TLS_CERT_FILE: cannot use"),  # a key that is not the certificate's
             ({"AIRDIG_TLS_CERT_FILE": str(tls["cert"]), "AIRDIG_TLS_KEY_FILE": str(tls["key"])}, ["up"],
              "airdig up/demo serve plain HTTP"))
    for extra, cmd, needle in cases:
        r = subprocess.run([*AIRDIG, *cmd, "--port" if cmd != ["up"] else "--engine-port", str(free_port())],
                           env=env_for(data_dir, AIRDIG_AUTH="off", **extra), capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 2, (cmd, r.stderr)
        assert needle in r.stderr, (cmd, r.stderr)
