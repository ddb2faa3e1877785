"""The Redis cache through a real Sentinel (``redis-server --sentinel``) watching the test Redis."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis

from airdig.backends.registry import open_cache
from airdig.errors import BackendUnavailable
from tests.conftest import server_url
from tests.integration.pulsesight.conftest import free_port


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``host:port`` of a Sentinel monitoring the test Redis as ``airdig-test``."""
    target = urlsplit(server_url("AIRDIG_TEST_REDIS_URL"))
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not on PATH: scripts/test installs it")
    root = tmp_path_factory.mktemp("sentinel")
    port = free_port()
    conf = root / "sentinel.conf"  # Sentinel rewrites its config file: it must be writable
    conf.write_text(f"port {port}\nbind 127.0.0.1\ndir {root}\n"
                    f"sentinel monitor airdig-test {target.hostname} {target.port} 1\n")
    log = (root / "sentinel.log").open("wb")
    proc = subprocess.Popen([binary, str(conf), "--sentinel"], stdout=log, stderr=subprocess.STDOUT)
    try:
        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
        deadline = time.monotonic() + 20
        while True:
            try:
                if client.execute_command("SENTINEL", "get-master-addr-by-name", "airdig-test"):
                    break
            except redis.RedisError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"sentinel did not start: {Path(root / 'sentinel.log').read_text()[-2000:]}")
            time.sleep(0.2)
        client.close()
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def test_cache_and_fan_out_through_sentinel(sentinel: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}:"
    cache = open_cache(f"redis+sentinel://{sentinel},127.0.0.1:1/airdig-test/0?prefix={prefix}")
    try:
        cache.ping()
        cache.set("k", b"v", 60)
        assert cache.get("k") == b"v"
        got: list[bytes] = []
        done = threading.Event()

        def on_message(m: bytes) -> None:
            got.append(m)
            done.set()

        sub = cache.subscribe("updates", on_message)
        time.sleep(0.3)
        cache.publish("updates", b"hello")
        assert done.wait(5) and got == [b"hello"]
        sub.close()
    finally:
        cache.close()
    # the value really sits in the Redis the Sentinel names
    direct = open_cache(f"{server_url('AIRDIG_TEST_REDIS_URL')}?prefix={prefix}")
    try:
        assert direct.get("k") == b"v"
    finally:
        direct.close()


def test_unknown_service_is_a_clear_error(sentinel: str) -> None:
    cache = open_cache(f"redis+sentinel://{sentinel}/no-such-service/0")
    try:
        with pytest.raises(BackendUnavailable, match=r"^redis unavailable: sentinel no-such-service via .*No master"):
            cache.ping()
    finally:
        cache.close()
