"""OTLP/JSON -> span summaries, following the OTLP spec's JSON mapping rather than plain proto3 JSON.

The spec's differences that break generic parsers: trace and span ids are **hex** (not base64), enum
values are **integers**, 64-bit integers may arrive as **strings**, keys are lowerCamelCase, and
unknown fields must be ignored. We also accept snake_case keys and enum names, as the protobuf JSON
parsers of several SDKs emit them.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from airdig.errors import InvalidInput
from airdig.tracecore.decode import DecodeResult
from airdig.tracecore.semconv import RESOURCE_KEYS, SPAN_KEYS
from airdig.tracecore.spans import Resource, SpanSummary

_KINDS = {"SPAN_KIND_UNSPECIFIED": 0, "SPAN_KIND_INTERNAL": 1, "SPAN_KIND_SERVER": 2, "SPAN_KIND_CLIENT": 3,
          "SPAN_KIND_PRODUCER": 4, "SPAN_KIND_CONSUMER": 5}
_CODES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
_HEX = frozenset("0123456789abcdefABCDEF")


def _get(d: dict[str, Any], camel: str, snake: str) -> Any:
    v = d.get(camel)
    return d.get(snake) if v is None else v


def _list(d: dict[str, Any], camel: str, snake: str, where: str) -> list[Any]:
    v = _get(d, camel, snake)
    if v is None:
        return []
    if not isinstance(v, list):
        raise InvalidInput("otlp json", f"{where}.{camel} must be an array, got {type(v).__name__}")
    return v


def _int(v: Any, where: str) -> int:
    if isinstance(v, bool):
        raise InvalidInput("otlp json", f"{where} must be an integer, got a boolean")
    if isinstance(v, int):
        return v
    if isinstance(v, str):
        try:
            return int(v)
        except ValueError:
            pass
    if isinstance(v, float) and v.is_integer():
        return int(v)
    raise InvalidInput("otlp json", f"{where} must be an integer (number or decimal string), got {v!r}")


def _enum(v: Any, names: dict[str, int], where: str) -> int:
    if isinstance(v, str) and v in names:
        return names[v]
    return _int(v, where) if v is not None else 0


def _hex_id(v: Any, size: int) -> str | None:
    """Lower-case hex of an id of ``size`` bytes, or None if it is not one.

    Hex is the spec; base64 (proto3's generic JSON mapping, which some exporters and Tempo's
    ``/api/traces`` JSON use) is accepted too: the two cannot be confused, their lengths differ."""
    if not isinstance(v, str):
        return None
    if len(v) == size * 2 and _HEX.issuperset(v):
        return v.lower()
    if len(v) == 4 * ((size + 2) // 3):
        try:
            raw = base64.b64decode(v, validate=True)
        except (binascii.Error, ValueError):
            return None
        if len(raw) == size:
            return raw.hex()
    return None


def any_value(v: Any) -> Any:
    if not isinstance(v, dict):
        return None
    if "stringValue" in v or "string_value" in v:
        return _get(v, "stringValue", "string_value")
    if "intValue" in v or "int_value" in v:
        raw = _get(v, "intValue", "int_value")
        try:
            return int(raw)
        except (TypeError, ValueError):
            return None
    if "boolValue" in v or "bool_value" in v:
        return bool(_get(v, "boolValue", "bool_value"))
    if "doubleValue" in v or "double_value" in v:
        raw = _get(v, "doubleValue", "double_value")
        try:
            return float(raw)
        except (TypeError, ValueError):
            return None
    arr = _get(v, "arrayValue", "array_value")
    if isinstance(arr, dict):
        return [any_value(x) for x in arr.get("values") or []]
    kvl = _get(v, "kvlistValue", "kvlist_value")
    if isinstance(kvl, dict):
        return {kv.get("key"): any_value(kv.get("value")) for kv in kvl.get("values") or []
                if isinstance(kv, dict)}
    return _get(v, "bytesValue", "bytes_value")


def decode_json(body: bytes, all_attributes: bool = False) -> DecodeResult:
    """Parse an OTLP/JSON ``ExportTraceServiceRequest``; :class:`InvalidInput` says what is wrong."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput("otlp json", f"body is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidInput("otlp json", "body must be a JSON object (ExportTraceServiceRequest)")
    result = DecodeResult()
    for i, rs in enumerate(_list(doc, "resourceSpans", "resource_spans", "request")):
        where = f"resourceSpans[{i}]"
        if not isinstance(rs, dict):
            raise InvalidInput("otlp json", f"{where} must be an object")
        resource = rs.get("resource") or {}
        rattrs: dict[str, str] = {}
        for kv in _list(resource, "attributes", "attributes", f"{where}.resource"):
            if isinstance(kv, dict) and kv.get("key") in RESOURCE_KEYS:
                val = any_value(kv.get("value"))
                if val is not None:
                    rattrs[kv["key"]] = str(val)
        res = Resource(rattrs.pop("service.name", "") or "unknown_service", rattrs.pop("service.namespace", ""),
                       rattrs)
        for j, ss in enumerate(_list(rs, "scopeSpans", "scope_spans", where)):
            if not isinstance(ss, dict):
                raise InvalidInput("otlp json", f"{where}.scopeSpans[{j}] must be an object")
            for k, sp in enumerate(_list(ss, "spans", "spans", f"{where}.scopeSpans[{j}]")):
                swhere = f"{where}.scopeSpans[{j}].spans[{k}]"
                if not isinstance(sp, dict):
                    raise InvalidInput("otlp json", f"{swhere} must be an object")
                summary = _span(sp, res, swhere, result, all_attributes)
                if summary is not None:
                    result.spans.append(summary)
    return result


