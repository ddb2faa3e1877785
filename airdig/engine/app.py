"""The engine's ASGI app: probes, metrics, GraphQL and REST over one :class:`EngineService`."""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from airdig.engine.api.graphql.schema import build_schema
from airdig.engine.api.rest.routes import error_response, routes
from airdig.engine.service import EngineService
from airdig.errors import AirDigError
from airdig.logs import get_logger

log = get_logger("engine.http")


class _GraphQL(GraphQL[dict[str, Any], None]):
    def __init__(self, service: EngineService) -> None:
        super().__init__(build_schema(), graphql_ide="graphiql")
        self.service = service

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> dict[str, Any]:
        return {"service": self.service, "request": request, "response": response}


def probe_routes(readiness: Any, registry: Any) -> list[Route]:
    """``/healthz``, ``/readyz``, ``/metrics`` — the same three on every role."""

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        checks = readiness()
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ready" if ok else "not ready", "checks": checks},
                            status_code=200 if ok else 503)

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return [Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics)]


def build_app(service: EngineService) -> Starlette:
    async def on_error(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, AirDigError):
            log.error("request failed", exc_info=True, path=request.url.path)
        return error_response(exc)

    graphql = _GraphQL(service)
    app = Starlette(
        routes=[*probe_routes(service.readiness, service.metrics.registry), *routes(),
                Route("/graphql", graphql, methods=["GET", "POST"]), WebSocketRoute("/graphql", graphql)],
        exception_handlers={AirDigError: on_error, Exception: on_error},
    )
    app.state.service = service
    return app
