"""The engine behind the edge: route-template metrics, a token on every route, GraphQL limits as
LIMIT_EXCEEDED, fragment spreads costed, GraphiQL only in loopback dev mode, probes with hooks."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.testclient import TestClient

from airdig.backends.registry import open_bus, open_cache, open_store
from airdig.edge.policy import EdgePolicy, auth_required
from airdig.engine.app import build_app
from airdig.engine.auth import TokenService
from airdig.engine.service import EngineService
from airdig.errors import ConfigError


@pytest.fixture
def svc(data_dir: Path) -> Iterator[EngineService]:
    store = open_store(f"sqlite:///{data_dir / 'airdig.db'}")
    store.migrate()
    service = EngineService(store=store, bus=open_bus(f"embedded://{data_dir / 'bus.db'}"),
                            cache=open_cache("memory://"), group="edge-test")
    service.start(process_events=False)
    yield service
    service.stop()


def series(svc: EngineService) -> set[tuple[str, str]]:
    out = set()
    for family in svc.metrics.registry.collect():
        if family.name == "airdig_http_requests":
            for s in family.samples:
                if s.name == "airdig_http_requests_total":
                    out.add((s.labels["route"], s.labels["status"]))
    return out


def test_1000_junk_paths_add_no_metric_series(svc: EngineService) -> None:
    with TestClient(build_app(svc)) as client:
        client.get("/healthz")
        client.get("/api/v1/resources/arn:aws:ec2:us-east-1:1:instance/i-1")
        before = series(svc)
        for i in range(1000):
            client.get(f"/api/v1/junk-{i}/x")
            client.get(f"/wp-admin-{i}.php")
        after = series(svc)
    assert ("/api/v1/resources/{id:path}", "404") in before  # the template, not the id
    assert after - before == {("unmatched", "404")}


def test_refusals_are_counted_under_the_route_template(svc: EngineService) -> None:
    with TestClient(build_app(svc, require_auth=True)) as client:
        for i in range(50):
            assert client.get(f"/api/v1/resources/node-{i}").status_code == 401
    assert ("/api/v1/resources/{id:path}", "401") in series(svc)
    assert len(series(svc)) == 1


def _concrete(path: str) -> str:
    return path.replace("{id:path}", "some-id").replace("{id}", "some-id").replace("{path:path}", "x")


def test_every_route_without_a_token_is_401_when_auth_is_on(svc: EngineService) -> None:
    app = build_app(svc, require_auth=True, spa=True)
    public = {"/healthz", "/readyz", "/metrics", "/", "/index.html", "/ui/config.json"}
    checked = 0
    with TestClient(app) as client:
        for route in app.routes:
            if isinstance(route, Mount):
                assert route.path == "/static"  # the SPA's files: public, no data
                continue
            if isinstance(route, WebSocketRoute):
                continue  # below
            assert isinstance(route, Route)
            if route.path in public:
                continue
            for method in sorted(route.methods or {"GET"}):
                if method == "HEAD":
                    continue
                r = client.request(method, _concrete(route.path))
                assert r.status_code == 401, (method, route.path, r.status_code)
                assert r.headers["www-authenticate"].startswith("Bearer")
                checked += 1
        assert client.get("/no/such/route").status_code == 401  # unknown paths too: no probing without a token
        with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
            ws.send_json({"type": "connection_init", "payload": {}})
            with pytest.raises(Exception):  # noqa: B017 (the server closes the socket with 4403)
                ws.receive_json()
    assert checked >= 15


def test_token_works_everywhere_and_is_never_taken_from_the_url(svc: EngineService) -> None:
    token, _ = TokenService(svc.store).create("reader", "viewer")
    with TestClient(build_app(svc, require_auth=True)) as client:
        assert client.get("/api/v1/resources?first=1", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert client.get(f"/api/v1/resources?first=1&token={token}&access_token={token}").status_code == 401


def gql(client: TestClient, query: str) -> dict[str, Any]:
    body: dict[str, Any] = client.post("/graphql", json={"query": query}).json()
    return body


def test_depth_alias_and_cost_violations_are_limit_exceeded(svc: EngineService) -> None:
    with TestClient(build_app(svc)) as client:
        deep = '{ impact(id: "x") { nodes { resource { health { ' + "a { " * 16 + "b" + " }" * 16 + " } } } } }"
        aliases = "{ " + " ".join(f'a{i}: resource(id: "x") {{ id }}' for i in range(40)) + " }"
        costly = "{ " + " ".join(f'r{i}: rootCause(id: "x") {{ symptom }}' for i in range(25)) + " }"
        for query in (deep, aliases, costly):
            err = gql(client, query)["errors"][0]
            assert err["extensions"]["code"] == "LIMIT_EXCEEDED", err
        err = gql(client, '{ resource(id: "x") { nosuchfield } }')["errors"][0]
        assert err["extensions"]["code"] == "GRAPHQL_VALIDATION"  # wrong, not too big


def test_fragment_spreads_are_costed(svc: EngineService) -> None:
    """25 root causes hidden in a fragment spread cost the same as written out (25,000 > 10,000)."""
    fields = " ".join(f'r{i}: rootCause(id: "x") {{ symptom }}' for i in range(25))
    with TestClient(build_app(svc)) as client:
        via_fragment = gql(client, f"query {{ ...F }} fragment F on Query {{ {fields} }}")
        assert via_fragment["errors"][0]["extensions"]["code"] == "LIMIT_EXCEEDED"
        assert "query cost" in via_fragment["errors"][0]["message"]
        inline = gql(client, f"query {{ ... on Query {{ {fields} }} }}")
        assert inline["errors"][0]["extensions"]["code"] == "LIMIT_EXCEEDED"
        # lists multiply what a fragment spread inside them costs
        pages = " ".join(f"p{i}: resources(first: 100) {{ edges {{ node {{ ...R }} }} }}" for i in range(5))
        page = gql(client, "query { " + pages + " } fragment R on Resource { "
                   + " ".join(f"f{i}: id" for i in range(20)) + " }")  # 5 x (201 + 100 x 20) = 11,005
        assert page["errors"][0]["extensions"]["code"] == "LIMIT_EXCEEDED"
        small = gql(client, 'query { ...F } fragment F on Query { resource(id: "x") { id } }')
        assert "errors" not in small and small["data"] == {"resource": None}


def test_graphiql_only_in_loopback_dev_mode(svc: EngineService) -> None:
    html = {"Accept": "text/html"}
    with TestClient(build_app(svc)) as client:
        r = client.get("/graphql", headers=html)
        assert "graphiql" not in r.text.lower()
    with TestClient(build_app(svc, graphiql=True)) as client:
        assert "graphiql" in client.get("/graphql", headers=html).text.lower()


def test_liveness_runs_registered_checks_readiness_reports_backends(svc: EngineService) -> None:
    with TestClient(build_app(svc)) as client:
        # the supervisor of the engine's threads is registered from the start
        assert client.get("/healthz").json() == {"status": "ok", "checks": {"threads": "ok"}}
        svc.liveness_checks["apply-thread"] = lambda: "thread apply is dead"
        r = client.get("/healthz")
        assert r.status_code == 503 and r.json()["checks"]["apply-thread"] == "thread apply is dead"
        del svc.liveness_checks["apply-thread"]
        r = client.get("/readyz")
        assert r.status_code == 200, r.text
        assert r.json()["checks"] == {"store": "ok", "bus": "ok", "cache": "ok", "processor": "ok"}


def test_readiness_times_out_a_hung_backend_and_caches_the_verdict(svc: EngineService,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def hung() -> None:
        calls.append(1)
        time.sleep(4)

    monkeypatch.setattr(svc.store, "ping", hung)
    with TestClient(build_app(svc)) as client:
        started = time.monotonic()
        r = client.get("/readyz")
        assert time.monotonic() - started < 3.5
        assert r.status_code == 503 and "no answer within" in r.json()["checks"]["store"]
        client.get("/readyz")  # within the cache window: no second ping
        assert len(calls) == 1


def test_auth_setting_rules() -> None:
    assert auth_required(None, ["127.0.0.1"]) is True  # on by default, loopback or not
    assert auth_required(None, ["0.0.0.0"]) is True
    assert auth_required(None, ["127.0.0.1"], dev_default=True) is False  # airdig up / demo on loopback
    assert auth_required(None, ["0.0.0.0"], dev_default=True) is True
    assert auth_required(True, ["127.0.0.1"], dev_default=True) is True
    assert auth_required(False, ["::1", "localhost"]) is False
    with pytest.raises(ConfigError, match="loopback"):
        auth_required(False, ["0.0.0.0"])


def test_loopback_policy_from_bind() -> None:
    assert EdgePolicy.for_bind("127.0.0.1").loopback and EdgePolicy.for_bind("::1").loopback
    assert not EdgePolicy.for_bind("0.0.0.0").loopback
    assert EdgePolicy.for_bind("10.0.0.1", allowed_origins=["HTTPS://Ops.Example.com:443/"]).allowed_origins == {
        "https://ops.example.com"}
