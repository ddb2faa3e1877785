"""Change-point detection on short, gappy, per-window series (a call edge's p95 or error ratio).

Root cause needs the moment a symptom began, not the moment someone asked. The series it looks at are
the per-minute statistics of a few call edges: tens of points, windows missing where nothing was
called, noise of a few percent. A single mean shift is what a broken dependency looks like (a database
resized down, a rule revoked: the edge is fine, then it is not), so this finds the one split that best
separates the series into "before" and "after" (least squares, as in binary segmentation) and keeps it
only when the step is both large in absolute terms (``min_step``) and large against the noise inside
the two segments (``min_z``, a two-sample z statistic with the pooled spread, floored so a perfectly
flat series does not make every wiggle significant). Only upward steps count: an edge getting faster
or erring less is recovery, not onset.

Latency is compared in log space (a call 60x slower is a step of log 60, whatever the baseline); error
ratios as they are. Gaps need no special handling: points carry their time, the split reports the
first "after" point's time and the end of the last "before" window, so the onset is known to lie in
``[earliest, time]``.

    cp = step_up([(t0, 5.0), (t0 + 60, 5.2), (t0 + 120, 300.0)], log=True)
    cp.time == t0 + 120
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ChangePoint:
    time: float  # start of the first window that shows the new level
    earliest: float  # end of the last window that still showed the old level (≤ time; < time across a gap)
    before: float  # level before (median, in the series' own unit)
    after: float  # level after (median)
    z: float  # the step against the noise
    latest: float | None = None  # by when it had surely begun (None: the end of the window at ``time``)


def _median(xs: Sequence[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def _sse(xs: Sequence[float]) -> float:
    if not xs:
        return 0.0
    m = sum(xs) / len(xs)
    return sum((x - m) ** 2 for x in xs)


def step_up(points: Sequence[tuple[float, float]], *, width: float = 60.0, log: bool = False,
            min_step: float = 0.0, min_z: float = 4.0, noise_floor: float = 0.05,
            min_before: int = 2, min_after: int = 1) -> ChangePoint | None:
    """The most significant upward step in ``points`` ((time, value), any order), or ``None``.

    ``width`` is the length of one window (the onset lies after the last "before" window ends);
    ``log`` compares values in log space (latency), where ``min_step`` and ``noise_floor`` are then
    log ratios; values ≤ 0 are skipped in log space (no latency measured)."""
    pts = sorted((t, v) for t, v in points if v is not None and math.isfinite(v) and (not log or v > 0))
    if len(pts) < min_before + min_after:
        return None
    ys = [math.log(v) if log else v for _, v in pts]
    best: tuple[float, int] | None = None
    total = _sse(ys)
    for k in range(min_before, len(ys) - min_after + 1):
        gain = total - _sse(ys[:k]) - _sse(ys[k:])
        if best is None or gain > best[0]:
            best = (gain, k)
    if best is None:
        return None
    return _judge(pts, ys, best[1], width, min_step, min_z, noise_floor)


def _judge(pts: Sequence[tuple[float, float]], ys: Sequence[float], k: int, width: float, min_step: float,
           min_z: float, noise_floor: float) -> ChangePoint | None:
    """The step at split ``k`` (``pts[k]`` is the first "after" point), if upward, large and significant."""
    lo, hi = ys[:k], ys[k:]
    step = _median(hi) - _median(lo)
    if step <= 0 or step < min_step:
        return None
    spread = math.sqrt((_sse(lo) + _sse(hi)) / max(1, len(ys) - 2))
    sigma = max(spread, noise_floor) * math.sqrt(1 / len(lo) + 1 / len(hi))
    z = step / sigma
    if z < min_z:
        return None
    before, after = _median([v for _, v in pts[:k]]), _median([v for _, v in pts[k:]])
    return ChangePoint(time=pts[k][0], earliest=min(pts[k][0], pts[k - 1][0] + width), before=before, after=after, z=round(z, 2))


def latency_step(points: Sequence[tuple[float, float]], width: float = 60.0) -> ChangePoint | None:
    """A p95 that rose by at least half (log step ≥ log 1.5), well beyond the noise."""
    return step_up(points, width=width, log=True, min_step=math.log(1.5), noise_floor=0.1)


def error_step(points: Sequence[tuple[float, float]], width: float = 60.0) -> ChangePoint | None:
    """An error ratio that rose by at least 2 points, well beyond the noise."""
    return step_up(points, width=width, min_step=0.02, noise_floor=0.005)


def _loglik(errors: float, requests: float) -> float:
    """Binomial log-likelihood of ``errors`` in ``requests`` at their own ratio (0·log 0 = 0)."""
    out = 0.0
    for x in (errors, requests - errors):
        if x > 0:
            out += x * math.log(x / requests)
    return out


def error_count_step(windows: Sequence[tuple[float, int, int]], width: float = 60.0, *, min_before: int = 2,
                     min_after: int = 1) -> ChangePoint | None:
    """An error-ratio step from per-window counts ``(time, errors, requests)``.

    Errors are counts, not measurements: a window of ten calls with two errors says less than one of a
    thousand, and many windows without a single error say a great deal. So the split is placed where the
    binomial likelihood of "one ratio before, another after" is highest (an upward step only), and then
    judged like :func:`error_step` (the step in the ratios at least 2 points and beyond their noise).
    Without a significant step there, the least-squares split of the ratios is the answer."""
    ws = sorted((t, e, n) for t, e, n in windows if n > 0)
    pts = [(t, e / n) for t, e, n in ws]
    if len(ws) < min_before + min_after:
        return None
    best: tuple[float, int] | None = None
    for k in range(min_before, len(ws) - min_after + 1):
        e1, n1 = sum(w[1] for w in ws[:k]), sum(w[2] for w in ws[:k])
        e2, n2 = sum(w[1] for w in ws[k:]), sum(w[2] for w in ws[k:])
        if e2 / n2 <= e1 / n1:
            continue
        ll = _loglik(e1, n1) + _loglik(e2, n2)
        if best is None or ll > best[0]:
            best = (ll, k)
    found = _judge(pts, [v for _, v in pts], best[1], width, 0.02, 4.0, 0.005) if best else None
    return found or error_step(pts, width)


@dataclass(frozen=True)
class Window:
    """One window's share of calls at the new level, for :func:`within_window`."""

    start: float
    bad: float  # the share of its calls that look like the new level (erring, or slower than the middle)
    calls: int


