"""Settings: resolved as command-line argument > ``AIRDIG_*`` environment variable > config file > default.

Every setting is declared once in :data:`SETTINGS` (name, variable, default, description); the README's
configuration table is checked against this list by ``tests/unit/test_docs.py``.

    settings = Settings.load(config_file=None, overrides={"database_url": "mysql://..."})
    settings.database_url
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from airdig.backends.options import read_secret_file
from airdig.errors import ConfigError


@dataclass(frozen=True)
class SettingSpec:
    """One setting: its attribute name, environment variable and meaning."""

    name: str
    description: str
    default: str | None
    secret: bool = False  # may hold a credential: also read from AIRDIG_<NAME>_FILE / `<name>_file`

    @property
    def env(self) -> str:
        return "AIRDIG_" + self.name.upper()


SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec("data_dir", "Folder of the embedded backends (store, bus, traces); shared by every "
                "process on the host that points at it.", "~/.airdig"),
    SettingSpec("database_url", "Graph and event store: `sqlite:///PATH` (embedded) or "
                "`mysql://user:pass@host:4000/db` (TiDB, MySQL, MariaDB; TLS and credential options in "
                "docs/connect.md).", "sqlite:///<data_dir>/airdig.db", secret=True),
    SettingSpec("bus_url", "Event bus: `embedded:///PATH` (a durable log in a local SQLite file) or "
                "`kafka://host:9092[,host:9092]` (any librdkafka property in the query).",
                "embedded://<data_dir>/bus.db", secret=True),
    SettingSpec("cache_url", "Cache and fan-out to every engine replica: `memory://` or "
                "`redis://host:6379/0` (`rediss://` for TLS, `redis+sentinel://` for Sentinel).", "memory://",
                secret=True),
    SettingSpec("traces_url", "Trace storage: `embedded://` or `tempo://host:3200` (OTLP export + query API).",
                "embedded://"),
    SettingSpec("metrics_url", "PromQL source for PulseSight: `http://prometheus:9090` or "
                "`http://mimir/prometheus`; empty = scrape `/metrics` endpoints directly.", None),
    SettingSpec("logs_url", "LogQL source for PulseSight: `http://loki:3100`; empty = no log signals.", None),
    SettingSpec("tenant", "Tenant sent as `X-Scope-OrgID` to Tempo, Mimir and Loki.", None),
    SettingSpec("metrics_auth", "Credentials for metrics_url: `bearer:TOKEN` or `basic:USER:PASSWORD`.", None,
                secret=True),
    SettingSpec("logs_auth", "Credentials for logs_url: `bearer:TOKEN` or `basic:USER:PASSWORD`.", None,
                secret=True),
    SettingSpec("traces_auth", "Credentials for a `tempo://` traces_url: `bearer:TOKEN` or "
                "`basic:USER:PASSWORD`.", None, secret=True),
    SettingSpec("http_ca_file", "PEM CA bundle the HTTPS readers (Tempo, Prometheus/Mimir, Loki) trust instead "
                "of the system CAs.", None),
    SettingSpec("http_cert_file", "Client certificate (PEM) the HTTPS readers present (mutual TLS).", None),
    SettingSpec("http_key_file", "Private key (PEM) of http_cert_file.", None),
    SettingSpec("consumer_group", "Consumer group the engine replicas share on the bus.", "airdig-engine"),
    SettingSpec("log_level", "Log level: debug, info, warning, error.", "info"),
    SettingSpec("log_format", "Log line format: `json` (one object per line) or `text`.", "json"),
    SettingSpec("alert_webhooks", "Comma-separated webhook URLs the engine POSTs alerts to (a new drift of "
                "severity >= alert_min_severity, a node turning critical); prefix a URL with `slack+` "
                "(`slack+https://hooks.slack.com/...`) for Slack's message format. Empty = no alerts.", None),
    SettingSpec("alert_min_severity", "Lowest drift severity that alerts: low, medium, high, critical.", "high"),
    SettingSpec("retention", "Days the store keeps, per table, as `TABLE=DAYS` pairs (`airdig db prune` "
                "enforces it): `service_edges_rollup` (minute call statistics become hourly, default 7), "
                "`service_edges` (hourly ones deleted, 90), `changes` (90), `drift_events` (resolved ones, 180), "
                "`applied_events` (idempotency marks; keep above the bus retention, 14).",
                "service_edges_rollup=7,service_edges=90,changes=90,drift_events=180,applied_events=14"),
    SettingSpec("auth", "Bearer API tokens (`airdig token create`) on every route of every listener: `on` or "
                "`off`. `off` is accepted only on loopback listeners, whose Host and Origin checks keep other "
                "sites out; `airdig up`/`demo` bound to loopback run in that mode unless `auth` is set.", "on"),
    SettingSpec("allowed_origins", "Comma-separated browser origins (`https://ops.example.com`) allowed to call "
                "the APIs besides each listener's own origin (HTTP and WebSocket).", None),
    SettingSpec("allowed_hosts", "Comma-separated `Host` names a non-loopback listener answers (empty = any); "
                "loopback listeners answer only loopback names with their own port (DNS rebinding).", None),
    SettingSpec("tokens_file", "TraceCore and PulseSight run on their own (not in `airdig up`): a file of "
                "accepted bearer tokens, one per line (the token or `sha256:HEX`, then an optional name and "
                "`role=viewer|editor|admin`, default editor), e.g. a mounted Kubernetes Secret; re-read when it "
                "changes. See docs/edge.md.", None),
    SettingSpec("token_store", "TraceCore and PulseSight run on their own: `on` checks bearer tokens against "
                "the engine's API tokens in database_url (read-only, cached 5 s, like the engine).", "off"),
    SettingSpec("tls_cert_file", "PEM certificate (chain) every listener of this process serves TLS with: the "
                "engine, the UI, PulseSight, TraceCore's OTLP/HTTP and OTLP/gRPC, `skygraph follow`'s probes "
                "(not `airdig up`/`demo`). Unset: plain text (terminate TLS in front). See docs/edge.md.", None),
    SettingSpec("tls_key_file", "Private key (PEM) of tls_cert_file.", None),
    SettingSpec("alert_dedupe_seconds", "An alert with the same key (drift id; node + status) is sent once "
                "per this many seconds.", "3600"),
)


@dataclass(frozen=True)
class Settings:
    """The resolved settings of one process."""

    data_dir: Path
    database_url: str
    bus_url: str
    cache_url: str
    traces_url: str
    metrics_url: str | None = None
    logs_url: str | None = None
    tenant: str | None = None
    metrics_auth: str | None = None
    logs_auth: str | None = None
    traces_auth: str | None = None
    http_ca_file: str | None = None
    http_cert_file: str | None = None
    http_key_file: str | None = None
    consumer_group: str = "airdig-engine"
    log_level: str = "info"
    log_format: str = "json"
    alert_webhooks: tuple[str, ...] = ()
    alert_min_severity: str = "high"
    alert_dedupe_seconds: float = 3600.0
    retention: str = ""
    auth: bool | None = None  # None: not set (on, except `airdig up`/`demo` on loopback)
    allowed_origins: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    tokens_file: str | None = None
    token_store: bool = False
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(
        cls,
        config_file: str | Path | None = None,
        overrides: dict[str, Any] | None = None,
        environ: dict[str, str] | None = None,
    ) -> Settings:
        """Resolve every setting; ``overrides`` holds command-line values (``None`` means not given)."""
        env = os.environ if environ is None else environ
        from_file = _read_config(config_file or env.get("AIRDIG_CONFIG"))
        known = {spec.name for spec in SETTINGS}
        extra = {k: v for k, v in from_file.items()
                 if k not in known and k.removesuffix("_file") not in known}
        given = {k: v for k, v in (overrides or {}).items() if v is not None}

        def pick(spec: SettingSpec) -> str | None:
            if spec.name in given:
                return str(given[spec.name])
            if spec.env in env and env[spec.env] != "":
                return env[spec.env]
            if spec.secret and env.get(spec.env + "_FILE"):
                return read_secret_file(spec.env + "_FILE", env[spec.env + "_FILE"])
            if spec.name in from_file and from_file[spec.name] is not None:
                return str(from_file[spec.name])
            if spec.secret and from_file.get(spec.name + "_file"):
                return read_secret_file(spec.name + "_file", str(from_file[spec.name + "_file"]))
            return None

        raw = {spec.name: pick(spec) for spec in SETTINGS}
        data_dir = Path(os.path.expanduser(raw["data_dir"] or "~/.airdig")).resolve()
        level = (raw["log_level"] or "info").lower()
        if level not in {"debug", "info", "warning", "error"}:
            raise ConfigError("AIRDIG_LOG_LEVEL", f"unknown level {level!r} (debug, info, warning, error)")
        fmt = (raw["log_format"] or "json").lower()
        if fmt not in {"json", "text"}:
            raise ConfigError("AIRDIG_LOG_FORMAT", f"unknown format {fmt!r} (json, text)")
        return cls(
            data_dir=data_dir,
            database_url=raw["database_url"] or f"sqlite:///{data_dir / 'airdig.db'}",
            bus_url=raw["bus_url"] or f"embedded://{data_dir / 'bus.db'}",
            cache_url=raw["cache_url"] or "memory://",
            traces_url=raw["traces_url"] or "embedded://",
            metrics_url=raw["metrics_url"],
            logs_url=raw["logs_url"],
            tenant=raw["tenant"],
            metrics_auth=raw["metrics_auth"],
            logs_auth=raw["logs_auth"],
            traces_auth=raw["traces_auth"],
            http_ca_file=raw["http_ca_file"],
            http_cert_file=raw["http_cert_file"],
            http_key_file=raw["http_key_file"],
            consumer_group=raw["consumer_group"] or "airdig-engine",
            log_level=level,
            log_format=fmt,
            **_alert_settings(raw),
            retention=_retention(raw["retention"]),
            auth=_auth(raw["auth"]),
            allowed_origins=_listed(raw["allowed_origins"]),
            allowed_hosts=_listed(raw["allowed_hosts"]),
            tokens_file=raw["tokens_file"] or None,
            token_store=bool(_auth(raw["token_store"], "AIRDIG_TOKEN_STORE")),
            tls_cert_file=raw["tls_cert_file"] or None,
            tls_key_file=raw["tls_key_file"] or None,
            extra=extra,
        )

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}


def _retention(text: str | None) -> str:
    from airdig.engine.retention import RetentionPolicy

    RetentionPolicy.parse(text)  # a bad value fails at start, naming the setting
    return text or ""


def _auth(raw: str | None, setting: str = "AIRDIG_AUTH") -> bool | None:
    if raw is None:
        return None
    value = raw.strip().lower()
    if value in ("on", "true", "1", "yes"):
        return True
    if value in ("off", "false", "0", "no"):
        return False
    raise ConfigError(setting, f"expected on or off, got {raw!r}")


def _listed(raw: str | None) -> tuple[str, ...]:
    return tuple(x.strip() for x in (raw or "").split(",") if x.strip())


def _alert_settings(raw: dict[str, str | None]) -> dict[str, Any]:
    hooks = tuple(u.strip() for u in (raw["alert_webhooks"] or "").split(",") if u.strip())
    for url in hooks:
        if not url.removeprefix("slack+").startswith(("http://", "https://")):
            raise ConfigError("AIRDIG_ALERT_WEBHOOKS", f"{url.split('?')[0]!r} is not an http(s) URL")
    severity = (raw["alert_min_severity"] or "high").lower()
    if severity not in {"low", "medium", "high", "critical"}:
        raise ConfigError("AIRDIG_ALERT_MIN_SEVERITY", f"unknown severity {severity!r} (low, medium, high, critical)")
    try:
        dedupe = float(raw["alert_dedupe_seconds"] or 3600)
    except ValueError:
        raise ConfigError("AIRDIG_ALERT_DEDUPE_SECONDS", "must be a number of seconds") from None
    if dedupe < 0:
        raise ConfigError("AIRDIG_ALERT_DEDUPE_SECONDS", "must not be negative")
    return {"alert_webhooks": hooks, "alert_min_severity": severity, "alert_dedupe_seconds": dedupe}


def _read_config(path: str | Path | None) -> dict[str, Any]:
    if not path:
        return {}
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("--config", f"cannot read {p}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError("--config", f"{p} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("--config", f"{p} must hold a mapping of setting names to values")
    return {str(k).lower().replace("-", "_"): v for k, v in data.items()}
