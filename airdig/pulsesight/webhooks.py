"""PulseSight's HTTP surface (default port 8081): webhooks in, health and unmapped signals out.

* ``POST /webhooks/falco`` — Falco ``http_output`` JSON (one event, or a list);
* ``POST /webhooks/alertmanager`` — Alertmanager webhook v4;
* ``GET /api/v1/health[?node_id=]``, ``GET /api/v1/unmapped``, ``GET /api/v1/security-events[?node_id=]``;
* ``GET /healthz``, ``GET /readyz``, ``GET /metrics``.

Webhooks need the shared secret, as ``Authorization: Bearer <secret>`` or ``X-AirDig-Secret: <secret>``
(Falco's http_output cannot send custom headers in every version; put Falcosidekick or the
``?secret=`` parameter in front when needed). Without a secret the app only accepts being bound to
loopback — :func:`airdig.pulsesight.serve.start_pulsesight` enforces that.

    app = build_app(pulsesight, secret="s3cret", sources=sources)
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from airdig.errors import AirDigError, InvalidInput
from airdig.logs import get_logger
from airdig.pulsesight.service import PulseSight
from airdig.pulsesight.sources.base import MetricSource

log = get_logger("pulsesight.webhooks")
MAX_BODY = 5 * 1024 * 1024


def _json(data: object, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _authorized(request: Request, secret: str | None) -> bool:
    if not secret:
        return True
    auth = request.headers.get("authorization", "")
    presented = auth[7:].strip() if auth.lower().startswith("bearer ") else request.headers.get("x-airdig-secret")
    presented = presented or request.query_params.get("secret")
    return presented is not None and hmac.compare_digest(presented.encode(), secret.encode())


def build_app(ps: PulseSight, secret: str | None = None,
              sources: Mapping[str, MetricSource] | None = None) -> Starlette:
    """The Starlette app over one :class:`PulseSight`."""

    def webhook(endpoint: str, handler: Callable[[object], dict[str, object]]
                ) -> Callable[[Request], Awaitable[Response]]:
        async def receive(request: Request) -> Response:
            if not _authorized(request, secret):
                ps.metrics.webhooks.labels(endpoint, "unauthorized").inc()
                log.warning("webhook rejected: missing or wrong secret", endpoint=endpoint,
                            client=request.client.host if request.client else None)
                return _json({"error": "unauthorized: send Authorization: Bearer <secret> "
                                       "or X-AirDig-Secret"}, 401)
            raw = await request.body()
            if len(raw) > MAX_BODY:
                ps.metrics.webhooks.labels(endpoint, "too_large").inc()
                return _json({"error": f"body larger than {MAX_BODY} bytes"}, 413)
            try:
                try:
                    body = orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    raise InvalidInput(f"{endpoint} webhook", f"body is not JSON: {exc}") from None
                # mapping may ask the engine over HTTP: keep that off the event loop
                result = await run_in_threadpool(handler, body)
            except InvalidInput as exc:
                ps.metrics.webhooks.labels(endpoint, "bad_request").inc()
                log.warning("webhook body rejected", endpoint=endpoint, reason=str(exc))
                return _json({"error": str(exc)}, 400)
            except AirDigError as exc:
                ps.metrics.webhooks.labels(endpoint, "error").inc()
                log.error("webhook failed", endpoint=endpoint, error=str(exc))
                return _json({"error": str(exc)}, 503)
            ps.metrics.webhooks.labels(endpoint, "ok").inc()
            return _json(result)

        return receive

    async def health(request: Request) -> Response:
        node_id = request.query_params.get("node_id")
        if node_id:
            found = ps.state.get(node_id)
            return _json(found) if found else _json({"error": f"no health known for {node_id}"}, 404)
        return _json({"nodes": ps.state.snapshot()})

    async def unmapped(request: Request) -> Response:
        return _json({"unmapped": ps.mapper.unmapped()})

    async def security(request: Request) -> Response:
        return _json({"events": ps.security_events(request.query_params.get("node_id"))})

    async def healthz(request: Request) -> Response:
        problem = ps.supervisor.liveness()
        if problem:  # a background thread dead beyond recovery: let Kubernetes restart the pod
            return _json({"status": "dead", "reason": problem}, 503)
        return _json({"status": "ok"})

    def _probe() -> dict[str, str]:
        problems: dict[str, str] = {}
        for name, src in (sources or {}).items():
            try:
                src.ping()
            except AirDigError as exc:
                problems[name] = str(exc)
        if ps.outbox.bus is not None:
            try:
                ps.outbox.bus.ping()
            except AirDigError as exc:
                problems["bus"] = str(exc)
        return problems

    async def readyz(request: Request) -> Response:
        problems = await run_in_threadpool(_probe)
        if problems:
            return _json({"status": "unavailable", "problems": problems}, 503)
        return _json({"status": "ready"})

    async def metrics(request: Request) -> Response:
        ps.refresh_metrics()
        return Response(generate_latest(ps.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def not_found(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": f"no route {request.method} {request.url.path}"}, 404)

    routes = [
        Route("/webhooks/falco", webhook("falco", ps.receive_falco), methods=["POST"]),
        Route("/webhooks/alertmanager", webhook("alertmanager", ps.receive_alerts), methods=["POST"]),
        Route("/api/v1/health", health),
        Route("/api/v1/unmapped", unmapped),
        Route("/api/v1/security-events", security),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
    ]
    return Starlette(routes=routes, exception_handlers={404: not_found})
