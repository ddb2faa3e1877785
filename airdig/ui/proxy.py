"""Reverse proxy from the UI's origin to the engine, for ``/graphql`` (HTTP and WebSocket) and ``/api/*``.

The browser talks to one origin only, exactly as behind the Kubernetes Ingress (``/`` → UI,
``/graphql`` and ``/api/*`` → engine), so no CORS is needed and the API token never leaves that origin.
An unreachable engine is answered with 502/504 and a body that says which URL failed, because the SPA
shows that text verbatim in its error states.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from ssl import SSLContext
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from airdig.edge.tls import client_context
from airdig.logs import get_logger
from airdig.ui.metrics import UiMetrics

log = get_logger("ui.proxy")

# RFC 9110 §7.6.1 connection-specific headers, plus the ones the proxy recomputes itself
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "transfer-encoding", "upgrade", "host", "content-length",
})
MAX_BODY = 4 * 1024 * 1024  # GraphQL documents and REST queries are small; refuse to buffer more
# headers a browser's WebSocket handshake may carry that the engine needs (tokens ride in connection_init)
WS_FORWARD = ("authorization", "cookie", "user-agent")


def ws_url(engine_url: str, path: str) -> str:
    """``http://h:8080`` → ``ws://h:8080/graphql`` (``https`` → ``wss``)."""
    parts = urlsplit(engine_url.rstrip("/"))
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, parts.path + path, "", ""))


def _error(status: int, message: str, graphql: bool) -> Response:
    body: dict[str, Any]
    if graphql:
        body = {"errors": [{"message": message, "extensions": {"code": "ENGINE_UNAVAILABLE"}}]}
    else:
        body = {"error": {"code": "ENGINE_UNAVAILABLE", "message": message}}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


