"""The hot read path answers byte for byte what Strawberry answers, on both backends, for every shape.

Two apps over one engine service: the engine's (hot reads on) and one built with ``hot_reads=False``
(every query through Strawberry). Each request goes to both; status, content type and body bytes must
be equal, and the hot path's ``answered`` count says which side of the fork the request took, so a
shape meant to be a hot read cannot silently fall through (nor an error shape be answered by the plan).
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Iterator
from typing import Any

import pytest
import strawberry
from starlette.testclient import TestClient

from airdig.backends.interfaces import NodeFilter
from airdig.backends.registry import open_bus, open_cache, open_store
from airdig.engine.api.graphql.hotread import HotReads, check_extensions
from airdig.engine.app import build_app
from airdig.engine.auth import TokenService
from airdig.engine.service import EngineService
from airdig.model.events import TOPIC_HEALTH, TOPIC_RESOURCES, CloudEvent, confirm_events, resource_event
from airdig.model.graph import Node
from tests.conftest import Backends

ARN = "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc"
DB = "arn:aws:rds:us-east-1:123456789012:db:orders"
GONE = "arn:aws:sqs:us-east-1:123456789012:old-queue"
ALL_FIELDS = ("id kind name provider account region attrs tags managedBy firstSeen lastSeen deletedAt confirmedAt "
              "confirmInterval confirmStale asOf asOfExact health { status reasons since } "
              "drift { status lastEvent }")


@pytest.fixture
def svc(backends: Backends) -> Iterator[EngineService]:
    store = open_store(backends.store_url)
    store.migrate()
    service = EngineService(store=store, bus=open_bus(backends.bus_url), cache=open_cache(backends.cache_url),
                            group="hotread-test")
    service.start()
    _seed(service)
    yield service
    service.stop()


def _seed(svc: EngineService) -> None:
    now = time.time()
    evs = [resource_event("created", Node(id=ARN, kind="aws.ec2.instance", provider="aws", account="123456789012",
                                          region="us-east-1", name="checkout-web",
                                          attrs={"InstanceType": "m5.large", "n": [1, 2.5, None], "deep": {"x": "ü"}},
                                          tags={"team": "pay"}, managed_by="terraform",
                                          native_ids=("i-0abc", "10.0.1.5")), "test", time=now - 7200),
           resource_event("created", Node(id=DB, kind="aws.rds.instance", provider="aws", region="us-east-1",
                                          name="orders"), "test", time=now - 60),
           resource_event("created", Node(id=GONE, kind="aws.sqs.queue", provider="aws", name="old"), "test",
                          time=now - 600),
           resource_event("deleted", Node(id=GONE, kind="aws.sqs.queue", provider="aws", name="old"), "test",
                          time=now - 30)]
    evs += confirm_events("ec2/us-east-1", [ARN], now - 1200, "skygraph", interval=900.0, time=now - 1190)
    for ev in evs:
        svc.bus.publish(TOPIC_RESOURCES, ev.subject, ev.encode())
    health = CloudEvent(type="airdig.health.changed", source="pulsesight", subject=DB, data={
        "node_id": DB, "status": "critical", "previous": "healthy",
        "reasons": [{"rule": "error_rate", "value": 0.31, "threshold": 0.05}]})
    svc.bus.publish(TOPIC_HEALTH, health.subject, health.encode())
    svc.bus.flush()
    deadline = time.monotonic() + 30
    while svc.store.count_nodes(NodeFilter(include_deleted=True)) < 3 or \
            svc.store.get_node(DB) is None or svc.store.get_node(DB).health_status != "critical":  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "events were not applied"
        time.sleep(0.1)


@pytest.fixture
def apps(svc: EngineService) -> Iterator[tuple[TestClient, TestClient]]:
    with TestClient(build_app(svc)) as hot, TestClient(build_app(svc, hot_reads=False)) as plain:
        yield hot, plain


def _post(client: TestClient, body: Any, headers: dict[str, str] | None = None) -> tuple[int, str, bytes]:
    r = client.post("/graphql", json=body, headers=headers)
    return r.status_code, r.headers.get("content-type", ""), r.content


def _both(apps: tuple[TestClient, TestClient], body: Any, hot_expected: bool,
          headers: dict[str, str] | None = None, get: bool = False) -> bytes:
    """Send ``body`` to both apps (the Strawberry one first, then the hot one, then Strawberry again, so
    the cache's state cannot favour either); assert equal answers and the expected path."""
    hot, plain = apps
    counter = hot.app.state.hot_reads  # type: ignore[attr-defined]

    def send(client: TestClient) -> tuple[int, str, bytes]:
        if get:
            r = client.get("/graphql", params=body, headers=headers)
            return r.status_code, r.headers.get("content-type", ""), r.content
        return _post(client, body, headers)

    first = send(plain)
    before = counter.answered
    got = send(hot)
    assert counter.answered - before == (1 if hot_expected else 0), (body, got)
    assert got == first == send(plain), (body, got, first)
    return got[2]


# the UI's resource page (airdig/ui/static/js/views/resource.js): live, and in time travel (asOfGaps, a list)
UI_RESOURCE = """query($id: ID!) { resource(id: $id) {
  id kind name provider account region attrs tags managedBy
  health { status reasons since } drift { status lastEvent } firstSeen lastSeen deletedAt
  confirmedAt confirmInterval confirmStale } }"""
UI_RESOURCE_AT = """query($id: ID!, $at: String) { resource(id: $id, at: $at) {
  id kind name provider account region attrs tags managedBy
  health { status reasons since } drift { status lastEvent } firstSeen lastSeen deletedAt
  confirmedAt confirmInterval confirmStale asOf asOfExact asOfGaps } }"""

HOT_SHAPES: list[dict[str, Any]] = [
    {"query": UI_RESOURCE, "variables": {"id": ARN}},
    {"query": UI_RESOURCE, "variables": {"id": DB}},
    {"query": "query($id: ID!) { resource(id: $id) { id kind name health { status } } }", "variables": {"id": ARN}},
    {"query": "query($id: ID!) { resource(id: $id) { id kind name health { status } } }",
     "variables": {"id": "arn:aws:ec2:us-east-1:1:instance/i-none"}},
    {"query": f"{{ resource(id: \"{ARN}\") {{ {ALL_FIELDS} }} }}"},
    {"query": f"query($id: ID!) {{ resource(id: $id) {{ {ALL_FIELDS} }} }}", "variables": {"id": DB}},
    {"query": f"query($id: ID!) {{ resource(id: $id) {{ {ALL_FIELDS} }} }}", "variables": {"id": GONE}},
    {"query": '{ resource(id: "i-0abc") { id name } }'},  # a native id: resolved in a worker thread
    {"query": '{ resource(id: "10.0.1.5") { id } }'},
    {"query": f'{{ a: resource(id: "{ARN}") {{ ident: id n: name }} b: resource(id: "{DB}") {{ id h: health {{ s: status }} }} '
              'c: resource(id: "nope") { id } }'},
    {"query": f'{{ __typename resource(id: "{ARN}") {{ __typename id t: __typename health {{ __typename status }} }} }}'},
    {"query": "query Q($id: ID!) { resource(id: $id) { ...F } } "
              "fragment F on Resource { id attrs tags ... on Resource { kind drift { status } } ...G } "
              "fragment G on Resource { name id }",
     "variables": {"id": ARN}, "operationName": "Q"},
    {"query": "query($id: ID!) { resource(id: $id) { ... { id } ... on Resource { name } } }", "variables": {"id": ARN}},
    {"query": "query($id: ID!) { resource(id: $id) { id } resource(id: $id) { name id } }", "variables": {"id": ARN}},
    {"query": "query($id: ID!) { resource(id: $id) { id } }", "variables": {"id": 123}},  # an Int for an ID
    {"query": "query($id: ID!, $at: String) { resource(id: $id, at: $at) { id name } }", "variables": {"id": ARN}},
    {"query": "query($id: ID!, $at: String) { resource(id: $id, at: $at) { id name } }",
     "variables": {"id": ARN, "at": None}},
    {"query": f'{{ resource(id: "{ARN}", at: null) {{ id }} }}'},
    {"query": "query($id: ID! = \"" + ARN + "\") { resource(id: $id) { id } }"},  # a default value
    {"query": "query($id: ID!) { resource(id: $id) { id } }", "variables": {"id": ARN, "unused": [1, 2]}},
    {"query": "query One($id: ID!) { resource(id: $id) { name } }", "variables": {"id": ARN}},
    {"query": "query One($id: ID!) { resource(id: $id) { name } }", "variables": {"id": ARN}, "operationName": "One"},
    {"query": "query($id: ID!) { resource(id: $id) { id } }", "variables": {"id": ARN}, "extensions": {"x": 1}},
]

FALLBACK_SHAPES: list[dict[str, Any]] = [
    {"query": UI_RESOURCE_AT, "variables": {"id": ARN, "at": "2020-01-01T00:00:00Z"}},
    {"query": "query($id: ID!) { resource(id: $id) { id } }"},  # a required variable missing
    {"query": "query($id: ID!) { resource(id: $id) { id } }", "variables": {"id": None}},
    {"query": "query($id: ID!) { resource(id: $id) { id } }", "variables": {"id": 1.5}},
    {"query": "query($id: ID!) { resource(id: $id) { id } }", "variables": {"id": {"a": 1}}},
    {"query": '{ resource(id: "x") { nosuchfield } }'},
    {"query": "{ resource { id } }"},
    {"query": '{ resource(id: "x") { health } }'},  # an object without a selection
    {"query": '{ resource(id: "x") { id }'},  # a syntax error
    {"query": "{ " + " ".join(f'a{i}: resource(id: "x") {{ id }}' for i in range(40)) + " }"},  # aliases
    {"query": '{ resource(id: "x") { ' + "id " * 2100 + "} }"},  # tokens
    {"query": "query($id: ID!, $on: Boolean!) { resource(id: $id) { id name @include(if: $on) } }",
     "variables": {"id": ARN, "on": False}},
    {"query": "query($id: ID!) { resource(id: $id) { id ... @skip(if: true) { name } } }", "variables": {"id": ARN}},
    {"query": f'{{ resource(id: "{ARN}") {{ id asOfGaps }} }}'},  # a list field
    {"query": f'{{ resource(id: "{ARN}") {{ id }} coverage {{ total }} }}'},  # another root field
    {"query": '{ __schema { queryType { name } } }'},
    {"query": f'{{ resource(id: "{ARN}", at: "not a time") {{ id }} }}'},  # BAD_INPUT from the loader
    {"query": "query A { resource(id: \"x\") { id } } query B { resource(id: \"y\") { name } }"},
    {"query": "query A { resource(id: \"x\") { id } } query B { resource(id: \"y\") { name } }", "operationName": "B"},
    {"query": "query One($id: ID!) { resource(id: $id) { name } }", "variables": {"id": ARN}, "operationName": "Two"},
    {"query": 'mutation { acknowledgeDrift(id: "nope") { id } }'},
    {"query": "fragment F on Resource { id }"},
    {"query": ""},
    {"query": "{ resource(id: \"x\") { id } }", "variables": [1]},
    {"variables": {"id": ARN}},
]


def test_hot_shapes_are_answered_by_the_plan_exactly_as_strawberry(apps: tuple[TestClient, TestClient]) -> None:
    for body in HOT_SHAPES:
        _both(apps, body, hot_expected=True)
    # twice more: the second time from the plan cache (and the read cache), the same bytes again
    for body in HOT_SHAPES:
        _both(apps, body, hot_expected=True)
    answered = _both(apps, HOT_SHAPES[0], hot_expected=True)
    assert b'"name":"checkout-web"' in answered  # the comparison is not between two empty answers
    hot = apps[0]
    metrics = hot.get("/metrics").text
    count = hot.app.state.hot_reads.answered  # type: ignore[attr-defined]
    assert count == 2 * len(HOT_SHAPES) + 1 and f"airdig_graphql_hot_reads_total {float(count)}" in metrics


SCALARS = ["id", "kind", "name", "provider", "account", "region", "attrs", "tags", "managedBy", "firstSeen",
           "lastSeen", "deletedAt", "confirmedAt", "confirmInterval", "confirmStale", "asOf", "asOfExact",
           "__typename"]


ALIASES = itertools.count()


def _random_selection(rng: random.Random, depth: int = 0) -> str:
    """Some of Resource's plain fields, aliased or not (each alias once: a valid document), some inside a
    fragment or an inline fragment."""
    parts = []
    for f in rng.sample(SCALARS, rng.randint(1, 6)):
        parts.append(f"a{next(ALIASES)}: {f}" if rng.random() < 0.3 else f)
    if rng.random() < 0.5:
        parts.append("health { " + " ".join(rng.sample(["status", "reasons", "since", "__typename"],
                                                         rng.randint(1, 4))) + " }")
    if rng.random() < 0.4:
        parts.append(("d: " if rng.random() < 0.5 else "") + "drift { status lastEvent }")
    if depth == 0 and rng.random() < 0.3:
        parts.append("... on Resource { " + _random_selection(rng, 1) + " }")
    if depth == 0 and rng.random() < 0.3:
        parts.append("...R")
    rng.shuffle(parts)
    return " ".join(parts)


def test_generated_shapes_are_answered_alike(apps: tuple[TestClient, TestClient]) -> None:
    rng = random.Random(12)
    ids = [ARN, DB, GONE, "i-0abc", "nope"]
    for _ in range(60):
        roots, variables, defs = [], {}, []
        for k in range(rng.randint(1, 3)):
            ident = rng.choice(ids)
            if rng.random() < 0.5:
                variables[f"v{k}"] = ident
                defs.append(f"$v{k}: ID!")
                arg = f"$v{k}"
            else:
                arg = f'"{ident}"'
            roots.append(f"r{k}: resource(id: {arg}) {{ {_random_selection(rng)} }}")
        query = (f"query({', '.join(defs)}) " if defs else "query ") + "{ " + " ".join(roots) + " }"
        if "...R" in query:
            query += " fragment R on Resource { id " + _random_selection(rng, 1) + " }"
        _both(apps, {"query": query, "variables": variables}, hot_expected=True)


def test_other_shapes_and_errors_fall_through_to_strawberry_unchanged(apps: tuple[TestClient, TestClient]) -> None:
    codes: set[str] = set()
    for body in FALLBACK_SHAPES * 2:
        answer = _both(apps, body, hot_expected=False)
        for code in ("GRAPHQL_VALIDATION", "LIMIT_EXCEEDED", "BAD_INPUT", "NOT_FOUND"):
            if code.encode() in answer:
                codes.add(code)
    assert codes == {"GRAPHQL_VALIDATION", "LIMIT_EXCEEDED", "BAD_INPUT", "NOT_FOUND"}


def test_get_requests_and_a_time_in_the_past(apps: tuple[TestClient, TestClient]) -> None:
    q = "query($id: ID!) { resource(id: $id) { id name health { status } } }"
    _both(apps, {"query": q, "variables": f'{{"id": "{ARN}"}}'}, hot_expected=True, get=True)
    _both(apps, {"query": 'mutation { resolveDrift(id: "x") { id } }'}, hot_expected=False, get=True)
    past = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1800))
    body = _both(apps, {"query": f'{{ resource(id: "{ARN}", at: "{past}") {{ id name asOf asOfExact }} }}'},
                 hot_expected=True)
    assert b'"asOf":"' in body


