"""Alert webhooks: a new drift of severity ≥ ``alert_min_severity`` or a node turning critical is POSTed
to every configured webhook, as generic JSON or as a Slack message (``{"text", "blocks"}``).

The apply path only hands its notices over (:meth:`AlertDispatcher.on_notices` puts them on a bounded
queue and returns); a background worker posts them, retrying with exponential backoff, and records every
attempt in the store's ``alert_deliveries`` table (read back at ``GET /api/v1/alerts/deliveries``).
An alert with the same key — the drift id, or the node id + status — is sent once per dedupe window,
also across restarts and replicas (the recorded deliveries are checked before the first attempt).
Webhook URLs are secrets (Slack's carry the credential in the path): only a masked form is recorded
or logged.

    dispatcher = AlertDispatcher(store, [Webhook.parse("slack+https://hooks.slack.com/services/…")])
    dispatcher.start(); processor.on_notices.append(dispatcher.on_notices); ...; dispatcher.stop()
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from airdig.backends.interfaces import AlertDeliveryRow, Store
from airdig.errors import ConfigError
from airdig.logs import get_logger
from airdig.model.events import to_rfc3339
from airdig.supervisor import Supervisor

log = get_logger("engine.alerts")

SEVERITIES = ("low", "medium", "high", "critical")
SLACK_PREFIX = "slack+"


# ------------------------------------------------------------------ what to send (pure)


@dataclass(frozen=True)
class Webhook:
    """A target: its URL and format (``json`` or ``slack``, from a ``slack+`` prefix)."""

    url: str
    format: str = "json"

    @classmethod
    def parse(cls, spec: str) -> Webhook:
        fmt = "slack" if spec.startswith(SLACK_PREFIX) else "json"
        url = spec.removeprefix(SLACK_PREFIX)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("AIRDIG_ALERT_WEBHOOKS", f"{masked_url(url)!r} is not an http(s) URL")
        return cls(url=url, format=fmt)

    @property
    def masked(self) -> str:
        return masked_url(self.url)


def masked_url(url: str) -> str:
    """``https://hooks.slack.com/services/…#1a2b3c4d``: scheme, host and first path segment, then a short
    hash that tells targets apart without revealing the secret parts (path, query, credentials)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if parts.port:
        host += f":{parts.port}"
    segments = [s for s in parts.path.split("/") if s]
    shown = f"{parts.scheme}://{host}" + (f"/{segments[0]}" if segments else "")
    if len(segments) > 1 or parts.query or parts.username or parts.password:
        shown += "/…#" + hashlib.sha256(url.encode()).hexdigest()[:8]
    return shown


@dataclass(frozen=True)
class Alert:
    """One thing worth telling a human; ``key`` is what de-duplicates it."""

    key: str
    type: str  # drift.detected | node.critical
    title: str
    data: dict[str, Any]
    time: float


def _epoch(value: Any, default: float) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def alert_from_notice(channel: str, payload: dict[str, Any], min_severity: str = "high",
                      now: float | None = None) -> Alert | None:
    """The alert a fan-out notice warrants, if any (``driftDetected`` ≥ min severity, ``alertFired``)."""
    when = _epoch(payload.get("time"), now if now is not None else time.time())
    if channel == "driftDetected":
        severity = str(payload.get("severity"))
        if severity not in SEVERITIES or SEVERITIES.index(severity) < SEVERITIES.index(min_severity):
            return None
        rid = str(payload.get("resourceId"))
        return Alert(key=f"drift:{payload.get('id')}", type="drift.detected",
                     title=f"Drift ({severity}, {payload.get('kind')}) on {rid}", data=dict(payload), time=when)
    if channel == "alertFired" and payload.get("status") == "critical":
        node = str(payload.get("nodeId"))
        reasons = payload.get("reasons") or []
        first = reasons[0] if isinstance(reasons, list) and reasons and isinstance(reasons[0], dict) else {}
        why = first.get("message") or first.get("rule")
        return Alert(key=f"health:{node}:critical", type="node.critical",
                     title=f"{node} is critical" + (f": {why}" if why else ""), data=dict(payload), time=when)
    return None


def json_body(alert: Alert) -> dict[str, Any]:
    return {"source": "airdig", "type": alert.type, "dedupe_key": alert.key, "summary": alert.title,
            "time": to_rfc3339(alert.time), "data": alert.data}


