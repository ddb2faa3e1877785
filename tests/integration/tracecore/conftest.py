"""Helpers shared by TraceCore integration tests, as fixtures: reading the events TraceCore published."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from airdig.backends.interfaces import Bus
from airdig.model.events import TOPIC_TRACES, CloudEvent, is_span_block


def collect_events(bus: Bus, want: set[tuple[str, str, str]], timeout: float = 15.0,
                   group: str = "test-reader", until: Callable[[list[CloudEvent]], bool] | None = None,
                   ) -> tuple[set[tuple[str, str, str]], list[CloudEvent]]:
    """Read ``airdig.trace.edge``/``service`` events until every wanted edge was seen and ``until`` holds
    (or time is up). Windows are event time: calls made a moment apart can straddle a minute and arrive
    as two windows, published at different times, so a test that sums counts says so with ``until``."""
    consumer = bus.consumer(group, [TOPIC_TRACES])
    edges: set[tuple[str, str, str]] = set()
    events: list[CloudEvent] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not (want <= edges and (until is None or until(events))):
            records = consumer.poll(max_records=500, timeout=0.3)
            consumer.commit(records)  # a later call with the same group continues from here
            for rec in records:
                if is_span_block(rec.value):  # span batches, binary
                    continue
                ev = CloudEvent.decode(rec.value)
                if ev.type == "airdig.trace.span":
                    continue
                events.append(ev)
                if ev.type == "airdig.trace.edge":
                    edges.add((ev.data["src"], ev.data["type"], ev.data["dst"]))
    finally:
        consumer.close()
    return edges, events


def edge_stats(events: list[CloudEvent], src: str, dst: str) -> dict[str, Any]:
    """Sum of request/error counts over every published window of one calls edge."""
    total = {"request_count": 0, "error_count": 0}
    for ev in events:
        if ev.type == "airdig.trace.edge" and ev.data["type"] == "calls" and ev.data["src"] == src \
                and ev.data["dst"] == dst:
            total["request_count"] += ev.data["stats"]["request_count"]
            total["error_count"] += ev.data["stats"]["error_count"]
    return total


@pytest.fixture
def read_events() -> Callable[..., tuple[set[tuple[str, str, str]], list[CloudEvent]]]:
    return collect_events


@pytest.fixture
def sum_edge() -> Callable[[list[CloudEvent], str, str], dict[str, Any]]:
    return edge_stats
