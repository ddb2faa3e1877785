"""Run the schema's root resolvers in worker threads, so a slow store call never blocks the event loop.

The root fields of ``Query`` and ``Mutation`` are where the store is read (nested fields only shape
what the root returned), so only they move off the loop: one thread hop per root field, and the
loop keeps serving ``/healthz``, other queries and subscriptions while a ``rootCause`` walks the graph.
Each worker thread has its own store connection (the SQL store keeps one per thread), so the thread
pool is the connection pool: at most as many connections as threads.

    schema = strawberry.Schema(query=Query, extensions=[..., OffLoop])
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from graphql import GraphQLResolveInfo
from starlette.concurrency import run_in_threadpool
from strawberry.extensions import SchemaExtension

ROOT_TYPES = frozenset({"Query", "Mutation"})


class OffLoop(SchemaExtension):
    def resolve(self, _next: Callable[..., Any], root: Any, info: GraphQLResolveInfo[Any], *args: Any,
                **kwargs: Any) -> Any:
        if info.parent_type.name not in ROOT_TYPES or info.path.prev is not None:
            return _next(root, info, *args, **kwargs)
        field = info.parent_type.fields.get(info.field_name)
        definition = (field.extensions or {}).get("strawberry-definition") if field is not None else None
        if getattr(definition, "is_async", False):  # async resolvers do their own waiting
            return _next(root, info, *args, **kwargs)
        return _threaded(_next, root, info, *args, **kwargs)


async def _threaded(_next: Callable[..., Any], root: Any, info: GraphQLResolveInfo[Any], *args: Any, **kwargs: Any) -> Any:
    result = await run_in_threadpool(_next, root, info, *args, **kwargs)
    if inspect.isawaitable(result):  # an async resolver after all: finish it on the loop
        result = await result
    return result
