"""The aggregator: span summaries in, service map and ``airdig.traces`` events out.

With a bus it is a member of the consumer group ``group`` on ``airdig.traces``; span batches are keyed
by trace id, so every trace is paired by exactly one aggregator however many replicas receive its
spans.

Calls are bucketed in **event time**: the client span's start (the server span's for a call without a
client half) decides the window ``t - t % window_seconds``, so late, out-of-order and replayed spans
land in the minute they happened. A window is published once the wall clock passes its end plus
``lateness`` (calls complete up to ``wait`` after their spans arrive). Calls that arrive for a window
already published are gathered for another ``lateness`` seconds and published as the next **part** of
that window (``"part": n``, ``"producer"``: this aggregator), never replacing what was published: the
engine keeps parts as separate rows and its readers add them up. Event ids are derived from
(producer, edge, window, part), so a redelivered event is the same event.

**Offsets** (see :mod:`airdig.tracecore.offsets`): a record's offset is committed only once everything
it contributed is on the bus (its halves paired or expired, their calls' windows published, its services
announced), with the windows' publication bounds as the commit's metadata; so an aggregator killed with
halves and open windows in memory loses nothing (the next owner replays from the commit) and the replay
counts no call twice. Before the group takes partitions away (``revoked``, a scale event or a clean
stop) the aggregator publishes its open windows as parts, commits, and gives up its waiting halves of
those partitions, which the new owner reads again.

Memory is bounded by ``horizon``: a call older than ``horizon`` seconds behind the newest call time
seen (capped at the wall clock, so one span from the future cannot push everything out) is dropped and
counted in ``tracecore_late_calls_dropped_total``. The high-water mark follows span times, not the wall
clock alone, so a replay of hours-old spans arriving in one go is still bucketed per window.

At each publication it emits:

* ``airdig.trace.service`` for every service and virtual node (``{"node": Node.to_dict()}``),
* ``airdig.trace.edge`` ``calls`` with each closed window's statistics, keyed by the caller,
* ``airdig.trace.edge`` ``runs_on`` (service -> infrastructure) and ``depends_on`` (virtual database
  -> RDS / ElastiCache endpoint), without statistics.

    agg = Aggregator(bus, metrics, wait=10.0, window_seconds=60.0); agg.start() ... agg.stop()
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from dataclasses import dataclass, field

from airdig.backends.interfaces import Bus, Consumer
from airdig.errors import AirDigError, InvalidInput
from airdig.logs import get_logger
from airdig.model.events import TOPIC_TRACES, CloudEvent, is_span_block
from airdig.model.graph import Node
from airdig.supervisor import Supervisor
from airdig.tracecore.infra import endpoint_dependency, infra_refs, service_node
from airdig.tracecore.metrics import TraceCoreMetrics
from airdig.tracecore.offsets import OffsetLedger
from airdig.tracecore.pairing import Call, Pairer
from airdig.tracecore.servicemap import EdgeKey, EdgeStats, ServiceMap, accumulate
from airdig.tracecore.spanblock import decode_record
from airdig.tracecore.spans import Resource, ResourceCache, SpanSummary, decode_batch

log = get_logger("tracecore.aggregator")
SPAN_EVENT = "airdig.trace.span"
_SPAN_MARK = b'"type":"airdig.trace.span"'


@dataclass(slots=True)
class _Bucket:
    """The calls of one event-time window not yet published, per bus partition they were read from (-1:
    offered in process); ``due`` is when it may be published; ``low``: per partition, the lowest offset
    of a record one of its calls came from (held back from the commit)."""

    due: float
    edges: dict[int, dict[EdgeKey, EdgeStats]] = field(default_factory=dict)
    low: dict[int, int] = field(default_factory=dict)


def call_time(call: Call) -> float:
    """When a call happened: its client span's start (every call, virtual ones included, has one)."""
    return call.client.start_ns / 1e9


