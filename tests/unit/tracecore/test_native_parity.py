"""The compiled OTLP decoder (airdig_tracecore_native) against the pure-Python reference.

Same bytes through both paths: the bench generator's shapes, the repo's quirks data (as protobuf),
hand-made requests covering every AnyValue type, old/new key conflicts, repeated and out-of-order
fields, rejected spans, and thousands of corrupted requests. Results must be equal span for span;
a request the reference refuses must be refused with the same error text.

The extension is built and installed by scripts/test (AIRDIG_TEST_REQUIRE_NATIVE=1 there, so a missing
build fails instead of skipping).
"""

from __future__ import annotations

import base64
import importlib.util
import os
import random
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from prometheus_client import generate_latest

from airdig.errors import ConfigError, InvalidInput
from airdig.tracecore import native
from airdig.tracecore.decode import DecodeResult, decode_request, decode_request_python
from airdig.tracecore.metrics import TraceCoreMetrics

ROOT = Path(__file__).resolve().parents[3]
HAVE_NATIVE = importlib.util.find_spec("airdig_tracecore_native") is not None
if not HAVE_NATIVE and os.environ.get("AIRDIG_TEST_REQUIRE_NATIVE") == "1":
    raise RuntimeError("AIRDIG_TEST_REQUIRE_NATIVE=1 but airdig_tracecore_native is not installed")
needs_native = pytest.mark.skipif(not HAVE_NATIVE, reason="airdig_tracecore_native not built (scripts/test builds it)")


def _bench() -> Any:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        return importlib.import_module("tracecore")
    finally:
        sys.path.pop(0)


def outcome(decode: Any, body: bytes, all_attributes: bool) -> tuple[str, Any]:
    try:
        r: DecodeResult = decode(body, all_attributes)
    except InvalidInput as exc:
        return "error", str(exc)
    return "ok", (r.spans, r.rejected, r.error_message)


