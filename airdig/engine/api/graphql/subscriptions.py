"""GraphQL subscriptions (``resourceUpdated``, ``driftDetected``, ``alertFired``) over graphql-transport-ws.

Whichever replica applies an event publishes a notice on the cache channel ``graph-changes``
(:data:`airdig.engine.processor.FANOUT_CHANNEL`); every replica subscribes to that channel once
(:class:`FanoutHub`) and hands each notice to the asyncio queues of its own WebSocket clients. So a
client of any replica sees every update, whichever replica applied it (Redis pub/sub at scale, the
in-process cache on the embedded stack).

Queues are bounded: a client that reads slower than updates arrive loses the oldest ones (counted in
``FanoutHub.dropped`` and logged), so one slow client never holds memory or slows the others.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from types import TracebackType
from typing import Any, TypeVar, cast

import orjson
import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from airdig.backends.interfaces import Cache
from airdig.backends.interfaces import Subscription as CacheSubscription
from airdig.engine.api.views import ts
from airdig.engine.processor import FANOUT_CHANNEL
from airdig.errors import Unauthorized
from airdig.logs import get_logger

log = get_logger("engine.subscriptions")

QUEUE_SIZE = 256
CHANNELS = ("resourceUpdated", "driftDetected", "alertFired")


class Listener:
    """One client's queue of notices; iterate it in the event loop that created it."""

    def __init__(self, hub: FanoutHub, channels: frozenset[str], loop: asyncio.AbstractEventLoop,
                 size: int) -> None:
        self.hub = hub
        self.channels = channels
        self.loop = loop
        self.queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(maxsize=size)
        self.dropped = 0

    def offer(self, item: tuple[str, dict[str, Any]]) -> None:
        """Runs in the loop's thread; drops the oldest notice when the client is too slow."""
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
            self.hub.note_drop(self)
        self.queue.put_nowait(item)

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.hub.remove(self)

    def __aiter__(self) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        return self

    async def __anext__(self) -> tuple[str, dict[str, Any]]:
        return await self.queue.get()


class FanoutHub:
    """The replica's one subscription to ``graph-changes``, shared by all its WebSocket clients.

        hub = FanoutHub(cache)
        with hub.listen({"resourceUpdated"}) as sub:
            async for channel, payload in sub: ...
        hub.close()
    """

    def __init__(self, cache: Cache, queue_size: int = QUEUE_SIZE) -> None:
        self.cache = cache
        self.queue_size = queue_size
        self.delivered = 0
        self.dropped = 0
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self._sub: CacheSubscription | None = None
        self._closed = False

    @property
    def listener_count(self) -> int:
        with self._lock:
            return len(self._listeners)

    def start(self) -> None:
        """Subscribe to the fan-out channel (once; later calls do nothing)."""
        with self._lock:
            if self._sub is not None or self._closed:
                return
            self._sub = self.cache.subscribe(FANOUT_CHANNEL, self._on_message)
        log.info("subscribed to fan-out", channel=FANOUT_CHANNEL)

    def listen(self, channels: Iterable[str]) -> Listener:
        """Register a client queue in the running event loop (subscribing the replica on first use)."""
        self.start()
        listener = Listener(self, frozenset(channels), asyncio.get_running_loop(), self.queue_size)
        with self._lock:
            self._listeners.append(listener)
        return listener

    def remove(self, listener: Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def note_drop(self, listener: Listener) -> None:
        self.dropped += 1
        if listener.dropped == 1 or listener.dropped % 100 == 0:
            log.warning("slow subscriber: oldest updates dropped", dropped=listener.dropped)

    def _on_message(self, raw: bytes) -> None:
        """Runs in the cache's subscriber thread (or the publisher's, in process): hand over to each loop."""
        try:
            msg = orjson.loads(raw)
            channel, payload = msg["channel"], msg["payload"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            log.warning("malformed fan-out message ignored", size=len(raw))
            return
        if not isinstance(channel, str) or not isinstance(payload, dict):
            return
        with self._lock:
            targets = [ls for ls in self._listeners if channel in ls.channels]
        for ls in targets:
            try:
                ls.loop.call_soon_threadsafe(ls.offer, (channel, payload))
                self.delivered += 1
            except RuntimeError:  # its loop is closed: the connection is gone
                self.remove(ls)

    def close(self) -> None:
        with self._lock:
            sub, self._sub, self._closed = self._sub, None, True
            self._listeners.clear()
        if sub is not None:
            sub.close()


# ------------------------------------------------------------------ GraphQL types


@strawberry.type(description="A resource was created, updated or deleted.")
class ResourceUpdate:
    id: strawberry.ID
    action: str
    time: str


@strawberry.type(description="A new drift was detected.")
class DriftNotice:
    id: strawberry.ID
    resource_id: strawberry.ID
    severity: str
    kind: str
    time: str


@strawberry.type(description="A node turned critical.")
class AlertNotice:
    node_id: strawberry.ID
    status: str
    reasons: JSON
    time: str


F = TypeVar("F", bound=Callable[..., Any])


def subscription(description: str) -> Callable[[F], F]:
    """``strawberry.subscription`` with a type mypy can follow (strawberry's decorator is untyped)."""
    return cast(Callable[[F], F], strawberry.subscription(description=description))


def _time(value: Any) -> str:
    if isinstance(value, int | float):
        return ts(float(value)) or ""
    return str(value or "")


def _hub(info: Info[Any, Any]) -> FanoutHub:
    # defence in depth: the WebSocket protocols refuse operations before an accepted connection_init,
    # which is where the caller is set; never stream to a connection that has none
    if "principal" in info.context and info.context["principal"] is None:
        raise Unauthorized("subscriptions need an API token in the connection_init payload")
    hub = info.context.get("hub")
    if not isinstance(hub, FanoutHub):
        raise RuntimeError("subscriptions need the engine app's fan-out hub in the GraphQL context")
    return hub


@strawberry.type
class Subscription:
    @subscription("Resource created/updated/deleted; only the one with `id` if given.")
    async def resource_updated(self, info: Info[Any, Any], id: strawberry.ID | None = None
                               ) -> AsyncGenerator[ResourceUpdate, None]:
        with _hub(info).listen(["resourceUpdated"]) as sub:
            async for _, p in sub:
                if id is None or p.get("id") == str(id):
                    yield ResourceUpdate(id=strawberry.ID(str(p.get("id"))), action=str(p.get("action")),
                                         time=_time(p.get("time")))

    @subscription("Every new drift (any severity).")
    async def drift_detected(self, info: Info[Any, Any]) -> AsyncGenerator[DriftNotice, None]:
        with _hub(info).listen(["driftDetected"]) as sub:
            async for _, p in sub:
                yield DriftNotice(id=strawberry.ID(str(p.get("id"))),
                                  resource_id=strawberry.ID(str(p.get("resourceId"))),
                                  severity=str(p.get("severity")), kind=str(p.get("kind")),
                                  time=_time(p.get("time")))

    @subscription("A node turned critical (health alert).")
    async def alert_fired(self, info: Info[Any, Any]) -> AsyncGenerator[AlertNotice, None]:
        with _hub(info).listen(["alertFired"]) as sub:
            async for _, p in sub:
                yield AlertNotice(node_id=strawberry.ID(str(p.get("nodeId"))), status=str(p.get("status")),
                                  reasons=cast(JSON, p.get("reasons") or []), time=_time(p.get("time")))