class Aggregator:
    def __init__(self, bus: Bus | None, metrics: TraceCoreMetrics, wait: float = 10.0,
                 max_pending: int = 100_000, window_seconds: float = 60.0, group: str = "airdig-tracecore",
                 source: str = "tracecore", consume: bool = True, retention: float = 7200.0,
                 lateness: float | None = None, horizon: float = 3600.0, max_edges: int = 100_000) -> None:
        if window_seconds <= 0:
            raise ValueError("window_seconds must be > 0")
        if max_edges < 1:
            raise ValueError("max_edges must be >= 1")
        if horizon < window_seconds:
            raise ValueError("horizon must be >= window_seconds")
        self.bus = bus
        self.metrics = metrics
        self.pairer = Pairer(wait=wait, max_pending=max_pending)
        self.servicemap = ServiceMap(retention=retention)
        self.window_seconds = window_seconds
        self.lateness = 2.0 * wait if lateness is None or lateness < 0 else lateness
        self.horizon = horizon
        self.high_water = 0.0  # newest call time seen (capped at the wall clock when seen)
        self.late_dropped = 0
        self.max_edges = max_edges  # bound of the (window, edge) statistics held for publication
        self._open_edges = 0
        self.edges_dropped = 0
        self._next_edge_log = 0.0
        self._next_drop_log = 0.0
        self._buckets: dict[float, _Bucket] = {}
        self._parts: dict[float, int] = {}  # window_start -> parts already published
        self._last_publish = time.time()
        self.group = group
        self.source = source
        self.consume = consume and bus is not None
        self.member = uuid.uuid4().hex[:12]
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: Consumer | None = None
        self._ready = threading.Event()
        self.supervisor = Supervisor("tracecore", metrics.thread_restarts)
        self._assigned: list[tuple[str, int]] = []
        self.ledger = OffsetLedger(window_seconds)
        self._owned: set[int] = set()  # partitions of TOPIC_TRACES assigned to this member
        self._committed: dict[int, tuple[int, str]] = {}  # partition -> last (position, metadata) committed
        self._unsent: list[CloudEvent] = []  # built but not yet on the bus (broker away): hold the commit
        self._rejoin = False  # state dropped in a rebalance callback: read again with a fresh consumer
        self.replay_skipped = 0
        self._reset_window()
        self.bad_records = 0
        self._resource_cache: ResourceCache = {}  # equal resources of span records share one object
        metrics.watch(self.pairer, self.servicemap)

    def _reset_window(self) -> None:
        self._resources: dict[tuple[str, tuple[tuple[str, str], ...]], Resource] = {}
        self._peers: dict[str, Node] = {}

    # ---------------------------------------------------------------- pairing

    def offer(self, spans: list[SpanSummary], route: str | None = None) -> list[Call]:
        """Pair a batch (thread-safe); ``route`` is the trace id the batch was keyed by on the bus."""
        with self._lock:
            calls = self.pairer.add(spans, route)
            self._note_resources(spans)
            self._record(calls)
        return calls

    def _note_resources(self, spans: list[SpanSummary]) -> None:
        seen: set[int] = set()
        for s in spans:
            r = s.resource
            if id(r) not in seen:
                seen.add(id(r))
                self._resources.setdefault((r.service_id, tuple(sorted(r.attrs.items()))), r)

    def _record(self, calls: list[Call]) -> None:
        if not calls:
            return
        wall = time.time()
        secs = self.window_seconds
        newest = min(max(c.client.start_ns for c in calls) / 1e9, wall)  # = max of call_time, one division
        if newest > self.high_water:
            self.high_water = newest
        oldest_ok = self.high_water - self.horizon
        latest_ok = wall + self.horizon
        dropped = skipped = 0
        # the calls kept, per bus partition they were read from (-1: offered in process)
        kept: dict[int, list[Call]] = {}
        buckets: dict[float, _Bucket] = {}  # this batch's windows, looked up once each
        bounds: dict[int, bool] = {}  # per partition: whether a last owner's publication bounds exist
        ledger = self.ledger
        for call in calls:
            client, server = call.client, call.server
            t = client.start_ns / 1e9  # call_time
            if t < oldest_ok or t > latest_ok:
                dropped += 1
                continue
            part = client.partition
            if part >= 0:
                start = t - t % secs
                low = client.offset
                has_bounds = bounds.get(part)
                if has_bounds is None:
                    has_bounds = bounds[part] = ledger.has_bounds(part)
                if has_bounds:
                    done = low if server is None else max(low, server.offset)
                    if ledger.published(part, start, low, done, server is None):
                        skipped += 1  # a replay met a call its partition's last owner published
                        continue
                if server is not None:
                    low = min(low, server.offset)
                bucket = buckets.get(start)
                if bucket is None:
                    bucket = buckets[start] = self._bucket(start, wall)
                if low < bucket.low.get(part, low + 1):
                    bucket.low[part] = low  # held back from the commit until this window is published
            part_kept = kept.get(part)
            if part_kept is None:
                part_kept = kept[part] = []
            part_kept.append(call)
            if call.peer is not None:
                self._peers[call.peer.id] = call.peer
                self.servicemap.note_peer(call.peer)
            if server is None:
                self._resources.setdefault((client.resource.service_id, ()), client.resource)
        # each call classified once (compiled when that path is active), then merged per group
        over = 0
        for part, part_calls in kept.items():
            for (minute, start, src, dst, ctype), group in accumulate(part_calls, secs).items():
                open_bucket = self._buckets.get(start)
                edges = open_bucket.edges.get(part) if open_bucket is not None else None
                st = edges.get((src, dst, ctype)) if edges is not None else None
                if st is None and self._open_edges >= self.max_edges:
                    over += group.requests  # memory bound: a new (window, edge) past max_edges is refused
                    continue
                self.servicemap.add_stats(minute, (src, dst, ctype), group)
                if st is None:
                    st = self._bucket(start, wall).edges.setdefault(part, {})[(src, dst, ctype)] = EdgeStats()
                    self._open_edges += 1
                st.merge(group)
        if over:
            self.edges_dropped += over
            self.metrics.edges_dropped.inc(over)
            if wall >= self._next_edge_log:
                self._next_edge_log = wall + 10.0
                log.warning("calls on new edges dropped: max_edges reached", calls=over,
                            dropped_total=self.edges_dropped, max_edges=self.max_edges)
        if skipped:
            self.replay_skipped += skipped
            self.metrics.replay_skipped.inc(skipped)
        if dropped:
            self.late_dropped += dropped
            self.metrics.late_dropped.inc(dropped)
            if wall >= self._next_drop_log:  # one line per 10 s at most: a stale backlog must not flood the log
                self._next_drop_log = wall + 10.0
                log.warning("calls outside the horizon dropped", calls=dropped, dropped_total=self.late_dropped,
                            horizon_s=self.horizon, oldest_kept=oldest_ok)

    def _bucket(self, start: float, wall: float) -> _Bucket:
        bucket = self._buckets.get(start)
        if bucket is None:
            # a window already published waits ``lateness`` for the rest of its late data
            due = start + self.window_seconds + self.lateness
            if start in self._parts:
                due = max(due, wall + self.lateness)
            bucket = self._buckets[start] = _Bucket(due)
        return bucket

    def expire(self, force: bool = False) -> list[Call]:
        with self._lock:
            calls = self.pairer.expire(force)
            self._record(calls)
        return calls

    # ---------------------------------------------------------------- publishing

    def window_events(self, now: float | None = None, everything: bool = False) -> list[CloudEvent]:
        """Close the windows that are due at ``now`` (all of them with ``everything``, e.g. at
        shutdown): their events, services and infrastructure edges seen since the last call."""
        now = time.time() if now is None else now
        secs = self.window_seconds
        with self._lock:
            due = sorted(s for s, b in self._buckets.items() if everything or b.due <= now)
            closed = [(start, self._buckets.pop(start).edges) for start in due]
            self._open_edges -= sum(len(e) for _, edges in closed for e in edges.values())
            parts: list[int] = []
            for start, _ in closed:
                n = self._parts.get(start, 0)
                parts.append(n)
                self._parts[start] = n + 1
            cutoff = self.high_water - self.horizon - secs
            for start in [s for s in self._parts if s < cutoff]:
                del self._parts[start]
            self.ledger.mark_published([start for start, _ in closed], self.pairer.held_offsets()[1])
            resources, peers = self._resources, self._peers
            self._reset_window()
            self.servicemap.prune(now)
            self._last_publish = now
        events: list[CloudEvent] = []
        nodes: dict[str, Node] = {}
        edges: set[tuple[str, str, str]] = set()
        for res in resources.values():
            nodes.setdefault(res.service_id, service_node(res))
            for ref in infra_refs(res):
                edges.add((res.service_id, "runs_on", ref))
        for peer in peers.values():
            nodes[peer.id] = peer
            dep = endpoint_dependency(peer)
            if dep:
                edges.add((peer.id, "depends_on", dep))
        for node in nodes.values():
            events.append(CloudEvent(type="airdig.trace.service", source=self.source, subject=node.id,
                                     data={"node": node.to_dict()}, time=now))
        for (start, window), part in zip(closed, parts, strict=True):
            merged: dict[tuple[str, str], EdgeStats] = {}
            for by_partition in window.values():
                for (src, dst, _), st in by_partition.items():
                    merged.setdefault((src, dst), EdgeStats()).merge(st)
            for (src, dst), st in sorted(merged.items()):
                events.append(CloudEvent(
                    type="airdig.trace.edge", source=self.source, subject=src, time=now,
                    id=self._event_id(src, dst, start, part), data={
                        "src": src, "dst": dst, "type": "calls", "window_start": start, "window_seconds": secs,
                        "part": part, "producer": self.member, "stats": st.to_dict()}))
        current = now - now % secs
        for src, etype, dst in sorted(edges):
            events.append(CloudEvent(type="airdig.trace.edge", source=self.source, subject=src, time=now, data={
                "src": src, "dst": dst, "type": etype, "window_start": current, "window_seconds": secs}))
        return events

    def _event_id(self, src: str, dst: str, start: float, part: int) -> str:
        """The same (producer, edge, window, part) always gets the same id: redelivery is idempotent."""
        key = f"{self.source}\x00{self.member}\x00{src}\x00{dst}\x00{self.window_seconds}\x00{start}\x00{part}"
        return hashlib.sha1(key.encode()).hexdigest()

    def next_due(self) -> float | None:
        """When the earliest open window may be published (None if none is open)."""
        with self._lock:
            return min((b.due for b in self._buckets.values()), default=None)

    def publish_window(self, now: float | None = None, everything: bool = False,
                       consumer: Consumer | None = None) -> list[CloudEvent]:
        """Close what is due and put it on the bus; with the ``consumer`` the records read, in the same
        transaction as the commit of the offsets the publication frees (see :meth:`commit`), so a kill
        leaves either both or neither. Events the bus refused (broker away) are kept and sent first
        next time, with the same ids (a repeat is dropped by the engine); until they are out, no offset
        is committed."""
        events = self.window_events(now, everything)
        if self.bus is None:
            return events
        with self._lock:
            self._unsent.extend(events)
            batch = list(self._unsent)
        if batch:
            if consumer is not None:
                positions = self._positions(None)
                consumer.publish_and_commit([(TOPIC_TRACES, ev.subject, ev.encode()) for ev in batch], positions)
                for (_, p), entry in positions.items():
                    self._committed[p] = entry
            else:
                for ev in batch:
                    self.bus.publish(TOPIC_TRACES, ev.subject, ev.encode())
                self.bus.flush()
            with self._lock:
                del self._unsent[:len(batch)]
            for ev in batch:
                self.metrics.published.labels(ev.type).inc()
        return events

    # ---------------------------------------------------------------- offsets and hand-over

    def commit(self, consumer: Consumer, partitions: set[int] | None = None) -> None:
        """Commit each partition below its lowest record whose effect is not on the bus yet, with the
        publication bounds a replay needs (see :mod:`airdig.tracecore.offsets`)."""
        if self._unsent:
            return
        out = {tp: entry for tp, entry in self._positions(partitions).items() if self._committed.get(tp[1]) != entry}
        if out:
            consumer.commit_positions(out)
            for (_, p), entry in out.items():
                self._committed[p] = entry

    def _positions(self, partitions: set[int] | None) -> dict[tuple[str, int], tuple[int, str]]:
        """Per partition: below its lowest record still held (a waiting half, a call in an open window,
        a service not yet announced), with the publication bounds as metadata."""
        with self._lock:
            holding = self.pairer.held_offsets()[0]
            for bucket in self._buckets.values():
                for p, low in bucket.low.items():
                    if low < holding.get(p, low + 1):
                        holding[p] = low
            out: dict[tuple[str, int], tuple[int, str]] = {}
            for p in self.ledger.partitions() if partitions is None else sorted(partitions):
                pos = self.ledger.position(p, holding.get(p))
                if pos >= 0:
                    out[(TOPIC_TRACES, p)] = (pos, self.ledger.metadata(p, pos))
            return out

    def _drop_partitions(self, parts: set[int]) -> None:
        with self._lock:
            self.pairer.forget(parts)
            for start in list(self._buckets):
                bucket = self._buckets[start]
                for p in parts:
                    self._open_edges -= len(bucket.edges.pop(p, {}))
                    bucket.low.pop(p, None)
                if not bucket.edges:
                    del self._buckets[start]
            for p in parts:
                self.ledger.forget(p)
                self._committed.pop(p, None)
                self._owned.discard(p)

    def assigned(self, consumer: Consumer, partitions: list[tuple[str, int]]) -> None:
        """Partitions came to us: start from the publication bounds their last owner committed."""
        ours = [(t, p) for t, p in partitions if t == TOPIC_TRACES]
        try:
            committed = consumer.committed(ours)
        except AirDigError as exc:  # without the bounds a replay could count calls twice: join again
            log.warning("committed offsets unreadable; joining the group again", member=self.member,
                        error=str(exc))
            self._rejoin = True
            return
        with self._lock:
            for tp in ours:
                c = committed.get(tp)
                self.ledger.load(tp[1], c.metadata if c is not None else "")
                self._committed.pop(tp[1], None)
                self._owned.add(tp[1])
        log.info("partitions assigned", member=self.member, partitions=[p for _, p in ours])

    def revoked(self, consumer: Consumer, partitions: list[tuple[str, int]]) -> None:
        """Partitions are about to go: publish the open windows, commit, give up their waiting halves."""
        parts = {p for t, p in partitions if t == TOPIC_TRACES and p in self._owned}
        if not parts:
            return  # handed over already (a clean stop hands over, then closing the consumer asks again)
        try:
            self.publish_window(everything=True, consumer=consumer)
            self.commit(consumer, parts)
        except AirDigError as exc:
            log.warning("hand-over publication failed: every partition is read again from its last commit",
                        member=self.member, error=str(exc))
            self._start_over()
            return
        self._drop_partitions(parts)
        log.info("partitions handed over", member=self.member, partitions=sorted(parts))

    def lost(self, consumer: Consumer, partitions: list[tuple[str, int]]) -> None:
        """Partitions were taken while we were away: their new owner replays them from the last commit."""
        log.warning("partitions lost to another member: every partition is read again from its last commit",
                    member=self.member, partitions=sorted(p for _, p in partitions))
        self._start_over()

    def _start_over(self) -> None:
        """Forget everything read since the last commit, built events not yet out included (nothing of
        it was published: publication and commit are one step), and read again from the commits with a
        fresh consumer; the partitions we no longer own are replayed by their new owner instead."""
        with self._lock:
            self._unsent.clear()
            owned = set(self._owned) | set(self.ledger.partitions())
        self._drop_partitions(owned)
        self._rejoin = True

    # ---------------------------------------------------------------- the consumer loop

    def start(self) -> None:
        """Run the loop under the supervisor (restarted with backoff if it dies; liveness fails if it
        keeps dying: see :mod:`airdig.supervisor`)."""
        self._thread = self.supervisor.spawn(f"tracecore-aggregator-{self.member}", self._run, self._stop)

    @property
    def alive(self) -> bool:
        return self.supervisor.alive(f"tracecore-aggregator-{self.member}")

    def assignment(self) -> list[tuple[str, int]]:
        """Partitions this member owned at its last poll (empty without a bus consumer).

        Read from the consumer by the aggregator's own thread: a Kafka consumer serialises calls, so
        asking it from another thread would wait behind ``poll``."""
        return list(self._assigned)

    def _refresh_assignment(self) -> None:
        get = getattr(self._consumer, "assignment", None)
        if get is not None:
            self._assigned = list(get())

    def handle(self, value: bytes, key: str, partition: int = -1, offset: int = -1) -> int:
        """Apply one bus record (read at ``partition``/``offset``); returns the number of spans it carried
        (0 for other event types)."""
        return self.handle_records([(value, key, partition, offset)])

    def _spans_of(self, value: bytes, key: str, partition: int, offset: int) -> list[SpanSummary] | None:
        """The spans of an ``airdig.trace.span`` record (a span block, or the JSON CloudEvent a receiver
        sends for what a block cannot carry), stamped with where they were read; None for other records
        and bad ones (counted)."""
        try:
            if is_span_block(value):
                return decode_record(value, partition, offset, self._resource_cache)
            if _SPAN_MARK not in value:
                return None
            ev = CloudEvent.decode(value, "airdig.traces record")
            if ev.type != SPAN_EVENT:
                return None
            spans = decode_batch(ev.data, resources_cache=self._resource_cache)
            if partition >= 0:
                for s in spans:
                    s.partition, s.offset = partition, offset
            return spans
        except InvalidInput as exc:
            self.bad_records += 1
            log.warning("bad span record skipped", key=key, error=str(exc))
            return None

    def handle_records(self, records: list[tuple[bytes, str, int, int]]) -> int:
        """Apply bus records ``(value, key, partition, offset)`` in read order, e.g. one poll's; returns
        the spans they carried. Each record is paired under its own route (its key), and the calls of
        all of them are then recorded in one step: the per-call work of windows, statistics and
        resources is paid once per poll, not once per record (a record holds one trace's spans)."""
        decoded: list[tuple[list[SpanSummary], str | None]] = []
        with self._lock:
            for value, key, partition, offset in records:
                spans = self._spans_of(value, key, partition, offset)
                if partition >= 0:
                    self.ledger.read(partition, offset, effect=spans is not None)
                if spans is not None:
                    decoded.append((spans, key))
            calls = self.pairer.add_routed(decoded)
            self._note_resources([s for spans, _ in decoded for s in spans])
            self._record(calls)
        return sum(len(spans) for spans, _ in decoded)

    def _run(self) -> None:
        """A backend outage (broker away) is waited out here with backoff; any other error ends the run
        and the supervisor starts it again (with a fresh consumer: the records of the dead run's last
        poll were not committed, so they come again)."""
        next_tick = 0.0
        delay = 0.2
        try:
            if self._consumer is not None:  # left by a run that died
                old, self._consumer = self._consumer, None
                try:
                    old.close()
                except AirDigError as exc:
                    log.warning("closing the dead run's consumer failed", error=str(exc))
            while not self._stop.is_set():
                try:
                    if self._consumer is None and self.consume and self.bus is not None:
                        self._consumer = self.bus.consumer(self.group, [TOPIC_TRACES], member_id=self.member,
                                                           listener=self)
                    self._ready.set()
                    next_tick = self._step(next_tick)
                    delay = 0.2
                except AirDigError as exc:
                    log.warning("aggregator backend error, will retry", error=str(exc))
                    self._stop.wait(delay)
                    delay = min(delay * 2, 10.0)
        finally:
            self._ready.set()

    def _step(self, next_tick: float) -> float:
        consumer = self._consumer
        if consumer is not None:
            # records fetched before their partition was handed over are left to the new owner
            self.handle_records([(rec.value, rec.key, rec.partition, rec.offset)
                                 for rec in consumer.poll(max_records=500, timeout=0.2)
                                 if rec.partition in self._owned])
            if self._rejoin:
                self._rejoin = False
                self._consumer = None
                consumer.close()
                return next_tick
        else:
            self._stop.wait(0.2)
        now = time.time()
        tick = now >= next_tick
        if tick:
            next_tick = now + min(1.0, self.pairer.wait / 2 or 0.1)
            self.expire()
            self._refresh_assignment()
        due = self.next_due()
        published = False
        if self._unsent or (due is not None and now >= due) or (
                (self._resources or self._peers) and now >= self._last_publish + self.window_seconds):
            self.publish_window(now, consumer=consumer)
            published = True
        if consumer is not None and (tick or published):
            self.commit(consumer)
        return next_tick

    def stop(self, flush: bool = True) -> None:
        """Stop consuming: hand the partitions over (open windows published, offsets committed, waiting
        halves left to the next owner); with ``flush`` expire every other pending half (offered in
        process) and publish the open window."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            try:
                self.revoked(consumer, consumer.assignment())
            finally:
                consumer.close()
        if flush:
            self.expire(force=True)
            try:
                self.publish_window(everything=True)
            except AirDigError as exc:
                log.error("last window not published", error=str(exc))
