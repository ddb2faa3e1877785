"""Servers crash under a running engine: MariaDB killed (SIGKILL) mid-stream and restarted, the Kafka
broker restarted while events are published and consumed, Redis stopped and started again. Each on a
private server of this session (see conftest), never the shared ones.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from starlette.testclient import TestClient

from airdig.backends.registry import open_bus, open_cache, open_store
from airdig.engine.app import build_app
from airdig.engine.processor import EventProcessor
from airdig.engine.service import EngineService
from airdig.model.events import TOPIC_RESOURCES, resource_event
from airdig.model.graph import Node

from .conftest import PrivateServers, Report, Row


def _event(i: int, v: int) -> tuple[str, bytes]:
    node = Node(id=f"arn:aws:ec2:us-east-1:1:instance/i-{i:05d}", kind="aws.ec2.instance", name=f"n{i}",
                attrs={"seq": v})
    return node.id, resource_event("updated", node, "t", time=1000.0 + v).encode()


def _counts(store_url: str, last: int) -> tuple[int, int, int]:
    """(timeline rows, distinct event ids, nodes not at their last version)."""
    store = open_store(store_url)
    try:
        with store.transaction() as tx:
            rows = tx.fetch("SELECT COUNT(*), COUNT(DISTINCT id) FROM changes")[0]
            stale = tx.fetch("SELECT COUNT(*) FROM nodes WHERE attrs NOT LIKE ?", (f'%"seq":{last}%',))[0][0]
        return int(rows[0]), int(rows[1]), int(stale)
    finally:
        store.close()


def _wait(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_mariadb_killed_and_restarted_mid_stream(private: PrivateServers, kafka_url: str, report: Report) -> None:
    private.start("mariadb")
    url = private.url("mariadb")
    store = open_store(url)
    store.migrate()
    bus = open_bus(kafka_url)
    nodes, versions = 1000, 10
    for v in range(versions):
        for i in range(nodes):
            bus.publish(TOPIC_RESOURCES, *_event(i, v))
    bus.flush(60)
    sent = nodes * versions
    p = EventProcessor(store, bus, None, "engine", batch_size=500)
    p.start()
    try:
        assert _wait(lambda: p.stats.applied >= sent // 4, 60), p.stats
        private.kill("mariadb")  # a crash, not a clean shutdown: the batch in flight dies with it
        killed_at = time.monotonic()
        applied_at_kill = p.stats.applied
        downtime = private.start("mariadb")
        done = _wait(lambda: p.stats.applied + p.stats.duplicates >= sent and _counts(url, versions - 1)[0] >= sent,
                     90)
        recovery = time.monotonic() - killed_at
        alive = p.alive
        errors = p.stats.last_error
    finally:
        p.stop()
        bus.close()
        store.close()
    rows, distinct, stale = _counts(url, versions - 1)
    report.add(Row("MariaDB SIGKILLed mid-stream and restarted (private server)", sent, rows, 0, sent - rows,
                   rows - distinct, recovery, 0 if alive else 1,
                   f"killed after {applied_at_kill} applied, back in {downtime:.1f}s; the batch in flight "
                   f"was retried; {stale} nodes at a stale version"))
    assert done, (p.stats, errors)
    assert rows == distinct == sent and stale == 0 and alive


def test_kafka_broker_restarted_while_publishing_and_consuming(private: PrivateServers, tmp_path: Path,
                                                              report: Report) -> None:
    private.start("kafka")
    store_url = f"sqlite:///{tmp_path / 'a.db'}"
    store = open_store(store_url)
    store.migrate()
    bus_url = private.url("kafka") + "?partitions=4&prefix=rel."
    bus = open_bus(bus_url)
    p = EventProcessor(store, open_bus(bus_url), None, "engine", batch_size=200)
    p.start()
    nodes, versions = 300, 10
    sent = 0
    publish_failures = 0
    restarted = threading.Event()
    restart_took: list[float] = []

    def restart() -> None:
        private.kill("kafka")
        restart_took.append(private.start("kafka"))
        restarted.set()

    killer = threading.Thread(target=restart)
    killed_at = 0.0
    try:
        for v in range(versions):
            for i in range(nodes):
                bus.publish(TOPIC_RESOURCES, *_event(i, v))
                sent += 1
            while True:  # a producer keeps what the broker did not take and flushes again
                try:
                    bus.flush(10)
                    break
                except Exception:
                    publish_failures += 1
                    time.sleep(0.5)
            if v == 3:
                killed_at = time.monotonic()
                killer.start()
            time.sleep(0.3)
        killer.join(120)
        assert restarted.is_set()
        done = _wait(lambda: _counts(store_url, versions - 1)[0] >= sent, 120)
        recovery = time.monotonic() - killed_at
        alive = p.alive
    finally:
        p.stop()
        bus.close()
        p.bus.close()
    rows, distinct, stale = _counts(store_url, versions - 1)
    store.close()
    report.add(Row("Kafka broker SIGKILLed and restarted while publishing and consuming (private broker)", sent,
                   rows, 0, sent - rows, rows - distinct, recovery, 0 if alive else 1,
                   f"broker back in {restart_took[0]:.1f}s; {publish_failures} producer flushes retried; "
                   f"{stale} nodes at a stale version"))
    assert done and rows == distinct == sent and stale == 0 and alive


def test_redis_stopped_and_started_under_the_engine(private: PrivateServers, tmp_path: Path,
                                                   report: Report) -> None:
    private.start("redis")
    store = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    store.migrate()
    bus = open_bus(f"embedded://{tmp_path / 'bus.db'}")
    svc = EngineService(store=store, bus=bus, cache=open_cache(private.url("redis") + "?prefix=rel:"))
    client = TestClient(build_app(svc))
    got: list[bytes] = []
    sub = svc.cache.subscribe("graph-changes", got.append)
    svc.start()
    sent = 0
    try:
        def publish(n: int) -> None:
            nonlocal sent
            for i in range(n):
                bus.publish(TOPIC_RESOURCES, *_event(sent + i, 0))
            sent += n
            bus.flush()

        publish(50)
        assert _wait(lambda: svc.processor is not None and svc.processor.stats.applied == 50, 30)
        assert _wait(lambda: len(got) > 0, 10)
        private.kill("redis")
        stopped_at = time.monotonic()
        publish(50)  # applied while Redis is away: the store is the truth, fan-out is best effort
        assert _wait(lambda: svc.processor is not None and svc.processor.stats.applied == 100, 30)
        ready_down = client.get("/readyz")
        live_down = client.get("/healthz").status_code
        private.start("redis")
        before = len(got)
        # pub/sub is not durable: a message published before the subscriber is back is lost, so keep
        # applying batches until one's fan-out arrives
        deadline = time.monotonic() + 30
        recovered = False
        while not recovered and time.monotonic() < deadline:
            publish(10)
            recovered = _wait(lambda: len(got) > before, 1.0)
        recovery = time.monotonic() - stopped_at
        live_up = client.get("/healthz").status_code
        alive = svc.processor is not None and svc.processor.alive
        applied = store.table_counts()["nodes"]
    finally:
        sub.close()
        svc.stop()
    report.add(Row("Redis SIGKILLed and restarted under a running engine (private server)", sent, applied, 0,
                   sent - applied, 0, recovery, 0 if alive else 1,
                   "events applied throughout; /readyz 503 while Redis is away, /healthz stays 200; "
                   + ("the fan-out subscriber reconnected (messages published while Redis was away are lost: "
                      "best effort)" if recovered else "FAILED: fan-out did not resume")))
    assert ready_down.status_code == 503 and "redis" in ready_down.json()["checks"]["cache"]
    assert live_down == 200 and live_up == 200
    assert recovered and alive and applied == sent
