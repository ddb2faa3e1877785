"""From a backend URL to its implementation, resolved lazily so optional drivers stay optional.

    store = open_store("mysql://airdig:pw@tidb:4000/airdig")
    bus = open_bus("kafka://kafka:9092")
"""

from __future__ import annotations

import importlib
from typing import Any
from urllib.parse import urlsplit

from airdig.backends.interfaces import Bus, Cache, Store, TraceStore
from airdig.errors import ConfigError
from airdig.model.redact import redact_text

STORES = {"sqlite": "airdig.backends.store.sqlite:SqliteStore",
          "mysql": "airdig.backends.store.mysql:MysqlStore",
          "tidb": "airdig.backends.store.mysql:MysqlStore"}
BUSES = {"embedded": "airdig.backends.bus.embedded:EmbeddedBus",
         "kafka": "airdig.backends.bus.kafka:KafkaBus"}
CACHES = {"memory": "airdig.backends.cache.memory:MemoryCache",
          "redis": "airdig.backends.cache.redis:RedisCache",
          "rediss": "airdig.backends.cache.redis:RedisCache",
          "redis+sentinel": "airdig.backends.cache.redis:RedisCache",
          "rediss+sentinel": "airdig.backends.cache.redis:RedisCache"}
TRACE_STORES = {"embedded": "airdig.backends.traces.embedded:EmbeddedTraceStore",
                "tempo": "airdig.backends.traces.tempo:TempoTraceStore"}


def _resolve(setting: str, table: dict[str, str], url: str) -> Any:
    if not url or "://" not in url:
        raise ConfigError(setting, f"expected a URL like {next(iter(table))}://..., got {redact_text(url)!r}")
    scheme = urlsplit(url).scheme.lower()
    target = table.get(scheme)
    if target is None:
        raise ConfigError(setting, f"unknown scheme {scheme!r} in {redact_text(url)!r}; "
                                   f"known: {', '.join(sorted(table))}")
    module, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except ImportError as exc:
        raise ConfigError(setting, f"the {scheme} backend needs a driver that is not installed: {exc}") from exc


def open_store(url: str) -> Store:
    cls = _resolve("AIRDIG_DATABASE_URL", STORES, url)
    store: Store = cls(url)
    return store


def open_bus(url: str, **options: Any) -> Bus:
    cls = _resolve("AIRDIG_BUS_URL", BUSES, url)
    bus: Bus = cls(url, **options)
    return bus


def open_cache(url: str) -> Cache:
    cls = _resolve("AIRDIG_CACHE_URL", CACHES, url)
    cache: Cache = cls(url)
    return cache


def open_trace_store(url: str, **options: Any) -> TraceStore:
    cls = _resolve("AIRDIG_TRACES_URL", TRACE_STORES, url)
    ts: TraceStore = cls(url, **options)
    return ts