def _span(sp: dict[str, Any], res: Resource, where: str, result: DecodeResult,
          all_attributes: bool) -> SpanSummary | None:
    tid = _hex_id(_get(sp, "traceId", "trace_id"), 16)
    sid = _hex_id(_get(sp, "spanId", "span_id"), 8)
    if tid is None or sid is None or tid == "0" * 32 or sid == "0" * 16:
        result.reject(1, f"{where}: traceId must be 32 and spanId 16 hex characters, non-zero")
        return None
    raw_pid = _get(sp, "parentSpanId", "parent_span_id") or ""
    pid = _hex_id(raw_pid, 8) if raw_pid else ""
    if pid is None:
        result.reject(1, f"{where}: parentSpanId must be 16 hex characters or empty")
        return None
    attrs: dict[str, Any] = {}
    prio: dict[str, int] = {}
    rest: dict[str, Any] = {}
    for kv in _list(sp, "attributes", "attributes", where):
        if not isinstance(kv, dict):
            continue
        key = kv.get("key")
        hit = SPAN_KEYS.get(key) if isinstance(key, str) else None
        if hit is not None and (hit[0] not in prio or hit[1] < prio[hit[0]]):
            prio[hit[0]] = hit[1]
            attrs[hit[0]] = any_value(kv.get("value"))
        elif all_attributes and isinstance(key, str):
            rest[key] = any_value(kv.get("value"))
    for key, val in rest.items():
        attrs.setdefault(key, val)
    links = []
    for ln in _list(sp, "links", "links", where):
        if isinstance(ln, dict):
            lt = _hex_id(_get(ln, "traceId", "trace_id"), 16)
            ls = _hex_id(_get(ln, "spanId", "span_id"), 8)
            if lt and ls:
                links.append((lt, ls))
    status = sp.get("status") or {}
    if not isinstance(status, dict):
        status = {}
    return SpanSummary(
        tid, sid, pid, _enum(sp.get("kind"), _KINDS, f"{where}.kind"), str(sp.get("name") or ""),
        _int(_get(sp, "startTimeUnixNano", "start_time_unix_nano") or 0, f"{where}.startTimeUnixNano"),
        _int(_get(sp, "endTimeUnixNano", "end_time_unix_nano") or 0, f"{where}.endTimeUnixNano"),
        _enum(status.get("code"), _CODES, f"{where}.status.code"), res, attrs, tuple(links),
        str(status.get("message") or ""))
