"""Event-time windows of the aggregator: past spans land in the minute they happened, late data for a
published window becomes a further part (never a replacement), and the horizon bounds memory."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from airdig.model.events import CloudEvent
from airdig.tracecore.aggregator import Aggregator
from airdig.tracecore.metrics import TraceCoreMetrics
from airdig.tracecore.servicemap import LATENCY_BOUNDS_MS
from airdig.tracecore.spans import KIND_CLIENT, KIND_SERVER, Resource, SpanSummary

pytestmark = pytest.mark.usefixtures("hot_path")  # both paths: pure Python and compiled

WEB, API = Resource("web", "", {}), Resource("api", "", {})
SRC, DST = "service://_/web", "service://_/api"


def call(n: int, start: float, ms: float, server_first: bool = False) -> list[SpanSummary]:
    """Client + server span of one call that started at ``start`` (epoch seconds) and took ``ms``."""
    t0 = int(start * 1e9)
    client = SpanSummary(f"t{n}", f"c{n}", "", KIND_CLIENT, "GET", t0, t0 + int(ms * 1e6), 0, WEB, {})
    server = SpanSummary(f"t{n}", f"s{n}", f"c{n}", KIND_SERVER, "GET", t0 + 1000, t0 + int(ms * 1e6) - 1000, 0,
                         API, {})
    return [server, client] if server_first else [client, server]


def calls_edges(events: list[CloudEvent]) -> list[dict[str, Any]]:
    return [e.data for e in events if e.type == "airdig.trace.edge" and e.data["type"] == "calls"]


def bucket_of(ms: float) -> tuple[float, float]:
    i = next(i for i, b in enumerate(LATENCY_BOUNDS_MS) if ms <= b)
    return (LATENCY_BOUNDS_MS[i - 1] if i else 0.0), LATENCY_BOUNDS_MS[i]


def test_ten_past_minutes_in_one_batch_make_ten_windows_with_their_own_numbers() -> None:
    now = time.time()
    base = now - now % 60 - 660  # ten whole minutes, ended over a minute ago
    agg = Aggregator(None, TraceCoreMetrics(), wait=1.0, consume=False)
    batch: list[SpanSummary] = []
    n = 0
    for minute in range(10):
        ms = 20.0 if minute < 6 else 400.0  # the edge degrades at minute 6
        for i in range(minute + 1):
            n += 1
            batch += call(n, base + minute * 60 + 5 + i, ms, server_first=bool(i % 2))
    agg.offer(batch)
    edges = calls_edges(agg.publish_window(now=now))
    by_start = {e["window_start"]: e for e in edges}
    assert sorted(by_start) == [base + m * 60 for m in range(10)]
    for minute in range(10):
        e = by_start[base + minute * 60]
        assert (e["src"], e["dst"], e["window_seconds"], e["part"]) == (SRC, DST, 60.0, 0)
        assert e["stats"]["request_count"] == minute + 1
        lo, hi = bucket_of(20.0 if minute < 6 else 400.0)
        assert lo < e["stats"]["p95"] <= hi
    assert agg.publish_window(now=now + 1) == []  # each window once


def test_open_window_waits_for_its_lateness() -> None:
    now = time.time()
    start = now - now % 60
    agg = Aggregator(None, TraceCoreMetrics(), wait=5.0, consume=False)  # lateness 2 x wait = 10 s
    agg.offer(call(1, start + 1, 10.0))
    assert calls_edges(agg.publish_window(now=start + 59)) == []
    assert calls_edges(agg.publish_window(now=start + 69)) == []
    [e] = calls_edges(agg.publish_window(now=start + 70.5))
    assert e["window_start"] == start and e["stats"]["request_count"] == 1


def test_late_data_for_a_published_window_is_a_further_part_with_its_own_id() -> None:
    now = time.time()
    minute = now - now % 60 - 300
    agg = Aggregator(None, TraceCoreMetrics(), wait=1.0, consume=False, lateness=3.0)
    agg.offer([s for n in range(4) for s in call(n, minute + n, 10.0)])
    first = [e for e in agg.publish_window(now=now) if e.type == "airdig.trace.edge" and e.data["type"] == "calls"]
    assert [(e.data["part"], e.data["stats"]["request_count"]) for e in first] == [(0, 4)]
    agg.offer([s for n in range(10, 13) for s in call(n, minute + 30, 10.0)])
    assert calls_edges(agg.publish_window(now=now + 1)) == []  # the late data is gathered a while
    late = [e for e in agg.publish_window(now=time.time() + 3.5)
            if e.type == "airdig.trace.edge" and e.data["type"] == "calls"]
    assert [(e.data["window_start"], e.data["part"], e.data["stats"]["request_count"]) for e in late] == \
        [(minute, 1, 3)]
    assert late[0].id != first[0].id
    assert late[0].data["producer"] == first[0].data["producer"] == agg.member
    assert agg.pairer.counters.spans["paired"] == 14


def test_calls_behind_the_horizon_are_dropped_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    now = time.time()
    metrics = TraceCoreMetrics()
    agg = Aggregator(None, metrics, wait=1.0, consume=False, horizon=3600.0)
    agg.offer(call(1, now - 60, 10.0))
    with caplog.at_level(logging.WARNING, logger="airdig"):
        agg.offer(call(2, now - 2 * 3600, 10.0) + call(3, now - 1800, 10.0))
    # the aggregator's own lines (the first use of the hot path may log its selection inside the block)
    assert [r.getMessage() for r in caplog.records if r.name == "airdig.tracecore.aggregator"] == \
        ["calls outside the horizon dropped"]
    assert agg.late_dropped == 1
    assert metrics.registry.get_sample_value("tracecore_late_calls_dropped_total") == 1.0
    assert sum(e["stats"]["request_count"] for e in calls_edges(agg.publish_window(now=now + 120))) == 2


def test_a_replay_of_hours_old_spans_is_bucketed_per_minute() -> None:
    """The horizon follows span times: a replay from three hours ago, the first data this aggregator
    sees, is kept (45 minutes of it, one call per minute)."""
    now = time.time()
    base = now - now % 60 - 3 * 3600
    agg = Aggregator(None, TraceCoreMetrics(), wait=1.0, consume=False, horizon=3600.0)
    agg.offer([s for m in range(45) for s in call(m, base + m * 60 + 1, 10.0)])
    edges = calls_edges(agg.publish_window(now=now))
    assert agg.late_dropped == 0
    assert [e["window_start"] for e in edges] == [base + m * 60 for m in range(45)]
    assert all(e["stats"]["request_count"] == 1 for e in edges)


def test_a_span_from_the_future_does_not_push_current_data_out() -> None:
    now = time.time()
    agg = Aggregator(None, TraceCoreMetrics(), wait=1.0, consume=False, horizon=3600.0)
    agg.offer(call(1, now + 30 * 86400, 10.0))  # a client with a broken clock
    agg.offer(call(2, now - 10, 10.0))
    assert agg.late_dropped == 1  # the future one; the current call is kept
    assert [e["stats"]["request_count"] for e in calls_edges(agg.publish_window(now=now + 120))] == [1]


def test_bad_horizon_is_refused() -> None:
    with pytest.raises(ValueError, match="horizon"):
        Aggregator(None, TraceCoreMetrics(), window_seconds=60.0, horizon=30.0, consume=False)


def test_max_edges_bounds_open_window_statistics_and_counts_what_it_refuses() -> None:
    metrics = TraceCoreMetrics()
    agg = Aggregator(None, metrics, wait=1.0, window_seconds=60.0, consume=False, max_edges=2)
    t0 = time.time() - 600
    t0 -= t0 % 60
    spans = []
    for n, callee in enumerate(["api", "db", "cache", "api"]):
        res = Resource(callee, "", {})
        t = int((t0 + n) * 1e9)
        spans += [SpanSummary(f"t{n}", f"c{n}", "", KIND_CLIENT, "GET", t, t + 10**6, 0, WEB, {}),
                  SpanSummary(f"t{n}", f"s{n}", f"c{n}", KIND_SERVER, "GET", t, t + 10**6, 0, res, {})]
    agg.offer(spans)
    assert agg.edges_dropped == 1  # web -> cache would have been the third open (window, edge)
    edges = {(e["src"], e["dst"]): e["stats"]["request_count"] for e in calls_edges(agg.window_events(everything=True))}
    assert edges == {(SRC, DST): 2, (SRC, "service://_/db"): 1}
    assert metrics.edges_dropped._value.get() == 1  # type: ignore[attr-defined]
    # publishing frees the bound: the next window takes the refused edge
    t = int((t0 + 60) * 1e9)
    agg.offer([SpanSummary("t9", "c9", "", KIND_CLIENT, "GET", t, t + 10**6, 0, WEB, {}),
               SpanSummary("t9", "s9", "c9", KIND_SERVER, "GET", t, t + 10**6, 0, Resource("cache", "", {}), {})])
    assert agg.edges_dropped == 1
    assert [(e["src"], e["dst"]) for e in calls_edges(agg.window_events(everything=True))] == [
        (SRC, "service://_/cache")]


def test_a_poll_of_records_skips_bad_and_foreign_ones_and_holds_the_commit_below_its_spans() -> None:
    """``handle_records`` (one poll): a malformed span record is counted and skipped, another event type
    is skipped, neither holds the commit back; the call made of two later records holds it at the
    lowest of them until its window is published."""
    from airdig.model.events import TOPIC_TRACES
    from airdig.tracecore.ingest import SPAN_EVENT
    from airdig.tracecore.spans import encode_batch

    now = time.time()
    start = now - now % 60 - 120
    client, server = call(1, start + 5, 20.0)
    span_record = [CloudEvent(type=SPAN_EVENT, source="t", subject="t1", data=encode_batch([s])).encode()
                   for s in (client, server)]
    other = CloudEvent(type="airdig.trace.service", source="t", subject="service://_/web",
                       data={"node": {}}).encode()
    bad = b'{"type":"airdig.trace.span", not json'
    agg = Aggregator(None, TraceCoreMetrics(), wait=10.0, consume=False, lateness=0.0)
    assert agg.handle_records([(bad, "t0", 0, 0), (other, "s", 0, 1), (span_record[0], "t1", 0, 2),
                               (span_record[1], "t1", 0, 3)]) == 2
    assert agg.bad_records == 1
    assert agg.pairer.counters.spans["paired"] == 2
    assert agg._positions(None)[(TOPIC_TRACES, 0)][0] == 2  # the call's records are not out yet
    edges = calls_edges(agg.window_events(now=now))
    assert [(e["src"], e["dst"], e["stats"]["request_count"]) for e in edges] == [(SRC, DST, 1)]
    assert agg._positions(None)[(TOPIC_TRACES, 0)][0] == 4  # published: past every record read
