"""The UI server: static SPA files, the engine proxy (HTTP and WebSocket), probes and metrics."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from airdig.ui.app import STATIC_DIR, build_ui_app
from airdig.ui.proxy import ws_url
from tests.unit.ui.servers import free_port, serve


async def _graphql(request: Request) -> Response:
    body = orjson.loads(await request.body()) if request.method == "POST" else {}
    return JSONResponse({"data": {"echo": {
        "method": request.method, "query": body.get("query"), "variables": body.get("variables"),
        "authorization": request.headers.get("authorization"), "forwarded_for": request.headers.get("x-forwarded-for"),
        "host": request.headers.get("host"), "qs": request.url.query, "origin": request.headers.get("origin"),
        "forwarded_host": request.headers.get("x-forwarded-host")}}})


async def _api(request: Request) -> Response:
    if request.path_params["rest"] == "missing":
        return JSONResponse({"error": {"code": "NOT_FOUND", "message": "no such thing"}}, status_code=404)
    return JSONResponse({"path": request.url.path, "qs": request.url.query, "method": request.method,
                         "body": (await request.body()).decode()}, headers={"x-engine": "fake"})


async def _healthz(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def _ws(ws: WebSocket) -> None:
    """Just enough graphql-transport-ws: ack the init (echoing its payload), answer one subscribe."""
    await ws.accept(subprotocol="graphql-transport-ws")
    init = await ws.receive_json()
    await ws.send_json({"type": "connection_ack", "payload": {"init": init.get("payload")}})
    sub = await ws.receive_json()
    await ws.send_json({"id": sub["id"], "type": "next", "payload": {"data": {"resourceUpdated": {"id": "x"}}}})
    await ws.send_json({"id": sub["id"], "type": "complete"})
    await ws.close(code=4400, reason="fake engine done")


def fake_engine() -> Starlette:
    return Starlette(routes=[Route("/graphql", _graphql, methods=["GET", "POST"]), WebSocketRoute("/graphql", _ws),
                             Route("/api/v1/{rest:path}", _api, methods=["GET", "POST", "DELETE"]),
                             Route("/healthz", _healthz)])


@pytest.fixture(scope="module")
def engine_url() -> Iterator[str]:
    with serve(fake_engine()) as url:
        yield url


@pytest.fixture
def ui(engine_url: str) -> Iterator[TestClient]:
    with TestClient(build_ui_app(engine_url)) as c:
        yield c


@pytest.fixture
def dead_ui() -> Iterator[TestClient]:
    with TestClient(build_ui_app(f"http://127.0.0.1:{free_port()}")) as c:
        yield c


# ------------------------------------------------------------------ static files


def test_index_is_the_spa_shell_with_strict_headers(ui: TestClient) -> None:
    r = ui.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/static/js/main.js">' in r.text
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert r.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("path,ctype", [("/static/app.css", "text/css"), ("/static/js/main.js", "javascript"),
                                        ("/static/js/views/resource.js", "javascript")])
def test_static_assets_are_served(ui: TestClient, path: str, ctype: str) -> None:
    r = ui.get(path)
    assert r.status_code == 200
    assert ctype in r.headers["content-type"]
    assert r.content == (STATIC_DIR / path.removeprefix("/static/")).read_bytes()


def test_static_files_reference_nothing_off_origin() -> None:
    """No CDN, no npm at run time: every import is relative and every file the SPA imports exists; the
    vendored renderer (classic UMD scripts, loaded by graph.js from /static/vendor) names no URL either."""
    import re

    vendor = STATIC_DIR / "vendor"
    for f in STATIC_DIR.rglob("*.js"):
        text = f.read_text().replace("http://www.w3.org/2000/svg", "")  # a namespace name, never fetched
        assert "http://" not in text and "https://" not in text, f
        if vendor in f.parents:
            continue  # minified third-party code: its strings are not ES imports
        for spec in re.findall(r'from "([^"]+)"', text):
            assert spec.startswith("."), f"{f}: bare import {spec}"
            assert (f.parent / spec).resolve().is_file(), f"{f}: missing {spec}"
        for src in re.findall(r'"(/static/vendor/[^"]+)"', text):  # the renderer graph.js loads
            assert (STATIC_DIR / src.removeprefix("/static/")).is_file(), f"{f}: missing {src}"


def test_vendored_renderer_is_pinned_with_its_licence() -> None:
    """docs/ui.md names the versions; VERSIONS holds them with the files' sha256 (scripts/ui/vendor)."""
    import hashlib

    vendor = STATIC_DIR / "vendor"
    lines = dict(line.split(" ", 1) for line in (vendor / "VERSIONS").read_text().splitlines())
    for name, file in (("sigma", "sigma.min.js"), ("graphology", "graphology.umd.min.js")):
        version, digest = lines[name].split(" sha256:")
        assert hashlib.sha256((vendor / file).read_bytes()).hexdigest() == digest, file
        assert (vendor / f"LICENSE-{name}.txt").read_text().strip(), name
        assert f"{name} {version}" in (STATIC_DIR.parents[2] / "docs" / "ui.md").read_text(), f"docs/ui.md: {name} {version}"


def test_unknown_static_file_is_404_and_traversal_refused(ui: TestClient) -> None:
    assert ui.get("/static/nope.js").status_code == 404
    assert ui.get("/static/../app.py").status_code == 404


# ------------------------------------------------------------------ proxy


