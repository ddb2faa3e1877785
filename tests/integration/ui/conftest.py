"""A real engine (embedded backends in a temp dir) seeded through its bus, the UI in front of it, and a
headless Chromium driven by Playwright. Module-scoped: starting all three costs ~2 s, so the views'
tests share one seeded estate and only read it (the drift test's acknowledge is last and local)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from airdig.engine.app import build_app
from airdig.engine.service import EngineService
from airdig.model.events import (
    TOPIC_DRIFT,
    TOPIC_HEALTH,
    TOPIC_RESOURCES,
    TOPIC_TRACES,
    CloudEvent,
    confirm_events,
    edge_event,
    resource_event,
    to_rfc3339,
)
from airdig.model.graph import Edge, Node
from airdig.ui.app import build_ui_app
from tests.unit.ui.servers import embedded_engine, serve

CHROMIUM = os.environ.get("AIRDIG_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOTS = Path(os.environ.get("AIRDIG_TEST_SCREENSHOTS", "/tmp"))

ACCOUNT, REGION = "123456789012", "us-east-1"
VPC = f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/vpc-0a1"
SUBNET = f"arn:aws:ec2:{REGION}:{ACCOUNT}:subnet/subnet-0b2"
SG = f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/sg-0web"
INSTANCE = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0abc123def"
RDS = f"arn:aws:rds:{REGION}:{ACCOUNT}:db:orders-db"
ENI = f"arn:aws:ec2:{REGION}:{ACCOUNT}:network-interface/eni-0new"
FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:worker"  # no edges: outside every Dig walk
FRONTEND, CHECKOUT, ORDERS = "service://shop/frontend", "service://shop/checkout", "service://shop/orders"
ALICE = "arn:aws:iam::123456789012:user/alice"
BOB = "arn:aws:iam::123456789012:user/bob"
DRIFT_ID = "drift-sg-0web-ingress"
HEALTH_MESSAGE = "p95 latency 2300 ms > 500 ms for 5m"


@dataclass
class Estate:
    engine_url: str
    ui_url: str
    svc: EngineService
    fields: set[str]  # Query + Mutation root fields the engine has (the lead adds them over time)
    now: float = 0.0  # the seeding's "now": seeded times are relative to it

    def has(self, name: str) -> bool:
        return name in self.fields


def _aws(nid: str, kind: str, name: str, natives: tuple[str, ...] = (), **attrs: Any) -> Node:
    return Node(id=nid, kind=kind, provider="aws", account=ACCOUNT, region=REGION, name=name, attrs=attrs,
                tags={"env": "prod", "team": "payments"}, native_ids=natives,
                managed_by=f"aws_{kind.rsplit('.', 1)[-1]}.{name}")


def seed_events(now: float) -> list[CloudEvent]:
    """The estate of a small incident: alice opens an SG, the instance behind checkout turns critical."""
    nodes = [
        _aws(VPC, "aws.ec2.vpc", "prod-vpc", ("vpc-0a1",), CidrBlock="10.0.0.0/16"),
        _aws(SUBNET, "aws.ec2.subnet", "prod-a", ("subnet-0b2",), CidrBlock="10.0.1.0/24"),
        _aws(SG, "aws.ec2.security_group", "web-sg", ("sg-0web",),
             IpPermissions=[{"FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]),
        _aws(INSTANCE, "aws.ec2.instance", "checkout-web", ("i-0abc123def", "10.0.1.5"),
             InstanceType="m5.large", PrivateIpAddress="10.0.1.5", State={"Name": "running"},
             BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeId": "vol-1"}}]),
        _aws(RDS, "aws.rds.instance", "orders-db", ("orders-db",), Engine="postgres", MultiAZ=False),
    ]
    evs = [resource_event("created", n, "skygraph", time=now - 3600) for n in nodes]
    for src, typ, dst in [(VPC, "contains", SUBNET), (SUBNET, "network", INSTANCE), (SG, "network", INSTANCE),
                          (INSTANCE, "depends_on", RDS)]:
        evs.append(edge_event("observed", Edge(src, dst, typ), "skygraph", time=now - 3600))
    for sid, kind, name in [(FRONTEND, "service", "frontend"), (CHECKOUT, "service", "checkout"),
                            (ORDERS, "service.database", "orders")]:
        svc = Node(id=sid, kind=kind, provider="otel", name=name)
        evs.append(CloudEvent("airdig.trace.service", "tracecore", sid, {"node": svc.to_dict()}, time=now - 600))
    for src, dst, reqs, errs, p95 in [(FRONTEND, CHECKOUT, 1200, 96, 2300.0), (CHECKOUT, ORDERS, 900, 0, 12.0)]:
        stats = {"request_count": reqs, "error_count": errs,
                 "errors": {"5xx": errs, "4xx": 0, "429": 0, "status_error": 0, "grpc": 0},
                 "latency_ms": {"bounds": [10, 100, 1000], "counts": [reqs // 2, reqs // 4, reqs // 8, reqs // 8]},
                 "p50": p95 / 4, "p95": p95, "p99": p95 * 1.5}
        evs.append(CloudEvent("airdig.trace.edge", "tracecore", src, {
            "src": src, "dst": dst, "type": "calls", "window_start": now - 300, "window_seconds": 60, "stats": stats},
            time=now - 240))
    evs.append(CloudEvent("airdig.trace.edge", "tracecore", CHECKOUT,
                          {"src": CHECKOUT, "dst": INSTANCE, "type": "runs_on", "window_start": now - 300,
                           "window_seconds": 60}, time=now - 240))
    evs.append(CloudEvent("airdig.change.recorded", "deepdrift", SG, {
        "id": "ct-0001", "kind": "cloudtrail", "summary": "AuthorizeSecurityGroupIngress on sg-0web: 0.0.0.0/0:22",
        "actor": ALICE, "time": to_rfc3339(now - 900),
        "details": {"eventName": "AuthorizeSecurityGroupIngress", "sourceIPAddress": "203.0.113.7"}}, time=now - 900))
    alice_write = {"event_id": "ct-0001", "event_name": "AuthorizeSecurityGroupIngress",
                   "event_time": to_rfc3339(now - 900), "principal": ALICE, "channel": "console",
                   "source_ip": "203.0.113.7"}
    evs.append(CloudEvent("airdig.drift.detected", "deepdrift", SG, {
        "id": DRIFT_ID, "resource_id": SG, "resource_type": "aws_security_group",
        "terraform_address": "aws_security_group.web", "kind": "changed", "severity": "high",
        # per-attribute attribution: the rule is alice's, the tag is bob's (DeepDrift's per-diff cause)
        "diffs": [{"path": "ingress[1].cidr_blocks", "expected": None, "actual": ["0.0.0.0/0"], "cause": alice_write},
                  {"path": "ingress[1].from_port", "expected": None, "actual": 22, "cause": alice_write},
                  {"path": "tags.Owner", "expected": "web-team", "actual": "bob", "cause": {
                      "event_id": "ct-0002", "event_name": "CreateTags", "event_time": to_rfc3339(now - 1500),
                      "principal": BOB, "channel": "cli-sdk", "source_ip": "198.51.100.9"}}],
        "cause": {"event_id": "ct-0001", "event_name": "AuthorizeSecurityGroupIngress",
                  "event_time": to_rfc3339(now - 900), "principal": ALICE, "channel": "console",
                  "source_ip": "203.0.113.7"},
        "remediation": "terraform apply -target=aws_security_group.web", "detected_at": to_rfc3339(now - 800)},
        time=now - 800))
    # a rescan saw the subnet change (between two scans), and the first scan of a new scope discovered an ENI:
    # Dig ranks the first below the attributed write (sharing its before/after table) and hides the second
    subnet = _aws(SUBNET, "aws.ec2.subnet", "prod-a", ("subnet-0b2",), CidrBlock="10.0.1.0/24", MapPublicIpOnLaunch=True)
    rescan = resource_event("updated", subnet, "skygraph", changed=["attrs.MapPublicIpOnLaunch"], time=now - 1000)
    rescan.data["observed_between"] = [to_rfc3339(now - 1500), to_rfc3339(now - 1000)]
    evs.append(rescan)
    eni = resource_event("created", _aws(ENI, "aws.ec2.network-interface", "eni-new", ("eni-0new",)), "skygraph",
                         time=now - 400)
    eni.data["discovered"] = True
    evs += [eni, edge_event("observed", Edge(ENI, INSTANCE, "network"), "skygraph", time=now - 400)]
    # two people on one Lambda function between two scans: each changed attribute names its own writer
    fn_old = _aws(FUNCTION, "aws.lambda.function", "worker", ("worker",), Timeout=30, Description="v1", MemorySize=128)
    fn_new = _aws(FUNCTION, "aws.lambda.function", "worker", ("worker",), Timeout=10, Description="v2", MemorySize=256)
    evs.append(resource_event("created", fn_old, "skygraph", time=now - 3600))
    fn_scan = resource_event("updated", fn_new, "skygraph",
                             changed=["attrs.Timeout", "attrs.Description", "attrs.MemorySize"], time=now - 2000)
    fn_scan.data["observed_between"] = [to_rfc3339(now - 3600), to_rfc3339(now - 2000)]
    evs.append(fn_scan)
    for eid, who, at, params in [("ct-fn-1", ALICE, now - 2600, {"functionName": "worker", "timeout": 10}),
                                 ("ct-fn-2", BOB, now - 2300, {"functionName": "worker", "description": "v2"})]:
        evs.append(CloudEvent("airdig.change.recorded", "deepdrift", FUNCTION, {
            "id": eid, "kind": "cloudtrail", "summary": "UpdateFunctionConfiguration20150331v2", "actor": who,
            "time": to_rfc3339(at), "details": {
                "event_id": eid, "event_name": "UpdateFunctionConfiguration20150331v2", "channel": "cli-sdk",
                "source_ip": "198.51.100.9", "request_parameters": params}}, time=at))
    evs.append(CloudEvent("airdig.health.changed", "pulsesight", INSTANCE, {
        "node_id": INSTANCE, "status": "critical", "previous": "healthy", "since": to_rfc3339(now - 300),
        "reasons": [{"rule": "p95_latency", "value": 2300, "threshold": 500, "since": to_rfc3339(now - 300),
                     "message": HEALTH_MESSAGE}]}, time=now - 300))
    # confirmedAt: a scan every 15 min confirmed the instance 2 min ago (fresh); the database's scope was
    # last read 50 min ago at a 10-minute cadence (stale); the security group was never confirmed
    evs += confirm_events("ec2/us-east-1", [INSTANCE], now - 120, "skygraph", interval=900.0, time=now - 110)
    evs += confirm_events("rds/us-east-1", [RDS], now - 3000, "skygraph", interval=600.0, time=now - 2990)
    return evs


TOPIC_OF = {"airdig.resource": TOPIC_RESOURCES, "airdig.edge": TOPIC_RESOURCES, "airdig.trace": TOPIC_TRACES,
            "airdig.change": TOPIC_DRIFT, "airdig.drift": TOPIC_DRIFT, "airdig.health": TOPIC_HEALTH}


def _root_fields(engine_url: str) -> set[str]:
    q = "{ __schema { queryType { fields { name } } mutationType { fields { name } } } }"
    d = httpx.post(f"{engine_url}/graphql", json={"query": q}, timeout=10).json()["data"]["__schema"]
    out = {f["name"] for f in d["queryType"]["fields"]}
    if d.get("mutationType"):
        out |= {f["name"] for f in d["mutationType"]["fields"]}
    return out


def _wait(cond: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    d = tmp_path_factory.mktemp("ui-e2e")
    svc = embedded_engine(d, "ui-e2e")
    store = svc.store
    svc.start()
    try:
        now = time.time()
        for ev in seed_events(now):
            svc.bus.publish(TOPIC_OF[ev.type.rsplit(".", 1)[0]], ev.subject, ev.encode())
        svc.bus.flush()

        def applied() -> bool:
            inst, sg = store.get_node(INSTANCE), store.get_node(SG)
            return (inst is not None and inst.health_status == "critical" and sg is not None
                    and sg.drift_status == "drifted" and store.get_node(ORDERS) is not None)

        _wait(applied, "the seeded events to be applied")
        with serve(build_app(svc)) as engine_url, serve(build_ui_app(engine_url)) as ui_url:
            yield Estate(engine_url, ui_url, svc, _root_fields(engine_url), now)
    finally:
        svc.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("AIRDIG_TEST_REQUIRE_SERVERS") == "1":
            pytest.fail("playwright is not installed (pip install playwright; it must be in the dev extra)")
        pytest.skip("playwright is not installed")
    if not os.access(CHROMIUM, os.X_OK):
        if os.environ.get("AIRDIG_TEST_REQUIRE_SERVERS") == "1":
            pytest.fail(f"{CHROMIUM} missing: scripts/services/start installs the Debian package chromium")
        pytest.skip(f"{CHROMIUM} missing (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, estate: Estate) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1440, "height": 900}, color_scheme="dark", base_url=estate.ui_url)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.set_default_timeout(10_000)
    yield pg
    ctx.close()
    if errors:  # an uncaught exception in the SPA fails the test that caused it
        raise AssertionError(f"JavaScript errors on the page: {errors}")
