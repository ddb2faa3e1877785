"""Benchmark: the service map of N services / M call edges (default 5,000 / 20,000) on the embedded store.

The estate is the one the UI scale test draws (``bench.ui_scale.service_events``: services in 20
namespaces, one closed window per call edge), written through the engine's real apply path. Measured,
each over ``--runs`` repetitions, in one process (no HTTP server; Starlette's test client calls the app):

* ``core``: ``intel.neighborhood.service_map`` (store read, window merge, per-edge summary, node rows);
* ``graphql``: the UI's ``serviceMap`` query, nodes with health and every edge field;
* ``graphql_grouped``: the same with ``budget: 60`` (grouped by namespace);
* ``rest``: ``GET /api/v1/service-map``;
* baseline, same run, same file: the bare SQL reading the same window rows (every column the map
  needs) with Python's sqlite3.

Prints one JSON object (seconds: p50, p99, max per read; each read's p50 over the baseline's).

    PYTHONPATH=. .venv/bin/python bench/service_map.py [--nodes 5000] [--edges 20000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from airdig.backends.interfaces import Record
from airdig.backends.registry import open_bus, open_cache, open_store
from airdig.backends.store.sql import SqlStore
from airdig.engine.app import build_app
from airdig.engine.apply import Applier
from airdig.engine.intel import neighborhood
from airdig.engine.service import EngineService
from bench.neighborhood import measure
from bench.ui_scale import service_events

QUERY = ("query($since: String, $until: String, $budget: Int) { serviceMap(since: $since, until: $until, "
         "budget: $budget) { nodes { id kind name health { status } } edges { src dst requestCount errorCount "
         "errorRate p50 p95 p99 } groups { id count } grouped } }")


def populate(store: SqlStore, n: int, m: int, now: float) -> None:
    evs = service_events(n, m, now)
    applier = Applier(store)
    for k in range(0, len(evs), 2000):
        applier.apply([Record(e.topic, 0, k + j, e.subject, e.encode(), e.time) for j, e in enumerate(evs[k:k + 2000])])


def bare_sql(path: Path, lo: float, hi: float) -> Callable[[], int]:
    conn = sqlite3.connect(str(path))

    def run() -> int:
        return len(conn.execute(
            "SELECT id, src, dst, window_start, window_seconds, request_count, error_count, errors, latency, p50, "
            "p95, p99 FROM service_edges WHERE window_start >= ? AND window_start < ? ORDER BY window_start",
            (lo, hi)).fetchall())

    return run


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--edges", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--profile", help="cProfile the GraphQL read once into this file")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        store = open_store(f"sqlite:///{db}")
        assert isinstance(store, SqlStore)
        store.migrate()
        now = time.time()
        t = time.perf_counter()
        populate(store, args.nodes, args.edges, now)
        setup = time.perf_counter() - t
        lo, hi = now - 3600, now
        svc = EngineService(store=store, bus=open_bus(f"embedded://{Path(tmp) / 'bus.db'}"),
                            cache=open_cache("memory://"), group="bench-smap")
        since, until = (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(x)) for x in (lo, hi + 1))
        with TestClient(build_app(svc)) as client:
            def gql(budget: int | None = None) -> Callable[[], None]:
                def run() -> None:
                    r = client.post("/graphql", json={"query": QUERY, "variables": {
                        "since": since, "until": until, "budget": budget}})
                    r.raise_for_status()
                    d = r.json()["data"]["serviceMap"]
                    assert budget is not None or len(d["edges"]) == args.edges, r.text[:300]
                return run

            def rest() -> None:
                r = client.get("/api/v1/service-map", params={"since": since, "until": until})
                r.raise_for_status()
                assert len(r.json()["edges"]) == args.edges

            if args.profile:
                import cProfile

                cProfile.runctx("fn()", {"fn": gql()}, {}, args.profile)
            base = measure(bare_sql(db, lo, hi + 1), args.runs)
            out: dict[str, Any] = {"nodes": args.nodes, "edges": args.edges, "runs": args.runs,
                                   "setup_s": round(setup, 1), "baseline_bare_sql": base}
            for name, fn in (("core", lambda: neighborhood.service_map(store, lo, hi + 1, None)),
                             ("graphql", gql()), ("graphql_grouped", gql(60)), ("rest", rest)):
                out[name] = measure(fn, args.runs)
                out[name]["x_baseline"] = round(out[name]["p50"] / base["p50"], 1) if base["p50"] else None
        store.close()
    json.dump(out, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
