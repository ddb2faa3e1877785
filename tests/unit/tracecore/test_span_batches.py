"""Semantic-convention pairs and the bus wire form of span batches."""

from __future__ import annotations

from typing import Any

import pytest

from airdig.errors import InvalidInput
from airdig.tracecore.semconv import normalize
from airdig.tracecore.spans import Resource, SpanSummary, decode_batch, encode_batch, group_by_trace


def test_new_key_wins_over_old_in_any_order() -> None:
    assert normalize({"db.name": "old", "db.namespace": "new", "peer.service": "p", "x": 1}) == \
        {"db.namespace": "new", "service.peer.name": "p"}
    assert normalize({"http.response.status_code": 500, "http.status_code": 503}) == \
        {"http.response.status_code": 500}


def test_batch_roundtrip_and_link_routing() -> None:
    r = Resource("api", "ns", {"host.id": "i-1"})
    a = SpanSummary("t1", "s1", "", 4, "pub", 1, 2, 0, r, {"messaging.system": "kafka"})
    b = SpanSummary("t2", "s2", "", 5, "sub", 3, 4, 2, r, {}, (("t1", "s1"),), "boom")
    groups = group_by_trace([a, b])
    assert {k: [s.span_id for s in v] for k, v in groups.items()} == {"t1": ["s1", "s2"], "t2": ["s2"]}
    back = decode_batch(encode_batch([a, b]))
    assert [(s.trace_id, s.span_id, s.kind, s.links, s.status_message, s.resource.service_id) for s in back] == \
        [("t1", "s1", 4, (), "", "service://ns/api"), ("t2", "s2", 5, (("t1", "s1"),), "boom", "service://ns/api")]
    assert back[0].resource is back[1].resource
    with pytest.raises(InvalidInput):
        decode_batch({"resources": [], "spans": [[1, 2]]})


def test_records_share_equal_resources_through_the_cache() -> None:
    import orjson

    from airdig.tracecore.spans import ResourceCache

    r = Resource("api", "ns", {"host.id": "i-1"})
    one = orjson.loads(orjson.dumps(encode_batch([SpanSummary("t1", "s1", "", 3, "GET", 1, 2, 0, r, {})])))
    two = orjson.loads(orjson.dumps(encode_batch([SpanSummary("t2", "s2", "", 3, "GET", 1, 2, 0, r, {})])))
    other = {"resources": [["api", "ns", {"host.id": "i-2"}]], "spans": two["spans"]}
    odd = {"resources": [["api", "ns", {"host.id": ["not", "hashable"]}]], "spans": two["spans"]}
    cache: ResourceCache = {}
    a, b, c, d = (decode_batch(x, resources_cache=cache)[0].resource for x in (one, two, other, odd))
    assert a is b and a == r
    assert c is not a and c.attrs == {"host.id": "i-2"}
    unhashable: dict[str, Any] = {"host.id": ["not", "hashable"]}  # Resource.attrs says str values; the bus may not
    assert d.attrs == unhashable and len(cache) == 2
    assert decode_batch(one)[0].resource is not a  # no cache: a Resource per record, as before
