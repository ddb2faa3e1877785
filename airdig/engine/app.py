"""The engine's ASGI app: probes, metrics, GraphQL and REST over one :class:`EngineService`."""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError

from airdig.engine.alerts import alert_routes
from airdig.engine.api.graphql.schema import build_schema
from airdig.engine.api.graphql.subscriptions import FanoutHub
from airdig.engine.api.rest.intel_routes import intel_routes
from airdig.engine.api.rest.routes import error_response, routes
from airdig.engine.auth import Authenticator, AuthMiddleware, principal_of, ws_principal
from airdig.engine.service import EngineService
from airdig.errors import AirDigError, Unauthorized
from airdig.logs import get_logger

log = get_logger("engine.http")


class _GraphQL(GraphQL[dict[str, Any], None]):
    def __init__(self, service: EngineService, hub: FanoutHub | None = None, auth: Authenticator | None = None
                 ) -> None:
        super().__init__(build_schema(), graphql_ide="graphiql")
        self.service = service
        self.hub = hub
        self.auth = auth

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> dict[str, Any]:
        return {"service": self.service, "request": request, "response": response,
                "principal": principal_of(request.scope), "hub": self.hub}

    async def on_ws_connect(self, context: dict[str, Any]) -> Any:
        """graphql-transport-ws ``connection_init``: the token comes in the header or the payload."""
        if self.auth is not None:
            import asyncio

            try:
                await asyncio.to_thread(ws_principal, context, self.auth)
            except Unauthorized as exc:
                raise ConnectionRejectionError({"error": str(exc), "code": exc.code}) from exc
        return await super().on_ws_connect(context)


def probe_routes(readiness: Any, registry: Any, liveness: Any = None) -> list[Route]:
    """``/healthz``, ``/readyz``, ``/metrics`` — the same three on every role.

    ``liveness`` (``Callable[[], str | None]``): a reason makes ``/healthz`` answer 503, so Kubernetes
    restarts a pod whose background thread is dead beyond recovery (see :mod:`airdig.supervisor`)."""

    async def healthz(_: Request) -> Response:
        problem = liveness() if liveness is not None else None
        if problem:
            return JSONResponse({"status": "dead", "reason": problem}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        checks = readiness()
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ready" if ok else "not ready", "checks": checks},
                            status_code=200 if ok else 503)

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return [Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics)]


class RequestMetrics:
    """Counts HTTP requests by route family and status (ids are cut off to keep the label set small)."""

    def __init__(self, app: ASGIApp, counter: Any) -> None:
        self.app = app
        self.counter = counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        parts = path.split("/")
        route = "/".join(parts[:4]) if path.startswith("/api/") else (path if path in _KNOWN else "other")
        status = {"code": 500}

        async def record(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            self.counter.labels(route, str(status["code"])).inc()


_KNOWN = {"/graphql", "/healthz", "/readyz", "/metrics"}


def build_app(service: EngineService, require_auth: bool = False) -> Starlette:
    """``require_auth``: bearer tokens on /graphql and /api (True unless every listener is on loopback)."""
    async def on_error(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, AirDigError):
            log.error("request failed", exc_info=True, path=request.url.path)
        return error_response(exc)

    async def not_found(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": f"no such route: {request.url.path}", "code": "NOT_FOUND"}, status_code=404)

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": f"{request.method} is not allowed on {request.url.path}", "code": "BAD_INPUT"},
                            status_code=405)

    auth = Authenticator(service.store, required=require_auth)
    hub = FanoutHub(service.cache)
    service.closers.append(hub.close)
    graphql = _GraphQL(service, hub, auth)
    if require_auth and not service.store.list_api_tokens():
        log.warning("authentication is on but no API token exists: create one with `airdig token create`")
    app = Starlette(
        routes=[*probe_routes(service.readiness, service.metrics.registry, service.liveness), *routes(), *intel_routes(),
                *alert_routes(),
                Route("/graphql", graphql, methods=["GET", "POST"]), WebSocketRoute("/graphql", graphql)],
        exception_handlers={AirDigError: on_error, Exception: on_error, 404: not_found, 405: not_allowed},
        middleware=[Middleware(RequestMetrics, counter=service.metrics.http_requests),
                    Middleware(AuthMiddleware, auth=auth)],
    )
    app.state.service = service
    app.state.hub = hub
    return app
