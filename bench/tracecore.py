"""TraceCore throughput: OTLP/HTTP protobuf bytes -> window events, in spans/s per CPU second.

Two span shapes: 20 attributes per span, and ~500 serialized bytes per span. The baseline, measured on
the same bytes in the same run, is bare ``ExportTraceServiceRequest.ParseFromString``. The measured
path is what a single-replica TraceCore does per request after reading the body: decode to summaries
(``decode_request``), pair (``Pairer``), record per-edge statistics (``ServiceMap`` and the window
accumulator) through ``Aggregator.offer``, then close every window (``window_events``). It runs twice
on the same bytes: pure Python (``AIRDIG_TRACECORE_NATIVE=off``, the reference) and with the compiled
extension (``on``; ``null`` when it is not built). Not included: HTTP parsing, the bus, the trace store.

The ``bus`` figures are the distributed path (``tracecore_route=bus``) in one process: the receiver's
decode and ``BusSink`` (``airdig.trace.span`` records keyed by trace id, handed to an in-memory list
instead of a broker), then the aggregator's ``handle_records`` in polls of 500 records (partition = key hash % 6,
offsets in order) and ``window_events``: everything both sides spend per span except the broker's own work.

CPU time (``process_time``), not wall time: the figures hold on a machine shared with other work.

    .venv/bin/python bench/tracecore.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from typing import Any

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from airdig.tracecore import native
from airdig.tracecore.aggregator import Aggregator
from airdig.tracecore.decode import decode_request
from airdig.tracecore.ingest import BusSink
from airdig.tracecore.metrics import TraceCoreMetrics

SPANS_PER_REQUEST = 512
PARTITIONS = 6
POLL = 500  # records per poll, as Aggregator._step asks for


class _Records:
    """The bus as BusSink sees it (publish, flush), keeping the records in memory."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes]] = []

    def publish(self, topic: str, key: str, value: bytes) -> None:
        self.records.append((key, value))

    def flush(self) -> None:
        pass


def _kv(span: Any, key: str, value: Any) -> None:
    kv = span.attributes.add()
    kv.key = key
    if isinstance(value, int):
        kv.value.int_value = value
    else:
        kv.value.string_value = value


