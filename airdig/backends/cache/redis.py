"""Redis cache and fan-out: hot reads shared by every engine replica, and pub/sub so an update applied
by one replica reaches the WebSocket subscribers of all of them."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit, urlunsplit

import redis

from airdig.backends.options import UrlOptions
from airdig.errors import BackendUnavailable, ConfigError
from airdig.logs import get_logger
from airdig.model.redact import redact_text
from airdig.supervisor import Supervisor

SETTING = "AIRDIG_CACHE_URL"
# AirDig's own options; every other query option goes to redis-py's URL parser unchanged
_OWN = {"prefix", "ssl_ca", "ssl_cert", "ssl_key", "ssl_verify_identity", "password", "password_file",
        "password_env", "username", "sentinel_password", "sentinel_password_file", "sentinel_password_env"}

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
    """``redis://host:6379/0[?prefix=airdig:]`` (``rediss://`` for TLS); every key and channel is prefixed.

    ``rediss://user@host:6380/0?ssl_ca=/ca.pem&password_file=/run/secrets/redis``: TLS checked against
    ``ssl_ca`` (else the system CAs) including the host name (``ssl_verify_identity=false`` to skip the
    name), ``ssl_cert``/``ssl_key`` for a client certificate, an ACL user and its password (from the URL,
    a file or a variable).

    ``redis+sentinel://host1:26379,host2:26379/mymaster/0`` (``rediss+sentinel://`` for TLS) asks the
    Sentinels for the current primary of ``mymaster`` and follows failovers; the user/password are the
    data nodes', ``sentinel_password`` (``_file``/``_env``) the Sentinels' own if they require one.
    """

    def __init__(self, url: str) -> None:
        if not url.startswith(("redis://", "rediss://", "unix://", "redis+sentinel://", "rediss+sentinel://")):
            raise ConfigError(SETTING, f"expected redis://host:port/db, got {redact_text(url)!r}")
        self.url = url
        parts = urlsplit(url)
        opts = UrlOptions(SETTING, parts.query)
        self.prefix = opts.get("prefix", "airdig:") or ""
        query = [(k, v) for k, v in opts.values.items() if k not in _OWN]
        plain = urlunsplit(parts._replace(query=urlencode(query)))
        kwargs: dict[str, Any] = {}
        password = opts.secret("password")
        if password is not None:
            kwargs["password"] = password
        if opts.get("username"):
            kwargs["username"] = opts.get("username")
        tls = parts.scheme in ("rediss", "rediss+sentinel")
        if tls:
            ca, cert, key = opts.path("ssl_ca"), opts.path("ssl_cert"), opts.path("ssl_key")
            if bool(cert) != bool(key):
                raise ConfigError(SETTING, "a client certificate needs both ssl_cert and ssl_key")
            kwargs.update(ssl_ca_certs=ca, ssl_certfile=cert, ssl_keyfile=key, ssl_cert_reqs="required",
                          ssl_check_hostname=opts.flag("ssl_verify_identity", True))
        elif any(opts.get(k) for k in ("ssl_ca", "ssl_cert", "ssl_key")):
            raise ConfigError(SETTING, "TLS options need a rediss:// URL")
        # the subscriber loops run under it; the engine hands in its own (metrics, liveness)
        self.supervisor = Supervisor("cache")
        if parts.scheme.endswith("+sentinel"):
            self._r = self._from_sentinels(parts.netloc, parts.path, opts, kwargs, tls)
            self._lock = threading.Lock()
            return
        self.where = f"{parts.hostname}:{parts.port or 6379}" if parts.hostname else "redis"
        try:
            self._r = redis.Redis.from_url(plain, socket_timeout=5, socket_connect_timeout=5,
                                           health_check_interval=30, **kwargs)
        except ValueError as exc:
            raise ConfigError(SETTING, f"bad Redis URL {redact_text(url)!r}: {exc}") from None
        self._lock = threading.Lock()

    def _from_sentinels(self, netloc: str, path: str, opts: UrlOptions, kwargs: dict[str, Any],
                        tls: bool) -> redis.Redis:
        """The client of the primary the Sentinels name (``path`` = ``/service[/db]``)."""
        from redis.sentinel import Sentinel

        userinfo, _, hosts = netloc.rpartition("@")
        if userinfo:
            user, _, password = userinfo.partition(":")
            kwargs.setdefault("username", unquote(user) or None)
            if password:
                kwargs.setdefault("password", unquote(password))
        sentinels: list[tuple[str, int]] = []
        for item in hosts.split(","):
            host, _, port = item.strip().rpartition(":") if ":" in item else (item.strip(), "", "26379")
            try:
                sentinels.append((host.strip("[]"), int(port)))
            except ValueError:
                raise ConfigError(SETTING, f"bad Sentinel address {item!r}") from None
        service, _, db = path.strip("/").partition("/")
        if not sentinels or not service:
            raise ConfigError(SETTING, "expected redis+sentinel://host:26379[,host:26379]/SERVICE[/DB]")
        self.where = f"sentinel {service} via {hosts}"
        sentinel_kwargs: dict[str, Any] = {"socket_timeout": 5, "socket_connect_timeout": 5}
        sentinel_password = opts.secret("sentinel_password")
        if sentinel_password:
            sentinel_kwargs["password"] = sentinel_password
        if tls:
            sentinel_kwargs.update({k: v for k, v in kwargs.items() if k.startswith("ssl_")}, ssl=True)
        try:
            sentinel = Sentinel(sentinels, sentinel_kwargs=sentinel_kwargs, ssl=tls,  # type: ignore[no-untyped-call]
                                **kwargs)
            primary: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
                service, db=int(db or 0), socket_timeout=5, socket_connect_timeout=5, health_check_interval=30)
            return primary
        except ValueError as exc:
            raise ConfigError(SETTING, f"bad Redis Sentinel URL: {exc}") from None

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

    def hold(self, key: str, value: bytes, ttl: float) -> bytes:
        """``SET key value NX PX ttl``, ``PEXPIRE key ttl``, ``GET key`` in one MULTI/EXEC (any Redis
        version, one key: cluster-safe). Raises :class:`BackendUnavailable` when Redis is away."""
        k, px = self._k(key), max(1, int(ttl * 1000))

        def run() -> Any:
            pipe = self._r.pipeline(transaction=True)
            pipe.set(k, value, nx=True, px=px)
            pipe.pexpire(k, px)
            pipe.get(k)
            return pipe.execute()
        try:
            got = self._again(run)[2]
        except redis.RedisError as exc:
            raise BackendUnavailable("redis", f"hold of {key} failed: {exc}") from exc
        return got if isinstance(got, bytes) else value

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
            raise BackendUnavailable("redis", f"{self.where}: {redact_text(str(exc))}") from None

    def close(self) -> None:
        self._r.close()