def _partial(w: Window, low: float, high: float) -> float | None:
    """How much of ``w`` was at the new level, when its share differs significantly from both levels
    (a binomial z of 2 against each); ``None`` when it is indistinguishable from one of them."""
    if w.calls < 5 or high - low <= 0:
        return None

    def differs(level: float) -> bool:
        p = min(max(level, 1.0 / w.calls), 1.0 - 1.0 / w.calls)
        return abs(w.bad - level) > 2.0 * math.sqrt(p * (1.0 - p) / w.calls)

    if not (differs(low) and differs(high)):
        return None
    return min(1.0, max(0.0, (w.bad - low) / (high - low)))


def within_window(cp: ChangePoint, windows: Sequence[Window], width: float) -> ChangePoint:
    """Place the onset inside its window, from the calls themselves.

    A per-window series only says the step happened somewhere in ``[earliest, time + width]``. But a
    window the step fell into holds calls of both levels, and with calls spread over the window the share
    at the new level says where: a window whose last 40 % of calls erred began erring 60 % of the way in.
    That share is used only where it differs significantly from both the old and the new level (counts
    are binomial); otherwise the window counts as wholly old (the last one before) or wholly new (the
    first one after). The onset is then placed ± ``width / sqrt(calls)`` around that point (the resolution
    the calls allow), never outside what the series alone allows. Without calls to go by (no counts, too
    few calls, a gap before the first bad window) the change point is returned as it was."""
    ws = sorted(windows, key=lambda w: w.start)
    before = [w for w in ws if w.start < cp.time]
    after = [w for w in ws if w.start >= cp.time]
    if not before or not after or after[0].start != cp.time:
        return cp
    low = _median([w.bad for w in before])
    high = _median([w.bad for w in after])
    if high - low < 0.05:
        return cp
    last, first = before[-1], after[0]
    latest = cp.time + width
    estimate: tuple[float, int] | None = None
    if last.start + width == first.start:
        f = _partial(last, low, high)
        if f is not None and f > 0:
            estimate = (last.start + (1.0 - f) * width, last.calls)
    if estimate is None:
        if first.calls < 5:
            return cp
        f = _partial(first, low, high)
        estimate = (first.start + (1.0 - (1.0 if f is None else f)) * width, first.calls)
    at, calls = estimate
    margin = width / math.sqrt(calls)
    # across a gap without calls the onset may lie anywhere in it: only the upper bound narrows then
    earliest = max(last.start, at - margin) if last.start + width == first.start else cp.earliest
    end = min(latest, max(at + margin, earliest))
    return ChangePoint(time=max(earliest, min(at, end)), earliest=earliest, before=cp.before, after=cp.after,
                       z=cp.z, latest=end)
