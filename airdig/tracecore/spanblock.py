"""Span batches on the bus as binary columnar blocks (the ``airdig.trace.span`` records' wire form).

A receiver publishes one record per trace id (see :func:`airdig.tracecore.spans.group_by_trace`); with
a JSON CloudEvent around every record, the envelope (an id, a timestamp, JSON both ways) cost more than
the spans inside. A block has no envelope and no JSON: a string table, the resources, then one column
per span field, so the compiled path (``airdig_tracecore_native``) writes and reads it without a Python
object per field, and consumers other than the aggregators skip it on its first byte.

Layout (little-endian; ``str`` = u32 index into the string table)::

    MAGIC (b"\\x00ADSB" + version 1)
    u32 n_strings, then n_strings x (u32 byte length, UTF-8 bytes)
    u32 n_resources, then n_resources x (str service, str namespace, map attrs)
    u32 n_spans, then the columns, each n_spans long:
        trace_id 16 bytes | span_id 8 bytes | parent_id 8 bytes | flags u8 (1: has a parent)
        kind i32 | status i32 | start_ns u64 | end_ns u64 | resource u32 | name str | status_message str
        n_attrs u32 | n_links u32
    then every span's attributes (n_attrs x (str key, value)), then every span's links (16 + 8 bytes)
    value = u8 tag: 0 None, 1 str, 2 i64, 3 f64, 4 False, 5 True, 6 list (u32 n, n values),
            7 map (u32 n, n x (str key, value))

Strings enter the table in first-use order: each resource (in the order spans first use it: service,
namespace, attribute keys and values), then each span (name, status message, attribute keys and
values). The compiled encoder writes the same bytes (``tests/unit/tracecore/test_span_blocks.py``).

A batch a block cannot carry exactly (ids that are not lowercase hex of 16/8 bytes, an integer beyond
64 bits, a non-string key...) is published as the JSON CloudEvent of before, which the aggregator
still reads: :func:`encode` answers None for it.
"""

from __future__ import annotations

import struct
from typing import Any

from airdig.errors import InvalidInput
from airdig.model.events import SPAN_BLOCK_MAGIC, is_span_block
from airdig.tracecore import native
from airdig.tracecore.spans import Resource, ResourceCache, SpanSummary, _resource, group_by_trace

MAGIC = SPAN_BLOCK_MAGIC
_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_U64 = struct.Struct("<Q")
_I64 = struct.Struct("<q")
_F64 = struct.Struct("<d")
_HEX = frozenset("0123456789abcdef")


is_block = is_span_block


class _Unfit(Exception):
    """The batch holds something a block cannot carry exactly."""


class _Writer:
    def __init__(self) -> None:
        self.strings: dict[str, int] = {}

    def s(self, text: Any) -> int:
        if type(text) is not str:
            raise _Unfit
        i = self.strings.get(text)
        if i is None:
            i = self.strings[text] = len(self.strings)
        return i

    def value(self, v: Any, out: bytearray) -> None:
        t = type(v)
        if v is None:
            out.append(0)
        elif t is str:
            out.append(1)
            out += _U32.pack(self.s(v))
        elif t is bool:
            out.append(5 if v else 4)
        elif t is int:
            if not -(2**63) <= v < 2**63:
                raise _Unfit
            out.append(2)
            out += _I64.pack(v)
        elif t is float:
            out.append(3)
            out += _F64.pack(v)
        elif t is list:
            out.append(6)
            out += _U32.pack(len(v))
            for x in v:
                self.value(x, out)
        elif t is dict:
            out.append(7)
            self.mapping(v, out)
        else:
            raise _Unfit

    def mapping(self, d: dict[Any, Any], out: bytearray) -> None:
        out += _U32.pack(len(d))
        for k, x in d.items():
            out += _U32.pack(self.s(k))
            self.value(x, out)


def _hexid(text: str, size: int) -> bytes:
    if type(text) is not str or len(text) != 2 * size or not _HEX.issuperset(text):
        raise _Unfit
    return bytes.fromhex(text)


