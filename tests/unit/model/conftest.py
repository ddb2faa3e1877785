"""``walk``: run a redaction test module on both walks, the pure-Python reference and the compiled one
(``Redactor`` of ``airdig_tracecore_native``; skipped when not built, which scripts/test never allows).

Module-scoped (hypothesis runs its examples inside one test call) and restored afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airdig.model import redact


@pytest.fixture(params=["python", "native"], scope="module")
def walk(request: pytest.FixtureRequest) -> Iterator[str]:
    which = str(request.param)
    native = redact._native_redactor()
    if which == "native" and native is None:
        pytest.skip("airdig_tracecore_native with Redactor not built (scripts/tools/tracecore-native)")
    before = redact._walk_fast, redact.redact_node_parts
    if which == "python":
        redact._walk_fast, redact.redact_node_parts = redact._walk_python, redact._node_parts_python
    else:
        redact._walk_fast, redact.redact_node_parts = native.walk, native.parts
    try:
        yield which
    finally:
        redact._walk_fast, redact.redact_node_parts = before
