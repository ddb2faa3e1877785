"""The incident benchmark for root cause: generate incidents, feed them through AirDig's real inputs,
ask the engine's GraphQL ``rootCause`` about each symptom, and score where the true cause ranked.

    .venv/bin/python -m bench.rca --incidents 60 --seed 1 [--markdown results.md] [--families a,b]

Prints JSON: top-1, top-3 and mean rank overall and per family, and per incident the misses (what
ranked above the truth). See ``bench/rca/README.md`` for what is generated and how it is fed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airdig.demo.estate import AwsEmulator
from airdig.demo.incident import deliver
from airdig.model.events import parse_time, to_rfc3339
from bench.rca.changes import Writer
from bench.rca.estate import Builder
from bench.rca.kube import Cluster
from bench.rca.plan import FAMILIES, Incident, plan
from bench.rca.signals import K8S_FAMILIES, alert, batches, symptom
from bench.rca.stack import Stack, StackFailed

NOT_FOUND_RANK = 11  # rootCause lists 10 candidates: a truth not among them counts as rank 11
CANDIDATES = """query($id: ID!, $at: String) { rootCause(id: $id, at: $at) { candidates {
  score evidence change { id kind summary actor time resourceId } } } }"""
NEAR = """query($id: ID!, $since: String, $until: String) { timeline(id: $id, since: $since, until: $until,
  first: 100, hops: 3) { kind resourceId time } }"""
TIMELINE = """query($id: ID!, $since: String, $until: String) { timeline(id: $id, since: $since, until: $until,
  first: 100) { id kind summary time resourceId } }"""


@dataclass
class Case:
    inc: Incident
    truth: set[str]
    symptom: str
    decoys: list[str] = field(default_factory=list)
    decoy_nodes: dict[str, str] = field(default_factory=dict)  # node id -> the decoy kind that touched it
    rank: int | None = None
    baseline_rank: int | None = None  # the same question answered by recency alone (see score)
    above: list[dict[str, Any]] = field(default_factory=list)
    truth_changes: list[dict[str, Any]] = field(default_factory=list)  # what reached the truth's nodes

    @property
    def in_window(self) -> bool:
        """Whether the cause reached the graph as a change inside the question's window (30 minutes up to
        the alert): a cause recorded only at detection time, after the alert, cannot be ranked."""
        return any(not c["discovery"] and self.inc.alert_at - 1800 <= parse_time(c["time"], "time")
                   <= self.inc.alert_at for c in self.truth_changes)


def _say(msg: str) -> None:
    print(f"[rca] {msg}", file=sys.stderr, flush=True)


def feed(stack: Stack, cases_plan: list[Incident], folder: Path, seed: int) -> tuple[list[Case], float]:
    """Build, baseline-scan, change, replay signals, rescan and watch: every input through its real path.
    Returns the cases and when the baseline (the first scan and drift cycle) was done."""
    rng = random.Random(seed + 7)
    states_dir, trail = folder / "terraform", folder / "cloudtrail"
    states_dir.mkdir(parents=True, exist_ok=True)
    kube = Cluster(folder / "k8s")
    kube.start()
    try:
        t0 = time.monotonic()
        b = Builder()
        states = [b.build(inc, states_dir) for inc in cases_plan]
        for inc in cases_plan:
            if inc.family in K8S_FAMILIES:
                kube.add(inc)
        _say(f"built {len(cases_plan)} estates in the AWS emulator ({time.monotonic() - t0:.0f} s)")
        stack.scan(kube.api.kubeconfig, states)  # the first scan: discovery of everything
        stack.watch(states, None)  # DeepDrift's baseline: the states match the account as built
        baseline_done = time.time()
        _say(f"baseline scan and drift watch done ({time.monotonic() - t0:.0f} s)")
        cases = []
        for inc in cases_plan:
            w = Writer(b, kube, inc, rng.randrange(4))
            writes = sorted([(inc.truth_at, None), *((inc.onset + d.at, d) for d in inc.decoys)],
                            key=lambda x: x[0])
            truth: set[str] = set()
            lines, touched = [], {}
            for _at, d in writes:
                if d is None:
                    truth = w.truth()
                else:
                    line, nodes = w.decoy(d, truth)
                    lines.append(f"{d.kind} at {d.at:+.0f} s: {line}")
                    touched.update(dict.fromkeys(nodes, d.kind))
            if inc.family == "asg_scaled_down":
                inc.ids["host"] = b.group_instances(inc.ids["asg"])[0]  # the app runs on the one left
            # CloudTrail delivers a file per account, region and ~5 minutes, some minutes after the calls
            by_file: dict[tuple[str, int], list[dict[str, Any]]] = {}
            for rec in w.records:
                at = parse_time(rec["eventTime"], "eventTime")
                by_file.setdefault((rec["awsRegion"], int(at // 300)), []).append(rec)
            for (region, slot), recs in sorted(by_file.items()):
                deliver(trail, recs, slot * 300 + 300 + 180, region=region)
            node, _labels = symptom(inc)
            cases.append(Case(inc, truth, node, lines, touched))
        _say(f"made the causes and decoys, delivered CloudTrail files ({time.monotonic() - t0:.0f} s)")
        for c in cases:
            for body in batches(c.inc, rng):
                stack.post_spans(body)
        _say(f"replayed the traffic as OTLP ({time.monotonic() - t0:.0f} s)")
        stack.scan(kube.api.kubeconfig, states)  # the scheduled rescan, late
        stack.watch(states, trail)  # the drift cycle, late, now with the trail
        _say(f"rescan and drift watch done ({time.monotonic() - t0:.0f} s)")
        for c in cases:
            stack.post_alert(alert(c.inc))
        _wait_applied(stack, cases)
        _say(f"alerts posted and applied ({time.monotonic() - t0:.0f} s)")
        return cases, baseline_done
    finally:
        kube.stop()


def _wait_applied(stack: Stack, cases: list[Case], timeout: float = 120) -> None:
    """Until the engine has every symptom's health (the last inputs posted), and a little for the rest."""
    deadline = time.monotonic() + timeout
    pending = {c.symptom for c in cases}
    while pending and time.monotonic() < deadline:
        for node in list(pending):
            res = stack.graphql("query($id: ID!) { resource(id: $id) { health { status } } }", id=node)["resource"]
            if res and res.get("health") and res["health"].get("status") in ("warning", "critical"):
                pending.discard(node)
        if pending:
            time.sleep(1)
    if pending:
        _say(f"WARNING: no health reached {len(pending)} symptom node(s), e.g. {sorted(pending)[:3]}")
    time.sleep(3)  # TraceCore's last window (2 s) and the bus