def slack_body(alert: Alert) -> dict[str, Any]:
    """Slack's incoming-webhook message: ``text`` is the notification fallback, ``blocks`` the layout."""
    icon = ":rotating_light:" if alert.type == "node.critical" else ":warning:"
    lines = [f"{icon} *{_slack_escape(alert.title)}*"]
    for k, v in alert.data.items():
        if k in ("reasons", "time") or v is None:
            continue
        lines.append(f"• {k}: `{_slack_escape(str(v))[:200]}`")
    for r in (alert.data.get("reasons") or [])[:5]:
        if isinstance(r, dict):
            lines.append(f"• {_slack_escape(str(r.get('rule') or ''))}: "
                         f"{_slack_escape(str(r.get('message') or r.get('value') or ''))[:200]}")
    return {"text": f"{icon} {alert.title}", "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:2900]}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"AirDig · {to_rfc3339(alert.time)}"}]},
    ]}


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def body_for(alert: Alert, fmt: str) -> dict[str, Any]:
    return slack_body(alert) if fmt == "slack" else json_body(alert)


# ------------------------------------------------------------------ delivery (background worker)


@dataclass
class _Job:
    alert: Alert
    hook: Webhook
    row: AlertDeliveryRow | None = None  # set once the first attempt decided to send


@dataclass
class AlertStats:
    queued: int = 0
    sent: int = 0
    failed: int = 0
    retried: int = 0
    deduplicated: int = 0
    dropped: int = 0


@dataclass
class AlertDispatcher:
    """Posts alerts from a worker thread; :meth:`on_notices` is safe to call from the apply path."""

    store: Store
    webhooks: Sequence[Webhook]
    min_severity: str = "high"
    dedupe_seconds: float = 3600.0
    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    queue_size: int = 1000
    timeout: float = 5.0
    clock: Callable[[], float] = time.time
    transport: httpx.BaseTransport | None = None
    stats: AlertStats = field(default_factory=AlertStats)

    def __post_init__(self) -> None:
        if self.min_severity not in SEVERITIES:
            raise ConfigError("AIRDIG_ALERT_MIN_SEVERITY", f"unknown severity {self.min_severity!r}")
        self._queue: queue.Queue[_Job] = queue.Queue(maxsize=self.queue_size)
        self._recent: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seq = itertools.count()

    @classmethod
    def from_settings(cls, store: Store, settings: Any) -> AlertDispatcher:
        return cls(store, [Webhook.parse(u) for u in settings.alert_webhooks],
                   min_severity=settings.alert_min_severity, dedupe_seconds=settings.alert_dedupe_seconds)

    # -------------------------------------------------------------- intake (apply path: never blocks)

    def on_notices(self, notices: Sequence[tuple[str, dict[str, Any]]]) -> None:
        now = self.clock()
        for channel, payload in notices:
            alert = alert_from_notice(channel, payload, self.min_severity, now)
            if alert is None:
                continue
            last = self._recent.get(alert.key)
            if last is not None and now - last < self.dedupe_seconds:
                self.stats.deduplicated += 1
                continue
            self._recent[alert.key] = now
            if len(self._recent) > 50_000:  # bounded memory; the store check still de-duplicates
                cutoff = now - self.dedupe_seconds
                self._recent = {k: t for k, t in self._recent.items() if t >= cutoff}
            for hook in self.webhooks:
                try:
                    self._queue.put_nowait(_Job(alert, hook))
                    self.stats.queued += 1
                except queue.Full:
                    self.stats.dropped += 1
                    log.warning("alert queue full: alert dropped", key=alert.key, target=hook.masked)

    # -------------------------------------------------------------- worker

    def start(self, supervisor: Supervisor | None = None) -> None:
        """Start the worker; under ``supervisor`` (the engine's) a worker that dies is restarted."""
        if supervisor is not None:
            self._thread = supervisor.spawn("alerts", self._run, self._stop)
        else:
            self._thread = threading.Thread(target=self._run, name="alerts", daemon=True)
            self._thread.start()
        log.info("alerts enabled", targets=[h.masked for h in self.webhooks], min_severity=self.min_severity)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the worker; deliveries still waiting for a retry stay ``pending`` in the table."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        due: list[tuple[float, int, _Job]] = []
        with httpx.Client(timeout=self.timeout, transport=self.transport, follow_redirects=False) as client:
            while not self._stop.is_set():
                wait = 0.5 if not due else min(0.5, max(0.0, due[0][0] - time.monotonic()))
                try:
                    job = self._queue.get(timeout=wait)
                    heapq.heappush(due, (time.monotonic(), next(self._seq), job))
                except queue.Empty:
                    pass
                while due and due[0][0] <= time.monotonic() and not self._stop.is_set():
                    _, _, job = heapq.heappop(due)
                    retry_in = self._attempt(client, job)
                    if retry_in is not None:
                        heapq.heappush(due, (time.monotonic() + retry_in, next(self._seq), job))

    def _already_sent(self, alert: Alert, hook: Webhook) -> bool:
        since = self.clock() - self.dedupe_seconds
        rows = self.store.alert_deliveries(first=20, dedupe_key=alert.key, since=since)
        return any(r.target == hook.masked and r.status in ("sent", "pending") for r in rows)

    def _attempt(self, client: httpx.Client, job: _Job) -> float | None:
        """One POST; returns the delay before the next attempt, or ``None`` when done (sent or given up)."""
        try:
            if job.row is None:
                if self._already_sent(job.alert, job.hook):
                    self.stats.deduplicated += 1
                    return None
                job.row = AlertDeliveryRow(
                    id=uuid.uuid4().hex, dedupe_key=job.alert.key, target=job.hook.masked, format=job.hook.format,
                    payload=body_for(job.alert, job.hook.format), status="pending", attempts=0, last_error=None,
                    created_at=self.clock())
            row = job.row
            error: str | None = None
            retryable = True
            try:
                resp = client.post(job.hook.url, json=row.payload, headers={"User-Agent": "airdig-alerts"})
                if resp.status_code >= 300:
                    error = f"HTTP {resp.status_code}"
                    retryable = resp.status_code >= 500 or resp.status_code in (408, 429)
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"[:500]
            attempts = row.attempts + 1
            if error is None:
                job.row = replace(row, status="sent", attempts=attempts, last_error=None, sent_at=self.clock())
                self.stats.sent += 1
                log.info("alert sent", key=row.dedupe_key, target=row.target, attempts=attempts)
                delay = None
            elif retryable and attempts < self.max_attempts:
                job.row = replace(row, attempts=attempts, last_error=error)
                self.stats.retried += 1
                delay = min(self.max_delay, self.base_delay * 2 ** (attempts - 1))
                log.warning("alert delivery failed, will retry", key=row.dedupe_key, target=row.target,
                            attempts=attempts, error=error, retry_in=delay)
            else:
                job.row = replace(row, status="failed", attempts=attempts, last_error=error)
                self.stats.failed += 1
                log.error("alert delivery failed", key=row.dedupe_key, target=row.target, attempts=attempts,
                          error=error)
                delay = None
            self.store.save_alert_delivery(job.row)
            return delay
        except Exception as exc:  # never let the worker die: a store outage must not stop later alerts
            log.error("alert delivery error", error=str(exc), error_type=type(exc).__name__, key=job.alert.key)
            return None


