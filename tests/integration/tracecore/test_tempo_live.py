"""Tempo backend against a local HTTP server that answers as Tempo's documented API does
(``GET /api/traces/<id>`` with OTLP JSON or protobuf, ``GET /api/search`` with ``traces[]`` of
``traceID/rootServiceName/rootTraceName/startTimeUnixNano/durationMs``, ``X-Scope-OrgID`` tenancy,
OTLP/HTTP ingest on ``/v1/traces``). It is a contract test, not a run against a real Tempo."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from airdig.backends.registry import open_trace_store
from airdig.backends.traces.tempo import TempoTraceStore
from airdig.errors import NotFound

TRACE = "5b8efff798038103d269b633813fc60c"


class FakeTempo(BaseHTTPRequestHandler):
    pushed: list[dict[str, Any]] = []
    seen: list[tuple[str, str | None, dict[str, list[str]]]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, code: int, body: bytes, ctype: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append((self.path, self.headers.get("X-Scope-OrgID"), {}))
        if self.path == "/v1/traces":
            self.pushed.append(orjson.loads(body))
            self._send(200, b"{}", "application/json")
        else:
            self._send(404, b"", "text/plain")

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        self.seen.append((url.path, self.headers.get("X-Scope-OrgID"), parse_qs(url.query)))
        if self.headers.get("X-Scope-OrgID") != "team-a":
            self._send(401, b"no org id", "text/plain")
        elif url.path == f"/api/traces/{TRACE}":
            doc = {"batches": [{
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "cart"}}]},
                "scopeSpans": [{"spans": [{
                    # Tempo's JSON carries ids base64-encoded
                    "traceId": "W47/95gDgQPSabYzgT/GDA==", "spanId": "7uGbfsPBsXQ=", "name": "POST /cart",
                    "kind": "SPAN_KIND_SERVER", "startTimeUnixNano": "1700000000000000000",
                    "endTimeUnixNano": "1700000000250000000", "status": {"code": "STATUS_CODE_ERROR"},
                    "attributes": [{"key": "http.status_code", "value": {"intValue": "502"}}]}]}]}]}
            self._send(200, orjson.dumps(doc), "application/json")
        elif url.path == "/api/traces/00000000000000000000000000000002":
            msg = TracesData()
            msg.ParseFromString(_proto_trace())
            self._send(200, msg.SerializeToString(), "application/protobuf")
        elif url.path.startswith("/api/traces/"):
            self._send(404, b"trace not found", "text/plain")
        elif url.path == "/api/search":
            self._send(200, orjson.dumps({"traces": [
                {"traceID": TRACE, "rootServiceName": "cart", "rootTraceName": "POST /cart",
                 "startTimeUnixNano": "1700000000000000000", "durationMs": 250}],
                "metrics": {"inspectedTraces": 1}}), "application/json")
        elif url.path == "/ready":
            self._send(200, b"ready", "text/plain")
        else:
            self._send(404, b"", "text/plain")


def _proto_trace() -> bytes:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    kv = rs.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "api"
    sp = rs.scope_spans.add().spans.add()
    sp.trace_id, sp.span_id, sp.name, sp.kind = (2).to_bytes(16, "big"), b"\x00" * 7 + b"\x05", "GET", 2
    sp.start_time_unix_nano, sp.end_time_unix_nano = 10, 2_000_010
    return req.SerializeToString()


@pytest.fixture
def tempo() -> Iterator[TempoTraceStore]:
    FakeTempo.pushed, FakeTempo.seen = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeTempo)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    port = server.server_address[1]
    store = open_trace_store(f"tempo://127.0.0.1:{port}?otlp=http://127.0.0.1:{port}", tenant="team-a")
    assert isinstance(store, TempoTraceStore)
    yield store
    store.close()
    server.shutdown()
    server.server_close()


def test_get_trace_json_with_tenant(tempo: TempoTraceStore) -> None:
    spans = tempo.get_trace(TRACE)
    assert [(s["trace_id"], s["span_id"], s["kind"], s["status"]) for s in spans] == \
        [(TRACE, "eee19b7ec3c1b174", "server", "error")]
    assert spans[0]["attributes"]["http.response.status_code"] == 502
    assert FakeTempo.seen[-1][1] == "team-a"


def test_get_trace_protobuf_and_not_found(tempo: TempoTraceStore) -> None:
    spans = tempo.get_trace("00000000000000000000000000000002")
    assert [(s["service"], s["duration_ms"]) for s in spans] == [("api", 2.0)]
    with pytest.raises(NotFound):
        tempo.get_trace("00000000000000000000000000000009")


def test_search_maps_parameters_and_answer(tempo: TempoTraceStore) -> None:
    found = list(tempo.search(service="cart", operation="POST /cart", error=True, min_duration_ms=100,
                              start=1699999000, end=1700001000, limit=5))
    assert found == [{"trace_id": TRACE, "root_service": "cart", "root_name": "POST /cart",
                      "start_unix_nano": 1700000000000000000, "duration_ms": 250.0}]
    path, org, query = FakeTempo.seen[-1]
    assert (path, org) == ("/api/search", "team-a")
    assert query["tags"] == ['service.name="cart" name="POST /cart" status=error']
    assert (query["minDuration"], query["start"], query["end"], query["limit"]) == \
        (["100ms"], ["1699999000"], ["1700001000"], ["5"])


def test_put_spans_exports_otlp_json(tempo: TempoTraceStore) -> None:
    tempo.put_spans([{"trace_id": TRACE, "span_id": "eee19b7ec3c1b174", "parent_span_id": "", "name": "x",
                      "kind": "client", "service": "cart", "start_unix_nano": 1, "end_unix_nano": 2,
                      "status": "ok", "attributes": {"db.system.name": "redis", "n": 3},
                      "resource": {"service.name": "cart"}}])
    doc = FakeTempo.pushed[-1]
    span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert (span["traceId"], span["kind"], span["status"]["code"]) == (TRACE, 3, 1)
    assert {"key": "n", "value": {"intValue": "3"}} in span["attributes"]
    tempo.ping()
