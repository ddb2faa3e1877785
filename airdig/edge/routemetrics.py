"""Request counts labelled by route template (``/api/v1/resources/{id}``), never by the raw path.

The label is found after the request ran, by matching the app's own routes, so every response is
counted — 401, 403 and 413 included — and any path no route knows shares the one label
``unmatched``: a flood of junk paths adds no series.

    app = RouteMetrics(app, routes=starlette_app.routes, counter=counter)  # counter labels: route, status
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute, Match, Mount

from airdig.edge.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED = "unmatched"


def route_template(routes: Sequence[BaseRoute], scope: Scope) -> str:
    probe = {**scope, "method": scope.get("method", "GET"), "path_params": {}}
    probe.pop("route_root_path", None)
    for route in routes:
        match, _ = route.matches(probe)
        if match != Match.NONE:
            if isinstance(route, Mount):
                return route.path + "/{path}"
            return str(getattr(route, "path", UNMATCHED))
    return UNMATCHED


class RouteMetrics:
    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute], counter: Any) -> None:
        self.app = app
        self.routes = routes
        self.counter = counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 500}

        async def record(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            self.counter.labels(route_template(self.routes, scope), str(status["code"])).inc()
