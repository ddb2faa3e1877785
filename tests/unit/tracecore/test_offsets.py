"""Offsets of the aggregator (issue 13): a record is committed only once its effects are on the bus, and a
replay by the next owner counts no call twice. The ledger's rules on their own, then whole aggregators on
the embedded bus (a real SQLite log): killed with halves in flight, killed after publishing part of what
it read, handing partitions over to a member that joins, and stopping cleanly."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from airdig.backends.bus.embedded import EmbeddedBus
from airdig.backends.interfaces import Consumer
from airdig.model.events import TOPIC_TRACES, CloudEvent, is_span_block
from airdig.tracecore.aggregator import Aggregator
from airdig.tracecore.ingest import BusSink
from airdig.tracecore.metrics import TraceCoreMetrics
from airdig.tracecore.offsets import MAX_METADATA, OffsetLedger
from airdig.tracecore.pairing import Pairer
from airdig.tracecore.spans import KIND_CLIENT, KIND_SERVER, Resource, SpanSummary

WEB, API = Resource("web", "", {}), Resource("api", "", {})
NOW = time.time()
W1 = NOW - NOW % 60 - 600  # windows ten and nine minutes ago: due at once
W2 = W1 + 60
# both paths: pure Python and compiled (the compiled pairer keeps the read queues of bus partitions too)
pytestmark = pytest.mark.usefixtures("hot_path")


def client(n: int, at: float) -> SpanSummary:
    t0 = int(at * 1e9)
    return SpanSummary(f"{n:032x}", f"{n:016x}", "", KIND_CLIENT, "GET", t0, t0 + 5_000_000, 0, WEB, {})


def server(n: int, at: float) -> SpanSummary:
    t0 = int(at * 1e9) + 1000
    return SpanSummary(f"{n:032x}", f"{n + 10**6:016x}", f"{n:016x}", KIND_SERVER, "GET", t0, t0 + 3_000_000, 0,
                       API, {})


# ---------------------------------------------------------------- the ledger alone


def test_position_stays_below_what_is_held_and_below_what_was_not_announced() -> None:
    led = OffsetLedger(60.0)
    assert led.position(0, None) == -1  # nothing read
    for o in range(10):
        led.read(0, o)
    assert led.position(0, None) == 0  # services of offsets 0.. not published yet
    led.mark_published([], {})
    assert led.position(0, None) == 10
    assert led.position(0, 4) == 4  # a half or an open window holds offset 4
    led.read(0, 10, effect=False)  # a record of another type holds nothing
    assert led.position(0, None) == 11


def test_published_rule_for_paired_and_virtual_calls() -> None:
    led = OffsetLedger(60.0)
    for o in range(20):
        led.read(3, o)
    led.mark_published([W1], {3: 12})  # read up to 19; a client half at 12 still waits
    assert led.published(3, W1, client_offset=5, completing_offset=19, virtual=False)
    assert led.published(3, W1, client_offset=15, completing_offset=18, virtual=False)  # paired by 19
    assert not led.published(3, W1, client_offset=15, completing_offset=20, virtual=False)  # paired later
    assert led.published(3, W1, client_offset=11, completing_offset=11, virtual=True)  # expired before
    assert not led.published(3, W1, client_offset=12, completing_offset=12, virtual=True)  # still waited
    assert not led.published(3, W2, client_offset=1, completing_offset=2, virtual=False)  # other window
    assert not led.published(4, W1, client_offset=1, completing_offset=2, virtual=False)  # other partition


def test_metadata_carries_the_bounds_a_replay_can_meet_to_the_next_owner() -> None:
    led = OffsetLedger(60.0)
    for o in range(20):
        led.read(1, o)
    led.mark_published([W1], {1: 12})
    for o in range(20, 30):
        led.read(1, o)
    led.mark_published([W2], {})
    meta = led.metadata(1, 12)
    nxt = OffsetLedger(60.0)
    nxt.load(1, meta)
    assert nxt.published(1, W1, 11, 11, virtual=True) and not nxt.published(1, W1, 12, 12, virtual=True)
    assert nxt.published(1, W2, 25, 29, virtual=False)
    assert led.metadata(1, 30) == ""  # no replay from 30 can meet either window: forgotten
    other = OffsetLedger(30.0)
    other.load(1, meta)  # another window length: the bounds do not apply
    assert not other.published(1, W1, 11, 11, virtual=True)
    broken = OffsetLedger(60.0)
    broken.load(1, "{not json")
    assert not broken.published(1, W1, 0, 0, virtual=False)


def test_metadata_stays_under_kafkas_limit_dropping_the_oldest_windows() -> None:
    led = OffsetLedger(60.0)
    for i in range(400):
        led.read(0, i)
        led.mark_published([W1 + 60 * i], {})
    meta = led.metadata(0, 0)
    assert len(meta) <= MAX_METADATA
    kept = [w for w, _, _ in json.loads(meta)["w"]]
    assert max(kept) == W1 + 60 * 399 and min(kept) > W1


def test_pairer_reports_the_lowest_waiting_half_per_partition_and_gives_partitions_up() -> None:
    p = Pairer(wait=60.0)
    read: list[SpanSummary] = []
    for n, (part, off, half) in enumerate([(0, 10, client), (0, 11, client), (1, 5, server), (0, 12, server)]):
        s = half(n, W1)
        s.partition, s.offset = part, off
        read.append(s)
    p.add(read)
    assert p.held_offsets() == ({0: 10, 1: 5}, {0: 10})
    paired = server(0, W1)
    paired.partition, paired.offset = 0, 13
    assert len(p.add([paired])) == 1  # the half at 10 is paired: 11 is now the lowest waiting
    assert p.held_offsets() == ({0: 11, 1: 5}, {0: 11})
    assert p.forget({0}) == 2 and p.counters.spans["handed_over"] == 2
    assert p.held_offsets() == ({1: 5}, {})
    assert len(p) == 1


# ---------------------------------------------------------------- aggregators on the embedded bus


def bus_at(tmp_path: Path, partitions: int, session_timeout: float = 1.0) -> EmbeddedBus:
    return EmbeddedBus(f"embedded://{tmp_path / 'bus.db'}?partitions={partitions}", session_timeout=session_timeout)


def aggregator(bus: EmbeddedBus) -> Aggregator:
    agg = Aggregator(bus, TraceCoreMetrics(), wait=60.0, window_seconds=60.0, group="agg", lateness=0.5)
    agg._consumer = bus.consumer("agg", [TOPIC_TRACES], member_id=agg.member, listener=agg)
    return agg


def run(agg: Aggregator, seconds: float) -> None:
    """The aggregator's own loop, driven here for a while (no thread)."""
    tick = 0.0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        tick = agg._step(tick)


