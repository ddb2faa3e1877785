"""Background threads under the supervisor (issue 13): a thread that dies is restarted and counted, one
that keeps dying makes ``/healthz`` answer 503, and the Redis subscriber survives its connection dying."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from airdig.backends.registry import open_bus, open_cache, open_store
from airdig.engine.app import build_app
from airdig.engine.apply import Applier
from airdig.engine.metrics import EngineMetrics
from airdig.engine.processor import EventProcessor
from airdig.engine.service import EngineService
from airdig.model.events import TOPIC_RESOURCES, TOPIC_TRACES, CloudEvent, resource_event
from airdig.model.graph import Node
from airdig.supervisor import Supervisor
from airdig.tracecore.aggregator import Aggregator
from airdig.tracecore.metrics import TraceCoreMetrics

I1 = "arn:aws:ec2:us-east-1:123456789012:instance/i-0sup"


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _fail_first(monkeypatch: pytest.MonkeyPatch, cls: type, name: str, times: int) -> list[int]:
    """Make ``cls.name`` raise an unexpected error on its first ``times`` calls (a bug, not an outage)."""
    original = getattr(cls, name)
    calls = [0]

    def flaky(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] <= times:
            raise RuntimeError(f"injected failure {calls[0]}")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, name, flaky)
    return calls


def test_a_dead_processor_thread_is_restarted_and_its_batch_applied(data_dir: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(f"sqlite:///{data_dir / 'a.db'}")
    store.migrate()
    bus = open_bus(f"embedded://{data_dir / 'bus.db'}")
    ev = resource_event("created", Node(id=I1, kind="aws.ec2.instance", name="web"), "test", time=5.0)
    bus.publish(TOPIC_RESOURCES, ev.subject, ev.encode())
    bus.flush()
    _fail_first(monkeypatch, Applier, "prepare", 1)
    metrics = EngineMetrics()
    p = EventProcessor(store, bus, None, "engine", metrics,
                       supervisor=Supervisor("engine", metrics.thread_restarts, backoff=0.05))
    p.start()
    try:
        wait_for(lambda: store.get_node(I1) is not None, 20, "the batch applied after the restart")
        assert p.alive
        assert metrics.registry.get_sample_value("airdig_thread_restarts_total",
                                                 {"thread": p.thread_name}) == 1.0
    finally:
        p.stop()
        bus.close()
        store.close()


def test_healthz_is_503_once_a_thread_is_dead_beyond_recovery(data_dir: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(f"sqlite:///{data_dir / 'a.db'}")
    store.migrate()
    bus = open_bus(f"embedded://{data_dir / 'bus.db'}")
    ev = resource_event("created", Node(id=I1, kind="aws.ec2.instance", name="web"), "test", time=5.0)
    bus.publish(TOPIC_RESOURCES, ev.subject, ev.encode())
    bus.flush()
    _fail_first(monkeypatch, Applier, "prepare", 1000)
    metrics = EngineMetrics()
    svc = EngineService(store=store, bus=bus, cache=open_cache("memory://"), metrics=metrics,
                        supervisor=Supervisor("engine", metrics.thread_restarts, max_restarts=2, backoff=0.02))
    client = TestClient(build_app(svc))
    assert client.get("/healthz").status_code == 200
    svc.start()
    try:
        wait_for(lambda: svc.liveness() is not None, 20, "the supervisor to give the processor up")
        r = client.get("/healthz")
        assert r.status_code == 503
        reason = r.json()["checks"]["threads"]
        assert "died 3 times" in reason and "injected failure" in reason
        assert client.get("/readyz").json()["checks"]["processor"] == "stopped"
    finally:
        svc.stop()


def test_the_aggregator_thread_is_restarted_and_reads_its_records_again(data_dir: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    bus = open_bus(f"embedded://{data_dir / 'bus.db'}")
    span = CloudEvent(type="airdig.trace.span", source="tracecore", subject="t1", time=1.0,
                      data={"spans": []})
    bus.publish(TOPIC_TRACES, "t1", span.encode())
    bus.flush()
    calls = _fail_first(monkeypatch, Aggregator, "handle_records", 1)  # the loop hands it each poll
    metrics = TraceCoreMetrics()
    agg = Aggregator(bus, metrics, window_seconds=3600)
    agg.supervisor.backoff = 0.05
    agg.start()
    try:
        # the record is handled again by the restarted loop: the dead run never committed it
        wait_for(lambda: calls[0] >= 2, 20, "the restarted aggregator to read the record again")
        assert agg.alive
        assert metrics.registry.get_sample_value("airdig_thread_restarts_total",
                                                 {"thread": f"tracecore-aggregator-{agg.member}"}) == 1.0
    finally:
        agg.stop(flush=False)
        bus.close()


def test_the_redis_subscriber_survives_its_connection_being_killed(redis_url: str) -> None:
    cache = open_cache(redis_url)
    got: list[bytes] = []
    sub = cache.subscribe("graph-changes", got.append)
    try:
        cache.publish("graph-changes", b"one")
        wait_for(lambda: b"one" in got, 10, "the first message")
        # kill exactly this subscriber's connection (the server is shared with other tests)
        host, port = sub._pubsub.connection._sock.getsockname()[:2]  # type: ignore[attr-defined]
        admin = redis.Redis.from_url(redis_url.split("?")[0])
        assert admin.client_kill(f"{host}:{port}")
        admin.close()
        # once the subscriber reconnected and subscribed again, messages flow again
        deadline = time.monotonic() + 20
        while b"two" not in got and time.monotonic() < deadline:
            cache.publish("graph-changes", b"two")
            time.sleep(0.2)
        assert b"two" in got
        assert cache.supervisor.liveness() is None
    finally:
        sub.close()
        cache.close()
    assert not [t for t in threading.enumerate() if t.name == "redis-subscriber-graph-changes" and t.is_alive()]
