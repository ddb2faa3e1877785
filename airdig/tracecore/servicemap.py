"""Per-edge statistics in 1-minute buckets: counts, error classes, latency histograms, percentiles.

Buckets are keyed by the client span's start time, so a late pair still lands in the minute it
happened. Queries sum buckets over 1 m / 5 m / 1 h (or any whole number of minutes); percentiles are
interpolated inside histogram buckets, which are fine-grained below 100 ms where most calls live.

    sm = ServiceMap()
    sm.record(call)
    sm.query("5m")                        # [{"src", "dst", "type", "stats": {...}}]
    sm.before_after(src, dst, at, 300.0)  # {"before": {...}, "after": {...}}
"""

from __future__ import annotations

import bisect
import operator
import time
from dataclasses import dataclass, field
from typing import Any

from airdig.errors import InvalidInput
from airdig.model import stats
from airdig.model.graph import Node
from airdig.tracecore import native
from airdig.tracecore import semconv as sc
from airdig.tracecore.pairing import Call
from airdig.tracecore.spans import STATUS_ERROR, SpanSummary

# upper bounds in milliseconds; the last bucket (+Inf) is implicit
LATENCY_BOUNDS_MS: tuple[float, ...] = (1, 2, 3, 5, 7.5, 10, 15, 20, 30, 40, 50, 75, 100, 150, 250, 500,
                                         1000, 2500, 5000, 10000, 30000)
WINDOWS = {"1m": 60, "5m": 300, "1h": 3600}
BUCKET = 60


def _code(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@dataclass(slots=True)
class EdgeStats:
    requests: int = 0
    errors: int = 0
    classes: dict[str, int] = field(default_factory=lambda: {"5xx": 0, "4xx": 0, "429": 0, "status_error": 0,
                                                             "grpc": 0})
    client: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BOUNDS_MS) + 1))
    server: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BOUNDS_MS) + 1))
    client_sum_ms: float = 0.0
    server_sum_ms: float = 0.0

    def add(self, call: Call) -> None:
        c, s = call.client, call.server
        self.requests += 1
        failed = c.status == STATUS_ERROR or (s is not None and s.status == STATUS_ERROR)
        cls = self.classes
        if failed:
            cls["status_error"] += 1
        http = _code(s.attrs.get(sc.HTTP_STATUS)) if s is not None else None
        if http is None:
            http = _code(c.attrs.get(sc.HTTP_STATUS))
        if http is not None:
            if http == 429:
                cls["429"] += 1
            elif 500 <= http <= 599:
                cls["5xx"] += 1
                failed = True
            elif 400 <= http <= 499:
                cls["4xx"] += 1
        grpc = _code(s.attrs.get(sc.GRPC_STATUS)) if s is not None else None
        if grpc is None:
            grpc = _code(c.attrs.get(sc.GRPC_STATUS))
        if grpc:
            cls["grpc"] += 1
        if failed:
            self.errors += 1
        ms = c.duration_ms
        self.client[bisect.bisect_left(LATENCY_BOUNDS_MS, ms)] += 1
        self.client_sum_ms += ms
        if s is not None:
            ms = s.duration_ms
            self.server[bisect.bisect_left(LATENCY_BOUNDS_MS, ms)] += 1
            self.server_sum_ms += ms

    @classmethod
    def from_row(cls, row: tuple[int, int, int, int, int, int, int, list[int], list[int], float, float]
                 ) -> EdgeStats:
        """From the compiled accumulator's tuple (same fields, in declaration order)."""
        req, err, c5, c4, c429, cst, cg, client, server, csum, ssum = row
        return cls(req, err, {"5xx": c5, "4xx": c4, "429": c429, "status_error": cst, "grpc": cg},
                   client, server, csum, ssum)

    def merge(self, other: EdgeStats) -> None:
        self.requests += other.requests
        self.errors += other.errors
        for k, v in other.classes.items():
            self.classes[k] += v
        self.client[:] = map(operator.add, self.client, other.client)  # in place: holders see it
        self.server[:] = map(operator.add, self.server, other.server)
        self.client_sum_ms += other.client_sum_ms
        self.server_sum_ms += other.server_sum_ms

    def to_dict(self) -> dict[str, Any]:
        """The ``stats`` object of an ``airdig.trace.edge`` event; latency is the caller's (client) view."""
        return {
            "request_count": self.requests, "error_count": self.errors, "errors": dict(self.classes),
            "latency_ms": {"bounds": list(LATENCY_BOUNDS_MS), "counts": list(self.client)},
            "server_latency_ms": {"bounds": list(LATENCY_BOUNDS_MS), "counts": list(self.server)},
            "p50": percentile(self.client, 0.50), "p95": percentile(self.client, 0.95),
            "p99": percentile(self.client, 0.99),
        }


def percentile(counts: list[int], q: float) -> float | None:
    """Quantile ``q`` from histogram ``counts`` over :data:`LATENCY_BOUNDS_MS`, linear in the bucket."""
    return stats.quantile(LATENCY_BOUNDS_MS, counts, q)


def window_seconds(window: str | int | float) -> int:
    if isinstance(window, str):
        if window not in WINDOWS:
            raise InvalidInput("window", f"unknown window {window!r}; use one of {', '.join(WINDOWS)} or seconds")
        return WINDOWS[window]
    secs = int(window)
    if secs < BUCKET or secs % BUCKET:
        raise InvalidInput("window", f"window must be a positive multiple of {BUCKET} s, got {window!r}")
    return secs


