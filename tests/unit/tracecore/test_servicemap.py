"""Service-map statistics on literal calls: error classes, histograms, percentiles, windows, before/after."""

from __future__ import annotations

import pytest

from airdig.errors import InvalidInput
from airdig.tracecore.pairing import Call
from airdig.tracecore.servicemap import LATENCY_BOUNDS_MS, ServiceMap, percentile
from airdig.tracecore.spans import KIND_CLIENT, KIND_SERVER, STATUS_ERROR, Resource, SpanSummary

A, B = Resource("a", "", {}), Resource("b", "", {})
T0 = 1_700_000_040  # a minute boundary


def call(start_s: float, ms: float, http: int | None = None, status: int = 0, grpc: int | None = None) -> Call:
    start = int(start_s * 1e9)
    attrs: dict[str, object] = {}
    if http is not None:
        attrs["http.response.status_code"] = http
    if grpc is not None:
        attrs["rpc.grpc.status_code"] = grpc
    c = SpanSummary("t", "c", "", KIND_CLIENT, "x", start, start + int(ms * 1e6), 0, A, {})
    s = SpanSummary("t", "s", "c", KIND_SERVER, "x", start, start + int(ms * 1e6 * 0.8), status, B, attrs)
    return Call(A.service_id, B.service_id, "", c, s)


def test_error_classes_and_counts() -> None:
    sm = ServiceMap()
    for c in (call(T0, 5, 200), call(T0, 5, 503), call(T0, 5, 429), call(T0, 5, 404),
              call(T0, 5, status=STATUS_ERROR), call(T0, 5, grpc=14)):
        sm.record(c)
    (row,) = sm.query("1m", until=T0 + 1)
    st = row["stats"]
    assert (st["request_count"], st["error_count"]) == (6, 2)  # the 503 and the status ERROR
    assert st["errors"] == {"5xx": 1, "4xx": 1, "429": 1, "status_error": 1, "grpc": 1}
    assert sum(st["latency_ms"]["counts"]) == 6 and sum(st["server_latency_ms"]["counts"]) == 6


def test_percentiles_interpolate_within_buckets() -> None:
    counts = [0] * (len(LATENCY_BOUNDS_MS) + 1)
    counts[LATENCY_BOUNDS_MS.index(10)] = 100  # 100 calls in (7.5, 10]
    assert percentile(counts, 0.5) == pytest.approx(8.75)
    assert percentile([0] * len(counts), 0.5) is None


def test_windows_and_before_after() -> None:
    sm = ServiceMap(retention=10 ** 10)
    for i in range(10):  # before: 10 fast calls spread over 5 minutes
        sm.record(call(T0 - 300 + i * 30, 4))
    for i in range(20):  # after: 20 slow calls, half of them 5xx
        sm.record(call(T0 + i * 15, 200, 500 if i % 2 else 200))
    assert sum(r["stats"]["request_count"] for r in sm.query("5m", until=T0 + 299)) == 20
    assert sum(r["stats"]["request_count"] for r in sm.query("1h", until=T0 + 299)) == 30
    ba = sm.before_after(A.service_id, B.service_id, T0 + 10, 300)
    assert ba["before"]["request_count"] == 10 and ba["after"]["request_count"] == 20
    assert ba["before"]["error_ratio"] == 0 and ba["after"]["error_ratio"] == 0.5
    assert ba["before"]["p95"] < 5 < 150 < ba["after"]["p95"] <= 250
    assert ba["delta"]["rate"] == pytest.approx(10 / 300)
    with pytest.raises(InvalidInput):
        sm.query("7m")
