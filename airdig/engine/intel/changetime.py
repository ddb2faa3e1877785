"""When did a change happen — an interval, not the moment someone noticed it.

A CloudTrail record says exactly when a write was made (a point). A scan diff only says that the
previous observation still showed the old state and this one shows the new state: the change lies
somewhere between the two. An unexplained drift is the same, between the last clean watch cycle and the
first that saw the drift. The applier stores that interval in the change row's ``details.change_time``
(``{"earliest", "latest", "basis"}``, epoch seconds; ``earliest`` is ``null`` when nothing bounds it
from below, e.g. events of older producers), and root cause scores it here.

Time score: a change at lag ``L`` before the onset of a symptom gets ``TAU / (TAU + L)`` — half weight
at ``TAU`` (five minutes: the usual delay between making a change and seeing its effect measured, from
rollouts, instance modifications applied "immediately", caches expiring and alert ``for:`` clauses), a
heavy tail so a change half an hour before still counts a little, and 0 for any lag outside
``[0, window]``: a change after the onset cannot have caused it and one before the window is out of
the question asked. With an interval, the change is taken as equally likely anywhere inside it, so the
score is that function's mean over the interval — an interval that straddles the onset, or reaches back
before the window, is discounted by exactly the share that lies outside.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from airdig.backends.interfaces import ChangeRow
from airdig.errors import InvalidInput
from airdig.model.events import parse_time

TAU = 300.0


@dataclass(frozen=True)
class ChangeTime:
    earliest: float | None  # None: nothing bounds it from below
    latest: float
    basis: str  # cloudtrail | scan | drift watch | rollout | reported | detected

    def bounded(self, floor: float) -> tuple[float, float]:
        """(earliest, latest) with an unknown earliest replaced by ``floor`` (the window's start)."""
        lo = floor if self.earliest is None else min(self.earliest, self.latest)
        return lo, self.latest


def interval(lo: float | None, hi: float, basis: str) -> dict[str, Any]:
    """The ``details.change_time`` object the applier stores."""
    return {"earliest": lo, "latest": hi, "basis": basis}


def of(ch: ChangeRow) -> ChangeTime:
    """The interval stored with the row; rows written before it existed count as a point at their time
    when attributed (CloudTrail, deploys report the write's time) and as unbounded below otherwise."""
    ct = ch.details.get("change_time") if isinstance(ch.details, dict) else None
    if isinstance(ct, dict) and isinstance(ct.get("latest"), int | float):
        lo = ct.get("earliest")
        return ChangeTime(float(lo) if isinstance(lo, int | float) else None, float(ct["latest"]),
                          str(ct.get("basis") or "reported"))
    cause = ch.details.get("cause") if isinstance(ch.details, dict) else None
    if isinstance(cause, dict) and cause.get("event_time"):  # a drift attributed before intervals were stored
        try:
            t = parse_time(cause["event_time"], "cause.event_time")
            return ChangeTime(t, t, "cloudtrail")
        except InvalidInput:
            pass
    if ch.kind in ("cloudtrail", "deploy", "config", "scaling") or ch.actor:
        return ChangeTime(ch.time, ch.time, "reported")
    return ChangeTime(None, ch.time, "detected")


def overlaps(a: ChangeTime, b: ChangeTime) -> bool:
    lo = max(x for x in (a.earliest, b.earliest, -math.inf) if x is not None)
    return lo <= min(a.latest, b.latest)


def narrow(ct: ChangeTime, others: list[ChangeTime]) -> ChangeTime:
    """The part of ``ct`` every other observation of the same change agrees with (``ct`` unchanged
    when one of them disagrees: better a wide interval than an empty one)."""
    out = ct
    for o in others:
        if not overlaps(out, o):
            continue
        lo = max((x for x in (out.earliest, o.earliest) if x is not None), default=None)
        hi = min(out.latest, o.latest)
        if (lo, hi) != (out.earliest, out.latest):
            out = ChangeTime(lo, hi, out.basis if out.basis == o.basis else f"{out.basis} + {o.basis}")
    return out


def _integral(a: float, b: float) -> float:
    """∫ TAU / (TAU + x) dx over [a, b], 0 ≤ a ≤ b."""
    return TAU * (math.log(TAU + b) - math.log(TAU + a))


def proximity(ct: ChangeTime, onset: float, window: float) -> float:
    """Mean of ``TAU / (TAU + lag)`` over the interval, 0 where the lag is outside ``[0, window]``."""
    lo, hi = ct.bounded(onset - window)
    if hi - lo < 1e-6:  # a point
        lag = onset - hi
        return TAU / (TAU + lag) if 0 <= lag <= window else 0.0
    # lags covered by the interval, clipped to [0, window]
    a, b = max(0.0, onset - hi), min(window, onset - lo)
    if b <= a:
        return 0.0
    return _integral(a, b) / (hi - lo)


def proximity_to_span(ct: ChangeTime, onset_lo: float, onset_hi: float, window: float, steps: int = 12) -> float:
    """:func:`proximity` when the onset itself is only known to lie in ``[onset_lo, onset_hi]`` (between the
    last window at the old level and the end of the first at the new one): its mean over that span, every
    onset time in it equally likely. A change inside the span gets the share of onsets it precedes, not
    the benefit of the latest one."""
    if onset_hi - onset_lo < 1e-6:
        return proximity(ct, onset_hi, window)
    step = (onset_hi - onset_lo) / steps
    return sum(proximity(ct, onset_lo + (i + 0.5) * step, window) for i in range(steps)) / steps


def share_before(ct: ChangeTime, onset: float, floor: float) -> float:
    """The share of the interval that lies before ``onset`` (1 for a change surely before it)."""
    lo, hi = ct.bounded(floor)
    if hi <= onset:
        return 1.0
    if lo >= onset:
        return 0.0
    return (onset - lo) / (hi - lo)
