"""CPU per request of the engine's ASGI app itself: GraphQL ``resource(id)`` driven in-process (no network,
no HTTP server, no client), so what is measured is AirDig's and its libraries' work per request.

Embedded backends (SQLite, memory cache; ``--cache-url redis://…`` for a Redis read cache, where every read
is a worker-thread hop and two Redis round trips), ``--nodes`` nodes, every id read once first (so the
measured requests are cache hits; with the memory cache answered on the event loop), then ``--requests`` requests per round. Baselines of
the same run: ``resource(id)`` through Strawberry alone (an app built with ``hot_reads=False``: the path
before :mod:`airdig.engine.api.graphql.hotread`), and ``GET /healthz`` through the same app (edge
middleware, routing, no GraphQL).

    .venv/bin/python bench/load/resource_inprocess.py

Prints one JSON object; ``cpu_ms_per_req`` is this process's CPU time per request (the best of the rounds);
``speedup`` is the Strawberry baseline's over the hot path's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from typing import Any
from urllib.parse import urlsplit

import orjson

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from resource_under_rootcause import RESOURCE, seed

from airdig.backends.registry import open_bus, open_cache, open_store
from airdig.engine.app import build_app
from airdig.engine.service import EngineService


def scope_of(method: str, path: str, body: bytes) -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
            "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
            "headers": [(b"host", b"127.0.0.1:8080"), (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8080)}


async def call(app: Any, method: str, path: str, body: bytes = b"") -> int:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    status = 0

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])

    await app(scope_of(method, path, body), receive, send)
    return status


async def call_body(app: Any, method: str, path: str, body: bytes = b"") -> bytes:
    """The response body (for the check that both paths answer alike)."""
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope_of(method, path, body), receive, send)
    return b"".join(chunks)


def best_of(results: list[dict[str, float]]) -> dict[str, float]:
    best = min(r["cpu_ms_per_req"] for r in results)
    return {"cpu_ms_per_req": best, "requests_per_round": results[0]["requests_per_round"], "rounds": len(results)}


async def rounds(app: Any, make: Any, n: int, repeat: int) -> dict[str, float]:
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        for i in range(n):
            status = await call(app, *make(i))
            if status != 200:
                raise RuntimeError(f"HTTP {status}")
        best = min(best, (time.process_time() - t) * 1000 / n)
    return {"cpu_ms_per_req": round(best, 3), "requests_per_round": n, "rounds": repeat}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=500)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cache-url", default="memory://", help="the read cache (e.g. $AIRDIG_TEST_REDIS_URL)")
    args = ap.parse_args()
    d = tempfile.mkdtemp(prefix="airdig-inprocess-")
    url = f"sqlite:///{d}/airdig.db"
    seed(url, args.nodes, random.Random(7))
    svc = EngineService(store=open_store(url), bus=open_bus(f"embedded://{d}/bus.db"), cache=open_cache(args.cache_url))
    svc.start(process_events=False)
    app = build_app(svc)
    strawberry_app = build_app(svc, hot_reads=False)
    bodies = [orjson.dumps({"query": RESOURCE, "variables": {"id": f"node-{i}"}}) for i in range(args.nodes)]

    def resource(i: int) -> tuple[str, str, bytes]:
        return "POST", "/graphql", bodies[i % args.nodes]

    async def same_answers() -> None:  # both apps answer byte for byte alike (tests/unit/engine/test_hotread.py)
        for i in range(min(args.nodes, 50)):
            a, b = await call_body(app, *resource(i)), await call_body(strawberry_app, *resource(i))
            if a != b:
                raise RuntimeError(f"hot read and Strawberry differ: {a!r} != {b!r}")

    def healthz(_: int) -> tuple[str, str, bytes]:
        return "GET", "/healthz", b""

    async def run() -> dict[str, Any]:
        for i in range(args.nodes):  # every id once: the measured reads are cache hits
            await call(app, *resource(i))
        await same_answers()
        out: dict[str, Any] = {"baseline_healthz": await rounds(app, healthz, args.requests, args.rounds)}
        # alternate the two paths round by round, so a change in the machine's load hits both alike
        base: list[dict[str, float]] = []
        hot: list[dict[str, float]] = []
        for _ in range(args.rounds):
            base.append(await rounds(strawberry_app, resource, args.requests, 1))
            hot.append(await rounds(app, resource, args.requests, 1))
        out["baseline_resource_strawberry"] = best_of(base)
        out["resource"] = best_of(hot)
        out["speedup"] = round(out["baseline_resource_strawberry"]["cpu_ms_per_req"]
                               / out["resource"]["cpu_ms_per_req"], 2)
        return out

    try:
        out = asyncio.run(run())
    finally:
        svc.stop()
    print(json.dumps({"benchmark": "load_resource_inprocess", "nodes": args.nodes,
                      "cache": urlsplit(args.cache_url).scheme, "cache_hits": svc.read_cache.hits,
                      "hot_answered": app.state.hot_reads.answered,
                      "load_average": round(os.getloadavg()[0], 1), **out}))


if __name__ == "__main__":
    main()
