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


def test_a_cached_resource_is_answered_on_the_loop_and_an_apply_invalidates_it(
        engine: tuple[str, EngineService], monkeypatch: pytest.MonkeyPatch) -> None:
    """With the in-process cache a hot ``resource(id)`` needs no worker thread; after an applied batch
    (generation bump) the next read goes to the store again and sees the new state."""
    from airdig.engine.api.graphql import schema
    from airdig.model.events import TOPIC_RESOURCES, resource_event
    from airdig.model.graph import Node

    url, svc = engine
    hops: list[str] = []
    real = schema.run_in_threadpool

    async def counting(fn: Any, *args: Any) -> Any:
        hops.append(fn.__name__)
        return await real(fn, *args)

    monkeypatch.setattr(schema, "run_in_threadpool", counting)
    query = {"query": "query($id: ID!) { resource(id: $id) { name attrs } }", "variables": {"id": ARN}}
    with httpx.Client(base_url=url, timeout=10) as c:
        first = c.post("/graphql", json=query).json()["data"]["resource"]
        assert hops == ["_resource"]  # a miss: read in a worker thread, then cached
        for _ in range(5):
            assert c.post("/graphql", json=query).json()["data"]["resource"] == first
        assert hops == ["_resource"], "cache hits took a thread hop"
        native = c.post("/graphql", json={**query, "variables": {"id": "i-0abc"}}).json()["data"]["resource"]
        assert native == first and hops == ["_resource", "_resource"]  # a native id resolves in the store

        changed = Node(id=ARN, kind="aws.ec2.instance", provider="aws", account="123456789012",
                       region="us-east-1", name="checkout-web", attrs={"InstanceType": "c5.xlarge"})
        ev = resource_event("updated", changed, "test")
        svc.bus.publish(TOPIC_RESOURCES, ev.subject, ev.encode())
        svc.bus.flush()
        deadline = time.monotonic() + 30
        while c.post("/graphql", json=query).json()["data"]["resource"]["attrs"] != {"InstanceType": "c5.xlarge"}:
            assert time.monotonic() < deadline, "the cached read never saw the applied update"
            time.sleep(0.1)
        assert hops.count("_resource") >= 3  # the bump sent the read back to the store
