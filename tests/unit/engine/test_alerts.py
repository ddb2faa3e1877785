"""Alert webhooks: what is sent (generic JSON, Slack), de-duplication, retries with backoff, the record."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from airdig.backends.interfaces import AlertDeliveryRow, Store
from airdig.backends.registry import open_bus, open_cache, open_store
from airdig.engine.alerts import AlertDispatcher, Webhook, alert_from_notice, masked_url, slack_body
from airdig.engine.app import build_app
from airdig.engine.service import EngineService
from airdig.errors import ConfigError
from airdig.model.events import TOPIC_DRIFT, TOPIC_HEALTH, CloudEvent
from airdig.settings import Settings

SG = "arn:aws:ec2:us-east-1:123456789012:security-group/sg-0abc"
DB = "arn:aws:rds:us-east-1:123456789012:db:orders"


def drift(drift_id: str, severity: str = "high") -> tuple[str, dict[str, Any]]:
    return ("driftDetected", {"id": drift_id, "resourceId": SG, "severity": severity, "kind": "changed",
                              "time": 1767225600.0})


def critical(node: str = DB) -> tuple[str, dict[str, Any]]:
    return ("alertFired", {"nodeId": node, "status": "critical", "time": 1767225700.0, "reasons": [
        {"rule": "p95_latency", "value": 840.0, "threshold": 300, "since": 1767225600.0,
         "message": "p95 840 ms > 300 ms"}]})


class Receiver:
    """A local webhook endpoint: records every POST; ``script[path]`` lists the statuses to answer."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.script: dict[str, list[int]] = {}
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.posts.append((self.path, body))
                    plan = outer.script.get(self.path) or []
                    status = plan.pop(0) if plan else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def to(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [b for p, b in self.posts if p == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def store(data_dir: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{data_dir / 'airdig.db'}")
    s.migrate()
    yield s
    s.close()


def wait_for(cond: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def settled(store: Store, n: int) -> Callable[[], bool]:
    """``n`` deliveries recorded and none still pending."""
    def check() -> bool:
        rows = store.alert_deliveries(100)
        return len(rows) >= n and all(r.status != "pending" for r in rows)
    return check


@pytest.fixture
def make(store: Store) -> Iterator[Callable[..., AlertDispatcher]]:
    made: list[AlertDispatcher] = []

    def factory(*hooks: str, **kw: Any) -> AlertDispatcher:
        d = AlertDispatcher(store, [Webhook.parse(h) for h in hooks], base_delay=0.05, **kw)
        d.start()
        made.append(d)
        return d

    yield factory
    for d in made:
        d.stop()


# ------------------------------------------------------------------ pure parts


def test_which_notices_alert() -> None:
    assert alert_from_notice(*drift("d1", "low")) is None
    assert alert_from_notice(*drift("d1", "medium")) is None
    assert alert_from_notice(*drift("d1", "medium"), min_severity="medium") is not None
    high = alert_from_notice(*drift("d1", "high"))
    assert high is not None and high.key == "drift:d1" and high.type == "drift.detected"
    assert alert_from_notice(*drift("d2", "critical")) is not None
    crit = alert_from_notice(*critical())
    assert crit is not None and crit.key == f"health:{DB}:critical" and "p95 840 ms" in crit.title
    assert alert_from_notice("alertFired", {"nodeId": DB, "status": "warning"}) is None
    assert alert_from_notice("resourceUpdated", {"id": DB, "action": "updated"}) is None


def test_webhook_urls_are_masked() -> None:
    slack = Webhook.parse("slack+https://hooks.slack.com/services/T000/B000/XXXXSECRET")
    assert slack.format == "slack" and slack.url == "https://hooks.slack.com/services/T000/B000/XXXXSECRET"
    assert slack.masked.startswith("https://hooks.slack.com/services/…#") and "SECRET" not in slack.masked
    assert masked_url("https://alerts.example.com") == "https://alerts.example.com"
    assert "tok" not in masked_url("https://alerts.example.com/hook?token=tok")
    assert masked_url("https://a.example/x/1") != masked_url("https://a.example/x/2")
    with pytest.raises(ConfigError):
        Webhook.parse("ftp://example.com/x")


def test_slack_message_shape() -> None:
    alert = alert_from_notice(*critical())
    assert alert is not None
    body = slack_body(alert)
    assert set(body) == {"text", "blocks"} and DB in body["text"]
    assert [b["type"] for b in body["blocks"]] == ["section", "context"]
    assert body["blocks"][0]["text"]["type"] == "mrkdwn" and "p95_latency" in body["blocks"][0]["text"]["text"]


def test_settings_parse_webhooks() -> None:
    s = Settings.load(environ={"AIRDIG_ALERT_WEBHOOKS": "https://a.example/h , slack+https://hooks.slack.com/s/x",
                               "AIRDIG_ALERT_MIN_SEVERITY": "critical"})
    assert s.alert_webhooks == ("https://a.example/h", "slack+https://hooks.slack.com/s/x")
    assert s.alert_min_severity == "critical" and s.alert_dedupe_seconds == 3600.0
    for env in ({"AIRDIG_ALERT_WEBHOOKS": "mailto:x@y"}, {"AIRDIG_ALERT_MIN_SEVERITY": "huge"},
                {"AIRDIG_ALERT_DEDUPE_SECONDS": "soon"}):
        with pytest.raises(ConfigError):
            Settings.load(environ=env)


# ------------------------------------------------------------------ delivery


def test_generic_and_slack_posts_are_sent_and_recorded(receiver: Receiver, store: Store,
                                                       make: Callable[..., AlertDispatcher]) -> None:
    d = make(f"{receiver.url}/generic", f"slack+{receiver.url}/slack/T000/SECRET")
    d.on_notices([drift("d-high"), drift("d-low", "low"), critical()])
    wait_for(settled(store, 4))
    generic = receiver.to("/generic")
    assert {(b["type"], b["dedupe_key"]) for b in generic} == {("drift.detected", "drift:d-high"),
                                                             ("node.critical", f"health:{DB}:critical")}
    high = next(b for b in generic if b["type"] == "drift.detected")
    assert high["source"] == "airdig" and high["data"]["severity"] == "high" and high["data"]["resourceId"] == SG
    assert high["time"] == "2026-01-01T00:00:00.000000Z"
    slack = receiver.to("/slack/T000/SECRET")
    assert len(slack) == 2 and all(set(b) == {"text", "blocks"} for b in slack)
    rows = store.alert_deliveries(10)
    assert {(r.dedupe_key, r.format, r.status, r.attempts) for r in rows} == {
        ("drift:d-high", "json", "sent", 1), ("drift:d-high", "slack", "sent", 1),
        (f"health:{DB}:critical", "json", "sent", 1), (f"health:{DB}:critical", "slack", "sent", 1)}
    assert all("SECRET" not in r.target and r.sent_at is not None for r in rows)
    # what was sent is what is recorded
    assert sorted(json.dumps(b, sort_keys=True) for b in generic + slack) == sorted(
        json.dumps(r.payload, sort_keys=True) for r in rows)


def test_failing_receiver_is_retried_with_backoff(receiver: Receiver, store: Store,
                                                  make: Callable[..., AlertDispatcher]) -> None:
    receiver.script["/flaky"] = [500, 500, 200]
    receiver.script["/down"] = [503] * 10
    receiver.script["/gone"] = [404]
    d = make(f"{receiver.url}/flaky", f"{receiver.url}/down", f"{receiver.url}/gone", max_attempts=3)
    d.on_notices([drift("d1")])
    wait_for(settled(store, 3))
    by_target = {r.target.rsplit("/", 1)[-1]: r for r in store.alert_deliveries(10)}
    assert (by_target["flaky"].status, by_target["flaky"].attempts, by_target["flaky"].last_error) == ("sent", 3, None)
    assert (by_target["down"].status, by_target["down"].attempts, by_target["down"].last_error) == (
        "failed", 3, "HTTP 503")
    # a 404 will not get better by retrying
    assert (by_target["gone"].status, by_target["gone"].attempts, by_target["gone"].last_error) == (
        "failed", 1, "HTTP 404")
    assert len(receiver.to("/flaky")) == 3 and len(receiver.to("/down")) == 3 and len(receiver.to("/gone")) == 1
    assert d.stats.sent == 1 and d.stats.failed == 2 and d.stats.retried == 4


def test_unreachable_receiver_is_recorded(store: Store, make: Callable[..., AlertDispatcher]) -> None:
    make("http://127.0.0.1:9/hook", max_attempts=2).on_notices([critical()])
    wait_for(settled(store, 1))
    (row,) = store.alert_deliveries(10)
    assert row.status == "failed" and row.attempts == 2 and row.last_error and "Connect" in row.last_error


def test_duplicates_are_not_resent(receiver: Receiver, store: Store,
                                   make: Callable[..., AlertDispatcher]) -> None:
    d = make(f"{receiver.url}/h")
    d.on_notices([drift("d1"), critical()])
    wait_for(settled(store, 2))
    d.on_notices([drift("d1"), critical(), drift("d2")])
    wait_for(settled(store, 3))
    assert d.stats.deduplicated == 2
    # another replica (or a restart) with the same store does not re-send either
    other = make(f"{receiver.url}/h")
    other.on_notices([drift("d1"), critical()])
    wait_for(lambda: other.stats.deduplicated == 2)
    assert sorted(b["dedupe_key"] for b in receiver.to("/h")) == sorted(
        ["drift:d1", "drift:d2", f"health:{DB}:critical"])
    assert len(store.alert_deliveries(10)) == 3


def test_dedupe_window_expires(receiver: Receiver, store: Store, make: Callable[..., AlertDispatcher]) -> None:
    now = [1000.0]
    d = make(f"{receiver.url}/h", dedupe_seconds=60, clock=lambda: now[0])
    d.on_notices([critical()])
    wait_for(settled(store, 1))
    now[0] += 30
    d.on_notices([critical()])
    now[0] += 61
    d.on_notices([critical()])
    wait_for(settled(store, 2))
    assert len(receiver.to("/h")) == 2 and d.stats.deduplicated == 1


def test_full_queue_drops_instead_of_blocking(store: Store) -> None:
    d = AlertDispatcher(store, [Webhook.parse("http://127.0.0.1:9/h")], queue_size=1)  # never started
    started = time.monotonic()
    d.on_notices([drift(f"d{i}") for i in range(50)])
    assert time.monotonic() - started < 1.0
    assert (d.stats.queued, d.stats.dropped) == (1, 49)


def test_deliveries_rest_read(store: Store, data_dir: Path) -> None:
    for i in range(3):
        store.save_alert_delivery(AlertDeliveryRow(
            id=f"a{i}", dedupe_key=f"drift:d{i}", target="https://x.example", format="json", payload={"n": i},
            status="sent", attempts=1, last_error=None, created_at=1767225600.0 + i, sent_at=1767225601.0 + i))
    svc = EngineService(store=store, bus=open_bus(f"embedded://{data_dir / 'bus.db'}"), cache=open_cache("memory://"))
    with TestClient(build_app(svc)) as client:
        r = client.get("/api/v1/alerts/deliveries?first=2")
        assert r.status_code == 200
        items = r.json()["items"]
        assert [(i["id"], i["dedupeKey"], i["status"], i["payload"]) for i in items] == [
            ("a2", "drift:d2", "sent", {"n": 2}), ("a1", "drift:d1", "sent", {"n": 1})]
        assert items[0]["createdAt"] == "2026-01-01T00:00:02.000000Z"
        assert client.get("/api/v1/alerts/deliveries?first=1000").json()["code"] == "LIMIT_EXCEEDED"
        assert client.get("/api/v1/alerts/deliveries?first=x").status_code == 400
    svc.bus.close()
    svc.cache.close()


def test_engine_sends_alerts_for_applied_events(receiver: Receiver, data_dir: Path) -> None:
    """The whole path: events on the bus -> apply -> notices -> webhook, configured by settings."""
    settings = Settings.load(overrides={"data_dir": str(data_dir)},
                             environ={"AIRDIG_ALERT_WEBHOOKS": f"{receiver.url}/h"})
    svc = EngineService.from_settings(settings)
    svc.start()
    try:
        for topic, ev in [
            (TOPIC_DRIFT, CloudEvent(type="airdig.drift.detected", source="deepdrift", subject=SG, data={
                "id": "drift-1", "resource_id": SG, "resource_type": "aws_security_group", "kind": "changed",
                "severity": "critical", "diffs": [{"path": "ingress", "expected": [], "actual": ["0.0.0.0/0"]}],
                "cause": None, "remediation": None})),
            (TOPIC_DRIFT, CloudEvent(type="airdig.drift.detected", source="deepdrift", subject=SG, data={
                "id": "drift-2", "resource_id": SG, "resource_type": "aws_security_group", "kind": "changed",
                "severity": "low", "diffs": [], "cause": None, "remediation": None})),
            (TOPIC_HEALTH, CloudEvent(type="airdig.health.changed", source="pulsesight", subject=DB, data={
                "node_id": DB, "status": "critical", "previous": "healthy", "reasons": []})),
        ]:
            svc.bus.publish(topic, ev.subject, ev.encode())
        svc.bus.flush()
        wait_for(lambda: len(receiver.to("/h")) == 2, 30)
        assert {b["dedupe_key"] for b in receiver.to("/h")} == {"drift:drift-1", f"health:{DB}:critical"}
    finally:
        svc.stop()


def test_delivery_and_token_rows_on_both_stores(store_url: str) -> None:
    """The rows behind alerts and tokens, on SQLite and on the MySQL protocol (MariaDB for TiDB)."""
    from airdig.engine.auth import TokenService, hash_token

    s = open_store(store_url)
    s.migrate()
    try:
        row = AlertDeliveryRow(id="x1", dedupe_key="drift:d1", target="https://h.example/…#00", format="slack",
                               payload={"text": "é ✓", "blocks": []}, status="pending", attempts=1,
                               last_error="HTTP 500", created_at=100.0)
        s.save_alert_delivery(row)
        s.save_alert_delivery(AlertDeliveryRow(**{**vars(row), "status": "sent", "attempts": 2, "last_error": None,
                                                  "sent_at": 105.0, "created_at": 104.0}))
        s.save_alert_delivery(AlertDeliveryRow(**{**vars(row), "id": "x2", "dedupe_key": "drift:d2",
                                                  "created_at": 200.0}))
        assert [(r.id, r.status, r.attempts, r.last_error, r.created_at, r.sent_at) for r in s.alert_deliveries(5)] == [
            ("x2", "pending", 1, "HTTP 500", 200.0, None), ("x1", "sent", 2, None, 100.0, 105.0)]
        assert [r.id for r in s.alert_deliveries(5, dedupe_key="drift:d1")] == ["x1"]
        assert [r.id for r in s.alert_deliveries(5, since=150.0)] == ["x2"]
        assert s.alert_deliveries(5)[1].payload == {"text": "é ✓", "blocks": []}

        tokens = TokenService(s)
        secret, tok = tokens.create("ci", "editor")
        found = s.api_token_by_hash(hash_token(secret))
        assert found is not None and (found.id, found.role) == (tok.id, "editor")
        assert s.api_token_by_hash(hash_token(secret + "x")) is None
        assert tokens.revoke(tok.id) == 1 and tokens.revoke(tok.id) == 0
        assert s.api_token_by_hash(hash_token(secret)) is None
        assert [r.id for r in s.list_api_tokens()] == [] and [r.id for r in s.list_api_tokens(True)] == [tok.id]
    finally:
        s.close()
