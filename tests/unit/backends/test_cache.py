"""The cache + fan-out contract, in-process and on a real Redis server."""

from __future__ import annotations

import threading
import time

from airdig.backends.interfaces import Cache
from airdig.backends.registry import open_cache


def test_get_set_delete_and_ttl(cache: Cache) -> None:
    assert cache.get("k") is None
    cache.set("k", b"v", ttl=30)
    assert cache.get("k") == b"v"
    cache.delete("k")
    assert cache.get("k") is None
    cache.set("short", b"v", ttl=0.2)
    time.sleep(0.4)
    assert cache.get("short") is None


def test_generations_invalidate(cache: Cache) -> None:
    g0 = cache.generation("graph")
    assert cache.bump("graph") == g0 + 1
    assert cache.generation("graph") == g0 + 1


def test_pubsub_reaches_every_subscriber(cache_url: str) -> None:
    """Two handles on one backend stand for two engine replicas (with Redis, two connections)."""
    a = open_cache(cache_url)
    b = a if cache_url.startswith("memory") else open_cache(cache_url)
    got_a: list[bytes] = []
    got_b: list[bytes] = []
    done = threading.Event()

    def on_b(msg: bytes) -> None:
        got_b.append(msg)
        done.set()

    sa = a.subscribe("changes", got_a.append)
    sb = b.subscribe("changes", on_b)
    try:
        time.sleep(0.3)  # Redis subscriptions are asynchronous
        a.publish("changes", b"hello")
        assert done.wait(5)
        deadline = time.monotonic() + 5
        while not got_a and time.monotonic() < deadline:
            time.sleep(0.05)
        assert got_a == [b"hello"] and got_b == [b"hello"]
        sb.close()
        a.publish("changes", b"second")
        time.sleep(0.3)
        assert got_b == [b"hello"]
    finally:
        sa.close()
        sb.close()
        a.close()
        if b is not a:
            b.close()


def test_hold_keeps_the_first_value_and_refreshes_its_ttl(cache: Cache) -> None:
    assert cache.hold("h", b"first", 0.4) == b"first"
    time.sleep(0.25)
    assert cache.hold("h", b"second", 0.4) == b"first"  # kept, ttl renewed
    time.sleep(0.25)
    assert cache.get("h") == b"first"  # 0.5 s after it was set: alive only because hold renewed it
    time.sleep(0.5)
    assert cache.hold("h", b"third", 0.4) == b"third"  # expired: the new value is held
    cache.delete("h")
    assert cache.hold("h", b"fourth", 10) == b"fourth"
