"""Complete long lists of plain objects without graphql-core's per-field machinery.

graphql-core completes every field of every list item on its own: a resolve-info object, the
schema extensions' ``resolve`` hooks, an awaitable check, a leaf coercion, ~15 µs a field. The service
map of 20,000 call edges with eight fields each is 160,000 of those: seconds, for what is an
attribute read. :class:`PlainListsContext` completes a list item directly when everything the query
selects on it is a *plain* field — a Strawberry field with no resolver, no field extension and no
arguments, whose value is the attribute of the same name (Strawberry's default resolver) — and a
scalar/enum (coerced exactly as graphql-core does) or again an object of plain fields.

Anything else takes graphql-core's own path, per list: a field with a resolver, arguments, a
directive, an abstract or list type, ``is_type_of``, ``@defer``/``@stream``; and any item whose
completion would be an error (null in a non-null field, a value the scalar rejects), so errors and
partial results stay graphql-core's. Skipping the per-field ``resolve`` hooks is right only while no
schema extension needs to see nested fields: :func:`check_resolve_hooks` is called when the schema is
built and refuses any other hook than those named in ``NESTED_PASS_THROUGH``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    Undefined,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.pyutils import AwaitableOrValue, Path
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

# extensions whose ``resolve`` hook only acts on root fields (they pass nested fields straight through)
NESTED_PASS_THROUGH = frozenset({"OffLoop"})

Complete = Callable[[Any], Any]


class _NotPlain(Exception):
    """This item's completion is not the plain case (an error, a type check): use graphql-core's path."""


class PlainListsContext(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plans: dict[tuple[int, int], tuple[FieldDetailsList, Complete | None]] = {}

    def complete_iterable_value(self, item_type: GraphQLOutputType, field_details_list: FieldDetailsList,
                                info: GraphQLResolveInfo[Any], path: Path, items: Iterable[Any],
                                position_context: Any) -> AwaitableOrValue[list[Any]]:
        if isinstance(items, list | tuple) and len(items) > 1:
            complete = self._plan(item_type, field_details_list)
            if complete is not None:
                try:
                    return [complete(item) for item in items]
                except _NotPlain:
                    pass  # graphql-core completes the list again, with its errors and partial results
        return super().complete_iterable_value(item_type, field_details_list, info, path, items, position_context)

    def _plan(self, type_: GraphQLOutputType, fdl: FieldDetailsList) -> Complete | None:
        key = (id(type_), id(fdl))
        hit = self._plans.get(key)
        if hit is None:
            hit = (fdl, self._build(type_, fdl))  # fdl kept alive so its id is not reused during execution
            self._plans[key] = hit
        return hit[1]

    def _build(self, type_: GraphQLOutputType, fdl: FieldDetailsList) -> Complete | None:
        non_null = isinstance(type_, GraphQLNonNull)
        inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
        if isinstance(inner, GraphQLScalarType | GraphQLEnumType):
            return _leaf(inner, non_null)
        if not isinstance(inner, GraphQLObjectType) or inner.is_type_of is not None:
            return None
        if any(d.node.directives for d in fdl):
            return None
        grouped, defers, _ = self.collect_subfields(inner, fdl)
        if defers:
            return None
        fields: list[tuple[str, Callable[[Any], Any] | str, Complete]] = []
        for response_key, sub in grouped.items():
            node = sub[0].node
            name = node.name.value
            if name == "__typename":
                fields.append((response_key, "", _const(inner.name)))
                continue
            gfield = inner.fields.get(name)
            definition = (gfield.extensions or {}).get("strawberry-definition") if gfield is not None else None
            if gfield is None or definition is None or not definition.is_basic_field or node.arguments \
                    or any(d.node.directives for d in sub) or gfield.resolve is None \
                    or not getattr(gfield.resolve, "_is_default", False):
                return None
            complete = self._build(gfield.type, sub)
            if complete is None:
                return None
            fields.append((response_key, _getter(definition), complete))
        return _object(fields, non_null)


def _getter(definition: Any) -> Callable[[Any], Any]:
    resolver, attr = definition.default_resolver, definition.python_name
    return lambda source: resolver(source, attr)


def _const(value: str) -> Complete:
    return lambda _source: value


def _leaf(leaf: GraphQLScalarType | GraphQLEnumType, non_null: bool) -> Complete:
    coerce = leaf.coerce_output_value

    def complete(value: Any) -> Any:
        if value is None:
            if non_null:
                raise _NotPlain
            return None
        out = coerce(value)
        if out is Undefined or out is None:
            raise _NotPlain
        return out
    return complete


def _object(fields: Sequence[tuple[str, Callable[[Any], Any] | str, Complete]], non_null: bool) -> Complete:
    plan = [(k, g, c) for k, g, c in fields]

    def complete(source: Any) -> Any:
        if source is None:
            if non_null:
                raise _NotPlain
            return None
        try:
            return {k: c(source) if isinstance(g, str) else c(g(source)) for k, g, c in plan}
        except _NotPlain:
            raise
        except Exception as exc:  # a getter or a coercion failed: graphql-core reports it properly
            raise _NotPlain from exc
    return complete


def check_resolve_hooks(extensions: Iterable[Any]) -> None:
    """Refuse a schema extension with a ``resolve`` hook the plain-list path would skip."""
    for ext in extensions:
        cls = ext if isinstance(ext, type) else type(ext() if callable(ext) else ext)
        if issubclass(cls, SchemaExtension) and cls.resolve is not SchemaExtension.resolve \
                and cls.__name__ not in NESTED_PASS_THROUGH:
            raise TypeError(f"{cls.__name__} hooks field resolution: PlainListsContext would skip it on "
                            "nested list items (see airdig.engine.api.graphql.plainlists)")