def encode_by_trace(spans: list[SpanSummary]) -> list[tuple[str, bytes | None]]:
    """Per bus key (:func:`group_by_trace`, in its order), the block of that key's spans, or None where
    a block cannot carry them (the caller publishes those as JSON). Compiled when that path is active."""
    codec = native.block_codec()
    if codec is not None and type(spans) is list:
        out = codec.encode_by_trace(spans)
        if out is not None:
            return out
    return [(key, encode(group)) for key, group in group_by_trace(spans).items()]


def decode_record(data: bytes, partition: int = -1, offset: int = -1,
                  resources_cache: ResourceCache | None = None) -> list[SpanSummary]:
    """:func:`decode` with the active path: the compiled reader answers None for anything it does not
    take, and the reference then reads the same bytes (so a bad block gets the reference's error)."""
    codec = native.block_codec()
    if codec is not None:
        out = codec.decode(data, partition, offset, resources_cache)
        if out is not None:
            return out
    return decode(data, partition, offset, resources_cache)


def encode(spans: list[SpanSummary]) -> bytes | None:
    """The block of ``spans`` (the pure-Python reference), or None when it cannot carry them exactly."""
    try:
        return _encode(spans)
    except (_Unfit, struct.error, UnicodeEncodeError):
        return None


def _encode(spans: list[SpanSummary]) -> bytes:
    w = _Writer()
    res_index: dict[int, int] = {}
    res_bytes = bytearray()
    for s in spans:
        r = s.resource
        if id(r) not in res_index:
            res_index[id(r)] = len(res_index)
            res_bytes += _U32.pack(w.s(r.service))
            res_bytes += _U32.pack(w.s(r.namespace))
            if type(r.attrs) is not dict:
                raise _Unfit
            w.mapping(r.attrs, res_bytes)
    n = len(spans)
    tids, sids, pids, flags = bytearray(), bytearray(), bytearray(), bytearray()
    kinds, statuses, starts, ends, ress, names, msgs = (bytearray() for _ in range(7))
    nattrs, nlinks, attrs, links = bytearray(), bytearray(), bytearray(), bytearray()
    for s in spans:
        tids += _hexid(s.trace_id, 16)
        sids += _hexid(s.span_id, 8)
        if type(s.parent_id) is not str:
            raise _Unfit
        if s.parent_id == "":
            pids += bytes(8)
            flags.append(0)
        else:
            pids += _hexid(s.parent_id, 8)
            flags.append(1)
        if type(s.kind) is not int or type(s.status) is not int:
            raise _Unfit
        kinds += _I32.pack(s.kind)
        statuses += _I32.pack(s.status)
        if type(s.start_ns) is not int or type(s.end_ns) is not int:
            raise _Unfit
        starts += _U64.pack(s.start_ns)
        ends += _U64.pack(s.end_ns)
        ress += _U32.pack(res_index[id(s.resource)])
        names += _U32.pack(w.s(s.name))
        msgs += _U32.pack(w.s(s.status_message))
        if type(s.attrs) is not dict or type(s.links) is not tuple:
            raise _Unfit
        nattrs += _U32.pack(len(s.attrs))
        for k, v in s.attrs.items():
            attrs += _U32.pack(w.s(k))
            w.value(v, attrs)
        nlinks += _U32.pack(len(s.links))
        for link in s.links:
            if type(link) is not tuple or len(link) != 2:
                raise _Unfit
            links += _hexid(link[0], 16)
            links += _hexid(link[1], 8)
    out = bytearray(MAGIC)
    out += _U32.pack(len(w.strings))
    for text in w.strings:
        b = text.encode()
        out += _U32.pack(len(b))
        out += b
    out += _U32.pack(len(res_index))
    out += res_bytes
    out += _U32.pack(n)
    for col in (tids, sids, pids, flags, kinds, statuses, starts, ends, ress, names, msgs, nattrs, nlinks,
                attrs, links):
        out += col
    return bytes(out)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = len(MAGIC)
        self.strings: list[str] = []

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if n < 0 or end > len(self.data):
            raise ValueError(f"truncated at byte {self.pos} (wanted {n} more)")
        b = self.data[self.pos:end]
        self.pos = end
        return b

    def u32(self) -> int:
        v: int = _U32.unpack(self.take(4))[0]
        return v

    def s(self) -> str:
        i = self.u32()
        if i >= len(self.strings):
            raise ValueError(f"string {i} of {len(self.strings)}")
        return self.strings[i]

    def value(self, depth: int = 0) -> Any:
        if depth > 64:
            raise ValueError("values nested too deep")
        tag = self.take(1)[0]
        if tag == 0:
            return None
        if tag == 1:
            return self.s()
        if tag == 2:
            return _I64.unpack(self.take(8))[0]
        if tag == 3:
            return _F64.unpack(self.take(8))[0]
        if tag in (4, 5):
            return tag == 5
        if tag == 6:
            return [self.value(depth + 1) for _ in range(self.u32())]
        if tag == 7:
            return self.mapping(depth + 1)
        raise ValueError(f"value tag {tag}")

    def mapping(self, depth: int = 0) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for _ in range(self.u32()):
            k = self.s()
            out[k] = self.value(depth)
        return out

    def column(self, n: int, width: int) -> bytes:
        return self.take(n * width)


