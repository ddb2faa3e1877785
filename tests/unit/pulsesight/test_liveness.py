"""PulseSight's /healthz reports a background thread dead beyond recovery (issue 13)."""

from __future__ import annotations

import threading
import time

from starlette.testclient import TestClient

from airdig.pulsesight.mapping import StaticResolver
from airdig.pulsesight.service import PulseSight
from airdig.pulsesight.webhooks import build_app


def test_healthz_is_503_once_a_pulsesight_thread_is_given_up() -> None:
    ps = PulseSight([], {}, StaticResolver({}), None)
    client = TestClient(build_app(ps))
    assert client.get("/healthz").status_code == 200
    ps.supervisor.max_restarts, ps.supervisor.backoff = 1, 0.01

    def broken() -> None:
        raise RuntimeError("evaluator bug")

    stop = threading.Event()
    ps.supervisor.spawn("pulsesight-eval", broken, stop)
    deadline = time.monotonic() + 10
    while ps.supervisor.liveness() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    r = client.get("/healthz")
    assert r.status_code == 503 and "evaluator bug" in r.json()["reason"]
    assert ps.metrics.registry.get_sample_value("airdig_thread_restarts_total", {"thread": "pulsesight-eval"}) == 1
    stop.set()
