"""REST mirror of the intelligence reads (impact, neighbors, timeline, root cause, drift, service map).

Plain ``def`` handlers: they run in worker threads, off the event loop (a root cause may take seconds)."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from airdig.engine.api.rest.routes import _int, _svc, json
from airdig.engine.api.rest.view_routes import group_view, list_param, node_at_view
from airdig.engine.api.views import change_view, check_first, drift_view, ts
from airdig.engine.intel import asof, neighborhood, reads, writers
from airdig.engine.intel.workers import run_root_cause
from airdig.errors import InvalidInput, NotFound
from airdig.model.events import parse_time


def _time(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    return parse_time(raw, name) if raw else None


def impact(request: Request) -> Response:
    with_resources = request.query_params.get("resources", "true") not in ("0", "false")
    res = reads.impact(_svc(request).store, request.path_params["id"], _int(request, "hops", 3) or 3, with_resources,
                       _time(request, "at"))
    return json({"root": res.root, "truncated": res.truncated, "nodes": [
        {"id": i, "distance": d, "path": p, "resource": node_at_view(res.nodes[i]) if i in res.nodes else None}
        for i, d, p in res.reached]})


def neighbors(request: Request) -> Response:
    types = [t for t in request.query_params.get("edge_types", "").split(",") if t] or None
    at = _time(request, "at")
    hood = reads.neighbors(_svc(request).store, request.path_params["id"], _int(request, "depth", 1) or 1, types,
                           check_first(_int(request, "first", 100)), at)
    stale_before = (at or time.time()) - reads.STALE_AFTER
    return json({"nodes": [node_at_view(n) for n in hood.nodes], "truncated": hood.truncated, "edges": [
        {"src": e.src, "dst": e.dst, "type": e.type, "lastSeen": ts(e.last_seen), "stale": e.last_seen < stale_before}
        for e in hood.edges]})


def timeline(request: Request) -> Response:
    rows = reads.timeline(_svc(request).store, request.query_params.get("id") or None, _time(request, "since"),
                          _time(request, "until"), check_first(_int(request, "first", 50)), _int(request, "hops", 0) or 0)
    store = _svc(request).store
    found = writers.for_changes(store, rows)  # one read for the page: who set each changed attribute
    return json({"items": [change_view(c, found.get(c.id, [])) for c in rows]})


async def root_cause(request: Request) -> Response:
    """Async: the walk runs in an intel worker process (or a worker thread), see
    :mod:`airdig.engine.intel.workers`."""
    svc = _svc(request)
    minutes = _int(request, "window_minutes", 30) or 30
    if not 1 <= minutes <= 1440:
        raise InvalidInput("window_minutes", f"must be between 1 and 1440, got {minutes}")
    at = _time(request, "at") or time.time()
    res = await run_root_cause(svc.intel_pool, svc.store, request.path_params["id"], at, minutes * 60.0,
                               with_writers=False, with_nodes=False)
    symptom, dg = res.symptom, res.diagnosis
    onset = dg.onset
    return json({"symptom": symptom, "at": ts(at), "summary": dg.symptom_summary, "candidates": [
        {"score": c.score, "distance": c.distance, "path": c.path, "evidence": c.evidence,
         "change": change_view(c.change), "beforeAfter": c.before_after,
         "changeTime": {"earliest": ts(c.change_time.earliest), "latest": ts(c.change_time.latest),
                        "basis": c.change_time.basis},
         "afterOnset": c.after_onset, "deciding": c.deciding, "factors": c.factors} for c in dg.candidates],
        "impact": [{"id": i, "distance": d, "path": p} for i, d, p in dg.impact],
        "onset": {"time": ts(onset.time), "source": onset.source, "detail": onset.detail} if onset else None,
        "verdict": dg.verdict, "margin": dg.margin,
        "setAside": [{"change": change_view(ch), "reason": why} for ch, why in dg.set_aside[:100]]})


def drift_events(request: Request) -> Response:
    q = request.query_params
    first = check_first(_int(request, "first", 50))
    args = {"resource_id": q.get("resource_id"), "status": q.get("status"), "severity": q.get("severity"),
            "kind": q.get("kind")}
    store = _svc(request).store
    at = _time(request, "at")
    if at is not None:  # status as it was then
        page, more, total = asof.drift_events_at(store, at, args["resource_id"], args["status"], args["severity"],
                                                 args["kind"], first, reads.decode_drift_cursor(q.get("after")))
        return json({"items": [drift_view(d) for d in page], "totalCount": total, "at": ts(at),
                     "pageInfo": {"hasNextPage": more, "endCursor": reads.encode_drift_cursor(page[-1]) if page else None}})
    rows = store.drift_events(**args, first=first + 1, after=reads.decode_drift_cursor(q.get("after")))
    page = rows[:first]
    return json({"items": [drift_view(d) for d in page], "totalCount": store.count_drift_events(**args),
                 "pageInfo": {"hasNextPage": len(rows) > first,
                              "endCursor": reads.encode_drift_cursor(page[-1]) if page else None}})


def service_map(request: Request) -> Response:
    at = _time(request, "at")
    if at is not None and request.query_params.get("until"):
        raise InvalidInput("at", "give either at or until (at is the end of the window)")
    until = at or _time(request, "until") or time.time()
    since = _time(request, "since") or until - 900
    if since >= until:
        raise InvalidInput("since", "must be before until")
    budget = _int(request, "budget", None)
    gm, _ = neighborhood.service_map(_svc(request).store, since, until, budget, list_param(request, "expand"))
    out: dict[str, Any] = {"since": ts(since), "until": ts(until), "nodes": gm.nodes, "edges": [
        {"src": e.src, "dst": e.dst, "requestCount": e.request_count, "errorCount": e.error_count,
         "errorRate": round(e.error_rate, 4), "p50": e.p50, "p95": e.p95, "p99": e.p99} for e in gm.edges]}
    if budget is not None:
        out.update({"groups": [group_view(g) for g in gm.groups], "grouped": gm.grouped})
    return json(out)


def coverage(request: Request) -> Response:
    return json(_svc(request).store.coverage())


def drift_coverage(request: Request) -> Response:
    cov = reads.drift_coverage(_svc(request).store)
    if cov is None:
        raise NotFound("drift coverage", "no deepdrift watch cycle has been applied yet")
    return json(cov)


def intel_routes() -> list[Route]:
    return [
        Route("/api/v1/impact/{id:path}", impact, methods=["GET"]),
        Route("/api/v1/neighbors/{id:path}", neighbors, methods=["GET"]),
        Route("/api/v1/root-cause/{id:path}", root_cause, methods=["GET"]),
        Route("/api/v1/timeline", timeline, methods=["GET"]),
        Route("/api/v1/drift-events", drift_events, methods=["GET"]),
        Route("/api/v1/service-map", service_map, methods=["GET"]),
        Route("/api/v1/coverage", coverage, methods=["GET"]),
        Route("/api/v1/drift-coverage", drift_coverage, methods=["GET"]),
    ]
