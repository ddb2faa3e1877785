"""The engine's event processor: poll a batch, apply it in one store transaction, then commit offsets.

Offsets are committed only after the store commit, so a crash re-delivers (at-least-once) and the
idempotent apply drops what was already applied. Events that can never be applied go to
``airdig.deadletter`` with the reason: those the decoder or the column limits reject, and those the
store itself rejects (:class:`~airdig.errors.StoreRejected`; the applier bisects the batch to find
them). A store outage or lost race (:class:`~airdig.errors.BackendUnavailable`) is retried with backoff
and never dead-letters; so is an error nobody classified, reported in ``last_error`` and the metrics
rather than risk dropping good events. A broker outage while dead-lettering or committing offsets is
retried too: the processor thread does not die of it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson

from airdig.backends.interfaces import Bus, Cache, Consumer, Record, Store
from airdig.engine.apply import Applier, ApplyResult, Prepared
from airdig.engine.metrics import EngineMetrics
from airdig.engine.readcache import GRAPH_GENERATION
from airdig.errors import BackendUnavailable
from airdig.logs import get_logger
from airdig.model.events import TOPIC_DEADLETTER, TOPIC_DRIFT, TOPIC_HEALTH, TOPIC_RESOURCES, TOPIC_TRACES
from airdig.supervisor import Supervisor

log = get_logger("engine.processor")

APPLIED_TOPICS = (TOPIC_RESOURCES, TOPIC_DRIFT, TOPIC_TRACES, TOPIC_HEALTH)
FANOUT_CHANNEL = "graph-changes"


def deadletter_value(rec: Record, reason: str) -> bytes:
    """What lands on the dead-letter topic: the original bytes and where they came from, and why."""
    try:
        original: Any = rec.value.decode("utf-8")
    except UnicodeDecodeError:
        original = {"base64": __import__("base64").b64encode(rec.value).decode()}
    return orjson.dumps({"reason": reason, "topic": rec.topic, "partition": rec.partition, "offset": rec.offset,
                         "key": rec.key, "value": original, "time": time.time()})


@dataclass
class _InFlight:
    records: list[Record]
    future: Future[ApplyResult | None]
    started: float


@dataclass
class ProcessorStats:
    applied: int = 0
    duplicates: int = 0
    deadlettered: int = 0
    batches: int = 0
    lag: dict[tuple[str, int], int] = field(default_factory=dict)
    last_error: str | None = None


class EventProcessor:
    """Runs in its own thread; ``stop()`` finishes the batch in hand and leaves the consumer group.

        proc = EventProcessor(store, bus, cache, group="airdig-engine"); proc.start(); ...; proc.stop()
    """

    def __init__(self, store: Store, bus: Bus, cache: Cache | None, group: str, metrics: EngineMetrics | None = None,
                 batch_size: int = 1000, member_id: str | None = None, topics: tuple[str, ...] = APPLIED_TOPICS,
                 supervisor: Supervisor | None = None) -> None:
        self.store = store
        self.bus = bus
        self.cache = cache
        self.group = group
        self.metrics = metrics
        self.batch_size = batch_size
        self.member_id = member_id
        self.topics = topics
        self.applier = Applier(store)
        self.stats = ProcessorStats()
        self._stop = threading.Event()
        self.supervisor = supervisor or Supervisor("engine", metrics.thread_restarts if metrics else None)
        self.thread_name = f"processor-{member_id or 'main'}"
        self._started = False
        self._consumer: Consumer | None = None
        self.ready = threading.Event()
        # called with each committed batch's notices (e.g. alerts); must not block: they queue work
        self.on_notices: list[Callable[[list[tuple[str, dict[str, Any]]]], None]] = []

    def start(self) -> None:
        """Run under the supervisor: a run that dies (closing its consumer, so the batch in hand is
        re-delivered) is started again with backoff; one that keeps dying fails liveness."""
        self._started = True
        self.supervisor.spawn(self.thread_name, self.run, self._stop)

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self.supervisor.join(self.thread_name, timeout)

    @property
    def alive(self) -> bool:
        return self._started and self.supervisor.alive(self.thread_name)

    def run(self) -> None:
        """Pipelined: batch N+1 is polled and decoded while batch N is written; offsets of N are committed
        only after N's store transaction committed."""
        self._consumer = consumer = self.bus.consumer(self.group, list(self.topics), self.member_id)
        writer = ThreadPoolExecutor(1, thread_name_prefix="apply")
        inflight: _InFlight | None = None
        self.ready.set()
        log.info("processor started", group=self.group, topics=list(self.topics), member=self.member_id)
        last_lag = 0.0
        try:
            while not self._stop.is_set():
                try:
                    records = consumer.poll(self.batch_size, timeout=0.05 if inflight else 0.5)
                except Exception as exc:  # broker hiccup: keep the process up, retry
                    self._note_error("poll failed", exc)
                    self._stop.wait(1.0)
                    continue
                prepared = self.applier.prepare(records) if records else None
                if inflight is not None:
                    self._finish(consumer, inflight)
                    inflight = None
                if prepared is not None:
                    inflight = _InFlight(records, writer.submit(self._commit, prepared), time.perf_counter())
                if time.monotonic() - last_lag > 5.0:
                    last_lag = time.monotonic()
                    self._update_lag()
            if inflight is not None:
                self._finish(consumer, inflight)
        finally:
            writer.shutdown(wait=True)
            consumer.close()
            log.info("processor stopped", group=self.group, applied=self.stats.applied)

    def _commit(self, prepared: Prepared) -> ApplyResult | None:
        """Write a batch, retrying with backoff while the store fails; ``None`` if stopped meanwhile."""
        delay = 0.2
        while True:
            try:
                return self.applier.commit(prepared)
            except BackendUnavailable as exc:  # outage, deadlock, lock wait: retry the batch, commit nothing
                self._note_error("store unavailable, will retry", exc)
                if self.metrics:
                    self.metrics.apply_errors.inc()
                if self._stop.wait(delay):
                    return None  # stopping: the uncommitted batch is re-delivered to whoever takes over
                delay = min(delay * 2, 10.0)
            except Exception as exc:  # unclassified (a bug or an unknown driver error): retry, never drop
                self._note_error("apply failed (unclassified error), will retry", exc)
                if self.metrics:
                    self.metrics.apply_errors.inc()
                if self._stop.wait(delay):
                    return None  # stopping: the uncommitted batch is re-delivered to whoever takes over
                delay = min(delay * 2, 10.0)

    def _finish(self, consumer: Consumer, job: _InFlight) -> None:
        result = job.future.result()
        if result is None:
            return
        if result.dead and not self._retrying("dead-letter publish failed", lambda: self._deadletter(result)):
            return  # stopping before the dead letters left: offsets stay, the batch is re-delivered
        if not self._retrying("offset commit failed", lambda: consumer.commit(job.records)):
            return
        self._account(result, len(job.records), time.perf_counter() - job.started)
        self._fan_out(result)

    def _deadletter(self, result: ApplyResult) -> None:
        for rec, reason in result.dead:
            self.bus.publish(TOPIC_DEADLETTER, rec.key, deadletter_value(rec, reason))
        self.bus.flush(30.0)  # raises when the broker did not take them; then all are sent again
        for rec, reason in result.dead:
            log.warning("event dead-lettered", topic=rec.topic, partition=rec.partition, offset=rec.offset,
                        reason=reason)

    def _retrying(self, what: str, action: Callable[[], None]) -> bool:
        """Run ``action`` until it succeeds (True) or the processor stops (False), backing off meanwhile."""
        delay = 0.2
        while True:
            try:
                action()
                return True
            except Exception as exc:  # the broker is away: keep the batch in hand, keep the thread alive
                self._note_error(f"{what}, will retry", exc)
                if self._stop.wait(delay):
                    return False
                delay = min(delay * 2, 10.0)

    def _update_lag(self) -> None:
        if self._consumer is None:
            return
        try:
            self.stats.lag = self._consumer.lag()
        except Exception as exc:
            self._note_error("lag lookup failed", exc)
            return
        if self.metrics:
            self.metrics.set_lag(self.stats.lag)

    def _note_error(self, what: str, exc: BaseException) -> None:
        self.stats.last_error = f"{what}: {exc}"
        log.warning(what, error=str(exc), error_type=type(exc).__name__)

    def _account(self, result: ApplyResult, n: int, seconds: float) -> None:
        s = self.stats
        s.applied += result.applied
        s.duplicates += result.duplicates
        s.deadlettered += len(result.dead)
        s.batches += 1
        if self.metrics:
            self.metrics.record_batch(result.applied, result.duplicates, len(result.dead), seconds)
        log.debug("batch applied", records=n, applied=result.applied, duplicates=result.duplicates,
                  dead=len(result.dead), seconds=round(seconds, 4))

    def _fan_out(self, result: ApplyResult) -> None:
        """Invalidate cached reads and tell every replica's subscribers (Redis pub/sub at scale)."""
        for hook in self.on_notices if result.notices else ():
            try:
                hook(result.notices)
            except Exception as exc:  # a hook's failure never affects the apply path
                self._note_error("notice hook failed", exc)
        if self.cache is None or not (result.applied or result.notices):
            return
        try:
            self.cache.bump(GRAPH_GENERATION)
            for channel, payload in result.notices:
                self.cache.publish(FANOUT_CHANNEL, orjson.dumps({"channel": channel, "payload": payload}))
        except Exception as exc:  # fan-out is best effort; the store is the truth
            self._note_error("fan-out failed", exc)
