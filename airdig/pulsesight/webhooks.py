"""PulseSight's HTTP surface (default port 8081): webhooks in, health and unmapped signals out.

* ``POST /webhooks/falco`` — Falco ``http_output`` JSON (one event, or a list);
* ``POST /webhooks/alertmanager`` — Alertmanager webhook v4;
* ``GET /api/v1/health[?node_id=]``, ``GET /api/v1/unmapped``, ``GET /api/v1/security-events[?node_id=]``;
* ``GET /healthz``, ``GET /readyz``, ``GET /metrics``.

Every route but the probes — webhooks and the read API alike — goes through the shared edge
(:mod:`airdig.edge`): Host/Origin checks, a streaming body limit, and the token gate, which accepts the
shared secret (``Authorization: Bearer <secret>`` or ``X-AirDig-Secret: <secret>``) and, when the
engine's token store is at hand (``airdig up``) or a token source is set, the engine's API tokens or
the token file's. The webhooks take data in: a token needs the editor role there (the secret has it);
a viewer token may only read (:mod:`airdig.edge.roles`). A secret is never read from
the URL (it would land in access logs); Falco versions whose http_output cannot send a header go
through Falcosidekick. Without any credential the app only accepts being bound to loopback —
:func:`airdig.pulsesight.serve.start_pulsesight` enforces that.

    app = build_app(pulsesight, secret="s3cret", sources=sources)
"""

from __future__ import annotations

import dataclasses
import hmac
from collections.abc import Awaitable, Callable, Mapping

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from airdig.edge.auth import Verify
from airdig.edge.policy import EdgePolicy
from airdig.edge.probes import Probes
from airdig.edge.roles import WRITE_ROLE, Caller
from airdig.edge.stack import edge_middleware
from airdig.errors import AirDigError, InvalidInput, Unauthorized
from airdig.logs import get_logger
from airdig.pulsesight.service import PulseSight
from airdig.pulsesight.sources.base import MetricSource

log = get_logger("pulsesight.webhooks")
MAX_BODY = 5 * 1024 * 1024
SECRET_CALLER = Caller("pulsesight-secret", WRITE_ROLE)  # the shared secret: its webhooks in, and reads
WRITE_PATHS = frozenset({"/webhooks/falco", "/webhooks/alertmanager"})


def _json(data: object, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def secret_verifier(secret: str | None, tokens: Verify | None = None) -> Verify | None:
    """The token gate's check: the shared secret, else (when given) the engine's API tokens; None when
    neither is configured (loopback only)."""
    if not secret and tokens is None:
        return None

    async def verify(authorization: str | None) -> object:
        scheme, _, presented = (authorization or "").strip().partition(" ")
        if secret and scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), secret.encode()):
            return SECRET_CALLER
        if tokens is not None:
            return await tokens(authorization)
        raise Unauthorized("send Authorization: Bearer <secret> or X-AirDig-Secret")

    return verify


def build_app(ps: PulseSight, secret: str | None = None, sources: Mapping[str, MetricSource] | None = None,
              policy: EdgePolicy | None = None, tokens: Verify | None = None) -> Starlette:
    """The Starlette app over one :class:`PulseSight`; ``tokens``: the engine's token check, so its API
    tokens work here too (``airdig up``)."""

    def webhook(endpoint: str, handler: Callable[[object], dict[str, object]]
                ) -> Callable[[Request], Awaitable[Response]]:
        async def receive(request: Request) -> Response:
            raw = await request.body()  # at most MAX_BODY: the edge refuses more as it streams in
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

    # each source and the bus pinged in worker threads, with a timeout, the verdict cached two seconds
    probes = Probes(timeout=5.0)

    def pinger(ping: Callable[[], object]) -> Callable[[], str | None]:
        def check() -> str | None:
            try:
                ping()
            except AirDigError as exc:
                return str(exc)
            return None
        return check

    for name, src in (sources or {}).items():
        probes.readiness[name] = pinger(src.ping)
    if ps.outbox.bus is not None:
        probes.readiness["bus"] = pinger(ps.outbox.bus.ping)

    async def readyz(request: Request) -> Response:
        problems = {k: v for k, v in (await probes.ready()).items() if v != "ok"}
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
    edge = dataclasses.replace(policy or EdgePolicy(), max_body_bytes=MAX_BODY)
    verify = secret_verifier(secret, tokens)
    return Starlette(routes=routes, exception_handlers={404: not_found}, middleware=edge_middleware(
        edge, routes=routes, counter=ps.metrics.http_requests, verify=verify, alt_header=b"x-airdig-secret",
        write_paths=WRITE_PATHS))