@pytest.fixture
def native_on(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv(native.ENV, "on")
    native.reset()
    yield decode_request
    native.reset()


def same(body: bytes, decode: Any) -> str:
    """Assert both paths agree on ``body`` (both attribute modes); returns the outcome kind."""
    kind = ""
    for aa in (False, True):
        want = outcome(decode_request_python, body, aa)
        got = outcome(decode, body, aa)
        assert got == want
        kind = want[0]
    return kind


def kv(key: str, **value: Any) -> dict[str, Any]:
    return {"key": key, "value": value}


def b64(hexid: str) -> str:
    """An id for proto3 JSON (base64); a non-hex id keeps its characters as bytes (a wrong-length id)."""
    try:
        raw = bytes.fromhex(hexid)
    except ValueError:
        raw = hexid.encode()
    return base64.b64encode(raw).decode()


def request(resource_spans: list[dict[str, Any]]) -> bytes:
    msg = json_format.ParseDict({"resourceSpans": resource_spans}, ExportTraceServiceRequest())
    return bytes(msg.SerializeToString())


def varied() -> bytes:
    """Every value type and the awkward cases the decoder has to get right."""
    t, c, s = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", "00f067aa0ba902b7"
    span_attrs = [
        kv("db.name", stringValue="old"), kv("db.namespace", stringValue="new"), kv("db.name", stringValue="x"),
        kv("http.status_code", intValue="503"), kv("http.response.status_code", stringValue="429"),
        kv("server.port", doubleValue=5432.5), kv("net.peer.name", boolValue=True),
        kv("rpc.grpc.status_code", intValue="-9223372036854775808"), kv("messaging.system", bytesValue=b64("00ff10")),
        kv("messaging.destination", arrayValue={"values": [{"stringValue": "a"}, {"intValue": "1"}, {}]}),
        kv("rpc.system", kvlistValue={"values": [kv("k", stringValue="v"), kv("k", doubleValue=1e300),
                                                 kv("n", arrayValue={})]}),
        kv("app.other", stringValue="é漢字"), kv("app.empty"), kv("peer.service", stringValue="pay"),
    ]
    return request([
        {"resource": {"attributes": [kv("service.name", stringValue="cart"), kv("service.namespace", stringValue="shop"),
                                     kv("host.id", intValue="7"), kv("cloud.region", doubleValue=1.0),
                                     kv("cloud.account.id", boolValue=False), kv("k8s.pod.name", arrayValue={
                                         "values": [{"stringValue": "p"}, {"doubleValue": 1e16}]}),
                                     kv("k8s.node.name", kvlistValue={"values": [kv("a", intValue="1")]}),
                                     kv("container.id", bytesValue=b64("abcd")), kv("faas.name"),
                                     kv("not.kept", stringValue="x")]},
         "scopeSpans": [{"scope": {"name": "lib", "version": "1", "attributes": [kv("a", stringValue="b")]},
                         "spans": [
                             {"traceId": b64(t), "spanId": b64(c), "name": "GET /", "kind": 3,
                              "startTimeUnixNano": "18446744073709551615", "endTimeUnixNano": "1",
                              "attributes": span_attrs, "status": {"code": 2, "message": "boom"},
                              "links": [{"traceId": b64(t), "spanId": b64(s)}, {"traceId": b64("00"), "spanId": b64(s)}],
                              "events": [{"name": "e", "attributes": [kv("x", intValue="1")]}]},
                             {"traceId": b64(t), "spanId": b64(s), "parentSpanId": b64(c), "name": "srv", "kind": 2},
                             {"traceId": b64(t), "spanId": b64("0000000000000000"), "name": "zero id"},
                             {"traceId": b64(t[:8]), "spanId": b64(s), "name": "short 'trace'"},
                             {"traceId": b64(t), "spanId": b64(s), "parentSpanId": b64("0102"), "name": "bad parent"},
                             {"traceId": b64(t), "spanId": b64(c), "kind": -5, "name": ""},
                         ]}]},
        {"resource": {"attributes": [kv("service.name", stringValue="")]},
         "scopeSpans": [{"spans": [{"traceId": b64(t), "spanId": b64(c), "kind": 6}]}]},
        {"scopeSpans": [{"spans": [{"traceId": b64(t), "spanId": b64(c), "kind": 1}]}]},
    ])


def field(num: int, payload: bytes) -> bytes:
    """A length-delimited field, by hand (to repeat singular fields and reorder them)."""
    out = bytearray([(num << 3) | 2])
    n = len(payload)
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out) + payload


def reordered() -> bytes:
    """ResourceSpans with scope_spans before the resource, the resource sent twice (merged), a span's
    trace_id sent twice (last wins), unknown fields of every wire type, a group among them."""
    res1 = field(1, field(1, b"service.name") + field(2, field(1, b"first")))
    res2 = field(1, field(1, b"service.name") + field(2, field(1, b"second"))) + field(
        1, field(1, b"host.name") + field(2, field(1, b"h1")))
    span = (field(1, bytes(16)) + field(1, bytes.fromhex("0af7651916cd43dd8448eb211c80319c"))
            + field(2, bytes.fromhex("b7ad6b7169203331")) + bytes([6 << 3, 3])
            + bytes([(99 << 3 | 0) & 0x7F | 0x80, 99 >> 4, 5])  # unknown varint field 99
            + bytes([(98 << 3 | 3) & 0x7F | 0x80, 98 >> 4, 8, 1, (98 << 3 | 4) & 0x7F | 0x80, 98 >> 4])  # group
            + bytes([(97 << 3 | 5) & 0x7F | 0x80, 97 >> 4, 1, 2, 3, 4])
            + bytes([(96 << 3 | 1) & 0x7F | 0x80, 96 >> 4]) + bytes(8)
            + field(9, field(1, b"http.status_code") + bytes([0x10, 1]))  # wrong wire type for the value
            + field(15, bytes([3 << 3, 2])) + field(15, field(2, b"late message")))
    rs = field(2, field(2, span)) + field(1, res1) + field(3, b"https://schema") + field(1, res2)
    return field(1, rs) + field(1, rs)


