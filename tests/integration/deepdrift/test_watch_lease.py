"""Two DeepDrift watch replicas on the same states (issue 13): only the lease holder runs cycles, the
standby takes over when the holder stops (lease released) or dies (lease expired). On SQLite and MariaDB."""

from __future__ import annotations

import threading
import time
from typing import Any

from airdig.backends.registry import open_store
from airdig.deepdrift.watch import run
from airdig.lease import Lease


class _Stop(Exception):
    pass


class Replica:
    """One watch loop in a thread, with a lease of its own on a store connection of its own."""

    def __init__(self, store_url: str, name: str, ttl: float) -> None:
        self.store = open_store(store_url)
        self.lease = Lease(self.store, "deepdrift:watch:test", ttl=ttl, holder=name)
        self.cycles = 0
        self.stop = threading.Event()
        self.crash = False
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        def sleep(_: float) -> None:
            if self.stop.wait(0.02):
                raise _Stop

        def detect() -> Any:
            self.cycles += 1
            return None

        class W:
            def cycle(self, result: object) -> None:
                return None

        try:
            run(W(), detect, interval=0.02, once=False, sleep=sleep, lease=self.lease.acquire)  # type: ignore[arg-type]
        except _Stop:
            if not self.crash:
                self.lease.release()
        finally:
            self.store.close()


def test_one_watch_replica_works_at_a_time_and_the_standby_takes_over(store_url: str) -> None:
    open_store(store_url).migrate()
    a, b = Replica(store_url, "a", ttl=1.0), Replica(store_url, "b", ttl=1.0)
    a.thread.start()
    time.sleep(0.3)
    b.thread.start()
    time.sleep(0.6)
    assert a.cycles > 0 and b.cycles == 0  # b stands by while a holds the lease
    a.stop.set()  # a clean stop releases the lease: b takes over at once
    a.thread.join(5)
    deadline = time.monotonic() + 5
    while b.cycles == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert b.cycles > 0
    # b dies without releasing: a new replica waits for the lease to expire, then works
    c = Replica(store_url, "c", ttl=1.0)
    b.crash = True
    b.stop.set()
    b.thread.join(5)
    died = time.monotonic()
    c.thread.start()
    deadline = time.monotonic() + 10
    while c.cycles == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    took_over = time.monotonic() - died
    c.stop.set()
    c.thread.join(5)
    assert c.cycles > 0 and 0.5 < took_over < 5
