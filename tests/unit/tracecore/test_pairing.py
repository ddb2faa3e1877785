"""Pairing on literal span summaries: parent pairing, link pairing, expiry to virtual nodes, the bound."""

from __future__ import annotations

import pytest

from airdig.tracecore.pairing import Pairer
from airdig.tracecore.spans import (
    KIND_CLIENT,
    KIND_CONSUMER,
    KIND_INTERNAL,
    KIND_PRODUCER,
    KIND_SERVER,
    Resource,
    SpanSummary,
)

pytestmark = pytest.mark.usefixtures("hot_path")  # both paths: pure Python and compiled

WEB, API, WORKER = Resource("web", "", {}), Resource("api", "shop", {}), Resource("worker", "", {})


def span(tid: str, sid: str, pid: str, kind: int, res: Resource, attrs: dict[str, object] | None = None,
         links: tuple[tuple[str, str], ...] = ()) -> SpanSummary:
    return SpanSummary(tid, sid, pid, kind, "op", 1_000_000_000, 1_010_000_000, 0, res, attrs or {}, links)


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_client_and_server_pair_in_either_order() -> None:
    p = Pairer(wait=10)
    calls = p.add([span("t1", "s2", "s1", KIND_SERVER, API)]) + p.add([span("t1", "s1", "", KIND_CLIENT, WEB)])
    assert {(c.src, c.dst, c.connection_type) for c in calls} == {("service://_/web", "service://shop/api", "")}
    assert p.counters.spans["paired"] == 2 and len(p) == 0


def test_consumer_pairs_with_producer_through_a_link_in_another_trace() -> None:
    p = Pairer(wait=10)
    producer = span("t1", "p1", "", KIND_PRODUCER, API, {"messaging.system": "kafka"})
    consumer = span("t2", "c1", "", KIND_CONSUMER, WORKER, links=(("t1", "p1"),))
    # on the bus each trace's aggregator sees the batch routed by its key
    calls = p.add([producer], route="t1") + p.add([consumer], route="t2") + p.add([consumer], route="t1")
    assert [(c.src, c.dst, c.connection_type) for c in calls] == \
        [("service://shop/api", "service://_/worker", "messaging_system")]
    assert p.counters.spans["root"] == 0 and p.counters.spans["paired"] == 2


def test_expired_database_client_becomes_virtual_node_and_others_are_counted() -> None:
    clock = Clock()
    p = Pairer(wait=5, clock=clock)
    db = span("t1", "d1", "s0", KIND_CLIENT, API, {"db.system.name": "postgresql", "db.namespace": "orders",
                                                   "server.address": "db.internal", "server.port": 5432})
    lonely = span("t1", "x1", "s0", KIND_CLIENT, API)
    orphan = span("t1", "y1", "gone", KIND_SERVER, API)
    assert p.add([db, lonely, orphan, span("t1", "i1", "s0", KIND_INTERNAL, API)]) == []
    clock.t = 4.9
    assert p.expire() == []
    clock.t = 5.0
    calls = p.expire()
    assert [(c.src, c.dst, c.connection_type) for c in calls] == \
        [("service://shop/api", "service://~db/db.internal:5432", "database")]
    peer = calls[0].peer
    assert peer is not None and peer.kind == "service.database" and peer.attrs["db.namespace"] == "orders"
    spans = p.counters.spans
    assert (spans["virtual"], spans["expired_unpaired"], spans["internal"]) == (1, 2, 1)
    assert p.counters.unpaired_by_side == {"client": 1, "server": 1}


def test_full_pending_store_drops_and_counts() -> None:
    p = Pairer(wait=10, max_pending=2)
    p.add([span("t", f"s{i}", "", KIND_CLIENT, WEB) for i in range(5)])
    assert len(p) == 2
    assert p.counters.spans["dropped"] == 3 and p.counters.dropped_by_side["client"] == 3
    # every span is counted once: 2 still pending + 3 dropped
    p.expire(force=True)
    assert sum(p.counters.spans.values()) == 5


def test_server_registered_under_parent_and_link_pairs_once() -> None:
    p = Pairer(wait=10)
    consumer = span("t1", "c1", "p1", KIND_CONSUMER, WORKER, links=(("t1", "p2"),))
    p.add([consumer])
    calls = p.add([span("t1", "p1", "", KIND_PRODUCER, API)])
    assert len(calls) == 1 and len(p) == 0  # the link key was forgotten once the parent paired
    assert p.add([span("t1", "p2", "", KIND_PRODUCER, API)]) == []
