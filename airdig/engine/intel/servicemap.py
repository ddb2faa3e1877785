"""The service map and before/after comparisons, from the per-window edge statistics in the store."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from airdig.backends.interfaces import ServiceEdgeRow, Store
from airdig.model import stats


@dataclass(frozen=True)
class EdgeSummary:
    src: str
    dst: str
    request_count: int
    error_count: int
    p50: float | None
    p95: float | None
    p99: float | None
    seconds: float

    @property
    def error_rate(self) -> float:
        return self.error_count / self.request_count if self.request_count else 0.0

    @property
    def rate(self) -> float:
        """Requests per second over the covered windows."""
        return self.request_count / self.seconds if self.seconds else 0.0

    def numbers(self) -> dict[str, Any]:
        return {"rate": round(self.rate, 4), "errorRatio": round(self.error_rate, 4), "p95": self.p95,
                "requests": self.request_count}


_QS = (0.5, 0.95, 0.99)


def summarise(rows: Iterable[ServiceEdgeRow]) -> list[EdgeSummary]:
    """Sum windows per edge; percentiles come from the merged histograms when every window has one,
    else (older producers) from the request-weighted mean of the window percentiles, which is marked
    by nothing but is the best the data allows."""
    groups: dict[tuple[str, str], list[ServiceEdgeRow]] = {}
    for r in rows:
        groups.setdefault((r.src, r.dst), []).append(r)
    out = []
    for (src, dst), rs in sorted(groups.items()):
        if len(rs) == 1:  # the usual case (one closed window per edge): no sums, no window set
            r = rs[0]
            req, err, seconds = r.request_count, r.error_count, float(r.window_seconds)
            merged = stats.merge((r.latency,)) if r.latency else None
        else:
            req = sum(r.request_count for r in rs)
            err = sum(r.error_count for r in rs)
            merged = stats.merge(r.latency for r in rs if r.latency)
            seconds = float(len({r.window_start for r in rs}) * max(r.window_seconds for r in rs))
        if merged is not None and sum(merged["counts"]):
            p50, p95, p99 = stats.quantiles(merged["bounds"], merged["counts"], _QS)
        else:
            def wavg(attr: str, rs: list[ServiceEdgeRow] = rs) -> float | None:
                pairs = [(getattr(r, attr), r.request_count) for r in rs if getattr(r, attr) is not None]
                total = sum(w for _, w in pairs)
                return round(sum(v * w for v, w in pairs) / total, 3) if total else None
            p50, p95, p99 = wavg("p50"), wavg("p95"), wavg("p99")
        out.append(EdgeSummary(src, dst, req, err, p50, p95, p99, seconds))
    return out


def service_map(store: Store, since: float, until: float) -> tuple[list[EdgeSummary], list[str]]:
    edges = summarise(store.service_edge_stats(since, until))
    nodes = sorted({e.src for e in edges} | {e.dst for e in edges})
    return edges, nodes


def before_after(store: Store, node_ids: list[str], at: float, window: float) -> list[dict[str, Any]]:
    """For every call edge touching ``node_ids``: rate, error ratio and p95 in equal windows around ``at``."""
    return compare(store.service_edge_stats(at - window, at + window, node_ids), set(node_ids), at, window)


def compare(rows: Iterable[ServiceEdgeRow], node_ids: set[str], at: float, window: float) -> list[dict[str, Any]]:
    """:func:`before_after` over rows already fetched (one query can serve many comparisons)."""
    mine = [r for r in rows if (r.src in node_ids or r.dst in node_ids) and at - window <= r.window_start < at + window]
    before = {(e.src, e.dst): e for e in summarise(r for r in mine if r.window_start < at)}
    after = {(e.src, e.dst): e for e in summarise(r for r in mine if r.window_start >= at)}
    out = []
    for key in sorted(set(before) | set(after)):
        b, a = before.get(key), after.get(key)
        out.append({"src": key[0], "dst": key[1], "before": b.numbers() if b else None,
                    "after": a.numbers() if a else None})
    return out
