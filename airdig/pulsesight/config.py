"""PulseSight's own settings, resolved as environment variable > config file key > default.

They live beside the shared :mod:`airdig.settings` (which holds ``metrics_url``, ``logs_url``,
``tenant``, ``bus_url``): each has an ``AIRDIG_PULSESIGHT_*`` variable and a ``pulsesight_*`` key in
the ``--config`` YAML file. A bad value is reported with the variable's name.

    cfg = PulseSightConfig.load(settings)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from airdig.errors import ConfigError
from airdig.pulsesight.rules import parse_duration
from airdig.settings import Settings

# name -> (description, default); documented in docs/pulsesight.md (a test keeps them in step)
OPTIONS: dict[str, tuple[str, str | None]] = {
    "rules": ("Extra rules file(s), comma-separated, layered over the shipped defaults (same name replaces, "
              "`disabled: true` removes).", None),
    "secret": ("Shared secret webhooks must present (`Authorization: Bearer` or `X-AirDig-Secret`); "
               "required unless bound to loopback.", None),
    "resolver_url": ("Engine base URL whose `GET /api/v1/resolve?native_id=` maps native ids to node ids.",
                     "http://127.0.0.1:8080"),
    "resolver_token": ("Bearer token for the engine's resolve API.", None),
    "node_map": ("YAML/JSON file of native id -> node id, consulted before the engine (standalone use).", None),
    "scrape_targets": ("Comma-separated `/metrics` URLs scraped directly when no `metrics_url` is set.", None),
    "interval": ("Seconds between rule evaluations.", "15s"),
    "query_timeout": ("Timeout of one PromQL/LogQL query.", "10s"),
    "falco_hold": ("How long a Falco event of priority Warning or higher keeps its node warning/critical "
                   "(0 = record only).", "5m"),
}


@dataclass(frozen=True)
class PulseSightConfig:
    rules: tuple[str, ...] = ()
    secret: str | None = None
    resolver_url: str | None = "http://127.0.0.1:8080"
    resolver_token: str | None = None
    node_map: str | None = None
    scrape_targets: tuple[str, ...] = ()
    interval: float = 15.0
    query_timeout: float = 10.0
    falco_hold: float = 300.0

    @classmethod
    def load(cls, settings: Settings, environ: Mapping[str, str] | None = None) -> PulseSightConfig:
        env = os.environ if environ is None else environ

        def raw(name: str) -> str | None:
            var = f"AIRDIG_PULSESIGHT_{name.upper()}"
            if env.get(var):
                return env[var]
            v = settings.extra.get(f"pulsesight_{name}")
            if isinstance(v, list):
                return ",".join(str(x) for x in v)
            return str(v) if v not in (None, "") else OPTIONS[name][1]

        def seconds(name: str) -> float:
            return parse_duration(raw(name), f"AIRDIG_PULSESIGHT_{name.upper()}")

        def listed(name: str) -> tuple[str, ...]:
            return tuple(x.strip() for x in (raw(name) or "").split(",") if x.strip())

        cfg = cls(rules=listed("rules"), secret=raw("secret"), resolver_url=raw("resolver_url"),
                  resolver_token=raw("resolver_token"), node_map=raw("node_map"),
                  scrape_targets=listed("scrape_targets"), interval=seconds("interval"),
                  query_timeout=seconds("query_timeout"), falco_hold=seconds("falco_hold"))
        if cfg.interval <= 0:
            raise ConfigError("AIRDIG_PULSESIGHT_INTERVAL", "must be positive")
        return cfg
