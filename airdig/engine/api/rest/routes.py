"""REST mirror of the main reads under ``/api/v1`` (described by ``/api/v1/openapi.json``).

Handlers that read the store are plain ``def``: Starlette runs them in its worker threads, so a slow
query never blocks the event loop (each thread has its own store connection)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from airdig.engine.api.errors import error_body, http_status
from airdig.engine.api.rest.openapi import openapi_document
from airdig.engine.api.views import check_first, decode_cursor, encode_cursor, node_filter, node_view
from airdig.engine.service import EngineService
from airdig.errors import AirDigError, InvalidInput, NotFound
from airdig.model.events import parse_time


def _svc(request: Request) -> EngineService:
    svc: EngineService = request.app.state.service
    return svc


def _int(request: Request, name: str, default: int | None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(name, f"must be an integer, got {raw!r}") from None


def json(data: Any, status: int = 200) -> Response:
    import orjson

    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def list_resources(request: Request) -> Response:
    q = request.query_params
    first = check_first(_int(request, "first", 50))
    since = q.get("changed_since")
    flt = node_filter(kind=q.get("kind"), provider=q.get("provider"), account=q.get("account"),
                      region=q.get("region"), tag=q.get("tag"), health=q.get("health"), drift=q.get("drift"),
                      changed_since=parse_time(since, "changed_since") if since else None,
                      include_deleted=q.get("include_deleted") in ("1", "true"))
    store = _svc(request).store
    rows = store.list_nodes(flt, first + 1, decode_cursor(q.get("after")))
    page = rows[:first]
    return json({
        "items": [node_view(r) for r in page],
        "pageInfo": {"hasNextPage": len(rows) > first, "endCursor": encode_cursor(page[-1].id) if page else None},
        "totalCount": store.count_nodes(flt),
    })


def get_resource(request: Request) -> Response:
    node_id = request.path_params["id"]
    at = request.query_params.get("at")
    if at:  # the resource as it was then (404 if it did not exist then)
        from airdig.engine.api.rest.view_routes import node_at_view
        from airdig.engine.intel import asof, reads

        store = _svc(request).store
        found = asof.nodes_at(store, [reads.resolve_id(store, node_id)], parse_time(at, "at"))
        if not found:
            raise NotFound("resource", f"{node_id} (at {at})")
        return json(node_at_view(next(iter(found.values()))))
    node = _svc(request).read_cache.node(node_id)
    if node is None:
        raise NotFound("resource", node_id)
    return json(node_view(node))


def search(request: Request) -> Response:
    text = request.query_params.get("q", "")
    if not text.strip():
        raise InvalidInput("q", "search text is required")
    if len(text) > 512:
        raise InvalidInput("q", "search text is longer than 512 characters")
    first = check_first(_int(request, "first", 20))
    return json({"items": [node_view(r) for r in _svc(request).store.search_nodes(text, first)]})


def resolve(request: Request) -> Response:
    native = request.query_params.get("native_id", "")
    if not native:
        raise InvalidInput("native_id", "a native id (i-…, sg-…, IP, DNS name, pod UID) is required")
    return json({"native_id": native, "node_ids": _svc(request).store.resolve_native_id(native)})


async def openapi(request: Request) -> Response:
    return json(openapi_document())


def error_response(exc: Exception) -> JSONResponse:
    return JSONResponse(error_body(exc), status_code=http_status(exc))


def routes() -> list[Route]:
    return [
        Route("/api/v1/resources", list_resources, methods=["GET"]),
        Route("/api/v1/resources/{id:path}", get_resource, methods=["GET"]),
        Route("/api/v1/search", search, methods=["GET"]),
        Route("/api/v1/resolve", resolve, methods=["GET"]),
        Route("/api/v1/openapi.json", openapi, methods=["GET"]),
    ]


__all__ = ["AirDigError", "error_response", "routes"]
