"""The estate-scale views over HTTP (docs/ui-api.md): GraphQL and the REST mirror agree, limits hold.

Facts go in through the engine's own apply path on the service's store (embedded and distributed
backends, see ``backends`` in tests/conftest.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from airdig.backends.registry import open_bus, open_cache, open_store
from airdig.engine.app import build_app
from airdig.engine.intel import grouping
from airdig.engine.service import EngineService
from airdig.model.events import resource_event, to_rfc3339
from tests.conftest import Backends
from tests.unit.engine.test_timetravel import INST, SG, SUBNET, build


@pytest.fixture
def svc(backends: Backends) -> Iterator[EngineService]:
    store = open_store(backends.store_url)
    store.migrate()
    service = EngineService(store=store, bus=open_bus(backends.bus_url), cache=open_cache(backends.cache_url),
                            group="views-test")
    service.start()
    yield service
    service.stop()


@pytest.fixture
def client(svc: EngineService) -> Iterator[TestClient]:
    build(svc.store)
    with TestClient(build_app(svc)) as c:
        yield c


def gql(client: TestClient, query: str, **variables: Any) -> dict[str, Any]:
    body: dict[str, Any] = client.post("/graphql", json={"query": query, "variables": variables}).json()
    return body


T = to_rfc3339

HOOD = """query($id: ID!, $budget: Int!, $at: String, $expand: [ID!]) {
  neighborhood(id: $id, budget: $budget, at: $at, expand: $expand) {
    center { id } nodes { id asOf asOfExact health { status } } total truncated asOfExact
    groups { id label kind by value count worstHealth drifted health { critical unknown } memberIds(first: 2) }
    edges { src dst type count } } }"""


def test_neighborhood_grouped_as_of_and_expanded(client: TestClient) -> None:
    # at t=250 the subnet still had three instances; with budget 10 nothing needs grouping
    body = gql(client, HOOD, id=SUBNET, budget=10, at=T(250.0))
    assert "errors" not in body, body
    d = body["data"]["neighborhood"]
    assert d["center"] == {"id": SUBNET} and d["total"] == 4 and d["groups"] == [] and d["asOfExact"]
    assert {n["id"] for n in d["nodes"]} == {SUBNET, *INST} and all(n["asOf"] == T(250.0) for n in d["nodes"])
    # now: i-1 is gone
    now = gql(client, HOOD, id=SUBNET, budget=10)["data"]["neighborhood"]
    assert {n["id"] for n in now["nodes"]} == {SUBNET, INST[0], INST[2]} and now["nodes"][0]["asOf"] is None
    rest = client.get(f"/api/v1/neighborhood/{SUBNET}", params={"budget": 10, "at": T(250.0)}).json()
    assert {n["id"] for n in rest["nodes"]} == {SUBNET, *INST} and rest["nodes"][1]["asOf"] == T(250.0)
    # the plain neighbours read travels in time too
    nq = "query($id: ID!, $at: String) { neighbors(id: $id, at: $at) { nodes { id asOf } edges { src dst } } }"
    then = gql(client, nq, id=SUBNET, at=T(250.0))["data"]["neighbors"]
    assert {n["id"] for n in then["nodes"]} == {SUBNET, *INST} and {"src": SUBNET, "dst": INST[1]} in then["edges"]
    assert INST[1] not in {n["id"] for n in gql(client, nq, id=SUBNET)["data"]["neighbors"]["nodes"]}
    old_rest = client.get(f"/api/v1/neighbors/{SUBNET}", params={"at": T(250.0)}).json()
    assert {n["id"] for n in old_rest["nodes"]} == {SUBNET, *INST}
    assert gql(client, nq, id=SUBNET, at=T(50.0))["errors"][0]["extensions"]["code"] == "NOT_FOUND"


def test_neighborhood_groups_above_the_budget(client: TestClient, svc: EngineService) -> None:
    from tests.unit.engine.test_grouping import populate

    populate(svc.store)
    from tests.unit.engine.test_grouping import SG as BIG_SG
    from tests.unit.engine.test_grouping import SUBNETS

    d = gql(client, HOOD, id=BIG_SG, budget=20)["data"]["neighborhood"]
    assert len(d["nodes"]) + len(d["groups"]) <= 20 and d["total"] == 5001
    g2 = next(g for g in d["groups"] if g["value"] == SUBNETS[2])
    assert g2["count"] == 1000 and g2["worstHealth"] == "critical" and g2["health"]["critical"] == 1
    assert g2["label"] == "1000 aws.ec2.instance in subnet-2" and len(g2["memberIds"]) == 2
    assert {"src": BIG_SG, "dst": g2["id"], "type": "network", "count": 1000} in d["edges"]
    opened = gql(client, HOOD, id=BIG_SG, budget=20, expand=[g2["id"]])["data"]["neighborhood"]
    assert len(opened["nodes"]) + len(opened["groups"]) == 20
    rest = client.get(f"/api/v1/neighborhood/{BIG_SG}", params={"budget": 20, "expand": g2["id"]}).json()
    assert [n["id"] for n in rest["nodes"]] == [n["id"] for n in opened["nodes"]]
    page = client.get(f"/api/v1/neighborhood/{BIG_SG}", params={"budget": 20, "group": g2["id"], "first": 3}).json()
    assert page["group"] == g2["id"] and len(page["memberIds"]) == 3 and page["endCursor"] == page["memberIds"][-1]
    assert grouping.parse_group_id(g2["id"]) == ("subnet", SUBNETS[2], "aws.ec2.instance")


def test_resource_health_and_drift_as_of(client: TestClient) -> None:
    q = "query($id: ID!, $at: String) { resource(id: $id, at: $at) { id attrs health { status } drift { status } asOf asOfExact asOfGaps } }"
    before = gql(client, q, id=INST[0], at=T(190.0))["data"]["resource"]
    assert before["attrs"] == {"InstanceType": "t3.micro"} and before["health"]["status"] == "critical"
    assert before["asOfExact"] and before["asOfGaps"] == []
    assert gql(client, q, id=INST[1], at=T(310.0))["data"]["resource"] is None  # deleted by then
    assert gql(client, q, id=INST[2], at=T(250.0))["data"]["resource"]["drift"]["status"] == "drifted"
    r = client.get(f"/api/v1/resources/{INST[0]}", params={"at": T(190.0)}).json()
    assert r["attrs"] == {"InstanceType": "t3.micro"} and r["asOf"] == T(190.0) and r["asOfExact"] is True
    assert client.get(f"/api/v1/resources/{INST[1]}", params={"at": T(310.0)}).status_code == 404
    dq = "query($at: String) { driftEvents(first: 10, at: $at) { totalCount edges { node { id status } } } }"
    assert gql(client, dq, at=T(250.0))["data"]["driftEvents"]["edges"] == [{"node": {"id": "d-1", "status": "open"}}]
    assert gql(client, dq, at=T(210.0))["data"]["driftEvents"]["totalCount"] == 0
    items = client.get("/api/v1/drift-events", params={"at": T(290.0)}).json()["items"]
    assert [(i["id"], i["status"]) for i in items] == [("d-1", "resolved")]
    h = gql(client, "query($at: String!) { healthAt(at: $at) { counts { critical unknown } resources { id } } }",
            at=T(200.0))
    assert h["data"]["healthAt"] == {"counts": {"critical": 1, "unknown": 4}, "resources": [{"id": INST[0]}]}
    rest = client.get("/api/v1/health-at", params={"at": T(200.0)}).json()
    assert rest["counts"]["critical"] == 1 and [i["id"] for i in rest["items"]] == [INST[0]]


def test_impact_as_of_graphql_and_rest(client: TestClient) -> None:
    q = """query($id: ID!, $at: String) { impact(id: $id, hops: 2, at: $at) {
      root nodes { id distance resource { id attrs health { status } asOf asOfExact } } } }"""
    now = gql(client, q, id=SUBNET)["data"]["impact"]
    assert {n["id"] for n in now["nodes"]} == {INST[0], INST[2]}
    assert all(n["resource"]["asOf"] is None for n in now["nodes"])
    then = gql(client, q, id=SUBNET, at=T(190.0))["data"]["impact"]
    assert {n["id"] for n in then["nodes"]} == set(INST)  # i-1 and its edges were deleted at 300
    i0 = next(n["resource"] for n in then["nodes"] if n["id"] == INST[0])
    assert i0 == {"id": INST[0], "attrs": {"InstanceType": "t3.micro"}, "health": {"status": "critical"},
                  "asOf": T(190.0), "asOfExact": True}
    assert gql(client, q, id=SUBNET, at=T(50.0))["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    rest = client.get(f"/api/v1/impact/{SUBNET}", params={"hops": 2, "at": T(190.0)}).json()
    assert {n["id"] for n in rest["nodes"]} == set(INST)
    r0 = next(n["resource"] for n in rest["nodes"] if n["id"] == INST[0])
    assert r0["attrs"] == {"InstanceType": "t3.micro"} and r0["asOf"] == T(190.0)
    assert client.get(f"/api/v1/impact/{SUBNET}", params={"at": "yesterday-ish"}).status_code == 400
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert "at" in {p["name"] for p in paths["/api/v1/impact/{id}"]["get"]["parameters"]}


def test_graph_diff_graphql_and_rest(client: TestClient) -> None:
    q = """query($from: String!, $to: String!) { graphDiff(from: $from, to: $to) {
      from to appeared { id } vanished { id } appearedEdges { src } vanishedEdges { src dst type }
      changed { resource { id } exact attributes { name before after } health { before after } who when source
                changes { kind actor } }
      counts { appeared vanished changed vanishedEdges } truncated } }"""
    d = gql(client, q, **{"from": T(120.0), "to": T(310.0)})["data"]["graphDiff"]
    assert [v["id"] for v in d["vanished"]] == [INST[1]] and d["appeared"] == []
    assert {(e["src"], e["dst"]) for e in d["vanishedEdges"]} == {(SUBNET, INST[1]), (SG, INST[1])}
    c0 = next(c for c in d["changed"] if c["resource"]["id"] == INST[0])
    assert c0["attributes"] == [{"name": "attrs.InstanceType", "before": "t3.micro", "after": "t3.large"}]
    assert c0["who"] == "alice" and c0["when"] == T(250.0) and c0["source"] == "pulsesight"
    assert c0["health"] == {"before": "unknown", "after": "healthy"}
    assert d["counts"] == {"appeared": 0, "vanished": 1, "changed": 2, "vanishedEdges": 2} and not d["truncated"]
    rest = client.get("/api/v1/diff", params={"from": T(120.0), "to": T(310.0)}).json()
    assert [v["id"] for v in rest["vanished"]] == [INST[1]]
    r0 = next(c for c in rest["changed"] if c["resource"]["id"] == INST[0])
    assert r0["attributes"] == c0["attributes"] and r0["who"] == "alice"
    assert "state" not in r0["changes"][1]["details"]  # the time-travel snapshot is not served in timelines
    bad = gql(client, q, **{"from": T(310.0), "to": T(120.0)})
    assert bad["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    assert client.get("/api/v1/diff", params={"from": T(1.0)}).status_code == 400


def test_new_fields_are_costed_and_in_openapi(client: TestClient) -> None:
    sel = "nodes { id kind name provider region account attrs tags managedBy firstSeen lastSeen deletedAt asOf " \
          "asOfExact } groups { id memberIds(first: 100) } edges { src dst type count }"
    err = gql(client, "{ neighborhood(id: \"x\", budget: 500) { " + sel + " } }")["errors"][0]
    assert err["extensions"]["code"] == "LIMIT_EXCEEDED"
    # a budget given as a variable is costed at its value, before anything runs
    q = "query($id: ID!, $b: Int!) { neighborhood(id: $id, budget: $b) { " + sel + " } }"
    assert gql(client, q, id=SUBNET, b=500)["errors"][0]["extensions"]["code"] == "LIMIT_EXCEEDED"
    ok = gql(client, q, id=SUBNET, b=60)
    assert "errors" not in ok and ok["data"]["neighborhood"]["nodes"][0]["id"] == SUBNET
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert {"/api/v1/neighborhood/{id}", "/api/v1/diff", "/api/v1/health-at"} <= set(paths)
    assert "at" in {p["name"] for p in paths["/api/v1/resources/{id}"]["get"]["parameters"]}


def test_service_map_grouped_and_as_of(client: TestClient, svc: EngineService) -> None:
    from airdig.engine.apply import Applier
    from airdig.model.events import CloudEvent
    from airdig.model.graph import Node
    from tests.unit.engine.test_timetravel import health, rec

    evs = [CloudEvent(type="airdig.trace.edge", source="tracecore", subject=f"service://ns{k}/s{i}", time=1000.0,
                      data={"src": f"service://ns{k}/s{i}", "dst": "service://core/db", "type": "calls",
                            "window_start": 960.0, "window_seconds": 60,
                            "stats": {"request_count": 10, "error_count": 1, "p95": 5.0 + i}})
           for k in range(3) for i in range(8)]
    db = Node(id="service://core/db", kind="service", provider="otel", name="db")
    evs += [CloudEvent(type="airdig.trace.service", source="tracecore", subject=db.id, time=800.0,
                       data={"node": db.to_dict()}),
            health(db.id, "critical", 900.0), health(db.id, "healthy", 2000.0)]
    Applier(svc.store).apply([rec(e, n) for n, e in enumerate(evs)])
    q = """query($at: String, $b: Int) { serviceMap(at: $at, budget: $b) { grouped nodes { id health { status } }
      groups { id count label } edges { src dst requestCount errorCount p95 } } }"""
    m = gql(client, q, at=T(1010.0), b=10)["data"]["serviceMap"]
    assert m["grouped"] and len(m["nodes"]) + len(m["groups"]) <= 10
    assert m["nodes"] == [{"id": "service://core/db", "health": {"status": "critical"}}]  # critical then
    ns1 = next(g for g in m["groups"] if g["id"] == "group:namespace:ns1:service")
    assert ns1["count"] == 8 and ns1["label"] == "8 service in namespace ns1"
    assert {"src": ns1["id"], "dst": "service://core/db", "requestCount": 80, "errorCount": 8, "p95": 12.0} \
        in m["edges"]
    rest = client.get("/api/v1/service-map", params={"at": T(1010.0), "budget": 10}).json()
    assert rest["grouped"] and {g["id"] for g in rest["groups"]} == {g["id"] for g in m["groups"]}
    plain = gql(client, q, at=T(1010.0))["data"]["serviceMap"]
    assert not plain["grouped"] and len(plain["nodes"]) == 25


def test_service_map_columns_are_the_same_map_as_the_objects(client: TestClient, svc: EngineService) -> None:
    """`serviceMap { columns }` (the UI's payload for large maps) carries what `nodes`/`groups`/`edges`
    carry, with edges as indexes into `ids`, for the same window, `at` and `budget`."""
    from airdig.engine.apply import Applier
    from airdig.model.events import CloudEvent
    from airdig.model.graph import Node
    from tests.unit.engine.test_timetravel import health, rec

    evs = [CloudEvent(type="airdig.trace.edge", source="tracecore", subject=f"service://ns{k}/s{i}", time=1000.0,
                      data={"src": f"service://ns{k}/s{i}", "dst": f"service://ns{(k + 1) % 3}/s{i}", "type": "calls",
                            "window_start": 960.0, "window_seconds": 60,
                            "stats": {"request_count": 10 + i, "error_count": i % 2, "p95": 5.0 + i}})
           for k in range(3) for i in range(6)]
    s1 = Node(id="service://ns0/s1", kind="service", provider="otel", name="s1")
    evs += [CloudEvent(type="airdig.trace.service", source="tracecore", subject=s1.id, time=800.0,
                       data={"node": s1.to_dict()}),
            health(s1.id, "critical", 900.0), health(s1.id, "healthy", 2000.0)]
    Applier(svc.store).apply([rec(e, n) for n, e in enumerate(evs)])
    q = """query($at: String, $b: Int) { serviceMap(at: $at, budget: $b) {
      nodes { id kind name health { status } } groups { id kind label worstHealth }
      edges { src dst requestCount errorCount errorRate p50 p95 p99 }
      columns { ids kinds names health src dst requestCount errorCount errorRate p50 p95 p99 } } }"""
    for budget in (None, 10):
        body = gql(client, q, at=T(1010.0), b=budget)
        assert "errors" not in body, body
        m = body["data"]["serviceMap"]
        c = m["columns"]
        items = [(n["id"], n["kind"], n["name"], n["health"]["status"] if n["health"] else None) for n in m["nodes"]]
        items += [(g["id"], g["kind"], g["label"], g["worstHealth"]) for g in m["groups"]]
        assert list(zip(c["ids"], c["kinds"], c["names"], c["health"], strict=True)) == items
        edges = [{"src": c["ids"][c["src"][j]], "dst": c["ids"][c["dst"][j]],
                  **{f: c[f][j] for f in ("requestCount", "errorCount", "errorRate", "p50", "p95", "p99")}}
                 for j in range(len(c["src"]))]
        assert edges == m["edges"] and len(edges) == (18 if budget is None else len(m["edges"]))
        if budget is None:  # health as of `at`: critical at 1010, healthy only from 2000
            k = c["ids"].index("service://ns0/s1")
            assert (c["names"][k], c["health"][k]) == ("s1", "critical")
        else:
            assert len(c["ids"]) <= 10 and any(i.startswith("group:") for i in c["ids"])
    # fields asked for through fragments are built too (the objects are skipped only when not asked for)
    frag = gql(client, """query($at: String) { serviceMap(at: $at) { ...M ... on ServiceMap { edges { src } } } }
      fragment M on ServiceMap { nodes { id } columns { ids } }""", at=T(1010.0))
    assert "errors" not in frag, frag
    fm = frag["data"]["serviceMap"]
    assert [n["id"] for n in fm["nodes"]] == fm["columns"]["ids"] and len(fm["edges"]) == 18
    # columns alone: the objects are not built, the arrays are the same
    alone = gql(client, "query($at: String) { serviceMap(at: $at) { nodes { id } columns { ids src dst } } }",
                at=T(1010.0))["data"]["serviceMap"]
    assert len(alone["columns"]["ids"]) == len(alone["nodes"]) == 18 and len(alone["columns"]["src"]) == 18


def test_graph_diff_serves_an_attribute_that_appeared_or_vanished(client: TestClient, svc: EngineService) -> None:
    """An attribute added (before: null) or removed (after: null) between the two times is a change like any
    other; the UI's diff view failed with "Cannot return null for non-nullable field" here."""
    from airdig.engine.apply import Applier
    from tests.unit.engine.test_timetravel import inst, rec

    node = dataclasses.replace(inst(2), attrs={**inst(2).attrs, "EbsOptimized": True})
    Applier(svc.store).apply([rec(resource_event("updated", node, "skygraph", changed=["EbsOptimized"],
                                                 time=320.0, actor="bob"), 9)])
    q = """query($from: String!, $to: String!) { graphDiff(from: $from, to: $to) {
      changed { resource { id } attributes { name before after } who } } }"""
    body = gql(client, q, **{"from": T(310.0), "to": T(330.0)})
    assert "errors" not in body, body
    (c,) = body["data"]["graphDiff"]["changed"]
    assert c["resource"]["id"] == INST[2] and c["who"] == "bob"
    assert c["attributes"] == [{"name": "attrs.EbsOptimized", "before": None, "after": True}]
