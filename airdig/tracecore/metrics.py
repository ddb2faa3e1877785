"""Prometheus metrics of one TraceCore process, on its own registry (no global state).

The service-graph series are computed at scrape time from the aggregators' running totals, so the
hot path pays nothing for them; names and labels follow what Grafana's service graph reads
(``traces_service_graph_request_total{client,server,connection_type}`` and friends).

    m = TraceCoreMetrics(); m.watch(aggregator.pairer, aggregator.servicemap)
    generate_latest(m.registry)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from airdig.tracecore import native
from airdig.tracecore.pairing import OUTCOMES, Pairer
from airdig.tracecore.servicemap import LATENCY_BOUNDS_MS, ServiceMap


def _name(service_id: str) -> str:
    """Grafana shows the label as the node name: ``service://ns/name`` -> ``name`` (virtual: full peer)."""
    rest = service_id.split("://", 1)[-1]
    ns, _, name = rest.partition("/")
    return name if ns == "_" or not ns.startswith("~") else rest


class _GraphCollector:
    def __init__(self, owner: TraceCoreMetrics) -> None:
        self.owner = owner

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        o = self.owner
        spans = CounterMetricFamily("tracecore_spans", "Spans by pairing outcome (each span counted once).",
                                    labels=["outcome"])
        totals = dict.fromkeys(OUTCOMES, 0)
        unpaired = {"client": 0, "server": 0}
        dropped = {"client": 0, "server": 0}
        pending = 0
        for pairer, _ in o.sources:
            c = pairer.counters
            for k, v in list(c.spans.items()):
                totals[k] += v
            for k, v in list(c.unpaired_by_side.items()):
                unpaired[k] += v
            for k, v in list(c.dropped_by_side.items()):
                dropped[k] += v
            pending += len(pairer)
        for k, v in totals.items():
            spans.add_metric([k], v)
        yield spans
        g = GaugeMetricFamily("tracecore_pending_halves", "Span halves waiting for their other half.")
        g.add_metric([], pending)
        yield g
        up = CounterMetricFamily("traces_service_graph_unpaired_spans",
                                 "Span halves whose other half did not arrive in time and named no peer.",
                                 labels=["side"])
        dr = CounterMetricFamily("traces_service_graph_dropped_spans",
                                 "Span halves dropped because the pending store was full.", labels=["side"])
        for side in ("client", "server"):
            up.add_metric([side], unpaired[side])
            dr.add_metric([side], dropped[side])
        yield up
        yield dr
        req = CounterMetricFamily("traces_service_graph_request", "Requests between two nodes.",
                                  labels=["client", "server", "connection_type"])
        failed = CounterMetricFamily("traces_service_graph_request_failed", "Failed requests between two nodes.",
                                     labels=["client", "server", "connection_type"])
        hists = {side: HistogramMetricFamily(f"traces_service_graph_request_{side}_seconds",
                                             f"Request duration seen by the {side}.",
                                             labels=["client", "server", "connection_type"])
                 for side in ("client", "server")}
        bounds = [str(b / 1000.0) for b in LATENCY_BOUNDS_MS] + ["+Inf"]
        for _, sm in o.sources:
            for (src, dst, ctype), st in list(sm.totals.items()):
                labels = [_name(src), _name(dst), ctype]
                req.add_metric(labels, st.requests)
                failed.add_metric(labels, st.errors)
                for side, counts, total_ms in (("client", st.client, st.client_sum_ms),
                                               ("server", st.server, st.server_sum_ms)):
                    if side == "server" and not any(counts):
                        continue
                    acc, buckets = 0, []
                    for b, n in zip(bounds, counts, strict=True):
                        acc += n
                        buckets.append((b, acc))
                    hists[side].add_metric(labels, buckets, total_ms / 1000.0)
        yield req
        yield failed
        yield hists["client"]
        yield hists["server"]
        q = GaugeMetricFamily("tracecore_queue_spans", "Spans accepted by the receivers, not yet processed.")
        q.add_metric([], sum(f() for f in o.queue_depths))
        yield q


class TraceCoreMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.sources: list[tuple[Pairer, ServiceMap]] = []
        self.queue_depths: list[Callable[[], int]] = []
        self.http_requests = Counter("airdig_http_requests_total", "HTTP requests served, by route template "
                                     "and status.", ["route", "status"], registry=self.registry)
        self.requests = Counter("tracecore_receiver_requests", "Export requests by protocol and result.",
                                ["protocol", "result"], registry=self.registry)
        self.received = Counter("tracecore_receiver_spans", "Spans by receiver outcome: accepted, rejected "
                                "(malformed, partial success) or refused (overload).", ["outcome"],
                                registry=self.registry)
        self.published = Counter("tracecore_events_published", "Events published to the bus, by type.",
                                 ["type"], registry=self.registry)
        self.thread_restarts = Counter("airdig_thread_restarts_total",
                                       "Background threads restarted by the supervisor after dying, by thread.",
                                       ["thread"], registry=self.registry)
        self.late_dropped = Counter("tracecore_late_calls_dropped", "Calls dropped because they happened more "
                                    "than the horizon before the newest call seen.", registry=self.registry)
        self.edges_dropped = Counter("tracecore_edge_calls_dropped", "Calls dropped because they would open a "
                                     "new (window, edge) past tracecore_max_edges.", registry=self.registry)
        self.decoder = Gauge("tracecore_decoder_info", "1 for the OTLP protobuf decoder in use: native (compiled "
                             "extension) or python (the reference); see AIRDIG_TRACECORE_NATIVE.", ["path"],
                             registry=self.registry)
        self.decoder.labels(native.active_path()).set(1)
        self.replay_skipped = Counter("tracecore_replayed_calls_skipped", "Calls rebuilt from replayed records "
                                      "that the partition's previous owner had published already (not counted "
                                      "again).", registry=self.registry)
        self.registry.register(_GraphCollector(self))

    def watch(self, pairer: Pairer, servicemap: ServiceMap) -> None:
        self.sources.append((pairer, servicemap))
