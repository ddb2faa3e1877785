"""The probe set every listener serves: ``/healthz``, ``/readyz`` and ``/metrics``.

* ``/healthz`` (liveness) runs the registered liveness checks inline: each is a cheap
  ``Callable[[], str | None]`` (None = fine, else the reason), e.g. "is this worker thread alive".
  A supervisor of background threads registers its check here: ``probes.liveness["threads"] = fn``.
* ``/readyz`` (readiness) runs its checks — which may do I/O (a backend ping) — in worker threads,
  each with a timeout, all at once, and keeps the verdict for ``cache_seconds``: a probe storm or a
  hung backend never blocks the event loop, and at most one round of checks runs at a time.

    probes = Probes(registry); probes.readiness["store"] = ping_check(store.ping)
    routes = probes.routes()
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Check = Callable[[], "str | None"]


def ping_check(ping: Callable[[], object]) -> Check:
    """A readiness check from a ``ping()`` that raises when the backend is unreachable."""

    def check() -> str | None:
        try:
            ping()
        except Exception as exc:
            return f"error: {exc}"
        return None

    return check


def _json(data: object, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


class Probes:
    def __init__(self, registry: Any = None, timeout: float = 2.0, cache_seconds: float = 2.0,
                 liveness: dict[str, Check] | None = None, before_metrics: Callable[[], None] | None = None) -> None:
        self.registry = registry
        self.timeout = timeout
        self.cache_seconds = cache_seconds
        # a dict the owner may share and fill later (e.g. a thread supervisor started after the app)
        self.liveness: dict[str, Check] = liveness if liveness is not None else {}
        self.readiness: dict[str, Check] = {}
        self.before_metrics = before_metrics
        self._cached: tuple[float, dict[str, str]] | None = None
        self._round: asyncio.Future[dict[str, str]] | None = None

    def live(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, check in list(self.liveness.items()):
            try:
                reason = check()
            except Exception as exc:  # a broken check is a failed check, not a 500
                reason = f"check failed: {exc}"
            out[name] = reason or "ok"
        return out

    async def ready(self) -> dict[str, str]:
        now = time.monotonic()
        if self._cached is not None and self._cached[0] > now:
            return self._cached[1]
        loop = asyncio.get_running_loop()
        # one round at a time; a round left pending by another event loop (tests, lifespan-less servers)
        # cannot be awaited here, so it is replaced
        if self._round is None or self._round.done() or self._round.get_loop() is not loop:
            self._round = asyncio.ensure_future(self._run_checks())
        return await asyncio.shield(self._round)

    async def _run_checks(self) -> dict[str, str]:
        async def one(check: Check) -> str:
            try:
                reason = await asyncio.wait_for(asyncio.to_thread(check), self.timeout)
            except TimeoutError:
                return f"error: no answer within {self.timeout:g}s"
            except Exception as exc:
                return f"error: {exc}"
            return reason or "ok"

        names = list(self.readiness)
        results = await asyncio.gather(*(one(self.readiness[n]) for n in names))
        checks = dict(zip(names, results, strict=True))
        self._cached = (time.monotonic() + self.cache_seconds, checks)
        return checks

    def routes(self) -> list[Route]:
        async def healthz(_: Request) -> Response:
            checks = self.live()
            ok = all(v == "ok" for v in checks.values())
            body: dict[str, object] = {"status": "ok" if ok else "failing"}
            if checks:
                body["checks"] = checks
            return _json(body, 200 if ok else 503)

        async def readyz(_: Request) -> Response:
            checks = {**await self.ready(), **{k: v for k, v in self.live().items() if v != "ok"}}
            ok = all(v == "ok" for v in checks.values())
            return _json({"status": "ready" if ok else "not ready", "checks": checks}, 200 if ok else 503)

        async def metrics(_: Request) -> Response:
            if self.before_metrics is not None:
                self.before_metrics()
            return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

        routes = [Route("/healthz", healthz, methods=["GET", "HEAD"]), Route("/readyz", readyz, methods=["GET", "HEAD"])]
        if self.registry is not None:
            routes.append(Route("/metrics", metrics, methods=["GET"]))
        return routes
