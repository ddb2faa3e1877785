"""Evaluator modes against an in-memory source: thresholds, ratios with floors, baselines, no-data."""

from __future__ import annotations

from typing import Any

from airdig.errors import BackendUnavailable
from airdig.pulsesight.evaluator import Evaluator
from airdig.pulsesight.mapping import Mapper, StaticResolver
from airdig.pulsesight.rules import parse_rule
from airdig.pulsesight.sources.base import RangeSeries, Sample
from airdig.pulsesight.state import HealthState


class MemorySource:
    """Answers queries from a dict; ``down`` makes every call fail like an unreachable server."""

    name = "prometheus"

    def __init__(self) -> None:
        self.instant_answers: dict[str, list[Sample]] = {}
        self.range_answers: dict[str, list[RangeSeries]] = {}
        self.down = False
        self.asked: list[str] = []

    def instant(self, query: str, at: float, window: float) -> list[Sample]:
        self.asked.append(query)
        if self.down:
            raise BackendUnavailable("prometheus", "connection refused")
        return self.instant_answers.get(query, [])

    def range(self, query: str, start: float, end: float, step: float) -> list[RangeSeries]:
        self.asked.append(query)
        return self.range_answers.get(query, [])

    def ping(self) -> None:
        return None


def _setup(rule: dict[str, Any]) -> tuple[MemorySource, HealthState, Evaluator]:
    src = MemorySource()
    state = HealthState()
    ev = Evaluator([parse_rule(rule, "t")], {"prometheus": src},
                   Mapper(StaticResolver({"a": "node-a", "b": "node-b"})), state)
    return src, state, ev


def _status(state: HealthState, node: str) -> str | None:
    got = state.get(node)
    return None if got is None else str(got["status"])


def test_threshold_worst_series_per_node_and_no_data() -> None:
    src, state, ev = _setup({"name": "disk", "query": "disk", "warning": 80, "critical": 90,
                             "node_labels": ["host"]})
    src.instant_answers["disk"] = [Sample({"host": "a", "mount": "/"}, 50), Sample({"host": "a", "mount": "/data"}, 93),
                                   Sample({"host": "zzz"}, 99)]
    ev.evaluate_once(now=0)
    assert _status(state, "node-a") == "critical"
    assert ev.last["disk"].unmapped == 1
    src.instant_answers["disk"] = []
    ev.evaluate_once(now=1)
    node = state.get("node-a")
    assert node is not None and node["status"] == "unknown" and "no data" in node["reasons"][0]["message"]


def test_ratio_tolerances_and_traffic_floor() -> None:
    src, state, ev = _setup({
        "name": "http", "mode": "ratio", "query": "req", "errors": 'err{code=~"$code_re"}', "min_requests": 1,
        "node_labels": ["svc"], "tolerances": [{"code": "5xx", "warning": 1, "critical": 20},
                                               {"code": "429", "warning": 5, "critical": 50}]})
    src.instant_answers["req"] = [Sample({"svc": "a"}, 100), Sample({"svc": "b"}, 0.5)]
    src.instant_answers['err{code=~"5.."}'] = [Sample({"svc": "a"}, 2), Sample({"svc": "b"}, 0.5)]
    src.instant_answers['err{code=~"429"}'] = [Sample({"svc": "a"}, 60)]
    ev.evaluate_once(now=0)
    a = state.get("node-a")
    assert a is not None and a["status"] == "critical"
    assert [(r["rule"], r["level"], r["value"]) for r in a["reasons"]] == [("http", "critical", 60.0),
                                                                           ("http", "warning", 2.0)]
    assert _status(state, "node-b") == "healthy"  # 100 % errors, but 0.5 requests is below the floor


def test_baseline_mode_with_traffic_floor() -> None:
    src, state, ev = _setup({
        "name": "lat", "mode": "baseline", "query": "p95", "warning": 3, "critical": 6, "node_labels": ["svc"],
        "baseline": {"window": "10m", "step": "1m", "min_abs": 10, "min_rel": 0.2, "traffic_query": "rps",
                     "min_traffic": 1}})
    history = [(float(i), v) for i, v in enumerate([100, 104, 98, 101, 99, 102, 97, 100, 180])]
    src.range_answers["p95"] = [RangeSeries({"svc": "a"}, history), RangeSeries({"svc": "b"}, history)]
    src.instant_answers["rps"] = [Sample({"svc": "a"}, 50), Sample({"svc": "b"}, 0.1)]
    ev.evaluate_once(now=0)
    a = state.get("node-a")
    assert a is not None and a["status"] == "critical" and "median 100" in a["reasons"][0]["message"]
    assert _status(state, "node-b") == "healthy"


def test_source_down_turns_held_signals_unknown() -> None:
    src, state, ev = _setup({"name": "cpu", "query": "cpu", "warning": 80, "critical": 90, "node_labels": ["host"]})
    src.instant_answers["cpu"] = [Sample({"host": "a"}, 10)]
    ev.evaluate_once(now=0)
    src.down = True
    res = ev.evaluate_once(now=1)["cpu"]
    assert res.outcome == "failed" and res.nodes == 1
    assert _status(state, "node-a") == "unknown"
    src.down = False
    ev.evaluate_once(now=2)
    assert _status(state, "node-a") == "healthy"


def test_rule_for_missing_source_is_skipped() -> None:
    state = HealthState()
    ev = Evaluator([parse_rule({"name": "logs", "source": "loki", "query": "x", "warning": 1, "critical": 2}, "t")],
                   {}, Mapper(StaticResolver({})), state)
    assert ev.evaluate_once(now=0)["logs"].outcome == "skipped"
    assert state.snapshot() == []
