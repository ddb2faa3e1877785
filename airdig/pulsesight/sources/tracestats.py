"""TraceCore's service-map statistics (``airdig.trace.edge`` events) as queryable series.

Each call edge's window statistics are summed per callee (``dst``), because a failing or slow callee
is what the numbers describe. The series offered, all labelled ``node_id`` (the callee's node id):

* ``trace_requests`` — requests in the latest window;
* ``trace_errors{code_class="5xx|4xx|429|status_error|grpc"}`` — errors by class;
* ``trace_error_ratio`` — all errors / requests, in percent;
* ``trace_latency_p50_ms`` / ``trace_latency_p95_ms`` / ``trace_latency_p99_ms`` — the worst caller's
  percentile (percentiles cannot be summed, the worst one is what a user feels).

Older windows are kept (``keep`` per callee) so baseline rules can use them as history.

    stats = TraceStats(); stats.apply(event)            # or: stats.consume(bus) in a thread
    stats.instant('trace_latency_p95_ms', at=now, window=300)
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from typing import Any

from airdig.backends.interfaces import Bus
from airdig.errors import InvalidInput
from airdig.logs import get_logger
from airdig.model.events import TOPIC_TRACES, CloudEvent, is_span_block
from airdig.pulsesight.sources.base import RangeSeries, Sample, Selector, parse_selector

log = get_logger("pulsesight.tracestats")
ERROR_CLASSES = ("5xx", "4xx", "429", "status_error", "grpc")


def edge_stats(data: dict[str, Any], where: str) -> tuple[str, float, float, dict[str, Any]]:
    """(dst, window_start, window_seconds, stats) of a trace.edge event's data; validated."""
    dst, stats = data.get("dst"), data.get("stats")
    if not isinstance(dst, str) or not dst:
        raise InvalidInput(where, "trace.edge data lacks 'dst'")
    if not isinstance(stats, dict):
        raise InvalidInput(where, "trace.edge data has no 'stats' (only calls edges carry them)")
    try:
        start = float(data.get("window_start", 0))
        seconds = float(data.get("window_seconds", 60))
    except (TypeError, ValueError):
        raise InvalidInput(where, "window_start / window_seconds must be numbers") from None
    return dst, start, seconds, stats


def window_series(per_edge: list[dict[str, Any]]) -> dict[str, float]:
    """Sum one callee's edges of one window into the offered series values (pure)."""
    req = sum(float(s.get("request_count") or 0) for s in per_edge)
    err = sum(float(s.get("error_count") or 0) for s in per_edge)
    out: dict[str, float] = {"trace_requests": req, "trace_error_ratio": 100.0 * err / req if req else 0.0}
    for cls in ERROR_CLASSES:
        out[f"trace_errors|{cls}"] = sum(float((s.get("errors") or {}).get(cls) or 0) for s in per_edge)
    for p in ("p50", "p95", "p99"):
        vals = [float(s[p]) for s in per_edge if isinstance(s.get(p), int | float)]
        if vals:
            out[f"trace_latency_{p}_ms"] = max(vals)
    return out


class TraceStats:
    name = "traces"

    def __init__(self, keep: int = 120) -> None:
        self._lock = threading.Lock()
        # dst -> window_start -> (src, producer, part) -> stats: a redelivered part replaces itself,
        # late parts of a window add to it
        self._windows: dict[str, dict[float, dict[tuple[str, str, int], dict[str, Any]]]] = defaultdict(dict)
        self._order: dict[str, deque[float]] = defaultdict(deque)
        self._keep = keep
        self._length: dict[str, float] = {}

    def apply(self, ev: CloudEvent) -> None:
        if ev.type != "airdig.trace.edge" or ev.data.get("type", "calls") != "calls":
            return
        dst, start, seconds, stats = edge_stats(ev.data, f"event {ev.id}")
        src = str(ev.data.get("src") or ev.subject)
        with self._lock:
            wins = self._windows[dst]
            if start not in wins:
                wins[start] = {}
                order = self._order[dst]
                order.append(start)
                if len(order) > 1 and order[-2] > start:
                    self._order[dst] = order = deque(sorted(order))
                while len(order) > self._keep:
                    wins.pop(order.popleft(), None)
            part = ev.data.get("part")
            wins[start][(src, str(ev.data.get("producer") or ""), part if isinstance(part, int) else 0)] = stats
            self._length[dst] = seconds

    def instant(self, query: str, at: float, window: float = 0.0) -> list[Sample]:
        return [Sample(s.labels, s.points[-1][1]) for s in self.range(query, at - window, at, 0) if s.points]

    def range(self, query: str, start: float, end: float, step: float) -> list[RangeSeries]:
        """Windows whose end lies in [start, end], one point per window (``step`` is the window length)."""
        sel = parse_selector(query)
        by_class = Selector(sel.name, tuple(m for m in sel.matchers if m[0] == "code_class"))
        others = Selector(sel.name, tuple(m for m in sel.matchers if m[0] != "code_class"))
        classes = [c for c in ERROR_CLASSES if by_class.matches({"code_class": c})]
        out = []
        with self._lock:
            for dst, wins in self._windows.items():
                labels = {"node_id": dst}
                if not others.matches(labels):
                    continue
                points = []
                for ws in self._order[dst]:
                    t = ws + self._length.get(dst, 60.0)
                    if t < start or t > end:
                        continue
                    vals = window_series(list(wins[ws].values()))
                    if sel.name == "trace_errors":
                        v: float | None = sum(vals.get(f"trace_errors|{c}", 0.0) for c in classes)
                    else:
                        v = vals.get(sel.name)
                    if v is not None:
                        points.append((t, v))
                out.append(RangeSeries(labels, points))
        return out

    def ping(self) -> None:
        return None

    def consume(self, bus: Bus, group: str, stop: threading.Event) -> None:
        """Follow ``airdig.traces`` until ``stop`` is set; bad events are logged and skipped."""
        consumer = bus.consumer(group, [TOPIC_TRACES])
        try:
            while not stop.is_set():
                try:
                    records = consumer.poll(max_records=500, timeout=0.5)
                except Exception as exc:  # a broker hiccup must not end the loop
                    log.error("trace stats poll failed", error=str(exc))
                    stop.wait(1.0)
                    continue
                for rec in records:
                    if is_span_block(rec.value):  # TraceCore's span batches: nothing for trace stats
                        continue
                    try:
                        self.apply(CloudEvent.decode(rec.value, f"{rec.topic}[{rec.partition}]@{rec.offset}"))
                    except InvalidInput as exc:
                        log.warning("trace stats event skipped", reason=str(exc))
                if records:
                    consumer.commit(records)
        finally:
            consumer.close()
