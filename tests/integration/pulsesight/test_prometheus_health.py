"""A real Prometheus scrapes a gauge the test moves; a threshold rule walks warning -> critical -> healthy,
without flapping inside the hysteresis band, and every transition reaches the bus (embedded + Kafka)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from airdig.backends.interfaces import Bus
from airdig.model.events import TOPIC_HEALTH, CloudEvent
from airdig.pulsesight.mapping import StaticResolver
from airdig.pulsesight.rules import parse_rule
from airdig.pulsesight.service import PulseSight
from airdig.pulsesight.sources.prometheus import PrometheusSource

DATA = Path(__file__).parents[2] / "data" / "pulsesight"

NODE = "arn:aws:ec2:eu-west-1:123456789012:instance/i-0abc123def4567890"
RULE = parse_rule({"name": "test-gauge", "kind": "aws.ec2.instance", "query": "max by (instance_id) (pulse_test_value)",
                   "node_labels": ["instance_id"], "warning": 80, "critical": 95, "hysteresis": 5, "for": "10s"},
                  "test")


def _set(exporter: Any, prom: PrometheusSource, value: float) -> None:
    """Move the gauge and wait until Prometheus has scraped the new value."""
    exporter.value = value
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        got = prom.instant("pulse_test_value", time.time())
        if got and got[0].value == value:
            return
        time.sleep(0.2)
    pytest.fail(f"prometheus never scraped value {value}")


def _published(bus: Bus, expected: int) -> list[CloudEvent]:
    consumer = bus.consumer("pulsesight-test", [TOPIC_HEALTH])
    out: list[CloudEvent] = []
    deadline = time.monotonic() + 30
    try:
        while len(out) < expected and time.monotonic() < deadline:
            for rec in consumer.poll(timeout=0.5):
                out.append(CloudEvent.decode(rec.value))
    finally:
        consumer.close()
    return sorted(out, key=lambda e: e.time)


@pytest.mark.slow
def test_threshold_rule_on_real_prometheus(prometheus: str, exporter: Any, bus: Bus,
                                           request: pytest.FixtureRequest) -> None:
    prom = PrometheusSource(prometheus, timeout=5)
    request.addfinalizer(prom.close)
    ps = PulseSight([RULE], {"prometheus": prom}, StaticResolver.from_file(DATA / "node_map.yaml"), bus)
    statuses: list[str] = []

    def step(value: float, t: float) -> str:
        if exporter.value != value:
            _set(exporter, prom, value)
        res = ps.evaluator.evaluate_once(now=t)
        assert res["test-gauge"].outcome == "ok", res
        got = ps.state.get(NODE)
        assert got is not None
        statuses.append(got["status"])
        return str(got["status"])

    assert step(50, 0) == "healthy"
    assert step(85, 10) == "healthy"  # above warning, but not yet for 10 s
    assert step(85, 21) == "warning"
    warning = ps.state.get(NODE)
    assert warning is not None
    [reason] = warning["reasons"]
    assert (reason["rule"], reason["value"], reason["threshold"]) == ("test-gauge", 85.0, 80.0)
    # hovering around the threshold inside the 5-point band: no flapping
    for i, v in enumerate((78, 82, 76, 81)):
        assert step(v, 30 + 10 * i) == "warning"
    assert step(97, 70) == "warning"
    assert step(97, 81) == "critical"
    assert step(92, 90) == "critical"  # 92 is inside the critical band (95 - 5)
    crit = ps.state.get(NODE)
    assert crit is not None
    assert crit["reasons"][0]["threshold"] == 95.0 and crit["reasons"][0]["value"] == 92.0
    assert step(10, 100) == "healthy"

    events = _published(bus, 4)
    got = [(e.type, e.subject, e.data["previous"], e.data["status"]) for e in events]
    assert got == [
        ("airdig.health.changed", NODE, "unknown", "healthy"),
        ("airdig.health.changed", NODE, "healthy", "warning"),
        ("airdig.health.changed", NODE, "warning", "critical"),
        ("airdig.health.changed", NODE, "critical", "healthy"),
    ]
    assert events[1].data["reasons"][0]["rule"] == "test-gauge"
    assert events[1].data["reasons"][0]["threshold"] == 80.0
    assert events[2].data["reasons"][0]["threshold"] == 95.0
    assert events[3].data["reasons"] == []
    assert ps.outbox.pending == 0


def test_range_query_on_real_prometheus(prometheus: str, exporter: Any) -> None:
    prom = PrometheusSource(prometheus, timeout=5)
    try:
        _set(exporter, prom, 42)
        now = time.time()
        [series] = prom.range("pulse_test_value", now - 30, now, 1)
    finally:
        prom.close()
    assert series.labels["instance_id"] == "i-0abc123def4567890"
    assert series.points and series.points[-1][1] == 42.0
