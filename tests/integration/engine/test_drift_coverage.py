"""DeepDrift's coverage matrix travels watch → bus → engine store → GraphQL ``driftCoverage`` and REST
``/api/v1/drift-coverage``. Runs on SQLite + embedded bus and on MariaDB + Kafka + Redis."""

from __future__ import annotations

import time
from typing import Any

from starlette.testclient import TestClient

from airdig.backends.registry import open_bus, open_cache, open_store
from airdig.deepdrift.detect import compute
from airdig.deepdrift.mapping import Ctx
from airdig.deepdrift.tfstate import parse_state
from airdig.deepdrift.watch import Watcher
from airdig.engine.app import build_app
from airdig.engine.service import EngineService
from tests.conftest import Backends

STATE = b"""{"version": 4, "resources": [
 {"mode": "managed", "type": "aws_sqs_queue", "name": "jobs", "instances": [{"attributes": {
   "id": "https://sqs.us-east-1.amazonaws.com/111122223333/jobs", "name": "jobs", "delay_seconds": 0}}]},
 {"mode": "managed", "type": "aws_dynamodb_table", "name": "eu", "instances": [{"attributes": {
   "id": "t-eu", "name": "t-eu", "arn": "arn:aws:dynamodb:eu-west-1:111122223333:table/t-eu"}}]}]}"""


def _result(eu_failed: bool) -> Any:
    live = {"sqs.queues@us-east-1": [{"QueueUrl": "https://sqs.us-east-1.amazonaws.com/111122223333/jobs",
                                      "Attributes": {"DelaySeconds": "0"}}]}
    failed = {"dynamodb.tables@eu-west-1": "ClientError: AccessDenied"} if eu_failed else {}
    if not eu_failed:
        live["dynamodb.tables@eu-west-1"] = [{"TableName": "t-eu", "KeySchema": [], "AttributeDefinitions": []}]
    return compute(parse_state(STATE, "prod.tfstate").resources, live, failed,
                   Ctx("us-east-1", "111122223333"), [], states=["prod.tfstate"])


def _wait(svc: EngineService, n: int) -> None:
    deadline = time.monotonic() + 60
    while not (svc.processor and svc.processor.stats.applied >= n):
        if time.monotonic() > deadline:
            raise AssertionError(f"applied {svc.processor.stats.applied if svc.processor else 0} of {n}")
        time.sleep(0.1)


def test_the_latest_watch_cycles_coverage_is_served(backends: Backends) -> None:
    store = open_store(backends.store_url)
    store.migrate()
    svc = EngineService(store=store, bus=open_bus(backends.bus_url), cache=open_cache(backends.cache_url),
                        group="drift-coverage")
    watcher = Watcher(svc.bus)
    svc.start()
    try:
        with TestClient(build_app(svc)) as client:
            body = client.post("/graphql", json={"query": "{ driftCoverage }"}).json()
            assert body == {"data": {"driftCoverage": None}}
            assert client.get("/api/v1/drift-coverage").status_code == 404
            watcher.cycle(_result(eu_failed=True))
            _wait(svc, 1)
            watcher.cycle(_result(eu_failed=True))  # unchanged: nothing published
            watcher.cycle(_result(eu_failed=False))
            _wait(svc, 2)
            cov = client.post("/graphql", json={"query": "{ driftCoverage }"}).json()["data"]["driftCoverage"]
            scopes = {(s["type"], s["region"]): s["status"] for s in cov["scopes"]}
            assert scopes[("aws_dynamodb_table", "eu-west-1")] == "checked"
            assert cov["compared"] == {"state_resources": 2, "compared": 2, "share": 1.0}
            assert {"managed", "total", "by_type", "states", "unmanaged", "asOf"} <= set(cov)
            rest = client.get("/api/v1/drift-coverage").json()
            assert rest["scopes"] == cov["scopes"] and rest["asOf"] == cov["asOf"]
            assert svc.processor is not None and svc.processor.stats.applied == 2
    finally:
        svc.stop()
