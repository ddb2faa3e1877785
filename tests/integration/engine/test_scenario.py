"""An incident built from events of all four pillars, answered by the engine's GraphQL API.

The estate: a VPC with a subnet, a web security group guarding two instances, an RDS database;
services `checkout` and `cart` run on the instances and call the database. At T0 someone (through
the console, per CloudTrail) changes the web security group; 4 minutes later the p95 of checkout →
database rises; at T0+5 min the instance turns critical. Noise: an unattributed tag edit on the
subnet, a newly created bucket, the same instance's health flapping earlier.
Runs on SQLite + embedded bus + memory, on MariaDB + Kafka + Redis and on TiDB + Kafka + Redis.
"""

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
from airdig.model.events import CloudEvent, edge_event, resource_event, to_rfc3339
from airdig.model.graph import Edge, Node
from tests.conftest import Backends

# the whole scenario on SQLite, on MariaDB and on TiDB (each with Kafka and Redis)
pytestmark = pytest.mark.parametrize("backends", ["embedded", "distributed", "distributed-tidb"], indirect=True)

ACCT, REGION = "123456789012", "us-east-1"
T0 = 1_790_000_000.0  # the security-group change


def arn(kind: str, rid: str) -> str:
    return f"arn:aws:ec2:{REGION}:{ACCT}:{kind}/{rid}"


VPC, SUBNET, SG = arn("vpc", "vpc-1"), arn("subnet", "subnet-1"), arn("security-group", "sg-web")
I1, I2 = arn("instance", "i-1"), arn("instance", "i-2")
RDS = f"arn:aws:rds:{REGION}:{ACCT}:db:orders"
BUCKET = "arn:aws:s3:::unrelated-logs"
CHECKOUT, CART = "service://shop/checkout", "service://shop/cart"


def node(nid: str, kind: str, name: str, **attrs: Any) -> Node:
    return Node(id=nid, kind=kind, provider="aws", account=ACCT, region=REGION, name=name, attrs=attrs,
                native_ids=(nid.rsplit("/", 1)[-1],))


def window(src: str, dst: str, start: float, p95: float, requests: int, errors: int) -> CloudEvent:
    bounds = [5, 10, 25, 50, 100, 250, 500, 1000]
    counts = [0] * (len(bounds) + 1)
    counts[next(i for i, b in enumerate(bounds) if b >= p95)] = requests
    return CloudEvent(type="airdig.trace.edge", source="tracecore", subject=src, time=start + 60, data={
        "src": src, "dst": dst, "type": "calls", "window_start": start, "window_seconds": 60,
        "stats": {"request_count": requests, "error_count": errors, "errors": {"5xx": errors},
                  "latency_ms": {"bounds": bounds, "counts": counts}, "p50": p95 / 2, "p95": p95, "p99": p95}})


def scenario() -> list[CloudEvent]:
    t = T0 - 3600
    evs: list[CloudEvent] = [resource_event("created", n, "skygraph", time=t) for n in (
        node(VPC, "aws.ec2.vpc", "shop-vpc"), node(SUBNET, "aws.ec2.subnet", "shop-a"),
        node(SG, "aws.ec2.security-group", "web", IpPermissions=[{"FromPort": 443}]),
        node(I1, "aws.ec2.instance", "web-1"), node(I2, "aws.ec2.instance", "web-2"),
        node(RDS, "aws.rds.instance", "orders"))]
    for src, dst, typ in ((VPC, SUBNET, "contains"), (SUBNET, I1, "network"), (SUBNET, I2, "network"),
                          (SG, I1, "network"), (SG, I2, "network"), (SUBNET, RDS, "network")):
        evs.append(edge_event("observed", Edge(src, dst, typ), "skygraph", time=t))
    for svc, host in ((CHECKOUT, I1), (CART, I2)):
        evs.append(CloudEvent(type="airdig.trace.service", source="tracecore", subject=svc, time=t, data={
            "node": {"id": svc, "kind": "service", "name": svc.rsplit("/", 1)[-1], "provider": "otel"}}))
        evs.append(CloudEvent(type="airdig.trace.edge", source="tracecore", subject=svc, time=t,
                              data={"src": svc, "dst": host, "type": "runs_on"}))
    # noise before the change
    evs.append(resource_event("updated", node(SUBNET, "aws.ec2.subnet", "shop-a"), "skygraph",
                              changed=["tags.CostCenter"], time=T0 - 600))
    evs.append(resource_event("created", Node(id=BUCKET, kind="aws.s3.bucket", provider="aws", name="logs"),
                              "skygraph", time=T0 - 300))
    # the change, as DeepDrift reports it: the CloudTrail write and the drift it caused
    evs.append(CloudEvent(type="airdig.change.recorded", source="deepdrift", subject=SG, time=T0, data={
        "id": "ct-0001", "kind": "cloudtrail", "summary": "RevokeSecurityGroupEgress on sg-web",
        "actor": "assumed-role/AWSReservedSSO_Admin/alice@example.com", "time": to_rfc3339(T0),
        "details": {"event_name": "RevokeSecurityGroupEgress", "channel": "console"}}))
    evs.append(CloudEvent(type="airdig.drift.detected", source="deepdrift", subject=SG, time=T0 + 30, data={
        "id": "drift-sg-web", "resource_id": SG, "resource_type": "aws_security_group",
        "terraform_address": "aws_security_group.web", "kind": "changed", "severity": "high",
        "diffs": [{"path": "egress", "expected": [{"to_port": 5432}], "actual": []}],
        "cause": {"event_id": "ct-0001", "event_name": "RevokeSecurityGroupEgress", "event_time": to_rfc3339(T0),
                  "principal": "assumed-role/AWSReservedSSO_Admin/alice@example.com", "channel": "console",
                  "source_ip": "203.0.113.9"}, "remediation": {"action": "revert"}, "detected_at": to_rfc3339(T0 + 30)}))
    # the next scan sees the same change, without knowing who made it
    evs.append(resource_event("updated", node(SG, "aws.ec2.security-group", "web", IpPermissions=[]), "skygraph",
                              changed=["attrs.IpPermissions"], time=T0 + 120))
    # traffic: checkout → orders DB, fine before, slow from T0+4 min
    for minute in range(-10, 10):
        start = T0 + minute * 60
        slow = minute >= 4
        evs.append(window(CHECKOUT, RDS, start, 400.0 if slow else 8.0, 600, 40 if slow else 1))
    # health (PulseSight): the instance turns critical at T0+5 min
    evs.append(CloudEvent(type="airdig.health.changed", source="pulsesight", subject=I1, time=T0 + 300, data={
        "node_id": I1, "status": "critical", "previous": "healthy", "since": to_rfc3339(T0 + 300),
        "reasons": [{"rule": "http-latency", "value": 0.41, "threshold": 0.25, "since": to_rfc3339(T0 + 300),
                     "message": "p95 latency 410 ms > 250 ms"}]}))
    return evs


