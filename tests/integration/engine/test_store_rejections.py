"""An event the store cannot hold is dead-lettered with its reason; the rest of its batch applies and the
partition keeps flowing (issue 13).

The 600-character ``service.name`` enters as OTLP/JSON, goes through TraceCore's decoder and aggregator
onto the bus, and reaches the engine's processor: on MariaDB in strict mode (its default) and on SQLite,
which enforces no lengths, with the same reason, because the column limits are checked before writing.
The store's own verdicts (rejected: dead-letter; transient: retry) are checked on MariaDB and on TiDB,
whose snapshot isolation and size limits add errors of their own (write conflict, entry too large).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pymysql
import pytest

from airdig.backends.interfaces import Bus, Record, Store
from airdig.backends.registry import open_bus, open_store
from airdig.engine.apply import Applier, Plan
from airdig.engine.processor import EventProcessor
from airdig.errors import BackendUnavailable
from airdig.model.events import TOPIC_DEADLETTER, TOPIC_RESOURCES, CloudEvent, resource_event
from airdig.model.graph import Node
from airdig.tracecore.aggregator import Aggregator
from airdig.tracecore.metrics import TraceCoreMetrics
from airdig.tracecore.otlp_json import decode_json

LONG = "svc-" + "x" * 596  # 600 characters


def otlp(service: str, trace: str) -> bytes:
    span = {"traceId": trace * 32, "spanId": "1" * 16, "name": "GET /", "kind": 2,
            "startTimeUnixNano": str(time.time_ns() - 5_000_000), "endTimeUnixNano": str(time.time_ns())}
    return orjson.dumps({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"spans": [span]}]}]})


@pytest.fixture(params=["embedded", "distributed"])
def stack(request: pytest.FixtureRequest, data_dir: Path) -> Iterator[tuple[Store, Bus, str]]:
    if request.param == "embedded":
        store_url, bus_url = f"sqlite:///{data_dir / 'airdig.db'}", f"embedded://{data_dir / 'bus.db'}"
    else:
        store_url, bus_url = request.getfixturevalue("mysql_url"), request.getfixturevalue("kafka_url")
    store = open_store(store_url)
    store.migrate()
    bus = open_bus(bus_url)
    yield store, bus, bus_url
    bus.close()
    store.close()


def wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def dead_letters(bus_url: str, n: int) -> list[dict[str, object]]:
    bus = open_bus(bus_url)
    c = bus.consumer("dlq-reader", [TOPIC_DEADLETTER])
    got: list[Record] = []
    deadline = time.monotonic() + 30
    while len(got) < n and time.monotonic() < deadline:
        got += c.poll(100, timeout=0.5)
    c.close()
    bus.close()
    return [orjson.loads(r.value) for r in got]


def test_a_600_character_service_name_is_dead_lettered_and_the_partition_flows(
        stack: tuple[Store, Bus, str]) -> None:
    store, bus, bus_url = stack
    agg = Aggregator(bus, TraceCoreMetrics(), consume=False)
    for service, trace in ((LONG, "a"), ("checkout", "b")):
        agg.offer(decode_json(otlp(service, trace)).spans)
    events = agg.publish_window()
    bad = next(ev for ev in events if LONG in ev.subject)
    # after the bad event, on its very partition (same key), a good one: it must apply
    later = resource_event("created", Node(id="arn:aws:sqs:us-east-1:1:q", kind="aws.sqs.queue", name="q"), "t")
    bus.publish(TOPIC_RESOURCES, bad.subject, later.encode())
    bus.flush()
    p = EventProcessor(store, bus, None, "engine", batch_size=50)
    p.start()
    try:
        wait_for(lambda: store.get_node(later.subject) is not None and p.stats.deadlettered == 1, 60,
                 "the later event applied and the long one parked")
        assert p.alive
    finally:
        p.stop()
    assert store.get_node("service://_/checkout") is not None
    assert store.get_node(bad.subject) is None
    [dead] = dead_letters(bus_url, 1)
    assert dead["topic"] == "airdig.traces"
    assert "nodes.id is 612 characters, longer than the 512 its column holds" in str(dead["reason"])


def _service(sid: str, t: float) -> CloudEvent:
    return CloudEvent(type="airdig.trace.service", source="tracecore", subject=sid, time=t,
                      data={"node": {"id": sid, "kind": "service", "name": sid[:40]}})


def _rec(ev: CloudEvent, offset: int) -> Record:
    return Record(ev.topic, 0, offset, ev.subject, ev.encode(), ev.time)


MYSQL_SERVERS = pytest.mark.parametrize("server", ["mysql_url", "tidb_url"], ids=["mariadb", "tidb"])


@MYSQL_SERVERS
def test_mariadb_rejection_is_bisected_to_the_one_bad_event(server: str, request: pytest.FixtureRequest,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The store's own rejection (strict mode: ``Data too long``) is the second line of defence: with the
    column check switched off, the batch is split down to the bad event and the other 39 apply."""
    monkeypatch.setattr(Plan, "check_limits", lambda self, event_id: None)
    store = open_store(request.getfixturevalue(server))
    store.migrate()
    try:
        events = [_service(f"service://s{i}", 10.0 + i) for i in range(40)]
        events[23] = _service("service://" + "y" * 600, 33.0)
        result = Applier(store).apply([_rec(ev, i) for i, ev in enumerate(events)])
        assert result.applied == 39
        [(rec, reason)] = result.dead
        assert rec.offset == 23
        assert "Data too long" in reason and "error 1406" in reason
        assert store.table_counts()["nodes"] == 39
    finally:
        store.close()


