"""Wiring: sources from settings, the evaluator loop, the trace-stats consumer and the HTTP server.

``airdig pulsesight serve`` and ``airdig up`` both call :func:`start_pulsesight`, which returns once the
port is listening:

    handle = start_pulsesight(settings, "127.0.0.1", 8081)
    ...
    handle.stop()
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import uvicorn

from airdig.backends.http_auth import reader_auth
from airdig.backends.interfaces import Bus, Cache
from airdig.backends.registry import open_bus, open_cache
from airdig.edge.auth import Verify
from airdig.edge.policy import EdgePolicy
from airdig.edge.tls import ServerTls
from airdig.errors import BackendUnavailable, ConfigError
from airdig.logs import get_logger
from airdig.pulsesight.config import PulseSightConfig
from airdig.pulsesight.mapping import EngineResolver, NodeResolver, StaticResolver
from airdig.pulsesight.rules import Rule, default_rules_path, load_rules
from airdig.pulsesight.service import PulseSight
from airdig.pulsesight.sources.base import MetricSource
from airdig.pulsesight.sources.loki import LokiSource
from airdig.pulsesight.sources.prometheus import PrometheusSource
from airdig.pulsesight.sources.scrape import ScrapeSource
from airdig.pulsesight.sources.tracestats import TraceStats
from airdig.pulsesight.webhooks import build_app
from airdig.settings import Settings

log = get_logger("pulsesight.serve")
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
CONSUMER_GROUP = "airdig-pulsesight"


class ChainResolver:
    """Asks each resolver in turn; the first non-empty answer wins (static map before the engine)."""

    def __init__(self, resolvers: Sequence[NodeResolver]) -> None:
        self.resolvers = list(resolvers)

    def resolve(self, native_id: str) -> list[str]:
        for r in self.resolvers:
            ids = r.resolve(native_id)
            if ids:
                return ids
        return []


def build_sources(settings: Settings, cfg: PulseSightConfig) -> dict[str, MetricSource]:
    sources: dict[str, MetricSource] = {}
    if settings.metrics_url:
        sources["prometheus"] = PrometheusSource(settings.metrics_url, settings.tenant, cfg.query_timeout,
                                                 auth=reader_auth(settings, "metrics"))
    elif cfg.scrape_targets:
        scrape = ScrapeSource(list(cfg.scrape_targets), timeout=cfg.query_timeout)
        # the embedded default: PromQL rules whose query is a plain selector are answered by the scrape
        sources["scrape"] = sources["prometheus"] = scrape
    if settings.logs_url:
        sources["loki"] = LokiSource(settings.logs_url, settings.tenant, cfg.query_timeout,
                                     auth=reader_auth(settings, "logs"))
    return sources


def build_resolver(cfg: PulseSightConfig, ca_file: str | None = None) -> NodeResolver:
    chain: list[NodeResolver] = []
    if cfg.node_map:
        chain.append(StaticResolver.from_file(cfg.node_map))
    if cfg.resolver_url:
        chain.append(EngineResolver(cfg.resolver_url, cfg.resolver_token, ca_file=ca_file))
    return ChainResolver(chain)


@dataclass
class PulseSightHandle:
    """A running PulseSight; ``stop()`` ends every thread it started and closes what it opened."""

    pulsesight: PulseSight
    host: str
    port: int
    server: uvicorn.Server
    stop_event: threading.Event
    threads: list[threading.Thread] = field(default_factory=list)
    owned_bus: Bus | None = None
    cache: Cache | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        self.server.should_exit = True
        for t in self.threads:
            t.join(timeout)
        if self.owned_bus is not None:
            self.owned_bus.close()
        if self.cache is not None:
            self.cache.close()


def _loop(ps: PulseSight, interval: float, stop: threading.Event) -> None:
    while not stop.is_set():
        started = time.monotonic()
        try:
            ps.tick()
            ps.evaluator.evaluate_once()
        except Exception:  # the loop outlives any one bad pass; the error is logged with its trace
            log.error("evaluation pass failed", exc_info=True)
        stop.wait(max(0.5, interval - (time.monotonic() - started)))


def start_pulsesight(settings: Settings, host: str = "127.0.0.1", port: int = 8081, *,
                     config: PulseSightConfig | None = None, bus: Bus | None = None,
                     resolver: NodeResolver | None = None, rules: Sequence[Rule] | None = None,
                     sources: dict[str, MetricSource] | None = None, evaluate: bool = True,
                     tokens: Verify | None = None) -> PulseSightHandle:
    """Start PulseSight in background threads; returns when the HTTP port is listening. ``tokens``:
    the engine's API-token check (``airdig up``), accepted besides the shared secret."""
    cfg = config or PulseSightConfig.load(settings)
    tls = ServerTls.from_settings(settings)
    if host not in LOOPBACK and not cfg.secret and tokens is None:
        raise ConfigError("AIRDIG_PULSESIGHT_SECRET", f"webhooks bound to {host} need a shared secret; "
                          "set one or bind to 127.0.0.1")
    if rules is None:
        rules = load_rules(default_rules_path(), *cfg.rules)
    owned_bus = None
    if bus is None:
        bus = owned_bus = open_bus(settings.bus_url)
    srcs = build_sources(settings, cfg) if sources is None else dict(sources)
    traces = TraceStats()
    srcs.setdefault("traces", traces)
    cache = open_cache(settings.cache_url)  # replicas share what they published through it (Redis)
    ps = PulseSight(rules, srcs, resolver or build_resolver(cfg, settings.http_ca_file), bus, falco_hold=cfg.falco_hold, cache=cache)
    app = build_app(ps, cfg.secret, srcs, policy=EdgePolicy.for_bind(host, settings.allowed_hosts,
                                                                        settings.allowed_origins), tokens=tokens)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                                           lifespan="off", **(tls.uvicorn_options() if tls else {})))
    stop = threading.Event()
    handle = PulseSightHandle(ps, host, port, server, stop, owned_bus=owned_bus, cache=cache)
    web = threading.Thread(target=server.run, name="pulsesight-http", daemon=True)
    web.start()
    handle.threads.append(web)
    deadline = time.monotonic() + 15
    while not server.started:
        if not web.is_alive() or time.monotonic() > deadline:
            handle.stop()
            raise BackendUnavailable("pulsesight", f"could not listen on {host}:{port}")
        time.sleep(0.02)
    if port == 0:
        handle.port = server.servers[0].sockets[0].getsockname()[1]
    if srcs.get("traces") is traces:
        consumer_bus = bus
        handle.threads.append(ps.supervisor.spawn(
            "pulsesight-traces", lambda: traces.consume(consumer_bus, CONSUMER_GROUP, stop), stop))
    if evaluate:
        handle.threads.append(ps.supervisor.spawn("pulsesight-eval", lambda: _loop(ps, cfg.interval, stop), stop))
    log.info("pulsesight listening", url=handle.url, rules=len(rules), sources=sorted(srcs))
    return handle