def corrupt(rng: random.Random, body: bytes) -> bytes:
    b = bytearray(body)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(4)
        if not b:
            break
        i = rng.randrange(len(b))
        if op == 0:
            b[i] = rng.randrange(256)
        elif op == 1:
            del b[i:i + rng.randint(1, 4)]
        elif op == 2:
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 3)))
        else:
            b[i] ^= 1 << rng.randrange(8)
    return bytes(b)


@needs_native
@pytest.mark.parametrize("shape", ["attrs20", "bytes500"])
def test_bench_shapes_decode_identically(native_on: Any, shape: str) -> None:
    for body in _bench().build(2, shape):
        assert same(body, native_on) == "ok"


@needs_native
def test_quirks_data_decodes_identically(native_on: Any) -> None:
    doc = orjson.loads((ROOT / "tests/data/tracecore/quirks.json").read_bytes())
    for rs in doc["resourceSpans"]:
        for ss in rs.get("scopeSpans", []):
            for sp in ss.get("spans", []):
                for k in ("traceId", "spanId", "parentSpanId"):
                    if sp.get(k):
                        sp[k] = b64(sp[k])
                for ln in sp.get("links", []):
                    for k in ("traceId", "spanId"):
                        ln[k] = b64(ln[k])
    body = bytes(json_format.ParseDict(doc, ExportTraceServiceRequest(), ignore_unknown_fields=True)
                 .SerializeToString())
    assert same(body, native_on) == "ok"
    assert decode_request(body).spans


@needs_native
def test_every_value_type_and_rejection_decodes_identically(native_on: Any) -> None:
    body = varied()
    assert same(body, native_on) == "ok"
    r = decode_request(body, True)
    assert r.rejected == 3 and "zero id" in r.error_message
    assert [s.resource.service for s in r.spans] == ["cart", "cart", "cart", "unknown_service", "unknown_service"]


@needs_native
def test_repeated_and_reordered_fields_decode_identically(native_on: Any) -> None:
    body = reordered()
    assert same(body, native_on) == "ok"
    spans = decode_request(body).spans
    assert spans[0].resource.service == "second" and spans[0].resource.attrs == {"host.name": "h1"}
    assert spans[0].status_message == "late message" and spans[0].status == 2


@needs_native
def test_corrupted_requests_get_the_reference_answer(native_on: Any) -> None:
    rng = random.Random(15)
    seeds = [varied(), reordered(), *_bench().build(1, "attrs20")[:1]]
    kinds = {"ok": 0, "error": 0}
    for i in range(1500):
        body = corrupt(rng, seeds[i % len(seeds)])
        kinds[same(body, native_on) if i % 10 == 0 else _same_fast(body, native_on)] += 1
    assert kinds["ok"] > 50 and kinds["error"] > 50  # both branches really exercised


def _same_fast(body: bytes, decode: Any) -> str:
    want = outcome(decode_request_python, body, False)
    assert outcome(decode, body, False) == want
    return str(want[0])


@needs_native
@pytest.mark.parametrize("body", [b"\x0a\x05abc", b"\x0a", b"\xff\xff\xff", b"\x0a\x02\x12\x80"])
def test_malformed_protobuf_gets_the_same_precise_error(native_on: Any, body: bytes) -> None:
    with pytest.raises(InvalidInput) as ref:
        decode_request_python(body)
    with pytest.raises(InvalidInput) as got:
        native_on(body)
    assert str(got.value) == str(ref.value) and "cannot parse ExportTraceServiceRequest" in str(got.value)


