"""One supervisor for a process's background threads: restart with backoff, count, and tell liveness.

Every role runs loops in threads (the engine's event processor, TraceCore's aggregator, the Redis
fan-out subscriber). A loop that dies of an unexpected error used to leave the process up, ``/healthz``
at 200 and its work silently undone. Under a :class:`Supervisor` a loop that raises (or returns while
not asked to stop) is started again after a backoff, each restart is counted in the role's
``airdig_thread_restarts_total`` metric, and a loop that keeps dying (more than ``max_restarts`` within
``window`` seconds) is given up: :meth:`Supervisor.liveness` then returns the reason, ``/healthz``
answers 503 and Kubernetes restarts the pod — the one recovery left when a thread cannot recover.

Loops handle the outages they expect themselves (a broker or database away is retried inside the loop,
not by dying): a backend outage is no reason to restart a pod, a loop that cannot run is.

    sup = Supervisor("engine", restarts=metrics.thread_restarts)
    sup.spawn("processor", processor.run, stop_event)
    check = sup.liveness   # Callable[[], str | None], for the probe set
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airdig.logs import get_logger

log = get_logger("supervisor")


@dataclass
class _Task:
    name: str
    target: Callable[[], None]
    stop: threading.Event
    thread: threading.Thread | None = None
    restarts: int = 0
    failures: deque[float] = field(default_factory=deque)
    dead: str | None = None  # why it was given up
    last_error: str | None = None


class Supervisor:
    """Runs named loops in daemon threads and restarts the ones that die (see the module doc)."""

    def __init__(self, role: str, restarts: Any = None, max_restarts: int = 5, window: float = 300.0,
                 backoff: float = 0.5, max_backoff: float = 30.0) -> None:
        self.role = role
        self.restarts = restarts  # a prometheus Counter labelled by ``thread``, or None
        self.max_restarts = max_restarts
        self.window = window
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._tasks: dict[str, _Task] = {}
        self._lock = threading.Lock()

    def spawn(self, name: str, target: Callable[[], None], stop: threading.Event) -> threading.Thread:
        """Run ``target`` until ``stop`` is set, restarting it when it dies; returns the thread."""
        task = _Task(name, target, stop)
        with self._lock:
            self._tasks[name] = task
        task.thread = threading.Thread(target=self._run, args=(task,), name=name, daemon=True)
        task.thread.start()
        return task.thread

    def _run(self, task: _Task) -> None:
        delay = self.backoff
        while not task.stop.is_set():
            try:
                task.target()
                if task.stop.is_set():
                    return
                reason = "returned without being asked to stop"
            except Exception as exc:  # the point of supervision: any death, restarted and reported
                reason = f"{type(exc).__name__}: {exc}"
                log.error("background thread died", role=self.role, thread=task.name, error=reason, exc_info=True)
            task.last_error = reason
            now = time.monotonic()
            task.failures.append(now)
            while task.failures and task.failures[0] < now - self.window:
                task.failures.popleft()
            if len(task.failures) > self.max_restarts:
                task.dead = (f"{self.role} thread {task.name} died {len(task.failures)} times within "
                             f"{self.window:g}s; last: {reason}")
                log.error("background thread given up", role=self.role, thread=task.name, reason=task.dead)
                return
            if task.stop.wait(delay):
                return
            delay = min(delay * 2, self.max_backoff)
            task.restarts += 1
            if self.restarts is not None:
                self.restarts.labels(task.name).inc()
            log.warning("background thread restarting", role=self.role, thread=task.name, restarts=task.restarts)

    def alive(self, name: str) -> bool:
        """Running, or between a death and its restart (not given up, not stopped)."""
        task = self._tasks.get(name)
        return task is not None and task.dead is None and task.thread is not None and task.thread.is_alive()

    def restarts_of(self, name: str) -> int:
        task = self._tasks.get(name)
        return task.restarts if task is not None else 0

    def join(self, name: str, timeout: float) -> None:
        task = self._tasks.get(name)
        if task is not None and task.thread is not None:
            task.thread.join(timeout)

    def liveness(self) -> str | None:
        """``None`` while every loop runs (or is being restarted); else why this process should be
        restarted. The shape the probe set registers: ``Callable[[], str | None]``."""
        with self._lock:
            tasks = list(self._tasks.values())
        dead = [t.dead for t in tasks if t.dead is not None]
        return "; ".join(dead) if dead else None