def test_graphql_post_is_forwarded_with_token_and_forwarded_for(ui: TestClient) -> None:
    r = ui.post("/graphql", json={"query": "{ a }", "variables": {"x": 1}}, headers={"Authorization": "Bearer tok"})
    assert r.status_code == 200
    echo = r.json()["data"]["echo"]
    assert echo["method"] == "POST"
    assert echo["query"] == "{ a }" and echo["variables"] == {"x": 1}
    assert echo["authorization"] == "Bearer tok"
    assert echo["forwarded_for"]
    assert echo["host"].startswith("127.0.0.1:")  # the engine's own host, not the UI's


def test_origin_and_host_are_forwarded_and_hostile_origins_refused(ui: TestClient) -> None:
    """The engine checks Origin too: it needs the browser's Origin and the host the browser asked for."""
    r = ui.post("/graphql", json={"query": "{ a }"}, headers={"Origin": "http://testserver"})
    echo = r.json()["data"]["echo"]
    assert echo["origin"] == "http://testserver" and echo["forwarded_host"] == "testserver"
    r = ui.post("/graphql", json={"query": "{ a }"}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and r.json()["code"] == "FORBIDDEN"  # refused here, never forwarded
    with pytest.raises(WebSocketDisconnect), ui.websocket_connect(
            "/graphql", subprotocols=["graphql-transport-ws"], headers={"Origin": "https://evil.example"}):
        pass


def test_graphql_get_keeps_query_string(ui: TestClient) -> None:
    r = ui.get("/graphql", params={"query": "{ b }"})
    assert r.json()["data"]["echo"]["qs"] == "query=%7B+b+%7D"


def test_api_paths_methods_status_and_headers_are_forwarded(ui: TestClient) -> None:
    r = ui.get("/api/v1/resources/arn:aws:ec2:x/i-1?first=5")
    assert r.status_code == 200
    assert r.json() == {"path": "/api/v1/resources/arn:aws:ec2:x/i-1", "qs": "first=5", "method": "GET", "body": ""}
    assert r.headers["x-engine"] == "fake"
    r = ui.post("/api/v1/things", content=b"payload")
    assert r.json()["body"] == "payload"
    r = ui.get("/api/v1/missing")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "NOT_FOUND"


def test_unreachable_engine_gives_502_naming_the_url(dead_ui: TestClient) -> None:
    r = dead_ui.post("/graphql", json={"query": "{ a }"})
    assert r.status_code == 502
    err = r.json()["errors"][0]
    assert err["extensions"]["code"] == "ENGINE_UNAVAILABLE"
    assert "unreachable" in err["message"] and "127.0.0.1" in err["message"]
    r = dead_ui.get("/api/v1/resources")
    assert r.status_code == 502
    assert r.json()["error"]["code"] == "ENGINE_UNAVAILABLE"


def test_websocket_is_relayed_with_subprotocol(ui: TestClient) -> None:
    with ui.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        assert ws.accepted_subprotocol == "graphql-transport-ws"
        ws.send_json({"type": "connection_init", "payload": {"Authorization": "Bearer t"}})
        ack = ws.receive_json()
        assert ack == {"type": "connection_ack", "payload": {"init": {"Authorization": "Bearer t"}}}
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": "subscription { resourceUpdated { id } }"}})
        assert ws.receive_json()["payload"]["data"]["resourceUpdated"] == {"id": "x"}
        assert ws.receive_json() == {"id": "1", "type": "complete"}
        closed: dict[str, Any] = ws.receive()
        assert closed["type"] == "websocket.close"
        assert closed["code"] == 4400  # the engine's close code reaches the browser


def test_websocket_to_dead_engine_closes_with_reason(dead_ui: TestClient) -> None:
    with dead_ui.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        msg = ws.receive()
        assert msg["type"] == "websocket.close"
        assert msg["code"] == 1011
        assert "engine websocket unavailable" in msg["reason"]


def test_ws_url() -> None:
    assert ws_url("http://e:8080/", "/graphql") == "ws://e:8080/graphql"
    assert ws_url("https://e/base", "/graphql") == "wss://e/base/graphql"


def test_bad_engine_url_is_refused() -> None:
    from airdig.errors import InvalidInput

    with pytest.raises(InvalidInput, match="engine_url"):
        build_ui_app("engine:8080")


# ------------------------------------------------------------------ probes, metrics, CLI


def test_probes(ui: TestClient, dead_ui: TestClient) -> None:
    assert ui.get("/healthz").json() == {"status": "ok"}
    r = ui.get("/readyz")
    assert r.status_code == 200 and r.json()["checks"] == {"engine": "ok"}
    assert dead_ui.get("/healthz").status_code == 200  # alive even when the engine is not
    r = dead_ui.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"]["engine"].startswith("error: engine at http://127.0.0.1:")


def test_metrics_count_proxied_requests(ui: TestClient) -> None:
    ui.post("/graphql", json={"query": "{ a }"})
    ui.get("/api/v1/missing")
    text = ui.get("/metrics").text
    assert 'airdig_ui_proxy_requests_total{route="graphql",status="200"} 1.0' in text
    assert 'airdig_ui_proxy_requests_total{route="api",status="404"} 1.0' in text
    assert "airdig_ui_websocket_sessions" in text


def test_cli_help_and_registration() -> None:
    from airdig.cli.main import cli

    r = CliRunner().invoke(cli, ["ui", "--help"])
    assert r.exit_code == 0
    for opt in ("--host", "--port", "--engine-url", "AIRDIG_ENGINE_URL"):
        assert opt in r.output
    r = CliRunner().invoke(cli, ["ui", "--engine-url", "not-a-url"])
    assert r.exit_code == 2
    assert "engine_url" in r.output