@pytest.fixture
def client(backends: Backends) -> Iterator[TestClient]:
    store = open_store(backends.store_url)
    store.migrate()
    svc = EngineService(store=store, bus=open_bus(backends.bus_url), cache=open_cache(backends.cache_url),
                        group="scenario")
    evs = scenario()
    for ev in evs:
        svc.bus.publish(ev.topic, ev.subject, ev.encode())
    svc.bus.flush()
    svc.start()
    deadline = time.monotonic() + 60
    while not (svc.processor and svc.processor.stats.applied >= len(evs)):
        if time.monotonic() > deadline:
            raise AssertionError(f"applied {svc.processor.stats.applied if svc.processor else 0} of {len(evs)}")
        time.sleep(0.1)
    assert store.count_nodes(NodeFilter()) == 9
    with TestClient(build_app(svc)) as c:
        yield c
    svc.stop()


def q(client: TestClient, query: str, **variables: Any) -> dict[str, Any]:
    body: dict[str, Any] = client.post("/graphql", json={"query": query, "variables": variables}).json()
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


def test_root_cause_names_the_security_group_change_first(client: TestClient) -> None:
    data = q(client, """query($id: ID!, $at: String) { rootCause(id: $id, at: $at) {
        symptom candidates { score distance path evidence change { id kind summary actor time resourceId }
          beforeAfter { src dst before { p95 errorRatio } after { p95 errorRatio } } }
        impact { id } } }""", id=I1, at=to_rfc3339(T0 + 300))
    rc = data["rootCause"]
    first = rc["candidates"][0]
    assert first["change"]["id"] == "ct-0001"
    assert first["change"]["kind"] == "cloudtrail"
    assert first["change"]["actor"] == "assumed-role/AWSReservedSSO_Admin/alice@example.com"
    assert first["change"]["resourceId"] == SG
    assert first["path"] == [SG, I1] and first["distance"] == 1
    assert any("degraded after the change" in e and "checkout" in e for e in first["evidence"])
    ba = next(b for b in first["beforeAfter"] if b["src"] == CHECKOUT and b["dst"] == RDS)
    assert ba["before"]["p95"] < 10 and ba["after"]["p95"] > 100
    # the scan's view of the same change is folded into it, not ranked on its own
    assert any(e.startswith("seen by skygraph") for e in first["evidence"])
    assert not [c for c in rc["candidates"] if c["change"]["kind"] == "updated" and c["change"]["resourceId"] == SG]
    # symptoms are never causes; the noise ranks lower
    kinds = [c["change"]["kind"] for c in rc["candidates"]]
    assert "health" not in kinds
    ids = [c["change"]["id"] for c in rc["candidates"]]
    assert ids.index("ct-0001") < min(ids.index(i) for i in ids if i != "ct-0001" and not i.startswith("drift"))
    assert {i["id"] for i in rc["impact"]} >= {I1, I2, CHECKOUT, CART}


