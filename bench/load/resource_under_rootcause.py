"""Load benchmark: GraphQL ``resource(id)`` throughput and latency against one engine process, alone and
while 4 clients run ``rootCause`` back to back; embedded backends or MariaDB + Redis.

The engine runs as ``airdig engine`` in its own process on loopback (auth off: loopback only); a small
asyncio client (raw HTTP/1.1 keep-alive, no client library in the hot path) drives it from this
process. Bounded in time (``--seconds`` per phase) and in requests (``--max-requests``). The baseline,
measured in the same run with the same client: ``GET /healthz`` (the HTTP stack with no store work).

    .venv/bin/python bench/load/resource_under_rootcause.py --backend embedded
    AIRDIG_TEST_MYSQL_URL=mysql://… AIRDIG_TEST_REDIS_URL=redis://… .venv/bin/python \\
        bench/load/resource_under_rootcause.py --backend mysql

``--compare-strawberry`` also starts a second engine with ``--no-hot-reads`` (every query through
Strawberry, the path before :mod:`airdig.engine.api.graphql.hotread`) and runs the two ``resource``
phases against it too, alternating the engines phase by phase: ``strawberry_resource_alone`` and
``strawberry_resource_under_rootcause`` are that baseline, measured in the same run.

Prints one JSON object. On a shared 2-core machine the client and the server compete for the same
cores: the figures are a floor, not a capacity. So each phase also reports the CPU the server used per
request — ``server_cpu_ms_per_req``: the serving process's CPU seconds (``/proc``) over the requests
answered in the phase (root causes included), independent of how busy the machine is — and the CPU of
its intel worker processes (``workers_cpu_s``), where root causes run with ``--intel-workers`` > 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson

from airdig.backends.interfaces import Record
from airdig.backends.registry import open_store
from airdig.engine.apply import Applier
from airdig.model.events import TOPIC_RESOURCES, edge_event, resource_event
from airdig.model.graph import Edge, Node

RESOURCE = "query($id: ID!) { resource(id: $id) { id kind name health { status } } }"
ROOT_CAUSE = "query($id: ID!) { rootCause(id: $id) { symptom candidates { score } } }"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed(url: str, n: int, rng: random.Random) -> None:
    """n nodes, 3 edges each, and a recent change on every tenth node (so root causes find candidates)."""
    store = open_store(url)
    store.migrate()
    applier = Applier(store)
    now = time.time()
    offset = 0
    batch: list[Record] = []

    def add(ev: Any) -> None:
        nonlocal offset
        batch.append(Record(TOPIC_RESOURCES, 0, offset, ev.subject, ev.encode(), now))
        offset += 1
        if len(batch) >= 1000:
            applier.apply(batch)
            batch.clear()

    for i in range(n):
        add(resource_event("created", Node(id=f"node-{i}", kind="aws.ec2.instance", provider="aws", account="1",
                                           region="us-east-1", name=f"name-{i}", attrs={"v": 1}), "bench",
                           time=now - 3600))
    for i in range(n):
        for _ in range(3):
            add(edge_event("observed", Edge(src=f"node-{i}", dst=f"node-{rng.randrange(n)}", type="depends_on"),
                           "bench", time=now - 3600))
    for i in range(0, n, 10):
        add(resource_event("updated", Node(id=f"node-{i}", kind="aws.ec2.instance", provider="aws", account="1",
                                           region="us-east-1", name=f"name-{i}", attrs={"v": 2}), "bench",
                           changed=["attrs.v"], time=now - 600))
    if batch:
        applier.apply(batch)
    store.close()


class Client:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> bytes:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        body = await self.reader.readexactly(length)
        if status != 200 or b'"errors"' in body[:200]:
            raise RuntimeError(f"HTTP {status}: {body[:200]!r}")
        return body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def post(port: int, query: str, variables: dict[str, Any]) -> bytes:
    body = orjson.dumps({"query": query, "variables": variables})
    return (f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def get(port: int, path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process, from /proc (Linux)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    return out


def cpu_of(pid: int) -> tuple[float, float]:
    """(CPU seconds of the serving process, CPU seconds of its worker processes)."""
    return cpu_seconds(pid), sum(cpu_seconds(c) for c in children(pid))


def summary(latencies: list[float], seconds: float) -> dict[str, float]:
    if not latencies:
        return {"requests": 0}
    lat = sorted(latencies)
    return {"requests": len(lat), "req_per_s": round(len(lat) / seconds),
            "p50_ms": round(lat[len(lat) // 2] * 1000, 2),
            "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, 2),
            "max_ms": round(lat[-1] * 1000, 1)}


async def drive(port: int, make: Any, concurrency: int, seconds: float, max_requests: int,
                background: int = 0, background_make: Any = None, pid: int | None = None) -> dict[str, Any]:
    latencies: list[float] = []
    bg_latencies: list[float] = []
    stop = time.monotonic() + seconds
    done = asyncio.Event()

    async def worker(seed_: int) -> None:
        rng = random.Random(seed_)
        c = Client(port)
        try:
            while time.monotonic() < stop and len(latencies) < max_requests:
                t = time.perf_counter()
                await c.request(make(rng))
                latencies.append(time.perf_counter() - t)
        finally:
            c.close()

    async def bg_worker(seed_: int) -> None:
        rng = random.Random(seed_)
        c = Client(port)
        try:
            while not done.is_set():
                t = time.perf_counter()
                await c.request(background_make(rng))
                bg_latencies.append(time.perf_counter() - t)
        finally:
            c.close()

    bg = [asyncio.create_task(bg_worker(1000 + i)) for i in range(background)]
    if bg:
        await asyncio.sleep(0.5)  # the root causes are under way before the measured phase starts
        stop = time.monotonic() + seconds
    started = time.monotonic()
    bg_before = len(bg_latencies)
    cpu0 = cpu_of(pid) if pid else (0.0, 0.0)
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    elapsed = time.monotonic() - started
    cpu1 = cpu_of(pid) if pid else (0.0, 0.0)
    bg_done = len(bg_latencies) - bg_before
    done.set()
    for t in bg:
        t.cancel()
    await asyncio.gather(*bg, return_exceptions=True)
    out: dict[str, Any] = summary(latencies, elapsed)
    if pid:
        served = len(latencies) + bg_done
        out["server_cpu_s"] = round(cpu1[0] - cpu0[0], 2)
        out["server_cpu_ms_per_req"] = round((cpu1[0] - cpu0[0]) * 1000 / served, 3) if served else None
        out["workers_cpu_s"] = round(cpu1[1] - cpu0[1], 2)
    if background:
        out["root_cause"] = {"clients": background, **summary(bg_latencies, elapsed)}
    return out


def start_engine(port: int, env: dict[str, str], intel_workers: int | None,
                 hot_reads: bool = True) -> subprocess.Popen[bytes]:
    extra = ["--intel-workers", str(intel_workers)] if intel_workers is not None else []
    if not hot_reads:
        extra.append("--no-hot-reads")
    proc = subprocess.Popen([sys.executable, "-m", "airdig.cli", "engine", "--host", "127.0.0.1", "--port", str(port),
                             "--no-processor", *extra], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(get(port, "/healthz"))
                if s.recv(100).startswith(b"HTTP/1.1 200"):
                    return proc
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            err = proc.stderr.read().decode() if proc.stderr else ""
            proc.kill()
            raise RuntimeError(f"engine did not start: {err[-2000:]}")
        time.sleep(0.2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", choices=["embedded", "mysql"], default="embedded")
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each measured phase")
    ap.add_argument("--concurrency", type=int, default=16, help="resource(id) connections")
    ap.add_argument("--rootcause-clients", type=int, default=4)
    ap.add_argument("--max-requests", type=int, default=200_000, help="per phase")
    ap.add_argument("--intel-workers", type=int, default=None,
                    help="passed to `airdig engine` (omit for the engine's default, or for code without it)")
    ap.add_argument("--compare-strawberry", action="store_true",
                    help="also measure an engine started with --no-hot-reads (same run, phases alternated)")
    args = ap.parse_args()
    data_dir = tempfile.mkdtemp(prefix="airdig-load-")
    env = {**os.environ, "AIRDIG_AUTH": "off", "AIRDIG_LOG_LEVEL": "warning", "AIRDIG_DATA_DIR": data_dir}
    db_drop = None
    if args.backend == "mysql":
        mysql, redis = os.environ.get("AIRDIG_TEST_MYSQL_URL"), os.environ.get("AIRDIG_TEST_REDIS_URL")
        if not mysql or not redis:
            sys.exit("--backend mysql needs AIRDIG_TEST_MYSQL_URL and AIRDIG_TEST_REDIS_URL (scripts/test's servers)")
        import pymysql

        p = urlsplit(mysql)
        name = f"airdig_load_{uuid.uuid4().hex[:8]}"
        admin = pymysql.connect(host=p.hostname, port=p.port or 3306, user=p.username, password=p.password or "",
                                autocommit=True)
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
        db_drop = (admin, name)
        store_url = urlunsplit(p._replace(path=f"/{name}"))
        env.update(AIRDIG_DATABASE_URL=store_url, AIRDIG_CACHE_URL=f"{redis}?prefix={name}:")
    else:
        store_url = f"sqlite:///{data_dir}/airdig.db"
        env.update(AIRDIG_DATABASE_URL=store_url)
    rng = random.Random(7)
    t0 = time.perf_counter()
    try:
        seed(store_url, args.nodes, rng)
        seed_s = time.perf_counter() - t0
        port = free_port()
        proc = start_engine(port, env, args.intel_workers)
        procs = [proc]
        try:
            base_port = free_port() if args.compare_strawberry else None
            if base_port is not None:
                procs.append(start_engine(base_port, env, args.intel_workers, hot_reads=False))
            n = args.nodes

            def resource_of(p: int) -> Any:
                return lambda r: post(p, RESOURCE, {"id": f"node-{r.randrange(n)}"})

            def root_cause_of(p: int) -> Any:
                return lambda r: post(p, ROOT_CAUSE, {"id": f"node-{r.randrange(n)}"})

            def healthz(_: random.Random) -> bytes:
                return get(port, "/healthz")

            def alone(lp: int, pid: int) -> dict[str, Any]:
                return asyncio.run(drive(lp, resource_of(lp), args.concurrency, args.seconds, args.max_requests,
                                         pid=pid))

            def loaded(lp: int, pid: int) -> dict[str, Any]:
                return asyncio.run(drive(lp, resource_of(lp), args.concurrency, args.seconds, args.max_requests,
                                         background=args.rootcause_clients, background_make=root_cause_of(lp),
                                         pid=pid))

            for lp in [port] + ([base_port] if base_port is not None else []):  # warm-up (caches, pools)
                asyncio.run(drive(lp, resource_of(lp), args.concurrency, 1.0, 2000))
            out: dict[str, Any] = {
                "benchmark": "load_resource_under_rootcause", "backend": args.backend, "nodes": n,
                "edges": n * 3, "seed_seconds": round(seed_s, 1), "cpus": os.cpu_count(),
                "concurrency": args.concurrency, "seconds_per_phase": args.seconds,
                "intel_workers": args.intel_workers, "load_average": os.getloadavg()[0]}
            out["baseline_healthz"] = asyncio.run(drive(port, healthz, args.concurrency, args.seconds,
                                                        args.max_requests, pid=proc.pid))
            if base_port is not None:
                out["strawberry_resource_alone"] = alone(base_port, procs[1].pid)
            out["resource_alone"] = alone(port, proc.pid)
            if base_port is not None:
                out["strawberry_resource_under_rootcause"] = loaded(base_port, procs[1].pid)
            out["resource_under_rootcause"] = loaded(port, proc.pid)
            out["load_average_end"] = os.getloadavg()[0]
            out["aims"] = {"resource_req_per_s": ">= 2000", "resource_p99_ms_under_rootcause": "< 50"}
        finally:
            for pr in procs:
                pr.terminate()
                pr.wait(10)
        print(json.dumps(out))
    finally:
        if db_drop is not None:
            admin_conn, db = db_drop
            with admin_conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS {db}")
            admin_conn.close()


if __name__ == "__main__":
    main()