class EngineProxy:
    """Forwards requests to ``engine_url``; one pooled HTTP client per event loop.

        proxy = EngineProxy("http://127.0.0.1:8080", metrics)
        routes = [Route("/graphql", proxy.http, methods=[...]), WebSocketRoute("/graphql", proxy.websocket)]
    """

    def __init__(self, engine_url: str, metrics: UiMetrics, transport: httpx.AsyncBaseTransport | None = None,
                 timeout: float = 30.0, ca_file: str | None = None) -> None:
        parts = urlsplit(engine_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            from airdig.errors import InvalidInput

            raise InvalidInput("engine_url", f"expected http(s)://host:port, got {engine_url!r}")
        self.engine_url = engine_url.rstrip("/")
        self.metrics = metrics
        self.transport = transport
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # an https engine is verified against ca_file (a private CA) or the system CAs; never unverified
        self._ssl: SSLContext | None = None
        if parts.scheme == "https":
            self._ssl = client_context(ca_file)

    def client(self) -> httpx.AsyncClient:
        # Servers started without lifespan (airdig.cli.serve) and test clients each run their own loop;
        # a pool is only valid on the loop that made it.
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = httpx.AsyncClient(transport=self.transport, timeout=self.timeout,
                                             follow_redirects=False, verify=self._ssl or True)
            self._loop = loop
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def check(self, timeout: float = 2.0) -> str:
        """``ok`` when the engine answers ``/healthz``; otherwise the reason (for ``/readyz``)."""
        try:
            r = await self.client().get(f"{self.engine_url}/healthz", timeout=timeout)
        except httpx.HTTPError as exc:
            return f"error: engine at {self.engine_url} unreachable ({type(exc).__name__}: {exc})"
        return "ok" if r.status_code == 200 else f"error: engine /healthz answered HTTP {r.status_code}"

    async def http(self, request: Request) -> Response:
        """Forward one request; ``Origin`` goes along and ``Host`` as ``X-Forwarded-Host``, so the
        engine's own Origin check sees what the browser sent (the UI's edge checked it already)."""
        path = request.url.path
        route = "graphql" if path == "/graphql" else "api"
        started = time.perf_counter()
        body = await request.body()
        if len(body) > MAX_BODY:
            return _error(413, f"request body over {MAX_BODY} bytes", route == "graphql")
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
        client_host = request.client.host if request.client else ""
        prior = request.headers.get("x-forwarded-for")
        headers += [("x-forwarded-for", f"{prior}, {client_host}" if prior else client_host),
                    ("x-forwarded-proto", request.url.scheme), ("x-forwarded-host", request.headers.get("host", ""))]
        url = self.engine_url + path + (f"?{request.url.query}" if request.url.query else "")
        client = self.client()
        upstream_req = client.build_request(request.method, url, headers=headers, content=body)
        try:
            upstream = await client.send(upstream_req, stream=True)
        except httpx.TimeoutException as exc:
            self.metrics.observe(route, 504, time.perf_counter() - started)
            return _error(504, f"engine at {self.engine_url} did not answer in time ({type(exc).__name__})",
                          route == "graphql")
        except httpx.HTTPError as exc:
            self.metrics.observe(route, 502, time.perf_counter() - started)
            log.warning("engine unreachable", url=self.engine_url, error=str(exc))
            return _error(502, f"engine at {self.engine_url} unreachable ({type(exc).__name__}: {exc})",
                          route == "graphql")
        out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
        self.metrics.observe(route, upstream.status_code, time.perf_counter() - started)

        async def relay() -> AsyncIterator[bytes]:
            try:
                async for chunk in upstream.aiter_raw():
                    yield chunk
            finally:
                await upstream.aclose()

        return StreamingResponse(relay(), status_code=upstream.status_code, headers=out_headers)

    async def websocket(self, ws: WebSocket) -> None:
        """Relay a WebSocket (``graphql-transport-ws``) frame by frame, with the negotiated subprotocol."""
        offered = list(ws.scope.get("subprotocols") or [])
        fwd = [(k, ws.headers[k]) for k in WS_FORWARD if k in ws.headers]
        # the engine runs its own Origin check against the browser's origin and the host it asked for
        fwd.append(("x-forwarded-host", ws.headers.get("host", "")))
        fwd.append(("x-forwarded-proto", "https" if ws.url.scheme == "wss" else "http"))
        origin = ws.headers.get("origin")
        target = ws_url(self.engine_url, ws.url.path)
        try:
            upstream = await ws_connect(target, subprotocols=offered or None, origin=origin,  # type: ignore[arg-type]
                                        additional_headers=fwd, open_timeout=5, max_size=MAX_BODY,
                                        ssl=self._ssl)
        except (OSError, TimeoutError, InvalidStatus, WebSocketException) as exc:
            self.metrics.ws_failures.inc()
            log.warning("engine websocket unreachable", url=target, error=str(exc))
            await ws.accept(subprotocol=offered[0] if offered else None)
            # 1011 + a reason the SPA shows ("live updates unavailable: …"); reasons are capped at 123 bytes
            await ws.close(code=1011, reason=f"engine websocket unavailable: {exc}"[:120])
            return
        await ws.accept(subprotocol=upstream.subprotocol)
        self.metrics.ws_sessions.inc()
        try:
            await self._pump(ws, upstream)
        finally:
            self.metrics.ws_sessions.dec()
            await upstream.close()

    @staticmethod
    async def _pump(ws: WebSocket, upstream: Any) -> None:
        async def down() -> None:  # browser → engine
            with contextlib.suppress(WebSocketDisconnect, ConnectionClosed):
                while True:
                    msg = await ws.receive()
                    if msg["type"] == "websocket.disconnect":
                        return
                    if msg.get("text") is not None:
                        await upstream.send(msg["text"])
                    elif msg.get("bytes") is not None:
                        await upstream.send(msg["bytes"])

        async def up() -> None:  # engine → browser
            with contextlib.suppress(ConnectionClosed, RuntimeError):
                async for frame in upstream:
                    if isinstance(frame, str):
                        await ws.send_text(frame)
                    else:
                        await ws.send_bytes(frame)
            code = upstream.close_code or 1000
            reason = upstream.close_reason or ""
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await ws.close(code=code if code != 1006 else 1011, reason=reason)

        tasks = [asyncio.create_task(down()), asyncio.create_task(up())]
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
