"""Span blocks (airdig/tracecore/spanblock.py), the bus wire form of span batches: what a block carries
comes back exactly; the compiled writer produces the reference's bytes and the compiled reader the
reference's spans (or leaves the bytes to the reference, which raises its own error); what a block
cannot carry falls back to the JSON CloudEvent, which the aggregator still reads; other consumers of
``airdig.traces`` skip blocks."""

from __future__ import annotations

import importlib.util
import os
import random
import time
from pathlib import Path
from typing import Any

import pytest

from airdig.errors import InvalidInput
from airdig.model.events import CloudEvent, is_span_block
from airdig.tracecore import native, spanblock
from airdig.tracecore.decode import decode_request_python
from airdig.tracecore.spans import Resource, ResourceCache, SpanSummary, group_by_trace
from tests.unit.tracecore.test_native_parity import _bench

HAVE_NATIVE = importlib.util.find_spec("airdig_tracecore_native") is not None
if not HAVE_NATIVE and os.environ.get("AIRDIG_TEST_REQUIRE_NATIVE") == "1":
    raise RuntimeError("AIRDIG_TEST_REQUIRE_NATIVE=1 but airdig_tracecore_native is not installed")
needs_native = pytest.mark.skipif(not HAVE_NATIVE, reason="airdig_tracecore_native not built (scripts/test builds it)")

FIELDS = ("trace_id", "span_id", "parent_id", "kind", "name", "start_ns", "end_ns", "status", "resource", "attrs",
          "links", "status_message")




def odd_values(rng: random.Random, depth: int = 0) -> Any:
    """Every value type a block carries, nested."""
    pick = rng.randrange(9 if depth < 3 else 7)
    if pick == 7:
        return [odd_values(rng, depth + 1) for _ in range(rng.randrange(3))]
    if pick == 8:
        return {f"k{i}": odd_values(rng, depth + 1) for i in range(rng.randrange(3))}
    return [None, "x" * rng.randrange(4) + "é", rng.randrange(-2**63, 2**63), rng.random() * 1e9,
            True, False, float("nan")][pick]


def random_spans(seed: int) -> list[SpanSummary]:
    rng = random.Random(seed)
    res = [Resource(f"svc-{i}", rng.choice(["", "ns"]), {"host.id": f"i-{i}", "k8s.pod.name": "p"}) for i in range(3)]
    odd: dict[str, Any] = {"n": [1, 2], "d": {"x": None}}
    res.append(Resource("odd", "", odd))  # unhashable values: not shared by the cache
    traces = [f"{rng.getrandbits(128):032x}" for _ in range(6)]
    out = []
    for _ in range(rng.randrange(1, 30)):
        links = tuple((rng.choice(traces), f"{rng.getrandbits(64):016x}") for _ in range(rng.choice([0, 0, 0, 1, 2])))
        attrs = {f"a.{i}": odd_values(rng) for i in range(rng.randrange(5))}
        out.append(SpanSummary(rng.choice(traces), f"{rng.getrandbits(64):016x}",
                               rng.choice(["", f"{rng.getrandbits(64):016x}", "0" * 16]), rng.randrange(-1, 7),
                               rng.choice(["GET", "", "naïve ✓"]), rng.getrandbits(64), rng.getrandbits(64),
                               rng.randrange(3), rng.choice(res), attrs, links, rng.choice(["", "boom"])))
    return out


def same(a: SpanSummary, b: SpanSummary) -> bool:
    """Field by field; NaN equals NaN here (repr), resources by value."""
    return all(repr(getattr(a, f)) == repr(getattr(b, f)) for f in FIELDS)


