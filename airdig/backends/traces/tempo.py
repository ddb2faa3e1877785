"""Tempo trace backend: spans out over OTLP/HTTP, queries through Tempo's HTTP API.

``tempo://host:3200?otlp=http://host:4318&tls=false``: the query API on ``host:3200`` (``https`` with
``tls=true``), OTLP ingest on ``otlp`` (default: the same host, port 4318). Every request carries
``X-Scope-OrgID`` when a tenant is set, and the credentials and CA of ``traces_auth`` / ``http_ca_file``.

* ``GET /api/traces/<id>`` answers OTLP JSON (``batches`` or ``resourceSpans``, also under ``trace``)
  or protobuf (``tempopb.Trace``, wire-compatible with ``TracesData``);
* ``GET /api/search`` answers ``{"traces": [{"traceID", "rootServiceName", "rootTraceName",
  "startTimeUnixNano", "durationMs"}]}``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from airdig.backends.http_auth import HttpAuth
from airdig.errors import BackendUnavailable, ConfigError, InvalidInput, NotFound
from airdig.model.redact import redact_text

_KINDS = {"unspecified": 0, "internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}
_STATUS = {"unset": 0, "ok": 1, "error": 2}


def _any(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [_any(v) for v in value]}}
    return {"stringValue": str(value)}


def to_otlp_json(spans: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Store-shaped span dicts back to an OTLP/JSON ``ExportTraceServiceRequest``."""
    by_resource: dict[bytes, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
    for s in spans:
        res = s.get("resource") or {"service.name": s.get("service", "")}
        key = orjson.dumps(res, option=orjson.OPT_SORT_KEYS)
        slot = by_resource.setdefault(key, (res, []))
        span: dict[str, Any] = {
            "traceId": s["trace_id"], "spanId": s["span_id"], "name": s.get("name", ""),
            "kind": _KINDS.get(str(s.get("kind")), 0), "startTimeUnixNano": str(s["start_unix_nano"]),
            "endTimeUnixNano": str(s["end_unix_nano"]),
            "attributes": [{"key": k, "value": _any(v)} for k, v in (s.get("attributes") or {}).items()
                           if v is not None],
            "status": {"code": _STATUS.get(str(s.get("status")), 0), "message": s.get("status_message", "")},
            "links": [{"traceId": ln["trace_id"], "spanId": ln["span_id"]} for ln in s.get("links") or []],
        }
        if s.get("parent_span_id"):
            span["parentSpanId"] = s["parent_span_id"]
        slot[1].append(span)
    return {"resourceSpans": [
        {"resource": {"attributes": [{"key": k, "value": _any(v)} for k, v in res.items()]},
         "scopeSpans": [{"scope": {"name": "airdig.tracecore"}, "spans": group}]}
        for res, group in by_resource.values()]}


class TempoTraceStore:
    def __init__(self, url: str, tenant: str | None = None, timeout: float = 10.0, auth: HttpAuth | None = None,
                 **_: Any) -> None:
        parts = urlsplit(url)
        if parts.scheme != "tempo" or not parts.hostname:
            raise ConfigError("AIRDIG_TRACES_URL", f"expected tempo://host:3200[?otlp=URL], got {url!r}")
        q = parse_qs(parts.query)
        scheme = "https" if q.get("tls", ["false"])[0].lower() in ("1", "true", "yes") else "http"
        self.url = url
        self.base = f"{scheme}://{parts.netloc}"
        self.otlp = q.get("otlp", [f"{scheme}://{parts.hostname}:4318"])[0].rstrip("/") + "/v1/traces"
        auth = auth or HttpAuth()
        headers = auth.headers()
        if tenant:
            headers["X-Scope-OrgID"] = tenant
        self._http = httpx.Client(timeout=timeout, headers=headers, verify=auth.verify())

    def _get(self, path: str, params: dict[str, Any] | None = None, accept: str = "application/json"
             ) -> httpx.Response:
        try:
            return self._http.get(self.base + path, params=params, headers={"Accept": accept})
        except httpx.HTTPError as exc:
            raise BackendUnavailable("tempo", f"GET {path}: {redact_text(str(exc))}") from None

    def put_spans(self, spans: Sequence[dict[str, Any]]) -> None:
        if not spans:
            return
        try:
            r = self._http.post(self.otlp, content=orjson.dumps(to_otlp_json(spans)),
                                headers={"Content-Type": "application/json"})
        except httpx.HTTPError as exc:
            raise BackendUnavailable("tempo", f"OTLP export: {redact_text(str(exc))}") from None
        if r.status_code >= 300:
            raise BackendUnavailable("tempo", f"OTLP export answered {r.status_code}: {r.text[:200]}")

    def get_trace(self, trace_id: str) -> list[dict[str, Any]]:
        from airdig.tracecore.decode import decode_message
        from airdig.tracecore.otlp_json import decode_json

        r = self._get(f"/api/traces/{trace_id}")
        if r.status_code == 404:
            raise NotFound("trace", trace_id)
        if r.status_code != 200:
            raise BackendUnavailable("tempo", f"/api/traces answered {r.status_code}: {r.text[:200]}")
        ctype = r.headers.get("content-type", "")
        if "protobuf" in ctype:
            msg = TracesData()
            try:
                msg.ParseFromString(r.content)
            except Exception as exc:
                raise InvalidInput("tempo", f"trace {trace_id}: bad protobuf: {exc}") from None
            result = decode_message(msg, all_attributes=True)
        else:
            try:
                doc = orjson.loads(r.content)
            except orjson.JSONDecodeError as exc:
                raise InvalidInput("tempo", f"trace {trace_id}: not JSON: {exc}") from None
            if isinstance(doc, dict) and isinstance(doc.get("trace"), dict):
                doc = doc["trace"]
            if not isinstance(doc, dict):
                raise InvalidInput("tempo", f"trace {trace_id}: expected a JSON object")
            batches = doc.get("batches") if "batches" in doc else doc.get("resourceSpans", [])
            result = decode_json(orjson.dumps({"resourceSpans": batches}), all_attributes=True)
        spans = sorted((s.to_store() for s in result.spans), key=lambda d: d["start_unix_nano"])
        if not spans:
            raise NotFound("trace", trace_id)
        return spans

    def search(self, **criteria: Any) -> Iterator[dict[str, Any]]:
        tags = []
        if criteria.get("service"):
            tags.append(f'service.name="{criteria["service"]}"')
        if criteria.get("operation"):
            tags.append(f'name="{criteria["operation"]}"')
        if criteria.get("error"):
            tags.append("status=error")
        params: dict[str, Any] = {"limit": int(criteria.get("limit") or 20)}
        if tags:
            params["tags"] = " ".join(tags)
        if criteria.get("min_duration_ms") is not None:
            params["minDuration"] = f"{int(float(criteria['min_duration_ms']))}ms"
        if criteria.get("start") is not None:
            params["start"] = int(float(criteria["start"]))
        if criteria.get("end") is not None:
            params["end"] = int(float(criteria["end"]))
        r = self._get("/api/search", params)
        if r.status_code != 200:
            raise BackendUnavailable("tempo", f"/api/search answered {r.status_code}: {r.text[:200]}")
        try:
            traces = orjson.loads(r.content).get("traces") or []
        except (orjson.JSONDecodeError, AttributeError) as exc:
            raise InvalidInput("tempo", f"/api/search: unexpected answer: {exc}") from None
        for t in traces:
            yield {"trace_id": t.get("traceID", ""), "root_service": t.get("rootServiceName", ""),
                   "root_name": t.get("rootTraceName", ""), "start_unix_nano": int(t.get("startTimeUnixNano") or 0),
                   "duration_ms": float(t.get("durationMs") or 0)}

    def ping(self) -> None:
        r = self._get("/ready", accept="text/plain")
        if r.status_code != 200:
            raise BackendUnavailable("tempo", f"/ready answered {r.status_code}")

    def close(self) -> None:
        self._http.close()
