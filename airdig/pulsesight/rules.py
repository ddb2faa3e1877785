"""Health rules: declared in YAML, validated up front with errors that name the rule and the field.

A rule turns a query result into one *signal* per node. Three modes:

* ``threshold`` — the value of each series against ``warning``/``critical`` thresholds;
* ``ratio`` — error ratios per protocol and code class (5xx, 4xx, 429, gRPC codes) in percent, each with
  its own tolerance, in the style of Kiali's health tolerances (a ``min_requests`` floor keeps a single
  failed request on an idle service from turning it red);
* ``baseline`` — how far the latest value sits above its own trailing history, measured in robust
  z-scores (median / MAD), raised only when an absolute and a relative guard also agree and the traffic
  is above a floor, so a quiet service whose latency doubles from 2 ms to 4 ms stays healthy.

``for`` delays escalation until the level has held that long; ``hysteresis`` is the band below a
threshold a value must fall through before a raised level clears, so a value hovering at the
threshold does not flap.

    rules = load_rules(default_rules_path(), "/etc/airdig/rules.yaml")
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

import yaml

from airdig.errors import ConfigError
from airdig.model.kinds import NODE_KINDS

MODES = ("threshold", "ratio", "baseline")
SOURCES = ("prometheus", "loki", "traces", "scrape")
PROTOCOLS = ("http", "grpc")
# code class -> regular expression over the status-code label (Kiali names: 5XX, 4XX, ...)
CODE_CLASSES: dict[str, str] = {"5xx": "5..", "4xx": "4..", "429": "429", "grpc": "[1-9]|1[0-6]"}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_NAME = re.compile(r"^[A-Za-z0-9_.:-]+$")


def parse_duration(value: Any, where: str) -> float:
    """``30s``, ``5m``, ``1h``, ``250ms`` or a number of seconds → seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ConfigError(where, f"a duration cannot be negative, got {value}")
        return float(value)
    m = _DURATION.match(str(value).strip()) if isinstance(value, str) else None
    if not m:
        raise ConfigError(where, f"expected a duration like 30s, 5m, 1h, got {value!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def promql_duration(seconds: float) -> str:
    """Seconds as a PromQL/LogQL range (``300`` → ``5m``) for ``$window`` in templates."""
    s = int(seconds)
    for unit, size in (("h", 3600), ("m", 60)):
        if s >= size and s % size == 0:
            return f"{s // size}{unit}"
    return f"{max(s, 1)}s"


@dataclass(frozen=True)
class Tolerance:
    """One code class of a ratio rule: error percentage that makes the node warning / critical."""

    code: str
    warning: float
    critical: float
    code_re: str


@dataclass(frozen=True)
class Baseline:
    """Robust baseline settings: the trailing ``window`` sampled every ``step``; z-score thresholds are
    the rule's ``warning``/``critical``; ``min_abs`` / ``min_rel`` are the absolute and relative rises
    over the median also required; ``min_traffic`` is the floor below which no verdict is given."""

    window: float = 3600.0
    step: float = 60.0
    recent: int = 1
    min_abs: float = 0.0
    min_rel: float = 0.0
    traffic_query: str | None = None
    min_traffic: float = 0.0
    mad_floor: float = 1e-9


@dataclass(frozen=True)
class Rule:
    """One validated health rule (see the module docstring for the modes)."""

    name: str
    mode: str
    source: str
    query: str
    warning: float
    critical: float
    node_kind: str | None = None
    node_labels: tuple[str, ...] = ()
    node_template: str | None = None
    direction: str = "above"
    for_seconds: float = 0.0
    hysteresis: float = 0.0
    hysteresis_percent: bool = False
    no_data: str = "unknown"
    window: float = 300.0
    description: str = ""
    # ratio mode
    protocol: str = "http"
    errors_query: str | None = None
    tolerances: tuple[Tolerance, ...] = ()
    min_requests: float = 0.0
    baseline: Baseline | None = None
    labels: dict[str, str] = field(default_factory=dict)

    def render(self, template: str, **extra: str) -> str:
        """The query with ``$window`` (and ``$code_re`` for ratio rules) filled in."""
        return Template(template).safe_substitute(window=promql_duration(self.window), **extra)

    def band(self, threshold: float) -> float:
        """The hysteresis band for one threshold, in the value's own unit."""
        return abs(threshold) * self.hysteresis / 100.0 if self.hysteresis_percent else self.hysteresis


class _Fields:
    """Reads one rule mapping, remembering which keys were used so unknown keys are reported."""

    def __init__(self, raw: dict[str, Any], where: str) -> None:
        self.raw = raw
        self.where = where
        self.used: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.used.add(key)
        return self.raw.get(key, default)

    def string(self, key: str, default: str | None = None, required: bool = False) -> str | None:
        v = self.get(key, default)
        if v is None:
            if required:
                raise ConfigError(f"{self.where}.{key}", "is required")
            return None
        if not isinstance(v, str) or not v.strip():
            raise ConfigError(f"{self.where}.{key}", f"must be a non-empty string, got {v!r}")
        return v.strip()

    def number(self, key: str, default: float | None = None, required: bool = False) -> float | None:
        v = self.get(key, default)
        if v is None:
            if required:
                raise ConfigError(f"{self.where}.{key}", "is required")
            return None
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ConfigError(f"{self.where}.{key}", f"must be a number, got {v!r}")
        return float(v)

    def choice(self, key: str, options: Sequence[str], default: str) -> str:
        v = self.get(key, default)
        if v not in options:
            raise ConfigError(f"{self.where}.{key}", f"must be one of {', '.join(options)}, got {v!r}")
        return str(v)

    def check_unknown(self) -> None:
        unknown = sorted(set(self.raw) - self.used)
        if unknown:
            raise ConfigError(self.where, f"unknown field(s): {', '.join(unknown)}")


def _check_thresholds(where: str, warning: float, critical: float, direction: str) -> None:
    if direction == "above" and critical < warning:
        raise ConfigError(where, f"critical ({critical}) must not be below warning ({warning}) "
                          "for direction 'above'")
    if direction == "below" and critical > warning:
        raise ConfigError(where, f"critical ({critical}) must not be above warning ({warning}) "
                          "for direction 'below'")


def _hysteresis(f: _Fields) -> tuple[float, bool]:
    v = f.get("hysteresis", 0)
    where = f"{f.where}.hysteresis"
    if isinstance(v, str) and v.strip().endswith("%"):
        try:
            pct = float(v.strip()[:-1])
        except ValueError:
            raise ConfigError(where, f"expected a number or a percentage like '10%', got {v!r}") from None
        if not 0 <= pct < 100:
            raise ConfigError(where, f"a percentage must be in [0, 100), got {v!r}")
        return pct, True
    if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
        raise ConfigError(where, f"expected a non-negative number or a percentage like '10%', got {v!r}")
    return float(v), False


def _tolerances(f: _Fields, protocol: str) -> tuple[Tolerance, ...]:
    raw = f.get("tolerances")
    where = f"{f.where}.tolerances"
    if not isinstance(raw, list) or not raw:
        raise ConfigError(where, "a ratio rule needs a non-empty list of {code, warning, critical}")
    out: list[Tolerance] = []
    for i, t in enumerate(raw):
        tw = f"{where}[{i}]"
        if not isinstance(t, dict):
            raise ConfigError(tw, "must be a mapping with code, warning, critical")
        tf = _Fields(t, tw)
        code = str(tf.get("code", "")).lower()
        code_re = tf.string("code_re") or CODE_CLASSES.get(code)
        if not code or code_re is None:
            raise ConfigError(f"{tw}.code", f"unknown code class {code!r}; known: {', '.join(CODE_CLASSES)} "
                              "(or give code_re)")
        if protocol == "grpc" and code in ("5xx", "4xx", "429"):
            raise ConfigError(f"{tw}.code", f"code class {code!r} is HTTP; a grpc rule uses 'grpc' or code_re")
        warning = tf.number("warning", required=True)
        critical = tf.number("critical", required=True)
        if warning is None or critical is None:  # pragma: no cover - required=True raised
            raise ConfigError(tw, "warning and critical are required")
        for name, value in (("warning", warning), ("critical", critical)):
            if not 0 <= value <= 100:
                raise ConfigError(f"{tw}.{name}", f"is a percentage of requests, must be 0..100, got {value}")
        _check_thresholds(tw, warning, critical, "above")
        tf.check_unknown()
        out.append(Tolerance(code=code, warning=warning, critical=critical, code_re=code_re))
    return tuple(out)


def _baseline(f: _Fields) -> Baseline:
    raw = f.get("baseline") or {}
    where = f"{f.where}.baseline"
    if not isinstance(raw, dict):
        raise ConfigError(where, "must be a mapping")
    bf = _Fields(raw, where)
    window = parse_duration(bf.get("window", "1h"), f"{where}.window")
    step = parse_duration(bf.get("step", "1m"), f"{where}.step")
    if step <= 0 or window < step * 5:
        raise ConfigError(where, f"window ({window:g}s) must hold at least 5 steps of {step:g}s")
    recent = bf.get("recent", 1)
    if isinstance(recent, bool) or not isinstance(recent, int) or recent < 1:
        raise ConfigError(f"{where}.recent", f"must be a positive integer, got {recent!r}")
    b = Baseline(
        window=window, step=step, recent=recent,
        min_abs=bf.number("min_abs", 0.0) or 0.0,
        min_rel=bf.number("min_rel", 0.0) or 0.0,
        traffic_query=bf.string("traffic_query"),
        min_traffic=bf.number("min_traffic", 0.0) or 0.0,
    )
    if b.min_abs < 0 or b.min_rel < 0 or b.min_traffic < 0:
        raise ConfigError(where, "min_abs, min_rel and min_traffic must not be negative")
    bf.check_unknown()
    return b


def parse_rule(raw: Any, where: str) -> Rule:
    """Validate one rule mapping; every problem raises :class:`ConfigError` naming ``where.field``."""
    if not isinstance(raw, dict):
        raise ConfigError(where, f"a rule must be a mapping, got {type(raw).__name__}")
    f = _Fields(raw, where)
    name = f.string("name", required=True) or ""
    if not _NAME.match(name):
        raise ConfigError(f"{where}.name", f"{name!r} may hold only letters, digits and _ . : -")
    where = f"{where} ({name})"
    f.where = where
    mode = f.choice("mode", MODES, "threshold")
    source = f.choice("source", SOURCES, "prometheus")
    kind = f.string("kind")
    if kind is not None and kind not in NODE_KINDS:
        raise ConfigError(f"{where}.kind", f"unknown node kind {kind!r}")
    labels = f.get("node_labels", [])
    if not isinstance(labels, list) or not all(isinstance(x, str) and x for x in labels):
        raise ConfigError(f"{where}.node_labels", "must be a list of label names")
    template = f.string("node_template")
    direction = f.choice("direction", ("above", "below"), "above")
    hyst, hyst_pct = _hysteresis(f)
    for_s = parse_duration(f.get("for", 0), f"{where}.for")
    window = parse_duration(f.get("window", "5m"), f"{where}.window")
    no_data = f.choice("no_data", ("unknown", "healthy"), "healthy" if source == "loki" else "unknown")
    query = f.string("query", required=True) or ""
    extra_labels = f.get("labels", {}) or {}
    if not isinstance(extra_labels, dict):
        raise ConfigError(f"{where}.labels", "must be a mapping of strings")
    common: dict[str, Any] = dict(
        name=name, mode=mode, source=source, query=query, node_kind=kind, node_labels=tuple(labels),
        node_template=template, direction=direction, for_seconds=for_s, hysteresis=hyst,
        hysteresis_percent=hyst_pct, no_data=no_data, window=window,
        description=f.string("description") or "", labels={str(k): str(v) for k, v in extra_labels.items()},
    )
    if mode == "ratio":
        if direction != "above":
            raise ConfigError(f"{where}.direction", "ratio rules measure errors; only 'above' makes sense")
        protocol = f.choice("protocol", PROTOCOLS, "http")
        errors = f.string("errors", required=source != "traces")
        if errors is not None and "$code_re" not in errors:
            raise ConfigError(f"{where}.errors", "must contain $code_re where the code-class regex goes")
        tolerances = _tolerances(f, protocol)
        min_req = f.number("min_requests", 0.0) or 0.0
        f.check_unknown()
        return Rule(warning=0.0, critical=0.0, protocol=protocol, errors_query=errors, tolerances=tolerances,
                    min_requests=min_req, **common)
    warning = f.number("warning", required=True)
    critical = f.number("critical", required=True)
    if warning is None or critical is None:  # pragma: no cover - required=True raised
        raise ConfigError(where, "warning and critical are required")
    _check_thresholds(where, warning, critical, direction)
    baseline = None
    if mode == "baseline":
        if direction != "above":
            raise ConfigError(f"{where}.direction", "baseline rules flag rises; only 'above' is supported")
        if warning <= 0:
            raise ConfigError(f"{where}.warning", "is a robust z-score in baseline mode and must be > 0")
        baseline = _baseline(f)
        if source == "scrape":
            raise ConfigError(f"{where}.source", "baseline mode needs history; a direct scrape has none")
    f.check_unknown()
    return Rule(warning=warning, critical=critical, baseline=baseline, **common)


def parse_rules(doc: Any, origin: str) -> list[Rule]:
    """A document ``{rules: [...]}`` → validated rules; names must be unique within the document."""
    if doc is None:
        return []
    if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list):
        raise ConfigError(origin, "a rules file holds a mapping with a 'rules' list")
    unknown = set(doc) - {"rules"}
    if unknown:
        raise ConfigError(origin, f"unknown top-level key(s): {', '.join(sorted(unknown))}")
    out: list[Rule] = []
    seen: set[str] = set()
    for i, raw in enumerate(doc["rules"]):
        rule = parse_rule(raw, f"{origin}: rules[{i}]")
        if rule.name in seen:
            raise ConfigError(f"{origin}: rules[{i}]", f"duplicate rule name {rule.name!r}")
        seen.add(rule.name)
        out.append(rule)
    return out


def default_rules_path() -> Path:
    return Path(__file__).parent / "rules" / "default.yaml"


def load_rules(*paths: str | Path) -> list[Rule]:
    """Read rule files in order; a later file's rule replaces an earlier one of the same name, and a
    rule with ``disabled: true`` in a later file removes it."""
    merged: dict[str, Rule] = {}
    for path in paths:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError("pulsesight rules", f"cannot read {p}: {exc.strerror}") from exc
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError("pulsesight rules", f"{p} is not valid YAML: {exc}") from exc
        disabled: set[str] = set()
        if isinstance(doc, dict) and isinstance(doc.get("rules"), list):
            kept = []
            for raw in doc["rules"]:
                if isinstance(raw, dict) and raw.get("disabled") is True:
                    disabled.add(str(raw.get("name")))
                else:
                    kept.append(raw)
            doc = {**doc, "rules": kept}
        for name in disabled:
            merged.pop(name, None)
        for rule in parse_rules(doc, str(p)):
            merged[rule.name] = rule
    return list(merged.values())
