"""GraphQL subscriptions over graphql-transport-ws on real HTTP servers (uvicorn), one or two replicas.

The two-replica case is the point of the fan-out: replica A does not consume events at all, replica B
applies them, and A's WebSocket client still sees every update (through Redis pub/sub).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect

from airdig.backends.registry import open_bus, open_cache, open_store
from airdig.engine.api.graphql.subscriptions import FanoutHub
from airdig.engine.app import build_app
from airdig.engine.auth import TokenService
from airdig.engine.service import EngineService
from airdig.model.events import CloudEvent, resource_event
from airdig.model.graph import Node

ACCOUNT = "123456789012"


def instance(n: int) -> Node:
    return Node(id=f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-{n:04x}", kind="aws.ec2.instance", provider="aws",
                account=ACCOUNT, region="us-east-1", name=f"web-{n}")


class _ThreadServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # signals belong to the main thread (pytest)
        yield


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve an ASGI app on a free loopback port in a thread; yields its ws:// URL of /graphql."""
    server = _ThreadServer(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False,
                                          lifespan="off", ws="websockets-sansio"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise AssertionError("uvicorn did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"ws://127.0.0.1:{port}/graphql"
    finally:
        server.should_exit = True
        thread.join(10)


def make_service(store_url: str, bus_url: str, cache_url: str, group: str, process: bool) -> EngineService:
    store = open_store(store_url)
    store.migrate()
    svc = EngineService(store=store, bus=open_bus(bus_url), cache=open_cache(cache_url), group=group)
    svc.start(process_events=process)
    return svc


def publish(svc: EngineService, *events: CloudEvent) -> None:
    for ev in events:
        svc.bus.publish(ev.topic, ev.subject, ev.encode())
    svc.bus.flush()


async def open_subscription(url: str, query: str, token: str | None = None, sub_id: str = "1") -> ClientConnection:
    ws = await connect(url, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    await ws.send(json.dumps({"type": "connection_init",
                              "payload": {"Authorization": f"Bearer {token}"} if token else {}}))
    ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert ack["type"] == "connection_ack", ack
    await ws.send(json.dumps({"id": sub_id, "type": "subscribe", "payload": {"query": query}}))
    return ws


async def next_data(ws: ClientConnection, timeout: float = 60) -> dict[str, Any]:
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if msg["type"] == "ping":
            await ws.send(json.dumps({"type": "pong"}))
            continue
        assert msg["type"] == "next", msg
        data: dict[str, Any] = msg["payload"]["data"]
        return data


async def wait_listeners(hub: FanoutHub, n: int) -> None:
    """The server registered the subscriptions (there is no protocol message that says so)."""
    deadline = time.monotonic() + 10
    while hub.listener_count < n:
        if time.monotonic() > deadline:
            raise AssertionError(f"{hub.listener_count} of {n} subscriptions registered")
        await asyncio.sleep(0.02)


@pytest.mark.servers
def test_subscriber_on_replica_a_sees_update_applied_by_replica_b(mysql_url: str, kafka_url: str,
                                                                   redis_url: str) -> None:
    a = make_service(mysql_url, kafka_url, redis_url, "subs", process=False)
    b = make_service(mysql_url, kafka_url, redis_url, "subs", process=True)
    token, _ = TokenService(a.store).create("ui", "viewer")
    app_a = build_app(a, require_auth=True)  # the token travels in connection_init
    app_b = build_app(b)
    node = instance(1)
    try:
        with serve(app_a) as url_a, serve(app_b) as url_b:
            async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
                ws_a = await open_subscription(url_a, "subscription { resourceUpdated { id action time } }", token)
                ws_b = await open_subscription(url_b, f'subscription {{ resourceUpdated(id: "{node.id}") '
                                                      "{ id action } }")
                await wait_listeners(app_a.state.hub, 1)
                await wait_listeners(app_b.state.hub, 1)
                assert a.processor is None and b.processor is not None  # only B applies
                publish(b, resource_event("created", node, "test"))
                got_a, got_b = await asyncio.gather(next_data(ws_a), next_data(ws_b))
                await ws_a.close()
                await ws_b.close()
                return got_a, got_b

            got_a, got_b = asyncio.run(scenario())
        assert got_a["resourceUpdated"]["id"] == node.id and got_a["resourceUpdated"]["action"] == "created"
        assert got_a["resourceUpdated"]["time"].endswith("Z")
        assert got_b == {"resourceUpdated": {"id": node.id, "action": "created"}}
        assert a.store.get_node(node.id) is not None
    finally:
        a.stop()
        b.stop()


def test_subscriptions_on_the_embedded_stack(data_dir: Path) -> None:
    svc = make_service(f"sqlite:///{data_dir / 'airdig.db'}", f"embedded://{data_dir / 'bus.db'}", "memory://",
                       "subs", process=True)
    app = build_app(svc)
    watched, other = instance(2), instance(3)
    sg = f"arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/sg-0abc"
    try:
        with serve(app) as url:
            async def scenario() -> list[dict[str, Any]]:
                ws_res = await open_subscription(url, f'subscription {{ resourceUpdated(id: "{watched.id}") '
                                                      "{ id action } }")
                ws_drift = await open_subscription(url, "subscription { driftDetected { id resourceId severity "
                                                        "kind time } }")
                ws_alert = await open_subscription(url, "subscription { alertFired { nodeId status reasons } }")
                await wait_listeners(app.state.hub, 3)
                publish(svc, resource_event("created", other, "test"), resource_event("updated", watched, "test"))
                publish(svc, CloudEvent(type="airdig.drift.detected", source="deepdrift", subject=sg, data={
                    "id": "drift-9", "resource_id": sg, "resource_type": "aws_security_group", "kind": "changed",
                    "severity": "high", "diffs": [], "cause": None, "remediation": None}))
                publish(svc, CloudEvent(type="airdig.health.changed", source="pulsesight", subject=watched.id,
                                        data={"node_id": watched.id, "status": "critical", "previous": "healthy",
                                              "reasons": [{"rule": "cpu", "message": "cpu 99%"}]}))
                got = [await next_data(ws_res, 30), await next_data(ws_drift, 30), await next_data(ws_alert, 30)]
                for ws in (ws_res, ws_drift, ws_alert):
                    await ws.close()
                return got

            res, drift, alert = asyncio.run(scenario())
        # the update of the other instance was filtered out: the first message is the watched one's
        assert res == {"resourceUpdated": {"id": watched.id, "action": "updated"}}
        assert {k: v for k, v in drift["driftDetected"].items() if k != "time"} == {
            "id": "drift-9", "resourceId": sg, "severity": "high", "kind": "changed"}
        assert alert == {"alertFired": {"nodeId": watched.id, "status": "critical",
                                        "reasons": [{"rule": "cpu", "message": "cpu 99%"}]}}
        assert app.state.hub.listener_count == 0  # closed subscriptions leave the hub
    finally:
        svc.stop()


def test_slow_subscriber_loses_oldest_updates_only() -> None:
    """A bounded queue per client: when full, the oldest notice goes and the drop is counted."""
    cache = open_cache("memory://")
    hub = FanoutHub(cache, queue_size=3)

    async def scenario() -> list[str]:
        with hub.listen(["resourceUpdated"]) as sub:
            for i in range(5):
                cache.publish("graph-changes", json.dumps({"channel": "resourceUpdated",
                                                           "payload": {"id": f"n{i}"}}).encode())
            cache.publish("graph-changes", json.dumps({"channel": "driftDetected", "payload": {}}).encode())
            cache.publish("graph-changes", b"not json")
            await asyncio.sleep(0.05)  # let the loop run the hand-overs
            got = [sub.queue.get_nowait()[1]["id"] for _ in range(sub.queue.qsize())]
            assert sub.dropped == 2
            return got

    assert asyncio.run(scenario()) == ["n2", "n3", "n4"]
    assert hub.dropped == 2 and hub.listener_count == 0
    hub.close()
    cache.close()
