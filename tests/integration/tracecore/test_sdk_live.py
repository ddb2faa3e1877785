"""Spans from the real OpenTelemetry Python SDK, exported with its OTLP/HTTP and OTLP/gRPC exporters
to a running TraceCore; the edges, the virtual database node and the infrastructure links it publishes
on the (embedded) bus are asserted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from airdig.backends.registry import open_bus
from airdig.settings import Settings
from airdig.tracecore.serve import TraceCoreHandle, TraceCoreOptions, start_tracecore

RDS = "orders.c9akciq32.us-east-1.rds.amazonaws.com"
CONTAINER = "3f4e8a9b2c1d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f"


@pytest.fixture
def tracecore(data_dir: Path) -> Iterator[TraceCoreHandle]:
    settings = Settings.load(overrides={"data_dir": str(data_dir)}, environ={})
    opts = TraceCoreOptions(pair_wait=0.3, window_seconds=0.5)
    handle = start_tracecore(settings, "127.0.0.1", 0, 0, options=opts)
    yield handle
    handle.stop()


def _provider(exporter: SpanExporter, **attrs: str) -> TracerProvider:
    tp = TracerProvider(resource=Resource.create(attrs))
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    return tp


def test_sdk_spans_over_http_and_grpc_become_edges(tracecore: TraceCoreHandle, data_dir: Path,
                                                   read_events: Any, sum_edge: Any) -> None:
    http = HttpExporter(endpoint=f"http://127.0.0.1:{tracecore.http_port}/v1/traces")
    grpc_exp = GrpcExporter(endpoint=f"127.0.0.1:{tracecore.grpc_port}", insecure=True)
    grpc_exp2 = GrpcExporter(endpoint=f"127.0.0.1:{tracecore.grpc_port}", insecure=True)
    frontend = _provider(http, **{"service.name": "frontend", "host.id": "i-0abc1234def567890",
                                  "cloud.provider": "aws", "cloud.account.id": "123456789012",
                                  "cloud.region": "us-east-1"})
    checkout = _provider(grpc_exp, **{"service.name": "checkout", "k8s.pod.name": "checkout-7d9f",
                                      "k8s.namespace.name": "shop", "k8s.cluster.name": "prod",
                                      "container.id": CONTAINER})
    worker = _provider(grpc_exp2, **{"service.name": "worker", "host.id": "i-0fff"})
    ft, ct, wt = frontend.get_tracer("t"), checkout.get_tracer("t"), worker.get_tracer("t")

    for status in (200, 200, 503):
        with ft.start_as_current_span("GET /checkout", kind=SpanKind.CLIENT,
                                      attributes={"http.request.method": "GET"}) as client:
            ctx = trace.set_span_in_context(client)
            with ct.start_as_current_span("GET /checkout", context=ctx, kind=SpanKind.SERVER,
                                          attributes={"http.status_code": status}) as server:
                if status >= 500:
                    server.set_status(Status(StatusCode.ERROR))
                # old semantic-convention keys on the database call
                with ct.start_as_current_span("SELECT orders", kind=SpanKind.CLIENT, attributes={
                        "db.system": "postgresql", "db.name": "orders", "net.peer.name": RDS,
                        "net.peer.port": 5432}):
                    pass
                with ct.start_as_current_span("orders publish", kind=SpanKind.PRODUCER, attributes={
                        "messaging.system": "kafka", "messaging.destination.name": "orders"}) as producer:
                    link = Link(producer.get_span_context())
            # the consumer starts a new trace and links to the producer (asynchronous messaging)
            with wt.start_as_current_span("orders process", context=trace.set_span_in_context(
                    trace.INVALID_SPAN), kind=SpanKind.CONSUMER, links=[link]):
                pass
    for tp in (frontend, checkout, worker):
        tp.shutdown()

    fe, co, wk = "service://_/frontend", "service://_/checkout", "service://_/worker"
    db = f"service://~db/{RDS}:5432"
    want = {
        (fe, "calls", co), (co, "calls", db), (co, "calls", wk),
        (fe, "runs_on", "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc1234def567890"),
        (co, "runs_on", "k8s://prod/shop/pod/checkout-7d9f"),
        (co, "runs_on", f"native://{CONTAINER[:12]}"),
        (wk, "runs_on", "native://i-0fff"),
        (db, "depends_on", f"native://{RDS}"),
    }
    bus = open_bus(f"embedded://{data_dir / 'bus.db'}")
    try:
        # all three calls, however the minute boundaries split them into windows
        edges, events = read_events(bus, want, until=lambda evs: sum_edge(evs, fe, co)["request_count"] >= 3
                                    and sum_edge(evs, co, db)["request_count"] >= 3)
    finally:
        bus.close()
    assert edges == want
    assert sum_edge(events, fe, co) == {"request_count": 3, "error_count": 1}
    assert sum_edge(events, co, db)["request_count"] == 3
    nodes = {ev.data["node"]["id"]: ev.data["node"] for ev in events if ev.type == "airdig.trace.service"}
    assert nodes[db]["kind"] == "service.database"
    assert nodes[db]["attrs"]["db.system.name"] == "postgresql"
    assert nodes[db]["attrs"]["db.namespace"] == "orders"
    assert nodes[fe]["kind"] == "service"
    sm = tracecore.aggregator.servicemap if tracecore.aggregator else None
    assert sm is not None
    row = next(r for r in sm.query("5m") if r["src"] == fe and r["dst"] == co)
    assert row["stats"]["errors"]["5xx"] == 1
    assert row["stats"]["p50"] is not None
    counts = tracecore.aggregator.pairer.counters.spans if tracecore.aggregator else {}
    assert counts["paired"] == 12  # 3 x (frontend->checkout + producer->consumer), two halves each
    assert counts["virtual"] == 3
    # the spans are also kept in the embedded trace store
    assert tracecore.trace_store is not None
    found = list(tracecore.trace_store.search(service="checkout", error=True))
    assert len(found) == 1
