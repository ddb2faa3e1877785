"""Publishing to the bus without ever crashing the receiver, and without dropping events silently.

A failed publish keeps the event in a bounded outbox that is retried before the next one, so a broker
restart delays transitions instead of losing them; only an overflowing outbox drops (oldest first,
counted and logged).

    outbox = Outbox(bus); state = HealthState(publish=outbox.publish)
"""

from __future__ import annotations

import threading
from collections import deque

from airdig.backends.interfaces import Bus
from airdig.logs import get_logger
from airdig.model.events import CloudEvent

log = get_logger("pulsesight.publish")


class Outbox:
    def __init__(self, bus: Bus | None, limit: int = 10_000) -> None:
        self.bus = bus
        self._pending: deque[CloudEvent] = deque()
        self._limit = limit
        self._lock = threading.Lock()
        self.published = 0
        self.failures = 0
        self.dropped = 0

    def publish(self, ev: CloudEvent) -> None:
        with self._lock:
            self._pending.append(ev)
            while len(self._pending) > self._limit:
                self._pending.popleft()
                self.dropped += 1
                log.error("outbox full: dropped the oldest unpublished event", limit=self._limit)
            self._drain()

    def retry(self) -> None:
        with self._lock:
            self._drain()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _drain(self) -> None:
        if self.bus is None or not self._pending:
            return
        sent = 0
        try:
            for ev in list(self._pending):
                self.bus.publish(ev.topic, ev.subject, ev.encode())
                sent += 1
            self.bus.flush()
        except Exception as exc:  # keep the events; telemetry must never take the receiver down
            self.failures += 1
            log.error("publish failed; will retry", error=str(exc), pending=len(self._pending))
            return
        for _ in range(sent):
            self._pending.popleft()
        self.published += sent
