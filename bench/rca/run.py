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
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airdig.demo.estate import AwsEmulator
from airdig.demo.incident import deliver
from airdig.model.events import parse_time, to_rfc3339
from bench.rca.changes import Writer
from bench.rca.estate import Builder
from bench.rca.kube import Cluster
from bench.rca.plan import FAMILIES, LIVE_LEAD, LIVE_SCALE, Decoy, Incident, plan
from bench.rca.signals import BATCH_EVERY, K8S_FAMILIES, alert, batches, symptom
from bench.rca.stack import Stack, StackFailed

LIVE_CYCLE = 120.0  # live layout: seconds between two scans (and drift cycles), as cron would run them
LIVE_TRAIL_LAG = 90.0  # live layout: CloudTrail delivers a call's record this long after it
NOT_FOUND_RANK = 11  # rootCause lists 10 candidates: a truth not among them counts as rank 11
CANDIDATES = """query($id: ID!, $at: String) { rootCause(id: $id, at: $at) { candidates {
  score evidence changeTime { earliest latest } change { id kind summary actor time resourceId } } } }"""
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
    truth_changed_at: float | None = None  # when the engine places the ranked truth (its changeTime.latest)

    @property
    def in_window(self) -> bool:
        """Whether the cause reached the graph as a change inside the question's window (30 minutes up to
        the alert): a cause recorded only at detection time, after the alert, cannot be ranked."""
        if self.truth_changed_at is not None and self.inc.alert_at - 1800 <= self.truth_changed_at <= self.inc.alert_at:
            return True  # detected later (a rescan), placed by its own time (a rollout's creationTimestamp)
        return any(not c["discovery"] and self.inc.alert_at - 1800 <= parse_time(c["time"], "time")
                   <= self.inc.alert_at for c in self.truth_changes)


def _say(msg: str) -> None:
    print(f"[rca] {msg}", file=sys.stderr, flush=True)


