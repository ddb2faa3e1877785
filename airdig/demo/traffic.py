"""The demo's small shop app, simulated: ``frontend`` → ``checkout`` → PostgreSQL ``orders-db`` (on RDS)
and ``checkout`` → ``cart``.

Every tick it builds real OTLP protobuf (``ExportTraceServiceRequest``: server and client spans with
parent links, HTTP status codes, a database client span whose ``server.address`` is the RDS endpoint)
and POSTs it to TraceCore's OTLP/HTTP receiver, exactly as an OpenTelemetry SDK's exporter would. The
same simulation drives a Prometheus text endpoint with the checkout host's p95 latency and error ratio
(what an app's own ``/metrics`` would show), which PulseSight scrapes.

``degrade()`` starts the incident: database calls slow down to ~400 ms and some fail.
"""

from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from airdig.logs import get_logger

log = get_logger("demo.traffic")
NAMESPACE = "shop"


@dataclass
class Hosts:
    """Where each service runs (OTel resource attributes ``host.id`` etc.)."""

    checkout: str
    cart: str
    db_endpoint: str
    account: str
    region: str


@dataclass
class Sample:
    at: float
    latency_ms: float
    error: bool


@dataclass
class Simulation:
    """The shared truth of the traffic and the metrics endpoint (thread-safe)."""

    degraded: bool = False
    serving: bool = False  # the app publishes its metrics once it takes traffic
    samples: list[Sample] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def degrade(self) -> None:
        with self.lock:
            self.degraded = True

    def record(self, s: Sample) -> None:
        with self.lock:
            self.samples.append(s)

    def checkout_stats(self, window: float) -> tuple[float, float, int]:
        """(p95 ms, error percent, requests) of checkout's server spans over the last ``window`` seconds."""
        cutoff = time.time() - window
        with self.lock:
            self.samples = [s for s in self.samples if s.at >= cutoff]
            lat = sorted(s.latency_ms for s in self.samples)
            errors = sum(1 for s in self.samples if s.error)
        if not lat:
            return 0.0, 0.0, 0
        p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))]
        return p95, 100.0 * errors / len(lat), len(lat)


def _ids() -> tuple[bytes, bytes]:
    return os.urandom(16), os.urandom(8)


