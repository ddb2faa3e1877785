"""The bearer-token gate in front of every route of a listener, except the probes and public files.

``verify`` maps the ``Authorization`` header (or None) to the caller, raising
:class:`airdig.errors.Unauthorized`; it is async so a token-store lookup runs off the event loop.
The caller lands in ``scope["state"]["principal"]``. On a *write path* (data sent in: OTLP spans,
webhooks) the caller must also have the role :data:`airdig.edge.roles.WRITE_ROLE`, else 403 FORBIDDEN:
a read-only (viewer) token reads, it does not write, whatever its source (:mod:`airdig.edge.roles`).
A WebSocket without the header is let through to its handshake: graphql-transport-ws clients send the
token in ``connection_init`` (checked by the app). Tokens are never read from the URL (they would land in access logs and browser history).

    app = AuthGate(app, verify=authenticator.aprincipal, open_paths={"/healthz", "/readyz", "/metrics"},
                   write_paths={"/v1/traces"})
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

import orjson

from airdig.edge.limits import send_json
from airdig.edge.roles import WRITE_ROLE, may, refusal
from airdig.edge.types import ASGIApp, Receive, Scope, Send
from airdig.errors import Forbidden, Unauthorized

PROBES = frozenset({"/healthz", "/readyz", "/metrics"})
Verify = Callable[[str | None], Awaitable[Any]]


class TokenCheck(Protocol):
    """A source of bearer tokens usable from both worlds: ``aprincipal`` on the event loop (the HTTP
    gate), ``principal`` from a worker thread (the gRPC receiver's interceptor). Both map the
    ``Authorization`` value (``Bearer <token>``, or None) to the caller or raise :class:`Unauthorized`.
    :class:`airdig.engine.auth.Authenticator` (the engine's token store) and
    :class:`airdig.edge.tokenfile.TokenFile` (a static token file) are the two."""

    def principal(self, authorization: str | None) -> Any: ...

    async def aprincipal(self, authorization: str | None) -> Any: ...


class AuthGate:
    def __init__(self, app: ASGIApp, verify: Verify, open_paths: Iterable[str] = PROBES,
                 open_prefixes: tuple[str, ...] = (), alt_header: bytes | None = None,
                 write_paths: Iterable[str] = ()) -> None:
        """``alt_header``: a header whose value counts as ``Bearer <value>`` when ``Authorization`` is
        absent (PulseSight's ``X-AirDig-Secret``, for senders that cannot set ``Authorization``);
        ``write_paths``: the routes that take data in (they need :data:`WRITE_ROLE`)."""
        self.app = app
        self.verify = verify
        self.open_paths = frozenset(open_paths)
        self.open_prefixes = open_prefixes
        self.alt_header = alt_header
        self.write_paths = frozenset(write_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        path = str(scope.get("path", ""))
        if kind not in ("http", "websocket") or path in self.open_paths or (
                self.open_prefixes and path.startswith(self.open_prefixes)):
            await self.app(scope, receive, send)
            return
        header = alt = None
        for key, value in scope.get("headers") or ():
            name = bytes(key).lower()
            if name == b"authorization" and header is None:
                header = bytes(value).decode("latin-1")
            elif self.alt_header is not None and name == self.alt_header and alt is None:
                alt = "Bearer " + bytes(value).decode("latin-1").strip()
        header = header or alt
        state = scope.setdefault("state", {})
        if kind == "websocket" and header is None:
            state.setdefault("principal", None)  # the app checks connection_init
            await self.app(scope, receive, send)
            return
        try:
            principal = state["principal"] = await self.verify(header)
        except Unauthorized as exc:
            if kind == "websocket":
                await send({"type": "websocket.close", "code": 4401, "reason": "Unauthorized"})
                return
            await send_json(send, 401, orjson.dumps({"error": str(exc), "code": exc.code}),
                            [(b"www-authenticate", b'Bearer realm="airdig"')])
            return
        if path in self.write_paths and not may(principal, WRITE_ROLE):
            denied = Forbidden(refusal(principal, WRITE_ROLE))
            await send_json(send, 403, orjson.dumps({"error": str(denied), "code": denied.code}))
            return
        await self.app(scope, receive, send)
