"""``walk``: run a redaction test module on both walks, the pure-Python reference and the compiled one
(``Redactor`` of ``airdig_tracecore_native``; skipped when not built, a failure under scripts/test,
which builds it and sets AIRDIG_TEST_REQUIRE_NATIVE=1).

Module-scoped (hypothesis runs its examples inside one test call) and restored afterwards."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from airdig.model import redact


@pytest.fixture(params=["python", "native"], scope="module")
def walk(request: pytest.FixtureRequest) -> Iterator[str]:
    which = str(request.param)
    before = redact._walk_fast, redact.redact_node_parts
    if which == "python":
        redact._walk_fast, redact.redact_node_parts = redact._walk_python, redact._node_parts_python
    else:
        native = _native_or_skip()
        redact._walk_fast, redact.redact_node_parts = native.walk, native.parts
    try:
        yield which
    finally:
        redact._walk_fast, redact.redact_node_parts = before


@pytest.fixture(scope="module")
def redactor() -> Any:
    """The compiled ``Redactor`` bound to airdig.model.redact's caches and rules."""
    return _native_or_skip()


def _native_or_skip() -> Any:
    """The compiled Redactor, or skip (fail when scripts/test requires the extension)."""
    native = redact._native_redactor()
    if native is None:
        why = "airdig_tracecore_native with Redactor not built (scripts/tools/tracecore-native)"
        if os.environ.get("AIRDIG_TEST_REQUIRE_NATIVE") == "1":
            pytest.fail(f"AIRDIG_TEST_REQUIRE_NATIVE=1 but {why}")
        pytest.skip(why)
    return native
