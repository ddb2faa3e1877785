"""Type stubs of the compiled TraceCore decoder (native/tracecore/src/lib.rs)."""

from collections.abc import Callable
from typing import Any

ABI: int

class Decoder:
    """Decodes ExportTraceServiceRequest bytes into the given SpanSummary / Resource classes."""

    def __init__(self, span_cls: type[Any], resource_cls: type[Any], span_keys: dict[str, tuple[str, int]],
                 resource_keys: list[str], span_fields: list[str] | None = None) -> None:
        """``span_fields``: the class's 13 dataclass fields, in order, to build instances without
        running ``__init__`` (slots classes only; otherwise the class is called)."""
    def decode(self, body: bytes, all_attributes: bool) -> tuple[list[Any], int, str] | None:
        """(spans, rejected, first rejection reason), or None when the bytes are malformed."""

class Accumulator:
    """Per-edge statistics of paired calls, grouped by (minute, window start, src, dst, connection type)."""

    def __init__(self, bounds: list[float], code_fn: Any, http_key: str, grpc_key: str) -> None: ...
    def accumulate(self, calls: list[Any], window_seconds: float) -> dict[
            tuple[int, float, str, str, str],
            tuple[int, int, int, int, int, int, int, list[int], list[int], float, float]]: ...

class PairKernel:
    """``Pairer.add`` on the Pairer's own Python state (pending dict, order deque, counters)."""

    def __init__(self, half_cls: type[Any], half_fields: list[str], call_cls: type[Any],
                 call_fields: list[str]) -> None: ...
    def add(self, pairer: Any, spans: list[Any], route: str | None, now: float) -> list[Any]: ...
    def add_routed(self, pairer: Any, batches: list[tuple[list[Any], str | None]], now: float) -> list[Any]: ...

class BlockCodec:
    """Span blocks (airdig/tracecore/spanblock.py): written from and read into SpanSummary/Resource."""

    def __init__(self, span_cls: type[Any], span_fields: list[str], resource_fn: Any) -> None:
        """``resource_fn``: ``spans._resource(wire, cache)``, called once per resource of a block."""
    def encode_by_trace(self, spans: list[Any]) -> list[tuple[str, bytes | None]] | None:
        """Per bus key, the block (None: not fit for one); None when a trace id is not a plain str."""
    def decode(self, data: bytes, partition: int, offset: int,
               resources_cache: dict[tuple[Any, ...], Any] | None) -> list[Any] | None: ...

class Redactor:
    """``airdig.model.redact._walk_python`` compiled: the structural walk, calling back for every rule."""

    def __init__(self, plain_keys: set[str], actions: dict[str, int], clean: set[str], clean_max: int,
                 pair_value_keys: frozenset[str], key_action: Callable[[str], int],
                 redact_text: Callable[[str], str], pair_names: tuple[str, ...],
                 user_data: Callable[[Any], Any], is_secret_flag: Callable[[str], bool],
                 python_walk: Callable[[Any], Any], is_secret_key: Callable[[str], bool], redacted: str) -> None: ...
    def walk(self, value: Any) -> Any: ...
    def parts(self, name: str, attrs: dict[str, Any], tags: dict[str, str]) -> tuple[str, Any, dict[str, str]]:
        """``_node_parts_python``: name, attrs and tags of a node redacted in one call."""
    @staticmethod
    def hints() -> list[str]: ...
