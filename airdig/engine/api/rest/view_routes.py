"""REST mirror of the estate-scale views (docs/ui-api.md §5): summarised neighbourhood, graph diff,
health as of a time. Plain ``def`` handlers: they run in worker threads, off the event loop."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from airdig.engine.api.rest.routes import _int, _svc, json
from airdig.engine.api.views import check_first, node_view, ts
from airdig.engine.intel import asof, diff, neighborhood
from airdig.errors import InvalidInput, NotFound
from airdig.model.events import parse_time


def time_param(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    return parse_time(raw, name) if raw else None


def list_param(request: Request, name: str) -> list[str]:
    """``name=a,b`` and ``name=a&name=b`` alike (group ids contain ':' but never ',')."""
    return [v for raw in request.query_params.getlist(name) for v in raw.split(",") if v]


def node_at_view(n: asof.NodeAt) -> dict[str, Any]:
    """A resource as :func:`node_view` shows it, plus ``asOf``/``asOfExact``/``asOfGaps`` for a past time."""
    out = node_view(n.node)
    if n.at is not None:
        out.update({"asOf": ts(n.at), "asOfExact": n.exact, "asOfGaps": list(n.gaps)})
    return out


def group_view(g: neighborhood.Group, members: int = 100) -> dict[str, Any]:
    return {"id": g.id, "label": g.label, "kind": g.kind, "by": g.by, "value": g.value, "valueName": g.value_name,
            "count": len(g.members), "worstHealth": g.worst_health, "health": g.health, "drifted": g.drifted,
            "memberIds": g.members[:members]}


def links_view(rows: list[tuple[str, str, str, int]]) -> list[dict[str, Any]]:
    return [{"src": s, "dst": d, "type": t, "count": c} for s, d, t, c in rows]


def get_neighborhood(request: Request) -> Response:
    budget = _int(request, "budget", None)
    s = neighborhood.neighborhood(
        _svc(request).store, request.path_params["id"], _int(request, "depth", 1) or 1,
        neighborhood.DEFAULT_BUDGET if budget is None else budget,
        list_param(request, "group_by") or None, list_param(request, "expand"), list_param(request, "edge_types") or None,
        time_param(request, "at"))
    wanted = request.query_params.get("group")
    if wanted:  # one page of a group's members
        g = next((g for g in s.groups if g.id == wanted), None)
        if g is None:
            raise NotFound("group", wanted)
        first = check_first(_int(request, "first", 100))
        page = neighborhood.group_members(g.members, first, request.query_params.get("after") or None)
        more = bool(page) and page[-1] != g.members[-1]
        return json({"group": g.id, "memberIds": page, "endCursor": page[-1] if page and more else None})
    nodes = [node_at_view(n) for n in s.nodes]
    return json({"center": nodes[0] if nodes else None, "nodes": nodes, "groups": [group_view(g) for g in s.groups],
                 "edges": links_view(s.links), "total": s.total, "truncated": s.truncated, "at": ts(s.at),
                 "asOfExact": s.exact})


def get_diff(request: Request) -> Response:
    lo, hi = time_param(request, "from"), time_param(request, "to")
    if lo is None or hi is None:
        raise InvalidInput("from" if lo is None else "to", "from and to (RFC 3339 times) are required")
    d = diff.graph_diff(_svc(request).store, lo, hi, request.query_params.get("scope") or None,
                        _int(request, "depth", 2) or 2, check_first(_int(request, "first", 100)))
    return json(diff_view(d))


def diff_view(d: diff.GraphDiff) -> dict[str, Any]:
    from airdig.engine.api.views import change_view

    def status(x: tuple[str, str] | None) -> dict[str, str] | None:
        return {"before": x[0], "after": x[1]} if x else None

    return {
        "from": ts(d.lo), "to": ts(d.hi), "appeared": [node_at_view(n) for n in d.appeared],
        "vanished": [node_at_view(n) for n in d.vanished],
        "changed": [{"resource": node_at_view(c.node), "exact": c.exact,
                     "attributes": [{"name": a.name, "before": a.before, "after": a.after} for a in c.attributes],
                     "health": status(c.health), "drift": status(c.drift), "who": c.who,
                     "when": ts(c.newest.time) if c.newest else ts(d.hi), "source": c.newest.source if c.newest else "",
                     "changes": [change_view(x) for x in c.changes]} for c in d.changed],
        "appearedEdges": links_view([(e.src, e.dst, e.type, 1) for e in d.appeared_edges]),
        "vanishedEdges": links_view([(e.src, e.dst, e.type, 1) for e in d.vanished_edges]),
        "counts": d.counts, "truncated": d.truncated}


def health_at(request: Request) -> Response:
    at = time_param(request, "at")
    if at is None:
        raise InvalidInput("at", "an RFC 3339 time is required")
    statuses = list_param(request, "status") or ["critical", "warning"]
    counts, items = asof.health_summary(_svc(request).store, at, statuses, check_first(_int(request, "first", 50)))
    return json({"at": ts(at), "counts": counts, "items": [node_at_view(n) for n in items]})


def view_routes() -> list[Route]:
    return [
        Route("/api/v1/neighborhood/{id:path}", get_neighborhood, methods=["GET"]),
        Route("/api/v1/diff", get_diff, methods=["GET"]),
        Route("/api/v1/health-at", health_at, methods=["GET"]),
    ]