def test_a_loader_failure_is_answered_by_strawberry_as_internal(apps: tuple[TestClient, TestClient],
                                                                svc: EngineService,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any) -> None:
        raise RuntimeError("store is down")

    monkeypatch.setattr(svc.read_cache, "peek", broken)
    body = _both(apps, {"query": f'{{ resource(id: "{ARN}") {{ id }} }}'}, hot_expected=False)
    assert b'"code":"INTERNAL"' in body and b"store is down" not in body


def test_auth_applies_to_hot_reads_alike(svc: EngineService) -> None:
    token, _ = TokenService(svc.store).create("reader", "viewer")
    with TestClient(build_app(svc, require_auth=True)) as hot, \
            TestClient(build_app(svc, require_auth=True, hot_reads=False)) as plain:
        body = {"query": "query($id: ID!) { resource(id: $id) { id } }", "variables": {"id": ARN}}
        _both((hot, plain), body, hot_expected=False)  # no token: 401 before GraphQL
        assert _post(hot, body)[0] == 401
        _both((hot, plain), body, hot_expected=False, headers={"Authorization": "Bearer adg_wrong"})
        good = {"Authorization": f"Bearer {token}"}
        assert b'"id":"' + ARN.encode() in _both((hot, plain), body, hot_expected=True, headers=good)
        _both((hot, plain), {"query": 'mutation { resolveDrift(id: "x") { id } }'}, hot_expected=False,
              headers=good)  # a viewer's mutation: FORBIDDEN, by Strawberry's MutationGuard


