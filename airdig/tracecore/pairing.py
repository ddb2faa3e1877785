"""Client/server and producer/consumer pairing, the way the servicegraph connector does it.

A CLIENT or PRODUCER span waits under its own span id, a SERVER or CONSUMER span under its parent's
span id and under every span it links to (asynchronous messaging links a consumer to the producer
instead of parenting it). When both halves of a key are present the pair becomes a :class:`Call`.
Halves wait at most ``wait`` seconds; then a client half that names its peer (database, queue,
``service.peer.name``) becomes a call to a **virtual node**, and any other half is counted as
expired-unpaired. The pending store is bounded: a half that finds it full is dropped and counted.

Every span is counted exactly once under one outcome (see :data:`OUTCOMES`), so the counters add up;
``handed_over`` counts halves given up with their bus partition (another aggregator reads them again).

    p = Pairer(wait=10.0)
    calls = p.add(spans) + p.expire()
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from airdig.model.graph import Node
from airdig.tracecore import native
from airdig.tracecore.infra import virtual_peer
from airdig.tracecore.spans import KIND_CLIENT, KIND_CONSUMER, KIND_PRODUCER, KIND_SERVER, SpanSummary

OUTCOMES = ("paired", "virtual", "expired_unpaired", "dropped", "root", "internal", "duplicate", "handed_over")
_CLIENTS = (KIND_CLIENT, KIND_PRODUCER)
_SERVERS = (KIND_SERVER, KIND_CONSUMER)


@dataclass(slots=True)
class Call:
    """One observed request along ``src -> dst``; ``server`` is None for calls to a virtual node."""

    src: str
    dst: str
    connection_type: str  # "" (rpc/http), messaging_system, database, virtual_node
    client: SpanSummary
    server: SpanSummary | None
    peer: Node | None = None


@dataclass(slots=True)
class _Half:
    client: SpanSummary | None
    server: SpanSummary | None
    deadline: float
    siblings: tuple[tuple[str, str], ...] = ()


@dataclass
class Counters:
    spans: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    dropped_by_side: dict[str, int] = field(default_factory=lambda: {"client": 0, "server": 0})
    unpaired_by_side: dict[str, int] = field(default_factory=lambda: {"client": 0, "server": 0})


class Pairer:
    """Not thread-safe: one aggregator thread owns it."""

    def __init__(self, wait: float = 10.0, max_pending: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if wait < 0 or max_pending < 1:
            raise ValueError("wait must be >= 0 and max_pending >= 1")
        self.wait = wait
        self.max_pending = max_pending
        self.clock = clock
        self.pending: dict[tuple[str, str], _Half] = {}
        self._order: deque[tuple[float, tuple[str, str]]] = deque()
        # per bus partition, client and server halves in the order they were read (= offset order);
        # entries whose half left the pending store are skipped lazily (see held_offsets)
        self._read_clients: dict[int, deque[tuple[int, tuple[str, str], _Half]]] = {}
        self._read_servers: dict[int, deque[tuple[int, tuple[str, str], _Half]]] = {}
        self.counters = Counters()

    def __len__(self) -> int:
        return len(self.pending)

    def add(self, spans: Iterable[SpanSummary], route: str | None = None) -> list[Call]:
        """Offer spans; returns the calls they complete. With ``route`` (the bus key this batch came
        under) a span is only paired under keys of that trace: its other keys belong to other
        aggregators, which receive their own copy of the span."""
        now = self.clock()
        kernel = native.pair_kernel()
        if kernel is not None and type(spans) is list:
            # the same statements, compiled (read queues of bus partitions included)
            return kernel.add(self, spans, route, float(now))
        out: list[Call] = []
        self._add(spans, route, now, out)
        return out

    def add_routed(self, batches: list[tuple[list[SpanSummary], str | None]]) -> list[Call]:
        """:meth:`add` of each ``(spans, route)`` in turn at one instant (one poll's bus records)."""
        now = self.clock()
        kernel = native.pair_kernel()
        if kernel is not None and all(type(spans) is list for spans, _ in batches):
            return kernel.add_routed(self, batches, float(now))
        out: list[Call] = []
        for spans, route in batches:
            self._add(spans, route, now, out)
        return out

    def _add(self, spans: Iterable[SpanSummary], route: str | None, now: float, out: list[Call]) -> None:
        count = self.counters.spans
        for s in spans:
            own = route is None or s.trace_id == route
            kind = s.kind
            if kind in _CLIENTS:
                if own:
                    self._offer((s.trace_id, s.span_id), s, True, now, (), out)
            elif kind in _SERVERS:
                keys: list[tuple[str, str]] = []
                if s.parent_id and own:
                    keys.append((s.trace_id, s.parent_id))
                for lt, ls in s.links:
                    if (route is None or lt == route) and (lt, ls) not in keys:
                        keys.append((lt, ls))
                if not keys:
                    if own and not s.parent_id and not s.links:
                        count["root"] += 1
                        s.state = 1
                    continue
                sibs = tuple(keys) if len(keys) > 1 else ()
                for k in keys:
                    if s.state == 1:
                        break
                    self._offer(k, s, False, now, sibs, out)
            elif own:
                count["internal"] += 1

    def _offer(self, key: tuple[str, str], s: SpanSummary, is_client: bool, now: float,
               sibs: tuple[tuple[str, str], ...], out: list[Call]) -> None:
        count = self.counters.spans
        half = self.pending.get(key)
        if half is None:
            if len(self.pending) >= self.max_pending:
                if s.state == 0:
                    s.state = 2
                    count["dropped"] += 1
                    self.counters.dropped_by_side["client" if is_client else "server"] += 1
                return
            deadline = now + self.wait
            new = self.pending[key] = _Half(s, None, deadline) if is_client else _Half(None, s, deadline, sibs)
            self._order.append((deadline, key))
            if s.partition >= 0:
                queues = self._read_clients if is_client else self._read_servers
                q = queues.get(s.partition)
                if q is None:
                    q = queues[s.partition] = deque()
                q.append((s.offset, key, new))
            return
        other = half.server if is_client else half.client
        mine = half.client if is_client else half.server
        if other is None:
            if mine is not None and mine is not s:
                count["duplicate"] += 1  # the same span id sent twice: keep the first
            return
        client = s if is_client else half.client
        server = half.server if is_client else s
        del self.pending[key]
        if client is None or server is None:
            return
        # a server registered under several keys (parent + links) pairs once; forget its other keys
        server_sibs = half.siblings if is_client else sibs
        if server_sibs:
            self._drop_siblings(server, server_sibs, key)
        client.state = server.state = 1
        count["paired"] += 2
        ctype = "messaging_system" if client.kind == KIND_PRODUCER or server.kind == KIND_CONSUMER else ""
        out.append(Call(client.resource.service_id, server.resource.service_id, ctype, client, server))

    def _drop_siblings(self, server: SpanSummary, sibs: tuple[tuple[str, str], ...],
                       used: tuple[str, str]) -> None:
        for k in sibs:
            if k != used:
                h = self.pending.get(k)
                if h is not None and h.server is server and h.client is None:
                    del self.pending[k]

    def held_offsets(self) -> tuple[dict[int, int], dict[int, int]]:
        """Per bus partition, the lowest offset of a waiting half, and of a waiting client half.

        Halves of a partition are read in offset order, so the first of its queue still waiting is the
        lowest; queue heads that left the pending store are dropped here (amortised O(1) per half)."""
        heads: list[dict[int, int]] = [{}, {}]
        for queues, low in ((self._read_clients, heads[0]), (self._read_servers, heads[1])):
            for part, q in queues.items():
                while q and self.pending.get(q[0][1]) is not q[0][2]:
                    q.popleft()
                if q:
                    low[part] = q[0][0]
        clients, servers = heads
        every = dict(clients)
        for part, off in servers.items():
            every[part] = min(off, every.get(part, off))
        return every, clients

    def forget(self, partitions: set[int]) -> int:
        """Give up the halves read from these bus partitions (they moved to another aggregator, which
        reads them again from the last commit); returns how many spans were given up."""
        gone = 0
        for key, half in list(self.pending.items()):
            s = half.client if half.client is not None else half.server
            if s is None or s.partition not in partitions:
                continue
            del self.pending[key]
            if s.state == 0:  # a server half waiting under several keys is given up once
                s.state = 2
                gone += 1
        for part in partitions:
            self._read_clients.pop(part, None)
            self._read_servers.pop(part, None)
        self.counters.spans["handed_over"] += gone
        return gone

    def expire(self, force: bool = False) -> list[Call]:
        """Close halves whose wait is over (all of them with ``force``, e.g. at shutdown)."""
        now = self.clock()
        out: list[Call] = []
        count = self.counters.spans
        while self._order and (force or self._order[0][0] <= now):
            deadline, key = self._order.popleft()
            half = self.pending.get(key)
            if half is None or half.deadline != deadline:
                continue
            del self.pending[key]
            if half.client is not None:
                c = half.client
                if c.state != 0:
                    continue
                peer = virtual_peer(c)
                if peer is not None:
                    c.state = 1
                    count["virtual"] += 1
                    out.append(Call(c.resource.service_id, peer[0].id, peer[1], c, None, peer[0]))
                else:
                    c.state = 2
                    count["expired_unpaired"] += 1
                    self.counters.unpaired_by_side["client"] += 1
            elif half.server is not None and half.server.state == 0:
                if any(k in self.pending and self.pending[k].server is half.server for k in half.siblings):
                    continue  # still waiting under another key
                half.server.state = 2
                count["expired_unpaired"] += 1
                self.counters.unpaired_by_side["server"] += 1
        return out
