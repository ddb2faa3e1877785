"""OTLP/HTTP receiver against hostile and quirky input: each request gets the response the OTLP/HTTP
spec asks for, and the process keeps serving afterwards."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from airdig.backends.registry import open_trace_store
from airdig.settings import Settings
from airdig.tracecore.serve import TraceCoreHandle, TraceCoreOptions, start_tracecore
from airdig.tracecore.spans import SpanSummary

DATA = Path(__file__).parents[2] / "data" / "tracecore"
PB = {"Content-Type": "application/x-protobuf"}


def _request(n: int = 3, trace: bytes = b"\x01" * 16) -> bytes:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    kv = rs.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "api"
    ss = rs.scope_spans.add()
    for i in range(n):
        sp = ss.spans.add()
        sp.trace_id, sp.span_id = trace, (i + 1).to_bytes(8, "big")
        sp.name, sp.kind = f"op{i}", 2
        sp.start_time_unix_nano, sp.end_time_unix_nano = 1_700_000_000_000_000_000, 1_700_000_000_100_000_000
    return req.SerializeToString()


class Gate:
    """A sink that holds the ingest worker until released, so the queue can be filled on purpose."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.seen = 0

    def __call__(self, spans: list[SpanSummary]) -> None:
        self.open.wait(10)
        self.seen += len(spans)


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
def tc(data_dir: Path, gate: Gate) -> Iterator[TraceCoreHandle]:
    gate.open.set()
    settings = Settings.load(overrides={"data_dir": str(data_dir)}, environ={})
    opts = TraceCoreOptions(route="local", pair_wait=0.2, window_seconds=60, max_queue_spans=10,
                            max_body_bytes=1 << 20)
    # the fixture's spans are from 2023: keep them past the default 24 h retention
    store = open_trace_store("embedded://?retention_hours=1000000")
    handle = start_tracecore(settings, "127.0.0.1", 0, 0, options=opts, extra_sinks=[gate], trace_store=store)
    yield handle
    gate.open.set()
    handle.stop()
    store.close()


def _url(tc: TraceCoreHandle, path: str = "/v1/traces") -> str:
    return f"http://127.0.0.1:{tc.http_port}{path}"


def _still_serving(tc: TraceCoreHandle) -> None:
    r = httpx.post(_url(tc), content=_request(1, b"\x09" * 16), headers=PB)
    assert r.status_code == 200, r.text


def test_json_quirks_and_partial_success(tc: TraceCoreHandle) -> None:
    r = httpx.post(_url(tc), content=(DATA / "quirks.json").read_bytes(),
                   headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 200
    body = r.json()
    assert body["partialSuccess"]["rejectedSpans"] == "1"
    assert "traceId" in body["partialSuccess"]["errorMessage"]
    assert tc.ingest.drain()
    assert tc.trace_store is not None
    spans = {s["span_id"]: s for s in tc.trace_store.get_trace("5b8efff798038103d269b633813fc60c")}
    server = spans["eee19b7ec3c1b174"]
    assert (server["kind"], server["status"], server["start_unix_nano"]) == ("server", "error", 1700000000000000000)
    assert server["parent_span_id"] == "eee19b7ec3c1b173"
    assert server["attributes"]["http.response.status_code"] == 500  # the new key wins over the old one
    assert server["attributes"]["rpc.grpc.status_code"] == 14
    assert server["resource"]["k8s.pod.uid"] == "5c0e7d2a-1111-4222-8333-944445555666"
    client = spans["eee19b7ec3c1b175"]
    assert (client["kind"], client["attributes"]["db.system.name"]) == ("client", "redis")
    assert client["duration_ms"] == 10.0
    _still_serving(tc)


def test_protobuf_partial_success_for_bad_ids(tc: TraceCoreHandle) -> None:
    req = ExportTraceServiceRequest.FromString(_request(2))
    req.resource_spans[0].scope_spans[0].spans[1].span_id = b"\x01\x02"
    r = httpx.post(_url(tc), content=req.SerializeToString(), headers=PB)
    assert r.status_code == 200
    resp = ExportTraceServiceResponse.FromString(r.content)
    assert resp.partial_success.rejected_spans == 1
    assert "span_id 8 bytes" in resp.partial_success.error_message


def test_gzip_accepted_and_bad_gzip_rejected(tc: TraceCoreHandle) -> None:
    r = httpx.post(_url(tc), content=gzip.compress(_request(2)), headers={**PB, "Content-Encoding": "gzip"})
    assert r.status_code == 200
    assert ExportTraceServiceResponse.FromString(r.content).partial_success.rejected_spans == 0
    r = httpx.post(_url(tc), content=b"not gzip at all", headers={**PB, "Content-Encoding": "gzip"})
    assert r.status_code == 400
    assert "gzip" in status_pb2.Status.FromString(r.content).message
    # a small gzip body that expands past the limit is refused, not inflated
    bomb = gzip.compress(b"\x00" * (4 << 20))
    r = httpx.post(_url(tc), content=bomb, headers={**PB, "Content-Encoding": "gzip"})
    assert r.status_code == 413
    _still_serving(tc)


def test_truncated_protobuf_is_400_with_reason(tc: TraceCoreHandle) -> None:
    body = _request(3)
    r = httpx.post(_url(tc), content=body[:-7], headers=PB)
    assert r.status_code == 400
    status = status_pb2.Status.FromString(r.content)
    assert status.code == 3 and "cannot parse ExportTraceServiceRequest" in status.message
    r = httpx.post(_url(tc), content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "not JSON" in r.json()["message"]
    r = httpx.post(_url(tc), content=b"x", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    _still_serving(tc)


def test_100_mb_body_is_413_and_server_keeps_serving(tc: TraceCoreHandle) -> None:
    def body() -> Iterator[bytes]:
        chunk = b"\x00" * (1 << 20)
        for _ in range(100):
            yield chunk

    r = httpx.post(_url(tc), content=body(), headers=PB, timeout=60)  # chunked: no declared length
    assert r.status_code == 413
    assert "limit" in status_pb2.Status.FromString(r.content).message
    r = httpx.post(_url(tc), content=body(), headers={**PB, "Content-Length": str(100 << 20)}, timeout=60)
    assert r.status_code == 413
    _still_serving(tc)


def test_flood_beyond_the_queue_gets_429_with_retry_after(tc: TraceCoreHandle, gate: Gate) -> None:
    gate.open.clear()  # the worker stops at the gate: the queue (10 spans) fills up
    codes = []
    for i in range(12):
        r = httpx.post(_url(tc), content=_request(3, bytes([i + 1]) * 16), headers=PB)
        codes.append(r.status_code)
        if r.status_code == 429:
            assert int(r.headers["Retry-After"]) > 0
    assert codes[0] == 200 and 429 in codes
    assert codes.count(200) <= 5  # one batch at the gate + at most 10 queued spans (3 per request)
    gate.open.set()
    assert tc.ingest.drain()
    _still_serving(tc)
    metrics = httpx.get(_url(tc, "/metrics")).text
    assert 'tracecore_receiver_requests_total{protocol="http",result="overloaded"}' in metrics
    assert httpx.get(_url(tc, "/healthz")).status_code == 200
    assert httpx.get(_url(tc, "/readyz")).status_code == 200
