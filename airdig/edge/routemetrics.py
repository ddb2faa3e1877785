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
        # hot paths skip the re-matching: a path whose template is itself (a route without parameters,
        # e.g. /graphql) is remembered, and so is each (template, status) child counter. Both are bounded
        # by the app's routes and the HTTP status codes: a junk path never becomes a key.
        self._static: dict[str, str] = {}  # route_template ignores the method (a partial match counts)
        self._children: dict[tuple[str, str], Any] = {}

    def _count(self, scope: Scope, code: int) -> None:
        path = str(scope.get("path", ""))
        template = self._static.get(path)
        if template is None:
            template = route_template(self.routes, scope)
            if template == path:
                self._static[path] = template
        child = self._children.get((template, str(code)))
        if child is None:
            child = self._children[(template, str(code))] = self.counter.labels(template, str(code))
        child.inc()

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
            self._count(scope, status["code"])