def decode(data: bytes, partition: int = -1, offset: int = -1, resources_cache: ResourceCache | None = None,
           source: str = "airdig.trace.span block") -> list[SpanSummary]:
    """Inverse of :func:`encode` (the pure-Python reference), strict: the bus is a trust boundary."""
    if not is_block(data):
        raise InvalidInput(source, "not a span block")
    r = _Reader(data)
    try:
        for _ in range(r.u32()):
            r.strings.append(r.take(r.u32()).decode())
        resources: list[Resource] = []
        for _ in range(r.u32()):
            service, namespace = r.s(), r.s()
            resources.append(_resource([service, namespace, r.mapping()], resources_cache))
        n = r.u32()
        tids, sids, pids, flags = r.column(n, 16), r.column(n, 8), r.column(n, 8), r.column(n, 1)
        kinds, statuses = struct.unpack(f"<{n}i", r.column(n, 4)), struct.unpack(f"<{n}i", r.column(n, 4))
        starts, ends = struct.unpack(f"<{n}Q", r.column(n, 8)), struct.unpack(f"<{n}Q", r.column(n, 8))
        ress, names, msgs, nattrs, nlinks = (struct.unpack(f"<{n}I", r.column(n, 4)) for _ in range(5))
        out: list[SpanSummary] = []
        attr_dicts = []
        for i in range(n):
            d: dict[str, Any] = {}
            for _ in range(nattrs[i]):
                k = r.s()
                d[k] = r.value()
            attr_dicts.append(d)
        for i in range(n):
            if flags[i] > 1 or (flags[i] == 0 and pids[8 * i:8 * i + 8] != bytes(8)):
                raise ValueError(f"span {i}: flags {flags[i]} with parent bytes {pids[8 * i:8 * i + 8].hex()}")
            if ress[i] >= len(resources):
                raise ValueError(f"resource {ress[i]} of {len(resources)}")
            if names[i] >= len(r.strings) or msgs[i] >= len(r.strings):
                raise ValueError("string index out of range")
            span_links = tuple((r.take(16).hex(), r.take(8).hex()) for _ in range(nlinks[i]))
            out.append(SpanSummary(
                tids[16 * i:16 * i + 16].hex(), sids[8 * i:8 * i + 8].hex(),
                pids[8 * i:8 * i + 8].hex() if flags[i] else "", kinds[i], r.strings[names[i]], starts[i],
                ends[i], statuses[i], resources[ress[i]], attr_dicts[i], span_links, r.strings[msgs[i]], 0,
                partition, offset))
        if r.pos != len(data):
            raise ValueError(f"{len(data) - r.pos} bytes after the last column")
        return out
    except (ValueError, struct.error, UnicodeDecodeError) as exc:
        raise InvalidInput(source, f"malformed span block: {exc}") from None