def attach_alerts(service: Any) -> AlertDispatcher | None:
    """Start alerts for an engine service whose settings name webhooks (and that applies events)."""
    settings = getattr(service, "settings", None)
    processor = getattr(service, "processor", None)
    if settings is None or processor is None or not getattr(settings, "alert_webhooks", ()):
        return None
    dispatcher = AlertDispatcher.from_settings(service.store, settings)
    dispatcher.start(getattr(service, "supervisor", None))
    processor.on_notices.append(dispatcher.on_notices)
    service.closers.append(dispatcher.stop)
    return dispatcher


# ------------------------------------------------------------------ REST read


def delivery_view(r: AlertDeliveryRow) -> dict[str, Any]:
    return {"id": r.id, "dedupeKey": r.dedupe_key, "target": r.target, "format": r.format, "payload": r.payload,
            "status": r.status, "attempts": r.attempts, "lastError": r.last_error,
            "createdAt": to_rfc3339(r.created_at), "sentAt": to_rfc3339(r.sent_at) if r.sent_at else None}


def list_deliveries(request: Request) -> Response:
    import orjson

    from airdig.engine.api.views import check_first
    from airdig.errors import InvalidInput

    raw = request.query_params.get("first") or "50"
    try:
        first = check_first(int(raw))
    except ValueError:
        raise InvalidInput("first", f"must be an integer, got {raw!r}") from None
    rows = request.app.state.service.store.alert_deliveries(first)
    return Response(orjson.dumps({"items": [delivery_view(r) for r in rows]}), media_type="application/json")


def alert_routes() -> list[Route]:
    return [Route("/api/v1/alerts/deliveries", list_deliveries, methods=["GET"])]
