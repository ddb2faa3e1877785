"""The streaming body limit: a 100 MB body is refused once past the limit, never held in memory."""

from __future__ import annotations

import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from airdig.backends.registry import open_bus, open_cache, open_store
from airdig.engine.app import build_app
from airdig.engine.service import EngineService
from tests.unit.ui.servers import serve

MB = 1 << 20


@pytest.fixture
def engine_url(data_dir: Path) -> Iterator[str]:
    store = open_store(f"sqlite:///{data_dir / 'airdig.db'}")
    store.migrate()
    svc = EngineService(store=store, bus=open_bus(f"embedded://{data_dir / 'bus.db'}"), cache=open_cache("memory://"))
    svc.start(process_events=False)
    with serve(build_app(svc)) as url:  # the default edge: body limit, Origin check
        yield url
    svc.stop()


def test_100_mb_streamed_body_is_refused_without_buffering(engine_url: str) -> None:
    sent = {"bytes": 0}
    chunk = b"x" * MB

    def body() -> Iterator[bytes]:  # chunked: no Content-Length, the limit must be found while streaming
        for _ in range(100):
            sent["bytes"] += len(chunk)
            yield chunk

    tracemalloc.start()
    try:
        r = httpx.post(f"{engine_url}/graphql", content=body(), headers={"content-type": "application/json"},
                       timeout=60)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the client's own 1 MiB chunks and the server's reads are all that was ever held; buffering the body
    # (what the engine did before: it had no limit) peaks above 100 MB
    assert peak < 16 * MB, f"peak traced memory {peak / MB:.1f} MiB"
    assert r.status_code == 413, r.text
    assert r.json()["code"] == "LIMIT_EXCEEDED"
    assert sent["bytes"] == 100 * MB  # the rest was read and dropped, so the client could read our answer


def test_declared_oversize_body_with_expect_continue_is_refused_before_it_is_sent(engine_url: str) -> None:
    host, port = engine_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:" + port.encode() + b"\r\n"
                  b"Content-Type: application/json\r\nContent-Length: 104857600\r\nExpect: 100-continue\r\n\r\n")
        started = time.monotonic()
        head = s.recv(4096)
    assert head.startswith(b"HTTP/1.1 413"), head[:200]
    assert time.monotonic() - started < 2


def test_body_under_the_limit_still_works(engine_url: str) -> None:
    r = httpx.post(f"{engine_url}/graphql", json={"query": "{ __typename }", "pad": "x" * (MB // 2)}, timeout=10)
    assert r.status_code == 200 and r.json()["data"] == {"__typename": "Query"}


def test_a_refused_body_leaves_the_server_serving(engine_url: str) -> None:
    results: list[int] = []

    def big() -> None:
        results.append(httpx.post(f"{engine_url}/graphql", content=b"y" * (3 * MB), timeout=30).status_code)

    t = threading.Thread(target=big)
    t.start()
    t.join(30)
    assert results == [413]
    assert httpx.get(f"{engine_url}/healthz", timeout=5).status_code == 200
