"""Which hot path TraceCore runs: the compiled one or the pure-Python reference.

The compiled path is the ``airdig_tracecore_native`` extension (Rust, ``native/tracecore/``): an OTLP
protobuf decoder, ``Pairer.add`` (on the Pairer's own Python state) and a per-edge statistics
accumulator. The decoder must give the same span summaries
as :func:`airdig.tracecore.decode.decode_message` for every request the protobuf library accepts; for
anything it finds malformed it answers None and the reference parser runs on the same bytes, so errors
are the reference's, word for word. The accumulator must give the same groups as
:func:`airdig.tracecore.servicemap.accumulate_python`. The path is chosen by
``AIRDIG_TRACECORE_NATIVE``:

* ``auto`` (default): the extension when it is installed, else pure Python (one log line says so);
* ``on``: the extension or a :class:`ConfigError` (a deployment that expects it fails loudly);
* ``off``: pure Python.

The active path is logged once and exported as ``tracecore_decoder_info{path="native"|"python"}``.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from typing import TYPE_CHECKING, Any, cast

from airdig.errors import ConfigError
from airdig.logs import get_logger
from airdig.tracecore.semconv import RESOURCE_KEYS, SPAN_KEYS
from airdig.tracecore.spans import Resource, SpanSummary

if TYPE_CHECKING:
    from airdig_tracecore_native import Accumulator, BlockCodec, Decoder, PairKernel

log = get_logger("tracecore.native")
ENV = "AIRDIG_TRACECORE_NATIVE"
MODES = ("auto", "on", "off")
# 2: PairKernel keeps the per-partition read queues of spans read from the bus; 3: BlockCodec
REQUIRED_ABI = 3

_lock = threading.Lock()
_state: dict[str, Decoder | Accumulator | PairKernel | BlockCodec | None] = {}


def mode(environ: dict[str, str] | None = None) -> str:
    """The configured mode (``auto`` when unset)."""
    raw = (os.environ if environ is None else environ).get(ENV, "auto").strip().lower() or "auto"
    if raw in ("1", "true", "yes"):
        raw = "on"
    elif raw in ("0", "false", "no"):
        raw = "off"
    if raw not in MODES:
        raise ConfigError(ENV, f"expected auto, on or off, got {raw!r}")
    return raw


def build(which: str) -> Decoder | None:
    """A decoder for mode ``which`` (None = pure Python); not cached, for tests and the benchmark."""
    if which == "off":
        return None
    try:
        from airdig_tracecore_native import ABI, Decoder
        if ABI < REQUIRED_ABI:  # an install older than this package's statements (it must be rebuilt)
            raise ImportError(f"airdig_tracecore_native ABI {ABI}, this package needs {REQUIRED_ABI}")
    except ImportError as exc:
        if which == "on":
            raise ConfigError(ENV, f"on, but the compiled decoder is not installed ({exc}); build it with "
                                   "`scripts/tools/tracecore-native` or set auto") from None
        log.info("tracecore decoder: pure Python (compiled extension not installed)", error=str(exc))
        return None
    # the extension fills instances slot by slot in this order; any other layout is built by calling
    # the class (slower, still right)
    fields = _fields(SpanSummary)
    return Decoder(SpanSummary, Resource, SPAN_KEYS, sorted(RESOURCE_KEYS),
                   fields if fields == SPAN_FIELDS else None)


SPAN_FIELDS = ["trace_id", "span_id", "parent_id", "kind", "name", "start_ns", "end_ns", "status", "resource",
               "attrs", "links", "status_message", "state", "partition", "offset"]
HALF_FIELDS = ["client", "server", "deadline", "siblings"]
CALL_FIELDS = ["src", "dst", "connection_type", "client", "server", "peer"]


def _fields(cls: type[Any]) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def build_accumulator(which: str) -> Accumulator | None:
    """The compiled per-edge accumulator for mode ``which`` (None = pure Python)."""
    if build(which) is None:
        return None
    from airdig_tracecore_native import Accumulator

    from airdig.tracecore import semconv as sc
    from airdig.tracecore.servicemap import LATENCY_BOUNDS_MS, _code
    return Accumulator([float(b) for b in LATENCY_BOUNDS_MS], _code, sc.HTTP_STATUS, sc.GRPC_STATUS)


def build_pair_kernel(which: str) -> PairKernel | None:
    """The compiled ``Pairer.add`` for mode ``which`` (None = pure Python)."""
    if build(which) is None:
        return None
    from airdig_tracecore_native import PairKernel

    from airdig.tracecore.pairing import Call, _Half
    if _fields(_Half) != HALF_FIELDS or _fields(Call) != CALL_FIELDS:
        log.warning("tracecore pairing: pure Python (Call/_Half fields changed; update the extension)")
        return None
    return PairKernel(_Half, HALF_FIELDS, Call, CALL_FIELDS)


def build_block_codec(which: str) -> BlockCodec | None:
    """The compiled span-block writer/reader for mode ``which`` (None = pure Python)."""
    if build(which) is None:
        return None
    from airdig_tracecore_native import BlockCodec

    from airdig.tracecore.spans import SpanSummary, _resource
    if _fields(SpanSummary) != SPAN_FIELDS:
        log.warning("tracecore span blocks: pure Python (SpanSummary fields changed; update the extension)")
        return None
    return BlockCodec(SpanSummary, SPAN_FIELDS, _resource)


def _load() -> None:
    if "decoder" not in _state:
        with _lock:
            if "decoder" not in _state:
                dec = build(mode())
                log.info("tracecore decoder selected", path="native" if dec is not None else "python",
                         setting=f"{ENV}={mode()}")
                _state["accumulator"] = build_accumulator(mode()) if dec is not None else None
                _state["pair_kernel"] = build_pair_kernel(mode()) if dec is not None else None
                _state["block_codec"] = build_block_codec(mode()) if dec is not None else None
                _state["decoder"] = dec


def decoder() -> Decoder | None:
    """The process-wide decoder for the configured mode, loaded (and logged) on first use."""
    _load()
    return cast("Decoder | None", _state["decoder"])


def accumulator() -> Accumulator | None:
    """The process-wide per-edge accumulator (present exactly when :func:`decoder` is)."""
    _load()
    return cast("Accumulator | None", _state["accumulator"])


def pair_kernel() -> PairKernel | None:
    """The process-wide compiled ``Pairer.add`` (present exactly when :func:`decoder` is)."""
    _load()
    return cast("PairKernel | None", _state["pair_kernel"])


def block_codec() -> BlockCodec | None:
    """The process-wide compiled span-block codec (present exactly when :func:`decoder` is)."""
    _load()
    return cast("BlockCodec | None", _state["block_codec"])


def active_path() -> str:
    """``native`` or ``python``: what :func:`airdig.tracecore.decode.decode_request` runs."""
    return "native" if decoder() is not None else "python"


def reset() -> None:
    """Forget the chosen decoder, so the next use reads the setting again (tests)."""
    with _lock:
        _state.clear()
