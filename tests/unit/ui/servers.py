"""Run an ASGI app with uvicorn in a background thread on a free loopback port (for the UI's tests)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from airdig.backends.registry import open_bus, open_cache, open_store
from airdig.engine.service import EngineService


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Yields the base URL (``http://127.0.0.1:PORT``) while the app is served; stops it afterwards."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
                            lifespan="on", ws="websockets-sansio")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"test server on port {port} did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def embedded_engine(workdir: Path, group: str) -> EngineService:
    """An engine service on embedded backends in ``workdir`` (SQLite store, SQLite log bus, memory cache),
    migrated, not started: the UI tests and the UI benchmark seed it through its own bus."""
    store = open_store(f"sqlite:///{workdir / 'airdig.db'}")
    store.migrate()
    return EngineService(store=store, bus=open_bus(f"embedded://{workdir / 'bus.db'}"), cache=open_cache("memory://"),
                         group=group)
