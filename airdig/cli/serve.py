"""Running ASGI apps from the CLI: one or several uvicorn servers in one process, clean Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import uvicorn

from airdig.edge.tls import ServerTls, scheme
from airdig.logs import get_logger

log = get_logger("serve")


def _run(coro: Any) -> None:
    """uvloop where it is installed (it is a dependency on Linux), else the standard loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


class _Server(uvicorn.Server):
    """Leaves signals to :func:`run_servers`, which stops every server of the process together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass(frozen=True)
class Listener:
    name: str
    app: Any
    host: str
    port: int
    tls: ServerTls | None = None  # serve TLS only (airdig.edge.tls)


def run_servers(listeners: Sequence[Listener], on_stop: Callable[[], None] | None = None,
                background: Sequence[Callable[[asyncio.Event], Any]] = ()) -> None:
    """Serve every listener until SIGINT/SIGTERM, then stop them all and call ``on_stop``."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        servers = []
        for ls in listeners:
            cfg = uvicorn.Config(ls.app, host=ls.host, port=ls.port, log_level="warning", access_log=False,
                                 lifespan="off", ws="websockets-sansio",
                                 **(ls.tls.uvicorn_options() if ls.tls else {}))
            server = _Server(cfg)
            servers.append(server)
        tasks = [asyncio.create_task(s.serve()) for s in servers]
        tasks += [asyncio.create_task(job(stop)) for job in background]
        for ls in listeners:
            log.info("listening", role=ls.name, url=f"{scheme(ls.tls)}://{ls.host}:{ls.port}")
        waiter = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            if t is not waiter and t.exception() is not None:
                log.error("server failed", error=str(t.exception()))
        stop.set()
        for s in servers:
            s.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)

    try:
        _run(main())
    finally:
        if on_stop is not None:
            on_stop()
