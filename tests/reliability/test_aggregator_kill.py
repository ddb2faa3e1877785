"""A TraceCore aggregator process (``airdig tracecore serve``) SIGKILLed while it holds client halves
waiting for their server halves; a second aggregator takes over the partitions and the server halves
arrive. Counts the calls that reach the bus in ``airdig.trace.edge`` statistics against the calls sent.

KNOWN GAP (not fixed by issue 13's branch): the aggregator commits its consumer offsets after every
poll, so the halves it held in memory, and the statistics of its open window, die with it; the test is
``xfail(strict=True)`` and the loss is recorded in docs/reliability.md. Fixing it means committing only
at window publication AND publishing before a rebalance takes partitions away (an on-revoke hook the
bus interface does not have yet), or the open window would be counted twice on every scale event.
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
import pytest

from airdig.backends.registry import open_bus
from airdig.model.events import TOPIC_TRACES, CloudEvent
from airdig.tracecore.ingest import BusSink
from airdig.tracecore.metrics import TraceCoreMetrics
from airdig.tracecore.otlp_json import decode_json

from .conftest import Report, Row

TRACES = 200


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def halves(side: str) -> bytes:
    now = time.time_ns()
    spans = []
    for t in range(TRACES):
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
                             "--window", "3", "--pair-wait", "60"], env=env, stdout=subprocess.DEVNULL,
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


@pytest.mark.xfail(strict=True, reason="known gap: aggregator offsets are committed per poll, so halves and "
                                       "window statistics in memory die with a killed aggregator")
def test_aggregator_sigkilled_with_pairs_in_flight(kafka_url: str, tmp_path: Path, report: Report) -> None:
    bus = open_bus(kafka_url)
    sink = BusSink(bus, TraceCoreMetrics())
    sink(decode_json(halves("client")).spans)
    a, url_a = aggregator(kafka_url, tmp_path, "a")
    b = None
    try:
        deadline = time.monotonic() + 60
        while metric(url_a, "tracecore_pending_halves") < TRACES:
            assert a.poll() is None and time.monotonic() < deadline, "aggregator A never held the halves"
            time.sleep(0.2)
        os.kill(a.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        a.wait(10)
        sink(decode_json(halves("server")).spans)
        b, _ = aggregator(kafka_url, tmp_path, "b")
        calls = 0
        consumer = bus.consumer("edge-reader", [TOPIC_TRACES])
        deadline = time.monotonic() + 20
        while calls < TRACES and time.monotonic() < deadline:
            for rec in consumer.poll(500, timeout=0.5):
                ev = CloudEvent.decode(rec.value)
                if ev.type == "airdig.trace.edge" and ev.data.get("type") == "calls" and ev.data.get("stats") \
                        and (ev.data.get("src"), ev.data.get("dst")) == ("service://_/front", "service://_/orders"):
                    calls += int(ev.data["stats"]["request_count"])
        consumer.close()
        recovery = time.monotonic() - killed_at
        b_alive = b.poll() is None
    finally:
        for proc in (a, b):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(20)
        bus.close()
    report.add(Row("TraceCore aggregator SIGKILLed with pairs in flight (Kafka)", TRACES, calls, 0,
                   max(0, TRACES - calls), max(0, calls - TRACES), recovery if calls >= TRACES else None,
                   0 if b_alive else 1,
                   "KNOWN GAP: offsets are committed per poll, so the client halves held in memory died with "
                   "the killed aggregator; the server halves alone do not name the caller, so front -> orders "
                   "calls are missing from the service map"))
    assert calls == TRACES
