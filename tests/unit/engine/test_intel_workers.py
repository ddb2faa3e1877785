"""rootCause in intel worker processes: the serving process stays free while one runs, answers and errors
are the same as in-process, and a dead worker costs one retryable error, not the feature.

To hold a root cause "in progress" for as long as the test needs, the worker process is stopped with
SIGSTOP: the request cannot finish until SIGCONT, which also proves the walk runs in that process.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from airdig.backends.registry import open_bus, open_cache, open_store
from airdig.engine.app import build_app
from airdig.engine.service import EngineService
from tests.unit.engine.test_api import ARN, seed
from tests.unit.ui.servers import serve

ROOT_CAUSE = """query($id: ID!) { rootCause(id: $id) { symptom summary verdict margin onset { source }
  candidates { score distance path change { id kind writers { path } } }
  impact { id distance resource { name } } setAside { reason } } }"""
RESOURCE = "query($id: ID!) { resource(id: $id) { id name } }"


def _engine(store_url: str, data_dir: Path, workers: int) -> EngineService:
    store = open_store(store_url)
    store.migrate()
    svc = EngineService(store=store, bus=open_bus(f"embedded://{data_dir / f'bus{workers}.db'}"),
                        cache=open_cache("memory://"), group=f"intel-{workers}")
    svc.start(intel_workers=workers)
    return svc


@pytest.fixture
def engines(store_url: str, data_dir: Path) -> Iterator[tuple[str, EngineService, str]]:
    """The same store served twice: with one intel worker process, and without (worker threads)."""
    pooled = _engine(store_url, data_dir, 1)
    seed(pooled, 4)
    threaded = _engine(store_url, data_dir, 0)
    try:
        with serve(build_app(pooled)) as url, serve(build_app(threaded)) as plain_url:
            yield url, pooled, plain_url
    finally:
        threaded.stop()
        pooled.stop()


def test_answers_and_errors_are_the_same_as_in_process(engines: tuple[str, EngineService, str]) -> None:
    url, svc, plain_url = engines
    assert svc.intel_pool is not None and os.getpid() not in svc.intel_pool.pids()
    at = "2030-01-01T00:00:00Z"  # a fixed time: both answers are for the same moment
    query = ROOT_CAUSE.replace("rootCause(id: $id)", f'rootCause(id: $id, at: "{at}")')
    for ident in (ARN, "i-0abc"):  # native ids resolve in the worker too
        pooled = httpx.post(f"{url}/graphql", json={"query": query, "variables": {"id": ident}}, timeout=30).json()
        plain = httpx.post(f"{plain_url}/graphql", json={"query": query, "variables": {"id": ident}},
                           timeout=30).json()
        assert "errors" not in pooled and pooled == plain
        assert pooled["data"]["rootCause"]["symptom"] == ARN
        rest = httpx.get(f"{url}/api/v1/root-cause/{ident}", params={"at": at}, timeout=30)
        assert rest.status_code == 200
        assert rest.json() == httpx.get(f"{plain_url}/api/v1/root-cause/{ident}", params={"at": at}, timeout=30).json()
    missing = httpx.post(f"{url}/graphql", json={"query": ROOT_CAUSE, "variables": {"id": "arn:nope"}}, timeout=30)
    err = missing.json()["errors"][0]
    assert err["extensions"]["code"] == "NOT_FOUND" and err["message"] == "resource not found: arn:nope"
    r = httpx.get(f"{url}/api/v1/root-cause/arn:nope", timeout=30)
    assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND"
    bad = httpx.post(f"{url}/graphql", json={"query": "{ rootCause(id: \"x\", windowMinutes: 0) { symptom } }"},
                     timeout=30).json()
    assert bad["errors"][0]["extensions"]["code"] == "BAD_INPUT"


def test_resource_is_answered_while_a_root_cause_runs_in_its_worker(engines: tuple[str, EngineService, str]) -> None:
    url, svc, _ = engines
    assert svc.intel_pool is not None
    (worker,) = svc.intel_pool.pids()
    os.kill(worker, signal.SIGSTOP)
    out: list[Any] = []
    try:
        t = threading.Thread(target=lambda: out.append(httpx.post(
            f"{url}/graphql", json={"query": ROOT_CAUSE, "variables": {"id": ARN}}, timeout=60)), daemon=True)
        t.start()
        time.sleep(0.5)
        with httpx.Client(base_url=url, timeout=10) as c:
            for _ in range(50):
                r = c.post("/graphql", json={"query": RESOURCE, "variables": {"id": ARN}})
                assert r.json()["data"]["resource"] == {"id": ARN, "name": "checkout-web"}
                assert c.get("/healthz").status_code == 200
        assert t.is_alive() and not out, "the root cause finished while its worker was stopped"
    finally:
        os.kill(worker, signal.SIGCONT)
    t.join(60)
    assert out and out[0].status_code == 200 and out[0].json()["data"]["rootCause"]["symptom"] == ARN


def test_a_dead_worker_costs_one_retryable_error(engines: tuple[str, EngineService, str]) -> None:
    url, svc, _ = engines
    assert svc.intel_pool is not None
    (worker,) = svc.intel_pool.pids()
    os.kill(worker, signal.SIGKILL)
    time.sleep(0.2)
    codes = []
    for _ in range(2):
        body = httpx.post(f"{url}/graphql", json={"query": ROOT_CAUSE, "variables": {"id": ARN}}, timeout=120).json()
        codes.append(body["errors"][0]["extensions"]["code"] if "errors" in body else "OK")
    assert codes in (["UNAVAILABLE", "OK"], ["OK", "OK"])  # the executor may notice the death before the call
    assert svc.intel_pool.pids() and worker not in svc.intel_pool.pids()


def test_workers_do_not_outlive_a_killed_engine(tmp_path: Path) -> None:
    """`airdig engine` SIGKILLed (OOM killer, node drain): its intel worker processes exit too."""
    import subprocess
    import sys

    from airdig.demo.estate import free_ports

    (port,) = free_ports(1)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AIRDIG_")}, "AIRDIG_AUTH": "off",
           "AIRDIG_DATA_DIR": str(tmp_path), "AIRDIG_LOG_LEVEL": "warning"}
    proc = subprocess.Popen([sys.executable, "-m", "airdig.cli", "engine", "--port", str(port), "--no-processor",
                             "--intel-workers", "2"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "engine did not start"
            time.sleep(0.2)
        children = [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
        workers = [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
        assert len(workers) == 2
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 15
    while any(Path(f"/proc/{w}").exists() for w in workers):
        assert time.monotonic() < deadline, "intel workers outlived their engine"
        time.sleep(0.2)
