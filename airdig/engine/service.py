"""One engine process: its backends, its event processor, and the readiness of each.

    svc = EngineService.from_settings(settings); svc.start(); ...; svc.stop()
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airdig.backends.interfaces import Bus, Cache, Store
from airdig.backends.registry import open_bus, open_cache, open_store
from airdig.engine.intel.workers import IntelPool
from airdig.engine.metrics import EngineMetrics
from airdig.engine.processor import EventProcessor
from airdig.engine.readcache import GRAPH_GENERATION, ReadCache
from airdig.logs import get_logger
from airdig.model.redact import redact_text, redact_url
from airdig.settings import Settings
from airdig.supervisor import Supervisor

log = get_logger("engine")


@dataclass
class EngineService:
    store: Store
    bus: Bus
    cache: Cache
    group: str = "airdig-engine"
    metrics: EngineMetrics = field(default_factory=EngineMetrics)
    replica_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    processor: EventProcessor | None = None
    settings: Settings | None = None
    # stopped after the processor, before the backends close (subscription fan-out, alert worker)
    closers: list[Callable[[], None]] = field(default_factory=list)
    # liveness checks for /healthz: name -> () -> None when fine, else the reason (e.g. a supervisor's
    # "thread X is dead"); read at every probe, so checks registered after the app was built count
    liveness_checks: dict[str, Callable[[], str | None]] = field(default_factory=dict)
    _read_cache: ReadCache | None = None
    supervisor: Supervisor | None = None
    # worker processes for rootCause (None: it runs in a worker thread); see airdig.engine.intel.workers
    intel_pool: IntelPool | None = None

    def __post_init__(self) -> None:
        if self.supervisor is None:
            self.supervisor = Supervisor("engine", self.metrics.thread_restarts)
        if hasattr(self.cache, "supervisor"):  # the Redis fan-out subscriber runs under the same one
            self.cache.supervisor = self.supervisor
        self.liveness_checks["threads"] = self.supervisor.liveness  # /healthz 503 once one is given up

    @property
    def read_cache(self) -> ReadCache:
        """Hot reads (``resource(id)``) through the cache, invalidated by every applied batch."""
        if self._read_cache is None:
            self._read_cache = ReadCache(self.cache, self.store)
        return self._read_cache

    def invalidate(self) -> None:
        """After a write outside the event path (a user's mutation): drop every cached read."""
        self.cache.bump(GRAPH_GENERATION)

    @classmethod
    def from_settings(cls, settings: Settings, migrate: bool = True) -> EngineService:
        """Open every backend (raising a one-line reason on a bad URL or unreachable server)."""
        store = open_store(settings.database_url)
        if not migrate:
            store.check_schema()  # a newer release's schema is refused even when another job migrates
        if migrate:
            applied = store.migrate()
            if applied:
                log.info("schema migrated", applied=applied)
        else:
            store.ping()
        bus = open_bus(settings.bus_url)
        cache = open_cache(settings.cache_url)
        return cls(store=store, bus=bus, cache=cache, group=settings.consumer_group, settings=settings)

    def start(self, process_events: bool = True, intel_workers: int = 0) -> None:
        """``intel_workers``: processes for rootCause (0: worker threads of this process)."""
        if intel_workers > 0 and self.intel_pool is None:
            self.intel_pool = IntelPool(self.store.url if self.settings is None else self.settings.database_url,
                                        intel_workers)
            log.info("intel worker processes started", workers=intel_workers)
        if process_events:
            self.processor = EventProcessor(self.store, self.bus, self.cache, self.group, self.metrics,
                                            member_id=self.replica_id, supervisor=self.supervisor)
            from airdig.engine.alerts import attach_alerts

            attach_alerts(self)
            self.processor.start()
        log.info("engine started", replica=self.replica_id, database=redact_url(self.store.url),
                 bus=redact_url(self.bus.url), cache=redact_url(self.cache.url))

    def stop(self) -> None:
        if self.processor is not None:
            self.processor.stop()
        for close in reversed(self.closers):
            close()
        if self.intel_pool is not None:
            self.intel_pool.close()
        self.bus.close()
        self.cache.close()
        self.store.close()
        log.info("engine stopped", replica=self.replica_id)

    def liveness(self) -> str | None:
        """Why this process should be restarted (a background thread dead beyond recovery), or None."""
        return self.supervisor.liveness() if self.supervisor is not None else None

    def readiness(self) -> dict[str, Any]:
        """Each backend's state; ready only when every one answers and the processor runs."""
        checks: dict[str, Any] = {}
        for name, probe in (("store", self.store.ping), ("bus", self.bus.ping), ("cache", self.cache.ping)):
            try:
                probe()
                checks[name] = "ok"
            except Exception as exc:
                checks[name] = f"error: {redact_text(str(exc))}"
        if self.processor is not None:
            checks["processor"] = "ok" if self.processor.alive else "stopped"
        return checks
