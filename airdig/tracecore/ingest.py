"""The bounded hand-off between receivers and the rest of TraceCore.

Receivers decode a request, then :meth:`Ingest.submit` it. The queue is bounded in **spans**: when
full, ``submit`` refuses at once and the receiver answers 429 / RESOURCE_EXHAUSTED with a retry
hint, so memory stays bounded however hard clients push. A worker thread drains the queue into the
sinks (the bus, a local aggregator, the trace store). If a sink fails, the batch is counted as lost
and the receivers answer 503 for ``backoff`` seconds so clients retry later instead of piling on.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from airdig.backends.interfaces import Bus, TraceStore
from airdig.logs import get_logger
from airdig.model.events import TOPIC_TRACES, CloudEvent
from airdig.tracecore import spanblock
from airdig.tracecore.metrics import TraceCoreMetrics
from airdig.tracecore.spans import SpanSummary, encode_batch, group_by_trace

log = get_logger("tracecore.ingest")
Sink = Callable[[list[SpanSummary]], None]
SPAN_EVENT = "airdig.trace.span"


class Ingest:
    def __init__(self, sinks: Sequence[Sink], metrics: TraceCoreMetrics, max_queue_spans: int = 200_000,
                 backoff: float = 5.0) -> None:
        if max_queue_spans < 1:
            raise ValueError("max_queue_spans must be >= 1")
        self.sinks = list(sinks)
        self.metrics = metrics
        self.max_queue_spans = max_queue_spans
        self.backoff = backoff
        self._queue: deque[list[SpanSummary]] = deque()
        self._queued = 0
        self._cond = threading.Condition()
        self._stop = False
        self._busy = False
        self.degraded_until = 0.0
        self.last_error = ""
        metrics.queue_depths.append(lambda: self._queued)
        self._thread = threading.Thread(target=self._run, name="tracecore-ingest", daemon=True)
        self._thread.start()

    @property
    def degraded(self) -> bool:
        return time.monotonic() < self.degraded_until

    def submit(self, spans: list[SpanSummary]) -> bool:
        """Queue a decoded batch; False (nothing queued) when the queue cannot take it now."""
        if not spans:
            return True
        with self._cond:
            if self._stop or self._queued + len(spans) > self.max_queue_spans:
                return False
            self._queue.append(spans)
            self._queued += len(spans)
            self._cond.notify()
        return True

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every queued batch went through the sinks (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stop:
                    self._cond.wait(0.5)
                if not self._queue:
                    return
                batch = self._queue.popleft()
                self._busy = True
            try:
                for sink in self.sinks:
                    sink(batch)
            except Exception as exc:  # telemetry never crashes the host: count, log, back off
                self.degraded_until = time.monotonic() + self.backoff
                self.last_error = str(exc)
                self.metrics.received.labels("lost").inc(len(batch))
                log.error("span batch lost", spans=len(batch), error=str(exc))
            finally:
                with self._cond:
                    self._queued -= len(batch)
                    self._busy = False
                    self._cond.notify_all()

    def stop(self, timeout: float = 10.0) -> None:
        self.drain(timeout)
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout)


class BusSink:
    """Publishes each batch as ``airdig.trace.span`` records keyed by trace id (see spans.group_by_trace):
    binary span blocks (:mod:`.spanblock`), JSON CloudEvents for what a block cannot carry."""

    def __init__(self, bus: Bus, metrics: TraceCoreMetrics, source: str = "tracecore", blocks: bool = True) -> None:
        self.bus = bus
        self.metrics = metrics
        self.source = source
        self.blocks = blocks  # False: every batch as the JSON CloudEvent (readers from before blocks)

    def __call__(self, spans: list[SpanSummary]) -> None:
        blocks: list[tuple[str, bytes | None]] = (
            spanblock.encode_by_trace(spans) if self.blocks else [(t, None) for t in group_by_trace(spans)])
        groups: dict[str, list[SpanSummary]] | None = None
        for trace_id, block in blocks:
            if block is None:  # something a block cannot carry exactly: the JSON CloudEvent
                groups = group_by_trace(spans) if groups is None else groups
                ev = CloudEvent(type=SPAN_EVENT, source=self.source, subject=trace_id,
                                data=encode_batch(groups[trace_id]))
                block = ev.encode()
            self.bus.publish(TOPIC_TRACES, trace_id, block)
        self.bus.flush()
        self.metrics.published.labels(SPAN_EVENT).inc(len(blocks))


class StoreSink:
    def __init__(self, store: TraceStore) -> None:
        self.store = store

    def __call__(self, spans: list[SpanSummary]) -> None:
        self.store.put_spans([s.to_store() for s in spans])
