"""OTLP/gRPC receiver: partial success for bad ids, RESOURCE_EXHAUSTED when the queue is full, and the
server keeps serving after both."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from prometheus_client import generate_latest

from airdig.settings import Settings
from airdig.tracecore.serve import TraceCoreHandle, TraceCoreOptions, start_tracecore
from airdig.tracecore.spans import SpanSummary


def _request(n: int, trace: int, bad: bool = False) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    kv = rs.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "api"
    ss = rs.scope_spans.add()
    for i in range(n):
        sp = ss.spans.add()
        sp.trace_id, sp.span_id = trace.to_bytes(16, "big"), (i + 1).to_bytes(8, "big")
        sp.name, sp.kind, sp.start_time_unix_nano, sp.end_time_unix_nano = "op", 2, 1, 2
    if bad:
        ss.spans[0].trace_id = b"\x00" * 16
    return req


@pytest.fixture
def held() -> threading.Event:
    ev = threading.Event()
    ev.set()
    return ev


@pytest.fixture
def tc(data_dir: Path, held: threading.Event) -> Iterator[TraceCoreHandle]:
    def gate(spans: list[SpanSummary]) -> None:
        held.wait(10)

    settings = Settings.load(overrides={"data_dir": str(data_dir)}, environ={})
    opts = TraceCoreOptions(route="local", store_traces=False, max_queue_spans=4)
    handle = start_tracecore(settings, "127.0.0.1", 0, 0, options=opts, extra_sinks=[gate])
    yield handle
    held.set()
    handle.stop()


def test_partial_success_and_resource_exhausted(tc: TraceCoreHandle, held: threading.Event) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{tc.grpc_port}") as channel:
        stub = TraceServiceStub(channel)
        resp = stub.Export(_request(2, 1, bad=True), timeout=5)
        assert resp.partial_success.rejected_spans == 1
        assert "trace_id must be 16 bytes" in resp.partial_success.error_message
        held.clear()
        codes = []
        for t in range(2, 8):
            try:
                stub.Export(_request(2, t), timeout=5)
                codes.append("OK")
            except grpc.RpcError as exc:
                codes.append(exc.code().name)
        assert codes[0] == "OK" and "RESOURCE_EXHAUSTED" in codes
        held.set()
        assert tc.ingest.drain()
        assert stub.Export(_request(1, 99), timeout=5).partial_success.rejected_spans == 0


def test_malformed_protobuf_is_invalid_argument_with_the_parser_reason(tc: TraceCoreHandle) -> None:
    """The request's bytes reach the decoder as they are (pass-through deserializer): a truncated
    message is the client's fault, INVALID_ARGUMENT naming it, and the server keeps serving."""
    with grpc.insecure_channel(f"127.0.0.1:{tc.grpc_port}") as channel:
        raw = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                                  request_serializer=None, response_deserializer=None)
        with pytest.raises(grpc.RpcError) as err:
            raw(b"\x0a\x05abc", timeout=5)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "cannot parse ExportTraceServiceRequest" in (err.value.details() or "")
        resp = TraceServiceStub(channel).Export(_request(2, 7), timeout=5)
        assert resp.partial_success.rejected_spans == 0
    text = generate_latest(tc.metrics.registry).decode()
    assert 'tracecore_receiver_requests_total{protocol="grpc",result="bad_request"} 1.0' in text
