"""Two receivers + two aggregators sharing one bus: a trace whose client span reaches one receiver and
whose server span reaches the other is still paired, by exactly one aggregator, because span summaries
travel over the bus keyed by trace id. Runs on a real Kafka broker and on the embedded bus."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from airdig.backends.registry import open_bus
from airdig.settings import Settings
from airdig.tracecore.serve import TraceCoreHandle, TraceCoreOptions, start_tracecore

TRACES = 20


def _half(service: str, kind: int, trace: int, span: bytes, parent: bytes = b"") -> bytes:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    kv = rs.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", service
    sp = rs.scope_spans.add().spans.add()
    sp.trace_id, sp.span_id, sp.parent_span_id = trace.to_bytes(16, "big"), span, parent
    sp.name, sp.kind = "GET /x", kind
    now = time.time_ns()
    sp.start_time_unix_nano, sp.end_time_unix_nano = now, now + 5_000_000
    return req.SerializeToString()


def _wait_for_two_members(handles: list[TraceCoreHandle], timeout: float = 30.0) -> None:
    """Pairing is only exact once the group is stable: a rebalance mid-trace splits a trace."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        owned = [h.aggregator.assignment() if h.aggregator else [] for h in handles]
        if all(owned) and sum(len(o) for o in owned) == len(set().union(*map(set, owned))):
            return
        time.sleep(0.2)
    raise AssertionError(f"consumer group did not settle: {owned}")


@pytest.mark.slow
@pytest.mark.parametrize("which", ["kafka", "embedded"])
def test_trace_split_across_receivers_is_paired_once(which: str, request: pytest.FixtureRequest,
                                                      data_dir: Path, read_events: Any, sum_edge: Any) -> None:
    bus_url = request.getfixturevalue("kafka_url") if which == "kafka" else f"embedded://{data_dir / 'bus.db'}"
    settings = Settings.load(overrides={"data_dir": str(data_dir), "bus_url": bus_url}, environ={})
    opts = TraceCoreOptions(pair_wait=2.0, window_seconds=1.0, store_traces=False, group="tc-test")
    handles = [start_tracecore(settings, "127.0.0.1", 0, 0, options=opts) for _ in range(2)]
    try:
        _wait_for_two_members(handles)
        a, b = (f"http://127.0.0.1:{h.http_port}/v1/traces" for h in handles)
        hdr = {"Content-Type": "application/x-protobuf"}
        for t in range(1, TRACES + 1):
            client_id, server_id = (t * 2).to_bytes(8, "big"), (t * 2 + 1).to_bytes(8, "big")
            # client half to receiver A, server half to receiver B (and the other way for odd traces)
            first, second = (a, b) if t % 2 else (b, a)
            assert httpx.post(first, content=_half("web", 3, t, client_id), headers=hdr).status_code == 200
            assert httpx.post(second, content=_half("api", 2, t, server_id, client_id),
                              headers=hdr).status_code == 200
        bus = open_bus(bus_url)
        try:
            edges, events = read_events(bus, {("service://_/web", "calls", "service://_/api")}, timeout=30)
            deadline = time.monotonic() + 10
            while sum_edge(events, "service://_/web", "service://_/api")["request_count"] < TRACES \
                    and time.monotonic() < deadline:
                more = read_events(bus, {("never", "seen", "edge")}, timeout=1.0)[1]
                events.extend(more)
        finally:
            bus.close()
        assert ("service://_/web", "calls", "service://_/api") in edges
        assert sum_edge(events, "service://_/web", "service://_/api")["request_count"] == TRACES
        counts = [h.aggregator.pairer.counters.spans for h in handles if h.aggregator]
        assert sum(c["paired"] for c in counts) == 2 * TRACES
        assert sum(c["expired_unpaired"] + c["dropped"] for c in counts) == 0
        assert all(c["paired"] > 0 for c in counts)  # both aggregators took part
    finally:
        for h in handles:
            h.stop()
