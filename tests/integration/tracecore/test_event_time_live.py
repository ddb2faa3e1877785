"""End to end in event time: a replay of past spans posted to TraceCore's OTLP/HTTP receiver goes over
the bus to the aggregator, whose per-minute windows go over the bus to the engine. The engine finds
the minute a call edge degraded; a late batch for an already-published minute adds to that minute.
Runs on the embedded stack (SQLite, local bus) and the distributed one (MariaDB, Kafka, Redis)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from starlette.testclient import TestClient

from airdig.backends.interfaces import ServiceEdgeRow, Store
from airdig.backends.registry import open_bus, open_cache, open_store
from airdig.engine.app import build_app
from airdig.engine.intel import servicemap
from airdig.engine.intel.rootcause import find_onset
from airdig.engine.service import EngineService
from airdig.model.events import to_rfc3339
from airdig.settings import Settings
from airdig.tracecore.serve import TraceCoreHandle, TraceCoreOptions, start_tracecore
from tests.conftest import Backends

WEB, API = "service://_/web", "service://_/api"
MINUTES, SLOW_FROM, PER_MINUTE = 15, 10, 8


def _request(calls: list[tuple[int, float, float]]) -> bytes:
    """One OTLP request holding the client span (web) and the server span (api) of every call
    (number, start in epoch seconds, duration in ms)."""
    req = ExportTraceServiceRequest()
    groups: dict[str, Any] = {}
    for service in ("web", "api"):
        rs = req.resource_spans.add()
        kv = rs.resource.attributes.add()
        kv.key, kv.value.string_value = "service.name", service
        groups[service] = rs.scope_spans.add()
    for n, start, ms in calls:
        t0, t1 = int(start * 1e9), int(start * 1e9 + ms * 1e6)
        client_id, server_id = (2 * n).to_bytes(8, "big"), (2 * n + 1).to_bytes(8, "big")
        for service, kind, span_id, parent, a, b in (("web", 3, client_id, b"", t0, t1),
                                                     ("api", 2, server_id, client_id, t0 + 1000, t1 - 1000)):
            sp = groups[service].spans.add()
            sp.trace_id, sp.span_id, sp.parent_span_id = n.to_bytes(16, "big"), span_id, parent
            sp.name, sp.kind = "GET /orders", kind
            sp.start_time_unix_nano, sp.end_time_unix_nano = a, b
    return req.SerializeToString()


@dataclass
class Stack:
    svc: EngineService
    store: Store
    tracecore: TraceCoreHandle

    def post(self, calls: list[tuple[int, float, float]]) -> None:
        r = httpx.post(f"http://127.0.0.1:{self.tracecore.http_port}/v1/traces", content=_request(calls),
                       headers={"Content-Type": "application/x-protobuf"})
        assert r.status_code == 200, r.text

    def rows(self) -> list[ServiceEdgeRow]:
        return [r for r in self.store.service_edge_stats(0, time.time() + 60, [API]) if (r.src, r.dst) == (WEB, API)]

    def wait_for(self, requests: int, timeout: float = 60.0) -> list[ServiceEdgeRow]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.rows()
            if sum(r.request_count for r in rows) >= requests:
                return rows
            time.sleep(0.2)
        raise AssertionError(f"engine holds {sum(r.request_count for r in self.rows())} of {requests} calls")


@pytest.fixture
def stack(backends: Backends, data_dir: Path) -> Iterator[Stack]:
    store = open_store(backends.store_url)
    store.migrate()
    svc = EngineService(store=store, bus=open_bus(backends.bus_url), cache=open_cache(backends.cache_url),
                        group="evtime-engine")
    svc.start()
    settings = Settings.load(overrides={"data_dir": str(data_dir), "bus_url": backends.bus_url}, environ={})
    opts = TraceCoreOptions(pair_wait=0.5, window_seconds=60.0, window_lateness=1.0, store_traces=False,
                            group="evtime-tc")
    tc = start_tracecore(settings, "127.0.0.1", 0, 0, options=opts)
    try:
        yield Stack(svc, store, tc)
    finally:
        tc.stop()
        svc.stop()


@pytest.mark.slow
def test_replayed_degradation_has_its_onset_in_the_minute_it_began(stack: Stack) -> None:
    now = time.time()
    base = now - now % 60 - (MINUTES + 1) * 60  # 16 minutes ago, on a minute
    calls = [(m * PER_MINUTE + i + 1, base + m * 60 + 3 + 7 * i, 400.0 if m >= SLOW_FROM else 20.0)
             for m in range(MINUTES) for i in range(PER_MINUTE)]
    stack.post(calls)  # the whole replay in one go
    rows = stack.wait_for(len(calls))
    assert [r.window_start for r in rows] == [base + m * 60 for m in range(MINUTES)]
    assert all(r.request_count == PER_MINUTE and r.window_seconds == 60 for r in rows)
    p95 = [r.p95 or 0.0 for r in rows]
    assert all(15 < v <= 20 for v in p95[:SLOW_FROM]) and all(250 < v <= 500 for v in p95[SLOW_FROM:])

    onset, _ = find_onset(stack.store, [API], base + MINUTES * 60, 600.0)
    assert (onset.source, onset.time) == ("call edge p95", base + SLOW_FROM * 60)

    # a late batch for minute 3 (already published): two more calls, slow ones
    late_minute = base + 3 * 60
    stack.post([(10_001, late_minute + 50, 400.0), (10_002, late_minute + 55, 400.0)])
    rows = stack.wait_for(len(calls) + 2)
    by_start = {r.window_start: r for r in rows}
    assert by_start[late_minute].request_count == PER_MINUTE + 2
    assert sum(r.request_count for r in rows) == len(calls) + 2  # nothing else moved or doubled
    cmp = {(c["src"], c["dst"]): c for c in servicemap.before_after(stack.store, [API], late_minute + 60, 60.0)}
    assert cmp[(WEB, API)]["before"]["requests"] == PER_MINUTE + 2
    with TestClient(build_app(stack.svc)) as client:
        body = client.get("/api/v1/service-map", params={"since": to_rfc3339(late_minute),
                                                         "until": to_rfc3339(late_minute + 60)}).json()
    [edge] = [e for e in body["edges"] if (e["src"], e["dst"]) == (WEB, API)]
    assert edge["requestCount"] == PER_MINUTE + 2
