"""Benchmark: engine reads on a large graph in MariaDB and in TiDB, each next to the bare SQL.

Builds a graph of N nodes and 10·N edges (default 100,000 and 1,000,000) with realistic kinds and
edge types, then measures p50/p99 latency of
  * impact (3 hops)                 vs the same per-hop SQL run directly (pymysql, no engine code)
  * resource + neighbors (depth 1)  vs SELECT node + SELECT its edges
  * rootCause (30-minute window)    vs the causes walk's per-hop SQL + one changes query
and GraphQL ``resource(id)`` requests/s against one engine process (uvicorn, 8 client threads) next to
the same ``SELECT`` by primary key per second at the same concurrency (8 threads, 8 connections). The
root-cause baseline walks the same walk index (``adjacency``) the engine walks. Each server given
(``--mysql-url``, ``--tidb-url``; default: the test servers' URLs) gets its own figures, side by side.

    source .test-services/services.env   # scripts/services/start: AIRDIG_TEST_MYSQL_URL, AIRDIG_TEST_TIDB_URL
    .venv/bin/python bench/engine_queries.py [--quick]
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import orjson
import pymysql

from airdig.backends.registry import open_store
from airdig.engine.intel import reads, rootcause
from airdig.engine.intel.graphwalk import _split
from airdig.model.ids import node_key

KINDS = ["aws.ec2.instance", "aws.ec2.security-group", "aws.ec2.subnet", "aws.rds.instance", "service", "k8s.pod"]
TYPES = ["network", "depends_on", "runs_on", "calls", "contains"]


def connect(url: str) -> pymysql.connections.Connection:
    p = urlsplit(url)
    return pymysql.connect(host=p.hostname, port=p.port or 3306, user=p.username, password=p.password or "",
                           database=p.path.lstrip("/") or None, autocommit=True)


def build(url: str, n: int, rng: random.Random) -> None:
    store = open_store(url)
    store.migrate()
    store.close()
    conn = connect(url)
    now = time.time()
    with conn.cursor() as cur:
        cur.execute("ALTER TABLE edges DISABLE KEYS")
        batch = []
        for i in range(n):
            batch.append((f"node-{i}", KINDS[i % len(KINDS)], "aws", "1", "us-east-1", f"name-{i}",
                          '{"InstanceType":"m5.large"}', '{"env":"prod"}', None, now, now, now, None))
            if len(batch) == 5000:
                cur.executemany("INSERT INTO nodes (id, kind, provider, account, region, name, attrs, tags, managed_by,"
                                " version, first_seen, last_seen, deleted_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,"
                                "%s,%s)", batch)
                batch = []
        edges = []
        adjacency: set[tuple[int, str, int]] = set()
        import hashlib
        for i in range(n * 10):
            src, dst = f"node-{rng.randrange(n)}", f"node-{rng.randrange(n)}"
            typ = TYPES[i % len(TYPES)]
            eid = hashlib.sha1(f"{src}\x00{typ}\x00{dst}\x00{i}".encode()).hexdigest()
            edges.append((eid, src, dst, typ, "{}", now, now, now, None))
            adjacency.add((node_key(src), typ, node_key(dst)))
            if len(edges) == 10000:
                cur.executemany("INSERT INTO edges (id, src, dst, type, attrs, version, first_seen, last_seen, "
                                "deleted_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)", edges)
                cur.executemany("INSERT IGNORE INTO adjacency (src_key, type, dst_key) VALUES (%s,%s,%s)",
                                list(adjacency))
                edges, adjacency = [], set()
        # the walk index the engine maintains on every edge write
        keys = [(node_key(f"node-{i}"), f"node-{i}") for i in range(n)]
        for i in range(0, n, 10000):
            cur.executemany("INSERT INTO node_keys (node_key, node_id) VALUES (%s,%s)", keys[i:i + 10000])
        changes = [(f"c-{i}", f"node-{rng.randrange(n)}", now - rng.uniform(0, 3600), "cloudtrail", "bench",
                    "alice", "AuthorizeSecurityGroupIngress", "{}") for i in range(n // 10)]
        cur.executemany("INSERT INTO changes (id, node_id, time, kind, source, actor, summary, details) VALUES "
                        "(%s,%s,%s,%s,%s,%s,%s,%s)", changes)
        cur.execute("ALTER TABLE edges ENABLE KEYS")
        cur.execute("ANALYZE TABLE nodes, edges, changes")
        cur.fetchall()
    conn.close()


def timed(fn: Callable[[], object], runs: int) -> dict[str, float]:
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return {"p50_ms": round(statistics.median(samples), 2),
            "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 2)}


def bare_walk(cur: pymysql.cursors.Cursor, root: str, hops: int, out_types: list[str], in_types: list[str],
              table: str = "adjacency") -> set[object]:
    """The same answer in bare SQL: per-hop queries on the walk index (or on the edges table by id).
    Returns node ids in both cases (on the walk index, looked up once for the nodes reached)."""
    src, dst = ("src_key", "dst_key") if table == "adjacency" else ("src", "dst")
    start: object = node_key(root) if table == "adjacency" else root
    seen, frontier = {start}, [start]
    for _ in range(hops):
        if not frontier:
            break
        m = ",".join(["%s"] * len(frontier))
        q = (f"SELECT {dst} FROM {table} WHERE {src} IN ({m}) AND type IN ({','.join(['%s'] * len(out_types))}) "
             f"UNION ALL SELECT {src} FROM {table} WHERE {dst} IN ({m}) AND type IN "
             f"({','.join(['%s'] * len(in_types))})")
        cur.execute(q, [*frontier, *out_types, *frontier, *in_types])
        nxt = {r[0] for r in cur.fetchall()} - seen
        seen |= nxt
        frontier = list(nxt)
    if table == "adjacency":  # ids for the nodes reached, as the engine returns them
        keys, ids = list(seen), {root}
        for i in range(0, len(keys), 1000):
            chunk = keys[i:i + 1000]
            cur.execute(f"SELECT node_id FROM node_keys WHERE node_key IN ({','.join(['%s'] * len(chunk))})", chunk)
            ids |= {r[0] for r in cur.fetchall()}
        return set(ids)
    return seen


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def graphql_rps(url: str, n: int, seconds: float, threads: int) -> float:
    port = free_port()
    env = {**os.environ, "AIRDIG_DATABASE_URL": url, "AIRDIG_LOG_LEVEL": "warning", "AIRDIG_AUTH": "off",
           "AIRDIG_DATA_DIR": f"/tmp/airdig-bench-{port}"}
    proc = subprocess.Popen([sys.executable, "-m", "airdig.cli", "engine", "--port", str(port), "--no-processor"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("engine did not start") from None
                time.sleep(0.2)
        count = [0]
        lock = threading.Lock()
        stop = time.monotonic() + seconds

        def worker(seed: int) -> None:
            rng = random.Random(seed)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            done = 0
            while time.monotonic() < stop:
                body = orjson.dumps({"query": "query($id: ID!) { resource(id: $id) { id kind name health { status } } }",
                                     "variables": {"id": f"node-{rng.randrange(n)}"}})
                conn.request("POST", "/graphql", body, {"Content-Type": "application/json"})
                r = conn.getresponse()
                data = r.read()
                if r.status != 200 or b'"errors"' in data:
                    raise RuntimeError(data[:200])
                done += 1
            with lock:
                count[0] += done

        ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return count[0] / seconds
    finally:
        proc.terminate()
        proc.wait(10)


def bare_select_rps(url: str, n: int, seconds: float, threads: int) -> float:
    """The same primary-key read in bare SQL at the same concurrency as the GraphQL client: ``threads``
    connections, one per thread (a baseline over one connection would compare 8 clients with one)."""
    count = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        conn = connect(url)
        cur = conn.cursor()
        done = 0
        while time.monotonic() < stop:
            cur.execute("SELECT n.id, n.kind, n.name, h.status FROM nodes n LEFT JOIN health h ON h.node_id = n.id "
                        "WHERE n.id = %s", (f"node-{rng.randrange(n)}",))
            cur.fetchall()
            done += 1
        conn.close()
        with lock:
            count[0] += done

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return count[0] / seconds


def bench_server(base: str, n: int, runs: int, secs: float, keep: bool) -> dict[str, object]:
    """Every read of the benchmark on one server, in a database of its own (kept with ``keep``)."""
    rng = random.Random(42)
    p = urlsplit(base)
    db = f"airdig_bench_q_{n}"
    admin = connect(p._replace(path="/").geturl())
    url = p._replace(path=f"/{db}").geturl()
    with admin.cursor() as cur:
        cur.execute("SELECT VERSION()")
        version = str(cur.fetchone()[0])
        cur.execute("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s AND table_name = 'edges'",
                    (db,))
        ready = cur.fetchone()[0] == 1
        if ready:
            cur.execute(f"SELECT COUNT(*) FROM {db}.edges")
            ready = cur.fetchone()[0] == n * 10
        if not (keep and ready):
            cur.execute(f"DROP DATABASE IF EXISTS {db}")
            cur.execute(f"CREATE DATABASE {db} CHARACTER SET utf8mb4")
    t0 = time.perf_counter()
    try:
        if not (keep and ready):
            build(url, n, rng)
        load_s = time.perf_counter() - t0
        store = open_store(url)
        conn = connect(url)
        cur = conn.cursor()
        fwd, bwd = _split(None)
        ids = [f"node-{rng.randrange(n)}" for _ in range(runs)]
        it = itertools.cycle(ids)
        out: dict[str, object] = {"version": version, "load_seconds": round(load_s, 1)}
        out["impact_3_hops"] = timed(lambda: reads.impact(store, next(it), 3, with_resources=False), runs)
        out["impact_3_hops_with_resources"] = timed(lambda: reads.impact(store, next(it), 3), runs)
        out["impact_3_hops_bare_sql"] = timed(lambda: bare_walk(cur, next(it), 3, fwd, bwd), runs)
        out["impact_3_hops_bare_sql_on_edge_ids"] = timed(lambda: bare_walk(cur, next(it), 3, fwd, bwd, "edges"),
                                                          runs)
        out["resource_neighbors"] = timed(lambda: (store.get_node(i := next(it)),
                                                   reads.neighbors(store, i, 1, None, 100)), runs)

        def bare_neighbors() -> None:
            i = next(it)
            cur.execute("SELECT * FROM nodes n LEFT JOIN health h ON h.node_id = n.id WHERE n.id = %s", (i,))
            cur.fetchall()
            cur.execute("SELECT src, dst, type FROM edges WHERE src = %s UNION SELECT src, dst, type FROM edges "
                        "WHERE dst = %s", (i, i))
            cur.fetchall()
        out["resource_neighbors_bare_sql"] = timed(bare_neighbors, runs)
        now = time.time()
        it2 = itertools.cycle(ids)
        out["root_cause"] = timed(lambda: rootcause.dig(store, next(it2), now, 1800.0), max(10, runs // 4))

        def bare_causes() -> None:  # the same walk index the engine uses, then the one changes query
            seen = bare_walk(cur, next(it2), 4, bwd, fwd)
            m = ",".join(["%s"] * len(seen))
            cur.execute(f"SELECT id FROM changes WHERE node_id IN ({m}) AND time >= %s", [*seen, now - 1800])
            cur.fetchall()
        out["root_cause_bare_sql"] = timed(bare_causes, max(10, runs // 4))
        out["graphql_resource_req_per_s"] = round(graphql_rps(url, n, secs, 8))
        out["bare_sql_select_per_s"] = round(bare_select_rps(url, n, secs, 8))
        store.close()
        conn.close()
        return out
    finally:
        if not keep:
            with admin.cursor() as c2:
                c2.execute(f"DROP DATABASE IF EXISTS {db}")
        admin.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--nodes", type=int, default=None)
    ap.add_argument("--mysql-url", default=os.environ.get("AIRDIG_TEST_MYSQL_URL"), help="MariaDB/MySQL")
    ap.add_argument("--tidb-url", default=os.environ.get("AIRDIG_TEST_TIDB_URL"), help="TiDB")
    ap.add_argument("--keep", action="store_true", help="keep the generated graph and reuse it next time")
    args = ap.parse_args()
    servers = {name: url for name, url in (("mariadb", args.mysql_url), ("tidb", args.tidb_url)) if url}
    if not servers:
        sys.exit("bench/engine_queries.py: set AIRDIG_TEST_MYSQL_URL and/or AIRDIG_TEST_TIDB_URL, or pass "
                 "--mysql-url / --tidb-url (scripts/services/start)")
    n = args.nodes or (5000 if args.quick else 100_000)
    runs = 30 if args.quick else 200
    secs = 3.0 if args.quick else 10.0
    print(json.dumps({
        "benchmark": "engine_queries", "nodes": n, "edges": n * 10,
        "servers": {name: bench_server(url, n, runs, secs, args.keep) for name, url in servers.items()},
        "aims": {"impact_p99_ms": "< 100", "graphql_resource_req_per_s": ">= 1000"},
    }))


if __name__ == "__main__":
    main()
