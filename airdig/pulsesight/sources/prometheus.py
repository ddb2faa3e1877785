"""PromQL over HTTP: Prometheus, or Mimir (base URL ending in ``/prometheus``, tenant in ``X-Scope-OrgID``).

get only — results are parsed into :class:`Sample` / :class:`RangeSeries` by pure functions tested on
literal API answers. Timeouts, refused connections, 5xx answers and ``status: error`` bodies all raise
:class:`BackendUnavailable` with the server's own error text, so the evaluator can log one clear line
and mark the rule's nodes unknown.

    prom = PrometheusSource("http://mimir:8080/prometheus", tenant="team-a")
    prom.instant('up{job="node"}', at=time.time(), window=300)
"""

from __future__ import annotations

import math
from typing import Any

import httpx
import orjson

from airdig.backends.http_auth import HttpAuth
from airdig.errors import BackendUnavailable, InvalidInput
from airdig.model.redact import redact_text, redact_url
from airdig.pulsesight.sources.base import RangeSeries, Sample


def _value(raw: Any, where: str) -> float:
    try:
        return float(raw)  # Prometheus sends numbers as strings, "NaN" and "+Inf" included
    except (TypeError, ValueError):
        raise InvalidInput(where, f"sample value {raw!r} is not a number") from None


def parse_instant(body: Any, where: str = "prometheus") -> list[Sample]:
    """``data`` of an instant query (vector or scalar) → samples; NaN samples are dropped."""
    data = _data(body, where)
    rtype, result = data.get("resultType"), data.get("result")
    if rtype == "scalar" and isinstance(result, list) and len(result) == 2:
        v = _value(result[1], where)
        return [] if math.isnan(v) else [Sample({}, v)]
    if rtype != "vector" or not isinstance(result, list):
        raise InvalidInput(where, f"expected a vector result, got resultType {rtype!r}")
    out = []
    for item in result:
        if not isinstance(item, dict) or not isinstance(item.get("value"), list) or len(item["value"]) != 2:
            raise InvalidInput(where, f"malformed vector sample {item!r}")
        v = _value(item["value"][1], where)
        if not math.isnan(v):
            out.append(Sample({str(k): str(x) for k, x in (item.get("metric") or {}).items()}, v))
    return out


def parse_matrix(body: Any, where: str = "prometheus") -> list[RangeSeries]:
    """``data`` of a range query (matrix; Loki's metric queries answer the same shape)."""
    data = _data(body, where)
    if data.get("resultType") != "matrix" or not isinstance(data.get("result"), list):
        raise InvalidInput(where, f"expected a matrix result, got resultType {data.get('resultType')!r}")
    out = []
    for item in data["result"]:
        if not isinstance(item, dict) or not isinstance(item.get("values"), list):
            raise InvalidInput(where, f"malformed matrix series {item!r}")
        labels = item.get("metric") or item.get("stream") or {}
        points = []
        for pair in item["values"]:
            if not isinstance(pair, list) or len(pair) != 2:
                raise InvalidInput(where, f"malformed point {pair!r}")
            v = _value(pair[1], where)
            if not math.isnan(v):
                points.append((float(pair[0]), v))
        out.append(RangeSeries({str(k): str(x) for k, x in labels.items()}, points))
    return out


def _data(body: Any, where: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidInput(where, "answer is not a JSON object")
    if body.get("status") != "success":
        raise InvalidInput(where, f"{body.get('errorType', 'error')}: {body.get('error', 'no error text')}")
    data = body.get("data")
    if not isinstance(data, dict):
        raise InvalidInput(where, "answer has no 'data' object")
    return data


class HttpQueryClient:
    """GET with tenant header and error mapping shared by the Prometheus and Loki sources."""

    def __init__(self, backend: str, base_url: str, tenant: str | None, timeout: float,
                 transport: httpx.BaseTransport | None = None, headers: dict[str, str] | None = None,
                 auth: HttpAuth | None = None) -> None:
        self.backend = backend
        self.base_url = base_url.rstrip("/")
        auth = auth or HttpAuth()
        hdrs = {**dict(headers or {}), **auth.headers()}
        if tenant:
            hdrs["X-Scope-OrgID"] = tenant
        # credentials in the URL's user part become basic auth (httpx) and must not show in errors
        self.where = redact_url(self.base_url)
        self._client = httpx.Client(base_url=self.base_url, headers=hdrs, timeout=timeout, transport=transport,
                                    verify=auth.verify())

    def get_json(self, path: str, params: dict[str, Any]) -> Any:
        try:
            resp = self._client.get(path, params=params)
        except httpx.TimeoutException as exc:
            raise BackendUnavailable(self.backend, f"{self.where}{path}: timed out ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise BackendUnavailable(self.backend, f"{self.where}{path}: {redact_text(str(exc))}") from None
        try:
            body = orjson.loads(resp.content)
        except orjson.JSONDecodeError:
            body = None
        if resp.status_code >= 400:
            detail = body.get("error") if isinstance(body, dict) else " ".join(resp.text[:200].split())
            raise BackendUnavailable(self.backend, f"{self.where}{path}: HTTP {resp.status_code}: {detail}")
        if body is None:
            raise BackendUnavailable(self.backend, f"{self.where}{path}: answer is not JSON")
        return body

    def close(self) -> None:
        self._client.close()


class PrometheusSource:
    """``/api/v1/query`` and ``/api/v1/query_range`` of Prometheus or Mimir."""

    name = "prometheus"

    def __init__(self, base_url: str, tenant: str | None = None, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None, auth: HttpAuth | None = None) -> None:
        self.http = HttpQueryClient("prometheus", base_url, tenant, timeout, transport, auth=auth)

    def instant(self, query: str, at: float, window: float = 0.0) -> list[Sample]:
        body = self.http.get_json("/api/v1/query", {"query": query, "time": f"{at:.3f}"})
        try:
            return parse_instant(body, f"prometheus query {query!r}")
        except InvalidInput as exc:
            raise BackendUnavailable("prometheus", str(exc)) from exc

    def range(self, query: str, start: float, end: float, step: float) -> list[RangeSeries]:
        body = self.http.get_json("/api/v1/query_range", {"query": query, "start": f"{start:.3f}",
                                                           "end": f"{end:.3f}", "step": f"{step:g}"})
        try:
            return parse_matrix(body, f"prometheus query_range {query!r}")
        except InvalidInput as exc:
            raise BackendUnavailable("prometheus", str(exc)) from exc

    def ping(self) -> None:
        self.http.get_json("/api/v1/query", {"query": "1"})

    def close(self) -> None:
        self.http.close()
