"""The running PulseSight HTTP server: Falco and Alertmanager webhooks in real formats map to the right
nodes; bad bodies and missing secrets are rejected with a reason; a failing Prometheus makes health
unknown while the service stays up."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from airdig.backends.registry import open_bus
from airdig.errors import ConfigError
from airdig.model.events import TOPIC_HEALTH, CloudEvent
from airdig.pulsesight.config import PulseSightConfig
from airdig.pulsesight.mapping import StaticResolver
from airdig.pulsesight.rules import parse_rule
from airdig.pulsesight.serve import PulseSightHandle, start_pulsesight
from airdig.pulsesight.sources.prometheus import PrometheusSource
from airdig.settings import Settings

DATA = Path(__file__).parents[2] / "data" / "pulsesight"
SECRET = "s3cret-token"
AUTH = {"Authorization": f"Bearer {SECRET}"}
INSTANCE = "arn:aws:ec2:eu-west-1:123456789012:instance/i-0abc123def4567890"
RDS = "arn:aws:rds:eu-west-1:123456789012:db:orders-db"
CART = "k8s://prod/shop/pod/cart-7d4b9c-x2x1"
NGINX = "k8s://prod/web/pod/nginx-6d8f7b-abcde"


def _settings(data_dir: Path) -> Settings:
    return Settings.load(overrides={"data_dir": str(data_dir)}, environ={})


def _start(data_dir: Path, **kwargs: Any) -> PulseSightHandle:
    return start_pulsesight(
        _settings(data_dir), "127.0.0.1", 0, config=PulseSightConfig(secret=SECRET, resolver_url=None),
        bus=kwargs.pop("bus", None), resolver=StaticResolver.from_file(DATA / "node_map.yaml"),
        rules=kwargs.pop("rules", []), sources=kwargs.pop("sources", {}), evaluate=False, **kwargs)


@pytest.fixture
def server(data_dir: Path) -> Iterator[PulseSightHandle]:
    bus = open_bus(f"embedded://{data_dir / 'bus.db'}")
    handle = _start(data_dir, bus=bus)
    yield handle
    handle.stop()
    bus.close()


def _post(handle: PulseSightHandle, path: str, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{handle.url}{path}", content=body, headers=AUTH if headers is None else headers, timeout=5)


def _health(handle: PulseSightHandle, node: str) -> dict[str, Any]:
    r = httpx.get(f"{handle.url}/api/v1/health", params={"node_id": node}, headers=AUTH, timeout=5)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_falco_events_map_to_pods_containers_and_unmapped_hosts(server: PulseSightHandle) -> None:
    server.pulsesight.clock = lambda: 1_706_778_725.0  # 4 s after the container event
    server.pulsesight.falco_hold = 300
    for name in ("falco_pod_event.json", "falco_container_event.json", "falco_host_event.json"):
        r = _post(server, "/webhooks/falco", (DATA / name).read_bytes())
        assert r.status_code == 200, r.text
    by_node = {e["node_id"]: e for e in httpx.get(f"{server.url}/api/v1/security-events", headers=AUTH).json()["events"]}
    assert set(by_node) == {CART, NGINX, None}
    assert by_node[CART]["rule"] == "Read sensitive file untrusted"
    assert by_node[CART]["time"] == "2023-05-23T16:35:47.123456789Z"  # nanoseconds kept as sent
    assert by_node[NGINX]["fields"]["container.id"] == "9f2c1e0b7a44"  # 12-char prefix matched the full id
    assert by_node[None]["hostname"] == "bastion-unknown"
    # a fresh Critical event makes its node critical; the 2023 Warning is too old to score
    assert _health(server, NGINX)["status"] == "critical"
    assert httpx.get(f"{server.url}/api/v1/health", params={"node_id": CART}, headers=AUTH).status_code == 404
    unmapped = httpx.get(f"{server.url}/api/v1/unmapped", headers=AUTH).json()["unmapped"]
    assert [(u["source"], u["labels"]["hostname"]) for u in unmapped] == [("falco", "bastion-unknown")]

    bus = server.pulsesight.outbox.bus
    assert bus is not None
    consumer = bus.consumer("t", [TOPIC_HEALTH])
    events = [CloudEvent.decode(r.value) for r in consumer.poll(timeout=2)]
    consumer.close()
    security = {(e.subject, e.data["rule"], e.data["priority"]) for e in events if e.type == "airdig.security.event"}
    assert security == {(CART, "Read sensitive file untrusted", "warning"),
                        (NGINX, "Terminal shell in container", "critical"),
                        ("unmapped:bastion-unknown", "Outbound Connection to C2 Servers", "notice")}


def test_alertmanager_firing_then_resolved(server: PulseSightHandle) -> None:
    r = _post(server, "/webhooks/alertmanager", (DATA / "alertmanager_firing.json").read_bytes())
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 3, "mapped": 2, "unmapped": 1, "firing": 2, "resolved": 0}
    inst = _health(server, INSTANCE)
    assert inst["status"] == "critical"
    assert inst["reasons"][0]["rule"] == "alertmanager:HighCPU"
    assert "CPU above 95%" in inst["reasons"][0]["message"]
    assert _health(server, RDS)["status"] == "warning"
    unmapped = httpx.get(f"{server.url}/api/v1/unmapped", headers=AUTH).json()["unmapped"]
    assert [(u["signal"], u["labels"]["pod"]) for u in unmapped] == [("KubePodCrashLooping", "ghost-pod")]

    r = _post(server, "/webhooks/alertmanager", (DATA / "alertmanager_resolved.json").read_bytes())
    assert r.json()["resolved"] == 1
    assert _health(server, INSTANCE) == {**_health(server, INSTANCE), "status": "healthy", "reasons": []}
    assert _health(server, RDS)["status"] == "warning"  # only HighCPU was resolved


@pytest.mark.parametrize(("path", "body", "reason"), [
    ("/webhooks/falco", b"{not json", "not JSON"),
    ("/webhooks/falco", b'{"rule": "x", "priority": "Warning", "time": "2024-01-01T00:00:00Z"}', "'output'"),
    ("/webhooks/falco", b'{"output": "o", "rule": "x", "priority": "Loud", "time": "2024-01-01T00:00:00Z"}',
     "unknown priority"),
    ("/webhooks/falco", b'{"output": "o", "rule": "x", "priority": "Warning", "time": "yesterday"}', "RFC 3339"),
    ("/webhooks/alertmanager", b'{"version": "3", "alerts": []}', "unsupported version"),
    ("/webhooks/alertmanager", b'{"version": "4", "alerts": [{"status": "firing", "labels": {}}]}',
     "alertname"),
    ("/webhooks/alertmanager", b'{"version": "4", "alerts": [{"status": "burning", "labels": {"alertname": "A"}}]}',
     "status must be"),
])
def test_malformed_bodies_get_400_with_a_reason(server: PulseSightHandle, path: str, body: bytes,
                                                reason: str) -> None:
    r = _post(server, path, body)
    assert r.status_code == 400
    assert reason in r.json()["error"]
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_webhooks_require_the_secret(server: PulseSightHandle) -> None:
    body = (DATA / "falco_pod_event.json").read_bytes()
    assert _post(server, "/webhooks/falco", body, headers={}).status_code == 401
    assert _post(server, "/webhooks/falco", body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert _post(server, "/webhooks/falco", body, headers={"X-AirDig-Secret": SECRET}).status_code == 200
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'airdig_http_requests_total{route="/webhooks/falco",status="401"} 2.0' in metrics
    # the secret is never taken from the URL (it would land in access logs)
    assert _post(server, f"/webhooks/falco?secret={SECRET}", body, headers={}).status_code == 401


@pytest.mark.parametrize("path", ["/api/v1/health", "/api/v1/unmapped", "/api/v1/security-events"])
def test_read_api_requires_the_secret_too(server: PulseSightHandle, path: str) -> None:
    """Falco events and health are not public: with a secret set, reads need it like the webhooks."""
    assert httpx.get(f"{server.url}{path}", timeout=5).status_code == 401
    assert httpx.get(f"{server.url}{path}", params={"secret": SECRET}, timeout=5).status_code == 401
    assert httpx.get(f"{server.url}{path}", headers=AUTH, timeout=5).status_code == 200


def test_non_loopback_bind_without_secret_is_refused(data_dir: Path) -> None:
    with pytest.raises(ConfigError, match="shared secret"):
        start_pulsesight(_settings(data_dir), "0.0.0.0", 0, config=PulseSightConfig(resolver_url=None),
                         rules=[], sources={}, evaluate=False)


def test_failing_prometheus_makes_health_unknown_and_service_stays_up(
        data_dir: Path, fake_http: Any, caplog: pytest.LogCaptureFixture) -> None:
    mode = {"now": "ok"}

    def answer(req: Any) -> tuple[int, bytes]:
        if mode["now"] == "slow":
            time.sleep(1.5)
        if mode["now"] == "error":
            return 503, b'{"status":"error","errorType":"unavailable","error":"ingester ring unhealthy"}'
        return 200, orjson.dumps({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"instance_id": "i-0abc123def4567890"}, "value": [time.time(), "12"]}]}})

    fake_http.handler = answer
    prom = PrometheusSource(fake_http.url, tenant="team-a", timeout=0.5)
    rule = parse_rule({"name": "cpu", "query": "cpu", "warning": 80, "critical": 95}, "test")
    handle = _start(data_dir, rules=[rule], sources={"prometheus": prom})
    try:
        ev = handle.pulsesight.evaluator
        assert ev.evaluate_once()["cpu"].outcome == "ok"
        assert _health(handle, INSTANCE)["status"] == "healthy"
        assert fake_http.requests[-1].headers["x-scope-orgid"] == "team-a"

        for failure, text in (("slow", "timed out"), ("error", "ingester ring unhealthy")):
            mode["now"] = "ok"
            ev.evaluate_once()
            mode["now"] = failure
            caplog.clear()
            with caplog.at_level(logging.ERROR, logger="airdig.pulsesight"):
                res = ev.evaluate_once()["cpu"]
            assert res.outcome == "failed" and text in (res.error or "")
            lines = [r for r in caplog.records if r.getMessage() == "rule source failed; its nodes are now unknown"]
            assert len(lines) == 1 and text in lines[0].fields["error"]  # type: ignore[attr-defined]
            got = _health(handle, INSTANCE)
            assert got["status"] == "unknown"
            assert text in got["reasons"][0]["message"]
            assert httpx.get(f"{handle.url}/healthz").status_code == 200
        ready = httpx.get(f"{handle.url}/readyz", timeout=5)
        assert ready.status_code == 503 and "prometheus" in ready.json()["problems"]
    finally:
        handle.stop()
        prom.close()
