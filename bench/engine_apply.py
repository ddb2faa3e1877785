"""Benchmark: events applied per second by one engine process into MariaDB and into TiDB, side by side.

Baseline, measured in the same run on the same server: raw batched INSERTs of the same node rows
(pymysql ``executemany``, one commit per batch) — the floor of what any apply path can cost.
The engine path decodes each CloudEvent, de-duplicates by event id, upserts with newer-wins, and
writes the change timeline and the applied-event ids, all in one transaction per batch. Each server
given (``--mysql-url``, ``--tidb-url``; default: the test servers' URLs) gets its own figures.

    source .test-services/services.env   # scripts/services/start: AIRDIG_TEST_MYSQL_URL, AIRDIG_TEST_TIDB_URL
    .venv/bin/python bench/engine_apply.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import orjson
import pymysql

from airdig.backends.interfaces import Record
from airdig.backends.registry import open_store
from airdig.engine.apply import Applier
from airdig.model.events import resource_event
from airdig.model.graph import Node


def make_events(n: int) -> list[Record]:
    out = []
    for i in range(n):
        node = Node(id=f"arn:aws:ec2:us-east-1:123456789012:instance/i-{i:08x}", kind="aws.ec2.instance",
                    provider="aws", account="123456789012", region="us-east-1", name=f"web-{i}",
                    attrs={"InstanceType": "m5.large", "SubnetId": f"subnet-{i % 64:04x}", "State": "running",
                           "PrivateIpAddress": f"10.0.{i // 250 % 250}.{i % 250}"},
                    tags={"team": "payments", "env": "prod"})
        ev = resource_event("updated", node, "bench", time=1_700_000_000.0 + i)
        out.append(Record("airdig.resources", i % 6, i, ev.subject, ev.encode(), ev.time))
    return out


def fresh_db(base: str) -> tuple[str, pymysql.connections.Connection]:
    parts = urlsplit(base)
    name = f"airdig_bench_{uuid.uuid4().hex[:8]}"
    admin = pymysql.connect(host=parts.hostname, port=parts.port or 3306, user=parts.username,
                            password=parts.password or "", autocommit=True)
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    return urlunsplit(parts._replace(path=f"/{name}")), admin


def _rows(records: list[Record]) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    nodes, changes = [], []
    for r in records:
        ev = orjson.loads(r.value)
        node = ev["data"]["node"]
        nodes.append((node["id"], node["kind"], node["provider"], node["account"], node["region"], node["name"],
                      orjson.dumps(node["attrs"]).decode(), orjson.dumps(node["tags"]).decode(), None, r.timestamp,
                      r.timestamp, r.timestamp, None))
        changes.append((ev["id"], node["id"], r.timestamp, "updated", "bench", None,
                        f"{node['kind']} {node['name']} updated", "{}"))
    return nodes, changes


def bench_raw(url: str, records: list[Record], batch: int, with_timeline: bool) -> float:
    """Raw batched INSERTs of the rows the engine stores (JSON already decoded, no checks): the floor."""
    parts = urlsplit(url)
    conn = pymysql.connect(host=parts.hostname, port=parts.port or 3306, user=parts.username,
                           password=parts.password or "", database=parts.path.lstrip("/"), autocommit=False)
    nodes, changes = _rows(records)
    qn = ("INSERT INTO nodes (id, kind, provider, account, region, name, attrs, tags, managed_by, version, "
          "first_seen, last_seen, deleted_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)")
    qc = ("INSERT INTO changes (id, node_id, time, kind, source, actor, summary, details) "
          "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)")
    start = time.perf_counter()
    with conn.cursor() as cur:
        for i in range(0, len(nodes), batch):
            cur.executemany(qn, nodes[i:i + batch])
            if with_timeline:
                cur.executemany(qc, changes[i:i + batch])
            conn.commit()
    elapsed = time.perf_counter() - start
    conn.close()
    return len(nodes) / elapsed


def bench_engine(url: str, records: list[Record], batch: int) -> float:
    store = open_store(url)
    applier = Applier(store)
    start = time.perf_counter()
    for i in range(0, len(records), batch):
        applier.apply(records[i:i + batch])
    elapsed = time.perf_counter() - start
    store.close()
    return len(records) / elapsed


def bench_server(base: str, records: list[Record], batch: int) -> dict[str, object]:
    """The engine and both raw baselines on one server, each in a fresh database."""
    raw_nodes_url, admin = fresh_db(base)
    raw_all_url, _ = fresh_db(base)
    eng_url, _ = fresh_db(base)
    urls = (raw_nodes_url, raw_all_url, eng_url)
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT VERSION()")
            version = str(cur.fetchone()[0])
        for url in urls:
            s = open_store(url)
            s.migrate()
            s.close()
        raw_nodes = bench_raw(raw_nodes_url, records, batch, with_timeline=False)
        raw_all = bench_raw(raw_all_url, records, batch, with_timeline=True)
        engine = bench_engine(eng_url, records, batch)
    finally:
        with admin.cursor() as cur:
            for url in urls:
                cur.execute(f"DROP DATABASE IF EXISTS {urlsplit(url).path.lstrip('/')}")
        admin.close()
    return {
        "version": version, "engine_events_per_s": round(engine),
        "raw_insert_same_rows_per_s": round(raw_all),
        "raw_insert_node_rows_only_per_s": round(raw_nodes),
        "engine_vs_raw_same_rows": round(engine / raw_all, 3),
        "engine_vs_raw_node_rows_only": round(engine / raw_nodes, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a small run (seconds)")
    ap.add_argument("--events", type=int, default=None)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--mysql-url", default=os.environ.get("AIRDIG_TEST_MYSQL_URL"), help="MariaDB/MySQL")
    ap.add_argument("--tidb-url", default=os.environ.get("AIRDIG_TEST_TIDB_URL"), help="TiDB")
    args = ap.parse_args()
    servers = {name: url for name, url in (("mariadb", args.mysql_url), ("tidb", args.tidb_url)) if url}
    if not servers:
        sys.exit("bench/engine_apply.py: set AIRDIG_TEST_MYSQL_URL and/or AIRDIG_TEST_TIDB_URL, or pass "
                 "--mysql-url / --tidb-url (scripts/services/start)")
    n = args.events or (2000 if args.quick else 50_000)
    records = make_events(n)
    print(json.dumps({
        "benchmark": "engine_apply", "events": n, "batch": args.batch,
        "servers": {name: bench_server(url, records, args.batch) for name, url in servers.items()},
        "note": "same rows = the node row and the change-timeline row each event stores; aim >= 0.5",
    }))


if __name__ == "__main__":
    main()
