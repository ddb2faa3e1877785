"""TraceCore's OTLP/HTTP probes: a hung backend ping never holds up the event loop (it used to run
inline in ``/readyz``, so one slow Kafka ping froze span intake and every probe)."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from airdig.tracecore.ingest import Ingest
from airdig.tracecore.metrics import TraceCoreMetrics
from airdig.tracecore.receiver_http import otlp_http_app
from tests.unit.ui.servers import serve


def test_a_hung_backend_ping_does_not_block_intake_or_liveness() -> None:
    metrics = TraceCoreMetrics()
    ingest = Ingest([lambda spans: None], metrics)

    def hung() -> str | None:
        time.sleep(4)
        return None

    try:
        with serve(otlp_http_app(ingest, metrics, ready=hung)) as url:
            out: list[Any] = []
            t = threading.Thread(target=lambda: out.append(httpx.get(f"{url}/readyz", timeout=10)))
            t.start()
            time.sleep(0.3)
            started = time.monotonic()
            assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
            r = httpx.post(f"{url}/v1/traces", content=b"{}", headers={"content-type": "application/json"}, timeout=5)
            assert r.status_code == 200
            assert time.monotonic() - started < 1.0
            t.join(10)
            assert out[0].status_code == 503 and "no answer within" in out[0].text
    finally:
        ingest.stop(1)
