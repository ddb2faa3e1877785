"""OTLP protobuf (``ExportTraceServiceRequest``) -> span summaries: the hot path of TraceCore.

Only the attributes named in :mod:`.semconv` are read as values; every other key is looked at once
and skipped, because a Python attribute lookup per value is what dominates the cost. Spans whose
trace or span id has the wrong length are rejected one by one (OTLP partial success), never the
whole request.

    result = decode_request(body)          # bytes of application/x-protobuf
    result.spans, result.rejected, result.error_message
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from airdig.errors import InvalidInput
from airdig.tracecore import native
from airdig.tracecore.semconv import RESOURCE_KEYS, SPAN_KEYS
from airdig.tracecore.spans import Resource, SpanSummary


@dataclass
class DecodeResult:
    spans: list[SpanSummary] = field(default_factory=list)
    rejected: int = 0
    error_message: str = ""

    def reject(self, count: int, reason: str) -> None:
        self.rejected += count
        if not self.error_message:
            self.error_message = reason


def any_value(v: Any) -> Any:
    """An OTLP ``AnyValue`` as a plain Python value (arrays and maps flattened to lists/dicts)."""
    which = v.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in v.kvlist_value.values}
    if which == "bytes_value":
        return bytes(v.bytes_value).hex()
    return getattr(v, which)


def parse_request(body: bytes) -> Any:
    """Parse protobuf bytes; :class:`InvalidInput` names the failure (truncated, wrong type...)."""
    req = ExportTraceServiceRequest()
    try:
        req.ParseFromString(body)
    except DecodeError as exc:
        raise InvalidInput("otlp protobuf", f"cannot parse ExportTraceServiceRequest: {exc}") from None
    return req


def decode_request(body: bytes, all_attributes: bool = False) -> DecodeResult:
    """Decode with the active path (see :mod:`.native`): the compiled decoder when selected, else the
    reference. The compiled one answers None for bytes it finds malformed; the reference then parses
    them, so a bad request gets the reference's precise error and a good one is never lost."""
    dec = native.decoder()
    if dec is not None:
        out = dec.decode(body, all_attributes)
        if out is not None:
            return DecodeResult(out[0], out[1], out[2])
    return decode_message(parse_request(body), all_attributes)


def decode_request_python(body: bytes, all_attributes: bool = False) -> DecodeResult:
    """The pure-Python reference, whatever path is active (parity tests, the benchmark)."""
    return decode_message(parse_request(body), all_attributes)


def decode_resource(resource: Any) -> Resource:
    attrs: dict[str, str] = {}
    for kv in resource.attributes:
        if kv.key in RESOURCE_KEYS:
            val = any_value(kv.value)
            if val is not None:
                attrs[kv.key] = str(val)
    return Resource(attrs.pop("service.name", "") or "unknown_service", attrs.pop("service.namespace", ""), attrs)


def decode_message(req: Any, all_attributes: bool = False) -> DecodeResult:
    """Summaries of every well-formed span of a parsed request."""
    result = DecodeResult()
    out = result.spans
    keys = SPAN_KEYS
    for rs in req.resource_spans:
        res = decode_resource(rs.resource)
        for ss in rs.scope_spans:
            for sp in ss.spans:
                tid = sp.trace_id
                sid = sp.span_id
                if len(tid) != 16 or len(sid) != 8 or not any(tid) or not any(sid):
                    result.reject(1, f"span {sp.name!r}: trace_id must be 16 bytes and span_id 8 bytes, "
                                     f"non-zero (got {len(tid)} and {len(sid)})")
                    continue
                pid = sp.parent_span_id
                if pid and len(pid) != 8:
                    result.reject(1, f"span {sp.name!r}: parent_span_id must be 8 bytes (got {len(pid)})")
                    continue
                attrs: dict[str, Any] = {}
                if all_attributes:
                    allv = {kv.key: any_value(kv.value) for kv in sp.attributes}
                    prio: dict[str, int] = {}
                    for k, val in allv.items():
                        hit = keys.get(k)
                        if hit is not None and (hit[0] not in prio or hit[1] < prio[hit[0]]):
                            prio[hit[0]] = hit[1]
                            attrs[hit[0]] = val
                    for k, val in allv.items():
                        attrs.setdefault(k, val)
                else:
                    prio = {}
                    for kv in sp.attributes:
                        hit = keys.get(kv.key)
                        if hit is not None and (hit[0] not in prio or hit[1] < prio[hit[0]]):
                            prio[hit[0]] = hit[1]
                            attrs[hit[0]] = any_value(kv.value)
                links: tuple[tuple[str, str], ...] = ()
                if sp.links:
                    links = tuple((ln.trace_id.hex(), ln.span_id.hex()) for ln in sp.links
                                  if len(ln.trace_id) == 16 and len(ln.span_id) == 8)
                st = sp.status
                out.append(SpanSummary(tid.hex(), sid.hex(), pid.hex() if pid else "", sp.kind, sp.name,
                                       sp.start_time_unix_nano, sp.end_time_unix_nano, st.code, res, attrs,
                                       links, st.message))
    return result