@MYSQL_SERVERS
def test_lock_wait_timeout_is_transient_on_mariadb(server: str, request: pytest.FixtureRequest) -> None:
    """A row lock held by another session makes the write time out (error 1205; on TiDB in its default
    pessimistic mode too): an outage to retry, never a reason to dead-letter."""
    mysql_url: str = request.getfixturevalue(server)
    store = open_store(mysql_url)
    store.migrate()
    ev = _service("service://locked", 1.0)
    Applier(store).apply([_rec(ev, 0)])
    from urllib.parse import urlsplit

    parts = urlsplit(mysql_url)
    other = pymysql.connect(host=parts.hostname, port=parts.port or 3306, user=parts.username,
                            password=parts.password or "", database=parts.path.lstrip("/"), autocommit=False)
    try:
        with other.cursor() as cur:
            cur.execute("SELECT id FROM nodes WHERE id = %s FOR UPDATE", ("service://locked",))
        failed: list[Exception] = []

        def write() -> None:  # a thread of its own, so a connection of its own
            with store.transaction() as tx:
                tx.run("SET SESSION innodb_lock_wait_timeout = 1")
            try:
                Applier(store).apply([_rec(_service("service://locked", 2.0), 1)])
            except Exception as exc:
                failed.append(exc)

        t = threading.Thread(target=write)
        t.start()
        t.join(30)
        assert len(failed) == 1 and isinstance(failed[0], BackendUnavailable), failed
        assert "error 1205" in str(failed[0])
    finally:
        other.rollback()
        other.close()
        store.close()


def _other_session(url: str) -> Any:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return pymysql.connect(host=parts.hostname, port=parts.port or 3306, user=parts.username,
                           password=parts.password or "", database=parts.path.lstrip("/"), autocommit=True)


def _name(store: Store, node_id: str) -> str:
    node = store.get_node(node_id)
    assert node is not None
    return node.name


def test_write_conflict_is_transient_on_tidb(tidb_url: str) -> None:
    """Under TiDB's snapshot isolation an optimistic transaction whose row another session changed since
    it began fails at commit with a write conflict (error 9007): retried, never dead-lettered."""
    store = open_store(tidb_url)
    store.migrate()
    Applier(store).apply([_rec(_service("service://raced", 1.0), 0)])
    with store.transaction() as tx:  # this thread's connection; the mode applies from its next transaction
        tx.run("SET SESSION tidb_txn_mode = 'optimistic'")
    other = _other_session(tidb_url)
    try:
        with pytest.raises(BackendUnavailable) as caught, store.transaction() as tx:
            tx.run("UPDATE nodes SET name = ? WHERE id = ?", ("mine", "service://raced"))
            with other.cursor() as cur:  # commits first
                cur.execute("UPDATE nodes SET name = %s WHERE id = %s", ("theirs", "service://raced"))
        assert "error 9007" in str(caught.value) and "Write conflict" in str(caught.value)
        # the other session's write stands; the retry (a fresh transaction) succeeds
        assert _name(store, "service://raced") == "theirs"
        with store.transaction() as tx:
            tx.run("UPDATE nodes SET name = ? WHERE id = ?", ("mine", "service://raced"))
        assert _name(store, "service://raced") == "mine"
    finally:
        other.close()
        store.close()


def test_a_row_over_tidbs_entry_size_limit_is_dead_lettered_alone(tidb_url: str) -> None:
    """TiDB refuses one row larger than ``txn-entry-size-limit`` (6 MB by default; MariaDB's MEDIUMTEXT
    holds 16 MB) with error 8025: the data's fault, so only that event is set aside and its batch applies."""
    store = open_store(tidb_url)
    store.migrate()
    try:
        events = [_service(f"service://s{i}", 10.0 + i) for i in range(6)]
        big = resource_event("created", Node(id="arn:aws:s3:::big", kind="aws.s3.bucket", name="big",
                                             attrs={"policy": "p" * 7_000_000}), "skygraph")
        records = [_rec(ev, i) for i, ev in enumerate(events)]
        records.insert(3, _rec(big, 99))
        result = Applier(store).apply(records)
        assert result.applied == 6
        [(rec, reason)] = result.dead
        assert rec.offset == 99
        assert "error 8025" in reason and "entry too large" in reason.lower()
        assert store.table_counts()["nodes"] == 6
    finally:
        store.close()
