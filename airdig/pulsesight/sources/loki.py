"""LogQL metric queries over Loki's ``/loki/api/v1/query_range`` (tenant in ``X-Scope-OrgID``).

Error-log rates per stream are metric queries such as
``sum by (namespace, pod) (count_over_time({namespace="shop"} |= "error" [5m]))``; Loki answers them
with a Prometheus-shaped matrix (``data.resultType == "matrix"``). An instant value is the last point
of a range over the rule's window, so one documented endpoint serves both uses.

    loki = LokiSource("http://loki:3100", tenant="team-a")
"""

from __future__ import annotations

import httpx

from airdig.backends.http_auth import HttpAuth
from airdig.errors import BackendUnavailable, InvalidInput
from airdig.pulsesight.sources.base import RangeSeries, Sample
from airdig.pulsesight.sources.prometheus import HttpQueryClient, parse_matrix

_NS = 1_000_000_000


class LokiSource:
    name = "loki"

    def __init__(self, base_url: str, tenant: str | None = None, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None, auth: HttpAuth | None = None) -> None:
        self.http = HttpQueryClient("loki", base_url, tenant, timeout, transport, auth=auth)

    def range(self, query: str, start: float, end: float, step: float) -> list[RangeSeries]:
        body = self.http.get_json("/loki/api/v1/query_range", {
            "query": query, "start": str(int(start * _NS)), "end": str(int(end * _NS)),
            "step": f"{max(step, 1):g}s", "direction": "forward", "limit": "5000"})
        if isinstance(body, dict) and isinstance(body.get("data"), dict) \
                and body["data"].get("resultType") == "streams":
            raise BackendUnavailable("loki", f"query {query!r} returned log lines, not a metric; wrap it in "
                                             "count_over_time(...) or rate(...)")
        try:
            return parse_matrix(body, f"loki query_range {query!r}")
        except InvalidInput as exc:
            raise BackendUnavailable("loki", str(exc)) from exc

    def instant(self, query: str, at: float, window: float) -> list[Sample]:
        step = max(window / 5, 1.0)
        out = []
        for series in self.range(query, at - window, at, step):
            if series.points:
                out.append(Sample(series.labels, series.points[-1][1]))
        return out

    def ping(self) -> None:
        self.http.get_json("/loki/api/v1/labels", {})

    def close(self) -> None:
        self.http.close()
