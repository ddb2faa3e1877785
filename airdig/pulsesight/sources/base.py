"""What every signal source answers: instant samples and range series, plus a tiny selector language.

:class:`MetricSource` is the extension point (Prometheus/Mimir, Loki, direct scrape, TraceCore stats).
Sources raise :class:`~airdig.errors.BackendUnavailable` when they cannot answer, which the evaluator
turns into "unknown" for the nodes the rule covers — never into "healthy".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from airdig.errors import InvalidInput


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class RangeSeries:
    labels: dict[str, str]
    points: list[tuple[float, float]]


@runtime_checkable
class MetricSource(Protocol):
    """Answers the queries of the rules whose ``source`` is its ``name``."""

    name: str

    def instant(self, query: str, at: float, window: float) -> list[Sample]: ...
    def range(self, query: str, start: float, end: float, step: float) -> list[RangeSeries]: ...
    def ping(self) -> None: ...


_SELECTOR = re.compile(r"^\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*(?:\{(.*)\})?\s*$", re.S)
_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')


@dataclass(frozen=True)
class Selector:
    """``name{label="v", other=~"re"}`` — the subset of PromQL a direct scrape can answer."""

    name: str
    matchers: tuple[tuple[str, str, str], ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        for label, op, want in self.matchers:
            have = labels.get(label, "")
            if op == "=" and have != want:
                return False
            if op == "!=" and have == want:
                return False
            if op == "=~" and not re.fullmatch(want, have):
                return False
            if op == "!~" and re.fullmatch(want, have):
                return False
        return True


def parse_selector(query: str) -> Selector:
    """Parse a plain series selector; anything more (functions, aggregations) needs a real PromQL engine."""
    m = _SELECTOR.match(query)
    if not m:
        raise InvalidInput("selector", f"{query!r} is not a plain series selector like name{{label=\"v\"}}; "
                           "functions and aggregations need a Prometheus (set AIRDIG_METRICS_URL)")
    body = m.group(2) or ""
    matchers: list[tuple[str, str, str]] = []
    pos = 0
    while body[pos:].strip():
        mm = _MATCHER.match(body, pos)
        if not mm:
            raise InvalidInput("selector", f"cannot parse label matchers in {query!r} at {body[pos:]!r}")
        value = mm.group(3).encode().decode("unicode_escape")
        if mm.group(2) in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as exc:
                raise InvalidInput("selector", f"bad regex {value!r} in {query!r}: {exc}") from None
        matchers.append((mm.group(1), mm.group(2), value))
        pos = mm.end()
    return Selector(name=m.group(1), matchers=tuple(matchers))
