"""Heavy graph queries (``rootCause``) in worker processes, so the serving process keeps its GIL.

A root cause is seconds of CPU-bound Python: in a worker *thread* it holds the GIL against the event loop
and every other request of the process (their p99 grows with it). Here a small pool of processes,
spawned once at start, each with its own store connection (read-only use), does the walk and returns
plain dataclasses; the serving process only builds the GraphQL answer from them.

An :class:`airdig.errors.AirDigError` raised in a worker (unknown id, bad input) reaches the caller as
the same class with the same message and code; a worker that dies is replaced and the query answered
with UNAVAILABLE (retryable). Without a pool (``intel_workers: 0``, an in-memory store, tests) the same
function runs in a worker thread.

    pool = IntelPool(settings.database_url, workers=2)
    result = await pool.root_cause("arn:…", at, 1800.0, with_writers=True); pool.close()
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from airdig.backends.interfaces import ChangeRow, NodeRow, Store
from airdig.engine.intel import reads, rootcause, writers
from airdig.errors import AirDigError, BackendUnavailable, ConfigError
from airdig.logs import get_logger

log = get_logger("engine.intel")


@dataclass
class RootCauseResult:
    """Everything the GraphQL ``rootCause`` answer is built from (picklable)."""

    symptom: str
    diagnosis: rootcause.Diagnosis
    nodes: dict[str, NodeRow]  # the impact's resources
    writers: dict[str, list[writers.PathWriters]] | None


def root_cause(store: Store, ident: str, at: float, window: float, with_writers: bool,
               with_nodes: bool = True) -> RootCauseResult:
    """The walk and every store read of a ``rootCause`` answer (the part that costs)."""
    symptom = reads.resolve_id(store, ident)
    dg = rootcause.dig(store, symptom, at, window)
    nodes = store.get_nodes([i for i, _, _ in dg.impact]) if with_nodes else {}
    who = None
    if with_writers:
        changes: list[ChangeRow] = [c.change for c in dg.candidates] + [ch for ch, _ in dg.set_aside[:100]]
        who = writers.for_changes(store, changes)
    return RootCauseResult(symptom, dg, nodes, who)


# ---- inside a worker process

_store: Store | None = None


def _init(database_url: str) -> None:
    global _store
    from airdig.backends.registry import open_store

    _store = open_store(database_url)
    parent = os.getppid()

    def orphaned() -> None:  # the serving process was killed (SIGKILL, OOM): do not outlive it
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=orphaned, name="intel-parent-watch", daemon=True).start()


@dataclass
class _Failure:
    """An AirDigError crossing the process boundary (its own ``__init__`` arguments do not pickle)."""

    cls: type[AirDigError]
    message: str

    def rebuild(self) -> AirDigError:
        err = self.cls.__new__(self.cls)
        Exception.__init__(err, self.message)
        return err


def _root_cause_job(ident: str, at: float, window: float, with_writers: bool,
                    with_nodes: bool) -> RootCauseResult | _Failure:
    assert _store is not None, "worker not initialised"
    try:
        return root_cause(_store, ident, at, window, with_writers, with_nodes)
    except AirDigError as exc:
        return _Failure(type(exc), str(exc))


def _pid() -> int:
    return os.getpid()


# ---- in the serving process


class IntelPool:
    """``workers`` processes (spawned, never forked: the serving process has threads) started now."""

    def __init__(self, database_url: str, workers: int) -> None:
        if workers < 1:
            raise ConfigError("intel_workers", f"a pool needs at least one worker, got {workers}")
        if ":memory:" in database_url:
            raise ConfigError("intel_workers", "an in-memory store cannot be shared with worker processes")
        self.database_url = database_url
        self.workers = workers
        self._lock = threading.Lock()
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init, initargs=(self.database_url,))
        # spawn every worker now (imports, store connection): the first root cause pays nothing
        for f in [pool.submit(_pid) for _ in range(self.workers)]:
            f.result(timeout=120)
        return pool

    def pids(self) -> set[int]:
        """The worker processes' ids (for tests and metrics)."""
        return {p.pid for p in list(getattr(self._pool, "_processes", {}).values()) if p.pid is not None}

    async def root_cause(self, ident: str, at: float, window: float, with_writers: bool,
                         with_nodes: bool = True) -> RootCauseResult:
        pool = self._pool
        try:
            out = await asyncio.wrap_future(pool.submit(_root_cause_job, ident, at, window, with_writers,
                                                        with_nodes))
        except BrokenProcessPool:
            await asyncio.to_thread(self._replace, pool)
            raise BackendUnavailable("intel workers", "a worker process died; retry") from None
        if isinstance(out, _Failure):
            raise out.rebuild()
        return out

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is not broken:
                return  # another caller replaced it already
            log.error("intel worker process died; starting a new pool", workers=self.workers)
            broken.shutdown(wait=False, cancel_futures=True)
            self._pool = self._start()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


async def run_root_cause(pool: IntelPool | None, store: Store, ident: str, at: float, window: float,
                         with_writers: bool, with_nodes: bool = True) -> RootCauseResult:
    """In the pool when there is one, else in a worker thread (never on the event loop)."""
    if pool is not None:
        return await pool.root_cause(ident, at, window, with_writers, with_nodes)
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(root_cause, store, ident, at, window, with_writers, with_nodes)