def test_hot_reads_see_an_applied_update_at_once(apps: tuple[TestClient, TestClient], svc: EngineService) -> None:
    """The read cache's generation rule holds on the hot path: reads are cache hits until a batch is
    applied, and the first read after it sees the new state."""
    hot, _ = apps
    deadline = time.monotonic() + 10
    while svc.cache.generation("graph") < 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    body = {"query": "query($id: ID!) { resource(id: $id) { attrs } }", "variables": {"id": ARN}}
    _both(apps, body, hot_expected=True)
    hits = svc.read_cache.hits
    assert b"m5.large" in _post(hot, body)[2]
    assert svc.read_cache.hits == hits + 1
    changed = Node(id=ARN, kind="aws.ec2.instance", provider="aws", account="123456789012", region="us-east-1",
                   name="checkout-web", attrs={"InstanceType": "c5.xlarge"})
    ev = resource_event("updated", changed, "test")
    svc.bus.publish(TOPIC_RESOURCES, ev.subject, ev.encode())
    svc.bus.flush()
    deadline = time.monotonic() + 30
    while b"c5.xlarge" not in _post(hot, body)[2]:
        assert time.monotonic() < deadline, "the hot read never saw the applied update"
        time.sleep(0.05)
    assert b"m5.large" not in _post(hot, body)[2]
    _both(apps, body, hot_expected=True)


