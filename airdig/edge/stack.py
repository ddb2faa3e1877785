"""The edge as Starlette middleware, outermost first: route metrics (so refusals are counted too),
Host/Origin guard, body limit, token gate.

    app = Starlette(routes=routes, middleware=edge_middleware(policy, routes=routes,
                    counter=metrics.http_requests, verify=auth.aprincipal))
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from airdig.edge.auth import PROBES, AuthGate, Verify
from airdig.edge.limits import BodyLimit
from airdig.edge.origin import HostOriginGuard
from airdig.edge.policy import EdgePolicy
from airdig.edge.routemetrics import RouteMetrics


def edge_middleware(policy: EdgePolicy, *, routes: Sequence[BaseRoute], counter: Any | None = None,
                    verify: Verify | None = None, open_paths: Iterable[str] = PROBES,
                    open_prefixes: tuple[str, ...] = (), body_limit: bool = True,
                    alt_header: bytes | None = None, write_paths: Iterable[str] = ()) -> list[Middleware]:
    """``body_limit=False`` for an app that streams its own limit with a protocol-specific answer
    (TraceCore's OTLP receiver, whose 413 carries a ``google.rpc.Status``); ``write_paths``: the routes
    that take data in, which need the editor role (:class:`airdig.edge.auth.AuthGate`)."""
    stack: list[Middleware] = []
    if counter is not None:
        stack.append(Middleware(RouteMetrics, routes=routes, counter=counter))
    stack.append(Middleware(HostOriginGuard, policy=policy))
    if body_limit:
        stack.append(Middleware(BodyLimit, max_bytes=policy.max_body_bytes))
    if verify is not None:
        stack.append(Middleware(AuthGate, verify=verify, open_paths=frozenset(open_paths),
                                open_prefixes=open_prefixes, alt_header=alt_header,
                                write_paths=frozenset(write_paths)))
    return stack
