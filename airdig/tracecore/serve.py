"""Wires TraceCore: receivers -> bounded ingest -> (bus keyed by trace id) -> aggregator -> bus events.

``route="bus"`` (default) publishes span summaries to ``airdig.traces`` keyed by trace id and runs an
aggregator in the consumer group, so replicas behind one Service pair every trace exactly once.
``route="local"`` hands spans straight to this process's aggregator (one replica, or benchmarks).

    handle = start_tracecore(settings, "127.0.0.1", grpc_port=4317, http_port=4318)
    ...; handle.stop()
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from airdig.backends.http_auth import reader_auth
from airdig.backends.interfaces import Bus, TraceStore
from airdig.backends.registry import open_bus, open_trace_store
from airdig.edge.auth import TokenCheck
from airdig.edge.policy import EdgePolicy
from airdig.edge.tls import ServerTls
from airdig.errors import AirDigError, BackendUnavailable, ConfigError
from airdig.logs import get_logger
from airdig.settings import Settings
from airdig.tracecore.aggregator import Aggregator
from airdig.tracecore.ingest import BusSink, Ingest, Sink, StoreSink
from airdig.tracecore.metrics import TraceCoreMetrics
from airdig.tracecore.receiver_grpc import start_grpc
from airdig.tracecore.receiver_http import otlp_http_app
from airdig.tracecore.spans import SpanSummary

log = get_logger("tracecore")


@dataclass
class TraceCoreOptions:
    """Tunables; each can also be given in the config file as ``tracecore_<name>``."""

    pair_wait: float = 10.0  # seconds a half waits for its other half
    max_pending: int = 100_000  # bound of the pending store (halves)
    window_seconds: float = 60.0  # length of the event-time windows edge statistics are published for
    window_lateness: float = -1.0  # seconds past a window's end before it is published; < 0: 2 x pair_wait
    window_horizon: float = 3600.0  # calls older than this behind the newest call seen are dropped
    max_edges: int = 100_000  # bound of the (window, edge) statistics awaiting publication
    max_queue_spans: int = 200_000  # bound of the ingest queue
    max_body_bytes: int = 16 << 20  # request size limit (both protocols)
    route: str = "bus"  # bus | local
    aggregate: bool = True  # run an aggregator in this process
    store_traces: bool = True  # keep spans in the trace store (AIRDIG_TRACES_URL)
    group: str = "airdig-tracecore"  # consumer group of the aggregators
    # span batches on the bus as binary blocks (off: JSON CloudEvents, which aggregators of every version
    # read — for a rolling upgrade from a version without blocks, whose aggregators would set blocks aside)
    span_blocks: bool = True

    @classmethod
    def from_settings(cls, settings: Settings, **given: Any) -> TraceCoreOptions:
        opts = cls()
        for name, default in list(vars(opts).items()):
            raw = given.get(name)
            if raw is None:
                raw = settings.extra.get(f"tracecore_{name}")
            if raw is None:
                continue
            try:
                value = (str(raw).lower() in ("1", "true", "yes", "on")) if isinstance(default, bool) \
                    else type(default)(raw)
            except (TypeError, ValueError):
                raise ConfigError(f"tracecore_{name}", f"expected {type(default).__name__}, got {raw!r}") from None
            setattr(opts, name, value)
        if opts.route not in ("bus", "local"):
            raise ConfigError("tracecore_route", f"expected bus or local, got {opts.route!r}")
        return opts


@dataclass
class TraceCoreHandle:
    http_port: int
    grpc_port: int
    metrics: TraceCoreMetrics
    ingest: Ingest
    aggregator: Aggregator | None
    bus: Bus | None
    trace_store: TraceStore | None
    _grpc: Any = None
    _http: Any = None
    _http_thread: threading.Thread | None = None
    _owned: list[Any] = field(default_factory=list)

    def adopt(self, things: list[Any]) -> None:
        """Close ``things`` (each with ``close()``) when this handle stops, after everything else."""
        self._owned.extend(things)

    def stop(self) -> None:
        """Stop receiving, drain the queue, flush the aggregator, close what we opened."""
        if self._grpc is not None:
            self._grpc.stop(grace=2).wait(5)
        if self._http is not None:
            self._http.should_exit = True
        if self._http_thread is not None:
            self._http_thread.join(10)
        self.ingest.stop()
        if self.aggregator is not None:
            self.aggregator.stop(flush=True)
        for thing in self._owned:
            try:
                thing.close()
            except AirDigError as exc:
                log.warning("close failed", error=str(exc))


def _serve_http(server: uvicorn.Server) -> None:
    asyncio.run(server.serve())


def start_tracecore(settings: Settings, host: str = "127.0.0.1", grpc_port: int = 4317, http_port: int = 4318,
                    options: TraceCoreOptions | None = None, bus: Bus | None = None,
                    trace_store: TraceStore | None = None, extra_sinks: list[Sink] | None = None,
                    policy: EdgePolicy | None = None, tokens: TokenCheck | None = None) -> TraceCoreHandle:
    """Start both receivers (port 0 = any free port) and, unless disabled, an aggregator.

    ``tokens``: the bearer-token check both receivers apply (the engine's token store in ``airdig up``,
    :func:`airdig.tracecore.tokens.token_check` standalone); None only when auth is off.

    ``bus``/``trace_store`` may be passed in (``airdig up`` shares its own); otherwise they are opened
    from the settings and closed by :meth:`TraceCoreHandle.stop`."""
    opts = options or TraceCoreOptions.from_settings(settings)
    tls = ServerTls.from_settings(settings)  # both receivers, or neither
    owned: list[Any] = []
    metrics = TraceCoreMetrics()
    if bus is None and (opts.route == "bus" or opts.aggregate):
        bus = open_bus(settings.bus_url)
        owned.append(bus)
    if trace_store is None and opts.store_traces:
        trace_store = open_trace_store(settings.traces_url, data_dir=settings.data_dir, tenant=settings.tenant,
                                       auth=reader_auth(settings, "traces"))
        owned.append(trace_store)
    aggregator = None
    if opts.aggregate:
        aggregator = Aggregator(bus, metrics, wait=opts.pair_wait, max_pending=opts.max_pending,
                                window_seconds=opts.window_seconds, group=opts.group,
                                consume=opts.route == "bus", lateness=opts.window_lateness,
                                horizon=opts.window_horizon, max_edges=opts.max_edges)
    sinks: list[Sink] = []
    if opts.route == "bus":
        if bus is None:
            raise ConfigError("tracecore_route", "route=bus needs a bus")
        sinks.append(BusSink(bus, metrics, blocks=opts.span_blocks))
    elif aggregator is not None:
        agg = aggregator

        def local(spans: list[SpanSummary]) -> None:
            agg.offer(spans)
        sinks.append(local)
    if trace_store is not None:
        sinks.append(StoreSink(trace_store))
    sinks.extend(extra_sinks or [])
    ingest = Ingest(sinks, metrics, max_queue_spans=opts.max_queue_spans)
    store_ref = trace_store

    def ready() -> str | None:
        try:
            if bus is not None:
                bus.ping()
            if store_ref is not None:
                store_ref.ping()
        except AirDigError as exc:
            return str(exc)
        return None

    grpc_server = start_grpc(ingest, metrics, host, grpc_port, max_message_bytes=opts.max_body_bytes,
                             all_attributes=trace_store is not None, tokens=tokens, tls=tls)
    app = otlp_http_app(ingest, metrics, max_body_bytes=opts.max_body_bytes,
                        all_attributes=trace_store is not None, ready=ready,
                        policy=policy or EdgePolicy.for_bind(host, settings.allowed_hosts, settings.allowed_origins),
                        verify=tokens.aprincipal if tokens is not None else None, live=aggregator.supervisor.liveness if aggregator is not None else None)
    config = uvicorn.Config(app, host=host, port=http_port, log_level="warning", lifespan="off",
                            access_log=False, **(tls.uvicorn_options() if tls else {}))
    http_server = uvicorn.Server(config)
    thread = threading.Thread(target=_serve_http, args=(http_server,), name="otlp-http", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not http_server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            grpc_server.stop(0)
            ingest.stop(0)
            raise BackendUnavailable("otlp http", f"cannot listen on {host}:{http_port}")
        time.sleep(0.01)
    bound_http = http_server.servers[0].sockets[0].getsockname()[1]
    if aggregator is not None:
        aggregator.start()
    log.info("tracecore started", host=host, grpc_port=grpc_server.port, http_port=bound_http,
             route=opts.route, aggregate=opts.aggregate, tls=tls is not None)
    return TraceCoreHandle(http_port=bound_http, grpc_port=grpc_server.port, metrics=metrics, ingest=ingest,
                           aggregator=aggregator, bus=bus, trace_store=trace_store, _grpc=grpc_server,
                           _http=http_server, _http_thread=thread, _owned=owned)
