"""The GraphQL schema at ``/graphql``: root fields named in DESIGN.md "APIs".

Abuse is stopped before execution: query depth, alias count and token count are limited, and every
list requires ``first`` ≤ 100. Errors carry ``extensions.code`` from :mod:`airdig.engine.api.errors`.
"""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter, SchemaExtension
from strawberry.types import Info

from airdig.engine.api.graphql.types import (
    PageInfo,
    Resource,
    ResourceConnection,
    ResourceEdge,
    ResourceFilter,
    field,
)
from airdig.engine.api.views import check_first, decode_cursor, encode_cursor, node_filter
from airdig.engine.service import EngineService
from airdig.errors import AirDigError, InvalidInput
from airdig.model.events import parse_time

MAX_DEPTH = 10
MAX_ALIASES = 30
MAX_TOKENS = 2000


def _svc(info: Info[Any, Any]) -> EngineService:
    svc: EngineService = info.context["service"]
    return svc


@strawberry.type
class Query:
    @field("One resource by its id (ARN, k8s://…, service://…) or native id.")
    def resource(self, info: Info[Any, Any], id: strawberry.ID) -> Resource | None:
        store = _svc(info).store
        node = store.get_node(str(id))
        if node is None:
            ids = store.resolve_native_id(str(id))
            node = store.get_node(ids[0]) if len(ids) == 1 else None
        return Resource.of(node) if node else None

    @field("Resources matching a filter, paged with `first` (≤ 100) and `after`.")
    def resources(self, info: Info[Any, Any], first: int | None = None, after: str | None = None,
                  filter: ResourceFilter | None = None) -> ResourceConnection:
        n = check_first(first)
        f = filter or ResourceFilter()
        flt = node_filter(kind=f.kind, provider=f.provider, account=f.account, region=f.region, tag=f.tag,
                          health=f.health, drift=f.drift,
                          changed_since=parse_time(f.changed_since, "changedSince") if f.changed_since else None,
                          include_deleted=f.include_deleted)
        store = _svc(info).store
        rows = store.list_nodes(flt, n + 1, decode_cursor(after))
        page = rows[:n]
        edges = [ResourceEdge(cursor=encode_cursor(r.id), node=Resource.of(r)) for r in page]
        return ResourceConnection(
            edges=edges, page_info=PageInfo(has_next_page=len(rows) > n, end_cursor=edges[-1].cursor if edges else None),
            total_count=store.count_nodes(flt))

    @field("Find resources by id, native id (i-…, sg-…, IP, DNS name) or name substring.")
    def search(self, info: Info[Any, Any], query: str, first: int | None = 20) -> list[Resource]:
        n = check_first(first)
        if len(query) > 512:
            raise InvalidInput("query", "search text is longer than 512 characters")
        return [Resource.of(r) for r in _svc(info).store.search_nodes(query, n)]


class ErrorCodes(SchemaExtension):
    """Give every error an ``extensions.code`` (AirDig's own, else GRAPHQL_VALIDATION / INTERNAL)."""

    def on_operation(self) -> Any:
        yield
        result = self.execution_context.result
        if result is None or not result.errors:
            return
        fixed: list[GraphQLError] = []
        for err in result.errors:
            orig = err.original_error
            if isinstance(orig, AirDigError):
                code = orig.code
            elif orig is None:
                code = "GRAPHQL_VALIDATION"
            else:
                code = "INTERNAL"
            message = err.message if orig is None or isinstance(orig, AirDigError) else "internal error"
            fixed.append(GraphQLError(message, nodes=err.nodes, source=err.source, positions=err.positions,
                                      path=err.path, original_error=orig,
                                      extensions={**(err.extensions or {}), "code": code}))
        result.errors = fixed


def _extensions() -> list[Any]:
    # factories, so every request gets fresh extension instances
    return [lambda: QueryDepthLimiter(max_depth=MAX_DEPTH), lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS), ErrorCodes]


def build_schema() -> strawberry.Schema:
    from airdig.engine.api.graphql.subscriptions import Subscription
    from airdig.engine.auth import MutationGuard

    return strawberry.Schema(
        query=Query,
        subscription=Subscription,
        extensions=[*_extensions(), MutationGuard],  # MutationGuard: mutations need the editor role
    )
