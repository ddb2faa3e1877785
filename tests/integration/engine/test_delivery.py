"""Delivery guarantees of the event path: no loss, no double count, stale never wins, bad input parked.

Runs on the embedded stack (SQLite + embedded bus) and on the distributed ones (a real Kafka broker with
MariaDB, MariaDB over TLS + Kafka SASL_SSL, or TiDB), with the same assertions.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from airdig.backends.interfaces import Bus, Consumer, NodeFilter, Record, Store
from airdig.backends.registry import open_bus, open_store
from airdig.backends.store.sql import SqlTx
from airdig.engine.apply import Applier, ApplyResult
from airdig.engine.processor import EventProcessor, _InFlight
from airdig.model.events import TOPIC_DEADLETTER, TOPIC_RESOURCES, resource_event
from airdig.model.graph import Node


@dataclass
class Stack:
    store: Store
    bus: Bus
    bus_url: str
    store_url: str


@pytest.fixture(params=["embedded", "distributed", "distributed-tls", "distributed-tidb"])
def stack(request: pytest.FixtureRequest, data_dir: Path) -> Iterator[Stack]:
    if request.param == "embedded":
        store_url, bus_url = f"sqlite:///{data_dir / 'airdig.db'}", f"embedded://{data_dir / 'bus.db'}"
    elif request.param == "distributed-tls":  # MariaDB over verified TLS, Kafka over SASL_SSL + SCRAM
        store_url, bus_url = request.getfixturevalue("mysql_tls_url"), request.getfixturevalue("kafka_sasl_url")
    elif request.param == "distributed-tidb":  # TiDB as the store, Kafka
        store_url, bus_url = request.getfixturevalue("tidb_url"), request.getfixturevalue("kafka_url")
    else:
        store_url, bus_url = request.getfixturevalue("mysql_url"), request.getfixturevalue("kafka_url")
    store = open_store(store_url)
    store.migrate()
    bus = open_bus(bus_url)
    yield Stack(store, bus, bus_url, store_url)
    bus.close()
    store.close()


def node(i: int, seq: int) -> Node:
    return Node(id=f"arn:aws:ec2:us-east-1:123456789012:instance/i-{i:06d}", kind="aws.ec2.instance",
                provider="aws", account="123456789012", region="us-east-1", name=f"web-{i}",
                attrs={"seq": seq, "InstanceType": "t3.micro"}, native_ids=(f"i-{i:06d}",))


def wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class CrashingProcessor(EventProcessor):
    """Dies after the store commit of its Nth batch but before committing the offsets: the worst moment."""

    def __init__(self, *args: object, crash_after: int, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.crash_after = crash_after
        self.crashed = False

    def _finish(self, consumer: Consumer, job: _InFlight) -> None:
        if self.crashed:
            late = job.future.result()  # the batch in flight reaches the store, its offsets never commit
            self.stats.applied += late.applied if late else 0
            return
        if self.stats.batches + 1 < self.crash_after:
            super()._finish(consumer, job)
            return
        result = job.future.result()  # applied and committed in the store ...
        assert result is not None
        self.stats.applied += result.applied
        self.stats.batches += 1
        self.crashed = True  # ... but the offsets never are
        self._stop.set()


def test_a_redelivered_batch_racing_its_first_delivery_applies_once(stack: Stack,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """After a rebalance the new owner can apply a batch while the old owner's transaction on the same
    events is still open. Whatever the interleaving, one of them applies each event and the other counts
    it as a duplicate: never both (both would announce it, and count it twice). The old owner is held
    inside its transaction until the new one, which starts reading only once the old one has, has read
    "not applied" (on MariaDB that read does not lock, so the two really overlap; TiDB's and SQLite's reads
    wait for the first transaction instead, and the old owner's wait times out)."""
    events = [resource_event("updated", node(i, 1), "test", time=1_000_000.0) for i in range(50)]
    records = [Record(TOPIC_RESOURCES, 0, i, ev.subject, ev.encode(), 1_000_000.0) for i, ev in enumerate(events)]
    a_has_read, b_has_read = threading.Event(), threading.Event()
    seen_events = SqlTx.seen_events

    def watched(self: SqlTx, event_ids: Sequence[str]) -> set[str]:
        new_owner = threading.current_thread().name == "new-owner"
        if new_owner:
            a_has_read.wait(3)  # the old owner's transaction is open and has read "not applied"
        found = seen_events(self, event_ids)
        (b_has_read if new_owner else a_has_read).set()
        return found

    def clock() -> float:  # called inside the write transaction
        if threading.current_thread().name == "old-owner":
            b_has_read.wait(3)
        return 1_000_000.0

    monkeypatch.setattr(SqlTx, "seen_events", watched)
    second = open_store(stack.store_url)
    results: dict[str, ApplyResult] = {}
    errors: list[BaseException] = []

    def run(name: str, store: Store) -> None:
        try:
            results[name] = Applier(store, clock=clock).apply(records)
        except BaseException as exc:  # reported below
            errors.append(exc)

    old = threading.Thread(target=run, args=("old", stack.store), name="old-owner")
    new = threading.Thread(target=run, args=("new", second), name="new-owner")
    try:
        old.start()
        new.start()
        old.join(60)
        new.join(60)
    finally:
        second.close()
    assert not errors, errors
    assert results["old"].applied + results["new"].applied == 50
    assert results["old"].duplicates + results["new"].duplicates == 50
    assert stack.store.table_counts()["changes"] == 50


def test_ten_thousand_events_two_consumers_one_dies(stack: Stack) -> None:
    events = [resource_event("updated", node(i, seq), "test", time=1_000_000.0 + seq)
              for i in range(1000) for seq in range(10)]
    random.Random(7).shuffle(events)  # stale updates arrive after newer ones, too
    for ev in events:
        stack.bus.publish(TOPIC_RESOURCES, ev.subject, ev.encode())
    stack.bus.flush()

    a = CrashingProcessor(stack.store, stack.bus, None, "engine", member_id="a", batch_size=250, crash_after=8)
    b = EventProcessor(stack.store, open_bus(stack.bus_url), None, "engine", member_id="b", batch_size=250)
    a.start()
    try:
        # B joins once A is under way, so A surely owns partitions with work left when it dies (had B started
        # first, it could drain A's partitions before the group rebalanced, and A would never reach its crash)
        wait_for(lambda: a.stats.batches >= 1, 60, "consumer A's first batch")
        b.start()
        wait_for(lambda: a.crashed, 120, "consumer A to die mid-stream")
        wait_for(lambda: stack.store.table_counts()["changes"] >= 10_000, 120, "all events applied")
        # give B the time to receive (and drop) what A applied but never committed
        wait_for(lambda: b.stats.lag == {} or sum(b.stats.lag.values()) == 0, 60, "B to catch up")
    finally:
        a.stop()
        b.stop()
        b.bus.close()

    counts = stack.store.table_counts()
    # one timeline row per event (it also records the event id for de-duplication): none lost, none doubled
    assert counts["changes"] == 10_000
    assert counts["nodes"] == 1000
    assert a.stats.applied + b.stats.applied == 10_000
    assert a.stats.applied > 0 and b.stats.applied > 0
    # what A applied without committing came back to B and was recognised
    assert b.stats.duplicates > 0
    nodes = {n.id: n for n in stack.store.list_nodes(NodeFilter(), 100, None)}
    assert nodes and all(n.attrs["seq"] == 9 and n.version == 1_000_009.0 for n in nodes.values())
    for i in (0, 499, 999):
        n = stack.store.get_node(node(i, 0).id)
        assert n is not None and n.attrs["seq"] == 9


def test_stale_event_after_newer_does_not_win(stack: Stack) -> None:
    newer = resource_event("updated", node(1, 2), "test", time=2000.0)
    older = resource_event("updated", node(1, 1), "test", time=1000.0)
    for ev in (newer, older):
        stack.bus.publish(TOPIC_RESOURCES, ev.subject, ev.encode())
    stack.bus.flush()
    p = EventProcessor(stack.store, stack.bus, None, "engine")
    p.start()
    try:
        wait_for(lambda: p.stats.applied == 2, 30, "both events applied")
    finally:
        p.stop()
    n = stack.store.get_node(node(1, 0).id)
    assert n is not None and n.attrs["seq"] == 2 and n.version == 2000.0
    # both changes are history, in time order
    assert [c.time for c in stack.store.changes(n.id, None, None)] == [2000.0, 1000.0]


def _dead_letters(bus_url: str, want: int) -> Sequence[Record]:
    bus = open_bus(bus_url)
    c = bus.consumer("dlq-reader", [TOPIC_DEADLETTER])
    got: list[Record] = []
    deadline = time.monotonic() + 30
    while len(got) < want and time.monotonic() < deadline:
        got += c.poll(100, timeout=0.5)
    c.close()
    bus.close()
    return got


def test_malformed_events_go_to_the_dead_letter_topic_and_the_rest_applies(stack: Stack) -> None:
    good = resource_event("created", node(5, 1), "test", time=10.0)
    bad_edge = resource_event("created", node(6, 1), "test").to_dict()
    bad_edge["data"]["node"]["kind"] = ""  # invalid node
    stack.bus.publish(TOPIC_RESOURCES, "junk", b"{not json")
    stack.bus.publish(TOPIC_RESOURCES, "x", orjson.dumps({"specversion": "1.0", "id": "e1", "type": "airdig.resource.created"}))
    stack.bus.publish(TOPIC_RESOURCES, bad_edge["subject"], orjson.dumps(bad_edge))
    stack.bus.publish(TOPIC_RESOURCES, good.subject, good.encode())
    stack.bus.flush()
    p = EventProcessor(stack.store, stack.bus, None, "engine")
    p.start()
    try:
        wait_for(lambda: p.stats.applied == 1 and p.stats.deadlettered == 3, 30, "good applied, bad parked")
        assert p.alive
    finally:
        p.stop()
    assert stack.store.get_node(good.subject) is not None
    dead = _dead_letters(stack.bus_url, 3)
    reasons = sorted(orjson.loads(r.value)["reason"] for r in dead)
    assert len(reasons) == 3
    assert any("not JSON" in r for r in reasons)
    assert any("lacks required attribute(s): source, time, subject" in r for r in reasons)
    assert any("node field 'kind' must be a non-empty string" in r for r in reasons)
    original = {orjson.loads(r.value)["value"] for r in dead}
    assert "{not json" in original  # the original bytes are kept for replay
