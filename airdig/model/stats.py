"""Latency histograms as they travel in ``airdig.trace.edge`` events: ``{"bounds": [...], "counts": [...]}``.

``counts`` has one more entry than ``bounds`` (the +Inf bucket). Shared by TraceCore, which fills them,
and the engine, which merges windows and reads percentiles from them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def quantile(bounds: Sequence[float], counts: Sequence[int], q: float) -> float | None:
    """Quantile ``q`` (0..1), linear inside the bucket; values past the last bound report that bound."""
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for i, n in enumerate(counts):
        if n and seen + n >= rank:
            if i >= len(bounds):
                return float(bounds[-1])
            lo = bounds[i - 1] if i > 0 else 0.0
            hi = bounds[i]
            return round(lo + (hi - lo) * ((rank - seen) / n), 3)
        seen += n
    return float(bounds[-1])


def quantiles(bounds: Sequence[float], counts: Sequence[int], qs: Sequence[float]) -> list[float | None]:
    """:func:`quantile` for several ascending ``qs`` in one walk over the buckets (same values)."""
    total = sum(counts)
    if total == 0:
        return [None] * len(qs)
    out: list[float | None] = []
    i, seen, nb = 0, 0, len(counts)
    for q in qs:
        rank = q * total
        while i < nb and not (counts[i] and seen + counts[i] >= rank):
            seen += counts[i]
            i += 1
        if i >= nb or i >= len(bounds):
            out.append(float(bounds[-1]))
            continue
        n = counts[i]
        lo = bounds[i - 1] if i > 0 else 0.0
        out.append(round(lo + (bounds[i] - lo) * ((rank - seen) / n), 3))
    return out


def merge(histograms: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """Sum histograms that share their bounds; ``None`` if there is none (or bounds disagree)."""
    bounds: list[float] | None = None
    counts: list[int] = []
    for h in histograms:
        b, c = h.get("bounds"), h.get("counts")
        if not isinstance(b, list) or not isinstance(c, list) or len(c) != len(b) + 1:
            continue
        if bounds is None:
            bounds, counts = list(b), [int(x) for x in c]
        elif b != bounds:
            return None
        else:
            counts = [x + int(y) for x, y in zip(counts, c, strict=True)]
    if bounds is None:
        return None
    return {"bounds": bounds, "counts": counts}
