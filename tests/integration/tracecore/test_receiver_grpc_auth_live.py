"""OTLP/gRPC with auth on: a real gRPC client against the real receiver. Without ``authorization``
metadata, or with a wrong token, the call is refused with UNAUTHENTICATED and no span reaches the sink;
with an engine API token (the same tokens the OTLP/HTTP receiver takes) the spans are accepted. The
token appears in no log line."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub

from airdig.backends.registry import open_store
from airdig.engine.auth import Authenticator, TokenService
from airdig.settings import Settings
from airdig.tracecore.serve import TraceCoreHandle, TraceCoreOptions, start_tracecore
from airdig.tracecore.spans import SpanSummary


def _request(trace: int) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    kv = rs.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "api"
    sp = rs.scope_spans.add().spans.add()
    sp.trace_id, sp.span_id = trace.to_bytes(16, "big"), (1).to_bytes(8, "big")
    sp.name, sp.kind, sp.start_time_unix_nano, sp.end_time_unix_nano = "op", 2, 1, 2
    return req


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[TraceCoreHandle, str, str, list[SpanSummary]]]:
    store = open_store(f"sqlite:///{tmp_path / 'airdig.db'}")
    store.migrate()
    token, _ = TokenService(store).create("otel-collector", "editor")
    viewer, _ = TokenService(store).create("dashboards", "viewer")  # reads: may not send spans in
    received: list[SpanSummary] = []
    settings = Settings.load(overrides={"data_dir": str(tmp_path)}, environ={})
    handle = start_tracecore(settings, "127.0.0.1", 0, 0, extra_sinks=[received.extend],
                             options=TraceCoreOptions(route="local", aggregate=False, store_traces=False),
                             tokens=Authenticator(store, required=True))
    yield handle, token, viewer, received
    handle.stop()
    store.close()


def test_grpc_export_needs_a_valid_bearer_token(setup: tuple[TraceCoreHandle, str, str, list[SpanSummary]],
                                                caplog: pytest.LogCaptureFixture,
                                                capfd: pytest.CaptureFixture[str]) -> None:
    tc, token, viewer, received = setup
    caplog.set_level(logging.DEBUG)
    with grpc.insecure_channel(f"127.0.0.1:{tc.grpc_port}") as channel:
        stub = TraceServiceStub(channel)
        refused = []
        for metadata in ((), (("authorization", "Bearer adg_wrong-token-value"),),
                         (("authorization", token),),  # no scheme
                         (("authorization", "Basic " + token),)):
            with pytest.raises(grpc.RpcError) as err:
                stub.Export(_request(1), metadata=metadata, timeout=5)
            refused.append(err.value.code())
        assert refused == [grpc.StatusCode.UNAUTHENTICATED] * 4
        with pytest.raises(grpc.RpcError) as err:
            stub.Export(_request(3), metadata=(("authorization", f"Bearer {viewer}"),), timeout=5)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "editor" in str(err.value.details()) and viewer not in str(err.value.details())
        assert tc.ingest.drain()
        assert received == []  # nothing of a refused call reached the sink

        resp = stub.Export(_request(2), metadata=(("authorization", f"Bearer {token}"),), timeout=5)
        assert resp.partial_success.rejected_spans == 0
        assert tc.ingest.drain()
    assert [s.trace_id for s in received] == [(2).to_bytes(16, "big").hex()]
    samples = {s.labels["result"]: s.value for s in tc.metrics.registry.collect()
               for s in s.samples if s.name == "tracecore_receiver_requests_total"}
    assert samples == {"unauthenticated": 4.0, "forbidden": 1.0, "ok": 1.0}
    out = capfd.readouterr()
    for text in (caplog.text, out.out, out.err):
        assert token not in text and viewer not in text and "wrong-token-value" not in text


def test_grpc_export_is_unavailable_while_the_token_store_is_unreachable(tmp_path: Path) -> None:
    """A token store that cannot be reached (here: MySQL on a port nobody listens on) is not a reason to
    call the sender unauthenticated: UNAVAILABLE, which OTLP exporters retry."""
    store = open_store("mysql://airdig:x@127.0.0.1:1/airdig")
    settings = Settings.load(overrides={"data_dir": str(tmp_path)}, environ={})
    handle = start_tracecore(settings, "127.0.0.1", 0, 0, tokens=Authenticator(store, required=True),
                             options=TraceCoreOptions(route="local", aggregate=False, store_traces=False))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{handle.grpc_port}") as channel, \
                pytest.raises(grpc.RpcError) as err:
            TraceServiceStub(channel).Export(_request(1), metadata=(("authorization", "Bearer adg_x-123456789"),),
                                             timeout=30)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "adg_x" not in str(err.value.details())
    finally:
        handle.stop()
        store.close()
