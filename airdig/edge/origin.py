"""Host and Origin checks on HTTP and WebSocket requests, before anything else runs.

* On a loopback listener the ``Host`` header must be a loopback name or address with the listener's
  port: a DNS-rebinding page reaches 127.0.0.1 under its own name, which lands in ``Host``.
* A request that carries ``Origin`` (every browser WebSocket, every cross-site fetch) must come from
  the listener's own origin (``Host``, or ``X-Forwarded-Host`` set by the UI proxy / an ingress) or
  from ``allowed_origins``. A browser cannot forge either header on a cross-site request; tools that
  send no ``Origin`` are not browsers and meet the token check instead.

Refusals are 403 (HTTP) or a closed handshake (WebSocket, which the server answers with 403).

    app = HostOriginGuard(app, EdgePolicy.for_bind("127.0.0.1"))
"""

from __future__ import annotations

import orjson

from airdig.edge.limits import send_json
from airdig.edge.policy import EdgePolicy, is_loopback_name, normalize_origin
from airdig.edge.types import ASGIApp, Receive, Scope, Send
from airdig.logs import get_logger

log = get_logger("edge.origin")


def split_host(value: str, default_port: int) -> tuple[str, int | None]:
    """``Host``-style ``name[:port]`` / ``[v6][:port]`` → (name, port); port None when not a number."""
    v = value.strip().lower()
    if v.startswith("["):
        end = v.find("]")
        name, rest = v[: end + 1], v[end + 1:]
    else:
        name, _, rest = v.partition(":")
        rest = ":" + rest if rest else ""
    if not rest:
        return name, default_port
    port = rest[1:]
    return name, int(port) if port.isdigit() else None


def headers_of(scope: Scope) -> dict[bytes, str]:
    out: dict[bytes, str] = {}
    for key, value in scope.get("headers") or ():
        out.setdefault(bytes(key).lower(), bytes(value).decode("latin-1"))
    return out


def refusal(scope: Scope, policy: EdgePolicy) -> str | None:
    """Why this request is refused, or None."""
    headers = headers_of(scope)
    secure = scope.get("scheme") in ("https", "wss")
    default_port = 443 if secure else 80
    host_header = headers.get(b"host", "")
    name, port = split_host(host_header, default_port)
    if policy.loopback:
        server = scope.get("server")
        want = server[1] if server else None
        if not is_loopback_name(name) or port is None or (want is not None and port != want):
            return f"Host {host_header!r} is not this loopback listener (DNS rebinding?)"
    elif policy.allowed_hosts and name.strip("[]") not in policy.allowed_hosts and name not in policy.allowed_hosts:
        return f"Host {host_header!r} is not in allowed_hosts"
    origin = headers.get(b"origin")
    if origin is None:
        return None
    norm = normalize_origin(origin)
    if norm in policy.allowed_origins:
        return None
    scheme, sep, rest = norm.partition("://")
    if not sep or scheme not in ("http", "https"):
        return f"Origin {origin!r} is not allowed"
    o_name, o_port = split_host(rest, 443 if scheme == "https" else 80)
    own = [(name, port)]
    forwarded = headers.get(b"x-forwarded-host")
    if forwarded:
        fwd_secure = headers.get(b"x-forwarded-proto", "http").strip().lower() == "https"
        own.append(split_host(forwarded.split(",")[0], 443 if fwd_secure else 80))
    if (o_name, o_port) in own:
        return None
    return f"Origin {origin!r} is not this site and not in allowed_origins"


class HostOriginGuard:
    def __init__(self, app: ASGIApp, policy: EdgePolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        reason = refusal(scope, self.policy)
        if reason is None:
            await self.app(scope, receive, send)
            return
        log.warning("request refused", reason=reason, path=str(scope.get("path", ""))[:200],
                    client=(scope.get("client") or ("?",))[0])
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4403, "reason": "Forbidden"})
            return
        await send_json(send, 403, orjson.dumps({"error": reason, "code": "FORBIDDEN"}))
