"""Redis cache and fan-out: hot reads shared by every engine replica, and pub/sub so an update applied
by one replica reaches the WebSocket subscribers of all of them."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis

from airdig.errors import BackendUnavailable, ConfigError
from airdig.logs import get_logger
from airdig.supervisor import Supervisor

log = get_logger("cache.redis")


class _RedisSub:
    def __init__(self, pubsub: Any, stop: threading.Event, supervisor: Supervisor, name: str) -> None:
        self._pubsub = pubsub
        self._stop = stop
        self._supervisor = supervisor
        self._name = name

    def close(self) -> None:
        self._stop.set()
        self._supervisor.join(self._name, timeout=2)
        with contextlib.suppress(redis.RedisError):
            self._pubsub.close()


class RedisCache:
    """``redis://host:6379/0[?prefix=airdig:]`` (``rediss://`` for TLS); every key and channel is prefixed."""

    def __init__(self, url: str) -> None:
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError("AIRDIG_CACHE_URL", f"expected redis://host:port/db, got {url!r}")
        self.url = url
        parts = urlsplit(url)
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != "prefix"]
        self.prefix = dict(parse_qsl(parts.query)).get("prefix", "airdig:")
        plain = urlunsplit(parts._replace(query=urlencode(query)))
        try:
            self._r = redis.Redis.from_url(plain, socket_timeout=5, socket_connect_timeout=5, health_check_interval=30)
        except ValueError as exc:
            raise ConfigError("AIRDIG_CACHE_URL", f"bad Redis URL {url!r}: {exc}") from exc
        self._lock = threading.Lock()
        # the subscriber loops run under it; the engine hands in its own (metrics, liveness)
        self.supervisor = Supervisor("cache")

    def _k(self, key: str) -> str:
        return self.prefix + key

    def get(self, key: str) -> bytes | None:
        try:
            val = self._r.get(self._k(key))
        except redis.RedisError as exc:
            log.warning("cache read failed", error=str(exc))
            return None  # a cache miss, not an outage: the store still answers
        return val if isinstance(val, bytes) else None

    def set(self, key: str, value: bytes, ttl: float) -> None:
        try:
            self._r.set(self._k(key), value, px=max(1, int(ttl * 1000)))
        except redis.RedisError as exc:
            log.warning("cache write failed", error=str(exc))

    def swap(self, key: str, value: bytes, ttl: float) -> bytes | None:
        """``SET key value PX ttl GET``: set and return the old value in one atomic command (Redis >= 6.2);
        every replica sees one order of swaps. Raises :class:`BackendUnavailable` when Redis is away."""
        try:
            old = self._again(lambda: self._r.set(self._k(key), value, px=max(1, int(ttl * 1000)), get=True))
        except redis.RedisError as exc:
            raise BackendUnavailable("redis", f"swap of {key} failed: {exc}") from exc
        return old if isinstance(old, bytes) else None

    def delete(self, *keys: str) -> None:
        if keys:
            try:
                self._r.delete(*[self._k(k) for k in keys])
            except redis.RedisError as exc:
                log.warning("cache delete failed", error=str(exc))

    def generation(self, namespace: str) -> int:
        try:
            val = self._r.get(self._k("gen:" + namespace))
        except redis.RedisError:
            return -1  # unknown generation: callers then skip the cache
        return int(val) if val is not None else 0

    def _again(self, call: Callable[[], Any]) -> Any:
        """One more try on a dropped connection: after a Redis restart the pool's first connection is
        dead, and an invalidation or fan-out message must not be lost for that alone."""
        try:
            return call()
        except redis.ConnectionError:
            return call()

    def bump(self, namespace: str) -> int:
        try:
            return int(self._again(lambda: self._r.incr(self._k("gen:" + namespace))))
        except redis.RedisError as exc:
            raise BackendUnavailable("redis", f"cannot invalidate {namespace}: {exc}") from exc

    def publish(self, channel: str, message: bytes) -> None:
        try:
            self._again(lambda: self._r.publish(self._k(channel), message))
        except redis.RedisError as exc:
            raise BackendUnavailable("redis", f"publish to {channel} failed: {exc}") from exc

    def subscribe(self, channel: str, callback: Callable[[bytes], None]) -> _RedisSub:
        pubsub = self._r.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]

        def handler(msg: dict[str, Any]) -> None:
            data = msg.get("data")
            if isinstance(data, bytes):
                try:
                    callback(data)
                except Exception:
                    log.error("subscriber failed", exc_info=True, channel=channel)

        pubsub.subscribe(**{self._k(channel): handler})
        stop = threading.Event()

        def loop() -> None:
            """Redis away is an outage, not a death: wait, and the pub/sub connection reconnects and
            subscribes again on the next read (messages published meanwhile are lost: fan-out is best
            effort, the store is the truth). Anything else kills the loop and the supervisor restarts it."""
            delay = 0.2
            while not stop.is_set():
                try:
                    pubsub.get_message(timeout=0.05)
                    delay = 0.2
                except redis.RedisError as exc:
                    log.warning("subscriber lost Redis, will retry", channel=channel, error=str(exc))
                    stop.wait(delay)
                    delay = min(delay * 2, 2.0)  # cheap to retry; messages are lost while unsubscribed

        name = f"redis-subscriber-{channel}"
        supervisor = self.supervisor
        supervisor.spawn(name, loop, stop)
        return _RedisSub(pubsub, stop, supervisor, name)

    def ping(self) -> None:
        try:
            self._r.ping()
        except redis.RedisError as exc:
            raise BackendUnavailable("redis", str(exc)) from exc

    def close(self) -> None:
        self._r.close()
