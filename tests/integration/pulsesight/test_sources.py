"""Loki, direct scrape and TraceCore statistics as rule sources.

The Loki server here is a local HTTP server answering as Loki's documented query API does
(``GET /loki/api/v1/query_range`` with ``query``, ``start``/``end`` in nanoseconds, ``step``; a metric
query answers ``{"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {...},
"values": [[<unix seconds>, "<value>"], ...]}]}}``), because running Loki itself is out of reach here.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson

from airdig.backends.interfaces import Bus
from airdig.model.events import TOPIC_TRACES, CloudEvent
from airdig.pulsesight.evaluator import Evaluator
from airdig.pulsesight.mapping import Mapper, StaticResolver
from airdig.pulsesight.rules import load_rules, parse_rule
from airdig.pulsesight.sources.loki import LokiSource
from airdig.pulsesight.sources.scrape import ScrapeSource
from airdig.pulsesight.sources.tracestats import TraceStats
from airdig.pulsesight.state import HealthState

DATA = Path(__file__).parents[2] / "data" / "pulsesight"
CART = "k8s://prod/shop/pod/cart-7d4b9c-x2x1"
API = "k8s://prod/shop/pod/api-5f6d7c-q9w8"


def _resolver() -> StaticResolver:
    return StaticResolver.from_file(DATA / "node_map.yaml")


def test_loki_error_log_rule(fake_http: Any) -> None:
    rates = {"cart-7d4b9c-x2x1": "150", "api-5f6d7c-q9w8": "2"}

    def answer(req: Any) -> tuple[int, bytes]:
        if req.path != "/loki/api/v1/query_range":
            return 404, b"404 page not found"
        start, end = int(req.params["start"]) / 1e9, int(req.params["end"]) / 1e9
        result = [{"metric": {"namespace": "shop", "pod": pod},
                   "values": [[start + 60, "1"], [end, value]]} for pod, value in rates.items()]
        return 200, orjson.dumps({"status": "success", "data": {"resultType": "matrix", "result": result,
                                                                "stats": {}}})

    fake_http.handler = answer
    loki = LokiSource(fake_http.url, tenant="team-a", timeout=2)
    try:
        [rule] = [r for r in load_rules(Path(__file__).parents[3] / "airdig/pulsesight/rules/default.yaml")
                  if r.name == "error-logs"]
        state = HealthState()
        ev = Evaluator([rule], {"loki": loki}, Mapper(_resolver()), state)
        now = time.time()
        ev.evaluate_once(now=now)
        ev.evaluate_once(now=now + 301)  # the rule's `for: 5m`
        assert state.get(CART)["status"] == "critical"  # type: ignore[index]
        assert state.get(API)["status"] == "healthy"  # type: ignore[index]
        req = fake_http.requests[-1]
        assert req.headers["x-scope-orgid"] == "team-a"
        assert "count_over_time" in req.params["query"] or "rate(" in req.params["query"]
        assert "[5m]" in req.params["query"]  # $window rendered
        assert int(req.params["end"]) - int(req.params["start"]) == 300 * 10**9
        # error lines stop: Loki returns no series, and for log counts no data means fine
        rates.clear()
        ev.evaluate_once(now=now + 400)
        assert state.get(CART)["status"] == "healthy"  # type: ignore[index]
    finally:
        loki.close()


def test_scrape_source_without_prometheus(fake_http: Any) -> None:
    text = ('# TYPE queue_depth gauge\nqueue_depth{instance_id="i-0abc123def4567890",queue="orders"} 950\n'
            'queue_depth{instance_id="i-0abc123def4567890",queue="audit"} 3\n')
    fake_http.handler = lambda req: (200, text.encode())
    scrape = ScrapeSource([f"{fake_http.url}/metrics", "http://127.0.0.1:9/metrics"], timeout=1, max_age=0)
    try:
        rules = [parse_rule({"name": "depth", "query": 'queue_depth{queue=~"ord.*"}', "warning": 500,
                             "critical": 900, "node_labels": ["instance_id"]}, "t"),
                 parse_rule({"name": "down", "query": "up", "direction": "below", "warning": 1, "critical": 0.5},
                            "t"),
                 parse_rule({"name": "needs-promql", "query": "sum(rate(x[5m]))", "warning": 1, "critical": 2}, "t")]
        state = HealthState()
        mapper = Mapper(StaticResolver({"i-0abc123def4567890": "arn:i", "127.0.0.1:9": "arn:dead"}))
        res = Evaluator(rules, {"prometheus": scrape}, mapper, state).evaluate_once(now=0)
        assert res["depth"].outcome == "ok" and res["needs-promql"].outcome == "skipped"
        assert "need a Prometheus" in (res["needs-promql"].error or "")
        assert state.get("arn:i")["status"] == "critical"  # type: ignore[index]
        assert state.get("arn:dead")["status"] == "critical"  # type: ignore[index]  # up == 0
    finally:
        scrape.close()


def _edge(src: str, dst: str, start: float, requests: int, e5xx: int, p95: float) -> CloudEvent:
    return CloudEvent(type="airdig.trace.edge", source="tracecore", subject=src, data={
        "src": src, "dst": dst, "type": "calls", "window_start": start, "window_seconds": 60,
        "stats": {"request_count": requests, "error_count": e5xx,
                  "errors": {"5xx": e5xx, "4xx": 0, "429": 0, "status_error": 0, "grpc": 0},
                  "latency_ms": {"bounds": [10, 100], "counts": [requests, 0, 0]},
                  "p50": p95 / 2, "p95": p95, "p99": p95 * 1.2}})


def test_trace_edge_stats_from_the_bus_feed_ratio_rules(bus: Bus) -> None:
    t0 = 1_700_000_000.0
    for ev in (_edge("service://shop/web", "service://shop/cart", t0, 200, 50, 40),
               _edge("service://shop/api", "service://shop/cart", t0, 200, 10, 45),
               _edge("service://shop/web", "service://shop/api", t0, 100, 0, 20),
               CloudEvent(type="airdig.trace.edge", source="tracecore", subject="x", data={"src": "x"})):
        bus.publish(TOPIC_TRACES, ev.subject, ev.encode())
    bus.flush()
    stats = TraceStats()
    import threading

    stop = threading.Event()
    worker = threading.Thread(target=stats.consume, args=(bus, "pulsesight-t", stop))
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(stats.instant("trace_requests", t0 + 60, 300)) < 2:
            time.sleep(0.2)
    finally:
        stop.set()
        worker.join(10)
    rules = [r for r in load_rules(Path(__file__).parents[3] / "airdig/pulsesight/rules/default.yaml")
             if r.name == "trace-errors"]
    state = HealthState()
    Evaluator(rules, {"traces": stats}, Mapper(StaticResolver({})), state).evaluate_once(now=0, at=t0 + 60)
    cart = state.get("service://shop/cart")
    assert cart is not None and cart["status"] == "warning"  # 60 / 400 = 15 % 5xx: above 0.1, below 20
    assert cart["reasons"][0]["rule"] == "trace-errors" and cart["reasons"][0]["value"] == 15.0
    assert state.get("service://shop/api")["status"] == "healthy"  # type: ignore[index]