@pytest.fixture
def native_on(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv(native.ENV, "on")
    native.reset()
    yield native.block_codec()
    native.reset()


def test_a_block_carries_every_field_exactly() -> None:
    for seed in range(60):
        spans = random_spans(seed)
        blk = spanblock.encode(spans)
        assert blk is not None and is_span_block(blk)
        back = spanblock.decode(blk, 4, 17)
        assert len(back) == len(spans)
        assert all(same(a, b) for a, b in zip(spans, back, strict=True)), seed
        assert all((b.partition, b.offset, b.state) == (4, 17, 0) for b in back)


def test_what_a_block_cannot_carry_is_refused_not_bent() -> None:
    base = random_spans(1)[0]
    cases: list[dict[str, Any]] = [{"trace_id": "ABCD" * 8}, {"span_id": "12"}, {"parent_id": None}, {"kind": 2**40}, {"start_ns": -1},
             {"attrs": {"big": 2**64}}, {"attrs": {1: "non-str key"}}, {"attrs": {"t": (1, 2)}},
             {"links": (("0" * 32, "xyz"),)}, {"name": "\ud800"}]
    for change in cases:
        s = SpanSummary(**{**{f: getattr(base, f) for f in FIELDS}, **change})
        assert spanblock.encode([s]) is None, change


def test_malformed_blocks_raise_invalid_input() -> None:
    blk = spanblock.encode(random_spans(2))
    assert blk is not None
    for bad in (blk[:-1], blk + b"\x00", blk[:6], blk[:6] + b"\xff\xff\xff\xff", b"{}"):
        with pytest.raises(InvalidInput):
            spanblock.decode(bad)


@needs_native
def test_compiled_writer_writes_the_reference_bytes(native_on: Any) -> None:
    bench = _bench()
    streams = [random_spans(seed) for seed in range(200)]
    streams += [decode_request_python(b).spans for b in bench.build(2, "attrs20") + bench.build(1, "bytes500")]
    unfit = random_spans(3)
    unfit[0].attrs = {"big": 2**70}
    streams.append(unfit)
    nones = 0
    for spans in streams:
        want = [(k, spanblock.encode(g)) for k, g in group_by_trace(spans).items()]
        got = native_on.encode_by_trace(spans)
        assert got == want
        nones += sum(1 for _, b in want if b is None)
    assert nones >= 1
    assert native_on.encode_by_trace([SpanSummary(7, "s", "", 3, "", 0, 0, 0, Resource("a", "", {}), {})]) is None  # type: ignore[arg-type]


@needs_native
def test_compiled_reader_reads_the_reference_spans_or_leaves_the_bytes(native_on: Any) -> None:
    rng = random.Random(5)
    blocks = [b for seed in range(200) if (b := spanblock.encode(random_spans(seed))) is not None]
    for blk in blocks:
        cache_a: ResourceCache = {}
        cache_b: ResourceCache = {}
        got = native_on.decode(blk, 2, 9, cache_a)
        want = spanblock.decode(blk, 2, 9, cache_b)
        assert got is not None
        assert [repr(s) for s in got] == [repr(s) for s in want]
        assert list(cache_a) == list(cache_b)
        # resources are shared through the cache exactly as the reference shares them
        assert [id(s.resource) for s in got].count(id(got[0].resource)) == \
            [id(s.resource) for s in want].count(id(want[0].resource))
    corrupted = 0
    for _ in range(3000):
        broken = bytearray(rng.choice(blocks))
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(6, len(broken))
            if rng.random() < 0.2:
                del broken[i:i + rng.randint(1, 8)]
            else:
                broken[i] = rng.randrange(256)
        data = bytes(broken)
        try:
            want_out: Any = [repr(s) for s in spanblock.decode(data)]
        except InvalidInput:
            want_out = "error"
            corrupted += 1
        got_out = native_on.decode(data, -1, -1, None)
        if got_out is not None:  # the compiled reader took it: the reference takes it and reads the same
            assert [repr(s) for s in got_out] == want_out
        try:  # what the aggregator runs: compiled, else the reference on the same bytes
            rec_out: Any = [repr(s) for s in spanblock.decode_record(data)]
        except InvalidInput:
            rec_out = "error"
        assert rec_out == want_out
    assert corrupted > 1000


def test_bus_sink_publishes_blocks_and_json_for_what_blocks_cannot_carry(hot_path: str) -> None:
    from airdig.tracecore.aggregator import Aggregator
    from airdig.tracecore.ingest import BusSink
    from airdig.tracecore.metrics import TraceCoreMetrics

    Records = _bench()._Records  # the bus as BusSink sees it, records kept in memory (the bench's own)
    web, api = Resource("web", "", {}), Resource("api", "", {})
    t1, t2 = "1" * 32, "2" * 32
    spans = [SpanSummary(t1, "a" * 16, "", 3, "GET", 10**18, 10**18 + 10**6, 0, web, {}),
             SpanSummary(t1, "b" * 16, "a" * 16, 2, "GET", 10**18, 10**18 + 10**6, 0, api, {}),
             SpanSummary(t2, "c" * 16, "", 3, "GET", 10**18, 10**18 + 10**6, 0, web, {"x": (1, 2)}),
             SpanSummary(t2, "d" * 16, "c" * 16, 2, "GET", 10**18, 10**18 + 10**6, 0, api, {})]
    bus = Records()
    BusSink(bus, TraceCoreMetrics())(spans)  # type: ignore[arg-type]
    assert [k for k, _ in bus.records] == [t1, t2]
    assert is_span_block(bus.records[0][1]) and not is_span_block(bus.records[1][1])
    assert CloudEvent.decode(bus.records[1][1]).type == "airdig.trace.span"
    agg = Aggregator(None, TraceCoreMetrics(), wait=10.0, consume=False, horizon=10**10)
    assert agg.handle_records([(v, k, 0, i) for i, (k, v) in enumerate(bus.records)]) == 4
    assert agg.pairer.counters.spans["paired"] == 4

    # --json-spans (a rolling upgrade from aggregators that predate blocks): every batch as the JSON event
    legacy = Records()
    BusSink(legacy, TraceCoreMetrics(), blocks=False)(spans)  # type: ignore[arg-type]
    assert [k for k, _ in legacy.records] == [t1, t2]
    assert not any(is_span_block(v) for _, v in legacy.records)
    assert [len(CloudEvent.decode(v).data["spans"]) for _, v in legacy.records] == [2, 2]
    agg = Aggregator(None, TraceCoreMetrics(), wait=10.0, consume=False, horizon=10**10)
    assert agg.handle_records([(v, k, 0, i) for i, (k, v) in enumerate(legacy.records)]) == 4
    assert agg.pairer.counters.spans["paired"] == 4


def test_the_engine_skips_blocks_instead_of_dead_lettering_them(tmp_path: Path) -> None:
    from airdig.backends.interfaces import Record
    from airdig.backends.registry import open_store
    from airdig.engine.apply import Applier
    from airdig.model.events import TOPIC_TRACES

    blk = spanblock.encode(random_spans(4))
    assert blk is not None
    edge = CloudEvent(type="airdig.trace.service", source="tracecore", subject="service://_/web",
                      data={"node": {"id": "service://_/web", "kind": "service", "name": "web"}})
    store = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    store.migrate()
    try:
        prepared = Applier(store).prepare([Record(TOPIC_TRACES, 0, 0, "k", blk, 0.0),
                                           Record(TOPIC_TRACES, 0, 1, "k", edge.encode(), 0.0)])
    finally:
        store.close()
    assert prepared.dead == []
    assert list(prepared.events) == [edge.id]


def test_trace_stats_skip_blocks(tmp_path: Path) -> None:
    import threading

    from airdig.backends.bus.embedded import EmbeddedBus
    from airdig.model.events import TOPIC_TRACES
    from airdig.pulsesight.sources.tracestats import TraceStats

    bus = EmbeddedBus(f"embedded://{tmp_path / 'bus.db'}")
    blk = spanblock.encode(random_spans(5))
    assert blk is not None
    t0 = 1_700_000_040.0
    edge = CloudEvent(type="airdig.trace.edge", source="tracecore", subject="service://shop/web", data={
        "src": "service://shop/web", "dst": "service://shop/cart", "type": "calls", "window_start": t0,
        "window_seconds": 60, "part": 0, "producer": "a", "stats": {"request_count": 7, "error_count": 0}})
    bus.publish(TOPIC_TRACES, "k", blk)
    bus.publish(TOPIC_TRACES, "k", edge.encode())
    bus.flush()
    stats, stop = TraceStats(), threading.Event()
    seen: list[CloudEvent] = []
    apply = stats.apply

    def record(ev: CloudEvent) -> None:
        seen.append(ev)
        apply(ev)

    stats.apply = record  # type: ignore[method-assign]
    th = threading.Thread(target=stats.consume, args=(bus, "ps", stop))
    th.start()
    try:
        deadline = time.monotonic() + 10
        while not seen and time.monotonic() < deadline:
            stop.wait(0.05)
    finally:
        stop.set()
        th.join(10)
        bus.close()
    assert [ev.id for ev in seen] == [edge.id]
    [req] = stats.instant("trace_requests", t0 + 60)
    assert req.value == 7.0
