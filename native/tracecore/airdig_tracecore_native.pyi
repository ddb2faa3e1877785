"""Type stubs of the compiled TraceCore decoder (native/tracecore/src/lib.rs)."""

from typing import Any

ABI: int

class Decoder:
    """Decodes ExportTraceServiceRequest bytes into the given SpanSummary / Resource classes."""

    def __init__(self, span_cls: type[Any], resource_cls: type[Any], span_keys: dict[str, tuple[str, int]],
                 resource_keys: list[str]) -> None: ...
    def decode(self, body: bytes, all_attributes: bool) -> tuple[list[Any], int, str] | None:
        """(spans, rejected, first rejection reason), or None when the bytes are malformed."""