@needs_native
def test_setting_selects_the_path_and_the_metric_says_which(monkeypatch: pytest.MonkeyPatch) -> None:
    for value, path in (("on", "native"), ("auto", "native"), ("off", "python")):
        monkeypatch.setenv(native.ENV, value)
        native.reset()
        assert native.active_path() == path
        text = generate_latest(TraceCoreMetrics().registry).decode()
        assert f'tracecore_decoder_info{{path="{path}"}} 1.0' in text
    native.reset()


def test_missing_extension_falls_back_on_auto_and_fails_on_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "airdig_tracecore_native", None)  # import now raises ImportError
    assert native.build("auto") is None
    with pytest.raises(ConfigError, match="not installed"):
        native.build("on")
    with pytest.raises(ConfigError, match="auto, on or off"):
        native.mode({native.ENV: "fast"})
    monkeypatch.setenv(native.ENV, "auto")
    native.reset()
    try:
        body = _bench().build(1, "bytes500")[0]
        assert native.active_path() == "python"
        assert decode_request(body).spans == decode_request_python(body).spans
    finally:
        native.reset()


# ---------------------------------------------------------------- per-edge statistics

ODD_CODES: list[Any] = [None, 200, 404, 429, 503, 599, 600, 0, 14, -1, True, False, "503", " 429 ", "4_04", "x",
                        "", 500.7, float("nan"), 2**70, -(2**70), 2**130, [500], {"a": 1}, "٥٠٣", b"503".hex()]


def random_calls(rng: random.Random, n: int) -> list[Any]:
    from airdig.tracecore.pairing import Call
    from airdig.tracecore.spans import KIND_CLIENT, KIND_SERVER, Resource, SpanSummary

    res = [Resource(f"svc-{i}", "", {}) for i in range(4)]
    base = 1_700_000_000_000_000_000
    out = []
    for i in range(n):
        start = base + rng.choice([0, 59, 60, 61, 3599]) * 10**9 + rng.randrange(-10**9, 10**9)
        if rng.random() < 0.02:
            start = rng.choice([0, 1, -5 * 10**9, 2**64 - 1])
        dur = rng.choice([0, -1000, rng.randrange(10**10), 5 * 10**6, 10**6, 7_500_000, 10**13])

        def attrs() -> dict[str, Any]:
            a: dict[str, Any] = {}
            if rng.random() < 0.7:
                a["http.response.status_code"] = rng.choice(ODD_CODES)
            if rng.random() < 0.3:
                a["rpc.grpc.status_code"] = rng.choice(ODD_CODES)
            return a

        c = SpanSummary(f"t{i}", f"c{i}", "", KIND_CLIENT, "op", start, start + dur, rng.choice([0, 1, 2]),
                        rng.choice(res), attrs())
        s = None
        if rng.random() < 0.8:
            s = SpanSummary(f"t{i}", f"s{i}", f"c{i}", KIND_SERVER, "op", start + 10, start + dur // 2,
                            rng.choice([0, 1, 2, 7]), rng.choice(res), attrs())
        src, dst = c.resource.service_id, s.resource.service_id if s else "service://~db/x"
        out.append(Call(src, dst, rng.choice(["", "messaging_system", "database"]), c, s))
    return out


@needs_native
@pytest.mark.parametrize("window", [60.0, 45.5, 7.0, 3600.0])
def test_accumulator_groups_equal_the_reference(window: float) -> None:
    from airdig.tracecore.servicemap import EdgeStats, accumulate_python

    acc = native.build_accumulator("on")
    assert acc is not None
    rng = random.Random(int(window * 10))
    for _ in range(40):
        calls = random_calls(rng, rng.randint(1, 300))
        want = accumulate_python(calls, window)
        got = {k: EdgeStats.from_row(v) for k, v in acc.accumulate(calls, window).items()}
        assert got == want  # exact, float sums included: same operations in the same order
        assert list(got) == list(want)


@needs_native
def test_accumulator_raises_what_the_reference_raises(native_on: Any) -> None:
    from airdig.tracecore.servicemap import accumulate, accumulate_python

    calls = random_calls(random.Random(3), 5)
    calls[2].client.attrs["http.response.status_code"] = float("inf")  # int(inf): OverflowError in both
    calls[2].server = None
    with pytest.raises(OverflowError):
        accumulate_python(calls, 60.0)
    with pytest.raises(OverflowError):
        accumulate(calls, 60.0)