# -- the plan's contract, on a schema of its own ------------------------------------------------------


@strawberry.type
class Thing:
    name: str
    size: int | None


async def _load_thing(context: dict[str, Any], args: dict[str, Any]) -> Thing | None:
    return {"ok": Thing(name="a", size=1), "broken": Thing(name=None, size=2)}.get(args["id"])  # type: ignore[arg-type]


@strawberry.type
class Query:
    @strawberry.field
    async def thing(self, id: str) -> Thing | None:
        return await _load_thing({}, {"id": id})

    @strawberry.field
    def other(self, id: str) -> Thing | None:
        return None


def test_a_completion_error_is_left_to_strawberry() -> None:
    import asyncio

    schema = strawberry.Schema(query=Query)
    hot = HotReads(schema, {"thing": _load_thing})
    ok = asyncio.run(hot.execute('{ thing(id: "ok") { name size } }', None, None, {}))
    assert ok is not None and ok.data == {"thing": {"name": "a", "size": 1}}
    # a null in a non-null field is graphql-core's error to report, with its path: not the plan's
    assert asyncio.run(hot.execute('{ thing(id: "broken") { name } }', None, None, {})) is None
    strawberry_says = asyncio.run(schema.execute('{ thing(id: "broken") { name } }'))
    assert strawberry_says.errors and strawberry_says.data == {"thing": None}


def test_the_plan_refuses_what_it_would_skip() -> None:
    from strawberry.extensions import SchemaExtension

    class Masking(SchemaExtension):
        pass

    with pytest.raises(TypeError, match="Masking"):
        check_extensions([Masking()])
    with pytest.raises(TypeError, match="async"):  # a sync resolver would run in a thread under OffLoop
        HotReads(strawberry.Schema(query=Query), {"other": _load_thing})
    with pytest.raises(TypeError, match="not a field"):
        HotReads(strawberry.Schema(query=Query), {"nothing": _load_thing})
