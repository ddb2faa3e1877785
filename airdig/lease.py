"""A lease in the store: only one replica works a scope (a DeepDrift watch, a SkyGraph scan scope) at a time.

The holder renews before each unit of work; a holder that dies stops renewing and a standby takes over
once the lease expires (``ttl``); a clean stop releases it at once. A store that cannot be reached
means "not held": working without the lease could publish everything twice, waiting cannot.

    lease = Lease(store, "deepdrift:watch:<states>", ttl=900)
    if lease.acquire(): work()
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from airdig.backends.interfaces import Store
from airdig.errors import AirDigError
from airdig.logs import get_logger

log = get_logger("lease")


def holder_id() -> str:
    """Unique per process and readable in the table: host, pid and a random suffix."""
    return f"{socket.gethostname()[:200]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    def __init__(self, store: Store, scope: str, ttl: float, holder: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.scope = scope
        self.ttl = ttl
        self.holder = holder or holder_id()
        self.clock = clock
        self.held = False

    def acquire(self) -> bool:
        """Take or renew; logs each change of hands once."""
        try:
            held = self.store.acquire_lease(self.scope, self.holder, self.ttl, self.clock())
        except AirDigError as exc:
            log.warning("lease not renewed: store unavailable", scope=self.scope, error=str(exc))
            held = False
        if held != self.held:
            log.info("lease taken" if held else "lease held elsewhere: standing by", scope=self.scope,
                     holder=self.holder)
        self.held = held
        return held

    def release(self) -> None:
        if not self.held:
            return
        try:
            self.store.release_lease(self.scope, self.holder)
        except AirDigError as exc:
            log.warning("lease not released (it expires by itself)", scope=self.scope, error=str(exc))
        self.held = False

    @contextmanager
    def kept(self) -> Iterator[None]:
        """While the block runs (a long scan), renew every ttl/3 from a side thread; release after."""
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(self.ttl / 3):
                if not self.acquire():
                    log.error("lease lost while working (store unreachable or taken over)", scope=self.scope)

        t = threading.Thread(target=renew, name=f"lease-{self.scope[:40]}", daemon=True)
        t.start()
        try:
            yield
        finally:
            stop.set()
            t.join(5)
            self.release()
