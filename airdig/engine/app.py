"""The engine's ASGI app: probes, metrics, GraphQL and REST over one :class:`EngineService`, behind the
shared HTTP edge (:mod:`airdig.edge`: Host/Origin checks, body limit, route metrics, token gate)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLRequestData
from strawberry.types.graphql import OperationType

from airdig.edge.policy import EdgePolicy
from airdig.edge.probes import Probes, ping_check
from airdig.edge.stack import edge_middleware
from airdig.engine.alerts import alert_routes
from airdig.engine.api.graphql.hotread import HotReads
from airdig.engine.api.graphql.schema import HOT_ROOTS, build_schema
from airdig.engine.api.graphql.subscriptions import FanoutHub
from airdig.engine.api.rest.intel_routes import intel_routes
from airdig.engine.api.rest.routes import error_response, routes
from airdig.engine.api.rest.view_routes import view_routes
from airdig.engine.auth import OPEN_PATHS, Authenticator, principal_of, ws_principal
from airdig.engine.service import EngineService
from airdig.errors import AirDigError, Unauthorized
from airdig.logs import get_logger

log = get_logger("engine.http")


class _GraphQL(GraphQL[dict[str, Any], None]):
    def __init__(self, service: EngineService, hub: FanoutHub | None = None, auth: Authenticator | None = None,
                 graphiql: bool = False, hot_reads: bool = True) -> None:
        super().__init__(build_schema(), graphql_ide="graphiql" if graphiql else None)
        self.service = service
        self.hub = hub
        self.auth = auth
        self.hot = HotReads(self.schema, HOT_ROOTS,  # type: ignore[arg-type]
                            counter=service.metrics.graphql_hot_reads) if hot_reads else None

    async def execute_single(self, request: Request, request_adapter: Any, sub_response: Response,
                             context: dict[str, Any], root_value: None, request_data: GraphQLRequestData) -> Any:
        """A query that is a hot read (:mod:`airdig.engine.api.graphql.hotread`: ``resource(id)`` selecting
        plain fields) is answered by its plan; everything else, and any hot read that would not be a
        plain success, by Strawberry. Both give the same ``ExecutionResult`` to the same response code."""
        if self.hot is not None and OperationType.QUERY in self._allowed(request_adapter.method):
            result = await self.hot.execute(request_data.query, request_data.operation_name,
                                            request_data.variables, context)
            if result is not None:
                return result
        return await super().execute_single(request, request_adapter, sub_response, context, root_value,
                                            request_data)

    def _allowed(self, method: Any) -> set[OperationType]:
        """The operation types Strawberry allows for this HTTP method (as in ``execute_single``)."""
        allowed = set(OperationType.from_http(method))
        if not self.allow_queries_via_get and method == "GET":
            allowed.discard(OperationType.QUERY)
        return allowed

    def encode_json(self, data: object) -> str | bytes:
        """orjson: a 20,000-edge service map encodes in 20 ms instead of 200 ms. The same JSON values
        (GraphQL floats are finite); what orjson refuses (an int past 64 bits in a JSON scalar) goes
        through the standard encoder as before. A str, not bytes: the subscriptions' websocket frames
        are text frames (graphql-transport-ws)."""
        try:
            return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS).decode()
        except TypeError:
            return super().encode_json(data)

    def is_websocket_origin_allowed(self, request: Any, origin: str) -> bool:
        """The edge's :class:`airdig.edge.origin.HostOriginGuard` ran first and decided (it also knows
        ``X-Forwarded-Host`` from the UI proxy and the ``allowed_origins`` setting)."""
        return True

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


def engine_probes(service: EngineService) -> Probes:
    """``/healthz`` runs ``service.liveness_checks`` (a supervisor registers its threads there);
    ``/readyz`` pings each backend in a worker thread with a timeout, cached for two seconds."""
    probes = Probes(service.metrics.registry, liveness=service.liveness_checks)
    probes.readiness["store"] = ping_check(lambda: service.store.ping())
    probes.readiness["bus"] = ping_check(lambda: service.bus.ping())
    probes.readiness["cache"] = ping_check(lambda: service.cache.ping())

    def processor() -> str | None:
        if service.processor is None:
            return None
        return None if service.processor.alive else "stopped"

    probes.readiness["processor"] = processor
    return probes


def build_app(service: EngineService, require_auth: bool = False, policy: EdgePolicy | None = None,
              spa: bool = False, graphiql: bool = False, hot_reads: bool = True) -> Starlette:
    """``require_auth``: bearer tokens on every route but the probes (and the SPA's public files);
    ``policy``: the listener's Host/Origin rules and body limit; ``spa``: also serve the web UI (loopback
    dev mode: one origin, no proxy); ``graphiql``: the in-browser IDE at GET /graphql (dev mode only);
    ``hot_reads``: answer plain ``resource(id)`` queries by :mod:`airdig.engine.api.graphql.hotread` (off:
    every query through Strawberry, as the parity test and the benchmark's baseline do)."""
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
    graphql = _GraphQL(service, hub, auth, graphiql, hot_reads)
    if require_auth and not service.store.list_api_tokens():
        log.warning("authentication is on but no API token exists: create one with `airdig token create`")
    # /graphql first: Starlette tries routes in order, and nothing else matches it (20 fewer tries a query)
    all_routes: list[BaseRoute] = [
        Route("/graphql", graphql, methods=["GET", "POST"]), WebSocketRoute("/graphql", graphql),
        *engine_probes(service).routes(), *routes(), *intel_routes(), *view_routes(), *alert_routes()]
    open_paths = set(OPEN_PATHS)
    open_prefixes: tuple[str, ...] = ()
    if spa:
        from airdig.ui.app import SPA_PATHS, SPA_PREFIXES, SecurityHeaders, spa_routes

        all_routes += spa_routes("")
        open_paths |= SPA_PATHS
        open_prefixes = SPA_PREFIXES
    edge = edge_middleware(policy or EdgePolicy(), routes=all_routes, counter=service.metrics.http_requests,
                           verify=auth.aprincipal, open_paths=open_paths, open_prefixes=open_prefixes)
    if spa:
        edge.append(Middleware(SecurityHeaders))
    app = Starlette(
        routes=all_routes,
        exception_handlers={AirDigError: on_error, Exception: on_error, 404: not_found, 405: not_allowed},
        middleware=edge,
    )
    app.state.service = service
    app.state.hub = hub
    app.state.hot_reads = graphql.hot
    return app