class TrafficGenerator:
    """Posts one OTLP batch per ``interval`` seconds to ``otlp_url`` (``http://host:port/v1/traces``)."""

    def __init__(self, sim: Simulation, hosts: Hosts, otlp_url: str, interval: float = 1.0,
                 requests_per_tick: int = 20, seed: int | None = None, token: str | None = None) -> None:
        """``token``: the engine's API token, which TraceCore inside `airdig up` asks for when auth is on."""
        self.sim, self.hosts, self.url, self.interval = sim, hosts, otlp_url, interval
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.per_tick = requests_per_tick
        self.rng = random.Random(seed)
        self.sent = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-traffic", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        with httpx.Client(timeout=10, headers=self.headers) as client:
            while not self._stop.is_set():
                body = self.batch(time.time())
                try:
                    resp = client.post(self.url, content=body,
                                       headers={"Content-Type": "application/x-protobuf"})
                    resp.raise_for_status()
                    self.sent += 1
                except httpx.HTTPError as exc:  # TraceCore busy or stopping: the next tick tries again
                    self.failures += 1
                    log.warning("OTLP export failed", error=str(exc))
                self._stop.wait(self.interval)

    def batch(self, now: float) -> bytes:
        """One ExportTraceServiceRequest with ``requests_per_tick`` requests through the shop."""
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
        from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
        from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

        def kv(attrs: dict[str, str | int]) -> list[KeyValue]:
            return [KeyValue(key=k, value=AnyValue(int_value=v) if isinstance(v, int) else AnyValue(string_value=v))
                    for k, v in attrs.items()]

        def span(trace_id: bytes, sid: bytes, parent: bytes, name: str, kind: Any, t0: float, ms: float,
                 attrs: dict[str, str | int], error: bool = False) -> Span:
            return Span(trace_id=trace_id, span_id=sid, parent_span_id=parent, name=name, kind=kind,
                        start_time_unix_nano=int(t0 * 1e9), end_time_unix_nano=int((t0 + ms / 1000) * 1e9),
                        attributes=kv(attrs),
                        status=Status(code=Status.STATUS_CODE_ERROR if error else Status.STATUS_CODE_UNSET))

        h = self.hosts
        spans: dict[str, list[Span]] = {"frontend": [], "checkout": [], "cart": []}
        degraded = self.sim.degraded
        for i in range(self.per_tick):
            trace_id, fe_server = _ids()
            start = now - self.interval + i * (0.9 * self.interval / self.per_tick)  # the tick just past
            db_ms = self.rng.uniform(330, 470) if degraded else self.rng.uniform(3, 9)
            db_err = degraded and self.rng.random() < 0.15
            cart_ms = self.rng.uniform(2, 6)
            co_ms = db_ms + cart_ms + self.rng.uniform(2, 5)
            fe_ms = co_ms + self.rng.uniform(1, 3)
            status = 500 if db_err else 200
            fe_client, co_server, co_db, co_cart, cart_server = (os.urandom(8) for _ in range(5))

            srv, cli = Span.SPAN_KIND_SERVER, Span.SPAN_KIND_CLIENT
            spans["frontend"] += [
                span(trace_id, fe_server, b"", "GET /checkout", srv, start, fe_ms,
                     {"http.request.method": "GET", "http.route": "/checkout", "http.response.status_code": status},
                     error=db_err),
                span(trace_id, fe_client, fe_server, "POST", cli, start + 0.0005, co_ms + 0.5,
                     {"http.request.method": "POST", "server.address": "checkout", "server.port": 80,
                      "http.response.status_code": status}, error=db_err)]
            spans["checkout"] += [
                span(trace_id, co_server, fe_client, "POST /orders", srv, start + 0.001, co_ms,
                     {"http.request.method": "POST", "http.route": "/orders", "http.response.status_code": status},
                     error=db_err),
                span(trace_id, co_db, co_server, "INSERT orders", cli, start + 0.002, db_ms,
                     {"db.system.name": "postgresql", "db.namespace": "orders", "db.operation.name": "INSERT",
                      "server.address": h.db_endpoint, "server.port": 5432}, error=db_err),
                span(trace_id, co_cart, co_server, "GET", cli, start + 0.002 + db_ms / 1000, cart_ms + 0.5,
                     {"http.request.method": "GET", "server.address": "cart", "server.port": 80,
                      "http.response.status_code": 200})]
            spans["cart"].append(span(trace_id, cart_server, co_cart, "GET /cart", srv, start + 0.003 + db_ms / 1000, cart_ms,
                                      {"http.request.method": "GET", "http.route": "/cart",
                                       "http.response.status_code": 200}))
            self.sim.record(Sample(now, co_ms, db_err))
        hosts = {"frontend": h.checkout, "checkout": h.checkout, "cart": h.cart}
        req = ExportTraceServiceRequest()
        for service, ss in spans.items():
            rs = ResourceSpans(scope_spans=[ScopeSpans(spans=ss)])
            rs.resource.attributes.extend(kv({
                "service.name": service, "service.namespace": NAMESPACE, "service.version": "2.3.1",
                "deployment.environment.name": "demo", "cloud.provider": "aws", "cloud.platform": "aws_ec2",
                "cloud.account.id": h.account, "cloud.region": h.region, "host.id": hosts[service]}))
            req.resource_spans.append(rs)
        return bytes(req.SerializeToString())


class MetricsEndpoint:
    """Prometheus text format on ``/metrics``: the checkout host's p95 latency and error ratio, labelled
    with its ``instance_id`` so PulseSight maps the series to the EC2 instance."""

    def __init__(self, sim: Simulation, instance_id: str, window: float = 10.0) -> None:
        sim_, iid, win = sim, instance_id, window

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404)
                    return
                p95, err, n = sim_.checkout_stats(win)
                if not sim_.serving:
                    body = b"# the shop app has not started yet\n"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain; version=0.0.4")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                labels = f'instance_id="{iid}",service_name="checkout",service_namespace="{NAMESPACE}"'
                body = (
                    "# HELP shop_checkout_latency_p95_ms p95 latency of checkout requests over the last window.\n"
                    "# TYPE shop_checkout_latency_p95_ms gauge\n"
                    f"shop_checkout_latency_p95_ms{{{labels}}} {p95:.3f}\n"
                    "# HELP shop_checkout_error_ratio_percent Failed checkout requests, percent of all.\n"
                    "# TYPE shop_checkout_error_ratio_percent gauge\n"
                    f"shop_checkout_error_ratio_percent{{{labels}}} {err:.3f}\n"
                    "# HELP shop_checkout_requests Checkout requests in the last window.\n"
                    "# TYPE shop_checkout_requests gauge\n"
                    f"shop_checkout_requests{{{labels}}} {n}\n").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/metrics"
        self._thread = threading.Thread(target=self._server.serve_forever, name="demo-metrics", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
