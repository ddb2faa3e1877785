"""Benchmark: a summarised neighbourhood of 5,000 nodes, now and as of a past time, on the embedded store.

A security group with N instances (default 5,000) over 16 subnets, written through the real apply path
with some history (resizes, health transitions, drift). Measured, each over ``--runs`` repetitions:

* ``neighborhood``: the grouped answer at budget 60 (walk, node rows, subnet keys, grouping);
* ``neighborhood_at``: the same as of a time before the history (as-of attributes, health, drift);
* ``neighborhood_expand``: the same with one group of N/16 opened in place;
* ``graph_diff``: the diff over the whole history window;
* baseline, same run, same file: the bare SQL the grouped answer cannot do without — the center's edges
  and every member's node row (joined with health) in chunks of 500 — with Python's sqlite3.

Prints one JSON object (seconds: p50, p99, max per read; the ratio of neighbourhood p50 to the baseline).

    PYTHONPATH=. .venv/bin/python bench/neighborhood.py [--nodes 5000] [--runs 20]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airdig.backends.interfaces import Record
from airdig.backends.registry import open_store
from airdig.engine.apply import Applier
from airdig.engine.intel import diff, grouping, neighborhood
from airdig.model.events import CloudEvent, edge_event, resource_event
from airdig.model.graph import Edge, Node

ACCT = "123456789012"
SG = f"arn:aws:ec2:us-east-1:{ACCT}:security-group/sg-bench"
SUBNETS = [f"arn:aws:ec2:us-east-1:{ACCT}:subnet/subnet-{k:02d}" for k in range(16)]
T0 = 1_700_000_000.0


def inst(n: int, itype: str = "m5.large") -> Node:
    return Node(id=f"arn:aws:ec2:us-east-1:{ACCT}:instance/i-{n:08x}", kind="aws.ec2.instance", provider="aws",
                account=ACCT, region="us-east-1", name=f"web-{n}",
                attrs={"InstanceType": itype, "SubnetId": f"subnet-{n % 16:02d}", "State": "running"},
                tags={"team": "payments"})


def populate(url: str, n: int) -> None:
    store = open_store(url)
    store.migrate()
    evs: list[CloudEvent] = [resource_event("created", Node(id=SG, kind="aws.ec2.security-group", provider="aws",
                                                            account=ACCT, name="sg-bench"), "bench", time=T0)]
    evs += [resource_event("created", Node(id=s, kind="aws.ec2.subnet", provider="aws", account=ACCT,
                                           name=f"subnet-{k:02d}"), "bench", time=T0) for k, s in enumerate(SUBNETS)]
    for i in range(n):
        evs.append(resource_event("created", inst(i), "bench", time=T0 + 1))
        evs.append(edge_event("observed", Edge(SG, inst(i).id, "network"), "bench", time=T0 + 1))
        evs.append(edge_event("observed", Edge(SUBNETS[i % 16], inst(i).id, "network"), "bench", time=T0 + 1))
    # history after T0 + 100: every 10th instance resized, every 50th critical then healthy, every 100th drifted
    for i in range(0, n, 10):
        evs.append(resource_event("updated", inst(i, "m5.xlarge"), "bench", changed=["InstanceType"], time=T0 + 200,
                                  actor="ops"))
    for i in range(0, n, 50):
        for t, status in ((T0 + 150, "critical"), (T0 + 300, "healthy")):
            evs.append(CloudEvent(type="airdig.health.changed", source="bench", subject=inst(i).id, time=t,
                                  data={"status": status, "reasons": []}))
    for i in range(0, n, 100):
        evs.append(CloudEvent(type="airdig.drift.detected", source="bench", subject=inst(i).id, time=T0 + 250,
                              data={"id": f"d{i}", "resource_id": inst(i).id, "kind": "changed", "severity": "low",
                                    "diffs": []}))
    applier = Applier(store)
    for k in range(0, len(evs), 2000):
        applier.apply([Record(e.topic, 0, k + j, e.subject, e.encode(), e.time) for j, e in enumerate(evs[k:k + 2000])])
    store.close()


def measure(fn: Callable[[], Any], runs: int) -> dict[str, float]:
    fn()  # warm the connection and the page cache
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    times.sort()
    return {"p50": round(statistics.median(times), 4), "p99": round(times[min(len(times) - 1, int(len(times) * 0.99))], 4),
            "max": round(times[-1], 4)}


def bare_sql(path: Path) -> Callable[[], int]:
    conn = sqlite3.connect(str(path))

    def run() -> int:
        ids = [r[0] for r in conn.execute("SELECT dst FROM edges WHERE src = ? AND deleted_at IS NULL UNION "
                                          "SELECT src FROM edges WHERE dst = ? AND deleted_at IS NULL", (SG, SG))]
        rows = 0
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            rows += len(conn.execute(
                "SELECT n.id, n.kind, n.account, n.attrs, n.tags, n.drift_status, h.status FROM nodes n "
                f"LEFT JOIN health h ON h.node_id = n.id WHERE n.id IN ({marks})", chunk).fetchall())
        return rows

    return run


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        url = f"sqlite:///{db}"
        t = time.perf_counter()
        populate(url, args.nodes)
        setup = time.perf_counter() - t
        store = open_store(url)
        first = neighborhood.neighborhood(store, SG, budget=60)
        gid = grouping.group_id("subnet", SUBNETS[3], "aws.ec2.instance")
        reads = {
            "baseline_bare_sql": measure(bare_sql(db), args.runs),
            "neighborhood": measure(lambda: neighborhood.neighborhood(store, SG, budget=60), args.runs),
            "neighborhood_at": measure(lambda: neighborhood.neighborhood(store, SG, budget=60, at=T0 + 120),
                                       args.runs),
            "neighborhood_expand": measure(lambda: neighborhood.neighborhood(store, SG, budget=60, expand=[gid]),
                                           args.runs),
            "graph_diff": measure(lambda: diff.graph_diff(store, T0 + 100, T0 + 400), args.runs),
        }
        store.close()
    print(json.dumps({
        "bench": "neighborhood", "store": "sqlite", "nodes": args.nodes, "runs": args.runs,
        "setup_seconds": round(setup, 2), "visible_items": len(first.nodes) + len(first.groups),
        "groups": len(first.groups), "seconds": reads,
        "neighborhood_vs_baseline": round(reads["neighborhood"]["p50"] / reads["baseline_bare_sql"]["p50"], 2),
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
