"""The bus contract, on the embedded log and on a real Apache Kafka broker (KRaft)."""

from __future__ import annotations

import time

from airdig.backends.interfaces import Bus, Committed, Consumer, Record
from airdig.backends.registry import open_bus

TOPIC = "airdig.resources"


def drain(consumer: Consumer, want: int, timeout: float = 30.0) -> list[Record]:
    got: list[Record] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        got += consumer.poll(500, timeout=0.5)
    return got


def test_keyed_records_stay_in_order(bus: Bus) -> None:
    for i in range(50):
        bus.publish(TOPIC, f"key-{i % 5}", f"{i % 5}:{i}".encode())
    bus.flush()
    c = bus.consumer("g-order", [TOPIC])
    try:
        got = drain(c, 50)
    finally:
        c.close()
    assert len(got) == 50
    per_key: dict[str, list[int]] = {}
    for r in got:
        assert r.topic == TOPIC
        per_key.setdefault(r.key, []).append(int(r.value.decode().split(":")[1]))
    assert set(per_key) == {f"key-{k}" for k in range(5)}
    for seq in per_key.values():
        assert seq == sorted(seq) and len(seq) == 10
    # one key always maps to one partition
    parts: dict[str, set[int]] = {}
    for r in got:
        parts.setdefault(r.key, set()).add(r.partition)
    assert all(len(p) == 1 for p in parts.values())


def test_uncommitted_records_are_delivered_again(bus_url: str) -> None:
    bus = open_bus(bus_url)
    try:
        for i in range(20):
            bus.publish(TOPIC, f"k{i}", str(i).encode())
        bus.flush()
        first = bus.consumer("g-redeliver", [TOPIC], member_id="a")
        got = drain(first, 20)
        assert len(got) == 20
        first.commit(got[:5] if len({r.partition for r in got[:5]}) == 1 else [])
        first.close()
        second = bus.consumer("g-redeliver", [TOPIC], member_id="b")
        again = drain(second, 15)
        # nothing committed beyond the first five of one partition: everything else comes back
        assert {r.value for r in again} >= {r.value for r in got[5:]}
        second.commit(again)
        second.close()
        third = bus.consumer("g-redeliver", [TOPIC], member_id="c")
        assert third.poll(100, timeout=3.0) == []
        third.close()
    finally:
        bus.close()


def test_groups_are_independent_and_lag_is_reported(bus: Bus) -> None:
    for i in range(30):
        bus.publish(TOPIC, f"k{i}", b"x")
    bus.flush()
    a = bus.consumer("g-one", [TOPIC])
    b = bus.consumer("g-two", [TOPIC])
    try:
        got_a = drain(a, 30)
        got_b = drain(b, 30)
        assert len(got_a) == 30 and len(got_b) == 30
        assert sum(a.lag().values()) == 30  # read but not committed
        a.commit(got_a)
        deadline = time.monotonic() + 10
        while sum(a.lag().values()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sum(a.lag().values()) == 0
        assert sum(b.lag().values()) == 30
    finally:
        a.close()
        b.close()


def test_two_members_share_the_partitions(bus_url: str) -> None:
    bus = open_bus(bus_url)
    a = bus.consumer("g-share", [TOPIC], member_id="a")
    b = bus.consumer("g-share", [TOPIC], member_id="b")
    try:
        deadline = time.monotonic() + 30
        while not (a.assignment() and b.assignment()) and time.monotonic() < deadline:
            assert a.poll(10, timeout=0.2) == [] and b.poll(10, timeout=0.2) == []  # settle the group first
        assert a.assignment() and b.assignment()
        for i in range(200):
            bus.publish(TOPIC, f"k{i}", str(i).encode())
        bus.flush()
        seen: dict[str, set[int]] = {"a": set(), "b": set()}
        values: set[bytes] = set()
        deadline = time.monotonic() + 40
        while len(values) < 200 and time.monotonic() < deadline:
            for name, c in (("a", a), ("b", b)):
                recs = c.poll(100, timeout=0.3)
                c.commit(recs)
                seen[name] |= {r.partition for r in recs}
                values |= {r.value for r in recs}
        assert len(values) == 200
        assert seen["a"] and seen["b"], "both members of the group received partitions"
        assert not (seen["a"] & seen["b"]), "a partition is read by one member at a time"
    finally:
        a.close()
        b.close()
        bus.close()


def test_publish_and_commit_is_one_step_and_positions_carry_metadata(bus_url: str) -> None:
    """What the TraceCore aggregator relies on: records published together with the commit of the
    offsets they free (Kafka: one transaction), positions with metadata for the next owner, and the
    rebalance listener told about the partitions."""
    bus = open_bus(bus_url)
    seen: dict[str, list[tuple[str, int]]] = {"assigned": [], "revoked": []}

    class Listener:
        def assigned(self, consumer: Consumer, partitions: list[tuple[str, int]]) -> None:
            seen["assigned"] += partitions

        def revoked(self, consumer: Consumer, partitions: list[tuple[str, int]]) -> None:
            seen["revoked"] += partitions

        def lost(self, consumer: Consumer, partitions: list[tuple[str, int]]) -> None:
            raise AssertionError("nothing is lost here")

    try:
        for i in range(10):
            bus.publish(TOPIC, f"k{i}", str(i).encode())
        bus.flush()
        c = bus.consumer("g-txn", [TOPIC], listener=Listener())
        got = drain(c, 10)
        assert len(got) == 10 and seen["assigned"]
        first = min(got, key=lambda r: r.offset)
        tp = (first.topic, first.partition)
        c.publish_and_commit([("airdig.changes", "out", b"derived")], {tp: (first.offset + 1, '{"w":[1]}')})
        assert c.committed([tp])[tp] == Committed(first.offset + 1, '{"w":[1]}')
        c.close()
        assert sorted(seen["revoked"]) == sorted(set(seen["assigned"]))  # told before letting go
        reader = bus.consumer("g-txn-reader", ["airdig.changes"])
        out = drain(reader, 1)
        reader.close()
        assert [(r.key, r.value) for r in out] == [("out", b"derived")]
        again = bus.consumer("g-txn", [TOPIC])
        replay = drain(again, 10, timeout=8)
        again.close()
        # the committed partition resumes at its position; the others (nothing committed) from the start
        assert sorted((r.partition, r.offset) for r in replay) == \
            sorted((r.partition, r.offset) for r in got if r is not first)
    finally:
        bus.close()