EdgeKey = tuple[str, str, str]  # (src, dst, connection_type)
GroupKey = tuple[int, float, str, str, str]  # (minute, window start, src, dst, connection_type)


def accumulate_python(calls: list[Call], window_seconds: float) -> dict[GroupKey, EdgeStats]:
    """The statistics of a batch of calls, one :class:`EdgeStats` per (minute, window, edge): each call
    is classified once, and the groups are merged into the service map and the open windows (the
    reference for the compiled accumulator)."""
    out: dict[GroupKey, EdgeStats] = {}
    for call in calls:
        ns = call.client.start_ns
        t = ns // 1_000_000_000
        tf = ns / 1e9
        key = (t - t % BUCKET, tf - tf % window_seconds, call.src, call.dst, call.connection_type)
        st = out.get(key)
        if st is None:
            st = out[key] = EdgeStats()
        st.add(call)
    return out


def accumulate(calls: list[Call], window_seconds: float) -> dict[GroupKey, EdgeStats]:
    """:func:`accumulate_python`, by the compiled accumulator when that path is active."""
    acc = native.accumulator()
    if acc is None or not calls:
        return accumulate_python(calls, window_seconds)
    try:
        rows = acc.accumulate(calls, window_seconds)
    except Exception:  # values it cannot read (e.g. an int past 128 bits): the reference decides
        return accumulate_python(calls, window_seconds)
    return {k: EdgeStats.from_row(v) for k, v in rows.items()}


class ServiceMap:
    """The in-memory service map of one aggregator; ``retention`` bounds how far back it answers."""

    def __init__(self, retention: float = 7200.0) -> None:
        self.retention = retention
        self.buckets: dict[int, dict[EdgeKey, EdgeStats]] = {}
        self.totals: dict[EdgeKey, EdgeStats] = {}  # since start: Prometheus counters read these
        self.nodes: dict[str, Node] = {}

    def record(self, call: Call) -> None:
        """One call (the aggregator merges whole :func:`accumulate` groups through :meth:`add_stats`)."""
        t = call.client.start_ns // 1_000_000_000
        st = EdgeStats()
        st.add(call)
        self.add_stats(t - t % BUCKET, (call.src, call.dst, call.connection_type), st)
        if call.peer is not None:
            self.note_peer(call.peer)

    def add_stats(self, minute: int, key: EdgeKey, st: EdgeStats) -> None:
        """Merge a group of :func:`accumulate` into its minute bucket and the totals."""
        bucket = self.buckets.get(minute)
        if bucket is None:
            bucket = self.buckets[minute] = {}
        mine = bucket.get(key)
        if mine is None:
            mine = bucket[key] = EdgeStats()
        mine.merge(st)
        tot = self.totals.get(key)
        if tot is None:
            tot = self.totals[key] = EdgeStats()
        tot.merge(st)

    def note_peer(self, peer: Node) -> None:
        if peer.id not in self.nodes:
            self.nodes[peer.id] = peer

    def prune(self, now: float | None = None) -> None:
        cutoff = (now if now is not None else time.time()) - self.retention
        for minute in [m for m in self.buckets if m + BUCKET < cutoff]:
            del self.buckets[minute]

    def _sum(self, start: float, end: float, src: str | None = None, dst: str | None = None
             ) -> dict[EdgeKey, EdgeStats]:
        out: dict[EdgeKey, EdgeStats] = {}
        for minute, bucket in self.buckets.items():
            if start <= minute < end:
                for key, st in bucket.items():
                    if (src is None or key[0] == src) and (dst is None or key[1] == dst):
                        out.setdefault(key, EdgeStats()).merge(st)
        return out

    def query(self, window: str | int | float = "5m", until: float | None = None) -> list[dict[str, Any]]:
        """Edges with statistics over the last ``window`` ending at ``until`` (default: now, the
        current minute included)."""
        secs = window_seconds(window)
        end_t = until if until is not None else time.time()
        end = end_t - end_t % BUCKET + BUCKET
        stats = self._sum(end - secs, end)
        return [{"src": k[0], "dst": k[1], "type": "calls", "connection_type": k[2],
                 "window_start": end - secs, "window_seconds": secs, "stats": v.to_dict()}
                for k, v in sorted(stats.items())]

    def before_after(self, src: str, dst: str, at: float, window: float = 300.0) -> dict[str, Any]:
        """Rate (requests/s), error ratio and p95 in equal windows before and after ``at``.

        Windows are whole minutes: ``at`` is rounded down to its minute, so the minute holding ``at``
        counts as "after"."""
        secs = window_seconds(window)
        pivot = int(at) - int(at) % BUCKET

        def side(start: int, end: int) -> dict[str, Any]:
            total = EdgeStats()
            for st in self._sum(start, end, src, dst).values():
                total.merge(st)
            return {"start": start, "end": end, "request_count": total.requests,
                    "rate": total.requests / secs,
                    "error_ratio": (total.errors / total.requests) if total.requests else None,
                    "p95": percentile(total.client, 0.95)}

        before, after = side(pivot - secs, pivot), side(pivot, pivot + secs)
        delta = {k: (after[k] - before[k]) if after[k] is not None and before[k] is not None else None
                 for k in ("rate", "error_ratio", "p95")}
        return {"src": src, "dst": dst, "at": at, "window_seconds": secs, "before": before, "after": after,
                "delta": delta}


def span_time(s: SpanSummary) -> float:
    return s.start_ns / 1e9
