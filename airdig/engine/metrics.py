"""The engine's Prometheus metrics, on a registry of its own (no global state between app instances)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class EngineMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events_applied = Counter("airdig_engine_events_applied_total", "Events applied to the store.",
                                      registry=r)
        self.events_duplicate = Counter("airdig_engine_events_duplicate_total",
                                        "Events skipped because their id was already applied.", registry=r)
        self.events_dead = Counter("airdig_engine_events_deadlettered_total",
                                   "Events sent to the dead-letter topic.", registry=r)
        self.apply_errors = Counter("airdig_engine_apply_errors_total",
                                    "Batches whose apply failed and was retried.", registry=r)
        self.batch_seconds = Histogram("airdig_engine_batch_apply_seconds", "Time to apply one batch.",
                                       registry=r, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
        self.consumer_lag = Gauge("airdig_engine_consumer_lag", "Records not yet applied, per topic partition.",
                                  ["topic", "partition"], registry=r)
        self.consumer_lag_total = Gauge("airdig_engine_consumer_lag_total",
                                        "Records not yet applied over all assigned partitions (HPA/KEDA input).",
                                        registry=r)
        self.http_requests = Counter("airdig_http_requests_total", "HTTP requests served.",
                                     ["route", "status"], registry=r)
        self.graphql_hot_reads = Counter("airdig_graphql_hot_reads_total",
                                         "GraphQL queries answered by a hot read plan instead of Strawberry.",
                                         registry=r)
        self.thread_restarts = Counter("airdig_thread_restarts_total",
                                       "Background threads restarted by the supervisor after dying, by thread.",
                                       ["thread"], registry=r)
        self._lag_labels: set[tuple[str, str]] = set()

    def record_batch(self, applied: int, duplicates: int, dead: int, seconds: float) -> None:
        self.events_applied.inc(applied)
        self.events_duplicate.inc(duplicates)
        self.events_dead.inc(dead)
        self.batch_seconds.observe(seconds)

    def set_lag(self, lag: dict[tuple[str, int], int]) -> None:
        labels = {(t, str(p)) for t, p in lag}
        for gone in self._lag_labels - labels:  # partitions moved to another replica
            self.consumer_lag.remove(*gone)
        for (t, p), v in lag.items():
            self.consumer_lag.labels(t, str(p)).set(v)
        self._lag_labels = labels
        self.consumer_lag_total.set(sum(lag.values()))
