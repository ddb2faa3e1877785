"""Every listener of `airdig up` (engine, UI, TraceCore OTLP/HTTP, PulseSight) on loopback, real sockets:
a page from another site or a DNS-rebinding page is refused over HTTP and WebSocket; the UI's proxy
forwards Origin and Host so the engine checks what the browser sent; a same-origin browser works."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from airdig.backends.registry import open_bus, open_cache, open_store
from airdig.edge.policy import EdgePolicy
from airdig.engine.app import build_app
from airdig.engine.service import EngineService
from airdig.pulsesight.config import PulseSightConfig
from airdig.pulsesight.serve import start_pulsesight
from airdig.settings import Settings
from airdig.tracecore.serve import TraceCoreOptions, start_tracecore
from airdig.ui.app import build_ui_app
from tests.unit.ui.servers import serve

EVIL = "https://evil.example"
GQL = {"query": "{ __typename }"}


@dataclass
class Listener:
    name: str
    url: str  # http://127.0.0.1:PORT
    method: str
    path: str
    body: bytes | None = None

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def call(self, headers: dict[str, str]) -> httpx.Response:
        return httpx.request(self.method, self.url + self.path, content=self.body, timeout=10,
                             headers={"content-type": "application/json", **headers})


@pytest.fixture(scope="module")
def listeners(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Listener]]:
    data_dir: Path = tmp_path_factory.mktemp("edge")
    settings = Settings.load(overrides={"data_dir": str(data_dir)}, environ={})
    store = open_store(f"sqlite:///{data_dir / 'airdig.db'}")
    store.migrate()
    svc = EngineService(store=store, bus=open_bus(f"embedded://{data_dir / 'bus.db'}"), cache=open_cache("memory://"))
    svc.start(process_events=False)
    loopback = EdgePolicy.for_bind("127.0.0.1")
    tc = start_tracecore(settings, "127.0.0.1", 0, 0, options=TraceCoreOptions(route="local", aggregate=False,
                                                                              store_traces=False))
    ps = start_pulsesight(settings, "127.0.0.1", 0, config=PulseSightConfig(resolver_url=None), rules=[],
                          sources={}, evaluate=False)
    gql = json.dumps(GQL).encode()
    with serve(build_app(svc, policy=loopback, spa=True, graphiql=True)) as engine_url, \
            serve(build_ui_app(engine_url, policy=loopback)) as ui_url:
        yield {
            "engine": Listener("engine", engine_url, "POST", "/graphql", gql),
            "ui": Listener("ui", ui_url, "POST", "/graphql", gql),
            "tracecore": Listener("tracecore", f"http://127.0.0.1:{tc.http_port}", "POST", "/v1/traces", b"{}"),
            "pulsesight": Listener("pulsesight", ps.url, "GET", "/api/v1/health"),
        }
    ps.stop()
    tc.stop()
    svc.stop()


NAMES = ["engine", "ui", "tracecore", "pulsesight"]


@pytest.mark.parametrize("name", NAMES)
def test_same_origin_and_non_browser_callers_are_served(listeners: dict[str, Listener], name: str) -> None:
    lst = listeners[name]
    assert lst.call({}).status_code == 200
    assert lst.call({"Origin": lst.url}).status_code == 200
    assert lst.call({"Origin": f"http://localhost:{lst.port}", "Host": f"localhost:{lst.port}"}).status_code == 200


@pytest.mark.parametrize("name", NAMES)
def test_hostile_origin_http_is_refused(listeners: dict[str, Listener], name: str) -> None:
    lst = listeners[name]
    for origin in (EVIL, "null", f"http://127.0.0.1:{lst.port + 1}"):
        r = lst.call({"Origin": origin})
        assert r.status_code == 403, (origin, r.status_code, r.text)
        assert r.json()["code"] == "FORBIDDEN"


@pytest.mark.parametrize("name", NAMES)
def test_dns_rebinding_host_is_refused(listeners: dict[str, Listener], name: str) -> None:
    lst = listeners[name]
    for host in (f"evil.example:{lst.port}", f"127.0.0.1.nip.io:{lst.port}", "127.0.0.1:1", "127.0.0.1"):
        r = lst.call({"Host": host})
        assert r.status_code == 403, (host, r.status_code)
    # and its probes, metrics and pages likewise: nothing answers a rebound name
    assert httpx.get(lst.url + "/metrics", headers={"Host": f"evil.example:{lst.port}"}).status_code == 403


def _ws(url: str, origin: str | None) -> str:
    ws_url = url.replace("http://", "ws://") + "/graphql"
    with ws_connect(ws_url, origin=origin, subprotocols=["graphql-transport-ws"],  # type: ignore[arg-type]
                    open_timeout=5) as ws:
        ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        return json.loads(ws.recv(timeout=5))["type"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", NAMES)
def test_hostile_origin_websocket_is_refused(listeners: dict[str, Listener], name: str) -> None:
    with pytest.raises(InvalidStatus) as info:
        _ws(listeners[name].url, EVIL)
    assert info.value.response.status_code == 403


@pytest.mark.parametrize("name", ["engine", "ui"])
def test_same_origin_websocket_gets_connection_ack(listeners: dict[str, Listener], name: str) -> None:
    """Through the UI the engine sees the browser's Origin and the UI's Host (X-Forwarded-Host)."""
    assert _ws(listeners[name].url, listeners[name].url) == "connection_ack"


def test_engine_serves_the_spa_in_loopback_dev_mode(listeners: dict[str, Listener]) -> None:
    engine = listeners["engine"].url
    r = httpx.get(engine + "/")
    assert r.status_code == 200 and "<html" in r.text.lower()
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert httpx.get(engine + "/static/js/api.js").status_code == 200


def test_with_auth_on_every_listener_asks_for_the_engines_token(tmp_path: Path) -> None:
    """`airdig up` with auth on: the engine, the UI (through to the engine), TraceCore's OTLP/HTTP and
    PulseSight's webhooks and read API all take the same API tokens and refuse requests without one; a
    viewer token reads everywhere but is refused (403) where data is sent in, an editor token writes."""
    from airdig.engine.auth import Authenticator, TokenService

    settings = Settings.load(overrides={"data_dir": str(tmp_path)}, environ={})
    store = open_store(f"sqlite:///{tmp_path / 'airdig.db'}")
    store.migrate()
    svc = EngineService(store=store, bus=open_bus(f"embedded://{tmp_path / 'bus.db'}"), cache=open_cache("memory://"))
    svc.start(process_events=False)
    token, _ = TokenService(store).create("ops", "viewer")
    writer, _ = TokenService(store).create("collector", "editor")
    authenticator = Authenticator(store, required=True)
    verify = authenticator.aprincipal
    loopback = EdgePolicy.for_bind("127.0.0.1")
    tc = start_tracecore(settings, "127.0.0.1", 0, 0, options=TraceCoreOptions(route="local", aggregate=False,
                                                                              store_traces=False), tokens=authenticator)
    ps = start_pulsesight(settings, "127.0.0.1", 0, config=PulseSightConfig(resolver_url=None), rules=[],
                          sources={}, evaluate=False, tokens=verify)
    gql = json.dumps(GQL).encode()
    try:
        with serve(build_app(svc, require_auth=True, policy=loopback, spa=True)) as engine_url, \
                serve(build_ui_app(engine_url, policy=loopback)) as ui_url:
            for lst, viewer_may in ((Listener("engine", engine_url, "POST", "/graphql", gql), True),
                                    (Listener("ui", ui_url, "POST", "/graphql", gql), True),
                                    (Listener("tracecore", f"http://127.0.0.1:{tc.http_port}", "POST", "/v1/traces",
                                              b"{}"), False),
                                    (Listener("pulsesight", ps.url, "GET", "/api/v1/security-events"), True),
                                    (Listener("pulsesight", ps.url, "POST", "/webhooks/falco", b"[]"), False)):
                assert lst.call({}).status_code == 401, lst
                assert lst.call({"Authorization": "Bearer adg_wrong"}).status_code == 401, lst
                refused = lst.call({"Authorization": f"Bearer {token}"})
                assert refused.status_code == (200 if viewer_may else 403), lst
                if not viewer_may:
                    assert refused.json()["code"] == "FORBIDDEN" and token not in refused.text
                assert lst.call({"Authorization": f"Bearer {writer}"}).status_code == 200, lst
                assert httpx.get(lst.url + "/healthz").status_code == 200  # probes stay open
            assert httpx.get(engine_url + "/").status_code == 200  # the SPA's shell: no data in it
    finally:
        ps.stop()
        tc.stop()
        svc.stop()
