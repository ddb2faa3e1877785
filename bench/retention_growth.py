"""Benchmark: store growth per day at 1,000 service edges, and what the retention roll-up saves.

Applies TraceCore's real ``airdig.trace.edge`` events (1,000 caller→callee edges, one event per edge per
minute window, statistics with the full latency histograms) into MariaDB, measures InnoDB bytes per row
of the tables they grow (``service_edges`` and the idempotency marks in ``applied_events``), and
extrapolates to a day (1,440 windows). Baseline measured in the same run: the same rows after
``airdig db prune`` rolled them up to hour windows.

    AIRDIG_TEST_MYSQL_URL=mysql://airdig:airdig@127.0.0.1:13306/x .venv/bin/python bench/retention_growth.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import pymysql

from airdig.backends.interfaces import Record
from airdig.backends.registry import open_store
from airdig.engine.apply import Applier
from airdig.engine.retention import DAY, RetentionPolicy, prune
from airdig.model.events import CloudEvent
from airdig.tracecore.servicemap import LATENCY_BOUNDS_MS

EDGES = 1000


def events(windows: int, t0: float) -> list[Record]:
    out = []
    nb = len(LATENCY_BOUNDS_MS) + 1
    for w in range(windows):
        start = t0 + w * 60
        for e in range(EDGES):
            src, dst = f"service://shop/svc-{e % 100:03d}", f"service://shop/dep-{e:04d}"
            counts = [(e + w + k) % 7 for k in range(nb)]
            stats = {"request_count": sum(counts), "error_count": e % 3, "errors": {"5xx": e % 3} if e % 3 else {},
                     "latency_ms": {"bounds": list(LATENCY_BOUNDS_MS), "counts": counts},
                     "server_latency_ms": {"bounds": list(LATENCY_BOUNDS_MS), "counts": counts},
                     "p50": 12.5, "p95": 80.0, "p99": 240.0}
            ev = CloudEvent(type="airdig.trace.edge", source="tracecore", subject=src, time=start + 60,
                            data={"src": src, "dst": dst, "type": "calls", "window_start": start,
                                  "window_seconds": 60, "stats": stats})
            out.append(Record("airdig.traces", 0, len(out), src, ev.encode(), ev.time))
    return out


def table_bytes(conn: pymysql.connections.Connection, db: str, rebuild: bool = False) -> dict[str, tuple[int, int]]:
    """table -> (rows, data+index bytes), after ANALYZE so InnoDB's figures are current; ``rebuild``
    (OPTIMIZE) first, so pages freed by deletes (reused by InnoDB, not returned) are not counted."""
    out = {}
    with conn.cursor() as cur:
        for t in ("service_edges", "applied_events"):
            if rebuild:
                cur.execute(f"OPTIMIZE TABLE {t}")
                cur.fetchall()
            cur.execute(f"ANALYZE TABLE {t}")
            cur.fetchall()
            cur.execute(f"SELECT COUNT(*) FROM {t}")
            rows = int(cur.fetchone()[0])
            cur.execute("SELECT data_length + index_length FROM information_schema.tables WHERE table_schema = %s "
                        "AND table_name = %s", (db, t))
            out[t] = (rows, int(cur.fetchone()[0]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="10 windows instead of 60")
    args = ap.parse_args()
    base = os.environ.get("AIRDIG_TEST_MYSQL_URL")
    if not base:
        sys.exit("AIRDIG_TEST_MYSQL_URL is not set")
    parts = urlsplit(base)
    db = f"airdig_bench_{uuid.uuid4().hex[:8]}"
    admin = pymysql.connect(host=parts.hostname, port=parts.port or 3306, user=parts.username,
                            password=parts.password or "", autocommit=True)
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {db} CHARACTER SET utf8mb4")
    store = open_store(urlunsplit(parts._replace(path=f"/{db}")))
    try:
        store.migrate()
        windows = 10 if args.quick else 60
        t0 = 1_700_000_000.0 - 1_700_000_000.0 % 3600
        recs = events(windows, t0)
        a = Applier(store, clock=lambda: t0 + windows * 60)
        started = time.perf_counter()
        for i in range(0, len(recs), 1000):
            a.apply(recs[i:i + 1000])
        apply_s = time.perf_counter() - started
        admin.select_db(db)
        minute = table_bytes(admin, db)
        prune(store, RetentionPolicy(service_edges_rollup=1, applied_events=1), t0 + windows * 60 + 2 * DAY)
        hour = table_bytes(admin, db, rebuild=True)
        per_row = {t: minute[t][1] / max(1, minute[t][0]) for t in minute}
        per_day_minute = EDGES * 1440 * (per_row["service_edges"] + per_row["applied_events"])
        hour_row = hour["service_edges"][1] / max(1, hour["service_edges"][0])
        per_day_hour = EDGES * 24 * hour_row
        print(json.dumps({
            "edges": EDGES, "windows": windows, "events": len(recs), "apply_seconds": round(apply_s, 2),
            "bytes_per_row": {"service_edges_minute": round(per_row["service_edges"]),
                              "applied_events": round(per_row["applied_events"]),
                              "service_edges_hour": round(hour_row)},
            "growth_per_day_mb": {"minute_windows_with_marks": round(per_day_minute / 1e6, 1),
                                  "after_rollup_hour_windows": round(per_day_hour / 1e6, 1)},
            "baseline": "the same edges rolled up to hour windows (airdig db prune), same run",
            "rows_after_rollup": hour["service_edges"][0],
        }, indent=2))
    finally:
        store.close()
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {db}")
        admin.close()


if __name__ == "__main__":
    main()
