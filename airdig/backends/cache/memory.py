"""In-process cache and fan-out: the embedded default (one engine process, no Redis)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from airdig.logs import get_logger

log = get_logger("cache.memory")


class _Sub:
    def __init__(self, cache: MemoryCache, channel: str, cb: Callable[[bytes], None]) -> None:
        self.cache, self.channel, self.cb = cache, channel, cb

    def close(self) -> None:
        with self.cache._lock:
            subs = self.cache._subs.get(self.channel, [])
            if self in subs:
                subs.remove(self)


class MemoryCache:
    """``memory://?max_entries=10000`` — an LRU with TTLs and synchronous local pub/sub."""

    in_process = True  # no I/O: a read may run on the event loop (airdig.engine.readcache.ReadCache.peek)

    def __init__(self, url: str = "memory://", max_entries: int = 10000) -> None:
        self.url = url
        self.max_entries = max_entries
        self._data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._gens: dict[str, int] = {}
        self._subs: dict[str, list[_Sub]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            if item[0] < time.monotonic():
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return item[1]

    def set(self, key: str, value: bytes, ttl: float) -> None:
        with self._lock:
            self._data[key] = (time.monotonic() + ttl, value)
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def swap(self, key: str, value: bytes, ttl: float) -> bytes | None:
        """Set ``key`` and return what it held (None if nothing), atomically."""
        with self._lock:
            item = self._data.get(key)
            now = time.monotonic()
            old = item[1] if item is not None and item[0] >= now else None
            self._data[key] = (now + ttl, value)
            self._data.move_to_end(key)
        return old

    def delete(self, *keys: str) -> None:
        with self._lock:
            for k in keys:
                self._data.pop(k, None)

    def generation(self, namespace: str) -> int:
        with self._lock:
            return self._gens.get(namespace, 0)

    def bump(self, namespace: str) -> int:
        with self._lock:
            self._gens[namespace] = self._gens.get(namespace, 0) + 1
            return self._gens[namespace]

    def publish(self, channel: str, message: bytes) -> None:
        with self._lock:
            subs = list(self._subs.get(channel, []))
        for s in subs:
            try:
                s.cb(message)
            except Exception:  # a subscriber's bug must not break the publisher (the apply path)
                log.error("subscriber failed", exc_info=True, channel=channel)

    def subscribe(self, channel: str, callback: Callable[[bytes], None]) -> _Sub:
        sub = _Sub(self, channel, callback)
        with self._lock:
            self._subs.setdefault(channel, []).append(sub)
        return sub

    def ping(self) -> None:
        return None

    def close(self) -> None:
        with self._lock:
            self._data.clear()
            self._subs.clear()
