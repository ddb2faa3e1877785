"""Servers for PulseSight's integration tests: a real Prometheus (Debian package) scraping a test exporter,
and a tiny programmable HTTP server used to play Loki or a misbehaving Prometheus."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

DATA = Path(__file__).parents[2] / "data" / "pulsesight"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Request:
    path: str
    params: dict[str, str]
    headers: dict[str, str]


@dataclass
class FakeHttp:
    """A loopback HTTP server whose answers a test sets: ``handler(request) -> (status, body bytes)``."""

    url: str
    handler: Callable[[Request], tuple[int, bytes]]
    requests: list[Request] = field(default_factory=list)


@pytest.fixture
def fake_http() -> Iterator[FakeHttp]:
    fake = FakeHttp("", lambda r: (404, b"{}"))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            req = Request(parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()},
                          {k.lower(): v for k, v in self.headers.items()})
            fake.requests.append(req)
            status, body = fake.handler(req)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out first, which is what a slow-server test wants

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield fake
    server.shutdown()
    server.server_close()


@dataclass
class Exporter:
    """A test exporter exposing ``pulse_test_value{instance_id="i-0abc123def4567890"}`` = ``value``."""

    url: str
    value: float = 0.0


@pytest.fixture(scope="module")
def exporter() -> Iterator[Exporter]:
    exp = Exporter("")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = ("# HELP pulse_test_value A gauge the test controls.\n# TYPE pulse_test_value gauge\n"
                    f'pulse_test_value{{instance_id="i-0abc123def4567890"}} {exp.value}\n').encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    exp.url = f"127.0.0.1:{server.server_address[1]}"
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield exp
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def prometheus(exporter: Exporter, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prometheus on a free loopback port, scraping ``exporter`` every second."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("the `prometheus` binary is not on PATH: install the Debian package "
                    "(apt-get install -y --no-install-recommends prometheus); scripts/test does it in CI")
    root = tmp_path_factory.mktemp("prometheus")
    (root / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: pulse\n    static_configs:\n"
        f"      - targets: ['{exporter.url}']\n")
    port = free_port()
    log = (root / "prometheus.log").open("wb")
    proc = subprocess.Popen([binary, f"--config.file={root / 'prometheus.yml'}",
                             f"--storage.tsdb.path={root / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"prometheus exited with {proc.returncode}: "
                            f"{(root / 'prometheus.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("prometheus did not become ready within 30 s")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