def run_until(agg: Aggregator, done: Callable[[], bool], timeout: float = 20.0) -> None:
    """Drive the loop until ``done`` (a member taking over waits for the old one's heartbeat to expire,
    which takes longer on a busy machine)."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "condition not reached"
        run(agg, 0.3)


def calls(bus: EmbeddedBus) -> Counter[float]:
    """Requests published per window, each event id once (what the engine keeps)."""
    reader: Consumer = bus.consumer(f"reader-{time.monotonic_ns()}", [TOPIC_TRACES])
    seen: set[str] = set()
    out: Counter[float] = Counter()
    while recs := reader.poll(5000, timeout=0.1):
        for rec in recs:
            if is_span_block(rec.value):  # span batches, binary
                continue
            ev = CloudEvent.decode(rec.value)
            if ev.type == "airdig.trace.edge" and ev.data["type"] == "calls" and ev.id not in seen:
                seen.add(ev.id)
                out[ev.data["window_start"]] += int(ev.data["stats"]["request_count"])
    reader.close()
    return out


def test_killed_with_halves_in_flight_the_next_owner_pairs_them(tmp_path: Path) -> None:
    bus = bus_at(tmp_path, 2)
    sink = BusSink(bus, TraceCoreMetrics())
    sink([client(n, W1 + 1) for n in range(1, 31)])
    a = aggregator(bus)
    run_until(a, lambda: len(a.pairer) == 30)
    # A is SIGKILLed: no hand-over, never polled again, its heartbeat expires
    sink([server(n, W1 + 1) for n in range(1, 31)])
    b = aggregator(bus)
    run_until(b, lambda: calls(bus)[W1] >= 30)
    run(b, 0.5)
    assert calls(bus) == {W1: 30}


def test_a_replay_does_not_count_again_what_the_killed_owner_published(tmp_path: Path) -> None:
    bus = bus_at(tmp_path, 1)
    sink = BusSink(bus, TraceCoreMetrics())
    sink([client(n, W2 + 1) for n in range(1, 11)])  # halves of W2 that will wait (commit held here)
    sink([client(n, W1 + 1) for n in range(11, 21)])
    sink([server(n, W1 + 1) for n in range(11, 21)])  # W1 complete: published by A
    a = aggregator(bus)
    run_until(a, lambda: calls(bus)[W1] >= 10 and len(a.pairer) == 10)
    assert calls(bus) == {W1: 10}
    assert a._committed[0][0] == 1  # the first W2 half (offset 1) holds the commit
    # A is SIGKILLed: never polled again
    sink([server(n, W2 + 1) for n in range(1, 11)])
    b = aggregator(bus)
    run_until(b, lambda: calls(bus)[W2] >= 10)
    run(b, 0.5)
    assert calls(bus) == {W1: 10, W2: 10}
    assert b.replay_skipped == 10  # W1's calls, rebuilt by the replay, recognised as published


def test_a_member_joining_takes_partitions_over_without_double_counting(tmp_path: Path) -> None:
    bus = bus_at(tmp_path, 4, session_timeout=5.0)  # both stay members while driven in turns
    sink = BusSink(bus, TraceCoreMetrics())
    sink([client(n, W1 + 1) for n in range(1, 41)] + [server(n, W1 + 1) for n in range(1, 21)])
    a = aggregator(bus)
    run_until(a, lambda: calls(bus)[W1] >= 20 and len(a.pairer) == 20)  # 20 calls published, 20 halves wait
    b = aggregator(bus)
    run(b, 0.3)  # B joins; A still holds all four partitions
    assert not b._owned  # not before A has let go of them
    # A sees the new member: hands two partitions over (publish, commit, give up halves)
    run_until(a, lambda: a.pairer.counters.spans["handed_over"] > 0)
    sink([server(n, W1 + 1) for n in range(21, 41)])
    deadline = time.monotonic() + 30
    while calls(bus)[W1] < 40 and time.monotonic() < deadline:
        run(a, 0.3)
        run(b, 0.3)
    run(a, 0.3)
    run(b, 0.3)
    assert calls(bus) == {W1: 40}
    assert len(a._owned) == len(b._owned) == 2


def test_a_clean_stop_leaves_waiting_halves_to_the_next_owner(tmp_path: Path) -> None:
    bus = bus_at(tmp_path, 2)
    sink = BusSink(bus, TraceCoreMetrics())
    sink([client(n, W1 + 1) for n in range(1, 11)] + [client(n, W2 + 1) for n in range(11, 21)]
         + [server(n, W2 + 1) for n in range(11, 21)])
    a = aggregator(bus)
    run_until(a, lambda: calls(bus)[W2] >= 10 and len(a.pairer) == 10)
    a.stop()
    assert a.pairer.counters.spans["handed_over"] == 10 and a.pairer.counters.spans["virtual"] == 0
    sink([server(n, W1 + 1) for n in range(1, 11)])
    b = aggregator(bus)
    run_until(b, lambda: calls(bus)[W1] >= 10)
    run(b, 0.5)
    assert calls(bus) == {W1: 10, W2: 10}


def test_a_replay_does_not_count_again_calls_to_virtual_nodes_the_killed_owner_published(tmp_path: Path) -> None:
    """Client halves that expired into calls to a database (no server half) and were published: a replay
    rebuilds them when they expire again, and recognises them by the waiting-halves bound."""
    bus = bus_at(tmp_path, 1)
    sink = BusSink(bus, TraceCoreMetrics())
    if time.time() % 60 > 45:  # windows close by the wall clock: the open one must stay open to the end
        time.sleep(61 - time.time() % 60)
    now = time.time()
    current = now - now % 60
    sink([client(1, now), server(1, now)])  # a call in the open window: holds the commit at offset 1
    db = [client(n, W1 + 1) for n in range(2, 7)]
    for s in db:
        s.attrs["db.system.name"] = "postgresql"
    sink(db)

    def member() -> Aggregator:
        agg = Aggregator(bus, TraceCoreMetrics(), wait=0.3, window_seconds=60.0, group="agg", lateness=0.3)
        agg._consumer = bus.consumer("agg", [TOPIC_TRACES], member_id=agg.member, listener=agg)
        return agg

    a = member()
    run_until(a, lambda: calls(bus)[W1] >= 5)
    assert a.pairer.counters.spans["virtual"] == 5 and calls(bus)[W1] == 5
    # A is SIGKILLed: never polled again
    b = member()
    run_until(b, lambda: b.pairer.counters.spans["virtual"] == 5)
    assert b.replay_skipped == 5
    assert b._consumer is not None
    b.publish_window(everything=True, consumer=b._consumer)
    assert calls(bus) == {W1: 5, current: 1}


def test_a_member_that_was_thrown_out_starts_over_and_nothing_is_counted_twice(tmp_path: Path) -> None:
    """A stalls past its session: B takes every partition and replays them. When A polls again the bus
    says its partitions were lost; A forgets what it held and joins again with a fresh consumer."""
    bus = bus_at(tmp_path, 2)
    sink = BusSink(bus, TraceCoreMetrics())
    sink([client(n, W1 + 1) for n in range(1, 21)])
    a = aggregator(bus)
    run_until(a, lambda: len(a.pairer) == 20)
    time.sleep(1.2)  # A stalls: its heartbeat expires
    b = aggregator(bus)
    run_until(b, lambda: len(b.pairer) == 20 and len(b._owned) == 2)
    run_until(a, lambda: a._consumer is None)  # A learns it lost its partitions
    assert a._consumer is None and len(a.pairer) == 0 and not a._owned

    def drive(agg: Aggregator, seconds: float) -> None:
        if agg._consumer is None:  # what the aggregator's loop does after starting over
            agg._consumer = bus.consumer("agg", [TOPIC_TRACES], member_id=agg.member, listener=agg)
        run(agg, seconds)

    sink([server(n, W1 + 1) for n in range(1, 21)])
    deadline = time.monotonic() + 30
    while (calls(bus)[W1] < 20 or len(a._owned) + len(b._owned) < 2) and time.monotonic() < deadline:
        drive(a, 0.3)
        drive(b, 0.3)
    assert calls(bus) == {W1: 20}
    assert len(a._owned) + len(b._owned) == 2