class Trail:
    """The CloudTrail folder: records wait for delivery (a file per region and 5 minutes of calls)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pending: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def add(self, records: list[dict[str, Any]]) -> None:
        with self.lock:
            self.pending += records

    def deliver(self, lag: float, now: float | None = None) -> None:
        """Write the files of the records at least ``lag`` seconds old (all of them without ``now``)."""
        with self.lock:
            due = [r for r in self.pending if now is None or parse_time(r["eventTime"], "eventTime") + lag <= now]
            self.pending = [r for r in self.pending if r not in due]
        by_file: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for rec in due:
            at = parse_time(rec["eventTime"], "eventTime")
            by_file.setdefault((rec["awsRegion"], int(at // 300)), []).append(rec)
        for (region, slot), recs in sorted(by_file.items()):
            deliver(self.root, recs, slot * 300 + 300 + lag, region=region)


def _write(case: Case, w: Writer, d: Decoy | None) -> None:
    """One planned write: the cause (its node ids become the truth) or a decoy."""
    if d is None:
        case.truth = w.truth()
        return
    line, nodes = w.decoy(d, case.truth)
    case.decoys.append(f"{d.kind} at {d.at:+.0f} s: {line}")
    case.decoy_nodes.update(dict.fromkeys(nodes, d.kind))


def _writes(inc: Incident) -> list[tuple[float, Decoy | None]]:
    return sorted([(inc.truth_at, None), *((inc.onset + d.at, d) for d in inc.decoys)], key=lambda x: x[0])


def feed(stack: Stack, incidents: list[Incident], folder: Path, seed: int, live: bool = False
         ) -> tuple[list[Case], float]:
    """Build, baseline-scan, change, send signals, rescan and watch: every input through its real path.
    Returns the cases and when the baseline (the first scan and drift cycle) was done."""
    rng = random.Random(seed + 7)
    states_dir = folder / "terraform"
    states_dir.mkdir(parents=True, exist_ok=True)
    trail = Trail(folder / "cloudtrail")
    kube = Cluster(folder / "k8s")
    kube.start()
    try:
        t0 = time.monotonic()
        b = Builder()
        states = [b.build(inc, states_dir) for inc in incidents]
        for inc in incidents:
            if inc.family in K8S_FAMILIES:
                kube.add(inc)
        _say(f"built {len(incidents)} estates in the AWS emulator ({time.monotonic() - t0:.0f} s)")
        stack.scan(kube.api.kubeconfig, states)  # the first scan: discovery of everything
        stack.watch(states, None)  # DeepDrift's baseline: the states match the account as built
        baseline_done = time.time()
        _say(f"baseline scan and drift watch done ({time.monotonic() - t0:.0f} s)")
        cases = [Case(inc, set(), symptom(inc)[0]) for inc in incidents]
        writers = [Writer(b, kube, c.inc, rng.randrange(4)) for c in cases]
        if live:
            _live(stack, cases, writers, trail, kube, states, rng, t0)
        else:
            for c, w in zip(cases, writers, strict=True):
                for _at, d in _writes(c.inc):
                    _write(c, w, d)
                trail.add(w.records)
            trail.deliver(180)
            _say(f"made the causes and decoys, delivered CloudTrail files ({time.monotonic() - t0:.0f} s)")
            for c in cases:
                for _t, body in batches(c.inc, rng):
                    stack.post_spans(body)
            _say(f"replayed the traffic as OTLP ({time.monotonic() - t0:.0f} s)")
            stack.scan(kube.api.kubeconfig, states)  # the scheduled rescan, late
            stack.watch(states, trail.root)  # the drift cycle, late, now with the trail
            _say(f"rescan and drift watch done ({time.monotonic() - t0:.0f} s)")
            for c in cases:
                stack.post_alert(alert(c.inc))
        for c in cases:
            if c.inc.family == "asg_scaled_down" and c.inc.ids["host"] not in b.group_instances(c.inc.ids["asg"]):
                _say(f"WARNING: {c.inc.ns}: the app's protected instance was scaled in")
        _wait_applied(stack, cases)
        _say(f"alerts posted and applied ({time.monotonic() - t0:.0f} s)")
        return cases, baseline_done
    finally:
        kube.stop()


def _live(stack: Stack, cases: list[Case], writers: list[Writer], trail: Trail, kube: Cluster, states: list[Path],
          rng: random.Random, t0: float) -> None:
    """Everything at its own time, waited for: writes, span exports, alerts; CloudTrail delivered
    ``LIVE_TRAIL_LAG`` after the calls, and a scan plus a drift cycle every ``LIVE_CYCLE`` seconds on
    a thread of their own, as cron would run them; the last ones after the last alert."""
    shift = time.time() - min(c.inc.onset for c in cases) + LIVE_LEAD  # the plan was made before the build
    for c in cases:
        c.inc.onset += shift
    events: list[tuple[float, int, Callable[[], None]]] = []
    for n, (c, w) in enumerate(zip(cases, writers, strict=True)):
        for at, d in _writes(c.inc):
            def write(c: Case = c, w: Writer = w, d: Decoy | None = d) -> None:
                _write(c, w, d)
                trail.add(w.records)
                w.records = []
            events.append((at, n, write))
        for t, body in batches(c.inc, rng, every=BATCH_EVERY * LIVE_SCALE, lead=1500 * LIVE_SCALE):
            def export(body: bytes = body) -> None:
                stack.post_spans(body)
            events.append((t, n, export))
        def fire(inc: Incident = c.inc) -> None:
            stack.post_alert(alert(inc))
        events.append((c.inc.alert_at, n, fire))
    events.sort(key=lambda e: (e[0], e[1]))
    _say(f"live: {len(events)} timed inputs over {events[-1][0] - time.time():.0f} s")
    stop = threading.Event()
    errors: list[str] = []

    def cycles() -> None:
        while not stop.wait(LIVE_CYCLE):
            try:
                trail.deliver(LIVE_TRAIL_LAG, time.time())
                stack.scan(kube.api.kubeconfig, states)
                stack.watch(states, trail.root)
            except StackFailed as exc:
                errors.append(str(exc))
    cron = threading.Thread(target=cycles, name="rca-cron", daemon=True)
    cron.start()
    try:
        for at, _n, fn in events:
            delay = at - time.time()
            if delay > 0:
                time.sleep(delay)
            fn()
    finally:
        stop.set()
        cron.join()
    if errors:
        raise StackFailed(errors[0])
    _say(f"live inputs done ({time.monotonic() - t0:.0f} s); the last delivery, scan and drift cycle")
    time.sleep(max(0.0, LIVE_TRAIL_LAG - (time.time() - max(e[0] for e in events))))
    trail.deliver(LIVE_TRAIL_LAG)
    stack.scan(kube.api.kubeconfig, states)
    stack.watch(states, trail.root)


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
    time.sleep(3)  # TraceCore's last windows (due 2 s after the pairing wait) and the bus


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
        if c.rank is not None and (ct := cands[c.rank - 1].get("changeTime") or {}).get("latest"):
            c.truth_changed_at = parse_time(ct["latest"], "changeTime.latest")
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


def report(cases: list[Case], seed: int, seconds: float, live: bool = False) -> dict[str, Any]:
    families = sorted({c.inc.family for c in cases}, key=FAMILIES.index)
    return {
        "benchmark": "rca", "layout": "live" if live else "replay", "seed": seed, "seconds": round(seconds, 1), "python": platform.python_version(),
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
             f"--seed {rep['seed']}{' --live' if rep['layout'] == 'live' else ''}`, {rep['seconds']:.0f} s on "
             f"{rep['cpus']} CPUs):", "",
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


def run(n: int, seed: int, families: tuple[str, ...] = FAMILIES, folder: Path | None = None, live: bool = False
        ) -> dict[str, Any]:
    """The whole benchmark in a fresh folder; returns the report."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    started = time.monotonic()
    folder = folder or Path(tempfile.mkdtemp(prefix="airdig-rca-"))
    incidents = plan(n, seed, time.time(), families, live=live)
    emulator = AwsEmulator()
    emulator.start()
    stack = Stack(folder)
    try:
        stack.wait_ready()
        cases, baseline_done = feed(stack, incidents, folder, seed, live=live)
        score(stack, cases, baseline_done)
    finally:
        stack.stop()
        emulator.stop()
    return report(cases, seed, time.monotonic() - started, live)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.rca", description=__doc__.split("\n\n")[0])
    ap.add_argument("--incidents", type=int, default=60, help="how many incidents (default 60)")
    ap.add_argument("--seed", type=int, default=1, help="the generator's seed (default 1)")
    ap.add_argument("--families", default=",".join(FAMILIES), help="comma-separated families to draw from")
    ap.add_argument("--markdown", type=Path, default=None, help="also write the results table (markdown) here")
    ap.add_argument("--live", action="store_true",
                    help="happen in real time instead of replaying the recent past (distances a third; ~12 min)")
    ap.add_argument("--keep", type=Path, default=None, help="folder for the run's data (default: a temp folder)")
    args = ap.parse_args(argv)
    families = tuple(f for f in args.families.split(",") if f)
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or not families or args.incidents < 1:
        ap.error(f"--families: unknown {unknown} (known: {', '.join(FAMILIES)})" if unknown
                 else "--incidents must be ≥ 1 and --families non-empty")
    try:
        rep = run(args.incidents, args.seed, families, args.keep, args.live)
    except StackFailed as exc:
        print(f"bench.rca: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(rep, indent=1))
    if args.markdown:
        args.markdown.write_text(markdown(rep), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
