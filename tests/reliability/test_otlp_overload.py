"""5x overload of the OTLP/HTTP receiver of a real ``airdig tracecore serve`` process publishing to Kafka:
what it cannot take it refuses with 429 (queue full) or 503 (bus failing) and a ``Retry-After``, its
memory stays under a ceiling, nothing it accepted is lost, and it serves normally once the load stops.

The capacity is measured first in the same run (one client, back to back); the overload is an open-loop
client offering 5x that rate. Shared Kafka, in a topic prefix of its own.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import orjson
import pytest

from airdig.backends.registry import open_bus
from airdig.model.events import TOPIC_TRACES, is_span_block
from airdig.tracecore import spanblock

from .conftest import Report, Row

SPANS_PER_REQUEST = 200
QUEUE = 4000
RSS_CEILING_MB = 400


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def body(n: int, seq: int) -> bytes:
    now = time.time_ns()
    spans = [{"traceId": f"{seq:016x}{i:016x}", "spanId": f"{i + 1:016x}", "name": "GET /", "kind": 2,
              "startTimeUnixNano": str(now - 1_000_000), "endTimeUnixNano": str(now)} for i in range(n)]
    return orjson.dumps({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "load"}}]},
        "scopeSpans": [{"spans": spans}]}]})


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_five_times_overload_of_the_otlp_http_receiver(kafka_url: str, tmp_path: Path, report: Report) -> None:
    port, grpc = _port(), _port()
    env = {**os.environ, "AIRDIG_BUS_URL": kafka_url, "AIRDIG_DATA_DIR": str(tmp_path), "AIRDIG_LOG_LEVEL": "error",
           "AIRDIG_AUTH": "off"}
    log = (tmp_path / "tracecore.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "airdig.cli", "tracecore", "serve", "--host", "127.0.0.1",
                             "--otlp-http-port", str(port), "--otlp-grpc-port", str(grpc), "--no-aggregate",
                             "--no-store", "--max-queue-spans", str(QUEUE)], env=env,
                            stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    client = httpx.Client(timeout=10)
    counts = {"accepted": 0, "429": 0, "503": 0, "other": 0, "no_retry_after": 0}
    lock = threading.Lock()
    peak = [0.0]
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if client.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("tracecore did not start: " + (tmp_path / "tracecore.log").read_text()[-3000:])
            time.sleep(0.2)
        base_rss = rss_mb(proc.pid)
        # capacity: one client back to back for 3 s
        t0, done, seq = time.monotonic(), 0, 0
        while time.monotonic() - t0 < 3:
            seq += 1
            r = client.post(f"{url}/v1/traces", content=body(SPANS_PER_REQUEST, seq),
                            headers={"content-type": "application/json"})
            if r.status_code == 200:
                done += SPANS_PER_REQUEST
        capacity = done / (time.monotonic() - t0)
        offered_rate = 5 * capacity / SPANS_PER_REQUEST  # requests per second
        payloads = [body(SPANS_PER_REQUEST, 10_000 + i) for i in range(64)]

        def one(i: int) -> None:
            try:
                r = client.post(f"{url}/v1/traces", content=payloads[i % 64],
                                headers={"content-type": "application/json"})
                code = r.status_code
                retry = r.headers.get("retry-after")
            except httpx.TransportError:
                code, retry = 0, None
            with lock:
                if code == 200:
                    counts["accepted"] += SPANS_PER_REQUEST
                elif code in (429, 503):
                    counts[str(code)] += SPANS_PER_REQUEST
                    if not retry:
                        counts["no_retry_after"] += 1
                else:
                    counts["other"] += 1

        sent = 0
        start = time.monotonic()
        with ThreadPoolExecutor(32) as pool:
            while time.monotonic() - start < 5:
                due = int((time.monotonic() - start) * offered_rate)
                while sent < due:
                    pool.submit(one, sent)
                    sent += 1
                peak[0] = max(peak[0], rss_mb(proc.pid))
                time.sleep(0.01)
        offered_ratio = sent * SPANS_PER_REQUEST / 5 / capacity
        # recovery: the first request accepted after the load
        stop = time.monotonic()
        while client.post(f"{url}/v1/traces", content=body(10, 99_999),
                          headers={"content-type": "application/json"}).status_code != 200:
            assert time.monotonic() - stop < 60
            time.sleep(0.2)
        recovery = time.monotonic() - stop
        alive = proc.poll() is None and client.get(f"{url}/healthz").status_code == 200
    finally:
        client.close()
        proc.terminate()
        proc.wait(30)
        log.close()
    # every accepted span reached the bus (seq 10_000+ are the overload's; the capacity run's too)
    bus = open_bus(kafka_url)
    consumer = bus.consumer("count", [TOPIC_TRACES])
    on_bus = 0
    deadline = time.monotonic() + 60
    expected = counts["accepted"] + done + 10
    while on_bus < expected and time.monotonic() < deadline:
        for rec in consumer.poll(1000, timeout=0.5):  # span blocks, or JSON span events for what a block cannot carry
            on_bus += len(spanblock.decode(rec.value) if is_span_block(rec.value)
                          else orjson.loads(rec.value)["data"]["spans"])
    consumer.close()
    bus.close()
    total = sent * SPANS_PER_REQUEST
    report.add(Row("5x overload of OTLP/HTTP (tracecore serve, Kafka)", total, counts["accepted"], 0,
                   max(0, expected - on_bus), max(0, on_bus - expected), recovery, 0 if alive else 1,
                   f"capacity {capacity:,.0f} spans/s, offered {offered_ratio:.1f}x for 5 s; refused "
                   f"{counts['429']} spans with 429 and {counts['503']} with 503, all with Retry-After; RSS "
                   f"{base_rss:.0f} -> peak {peak[0]:.0f} MB (ceiling {RSS_CEILING_MB}); 'sent' counts "
                   "spans offered, 'lost' spans accepted but not on the bus"))
    assert alive
    assert counts["other"] == 0 and counts["no_retry_after"] == 0
    assert counts["429"] + counts["503"] > 0, counts
    assert peak[0] < RSS_CEILING_MB
    assert on_bus == expected
