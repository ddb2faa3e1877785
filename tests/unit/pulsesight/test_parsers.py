"""Pure transforms on literal inputs: Prometheus answers, Falco and Alertmanager bodies, baselines,
trace-edge windows, selectors."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from airdig.errors import InvalidInput
from airdig.pulsesight.alertmanager import parse_alertmanager
from airdig.pulsesight.evaluator import baseline_verdict
from airdig.pulsesight.falco import parse_falco
from airdig.pulsesight.sources.base import parse_selector
from airdig.pulsesight.sources.prometheus import parse_instant, parse_matrix
from airdig.pulsesight.sources.scrape import parse_exposition
from airdig.pulsesight.sources.tracestats import window_series

DATA = Path(__file__).parents[2] / "data" / "pulsesight"


def test_prometheus_answers() -> None:
    body = {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"instance": "a"}, "value": [1.5, "3.25"]}, {"metric": {}, "value": [1.5, "NaN"]}]}}
    [s] = parse_instant(body)
    assert s.labels == {"instance": "a"} and s.value == 3.25
    assert parse_instant({"status": "success", "data": {"resultType": "scalar", "result": [1, "2"]}})[0].value == 2
    [m] = parse_matrix({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"a": "b"}, "values": [[1, "1"], [2, "+Inf"]]}]}})
    assert m.points == [(1.0, 1.0), (2.0, float("inf"))]
    with pytest.raises(InvalidInput, match="bad_data: parse error"):
        parse_instant({"status": "error", "errorType": "bad_data", "error": "parse error"})


def test_falco_event() -> None:
    ev = parse_falco(orjson.loads((DATA / "falco_pod_event.json").read_bytes()))
    assert (ev.rule, ev.priority, ev.hostname, ev.source) == (
        "Read sensitive file untrusted", "warning", "ip-10-0-1-17.eu-west-1.compute.internal", "syscall")
    assert ev.time == pytest.approx(1684859747.123456)
    assert ev.labels()["k8s.pod.name"] == "cart-7d4b9c-x2x1" and ev.labels()["user.uid"] == "0"
    assert parse_falco(orjson.loads((DATA / "falco_pod_event.json").read_bytes())).id == ev.id  # stable id
    data = ev.to_event("k8s://x").data
    assert set(data) == {"id", "source", "rule", "priority", "output", "time", "fields", "tags", "hostname"}


def test_falco_event_is_published_without_the_secrets_it_quotes() -> None:
    body = orjson.loads((DATA / "falco_pod_event.json").read_bytes())
    body["output"] = "Shell spawned (proc.cmdline=psql postgres://app:FalcoPw-81x@db/x --password=FalcoPw-82y)"
    body["output_fields"] = {**body.get("output_fields", {}), "proc.cmdline": "app --api-key FalcoKey-83z",
                             "proc.env": "DB_PASSWORD=FalcoPw-84w HOME=/root"}
    data = parse_falco(body).to_event("k8s://prod/shop/pod/p").data
    dumped = orjson.dumps(data).decode()
    assert not any(s in dumped for s in ("FalcoPw-81x", "FalcoPw-82y", "FalcoKey-83z", "FalcoPw-84w"))
    assert "postgres://app:***@db/x" in data["output"] and data["fields"]["proc.env"] == "DB_PASSWORD=*** HOME=/root"


def test_alertmanager_v4() -> None:
    alerts = parse_alertmanager(orjson.loads((DATA / "alertmanager_firing.json").read_bytes()))
    assert [(a.name, a.status, a.level, a.ends_at) for a in alerts] == [
        ("HighCPU", "firing", "critical", None), ("RDSFreeStorageLow", "firing", "warning", None),
        ("KubePodCrashLooping", "firing", "warning", None)]
    [resolved] = parse_alertmanager(orjson.loads((DATA / "alertmanager_resolved.json").read_bytes()))
    assert resolved.status == "resolved" and resolved.ends_at == pytest.approx(1706779800.987654)
    assert resolved.signal == alerts[0].signal == "alert:HighCPU:6f8a3e1c2b9d0a71"
    with pytest.raises(InvalidInput, match=r"alerts\[0\].startsAt"):
        parse_alertmanager({"version": "4", "alerts": [{"status": "firing", "labels": {"alertname": "A"},
                                                         "startsAt": "soon"}]})


def test_baseline_verdicts() -> None:
    history = [100, 102, 98, 101, 99, 100, 103, 97, 100, 101]
    up = baseline_verdict([*history, 160], recent=1, min_abs=20, min_rel=0.2)
    assert up.score is not None and up.score > 20
    small = baseline_verdict([*history, 110], recent=1, min_abs=20, min_rel=0.2)
    assert small.score == 0.0 and "absolute guard" in small.message
    rel = baseline_verdict([*history, 125], recent=1, min_abs=20, min_rel=0.5)
    assert rel.score == 0.0 and "relative guard" in rel.message
    assert baseline_verdict([1, 2, 3], recent=1, min_abs=0, min_rel=0).score is None
    flat = baseline_verdict([2.0] * 10 + [4.0], recent=1, min_abs=5, min_rel=0)
    assert flat.score == 0.0  # a flat history (MAD 0) is held back by the absolute guard
    # one outlier in the history does not move a robust baseline
    spiky = baseline_verdict([100, 100, 100, 5000, 100, 100, 100, 100, 160], recent=1, min_abs=20, min_rel=0.2)
    assert spiky.score is not None and spiky.score > 4


def test_trace_window_series() -> None:
    out = window_series([
        {"request_count": 100, "error_count": 10, "errors": {"5xx": 8, "429": 2}, "p95": 40},
        {"request_count": 300, "error_count": 0, "errors": {}, "p95": 90}])
    assert out["trace_requests"] == 400 and out["trace_error_ratio"] == 2.5
    assert out["trace_errors|5xx"] == 8 and out["trace_errors|429"] == 2 and out["trace_latency_p95_ms"] == 90
    assert "trace_latency_p99_ms" not in out


def test_selectors_and_exposition() -> None:
    sel = parse_selector('x{a="1", b!="2", c=~"f.*", d!~"z"}')
    assert sel.matches({"a": "1", "b": "3", "c": "foo", "d": "y"})
    assert not sel.matches({"a": "1", "b": "2", "c": "foo"})
    with pytest.raises(InvalidInput, match="plain series selector"):
        parse_selector("sum(rate(x[5m]))")
    samples = parse_exposition('# TYPE c counter\nc_total{k="v"} 3\n', "h:1")
    assert [(s.labels, s.value) for s in samples] == [({"k": "v", "instance": "h:1", "__name__": "c_total"}, 3.0)]
