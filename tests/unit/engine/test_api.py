"""The engine's HTTP surface: probes, metrics, GraphQL and REST over real backends."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from airdig.backends.interfaces import NodeFilter
from airdig.backends.registry import open_bus, open_cache, open_store
from airdig.engine.app import build_app
from airdig.engine.service import EngineService
from airdig.model.events import TOPIC_RESOURCES, resource_event
from airdig.model.graph import Node
from tests.conftest import Backends

ARN = "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc"


@pytest.fixture
def svc(backends: Backends) -> Iterator[EngineService]:
    store = open_store(backends.store_url)
    store.migrate()
    service = EngineService(store=store, bus=open_bus(backends.bus_url), cache=open_cache(backends.cache_url),
                            group="api-test")
    service.start()
    yield service
    service.stop()


@pytest.fixture
def client(svc: EngineService) -> Iterator[TestClient]:
    with TestClient(build_app(svc)) as c:
        yield c


def seed(svc: EngineService, n: int = 3) -> None:
    nodes = [Node(id=ARN, kind="aws.ec2.instance", provider="aws", account="123456789012", region="us-east-1",
                  name="checkout-web", attrs={"InstanceType": "m5.large"}, tags={"team": "pay"},
                  native_ids=("i-0abc", "10.0.1.5"))]
    nodes += [Node(id=f"arn:aws:rds:us-east-1:123456789012:db:db-{i}", kind="aws.rds.instance", provider="aws",
                   region="us-east-1", name=f"orders-{i}") for i in range(n - 1)]
    for nd in nodes:
        ev = resource_event("created", nd, "test")
        svc.bus.publish(TOPIC_RESOURCES, ev.subject, ev.encode())
    svc.bus.flush()
    deadline = time.monotonic() + 30
    while svc.store.count_nodes(NodeFilter()) < n:
        if time.monotonic() > deadline:
            raise AssertionError("events were not applied")
        time.sleep(0.1)


def gql(client: TestClient, query: str, **variables: Any) -> dict[str, Any]:
    r = client.post("/graphql", json={"query": query, "variables": variables})
    body: dict[str, Any] = r.json()
    return body


def test_probes_and_metrics(client: TestClient, svc: EngineService) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "checks": {"threads": "ok"}}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"store": "ok", "bus": "ok", "cache": "ok", "processor": "ok"}
    seed(svc, 1)
    deadline = time.monotonic() + 20
    text = ""
    while time.monotonic() < deadline:  # lag is refreshed every few seconds
        text = client.get("/metrics").text
        if "airdig_engine_consumer_lag{" in text and "airdig_engine_consumer_lag_total 0.0" in text:
            break
        time.sleep(0.5)
    assert "airdig_engine_events_applied_total 1.0" in text
    assert 'airdig_engine_consumer_lag{partition="' in text
    assert "airdig_engine_consumer_lag_total 0.0" in text
    assert 'airdig_http_requests_total{route="/readyz",status="200"} 1.0' in text


def test_graphql_resource_resources_search(client: TestClient, svc: EngineService) -> None:
    seed(svc, 3)
    body = gql(client, "query($id: ID!) { resource(id: $id) { id kind name provider region attrs tags "
                       "health { status reasons } drift { status } } }", id=ARN)
    assert body["data"]["resource"] == {
        "id": ARN, "kind": "aws.ec2.instance", "name": "checkout-web", "provider": "aws", "region": "us-east-1",
        "attrs": {"InstanceType": "m5.large"}, "tags": {"team": "pay"},
        "health": {"status": "unknown", "reasons": []}, "drift": {"status": "unknown"}}
    # a native id finds the node too
    assert gql(client, '{ resource(id: "i-0abc") { id } }')["data"]["resource"] == {"id": ARN}
    assert gql(client, '{ resource(id: "nope") { id } }')["data"]["resource"] is None

    page = gql(client, '{ resources(first: 1, filter: {kind: "aws.rds.instance"}) '
                       '{ totalCount edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }')
    conn = page["data"]["resources"]
    assert conn["totalCount"] == 2 and conn["pageInfo"]["hasNextPage"] is True
    nxt = gql(client, "query($a: String) { resources(first: 5, after: $a, filter: {kind: \"aws.rds.instance\"}) "
                      "{ edges { node { id } } pageInfo { hasNextPage } } }", a=conn["pageInfo"]["endCursor"])
    ids = [conn["edges"][0]["node"]["id"]] + [e["node"]["id"] for e in nxt["data"]["resources"]["edges"]]
    assert sorted(ids) == ids and len(set(ids)) == 2
    assert nxt["data"]["resources"]["pageInfo"]["hasNextPage"] is False

    found = gql(client, '{ search(query: "10.0.1.5", first: 5) { id } }')["data"]["search"]
    assert found == [{"id": ARN}]
    found = gql(client, '{ search(query: "ORDERS", first: 5) { name } }')["data"]["search"]
    assert sorted(f["name"] for f in found) == ["orders-0", "orders-1"]


def test_graphql_limits_and_error_codes(client: TestClient) -> None:
    body = gql(client, "{ resources { totalCount } }")
    assert body["errors"][0]["extensions"]["code"] == "LIMIT_EXCEEDED"
    assert "'first' is required" in body["errors"][0]["message"]
    body = gql(client, "{ resources(first: 10000) { totalCount } }")
    assert "between 1 and 100" in body["errors"][0]["message"]
    nested = "{ resources(first: 1) { edges { node { health { status } } } } }"
    assert "errors" not in gql(client, nested)
    deep = '{ impact(id: "x") { nodes { resource { health { ' + "a { " * 16 + "b" + " }" * 16 + " } } } } }"
    body = gql(client, deep)  # 20 levels
    assert "exceeds maximum operation depth of 10" in body["errors"][0]["message"]
    costly = "{ " + " ".join(f"r{i}: rootCause(id: \"x\") {{ symptom }}" for i in range(25)) + " }"
    body = gql(client, costly)
    assert "query cost" in body["errors"][0]["message"] and "exceeds the limit" in body["errors"][0]["message"]
    aliases = "{ " + " ".join(f"a{i}: resource(id: \"x\") {{ id }}" for i in range(40)) + " }"
    body = gql(client, aliases)
    assert "aliases" in body["errors"][0]["message"].lower()
    body = gql(client, '{ resource(id: "x") { nosuchfield } }')
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION"


def test_rest_mirror_and_openapi(client: TestClient, svc: EngineService) -> None:
    seed(svc, 2)
    r = client.get("/api/v1/resources", params={"kind": "aws.ec2.instance", "first": 10})
    assert r.status_code == 200
    assert [i["id"] for i in r.json()["items"]] == [ARN] and r.json()["totalCount"] == 1
    one = client.get(f"/api/v1/resources/{ARN}")
    assert one.status_code == 200 and one.json()["name"] == "checkout-web"
    missing = client.get("/api/v1/resources/arn:aws:ec2:us-east-1:1:instance/i-none")
    assert missing.status_code == 404 and missing.json()["code"] == "NOT_FOUND"
    bad = client.get("/api/v1/resources", params={"first": "1000"})
    assert bad.status_code == 400 and "between 1 and 100" in bad.json()["error"]
    bad = client.get("/api/v1/resources", params={"health": "purple"})
    assert bad.status_code == 400 and bad.json()["code"] == "BAD_INPUT"
    assert client.get("/api/v1/resolve", params={"native_id": "i-0abc"}).json()["node_ids"] == [ARN]
    assert client.get("/api/v1/search", params={"q": "checkout"}).json()["items"][0]["id"] == ARN
    doc = client.get("/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.") and "/api/v1/resources/{id}" in doc["paths"]


def test_hot_reads_are_cached_and_invalidated_by_the_apply_path(client: TestClient, svc: EngineService) -> None:
    seed(svc, 1)
    deadline = time.monotonic() + 10
    while svc.cache.generation("graph") < 1:  # the seed's batch has been fanned out (cache invalidated)
        assert time.monotonic() < deadline
        time.sleep(0.05)
    query = "query($id: ID!) { resource(id: $id) { attrs } }"
    assert gql(client, query, id=ARN)["data"]["resource"]["attrs"] == {"InstanceType": "m5.large"}
    hits = svc.read_cache.hits
    assert gql(client, query, id=ARN)["data"]["resource"]["attrs"] == {"InstanceType": "m5.large"}
    assert svc.read_cache.hits == hits + 1  # the second read came from the cache
    changed = Node(id=ARN, kind="aws.ec2.instance", provider="aws", account="123456789012", region="us-east-1",
                   name="checkout-web", attrs={"InstanceType": "c5.xlarge"})
    ev = resource_event("updated", changed, "test")
    svc.bus.publish(TOPIC_RESOURCES, ev.subject, ev.encode())
    svc.bus.flush()
    deadline = time.monotonic() + 30
    while gql(client, query, id=ARN)["data"]["resource"]["attrs"] != {"InstanceType": "c5.xlarge"}:
        assert time.monotonic() < deadline, "the cached read never saw the applied update"
        time.sleep(0.1)


def test_confirmed_at_is_served_by_graphql_and_rest(client: TestClient, svc: EngineService) -> None:
    """A node's confirmedAt follows the newest read that saw it, through the bus and the apply path; stale
    once older than two scan intervals (or a day); null for what nothing ever confirmed."""
    from airdig.model.events import confirm_events, to_rfc3339

    now = time.time()
    inst = Node(id=ARN, kind="aws.ec2.instance", provider="aws", region="us-east-1", name="checkout-web")
    svc_node = Node(id="service://shop/checkout", kind="service", provider="otel", name="checkout")
    evs = [resource_event("created", inst, "skygraph", time=now - 7200, confirmed_at=now - 7210),
           resource_event("created", svc_node, "tracecore", time=now - 10)]
    # two hours later a scan with a 15-minute cadence confirms the instance, unchanged ...
    evs += confirm_events("ec2/us-east-1", [ARN], now - 1200, "skygraph", interval=900.0, time=now - 1190)
    for ev in evs:
        svc.bus.publish(TOPIC_RESOURCES, ev.subject, ev.encode())
    svc.bus.flush()
    q = "query($id: ID!) { resource(id: $id) { confirmedAt confirmInterval confirmStale lastSeen } }"
    deadline = time.monotonic() + 30
    while True:
        got = gql(client, q, id=ARN)["data"]["resource"]
        if got and got["confirmedAt"] == to_rfc3339(now - 1200):
            break
        assert time.monotonic() < deadline, got
        time.sleep(0.1)
    # ... 20 minutes ago: fresh (< two 15-minute intervals); lastSeen stays the time of the last change event
    assert got == {"confirmedAt": to_rfc3339(now - 1200), "confirmInterval": 900.0, "confirmStale": False,
                   "lastSeen": to_rfc3339(now - 7200)}
    rest = client.get(f"/api/v1/resources/{ARN}").json()
    assert (rest["confirmedAt"], rest["confirmInterval"], rest["confirmStale"]) == (
        to_rfc3339(now - 1200), 900.0, False)
    # a node nothing confirms (a service seen in traces) says so instead of pretending
    assert gql(client, q, id=svc_node.id)["data"]["resource"]["confirmedAt"] is None
    assert client.get(f"/api/v1/resources/{svc_node.id}").json()["confirmStale"] is None
    # the scan cadence slows to 5 minutes: the same confirmation is now older than two intervals
    ev = confirm_events("ec2/us-east-1", [ARN], now - 1100, "skygraph", interval=300.0, time=now - 1090)[0]
    svc.bus.publish(TOPIC_RESOURCES, ev.subject, ev.encode())
    svc.bus.flush()
    deadline = time.monotonic() + 30
    while (got := gql(client, q, id=ARN)["data"]["resource"])["confirmInterval"] != 300.0:
        assert time.monotonic() < deadline, got
        time.sleep(0.1)
    assert got["confirmStale"] is True
