"""PulseSight's trace series add up the parts of a TraceCore window (late data published after it)."""

from __future__ import annotations

from airdig.model.events import CloudEvent
from airdig.pulsesight.sources.tracestats import TraceStats

T0 = 1_700_000_040.0


def part(n: int, requests: int, errors: int) -> CloudEvent:
    return CloudEvent(type="airdig.trace.edge", source="tracecore", subject="service://shop/web", data={
        "src": "service://shop/web", "dst": "service://shop/cart", "type": "calls", "window_start": T0,
        "window_seconds": 60, "part": n, "producer": "agg1",
        "stats": {"request_count": requests, "error_count": errors, "errors": {"5xx": errors}, "p95": 20.0}})


def test_late_part_adds_to_its_window_and_a_redelivered_part_counts_once() -> None:
    stats = TraceStats()
    for ev in (part(0, 90, 0), part(1, 10, 10), part(1, 10, 10)):
        stats.apply(ev)
    [req] = stats.instant("trace_requests", T0 + 60)
    [ratio] = stats.instant("trace_error_ratio", T0 + 60)
    assert (req.value, ratio.value) == (100.0, 10.0)
