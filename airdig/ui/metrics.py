"""Prometheus metrics of the UI role; one registry per app so tests and ``airdig up`` never collide."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class UiMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.proxied = Counter("airdig_ui_proxy_requests_total", "Requests proxied to the engine.",
                               ["route", "status"], registry=self.registry)
        self.latency = Histogram("airdig_ui_proxy_seconds", "Time until the engine's response headers.",
                                 ["route"], registry=self.registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.ws_sessions = Gauge("airdig_ui_websocket_sessions", "Open proxied WebSocket sessions.",
                                 registry=self.registry)
        self.ws_failures = Counter("airdig_ui_websocket_failures_total",
                                   "WebSocket sessions refused because the engine's socket could not be opened.",
                                   registry=self.registry)
        self.requests = Counter("airdig_http_requests_total", "HTTP requests served, by route template and status.",
                                ["route", "status"], registry=self.registry)
        self.static = Counter("airdig_ui_static_requests_total", "Requests for the SPA's files.",
                              registry=self.registry)

    def observe(self, route: str, status: int, seconds: float) -> None:
        self.proxied.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)