def _is_truth(c: Case, change: dict[str, Any]) -> bool:
    """A change names the cause when it is on a node the cause changed, not before the write (a minute's
    slack for clocks), and not discovery: "created" counts only for a rollout's new ReplicaSet and Pod."""
    return (change["resourceId"] in c.truth and parse_time(change["time"], "time") >= c.inc.truth_at - 60
            and (change["kind"] != "created" or c.inc.family in K8S_FAMILIES))


def score(stack: Stack, cases: list[Case], baseline_done: float) -> None:
    """Each symptom's candidates, the truth's rank among them, and what reached the truth's nodes (with
    ``discovery`` set on what the first scan reported, and ``lag_s`` from the write to the change's time)."""
    for c in cases:
        inc = c.inc
        data = stack.graphql(CANDIDATES, id=c.symptom, at=to_rfc3339(inc.alert_at))
        cands = data["rootCause"]["candidates"]
        c.rank = next((n for n, cand in enumerate(cands, start=1) if _is_truth(c, cand["change"])), None)
        # the baseline, measured in the same run through the same API: the timeline of everything within
        # three hops of the symptom in the same 30 minutes, newest first — what a user would scroll
        near = stack.graphql(NEAR, id=c.symptom, since=to_rfc3339(inc.alert_at - 1800),
                             until=to_rfc3339(inc.alert_at))["timeline"]
        near = [x for x in near if x["kind"] not in ("health", "security")][:10]
        c.baseline_rank = next((n for n, x in enumerate(near, start=1) if _is_truth(c, x)), None)
        limit = (c.rank or NOT_FOUND_RANK) - 1
        c.above = [{"kind": x["change"]["kind"], "resource": x["change"]["resourceId"],
                    "decoy": c.decoy_nodes.get(x["change"]["resourceId"]),
                    "summary": x["change"]["summary"][:120], "time": x["change"]["time"], "score": x["score"]}
                   for x in cands[:min(limit, 3)]]
        for node in sorted(c.truth):
            rows = stack.graphql(TIMELINE, id=node, since=to_rfc3339(inc.onset - 3600))["timeline"]
            for r in rows:
                if r["kind"] == "health":
                    continue
                t = parse_time(r["time"], "time")
                c.truth_changes.append({
                    "kind": r["kind"], "resource": r["resourceId"], "time": r["time"], "summary": r["summary"][:120],
                    "lag_s": round(t - inc.truth_at, 1),
                    "discovery": r["kind"] == "created" and t <= baseline_done})


