"""OTLP/HTTP receiver: ``POST /v1/traces`` (protobuf or JSON, optionally gzip) plus health and metrics.

Responses follow the OTLP/HTTP spec: 200 with an ``ExportTraceServiceResponse`` (``partial_success``
when some spans were rejected) in the request's encoding; 400 with a ``google.rpc.Status`` naming
the problem; 413 past the size limit (checked on the declared length, on the bytes read and on the
gzip-expanded size); 415 for other media types or encodings; 429 when the ingest queue is full and
503 while the downstream bus is failing, both with ``Retry-After``.

    app = otlp_http_app(ingest, metrics, max_body_bytes=16 << 20)
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import orjson
from google.rpc import status_pb2  # type: ignore[import-untyped]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from airdig.edge.auth import Verify
from airdig.edge.policy import EdgePolicy
from airdig.edge.probes import Probes
from airdig.edge.stack import edge_middleware
from airdig.errors import InvalidInput
from airdig.logs import get_logger
from airdig.tracecore.decode import DecodeResult, decode_request
from airdig.tracecore.ingest import Ingest
from airdig.tracecore.metrics import TraceCoreMetrics
from airdig.tracecore.otlp_json import decode_json

log = get_logger("tracecore.http")
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# past the limit we still read (and discard) this much, so the client gets our 413 instead of a reset
DRAIN_LIMIT = 256 << 20


class _TooLarge(Exception):
    pass


def _status(code: int, message: str, proto: bool, http_status: int, retry_after: int | None = None) -> Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    if proto:
        body = status_pb2.Status(code=code, message=message).SerializeToString()
        return Response(body, status_code=http_status, media_type=PROTOBUF, headers=headers)
    return JSONResponse({"code": code, "message": message}, status_code=http_status, headers=headers)


def _gunzip(data: bytes, limit: int) -> bytes:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(data, limit + 1)
        if len(out) > limit or d.unconsumed_tail:
            raise _TooLarge()
        out += d.flush()
    except zlib.error as exc:
        raise InvalidInput("otlp http", f"body is not valid gzip: {exc}") from None
    if len(out) > limit:
        raise _TooLarge()
    if not d.eof:
        raise InvalidInput("otlp http", "gzip body is truncated")
    return out


def otlp_http_app(ingest: Ingest, metrics: TraceCoreMetrics, max_body_bytes: int = 16 << 20,
                  all_attributes: bool = False, retry_after: int = 2,
                  ready: Callable[[], str | None] | None = None, policy: EdgePolicy | None = None,
                  verify: Verify | None = None, live: Callable[[], str | None] | None = None) -> Starlette:
    """``ready`` returns None when the backends are reachable, else the reason (for ``/readyz``);
    ``live`` likewise for ``/healthz`` (None unless a background thread is dead beyond recovery);
    ``policy``/``verify``: the shared edge (Host/Origin checks, bearer tokens on ``/v1/traces``).
    The body limit stays this receiver's own (it also bounds the gunzipped size)."""

    async def read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
            await drain(request, 0)
            raise _TooLarge()
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body_bytes:
                chunks.clear()
                await drain(request, size)
                raise _TooLarge()
            chunks.append(chunk)
        return b"".join(chunks)

    async def drain(request: Request, already: int) -> None:
        seen = already
        try:
            async for chunk in request.stream():
                seen += len(chunk)
                if seen > DRAIN_LIMIT:
                    return  # beyond this the connection is simply closed after our answer
        except ClientDisconnect:
            return

    async def export(request: Request) -> Response:
        ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        proto = ctype != JSON
        if ctype not in (PROTOBUF, JSON):
            metrics.requests.labels("http", "unsupported").inc()
            return _status(3, f"unsupported Content-Type {ctype or '(none)'!r}; use {PROTOBUF} or {JSON}",
                           True, 415)
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("identity", "gzip", ""):
            metrics.requests.labels("http", "unsupported").inc()
            return _status(3, f"unsupported Content-Encoding {encoding!r}; use gzip or none", proto, 415)
        try:
            body = await read_body(request)
            if encoding == "gzip":
                body = _gunzip(body, max_body_bytes)
        except _TooLarge:
            metrics.requests.labels("http", "too_large").inc()
            return _status(8, f"request body exceeds the {max_body_bytes}-byte limit", proto, 413)
        except ClientDisconnect:
            metrics.requests.labels("http", "disconnected").inc()
            return Response(status_code=400)
        except InvalidInput as exc:
            metrics.requests.labels("http", "bad_request").inc()
            return _status(3, str(exc), proto, 400)
        if ingest.degraded:
            metrics.requests.labels("http", "unavailable").inc()
            return _status(14, f"downstream unavailable: {ingest.last_error}", proto, 503, retry_after)
        try:
            result: DecodeResult = (decode_request(body, all_attributes) if proto
                                    else decode_json(body, all_attributes))
        except InvalidInput as exc:
            metrics.requests.labels("http", "bad_request").inc()
            return _status(3, str(exc), proto, 400)
        if not ingest.submit(result.spans):
            metrics.requests.labels("http", "overloaded").inc()
            metrics.received.labels("refused").inc(len(result.spans))
            return _status(8, "ingest queue is full; retry later", proto, 429, retry_after)
        metrics.requests.labels("http", "ok").inc()
        metrics.received.labels("accepted").inc(len(result.spans))
        if result.rejected:
            metrics.received.labels("rejected").inc(result.rejected)
        if proto:
            resp = ExportTraceServiceResponse()
            if result.rejected:
                resp.partial_success.CopyFrom(ExportTracePartialSuccess(
                    rejected_spans=result.rejected, error_message=result.error_message))
            return Response(resp.SerializeToString(), media_type=PROTOBUF)
        doc: dict[str, object] = {}
        if result.rejected:
            doc["partialSuccess"] = {"rejectedSpans": str(result.rejected), "errorMessage": result.error_message}
        return Response(orjson.dumps(doc), media_type=JSON)

    async def healthz(request: Request) -> Response:
        problem = live() if live is not None else None
        if problem:  # a background thread dead beyond recovery: let Kubernetes restart the pod
            return PlainTextResponse(f"dead: {problem}", status_code=503)
        return PlainTextResponse("ok")

    probes = Probes()  # the backend pings run in a worker thread, with a timeout, cached two seconds
    if ready is not None:
        probes.readiness["backends"] = ready

    async def readyz(request: Request) -> Response:
        checks = await probes.ready()
        reason = next((v for v in checks.values() if v != "ok"), None)
        if reason is None and ingest.degraded:
            reason = f"downstream unavailable: {ingest.last_error}"
        if reason:
            return PlainTextResponse(f"not ready: {reason}", status_code=503)
        return PlainTextResponse("ready")

    async def prometheus(request: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    routes = [
        Route("/v1/traces", export, methods=["POST"]),
        Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", prometheus),
    ]
    return Starlette(routes=routes, middleware=edge_middleware(
        policy or EdgePolicy(), routes=routes, counter=metrics.http_requests, verify=verify, body_limit=False,
        write_paths={"/v1/traces"}))  # spans in: the editor role (a viewer token is refused with 403)
