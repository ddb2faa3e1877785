"""``hot_path``: run a test module on both TraceCore paths, pure Python (the reference) and compiled
(``airdig_tracecore_native``; skipped when not built, which scripts/test never allows)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest

from airdig.tracecore import native


@pytest.fixture(params=["off", "on"])
def hot_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    which = str(request.param)
    if which == "on" and importlib.util.find_spec("airdig_tracecore_native") is None:
        pytest.skip("airdig_tracecore_native not built (scripts/test builds it)")
    monkeypatch.setenv(native.ENV, which)
    native.reset()
    yield which
    native.reset()
