"""Adding up the parts of one service-edge window.

TraceCore publishes a window's call statistics once the window has closed, and data that arrives later
as further parts of the same window (see ``airdig.tracecore.aggregator``). The store keeps every part
as its own row so nothing is overwritten; readers see one row per (src, dst, window) from
:func:`merge_window_parts`, which sums counts and histograms and recomputes the percentiles.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from airdig.backends.interfaces import ServiceEdgeRow
from airdig.model import stats


def merge_window_parts(rows: Iterable[ServiceEdgeRow]) -> list[ServiceEdgeRow]:
    """One row per (src, dst, window_start, window_seconds), ordered by window start."""
    groups: dict[tuple[str, str, float, int], list[ServiceEdgeRow]] = {}
    for r in rows:
        groups.setdefault((r.src, r.dst, r.window_start, r.window_seconds), []).append(r)
    out = [rs[0] if len(rs) == 1 else _merge(rs) for rs in groups.values()]
    out.sort(key=lambda r: (r.window_start, r.src, r.dst))
    return out


def _merge(rs: list[ServiceEdgeRow]) -> ServiceEdgeRow:
    errors: dict[str, Any] = {}
    for r in rs:
        for k, v in r.errors.items():
            if isinstance(v, int | float) and not isinstance(v, bool):
                errors[k] = errors.get(k, 0) + v
    requests = sum(r.request_count for r in rs)
    with_hist = [r.latency for r in rs if r.latency]
    merged = stats.merge(with_hist) if len(with_hist) == len(rs) else None
    latency: dict[str, Any] = {}
    if merged is not None and sum(merged["counts"]):
        latency = merged
        p50, p95, p99 = (stats.quantile(merged["bounds"], merged["counts"], q) for q in (0.5, 0.95, 0.99))
    else:
        def wavg(attr: str) -> float | None:
            pairs = [(getattr(r, attr), r.request_count) for r in rs if getattr(r, attr) is not None]
            total = sum(w for _, w in pairs)
            return sum(v * w for v, w in pairs) / total if total else None
        p50, p95, p99 = wavg("p50"), wavg("p95"), wavg("p99")
    first = rs[0]
    return ServiceEdgeRow(src=first.src, dst=first.dst, window_start=first.window_start,
                          window_seconds=first.window_seconds, request_count=requests,
                          error_count=sum(r.error_count for r in rs), errors=errors, latency=latency,
                          p50=p50, p95=p95, p99=p99)
