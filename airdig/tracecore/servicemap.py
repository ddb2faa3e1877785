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
import time
from dataclasses import dataclass, field
from typing import Any

from airdig.errors import InvalidInput
from airdig.model import stats
from airdig.model.graph import Node
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

    def merge(self, other: EdgeStats) -> None:
        self.requests += other.requests
        self.errors += other.errors
        for k, v in other.classes.items():
            self.classes[k] += v
        for i, v in enumerate(other.client):
            self.client[i] += v
        for i, v in enumerate(other.server):
            self.server[i] += v
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


class ServiceMap:
    """The in-memory service map of one aggregator; ``retention`` bounds how far back it answers."""

    def __init__(self, retention: float = 7200.0) -> None:
        self.retention = retention
        self.buckets: dict[int, dict[EdgeKey, EdgeStats]] = {}
        self.totals: dict[EdgeKey, EdgeStats] = {}  # since start: Prometheus counters read these
        self.nodes: dict[str, Node] = {}

    def record(self, call: Call) -> None:
        t = call.client.start_ns // 1_000_000_000
        minute = t - t % BUCKET
        key = (call.src, call.dst, call.connection_type)
        bucket = self.buckets.get(minute)
        if bucket is None:
            bucket = self.buckets[minute] = {}
        st = bucket.get(key)
        if st is None:
            st = bucket[key] = EdgeStats()
        st.add(call)
        tot = self.totals.get(key)
        if tot is None:
            tot = self.totals[key] = EdgeStats()
        tot.add(call)
        if call.peer is not None and call.peer.id not in self.nodes:
            self.nodes[call.peer.id] = call.peer

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
