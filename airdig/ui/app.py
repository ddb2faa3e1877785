"""The UI role's ASGI app: the SPA's files, the engine proxy and the three probes.

    app = build_ui_app("http://127.0.0.1:8080")   # serve with uvicorn, or mount it in `airdig up`

Routes mirror the Kubernetes Ingress of the deployment: ``/`` is the UI, ``/graphql`` (HTTP and
WebSocket) and ``/api/*`` go to the engine, so the SPA works the same behind either.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from airdig.edge.policy import EdgePolicy
from airdig.edge.stack import edge_middleware
from airdig.ui.metrics import UiMetrics
from airdig.ui.proxy import MAX_BODY, EngineProxy

STATIC_DIR = Path(__file__).parent / "static"
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# The SPA loads nothing from elsewhere (no CDN): lock it to its own origin.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


class SecurityHeaders:
    """Security headers on the UI's own responses; ``no-cache`` so a new release is picked up at once.
    Plain ASGI (it also sits in front of the engine's API in `airdig up`, where every microsecond counts)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == "/" or path.startswith("/static/") or path == "/index.html"):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("content-security-policy", CSP)
                headers.setdefault("x-content-type-options", "nosniff")
                headers.setdefault("referrer-policy", "no-referrer")
                headers["cache-control"] = "no-cache"
            await send(message)

        await self.app(scope, receive, with_headers)


def _json(data: object, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


SPA_PATHS = frozenset({"/", "/index.html", "/ui/config.json"})
SPA_PREFIXES = ("/static/",)


def spa_routes(engine_url: str, on_static: Callable[[], None] | None = None) -> list[BaseRoute]:
    """The SPA's files and ``/ui/config.json``: public (no data in them), so the token gate lets them
    through (:data:`SPA_PATHS`, :data:`SPA_PREFIXES`). Served by the UI role and, in loopback dev
    mode, by the engine itself (one origin, no proxy)."""

    async def index(_: Request) -> Response:
        if on_static is not None:
            on_static()
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8")

    async def config(_: Request) -> Response:
        # what the SPA shows in its footer / error states; never secrets
        return _json({"engine_url": engine_url})

    return [Route("/", index, methods=["GET", "HEAD"]), Route("/index.html", index, methods=["GET", "HEAD"]),
            Route("/ui/config.json", config, methods=["GET"]),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static")]


def build_ui_app(engine_url: str, transport: httpx.AsyncBaseTransport | None = None,
                 metrics: UiMetrics | None = None, policy: EdgePolicy | None = None,
                 engine_ca_file: str | None = None) -> Starlette:
    """The UI app proxying to ``engine_url``; ``transport`` lets tests route the proxy in-process.
    ``policy``: the listener's Host/Origin rules and body limit (the proxy's own :data:`MAX_BODY`).
    ``engine_ca_file``: the CA an https engine's certificate is verified against (else the system's)."""
    m = metrics or UiMetrics()
    proxy = EngineProxy(engine_url, m, transport=transport, ca_file=engine_ca_file)

    async def healthz(_: Request) -> Response:
        return _json({"status": "ok"})

    async def readyz(_: Request) -> Response:
        engine = await proxy.check()
        ok = engine == "ok"
        return _json({"status": "ready" if ok else "not ready", "checks": {"engine": engine},
                      "engine_url": proxy.engine_url}, 200 if ok else 503)

    async def metrics_route(_: Request) -> Response:
        return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        # servers run with lifespan="off" keep the pool for the life of the process; the rest close it here
        yield
        await proxy.aclose()

    routes: list[BaseRoute] = [
        *spa_routes(proxy.engine_url, m.static.inc),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_route, methods=["GET"]),
        Route("/graphql", proxy.http, methods=METHODS),
        WebSocketRoute("/graphql", proxy.websocket),
        Route("/api/{path:path}", proxy.http, methods=METHODS),
    ]
    edge = policy or EdgePolicy()
    edge = dataclasses.replace(edge, max_body_bytes=min(edge.max_body_bytes, MAX_BODY))
    app = Starlette(
        lifespan=lifespan,
        routes=routes,
        # the engine checks tokens on what is proxied; the UI itself holds no data
        middleware=[*edge_middleware(edge, routes=routes, counter=m.requests), Middleware(SecurityHeaders)],
    )
    app.state.proxy = proxy
    app.state.metrics = m
    return app
