"""A TraceCore aggregator process (``airdig tracecore serve``) SIGKILLed after it has published the calls
of half the traces and while it holds the client halves of the other half waiting for their server
halves; a second aggregator takes over the partitions and the missing server halves arrive. Counts the calls that reach the bus in ``airdig.trace.edge`` statistics against the calls sent,
each event id once (the engine applies an id once), and keeps reading a while after the last call so a
part published twice would be seen.

The aggregator commits a record only once its effects are published (airdig/tracecore/offsets.py), so
the halves A held are read again by B from A's last commit; B learns from the commit's metadata which
windows A had published, so the replay — which reads again the records of the calls A published, as
they lie above the waiting halves that hold the commit back — counts nothing twice.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson

from airdig.backends.registry import open_bus
from airdig.model.events import TOPIC_TRACES, CloudEvent, is_span_block
from airdig.tracecore.ingest import BusSink
from airdig.tracecore.metrics import TraceCoreMetrics
from airdig.tracecore.otlp_json import decode_json

from .conftest import Report, Row

TRACES = 200


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def halves(side: str, traces: range = range(TRACES), now: int | None = None) -> bytes:
    now = time.time_ns() if now is None else now
    spans = []
    for t in traces:
        tid = f"{t + 1:032x}"
        if side == "client":
            spans.append({"traceId": tid, "spanId": f"{t + 1:016x}", "name": "GET /orders", "kind": 3,
                          "startTimeUnixNano": str(now - 5_000_000), "endTimeUnixNano": str(now)})
        else:
            spans.append({"traceId": tid, "spanId": f"{t + 100_001:016x}", "parentSpanId": f"{t + 1:016x}",
                          "name": "GET /orders", "kind": 2, "startTimeUnixNano": str(now - 4_000_000),
                          "endTimeUnixNano": str(now - 1_000_000)})
    service = "front" if side == "client" else "orders"
    return orjson.dumps({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"spans": spans}]}]})


def aggregator(kafka_url: str, tmp_path: Path, name: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _port()
    env = {**os.environ, "AIRDIG_BUS_URL": kafka_url, "AIRDIG_DATA_DIR": str(tmp_path / name),
           "AIRDIG_LOG_LEVEL": "error", "AIRDIG_AUTH": "off"}
    proc = subprocess.Popen([sys.executable, "-m", "airdig.cli", "tracecore", "serve", "--host", "127.0.0.1",
                             "--otlp-http-port", str(port), "--otlp-grpc-port", str(_port()), "--no-store",
                             "--window", "3", "--pair-wait", "60", "--window-lateness", "1"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    return proc, f"http://127.0.0.1:{port}"


def metric(url: str, name: str) -> float:
    try:
        text = httpx.get(f"{url}/metrics", timeout=5).text
    except httpx.TransportError:
        return -1.0
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return -1.0


def test_aggregator_sigkilled_with_pairs_in_flight(kafka_url: str, tmp_path: Path, report: Report) -> None:
    bus = open_bus(kafka_url)
    sink = BusSink(bus, TraceCoreMetrics())
    half = TRACES // 2
    now = time.time_ns()
    # the halves A will hold come first on each partition, so its commit stays below the records of the
    # calls it publishes, and B's replay reads those again
    sink(decode_json(halves("client", range(half, TRACES), now)).spans)
    sink(decode_json(halves("client", range(half), now)).spans)
    sink(decode_json(halves("server", range(half), now)).spans)
    consumer = bus.consumer("edge-reader", [TOPIC_TRACES])
    calls = repeated = 0
    seen: set[str] = set()

    def read(timeout: float) -> None:
        nonlocal calls, repeated
        for rec in consumer.poll(500, timeout=timeout):
            if is_span_block(rec.value):  # span batches, binary
                continue
            ev = CloudEvent.decode(rec.value)
            if ev.type == "airdig.trace.edge" and ev.data.get("type") == "calls" and ev.data.get("stats") \
                    and (ev.data.get("src"), ev.data.get("dst")) == ("service://_/front", "service://_/orders"):
                if ev.id in seen:
                    repeated += 1
                    continue
                seen.add(ev.id)
                calls += int(ev.data["stats"]["request_count"])

    a, url_a = aggregator(kafka_url, tmp_path, "a")
    b = None
    try:
        deadline = time.monotonic() + 60
        while calls < half or metric(url_a, "tracecore_pending_halves") < TRACES - half:
            assert a.poll() is None and time.monotonic() < deadline, \
                f"aggregator A never published {half} calls and held {TRACES - half} halves ({calls} calls)"
            read(0.2)
        assert calls == half
        os.kill(a.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        a.wait(10)
        sink(decode_json(halves("server", range(half, TRACES))).spans)
        b, url_b = aggregator(kafka_url, tmp_path, "b")
        recovery: float | None = None
        # A's session (10 s) must expire before the group gives B its partitions
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            read(0.5)
            if calls >= TRACES and recovery is None:
                recovery = time.monotonic() - killed_at
                deadline = time.monotonic() + 8  # a while longer: a second count would show up here
        consumer.close()
        b_alive = b.poll() is None
        b_pending = metric(url_b, "tracecore_pending_halves")
        skipped = metric(url_b, "tracecore_replayed_calls_skipped_total")
    finally:
        for proc in (a, b):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(20)
        bus.close()
    report.add(Row("TraceCore aggregator SIGKILLed with pairs in flight (Kafka)", TRACES, min(calls, TRACES), 0,
                   max(0, TRACES - calls), max(0, calls - TRACES), recovery, 0 if b_alive else 1,
                   f"killed after publishing {half} calls, holding {TRACES - half} client halves (offsets "
                   f"committed only below what is published); a second aggregator replayed from the last commit, "
                   f"paired the held halves with their server halves and recognised {max(0, int(skipped))} "
                   f"replayed calls as published; {repeated} edge events seen twice (same id: applied once); "
                   f"B left {int(b_pending)} halves waiting"))
    assert calls == TRACES
    assert skipped == half  # the replay did meet A's published calls, and did not count them again
    assert b_alive