def _drive(shape_bodies: list[bytes], which: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    from airdig.tracecore.aggregator import Aggregator

    monkeypatch.setenv(native.ENV, which)
    native.reset()
    try:
        agg = Aggregator(None, TraceCoreMetrics(), wait=10.0, consume=False, horizon=10**10)
        agg.member = "fixed"
        for body in shape_bodies:
            agg.offer(decode_request(body).spans)
        agg.expire(force=True)
        events = agg.window_events(now=2e9, everything=True)
        return {
            "events": [(e.type, e.subject, e.id if e.data.get("type") == "calls" else "", e.data) for e in events],
            "buckets": {m: {k: v.to_dict() for k, v in b.items()} for m, b in agg.servicemap.buckets.items()},
            "totals": {k: (v.to_dict(), round(v.client_sum_ms, 6)) for k, v in agg.servicemap.totals.items()},
            "counters": agg.pairer.counters,
        }
    finally:
        native.reset()


@needs_native
def test_aggregator_window_events_identical_on_both_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    bench = _bench()
    bodies = bench.build(2, "attrs20") + bench.build(1, "bytes500") + [varied(), reordered()]
    want = _drive(bodies, "off", monkeypatch)
    got = _drive(bodies, "on", monkeypatch)
    assert got == want
    assert sum(1 for e in want["events"] if e[3].get("type") == "calls") >= 8


# ---------------------------------------------------------------- pairing

def span_stream(seed: int) -> list[list[Any]]:
    """Batches of clients, servers, producers, consumers (linked, some to several producers), internal
    and root spans, duplicates and strays: everything Pairer.add branches on. Same seed, same spans."""
    from airdig.tracecore.spans import Resource, SpanSummary

    rng = random.Random(seed)
    res = [Resource(f"svc-{i}", "ns" if i % 2 else "", {}) for i in range(5)]
    traces = [f"{i:032x}" for i in range(1, 12)]
    ids = [f"{i:016x}" for i in range(1, 40)]
    batches = []
    for _ in range(rng.randint(3, 12)):
        batch = []
        for _ in range(rng.randint(1, 40)):
            links: tuple[tuple[str, str], ...] = ()
            if rng.random() < 0.25:
                links = tuple((rng.choice(traces), rng.choice(ids)) for _ in range(rng.randint(1, 3)))
            batch.append(SpanSummary(rng.choice(traces), rng.choice(ids), rng.choice(["", *ids[:10]]),
                                     rng.choice([0, 1, 2, 3, 4, 5, 2, 3, 7]), "op", 10**18, 10**18 + 5 * 10**6,
                                     0, rng.choice(res), {}, links))
        batches.append(batch)
    return batches


def _pair_run(seed: int, which: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    from airdig.tracecore.pairing import Pairer

    monkeypatch.setenv(native.ENV, which)
    native.reset()
    try:
        rng = random.Random(seed + 1)
        clock = [0.0]
        p = Pairer(wait=5.0, max_pending=rng.choice([3, 20, 1000]), clock=lambda: clock[0])
        batches = span_stream(seed)
        log: list[Any] = []
        for batch in batches:
            route = rng.choice([None, None, batch[0].trace_id])
            calls = p.add(batch, route)
            log.append([(c.src, c.dst, c.connection_type, c.client.span_id, c.server.span_id if c.server else "")
                        for c in calls])
            clock[0] += rng.choice([0.0, 1.0, 6.0])
            log.append([(c.src, c.dst, c.connection_type, c.client.span_id) for c in p.expire()])
        pending = {k: (h.client is not None, h.server is not None, h.deadline, h.siblings)
                   for k, h in p.pending.items()}
        order = list(p._order)
        log.append([(c.src, c.dst, c.client.span_id) for c in p.expire(force=True)])
        states = [[s.state for s in b] for b in batches]
        return log, states, p.counters, pending, order
    finally:
        native.reset()


@needs_native
def test_pairing_identical_on_random_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    outcomes: dict[str, int] = {}
    for seed in range(150):
        want = _pair_run(seed, "off", monkeypatch)
        got = _pair_run(seed, "on", monkeypatch)
        assert got == want, seed
        for k, v in want[2].spans.items():
            outcomes[k] = outcomes.get(k, 0) + v
    assert all(outcomes[k] > 0 for k in ("paired", "dropped", "root", "internal", "duplicate", "expired_unpaired"))


def test_field_layouts_the_extension_fills_match_the_classes() -> None:
    """The extension stores SpanSummary/_Half/Call fields slot by slot in a fixed order; a class change
    must be caught here (the guards in native.py then fall back to calling the class / pure Python)."""
    import dataclasses

    from airdig.tracecore.pairing import Call, _Half
    from airdig.tracecore.spans import SpanSummary

    assert [f.name for f in dataclasses.fields(SpanSummary)] == native.SPAN_FIELDS
    assert [f.name for f in dataclasses.fields(_Half)] == native.HALF_FIELDS
    assert [f.name for f in dataclasses.fields(Call)] == native.CALL_FIELDS
    for cls in (SpanSummary, _Half, Call):
        assert "__slots__" in vars(cls)  # slot descriptors are what the extension writes through


# ---------------------------------------------------------------- spans read from the bus

def _bus_pair_run(seed: int, which: str, monkeypatch: pytest.MonkeyPatch, routed: bool = False) -> Any:
    """A span stream as an aggregator reads it from the bus: every span carries the partition and offset
    of its record (some handed over in process, -1), partitions are given up on the way; after every
    batch the read queues and ``held_offsets`` (what holds the commit back) are compared too. With
    ``routed``, batches go in groups through ``add_routed`` (one poll's records)."""
    from airdig.tracecore.pairing import Pairer

    monkeypatch.setenv(native.ENV, which)
    native.reset()
    assert (native.pair_kernel() is not None) == (which == "on")
    try:
        rng = random.Random(seed + 7)
        clock = [0.0]
        p = Pairer(wait=5.0, max_pending=rng.choice([3, 20, 1000]), clock=lambda: clock[0])
        batches = span_stream(seed)
        offsets = [0, 0, 0]
        log: list[Any] = []
        polled: list[tuple[list[Any], str | None]] = []
        for batch in batches:
            part = rng.choice([-1, 0, 1, 2, 2])
            for s in batch:  # one record per batch, or a few records of one partition
                if part >= 0 and rng.random() < 0.3:
                    offsets[part] += 1
                s.partition, s.offset = part, offsets[part] if part >= 0 else -1
            if part >= 0:
                offsets[part] += 1
            route = rng.choice([None, batch[0].trace_id])
            if routed:
                polled.append((batch, route))
                if rng.random() < 0.6 and batch is not batches[-1]:
                    continue
                calls = p.add_routed(polled)
                polled = []
            else:
                calls = p.add(batch, route)
            log.append([(c.src, c.dst, c.client.span_id, c.server.span_id if c.server else "") for c in calls])
            log.append(p.held_offsets())
            log.append({q: {k: [(off, key) for off, key, _ in v] for k, v in qs.items()}
                        for q, qs in (("c", p._read_clients), ("s", p._read_servers))})
            if rng.random() < 0.15:
                log.append(p.forget({rng.choice([0, 1, 2])}))
            clock[0] += rng.choice([0.0, 1.0, 6.0])
            log.append([(c.src, c.dst, c.client.span_id) for c in p.expire()])
        log.append(p.held_offsets())
        states = [[s.state for s in b] for b in batches]
        return log, states, p.counters, sorted(p.pending)
    finally:
        native.reset()


@needs_native
def test_pairing_of_bus_records_identical_on_random_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    held = 0
    for seed in range(150):
        want = _bus_pair_run(seed, "off", monkeypatch)
        got = _bus_pair_run(seed, "on", monkeypatch)
        assert got == want, seed
        held += sum(1 for x in want[0] if isinstance(x, tuple) and x[0])
    assert held > 100  # the streams do leave halves that hold partitions back


@needs_native
def test_pairing_of_polled_bus_records_identical_on_random_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    for seed in range(150):
        want = _bus_pair_run(seed, "off", monkeypatch, routed=True)
        got = _bus_pair_run(seed, "on", monkeypatch, routed=True)
        assert got == want, seed


def _drive_bus(records: list[tuple[bytes, str, int, int]], which: str,
               monkeypatch: pytest.MonkeyPatch, poll: int = 1) -> dict[str, Any]:
    """The aggregator's input as the bus delivers it: ``airdig.trace.span`` records through ``handle``
    (``poll`` = 1) or ``handle_records`` in polls of up to ``poll`` records, as the consumer loop does."""
    from airdig.tracecore.aggregator import Aggregator

    monkeypatch.setenv(native.ENV, which)
    native.reset()
    try:
        agg = Aggregator(None, TraceCoreMetrics(), wait=10.0, consume=False, horizon=10**10)
        agg.member = "fixed"
        held = []
        rng = random.Random(poll)
        i = 0
        while i < len(records):
            n = rng.randint(1, poll)
            if n == 1:
                agg.handle(*records[i])
            else:
                agg.handle_records(records[i:i + n])
            i += n
            held.append(agg.pairer.held_offsets())
        positions = agg._positions(None)
        agg.expire(force=True)
        events = agg.window_events(now=2e9, everything=True)
        return {
            "events": [(e.type, e.subject, e.id if e.data.get("type") == "calls" else "", e.data) for e in events],
            "totals": {k: (v.to_dict(), round(v.client_sum_ms, 6)) for k, v in agg.servicemap.totals.items()},
            "counters": agg.pairer.counters, "held": held, "positions": positions,
        }
    finally:
        native.reset()


@needs_native
def test_aggregator_window_events_from_bus_records_identical_on_both_paths(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Receiver -> bus -> aggregator: the receiver's decode and BusSink's records (keyed by trace id,
    spread over 4 partitions in arrival order), then ``Aggregator.handle`` as the consumer loop calls it."""
    from airdig.model.events import CloudEvent
    from airdig.tracecore.ingest import SPAN_EVENT
    from airdig.tracecore.spans import encode_batch, group_by_trace

    bench = _bench()
    bodies = bench.build(2, "attrs20") + bench.build(1, "bytes500") + [varied(), reordered()]
    rng = random.Random(3)
    records: list[tuple[bytes, str, int, int]] = []
    offsets = [0] * 4
    for body in bodies:
        spans = decode_request_python(body, False).spans
        rng.shuffle(spans)  # servers before their clients too
        for trace_id, group in group_by_trace(spans).items():
            part = int(trace_id[-2:], 16) % 4
            ev = CloudEvent(type=SPAN_EVENT, source="t", subject=trace_id, data=encode_batch(group))
            records.append((ev.encode(), trace_id, part, offsets[part]))
            offsets[part] += 1
    want = _drive_bus(records, "off", monkeypatch)
    got = _drive_bus(records, "on", monkeypatch)
    assert got == want
    # a poll's records handled together give what they give one by one, on both paths
    for which in ("off", "on"):
        polled = _drive_bus(records, which, monkeypatch, poll=500)
        assert len(polled["held"]) < len(records) / 50
        assert {k: v for k, v in polled.items() if k != "held"} == {k: v for k, v in want.items() if k != "held"}
    assert sum(1 for e in want["events"] if e[3].get("type") == "calls") >= 8
    assert want["positions"]  # halves were waiting: the commit positions depend on the read queues
