"""Per-attribute attribution from DeepDrift's watch to the engine's GraphQL, on both stacks.

The watch cycle publishes what DeepDrift computed for two people editing one Lambda function (and a
third write that caused no drift); the engine stores it; GraphQL answers each diff with its own writer
and the function's timeline holds every write on record.
Runs on SQLite + embedded bus + memory and on MariaDB + Kafka + Redis.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from airdig.backends.registry import open_bus, open_cache, open_store
from airdig.deepdrift.watch import Watcher
from airdig.engine.app import build_app
from airdig.engine.service import EngineService
from airdig.model.events import resource_event
from airdig.model.graph import Node
from tests.conftest import Backends
from tests.unit.deepdrift.test_attribute import FUNCTION_STATE, NOW, function_live, record, run

FN = "arn:aws:lambda:us-east-1:111122223333:function:worker"


@pytest.fixture
def client(backends: Backends) -> Iterator[TestClient]:
    store = open_store(backends.store_url)
    store.migrate()
    svc = EngineService(store=store, bus=open_bus(backends.bus_url), cache=open_cache(backends.cache_url),
                        group="attribution")
    result = run(FUNCTION_STATE, function_live(Timeout=10, Description="edited"), [
        record("e-alice", NOW - 600, "alice", "lambda", "UpdateFunctionConfiguration20150331v2",
               {"functionName": "worker", "timeout": 10}),
        record("e-bob", NOW - 300, "bob", "lambda", "UpdateFunctionConfiguration20150331v2",
               {"functionName": "worker", "description": "edited"}),
        record("e-carol", NOW - 60, "carol", "lambda", "PutFunctionConcurrency20171031",
               {"functionName": "worker", "reservedConcurrentExecutions": 5})])
    fn = Node(id=FN, kind="aws.lambda.function", provider="aws", account="111122223333", region="us-east-1",
              name="worker", native_ids=("worker",))  # as SkyGraph scanned it
    scanned = resource_event("created", fn, "skygraph", time=NOW - 3600)
    svc.bus.publish(scanned.topic, scanned.subject, scanned.encode())
    counts = Watcher(svc.bus).cycle(result)
    assert counts == {"detected": 1, "resolved": 0, "changes": 3}
    svc.start()
    deadline = time.monotonic() + 60
    while not (svc.processor and svc.processor.stats.applied >= 5):
        if time.monotonic() > deadline:
            raise AssertionError(f"applied {svc.processor.stats.applied if svc.processor else 0} of 5")
        time.sleep(0.1)
    with TestClient(build_app(svc)) as c:
        yield c
    svc.stop()


def q(client: TestClient, query: str, **variables: Any) -> dict[str, Any]:
    body: dict[str, Any] = client.post("/graphql", json={"query": query, "variables": variables}).json()
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


def test_each_diff_names_its_writer_and_every_write_is_on_the_timeline(client: TestClient) -> None:
    data = q(client, """{ driftEvents(first: 5) { edges { node { resourceId
        diffs { path expected actual cause { principal eventName eventTime sourceIp } }
        cause { principal eventName } } } } }""")
    (edge,) = data["driftEvents"]["edges"]
    d = edge["node"]
    assert d["resourceId"] == FN
    assert [(x["path"], x["cause"]["principal"]) for x in d["diffs"]] == [("timeout", "user/alice"),
                                                                           ("description", "user/bob")]
    assert d["diffs"][0]["cause"]["eventTime"] == "2027-01-15T07:50:00Z"
    assert d["cause"]["principal"] == "user/bob"

    timeline = q(client, "query($id: ID!) { timeline(id: $id, first: 10) { id kind actor } }", id=FN)["timeline"]
    on_record = {(c["id"], c["actor"]) for c in timeline if c["kind"] == "cloudtrail"}
    assert on_record == {("e-alice", "user/alice"), ("e-bob", "user/bob"), ("e-carol", "user/carol")}

    (item,) = client.get("/api/v1/drift-events").json()["items"]  # the REST mirror carries the stored diffs
    assert [x["cause"]["principal"] for x in item["diffs"]] == ["user/alice", "user/bob"]
