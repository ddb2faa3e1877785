"""The plain-list fast path answers exactly what graphql-core answers, and skips its per-field work."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable
from typing import Any

import pytest
import strawberry
from strawberry.extensions import SchemaExtension

from airdig.engine.api.graphql.plainlists import PlainListsContext, check_resolve_hooks


@strawberry.enum
class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.type
class Inner:
    status: str
    score: float | None


@strawberry.type
class Item:
    id: strawberry.ID
    count: int
    rate: float
    color: Color
    label: str | None
    inner: Inner | None
    must: str

    @strawberry.field
    def doubled(self, by: int = 2) -> int:
        return self.count * by


def _items(n: int, broken: int | None = None) -> list[Item]:
    return [Item(id=strawberry.ID(f"i{k}"), count=k, rate=k / 3, color=Color.RED if k % 2 else Color.BLUE,
                 label=None if k % 3 else f"l{k}", inner=Inner(status="ok", score=None) if k % 4 else None,
                 must=None if k == broken else "x")  # type: ignore[arg-type]  # None: a resolver's bug
            for k in range(n)]


CALLS: list[str] = []


class Counting(SchemaExtension):
    """Counts graphql-core's per-field resolve calls (the work the fast path saves)."""

    def resolve(self, _next: Callable[..., Any], root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        CALLS.append(info.field_name)
        return _next(root, info, *args, **kwargs)


def _schema(items: list[Item], plain: bool) -> strawberry.Schema:
    @strawberry.type
    class Query:
        @strawberry.field
        def items(self) -> list[Item]:
            return items

    return strawberry.Schema(query=Query, extensions=[Counting],
                             execution_context_class=PlainListsContext if plain else None)


def _run(schema: strawberry.Schema, query: str) -> tuple[Any, list[Any]]:
    CALLS.clear()
    r = asyncio.run(schema.execute(query))
    return r.data, [(e.message, e.path) for e in r.errors or []]


PLAIN = """{ items { id count rate color label must kind: __typename
                     inner { status score } ...more } }
           fragment more on Item { alias: count }"""


def test_a_list_of_plain_fields_is_the_same_answer_without_per_field_resolves() -> None:
    items = _items(200)
    slow = _run(_schema(items, plain=False), PLAIN)
    slow_calls = len(CALLS)
    fast = _run(_schema(items, plain=True), PLAIN)
    assert fast == slow and not fast[1]
    assert slow_calls > 200 * 8 and len(CALLS) == 1  # only the root field went through graphql-core


@pytest.mark.parametrize("query", ["{ items { id doubled } }", "{ items { id doubled(by: 3) } }",
                                   '{ items { id count @include(if: false) } }', "{ items { id must } }"])
def test_resolvers_arguments_directives_and_errors_take_graphql_cores_path(query: str) -> None:
    items = _items(50, broken=7)  # item 7's non-null `must` is None: an error, the list nulled
    slow = _run(_schema(items, plain=False), query)
    fast = _run(_schema(items, plain=True), query)
    assert fast == slow
    if "must" in query:
        assert fast[1] and fast[1][0][1] == ["items", 7, "must"]


def test_an_extension_that_hooks_nested_fields_is_refused() -> None:
    with pytest.raises(TypeError, match="Counting"):
        check_resolve_hooks([Counting])
    check_resolve_hooks([lambda: SchemaExtension()])  # no resolve hook: fine


def test_quantiles_in_one_walk_equal_quantile_per_q() -> None:
    """``stats.quantiles`` (the service map's p50/p95/p99) is ``stats.quantile`` three times, value for value."""
    import random

    from airdig.model import stats

    rng = random.Random(5)
    for _ in range(5000):
        nb = rng.randint(1, 6)
        bounds = sorted(rng.sample(range(1, 5000), nb))
        counts = [rng.choice([0, 0, rng.randint(0, 50)]) for _ in range(nb + 1)]
        qs = sorted(rng.choice([0.0, 0.5, 0.95, 0.99, 1.0, rng.random()]) for _ in range(3))
        assert stats.quantiles(bounds, counts, qs) == [stats.quantile(bounds, counts, q) for q in qs]


def test_the_engine_encodes_graphql_answers_as_the_standard_encoder_would_read_them(tmp_path: Any) -> None:
    """orjson for the body; the values a client decodes are the standard encoder's, odd keys and big ints too."""
    import json

    from airdig.backends.registry import open_bus, open_cache, open_store
    from airdig.engine.app import _GraphQL
    from airdig.engine.service import EngineService

    store = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    gql = _GraphQL(EngineService(store=store, bus=open_bus(f"embedded://{tmp_path / 'b.db'}"),
                                 cache=open_cache("memory://"), group="enc"))
    for data in ({"data": {"s": "déjà ✓", "f": 0.1 + 0.2, "n": None, "l": [1, 2.5, True]}},
                 {"data": {"j": {1: "int key", "big": 2 ** 70}}}):
        assert json.loads(gql.encode_json(data)) == json.loads(json.dumps(data))
    store.close()
