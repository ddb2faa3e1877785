"""A slow store call never freezes the engine: while root causes run, probes and hot reads answer fast.

The slow part is artificial (the root-cause walk sleeps 3 s first, as a store call stuck on a slow
query would): what is measured is whether anything else is answered meanwhile. Before the edge work,
resolvers and REST handlers ran on the event loop and every other request waited the 3 s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from airdig.backends.registry import open_bus, open_cache, open_store
from airdig.engine.app import build_app
from airdig.engine.intel import rootcause
from airdig.engine.service import EngineService
from tests.unit.engine.test_api import ARN, seed
from tests.unit.ui.servers import serve

SLOW = 3.0


@pytest.fixture
def engine(store_url: str, data_dir: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, EngineService]]:
    store = open_store(store_url)
    store.migrate()
    svc = EngineService(store=store, bus=open_bus(f"embedded://{data_dir / 'bus.db'}"), cache=open_cache("memory://"),
                        group="offloop-test")
    svc.start()
    seed(svc)
    real = rootcause.dig

    def slow_dig(*args: Any, **kwargs: Any) -> Any:
        time.sleep(SLOW)
        return real(*args, **kwargs)

    monkeypatch.setattr(rootcause, "dig", slow_dig)
    with serve(build_app(svc)) as url:  # the default edge: body limit, Origin check
        yield url, svc
    svc.stop()


def _in_background(fn: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    t = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    t.start()
    return t, out


def test_probes_and_resource_answer_while_root_causes_run(engine: tuple[str, EngineService]) -> None:
    url, _ = engine
    query = {"query": "query($id: ID!) { rootCause(id: $id) { symptom } }", "variables": {"id": ARN}}
    slow = [_in_background(lambda: httpx.post(f"{url}/graphql", json=query, timeout=30)) for _ in range(2)]
    slow.append(_in_background(lambda: httpx.get(f"{url}/api/v1/root-cause/{ARN}", timeout=30)))
    time.sleep(0.5)  # the root causes are in their slow store call now
    started = time.monotonic()
    with httpx.Client(base_url=url, timeout=10) as c:
        latencies = []
        for _ in range(20):
            t0 = time.monotonic()
            assert c.get("/healthz").status_code == 200
            r = c.post("/graphql", json={"query": "query($id: ID!) { resource(id: $id) { id name } }",
                                         "variables": {"id": ARN}})
            assert r.json()["data"]["resource"] == {"id": ARN, "name": "checkout-web"}
            assert c.get(f"/api/v1/resources/{ARN}").json()["id"] == ARN
            latencies.append(time.monotonic() - t0)
    elapsed = time.monotonic() - started
    assert elapsed < SLOW - 0.8, f"60 requests took {elapsed:.2f}s while root causes ran"
    assert max(latencies) < 0.5, latencies
    assert all(t.is_alive() for t, _ in slow), "the root causes finished too early to prove anything"
    for t, out in slow:
        t.join(30)
        assert out and out[0].status_code == 200, out


def test_readyz_does_not_block_the_loop(engine: tuple[str, EngineService], monkeypatch: pytest.MonkeyPatch) -> None:
    url, svc = engine
    monkeypatch.setattr(svc.store, "ping", lambda: time.sleep(SLOW))
    t, out = _in_background(lambda: httpx.get(f"{url}/readyz", timeout=30))
    time.sleep(0.2)
    t0 = time.monotonic()
    assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    assert time.monotonic() - t0 < 0.5
    t.join(30)
    assert out[0].status_code == 503 and "no answer within" in out[0].json()["checks"]["store"]
