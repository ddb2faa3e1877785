"""Root cause ("dig"): rank the state changes that could explain a symptom.

Following the vocabulary users know from Datadog Watchdog, only **state changes** are candidates —
configuration drift, CloudTrail writes, deploys, scaling, scanned updates — never symptoms (health
transitions, security alerts). A candidate's score multiplies three factors, each in 0..1:

* graph distance: ``0.6 ** hops`` times the product of the edge weights on the path (≤ 4 hops),
* time proximity: 1 just before the symptom, falling linearly to 0.2 at the window's start,
* change kind: attributed changes (a principal is known) outrank anonymous scan diffs (a scan diff of a
  node within 15 minutes after a CloudTrail write on it is folded into that write, as is a drift the
  write explains); a change that
  touched only tags barely counts, and "created" counts little (a first scan reports every resource as
  created: discovery, not change).

The best candidates are then checked against the traffic: when a call edge on or around the path
(including services running on the path's nodes) got markedly worse after the change — p95 doubled or
the error ratio rose by 5 points — the score is raised by half, and that comparison is part of the
evidence chain (change → path → degraded edge → symptom).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from airdig.backends.interfaces import ChangeRow, Store
from airdig.engine.intel.graphwalk import walk
from airdig.engine.intel.servicemap import compare
from airdig.model.events import to_rfc3339

MAX_HOPS = 4
KIND_WEIGHT: dict[str, float] = {
    "cloudtrail": 1.0, "drift": 1.0, "deploy": 0.95, "config": 0.9, "deleted": 0.9, "updated": 0.8,
    "scaling": 0.7, "created": 0.3, "drift_resolved": 0.3,
}
STATE_CHANGE_KINDS = tuple(KIND_WEIGHT)
SCAN_LAG = 900.0  # a scan diff this soon after a CloudTrail write on the same node is that write, seen again


@dataclass
class Candidate:
    score: float
    change: ChangeRow
    path: list[str]
    distance: int
    evidence: list[str]
    before_after: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Diagnosis:
    symptom: str
    at: float
    candidates: list[Candidate]
    impact: list[tuple[str, int, list[str]]]
    symptom_summary: str


def _time_factor(at: float, t: float, window: float) -> float:
    return 0.2 + 0.8 * max(0.0, 1.0 - (at - t) / window)


def _symptom_summary(store: Store, symptom: str, at: float, window: float) -> str:
    node = store.get_node(symptom)
    health = [c for c in store.changes_of([symptom], at - window, at + 60, kinds=["health"], limit=5)]
    if health:
        return f"{symptom}: {health[0].summary}"
    if node is not None and node.health_status in ("warning", "critical"):
        return f"{symptom}: health {node.health_status}"
    return f"{symptom}: symptom reported at {to_rfc3339(at)}"


def _kind_weight(ch: ChangeRow) -> float:
    weight = KIND_WEIGHT.get(ch.kind, 0.5)
    changed = ch.details.get("changed") if isinstance(ch.details, dict) else None
    if ch.kind == "updated" and isinstance(changed, list) and changed and all(
            str(p).startswith("tags") for p in changed):
        weight = 0.15  # a tag edit rarely breaks anything
    return weight


def _degraded(cmp: dict[str, Any]) -> str | None:
    """Why an edge got worse after the change, or ``None`` if it did not (markedly)."""
    b, a = cmp.get("before"), cmp.get("after")
    if not b or not a:
        return None
    if b.get("p95") and a.get("p95") and a["p95"] >= 2 * b["p95"]:
        return f"p95 {b['p95']:.1f} ms → {a['p95']:.1f} ms"
    if a.get("errorRatio", 0) - b.get("errorRatio", 0) >= 0.05:
        return f"error ratio {b['errorRatio']:.1%} → {a['errorRatio']:.1%}"
    return None


def dig(store: Store, symptom: str, at: float, window: float = 1800.0, limit: int = 10) -> Diagnosis:
    """Rank the changes in ``[at - window, at]`` on nodes that can affect ``symptom`` (≤ 4 hops)."""
    causes = walk(store, symptom, MAX_HOPS, mode="causes")
    reach = {symptom: (0, [symptom], 1.0)}
    for r in causes.reached:
        reach[r.id] = (r.distance, list(reversed(r.path)), r.weight)  # path from the cause to the symptom
    changes = store.changes_of(list(reach), at - window, at, kinds=STATE_CHANGE_KINDS, limit=2000)
    summary = _symptom_summary(store, symptom, at, window)
    # a drift explained by a CloudTrail write in the window is the same change seen twice: fold it in
    writes = {c.id: c for c in changes if c.kind == "cloudtrail"}
    explained: dict[str, list[ChangeRow]] = {}
    for ch in changes:
        cause = ch.details.get("cause") if ch.kind == "drift" and isinstance(ch.details, dict) else None
        if isinstance(cause, dict) and cause.get("event_id") in writes:
            explained.setdefault(str(cause["event_id"]), []).append(ch)
    # likewise an unattributed scan diff of a node shortly after a CloudTrail write on it: the scan saw that write
    for ch in changes:
        if ch.kind == "updated" and not ch.actor:
            seen_by = [w for w in writes.values() if w.node_id == ch.node_id and 0 <= ch.time - w.time <= SCAN_LAG]
            if seen_by:
                explained.setdefault(max(seen_by, key=lambda w: w.time).id, []).append(ch)
    folded = {d.id for ds in explained.values() for d in ds}
    ranked: list[Candidate] = []
    for ch in changes:
        if ch.id in folded:
            continue
        distance, path, weight = reach[ch.node_id]
        score = _kind_weight(ch) * (0.6 ** distance) * weight * _time_factor(at, ch.time, window)
        score *= 1.0 if ch.actor else 0.85  # unattributed (a scan diff, a drift with no CloudTrail cause)
        hops = " → ".join(path)
        evidence = [
            f"change: {ch.summary}" + (f" by {ch.actor}" if ch.actor and ch.actor not in ch.summary else "")
            + f" at {to_rfc3339(ch.time)}"
            + f" ({ch.source})",
            f"path: {hops}" if distance else f"on the symptom itself: {symptom}",
            f"symptom: {summary}",
        ]
        for d in explained.get(ch.id, []):
            what = "drift from Terraform" if d.kind == "drift" else f"seen by {d.source}"
            evidence.insert(1, f"{what}: {d.summary} ({to_rfc3339(d.time)})")
        ranked.append(Candidate(round(score, 4), ch, path, distance, evidence))
    ranked.sort(key=lambda c: (-c.score, -c.change.time, c.change.id))
    shortlist = ranked[:max(limit * 2, 20)]
    span = min(window, 900.0)
    if shortlist:
        # two queries for the whole shortlist: what runs on the paths' nodes, and their call statistics
        path_nodes = list(dict.fromkeys(n for c in shortlist for n in c.path))
        hosted: dict[str, list[str]] = {}
        for e in store.edges(path_nodes, "in", ["runs_on"]):
            if e.deleted_at is None:
                hosted.setdefault(e.dst, []).append(e.src)
        around = {id(c): {*c.path, *(h for n in c.path for h in hosted.get(n, []))} for c in shortlist}
        times = [c.change.time for c in shortlist]
        rows = store.service_edge_stats(min(times) - span, max(times) + span,
                                        list({n for ids in around.values() for n in ids}))
    for cand in shortlist:
        cand.before_after = compare(rows, around[id(cand)], cand.change.time, span)
        worse = [(c, why) for c in cand.before_after if (why := _degraded(c))]
        if worse:
            cand.score = round(min(1.0, cand.score * 1.5), 4)
            edge, why = worse[0]
            cand.evidence.insert(2, f"degraded after the change: {edge['src']} → {edge['dst']}: {why}")
    shortlist.sort(key=lambda c: (-c.score, -c.change.time, c.change.id))
    top = shortlist[:limit]
    impact: list[tuple[str, int, list[str]]] = []
    if top:
        eff = walk(store, top[0].change.node_id, 3, mode="effects")
        impact = [(r.id, r.distance, list(r.path)) for r in eff.reached]
    return Diagnosis(symptom=symptom, at=at, candidates=top, impact=impact, symptom_summary=summary)
