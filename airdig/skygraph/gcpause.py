"""Pause Python's cyclic garbage collector while a scan builds its graph.

A transform allocates a dict, a Node and Edges per resource, and every few thousand allocations the
collector walks *all* tracked objects (the decoded API responses, the nodes built so far): at 100k
resources that was a quarter of the transform and half of reference resolution (bench/skygraph.py,
issue 14). What a build creates is acyclic (JSON values, frozen nodes, edges), so reference counting
frees it anyway; the collector only has to run again afterwards, which it does when the last pause
ends. Scopes are transformed in threads, and the switch is process-wide: pauses nest by a counter,
and the collector comes back only if it was on when the first pause began.

    with gc_paused():
        frag = transform_ec2(raw, where, scope)
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Run the block with the cyclic collector off (nestable, thread-safe); restore it afterwards."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
