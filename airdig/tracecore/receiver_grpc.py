"""OTLP/gRPC receiver: ``opentelemetry.proto.collector.trace.v1.TraceService/Export`` on :4317.

The method is registered with a pass-through request deserializer, so the request's protobuf bytes go
to :func:`.decode_request` (the compiled decoder when active, see :mod:`.native`) instead of being
parsed into message objects first; a malformed request answers INVALID_ARGUMENT with the parser's
reason. Overload answers RESOURCE_EXHAUSTED (queue full) or UNAVAILABLE (downstream failing), both
retryable for OTLP exporters; oversized messages are refused by gRPC itself (RESOURCE_EXHAUSTED) at
``max_message_bytes``.

With ``tokens`` (auth on), every call needs the metadata ``authorization: Bearer <token>`` — what the
collector's ``bearertokenauth`` extension and the SDKs' ``OTEL_EXPORTER_OTLP_HEADERS`` send. An
interceptor checks it before the request is decoded and answers UNAUTHENTICATED otherwise, and
PERMISSION_DENIED for a token without the editor role (a viewer token reads, it does not send data in:
:mod:`airdig.edge.roles`); a token source that cannot be reached answers UNAVAILABLE (retryable). The
token is never logged.

    server = start_grpc(ingest, metrics, "127.0.0.1", 4317, tokens=authenticator); ...; server.stop(grace=2)
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)

from airdig.edge.auth import TokenCheck
from airdig.edge.roles import WRITE_ROLE, may, refusal
from airdig.edge.tls import ServerTls
from airdig.errors import AirDigError, BackendUnavailable, InvalidInput, Unauthorized
from airdig.logs import get_logger
from airdig.tracecore.decode import decode_request
from airdig.tracecore.ingest import Ingest
from airdig.tracecore.metrics import TraceCoreMetrics

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
log = get_logger("tracecore.grpc")


def _refuse(code: grpc.StatusCode, reason: str) -> Any:
    def deny(request: Any, context: Any) -> Any:
        context.abort(code, reason)
    # no deserializer: the refused message is never decoded
    return grpc.unary_unary_rpc_method_handler(deny)


class BearerInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Refuses every call whose ``authorization`` metadata is not a valid ``Bearer <token>``
    (UNAUTHENTICATED), or whose token may not send data in (PERMISSION_DENIED: a viewer token)."""

    def __init__(self, tokens: TokenCheck, metrics: TraceCoreMetrics) -> None:
        self.tokens = tokens
        self.metrics = metrics

    def intercept_service(self, continuation: Callable[[Any], Any], handler_call_details: Any) -> Any:
        header: str | None = None
        for key, value in handler_call_details.invocation_metadata or ():
            if key == "authorization" and isinstance(value, str):
                header = value
                break
        try:
            principal = self.tokens.principal(header)
        except Unauthorized as exc:  # the message names what is wrong, never the token
            self.metrics.requests.labels("grpc", "unauthenticated").inc()
            return _refuse(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        except AirDigError as exc:
            log.warning("otlp grpc: token check failed", error=str(exc))
            self.metrics.requests.labels("grpc", "unavailable").inc()
            return _refuse(grpc.StatusCode.UNAVAILABLE, "token check unavailable; retry later")
        if not may(principal, WRITE_ROLE):  # every call of this service sends spans in
            self.metrics.requests.labels("grpc", "forbidden").inc()
            return _refuse(grpc.StatusCode.PERMISSION_DENIED, refusal(principal, WRITE_ROLE))
        return continuation(handler_call_details)



class TraceServicer:
    def __init__(self, ingest: Ingest, metrics: TraceCoreMetrics, all_attributes: bool = False) -> None:
        self.ingest = ingest
        self.metrics = metrics
        self.all_attributes = all_attributes

    def Export(self, request: bytes, context: Any) -> Any:
        m = self.metrics
        if self.ingest.degraded:
            m.requests.labels("grpc", "unavailable").inc()
            context.abort(grpc.StatusCode.UNAVAILABLE, f"downstream unavailable: {self.ingest.last_error}")
        try:
            result = decode_request(request, self.all_attributes)
        except InvalidInput as exc:
            m.requests.labels("grpc", "bad_request").inc()
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        if not self.ingest.submit(result.spans):
            m.requests.labels("grpc", "overloaded").inc()
            m.received.labels("refused").inc(len(result.spans))
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "ingest queue is full; retry later")
        m.requests.labels("grpc", "ok").inc()
        m.received.labels("accepted").inc(len(result.spans))
        resp = ExportTraceServiceResponse()
        if result.rejected:
            m.received.labels("rejected").inc(result.rejected)
            resp.partial_success.CopyFrom(ExportTracePartialSuccess(rejected_spans=result.rejected,
                                                                    error_message=result.error_message))
        return resp


def start_grpc(ingest: Ingest, metrics: TraceCoreMetrics, host: str, port: int,
               max_message_bytes: int = 16 << 20, workers: int = 4, all_attributes: bool = False,
               tokens: TokenCheck | None = None, tls: ServerTls | None = None) -> Any:
    """Start the server; returns the ``grpc.Server`` and sets ``server.port`` to the bound port.
    ``tokens``: the bearer-token check (None: no auth, for loopback dev mode only); ``tls``: serve
    TLS only (plain-text clients fail the handshake)."""
    interceptors = [BearerInterceptor(tokens, metrics)] if tokens is not None else []
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="otlp-grpc"),
                         interceptors=interceptors, maximum_concurrent_rpcs=workers * 16,
                         options=[("grpc.max_receive_message_length", max_message_bytes)])
    servicer = TraceServicer(ingest, metrics, all_attributes)
    handler = grpc.method_handlers_generic_handler(SERVICE, {"Export": grpc.unary_unary_rpc_method_handler(
        servicer.Export, request_deserializer=bytes,
        response_serializer=ExportTraceServiceResponse.SerializeToString)})
    server.add_generic_rpc_handlers((handler,))
    addr = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if tls is not None:
        bound = server.add_secure_port(addr, grpc.ssl_server_credentials([tls.pem_pair()]))
    else:
        bound = server.add_insecure_port(addr)
    if not bound:
        raise BackendUnavailable("otlp grpc", f"cannot listen on {addr}")
    server.start()
    server.port = bound
    return server
