"""Naming, for each drifted attribute, the CloudTrail write that set its current value.

A difference between Terraform and the cloud is explained by the *latest write before detection whose
request touched that attribute* (per :mod:`airdig.deepdrift.writes`): two people editing one function
minutes apart are each named for their own attribute, and a write that touched none of the drifted
attributes is never a cause. ``missing`` drifts are explained by the latest delete, ``unmanaged`` ones
by the latest create. The drift as a whole keeps one ``cause``: the write behind its most severe
attributed path (ties: the later write).

    index = TrailIndex(trail.events)
    found = attribute("changed", "aws_lambda_function", diffs, index.writes("aws.lambda.function", ids), now)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from airdig.deepdrift.cloudtrail import TrailEvent
from airdig.deepdrift.severity import LEVELS, diff_severity
from airdig.deepdrift.writes import CREATED, DELETED, touches

Diff = dict[str, object]


@dataclass(frozen=True, slots=True)
class NodeWrite:
    """One write on one node, with the attributes it set there."""

    event: TrailEvent
    attributes: tuple[str, ...]


class TrailIndex:
    """Writes by ``(node kind, id)``; ``events`` must already be sorted by time (``Trail.finish``)."""

    def __init__(self, events: list[TrailEvent]) -> None:
        self.events = events
        self.by_key: dict[tuple[str, str], list[int]] = defaultdict(list)
        self._attrs: dict[tuple[int, str], tuple[str, ...]] = {}
        for i, ev in enumerate(events):
            for t in ev.targets:
                for ident in t.ids:
                    self.by_key[(t.kind, ident)].append(i)
                    self._attrs[(i, f"{t.kind}|{ident}")] = t.attributes

    def writes(self, kind: str, ids: Iterable[str]) -> list[NodeWrite]:
        """The writes on the node known by any of ``ids``, oldest first, one per event."""
        found: dict[int, set[str]] = defaultdict(set)
        for ident in ids:
            if not ident:
                continue
            for i in self.by_key.get((kind, ident), ()):
                found[i].update(self._attrs.get((i, f"{kind}|{ident}"), ()))
        return [NodeWrite(self.events[i], tuple(sorted(found[i]))) for i in sorted(found)]


def last_writer(path: str, writes: list[NodeWrite], before: float | None = None) -> TrailEvent | None:
    """The latest write (before ``before``) that set ``path``; None when no write on record did."""
    for w in reversed(writes):
        if before is not None and w.event.ts > before:
            continue
        if any(touches(a, path) for a in w.attributes):
            return w.event
    return None


def _lifecycle(mark: str, writes: list[NodeWrite], before: float | None) -> TrailEvent | None:
    for w in reversed(writes):
        if (before is None or w.event.ts <= before) and mark in w.attributes:
            return w.event
    return None


@dataclass
class Attribution:
    """Per diff (same order) the write behind it, and the drift-level cause."""

    per_path: list[TrailEvent | None]
    cause: TrailEvent | None

    @property
    def related(self) -> list[TrailEvent]:
        """Every other writer behind this drift's paths, latest first."""
        seen = {self.cause.event_id} if self.cause else set()
        out: list[TrailEvent] = []
        for ev in sorted((e for e in self.per_path if e is not None), key=lambda e: (e.ts, e.event_id),
                         reverse=True):
            if ev.event_id not in seen:
                seen.add(ev.event_id)
                out.append(ev)
        return out


def attribute(kind: str, resource_type: str, diffs: list[dict[str, object]], writes: list[NodeWrite],
              before: float | None = None) -> Attribution:
    """Who set each diff's current value (see the module docstring for the rules)."""
    if kind == "missing":
        return Attribution([], _lifecycle(DELETED, writes, before))
    if kind == "unmanaged":
        return Attribution([], _lifecycle(CREATED, writes, before))
    per_path = [last_writer(str(d["path"]), writes, before) for d in diffs]
    best: tuple[int, float, str] | None = None
    cause: TrailEvent | None = None
    for d, ev in zip(diffs, per_path, strict=True):
        if ev is None:
            continue
        rank = (LEVELS.index(diff_severity(resource_type, d)), ev.ts, ev.event_id)
        if best is None or rank > best:
            best, cause = rank, ev
    return Attribution(per_path, cause)