def _figures(cases: list[Case], baseline: bool = False) -> dict[str, Any]:
    n = len(cases)
    ranks = [(c.baseline_rank if baseline else c.rank) or NOT_FOUND_RANK for c in cases]
    return {"incidents": n, "top1": round(sum(r == 1 for r in ranks) / n, 3) if n else None,
            "top3": round(sum(r <= 3 for r in ranks) / n, 3) if n else None,
            "mean_rank": round(sum(ranks) / n, 2) if n else None,
            "not_found": sum(r == NOT_FOUND_RANK for r in ranks),
            **({} if baseline else {"truth_in_window": sum(c.in_window for c in cases)})}


def report(cases: list[Case], seed: int, seconds: float) -> dict[str, Any]:
    families = sorted({c.inc.family for c in cases}, key=FAMILIES.index)
    return {
        "benchmark": "rca", "seed": seed, "seconds": round(seconds, 1), "python": platform.python_version(),
        "cpus": os.cpu_count(), "not_found_rank": NOT_FOUND_RANK,
        "overall": _figures(cases),
        "baseline": {"what": "recency: changes within 3 hops of the symptom in the 30 minutes before the alert, "
                             "newest first (the engine's timeline)", **_figures(cases, baseline=True)},
        "families": {f: _figures([c for c in cases if c.inc.family == f]) for f in families},
        "incidents": [{
            "incident": c.inc.ns, "family": c.inc.family, "symptom": c.symptom, "truth": sorted(c.truth),
            "truth_at": to_rfc3339(c.inc.truth_at), "onset": to_rfc3339(c.inc.onset),
            "asked_at": to_rfc3339(c.inc.alert_at), "rank": c.rank, "baseline_rank": c.baseline_rank,
            "above": c.above, "decoys": c.decoys,
            "truth_in_window": c.in_window, "truth_reached_graph": c.truth_changes,
        } for c in cases],
    }


def markdown(rep: dict[str, Any]) -> str:
    """The results table for docs/engine.md."""
    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.0f} %"

    lines = [f"Root-cause benchmark (`python -m bench.rca --incidents {rep['overall']['incidents']} "
             f"--seed {rep['seed']}`, {rep['seconds']:.0f} s on {rep['cpus']} CPUs):", "",
             "| family | incidents | top-1 | top-3 | mean rank | not found | cause in window |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, f in [*rep["families"].items(), ("**all**", rep["overall"])]:
        lines.append(f"| {name} | {f['incidents']} | {pct(f['top1'])} | {pct(f['top3'])} | {f['mean_rank']} | "
                     f"{f['not_found']} | {f['truth_in_window']} |")
    b = rep["baseline"]
    lines += ["", f"Baseline measured in the same run ({b['what']}): top-1 {pct(b['top1'])}, top-3 {pct(b['top3'])}, "
              f"mean rank {b['mean_rank']}."]
    lines += ["", f"A cause not among the 10 candidates counts as rank {rep['not_found_rank']}. \"Cause in window\": "
              "incidents whose cause reached the graph as a change inside the question's 30-minute window "
              "(event time), rather than only at its detection."]
    return "\n".join(lines) + "\n"


def run(n: int, seed: int, families: tuple[str, ...] = FAMILIES, folder: Path | None = None) -> dict[str, Any]:
    """The whole benchmark in a fresh folder; returns the report."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    started = time.monotonic()
    folder = folder or Path(tempfile.mkdtemp(prefix="airdig-rca-"))
    incidents = plan(n, seed, time.time(), families)
    emulator = AwsEmulator()
    emulator.start()
    stack = Stack(folder)
    try:
        stack.wait_ready()
        cases, baseline_done = feed(stack, incidents, folder, seed)
        score(stack, cases, baseline_done)
    finally:
        stack.stop()
        emulator.stop()
    return report(cases, seed, time.monotonic() - started)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.rca", description=__doc__.split("\n\n")[0])
    ap.add_argument("--incidents", type=int, default=60, help="how many incidents (default 60)")
    ap.add_argument("--seed", type=int, default=1, help="the generator's seed (default 1)")
    ap.add_argument("--families", default=",".join(FAMILIES), help="comma-separated families to draw from")
    ap.add_argument("--markdown", type=Path, default=None, help="also write the results table (markdown) here")
    ap.add_argument("--keep", type=Path, default=None, help="folder for the run's data (default: a temp folder)")
    args = ap.parse_args(argv)
    families = tuple(f for f in args.families.split(",") if f)
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or not families or args.incidents < 1:
        ap.error(f"--families: unknown {unknown} (known: {', '.join(FAMILIES)})" if unknown
                 else "--incidents must be ≥ 1 and --families non-empty")
    try:
        rep = run(args.incidents, args.seed, families, args.keep)
    except StackFailed as exc:
        print(f"bench.rca: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(rep, indent=1))
    if args.markdown:
        args.markdown.write_text(markdown(rep), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
