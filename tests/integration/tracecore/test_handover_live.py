"""A scale event between TraceCore aggregators (issue 13): a second aggregator joins while the first holds
halves waiting for their other half and has published part of a window; later the first stops. The
partitions change hands through the bus consumer's rebalance listener (Kafka's on_revoke / on_assign,
the embedded bus's owners), and every call is counted exactly once: nothing lost with the halves that
moved, nothing counted twice by the replay of the new owner. On a real Kafka broker and the embedded bus.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from airdig.backends.interfaces import Bus
from airdig.backends.registry import open_bus
from airdig.model.events import TOPIC_TRACES, CloudEvent, is_span_block
from airdig.tracecore.aggregator import Aggregator
from airdig.tracecore.ingest import BusSink
from airdig.tracecore.metrics import TraceCoreMetrics
from airdig.tracecore.spans import KIND_CLIENT, KIND_SERVER, Resource, SpanSummary

WEB, API = Resource("web", "", {}), Resource("api", "", {})
NOW = time.time()
W = NOW - NOW % 60 - 600  # a window ten minutes ago: published as soon as it is seen


def client(n: int) -> SpanSummary:
    t0 = int((W + 1) * 1e9)
    return SpanSummary(f"{n:032x}", f"{n:016x}", "", KIND_CLIENT, "GET", t0, t0 + 5_000_000, 0, WEB, {})


def server(n: int) -> SpanSummary:
    t0 = int((W + 1) * 1e9) + 1000
    return SpanSummary(f"{n:032x}", f"{n + 10**6:016x}", f"{n:016x}", KIND_SERVER, "GET", t0, t0 + 3_000_000, 0,
                       API, {})


class Counted:
    """The calls web -> api of window W on the bus, each event id once (as the engine applies them)."""

    def __init__(self, bus: Bus) -> None:
        self.consumer = bus.consumer(f"reader-{uuid.uuid4().hex[:8]}", [TOPIC_TRACES])
        self.ids: set[str] = set()
        self.calls = 0

    def until(self, want: int, timeout: float, settle: float = 4.0) -> int:
        """Read until ``want`` calls were seen (or ``timeout``), then ``settle`` seconds more."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for rec in self.consumer.poll(500, timeout=0.3):
                if is_span_block(rec.value):  # span batches, binary
                    continue
                ev = CloudEvent.decode(rec.value)
                if ev.type == "airdig.trace.edge" and ev.data["type"] == "calls" and ev.id not in self.ids \
                        and ev.data["window_start"] == W:
                    self.ids.add(ev.id)
                    self.calls += int(ev.data["stats"]["request_count"])
            if self.calls >= want and deadline - time.monotonic() > settle:
                deadline = time.monotonic() + settle
        return self.calls


def wait_for(cond: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.parametrize("which", ["kafka", "embedded"])
def test_scale_up_and_down_counts_every_call_once(which: str, request: pytest.FixtureRequest,
                                                  data_dir: Path) -> None:
    url = request.getfixturevalue("kafka_url") if which == "kafka" else f"embedded://{data_dir / 'bus.db'}"
    group = f"agg-{uuid.uuid4().hex[:8]}"
    feed = open_bus(url)
    sink = BusSink(feed, TraceCoreMetrics())
    counted = Counted(feed)
    n = 80
    sink([client(i) for i in range(1, n + 1)] + [server(i) for i in range(1, n // 2 + 1)])

    def member() -> Aggregator:
        agg = Aggregator(open_bus(url), TraceCoreMetrics(), wait=60.0, window_seconds=60.0, group=group,
                         lateness=0.5)
        agg.start()
        return agg

    a = member()
    b: Aggregator | None = None
    try:
        assert counted.until(n // 2, timeout=60) == n // 2  # A published half the window, holds 40 halves
        wait_for(lambda: len(a.pairer) == n // 2, 10, "A does not hold the waiting halves")
        b = member()  # scale up: the group moves some partitions from A to B
        wait_for(lambda: a.assignment() and b is not None and b.assignment()
                 and len(a.assignment()) + len(b.assignment()) == len(set(a.assignment()) | set(b.assignment())),
                 60, "the group did not settle on two members")
        assert a.pairer.counters.spans["handed_over"] > 0
        sink([server(i) for i in range(n // 2 + 1, n + 1)])
        assert counted.until(n, timeout=60) == n
        assert a.alive and b.alive
        a.stop()  # scale down: A hands everything it has to B
        sink([client(i) for i in range(n + 1, n + 21)] + [server(i) for i in range(n + 1, n + 21)])
        assert counted.until(n + 20, timeout=60) == n + 20
        assert b.alive
    finally:
        for agg in (a, b):
            if agg is not None:
                agg.stop()
                if agg.bus is not None:
                    agg.bus.close()
        counted.consumer.close()
        feed.close()
