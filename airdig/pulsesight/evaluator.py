"""The periodic loop: run every rule against its source, map series to nodes, feed the health state.

A source that fails (timeout, refused, error answer) turns every signal the rule holds into "unknown"
with the reason, and logs one line naming the rule, the source and the error: "could not measure" is
never "healthy". A series that disappears from a successful answer follows the rule's ``no_data``.

    ev = Evaluator(rules, {"prometheus": PrometheusSource(url)}, mapper, state)
    ev.evaluate_once()
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from airdig.errors import BackendUnavailable, InvalidInput
from airdig.logs import get_logger
from airdig.pulsesight.mapping import Mapper
from airdig.pulsesight.rules import Rule
from airdig.pulsesight.sources.base import MetricSource, Sample
from airdig.pulsesight.state import HealthState, Observation

log = get_logger("pulsesight.evaluator")
MAD_SCALE = 1.4826  # makes the MAD estimate the standard deviation of normally distributed data


@dataclass
class RuleResult:
    rule: str
    outcome: str  # ok | failed | skipped
    error: str | None = None
    nodes: int = 0
    unmapped: int = 0


@dataclass(frozen=True)
class BaselineVerdict:
    """The robust z-score of the latest value (0 when a guard holds it back) and why."""

    score: float | None
    message: str


def baseline_verdict(values: Sequence[float], recent: int, min_abs: float, min_rel: float,
                     mad_floor: float = 1e-9) -> BaselineVerdict:
    """Score the mean of the last ``recent`` values against the median/MAD of the ones before (pure).

    The score counts only when the rise also exceeds ``min_abs`` (absolute) and ``min_rel`` (relative to
    the median): a flat history has a MAD of zero, and without the guards any jitter would be infinite.
    """
    if len(values) < recent + 5:
        return BaselineVerdict(None, f"not enough history ({len(values)} points, need {recent + 5})")
    history, latest = list(values[:-recent]), list(values[-recent:])
    current = sum(latest) / len(latest)
    median = statistics.median(history)
    mad = statistics.median(abs(v - median) for v in history)
    spread = max(MAD_SCALE * mad, mad_floor)
    rise = current - median
    score = rise / spread
    desc = f"current {current:.4g} vs median {median:.4g} (MAD {mad:.4g})"
    if rise <= min_abs:
        return BaselineVerdict(0.0, f"{desc}: rise {rise:.4g} within absolute guard {min_abs:g}")
    if median > 0 and rise / median <= min_rel:
        return BaselineVerdict(0.0, f"{desc}: rise {100 * rise / median:.1f}% within relative guard "
                                    f"{100 * min_rel:g}%")
    return BaselineVerdict(min(score, 1e9), f"{desc}: {score:.1f} robust deviations above baseline")


@dataclass
class _Collected:
    observations: list[Observation] = field(default_factory=list)
    unmapped: int = 0


class Evaluator:
    """Evaluates rules; thread-safe to call from one loop thread plus tests."""

    def __init__(self, rules: Sequence[Rule], sources: Mapping[str, MetricSource], mapper: Mapper,
                 state: HealthState, clock: Callable[[], float] = time.time,
                 on_result: Callable[[RuleResult], None] | None = None) -> None:
        self.rules = list(rules)
        self.sources = dict(sources)
        self.mapper = mapper
        self.state = state
        self.clock = clock
        self.on_result = on_result
        self.last: dict[str, RuleResult] = {}
        self._warned: set[str] = set()

    # ------------------------------------------------------------ loop

    def evaluate_once(self, now: float | None = None, at: float | None = None) -> dict[str, RuleResult]:
        """One pass. ``now`` is the state machine's clock, ``at`` the query time (default: now)."""
        now = self.clock() if now is None else now
        query_at = time.time() if at is None else at
        results = {}
        for rule in self.rules:
            res = self.evaluate_rule(rule, now, query_at)
            results[rule.name] = res
            if self.on_result is not None:
                self.on_result(res)
        self.state.expire(now)
        self.last = results
        return results

    def run(self, interval: float, stop: threading.Event) -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                self.evaluate_once()
            except Exception:  # the loop must outlive any one bad pass
                log.error("evaluation pass failed", exc_info=True)
            stop.wait(max(0.0, interval - (time.monotonic() - started)))

    # ------------------------------------------------------------ one rule

    def evaluate_rule(self, rule: Rule, now: float, at: float) -> RuleResult:
        source = self.sources.get(rule.source)
        if source is None:
            self._warn_once(rule.name, "rule skipped: its source is not configured", source=rule.source)
            return RuleResult(rule.name, "skipped", f"source {rule.source} not configured")
        try:
            if rule.mode == "threshold":
                got = self._threshold(rule, source, at)
            elif rule.mode == "ratio":
                got = self._ratio(rule, source, at)
            else:
                got = self._baseline(rule, source, at)
        except InvalidInput as exc:
            # the rule asks something this source cannot answer (e.g. PromQL functions on a direct scrape)
            self._warn_once(rule.name, "rule skipped: its query does not suit the source",
                            source=rule.source, error=str(exc))
            return RuleResult(rule.name, "skipped", str(exc))
        except BackendUnavailable as exc:
            log.error("rule source failed; its nodes are now unknown", rule=rule.name, source=rule.source,
                      error=str(exc))
            held = self.state.signals_of_rule(rule.name)
            self.state.observe([Observation(node, sig, rule.name, None,
                                            message=f"{rule.source} unavailable: {exc.detail}")
                                for node, sig in held], now)
            return RuleResult(rule.name, "failed", str(exc), nodes=len({n for n, _ in held}))
        seen = {(o.node_id, o.signal) for o in got.observations}
        self.state.observe(got.observations, now)
        for node, sig in self.state.signals_of_rule(rule.name):
            if (node, sig) in seen:
                continue
            if rule.no_data == "healthy":
                self.state.clear(node, sig, now)
            else:
                self.state.observe([Observation(node, sig, rule.name, None,
                                                message="no data for this node in the last evaluation")], now)
        return RuleResult(rule.name, "ok", nodes=len({o.node_id for o in got.observations}),
                          unmapped=got.unmapped)

    def _map(self, rule: Rule, sample_labels: Mapping[str, str], signal: str, value: float,
             into: _Collected) -> str | None:
        node = self.mapper.map(rule.source, signal, sample_labels, rule.node_labels, rule.node_template, value)
        if node is None:
            into.unmapped += 1
        return node

    def _obs(self, rule: Rule, node: str, signal: str, value: float | None, warning: float, critical: float,
             message: str) -> Observation:
        return Observation(node, signal, rule.name, value, warning, critical, rule.direction,
                           rule.band(warning), rule.band(critical), rule.for_seconds, message)

    def _threshold(self, rule: Rule, source: MetricSource, at: float) -> _Collected:
        out = _Collected()
        per_node: dict[str, float] = {}
        for s in source.instant(rule.render(rule.query), at, rule.window):
            node = self._map(rule, s.labels, rule.name, s.value, out)
            if node is None:
                continue
            # several series on one node (one per CPU, per disk): the worst one speaks for it
            prev = per_node.get(node)
            worse = prev is None or (s.value < prev if rule.direction == "below" else s.value > prev)
            if worse:
                per_node[node] = s.value
        for node, value in per_node.items():
            msg = f"{rule.description or rule.name}: {value:.4g} ({rule.direction} {rule.warning:g}/{rule.critical:g})"
            out.observations.append(self._obs(rule, node, rule.name, value, rule.warning, rule.critical, msg))
        return out

    def _sum_by_node(self, rule: Rule, samples: list[Sample], signal: str, into: _Collected) -> dict[str, float]:
        totals: dict[str, float] = {}
        for s in samples:
            node = self._map(rule, s.labels, signal, s.value, into)
            if node is not None:
                totals[node] = totals.get(node, 0.0) + s.value
        return totals

    def _ratio(self, rule: Rule, source: MetricSource, at: float) -> _Collected:
        out = _Collected()
        requests = self._sum_by_node(rule, source.instant(rule.render(rule.query), at, rule.window),
                                     rule.name, out)
        for tol in rule.tolerances:
            signal = f"{rule.name}:{tol.code}"
            errors_q = rule.render(rule.errors_query or 'trace_errors{code_class=~"$code_re"}',
                                   code_re=tol.code_re)
            errors = self._sum_by_node(rule, source.instant(errors_q, at, rule.window), signal, out)
            for node, req in requests.items():
                err = errors.get(node, 0.0)
                if req <= 0 or req < rule.min_requests:
                    msg = f"{rule.protocol} {tol.code}: traffic {req:.4g} below floor {rule.min_requests:g}"
                    out.observations.append(Observation(node, signal, rule.name, 0.0, tol.warning, tol.critical,
                                                        message=msg, level="healthy"))
                    continue
                pct = min(100.0, 100.0 * err / req)
                msg = f"{rule.protocol} {tol.code} errors {pct:.3g}% of {req:.4g} requests " \
                      f"(tolerance {tol.warning:g}%/{tol.critical:g}%)"
                out.observations.append(self._obs(rule, node, signal, pct, tol.warning, tol.critical, msg))
        return out

    def _baseline(self, rule: Rule, source: MetricSource, at: float) -> _Collected:
        b = rule.baseline
        if b is None:  # parse_rule always sets it for baseline rules
            raise InvalidInput(rule.name, "baseline rule without baseline settings")
        out = _Collected()
        traffic: dict[str, float] | None = None
        if b.traffic_query:
            traffic = self._sum_by_node(rule, source.instant(rule.render(b.traffic_query), at, rule.window),
                                        rule.name, out)
        for series in source.range(rule.render(rule.query), at - b.window, at, b.step):
            values = [v for _, v in series.points]
            node = self._map(rule, series.labels, rule.name, values[-1] if values else float("nan"), out)
            if node is None:
                continue
            if traffic is not None and traffic.get(node, 0.0) < b.min_traffic:
                out.observations.append(Observation(
                    node, rule.name, rule.name, 0.0, rule.warning, rule.critical, level="healthy",
                    message=f"traffic {traffic.get(node, 0.0):.4g} below floor {b.min_traffic:g}"))
                continue
            verdict = baseline_verdict(values, b.recent, b.min_abs, b.min_rel, b.mad_floor)
            if verdict.score is None:
                out.observations.append(Observation(node, rule.name, rule.name, 0.0, rule.warning, rule.critical,
                                                    level="healthy", message=verdict.message))
                continue
            out.observations.append(self._obs(rule, node, rule.name, verdict.score, rule.warning, rule.critical,
                                              verdict.message))
        return out

    def _warn_once(self, key: str, msg: str, **fields: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(msg, rule=key, **fields)