def test_impact_of_the_security_group(client: TestClient) -> None:
    data = q(client, "query($id: ID!) { impact(id: $id, hops: 3) { root nodes { id distance path } } }", id=SG)
    nodes = {n["id"]: n for n in data["impact"]["nodes"]}
    assert set(nodes) == {I1, I2, CHECKOUT, CART}
    assert nodes[I1]["distance"] == 1 and nodes[CHECKOUT]["distance"] == 2
    assert nodes[CHECKOUT]["path"] == [SG, I1, CHECKOUT]


def test_timeline_drift_events_service_map_and_coverage(client: TestClient) -> None:
    data = q(client, "query($id: ID!) { timeline(id: $id, first: 10) { id kind actor summary } }", id=SG)
    kinds = [(c["kind"], c["actor"]) for c in data["timeline"]]
    assert ("cloudtrail", "assumed-role/AWSReservedSSO_Admin/alice@example.com") in kinds
    assert any(k == "drift" for k, _ in kinds)
    near = q(client, "query($id: ID!) { timeline(id: $id, first: 50, hops: 1) { id resourceId } }", id=I1)
    assert "ct-0001" in {c["id"] for c in near["timeline"]}

    data = q(client, """{ driftEvents(first: 10) { totalCount edges { node { id resourceId kind severity status
        diffs { path expected actual } cause { principal eventName eventTime } resource { name } } } } }""")
    d = data["driftEvents"]["edges"][0]["node"]
    assert d["resourceId"] == SG and d["severity"] == "high" and d["cause"]["eventName"] == "RevokeSecurityGroupEgress"
    assert d["resource"] == {"name": "web"} and d["diffs"][0]["path"] == "egress"

    sm = q(client, "query($s: String, $u: String) { serviceMap(since: $s, until: $u) { nodes { id kind name } "
                   "edges { src dst requestCount errorCount p50 p95 p99 } } }",
           s=to_rfc3339(T0 + 240), u=to_rfc3339(T0 + 600))["serviceMap"]
    assert [(e["src"], e["dst"]) for e in sm["edges"]] == [(CHECKOUT, RDS)]
    assert sm["edges"][0]["requestCount"] == 600 * 6 and sm["edges"][0]["p95"] > 100
    assert {n["id"] for n in sm["nodes"]} == {CHECKOUT, RDS}

    ack = q(client, 'mutation { acknowledgeDrift(id: "drift-sg-web") { status } }')
    assert ack["acknowledgeDrift"]["status"] == "acknowledged"
    res = q(client, 'mutation { resolveDrift(id: "drift-sg-web") { status resolvedAt } }')
    assert res["resolveDrift"]["status"] == "resolved" and res["resolveDrift"]["resolvedAt"]
    sg = q(client, "query($id: ID!) { resource(id: $id) { drift { status } } }", id=SG)["resource"]
    assert sg["drift"]["status"] == "in_sync"
    cov = q(client, "{ coverage { managed total byType } }")["coverage"]
    assert cov["total"] == 7 and cov["managed"] == 0  # no Terraform `manages` edges in this estate


def test_root_cause_reports_onset_change_time_and_why_over_graphql_and_rest(client: TestClient) -> None:
    data = q(client, """query($id: ID!, $at: String) { rootCause(id: $id, at: $at) {
        onset { time source detail } verdict margin setAside { reason change { id } }
        candidates { score afterOnset deciding changeTime { earliest latest basis }
          factors { kind distance time evidence } change { id } } } }""", id=I1, at=to_rfc3339(T0 + 300))
    rc = data["rootCause"]
    # the symptom began with checkout → orders' first slow minute (T0+4 min), before the alert (T0+5 min)
    assert rc["onset"]["source"] == "call edge p95" and rc["onset"]["time"] == to_rfc3339(T0 + 240)
    first = rc["candidates"][0]
    assert first["change"]["id"] == "ct-0001" and first["afterOnset"] is False
    assert first["changeTime"] == {"earliest": to_rfc3339(T0), "latest": to_rfc3339(T0), "basis": "cloudtrail"}
    assert first["factors"]["evidence"] > 1 and "degraded right after it" in first["deciding"]
    assert rc["verdict"].startswith("#1 RevokeSecurityGroupEgress") and rc["margin"] > 1
    rest = client.get(f"/api/v1/root-cause/{I1}", params={"at": to_rfc3339(T0 + 300)}).json()
    assert rest["onset"]["time"] == rc["onset"]["time"] and rest["verdict"] == rc["verdict"]
    top = rest["candidates"][0]
    assert top["change"]["id"] == "ct-0001" and top["afterOnset"] is False
    assert top["changeTime"]["earliest"] == to_rfc3339(T0) and top["deciding"] == first["deciding"]
    assert top["factors"] == first["factors"] and rest["setAside"] == []