def build(requests: int, shape: str) -> list[bytes]:
    """Requests of client/server pairs across 8 services; every pair completes inside its request."""
    bodies = []
    sid = 1
    now = time.time_ns()
    for r in range(requests):
        req = ExportTraceServiceRequest()
        groups = []
        for svc in range(8):
            rs = req.resource_spans.add()
            for key, val in (("service.name", f"svc-{svc}"), ("host.id", f"i-{svc:017x}"),
                             ("cloud.account.id", "123456789012"), ("cloud.region", "us-east-1")):
                kv = rs.resource.attributes.add()
                kv.key, kv.value.string_value = key, val
            groups.append(rs.scope_spans.add())
        for i in range(SPANS_PER_REQUEST // 2):
            trace = (r * SPANS_PER_REQUEST + i + 1).to_bytes(16, "big")
            caller, callee = i % 8, (i + 1) % 8
            client_id, server_id = sid.to_bytes(8, "big"), (sid + 1).to_bytes(8, "big")
            sid += 2
            for kind, group, span_id, parent in ((3, groups[caller], client_id, b""),
                                                 (2, groups[callee], server_id, client_id)):
                sp = group.spans.add()
                sp.trace_id, sp.span_id, sp.parent_span_id = trace, span_id, parent
                sp.name, sp.kind = "GET /api/v1/orders/{id}", kind
                sp.start_time_unix_nano = now + i * 1000
                sp.end_time_unix_nano = sp.start_time_unix_nano + 1_000_000 * (1 + i % 50)
                if shape == "attrs20":
                    for a in range(17):
                        _kv(sp, f"app.attribute.{a}", f"value-{a}-{i % 7}")
                    _kv(sp, "http.request.method", "GET")
                    _kv(sp, "http.response.status_code", 200 if i % 20 else 503)
                    _kv(sp, "server.address", f"svc-{callee}.shop.svc")
                else:  # ~500 bytes per span
                    _kv(sp, "http.request.method", "GET")
                    _kv(sp, "url.full", "https://svc.shop.svc/api/v1/orders/" + "x" * 100)
                    _kv(sp, "user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) " + "y" * 90)
                    _kv(sp, "http.response.status_code", 200)
                    _kv(sp, "server.address", f"svc-{callee}.shop.svc")
                    _kv(sp, "server.port", 8080)
        bodies.append(req.SerializeToString())
    return bodies


def _through_bus(agg: Aggregator, bodies: list[bytes]) -> float:
    """Receiver (decode, BusSink) then aggregator (``handle_records`` per poll), as the bus route runs
    them; returns the receiver side's CPU seconds (the rest is the aggregator's)."""
    t0 = time.process_time()
    bus = _Records()
    sink = BusSink(bus, TraceCoreMetrics())  # type: ignore[arg-type]
    for b in bodies:
        sink(decode_request(b).spans)
    receiver = time.process_time() - t0
    offsets = [0] * PARTITIONS
    records = []
    for key, value in bus.records:
        part = hash(key) % PARTITIONS
        records.append((value, key, part, offsets[part]))
        offsets[part] += 1
    for i in range(0, len(records), POLL):  # what the consumer loop hands over per poll
        agg.handle_records(records[i:i + POLL])
    return receiver


def _path(bodies: list[bytes], which: str, repeat: int, route: str = "local") -> tuple[float, float]:
    """Best CPU seconds for bytes -> window events with ``AIRDIG_TRACECORE_NATIVE=which``, and of that
    run the receiver side's share (bus route; 0 for local)."""
    spans = SPANS_PER_REQUEST * len(bodies)
    os.environ[native.ENV] = which
    native.reset()
    best, best_receiver = float("inf"), 0.0
    try:
        for _ in range(repeat):
            agg = Aggregator(None, TraceCoreMetrics(), wait=10.0, consume=False)
            t0 = time.process_time()
            receiver = 0.0
            if route == "bus":
                receiver = _through_bus(agg, bodies)
            else:
                for b in bodies:
                    agg.offer(decode_request(b).spans)
            events = agg.window_events(everything=True)
            took = time.process_time() - t0
            if took < best:
                best, best_receiver = took, receiver
            paired = agg.pairer.counters.spans["paired"]
            if paired != spans:
                raise SystemExit(f"benchmark self-check failed ({which}): {paired} of {spans} spans paired")
            recorded = sum(st.requests for st in agg.servicemap.totals.values())
            published = sum(e.data["stats"]["request_count"] for e in events if e.data.get("type") == "calls")
            if recorded != spans // 2 or published != spans // 2:
                raise SystemExit(f"benchmark self-check failed ({which}): {recorded} calls recorded, "
                                 f"{published} published, want {spans // 2}")
    finally:
        native.reset()
    return best, best_receiver


def measure(bodies: list[bytes], repeat: int) -> dict[str, Any]:
    spans = SPANS_PER_REQUEST * len(bodies)
    best_parse = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        for b in bodies:
            ExportTraceServiceRequest().ParseFromString(b)
        best_parse = min(best_parse, time.process_time() - t0)
    out: dict[str, Any] = {
        "spans": spans, "bytes_per_span": round(sum(map(len, bodies)) / spans, 1),
        "baseline_parse_spans_per_s": round(spans / best_parse),
    }
    have_native = native.build("auto") is not None
    for route, prefix in (("local", ""), ("bus", "bus_")):
        best_py, _ = _path(bodies, "off", repeat, route)
        out[f"{prefix}python_spans_per_s_per_core"] = round(spans / best_py)
        if not have_native:
            out[f"{prefix}native_spans_per_s_per_core"] = None
            out["native_note"] = "airdig_tracecore_native not installed: scripts/tools/tracecore-native .venv"
        else:
            best_native, receiver = _path(bodies, "on", repeat, route)
            out[f"{prefix}native_spans_per_s_per_core"] = round(spans / best_native)
            out[f"{prefix}native_speedup"] = round(best_py / best_native, 2)
            if route == "bus":  # each side on its own core (receivers and aggregators are separate replicas)
                out["bus_native_receiver_spans_per_s_per_core"] = round(spans / receiver)
                out["bus_native_aggregator_spans_per_s_per_core"] = round(spans / (best_native - receiver))
    return out
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small run (a few seconds)")
    args = ap.parse_args()
    requests, repeat = (8, 2) if args.quick else (80, 3)
    result: dict[str, Any] = {
        "benchmark": "tracecore", "load_average_at_start": [round(x, 2) for x in os.getloadavg()], "quick": args.quick, "python": platform.python_version(),
        "cpu_count": os.cpu_count(), "clock": "process CPU time, single thread (spans/s = per core)",
        "spans_per_request": SPANS_PER_REQUEST, "target_spans_per_s_per_core": 200_000,
        "collector_servicegraph": "not measured (see docs/tracecore.md)",
    }
    for shape in ("attrs20", "bytes500"):
        result[shape] = measure(build(requests, shape), repeat)
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
