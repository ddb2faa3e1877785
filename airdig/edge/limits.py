"""A request body limit that refuses as the body streams past it, without buffering it first.

TraceCore's OTLP receiver showed the shape: a declared ``Content-Length`` over the limit is refused at
once; otherwise the bytes are counted as the app reads them, and the read that crosses the limit ends
the request with 413. What comes after is read and dropped (up to :data:`DRAIN_LIMIT`, so the client
sees our answer instead of a reset) and never held in memory.

    app = BodyLimit(app, max_bytes=1 << 20)
"""

from __future__ import annotations

import orjson

from airdig.edge.types import ASGIApp, Message, Receive, Scope, Send

DRAIN_LIMIT = 256 << 20


def too_large_body(limit: int) -> bytes:
    return orjson.dumps({"error": f"request body exceeds the {limit}-byte limit", "code": "LIMIT_EXCEEDED"})


async def send_json(send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(extra or [])]})
    await send({"type": "http.response.body", "body": body})


async def drain(receive: Receive, already: int) -> None:
    """Read and drop the rest of a refused body (bounded), so the client gets to read the 413."""
    seen = already
    while seen <= DRAIN_LIMIT:
        msg = await receive()
        if msg["type"] != "http.request":
            return
        seen += len(msg.get("body", b""))
        if not msg.get("more_body", False):
            return


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        headers = {bytes(k).lower(): bytes(v) for k, v in scope.get("headers") or ()}
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            # a client waiting for "100 Continue" never sends the body: answer at once
            if headers.get(b"expect", b"").lower() != b"100-continue":
                await drain(receive, 0)
            await send_json(send, 413, too_large_body(limit))
            return
        state = {"seen": 0, "over": False, "started": False}

        async def counted() -> Message:
            if state["over"]:
                return {"type": "http.disconnect"}
            msg = await receive()
            if msg["type"] == "http.request":
                state["seen"] = int(state["seen"]) + len(msg.get("body", b""))
                if int(state["seen"]) > limit:
                    state["over"] = True
                    if msg.get("more_body", False):
                        await drain(receive, int(state["seen"]))
                    return {"type": "http.disconnect"}  # the app stops reading; nothing was kept
            return msg

        async def guarded_send(msg: Message) -> None:
            if state["over"]:
                return  # the app's answer to a cut-off body is replaced by our 413
            if msg["type"] == "http.response.start":
                state["started"] = True
            await send(msg)

        try:
            await self.app(scope, counted, guarded_send)
        except Exception:
            if not state["over"]:
                raise
        if state["over"] and not state["started"]:
            await send_json(send, 413, too_large_body(limit))
