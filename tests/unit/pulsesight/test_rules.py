"""Rule validation: the shipped defaults load; every mistake names the rule and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airdig.errors import ConfigError
from airdig.pulsesight.rules import (
    default_rules_path,
    load_rules,
    parse_duration,
    parse_rule,
    promql_duration,
)


def test_shipped_defaults_load() -> None:
    rules = {r.name: r for r in load_rules(default_rules_path())}
    assert {"host-cpu", "http-errors", "trace-errors", "trace-latency-baseline", "error-logs"} <= set(rules)
    assert rules["error-logs"].hysteresis_percent and rules["error-logs"].band(100) == 10.0
    assert [t.code for t in rules["http-errors"].tolerances] == ["5xx", "4xx", "429"]
    assert rules["http-errors"].render(rules["http-errors"].errors_query or "", code_re="5..").count('=~"5.."') == 1
    assert rules["trace-latency-baseline"].baseline is not None


BASE: dict[str, Any] = {"name": "r", "query": "up", "warning": 1, "critical": 2}


@pytest.mark.parametrize(("change", "message"), [
    ({"name": "bad name!"}, "may hold only"),
    ({"query": None}, "query: is required"),
    ({"mode": "magic"}, "mode: must be one of"),
    ({"kind": "aws.nothing"}, "unknown node kind"),
    ({"warning": 5, "critical": 2}, "must not be below warning"),
    ({"direction": "below", "warning": 1, "critical": 2}, "must not be above warning"),
    ({"for": "five minutes"}, "expected a duration"),
    ({"hysteresis": "150%"}, "percentage must be in"),
    ({"hysteresis": -1}, "non-negative"),
    ({"thresold": 3}, "unknown field(s): thresold"),
    ({"warning": "high"}, "warning: must be a number"),
    ({"mode": "ratio", "errors": "x", "tolerances": [{"code": "5xx", "warning": 1, "critical": 2}]},
     "must contain $code_re"),
    ({"mode": "ratio", "errors": "x{c=~\"$code_re\"}", "tolerances": []}, "non-empty list"),
    ({"mode": "ratio", "errors": "x{c=~\"$code_re\"}", "tolerances": [{"code": "3xx", "warning": 1, "critical": 2}]},
     "unknown code class"),
    ({"mode": "ratio", "errors": "x{c=~\"$code_re\"}", "tolerances": [{"code": "5xx", "warning": 1, "critical": 200}]},
     "must be 0..100"),
    ({"mode": "ratio", "protocol": "grpc", "errors": "x{c=~\"$code_re\"}",
      "tolerances": [{"code": "5xx", "warning": 1, "critical": 2}]}, "is HTTP"),
    ({"mode": "baseline", "baseline": {"window": "2m", "step": "1m"}}, "at least 5 steps"),
    ({"mode": "baseline", "warning": 0}, "robust z-score"),
    ({"mode": "baseline", "baseline": {"recent": 0}}, "positive integer"),
])
def test_bad_rules_are_reported_precisely(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_rule({**BASE, **change}, "rules.yaml: rules[0]")
    assert message in str(err.value)
    assert str(err.value).startswith("rules.yaml: rules[0]")


def test_user_file_replaces_and_disables(tmp_path: Path) -> None:
    user = tmp_path / "mine.yaml"
    user.write_text("rules:\n  - {name: host-cpu, query: my_cpu, warning: 50, critical: 60}\n"
                    "  - {name: error-logs, disabled: true}\n")
    rules = {r.name: r for r in load_rules(default_rules_path(), user)}
    assert rules["host-cpu"].query == "my_cpu" and rules["host-cpu"].warning == 50
    assert "error-logs" not in rules


def test_duplicate_names_and_bad_files(tmp_path: Path) -> None:
    dup = tmp_path / "dup.yaml"
    dup.write_text("rules:\n  - {name: a, query: up, warning: 1, critical: 2}\n"
                   "  - {name: a, query: up, warning: 1, critical: 2}\n")
    with pytest.raises(ConfigError, match="duplicate rule name 'a'"):
        load_rules(dup)
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_rules(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_rules(tmp_path / "missing.yaml")


def test_durations() -> None:
    assert parse_duration("5m", "x") == 300 and parse_duration("250ms", "x") == 0.25 and parse_duration(7, "x") == 7
    assert promql_duration(300) == "5m" and promql_duration(3600) == "1h" and promql_duration(90) == "90s"
