"""Root cause ("dig"): rank the state changes that could explain a symptom.

The model, in the order the answer is built:

1. **Onset, not query time.** The symptom began at the earliest of: a change point (an upward step,
   :mod:`.changepoint`) in the per-window p95 or error ratio of the *affected* call edges — those of the
   symptom node and of the services running on it — and the start of the symptom's current bad health
   episode (``since``: for Alertmanager, the alert's ``startsAt``; an episode still held counts even
   when it began before the window — asked late, the onset still anchors the window of changes).
   Without either, the query time is the onset (and the answer says so). A step in a per-minute series is only known to have begun
   after the last window at the old level and within its first bad window, so a change is "after the onset" only after the end
   of that window. Error-ratio steps are placed by the binomial likelihood of the error counts. The calls
   narrow that span (:func:`.changepoint.within_window`): the share of a boundary window's calls at the
   new level (failing, or slower than the middle of the two p95 levels) says where in it the step fell.

2. **What can be a candidate.** State changes on nodes from which trouble can travel to the symptom
   (≤ 4 hops along the declared propagation of edge types; a host's symptom is also its workloads', so
   the walk also starts from the services running on it). Never symptoms (health, security alerts).
   Never **posture**: an ``unmanaged`` or ``missing`` drift says a resource exists outside Terraform or
   is gone from the cloud, not that anything happened — it only counts with a record of the write (a
   CloudTrail cause, or a scan that saw the resource appear or vanish, into which it is folded). Never
   **discovery**: a node reported by the first scan of its scope. The same change seen twice is one
   candidate: a drift explained by a CloudTrail write, and a scan diff whose interval contains a
   write on the same node, fold into that write; a scan diff overlapping an unexplained drift of the
   same node folds into the drift.

3. **When each change happened** (:mod:`.changetime`): an interval — the CloudTrail eventTime, a
   rollout time, or for scan diffs and unexplained drift the span between the last observation that
   showed the old state and the first that showed the new one; observers of one change narrow it to
   what they agree on. Detection time plays no part. A change that happened wholly before the window
   is set aside (the question was about the window).

4. **Score** = product of independent factors, each in 0..1 (or a likelihood ratio for evidence), so
   that no factor needs tuning against another:

   * *time*: mean over the interval of ``τ/(τ+lag)`` before the onset (τ = 5 min), 0 after it or
     before the window — averaged over the span the onset is known to lie in (from the end of the last
     window at the old level to the end of the first at the new one), so a change inside that span
     counts only for the onsets it precedes;
   * *distance*: ``0.6^hops`` times the edge weights along the path (how surely trouble travels);
   * *kind*: a prior on how often such a change breaks things — writes to an existing resource
     (CloudTrail, drift, deploys) 1, configuration 0.9, deletions 0.9, scanned updates 0.8, scaling
     0.7, resources appearing (a scan's "created", a write that created its resource — marked
     ``(created)`` by the writes table or seen appearing by a rescan, never inferred from when a scan
     first saw the node — an unmanaged drift with a record of the write) 0.5, a drift resolved 0.3; a change that touched only tags 0.1;
     an anonymous change times 0.85 (no record of who wrote it means it was inferred from a diff);
   * *evidence*: a call edge that stepped up right after the change (change point no earlier than the
     change, within the window) is a likelihood ratio of 3 when the edge lies **on** the change's path
     (both ends on it, or on what runs on it) and 1.5 when it only touches the path; 1 otherwise.

   A change after the onset cannot be its cause: it is still listed, last, flagged ``after_onset``.
   The answer says why #1 beat #2: the margin (ratio of scores) and the factor that differed most.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from airdig.backends.interfaces import ChangeRow, ServiceEdgeRow, Store
from airdig.engine.intel import changetime, writers
from airdig.engine.intel.changepoint import ChangePoint, Window, error_count_step, latency_step, within_window
from airdig.engine.intel.changetime import ChangeTime
from airdig.engine.intel.graphwalk import walk
from airdig.engine.intel.servicemap import compare
from airdig.model import stats
from airdig.model.events import to_rfc3339
from airdig.model.kinds import EDGE_TYPES

MAX_HOPS = 4
KIND_WEIGHT: dict[str, float] = {
    "cloudtrail": 1.0, "drift": 1.0, "deploy": 1.0, "config": 0.9, "deleted": 0.9, "updated": 0.8,
    "scaling": 0.7, "created": 0.5, "drift_resolved": 0.3,
}
STATE_CHANGE_KINDS = tuple(KIND_WEIGHT)
TAG_ONLY = 0.1
ANONYMOUS = 0.85
EVIDENCE_ON_PATH, EVIDENCE_NEAR_PATH = 3.0, 1.5
SCAN_LAG = 900.0  # a scan diff with no lower bound: a write this long before it is the change it saw
POSTURE = ("unmanaged", "missing")
BASELINE = 600.0  # history before the window that the change-point search may use as "before"
DETECTION_LAG = 7 * 86400.0  # how long after the time asked about a change may still be detected (a weekly scan)
_TAG_CALL = re.compile(r"^(Create|Delete)Tags$|^(Un)?Tag[A-Z]|^(Add|Remove)Tags(To|From)|^(Un)?TagResource$")


@dataclass(frozen=True)
class Onset:
    time: float  # when the symptom began (start of the first bad window, or the health episode's since)
    latest: float  # by when it had surely begun (end of that window); changes are compared to this
    source: str  # call edge p95 | call edge error ratio | health | query time
    detail: str
    earliest: float | None = None  # it surely began after this (end of the last window at the old level)


@dataclass(frozen=True)
class Shift:
    """A call edge that stepped up (degraded)."""

    src: str
    dst: str
    metric: str  # p95 | error ratio
    cp: ChangePoint
    width: float

    def describe(self) -> str:
        if self.metric == "p95":
            what = f"p95 {self.cp.before:.1f} ms → {self.cp.after:.1f} ms"
        else:
            what = f"error ratio {self.cp.before:.1%} → {self.cp.after:.1%}"
        return f"{self.src} → {self.dst}: {what} from {to_rfc3339(self.cp.time)}"


@dataclass
class Candidate:
    score: float
    change: ChangeRow
    path: list[str]
    distance: int
    evidence: list[str]
    before_after: list[dict[str, Any]] = field(default_factory=list)
    change_time: ChangeTime = field(default_factory=lambda: ChangeTime(None, 0.0, "detected"))
    after_onset: bool = False
    factors: dict[str, float] = field(default_factory=dict)
    deciding: str | None = None  # the evidence that carries this candidate (shown first by the UI)
    shift: Shift | None = None


@dataclass
class Diagnosis:
    symptom: str
    at: float
    candidates: list[Candidate]
    impact: list[tuple[str, int, list[str]]]
    symptom_summary: str
    onset: Onset | None = None
    verdict: str | None = None  # why #1 beat #2
    margin: float | None = None  # score of #1 / score of #2
    set_aside: list[tuple[ChangeRow, str]] = field(default_factory=list)  # never candidates, and why


def _symptom_summary(store: Store, symptom: str, at: float, window: float) -> str:
    node = store.get_node(symptom)
    health = [c for c in store.changes_of([symptom], at - window, at + 60, kinds=["health"], limit=5)]
    if health:
        return f"{symptom}: {health[0].summary}"
    if node is not None and node.health_status in ("warning", "critical"):
        return f"{symptom}: health {node.health_status}"
    return f"{symptom}: symptom reported at {to_rfc3339(at)}"


# ------------------------------------------------------------------ onset


def _p95(r: ServiceEdgeRow) -> float | None:
    lat = r.latency
    if isinstance(lat, dict) and lat.get("bounds") and lat.get("counts") and sum(lat["counts"]):
        return stats.quantile(lat["bounds"], lat["counts"], 0.95)
    return r.p95


def _slow_share(r: ServiceEdgeRow, middle: float) -> Window | None:
    """The share of a window's calls slower than ``middle`` (from its latency histogram), if it has one."""
    lat = r.latency
    if not isinstance(lat, dict) or not lat.get("bounds") or not lat.get("counts"):
        return None
    bounds, counts = list(lat["bounds"]), list(lat["counts"])
    total = sum(counts)
    if not total:
        return None
    # bucket i holds (bounds[i-1], bounds[i]]: count the buckets wholly above the middle
    slow = sum(c for i, c in enumerate(counts) if i > 0 and float(bounds[i - 1]) >= middle)
    return Window(r.window_start, slow / total, int(total))


def shifts(rows: list[ServiceEdgeRow]) -> dict[tuple[str, str], Shift]:
    """The earliest significant upward step of each edge's p95 or error ratio."""
    series: dict[tuple[str, str], list[ServiceEdgeRow]] = {}
    for r in rows:
        series.setdefault((r.src, r.dst), []).append(r)
    out: dict[tuple[str, str], Shift] = {}
    for key, rs in series.items():
        width = float(max(r.window_seconds for r in rs) or 60)
        found: list[Shift] = []
        lat = latency_step([(r.window_start, v) for r in rs if (v := _p95(r)) is not None], width)
        if lat:
            middle = math.sqrt(lat.before * lat.after)  # between the two levels, in log space
            lat = within_window(lat, [w for r in rs if (w := _slow_share(r, middle)) is not None], width)
            found.append(Shift(key[0], key[1], "p95", lat, width))
        err = error_count_step([(r.window_start, r.error_count, r.request_count) for r in rs if r.request_count],
                               width)
        if err:
            err = within_window(err, [Window(r.window_start, r.error_count / r.request_count, r.request_count)
                                      for r in rs if r.request_count], width)
            found.append(Shift(key[0], key[1], "error ratio", err, width))
        if found:
            out[key] = min(found, key=lambda s: s.cp.time)
    return out


def _health_onset(store: Store, nodes: list[str], at: float, window: float) -> tuple[float, str] | None:
    """Start of the current bad episode (warning/critical since the last healthy verdict) of any node."""
    best: tuple[float, str] | None = None
    rows = store.changes_of(nodes, at - window, at + 60, kinds=["health"], limit=200)
    by_node: dict[str, list[ChangeRow]] = {}
    for r in rows:
        by_node.setdefault(r.node_id, []).append(r)
    for node, rs in by_node.items():
        start: float | None = None
        text = ""
        for r in sorted(rs, key=lambda c: c.time):
            status = r.details.get("status") if isinstance(r.details, dict) else None
            if status in ("warning", "critical"):
                if start is None:
                    since = r.details.get("since")
                    start = float(since) if isinstance(since, int | float) else r.time
                    text = f"{node}: {r.summary}"
            elif status is not None:
                start = None
        if start is not None and (best is None or start < best[0]):
            best = (start, text)
    return best


def _ongoing(store: Store, nodes: list[str], at: float) -> tuple[float, str] | None:
    """A bad status still held that had begun by ``at``: its episode may have started before the window."""
    bad = [(n.health_since, f"{n.id}: health {n.health_status} since {to_rfc3339(n.health_since)}")
           for n in store.get_nodes(nodes).values()
           if n.health_status in ("warning", "critical") and n.health_since is not None and n.health_since <= at + 60]
    return min(bad) if bad else None


def find_onset(store: Store, affected: list[str], at: float,
               window: float) -> tuple[Onset, dict[tuple[str, str], Shift]]:
    """When the symptom began, from the affected edges' statistics and health transitions; the search
    reaches back a window before the start of a bad status still held (the question may come late)."""
    health = [h for h in (_health_onset(store, affected, at, window), _ongoing(store, affected, at)) if h]
    anchor = min([at, *(h[0] for h in health)])
    rows = store.service_edge_stats(anchor - window - max(BASELINE, window), at + 60, affected)
    aff = set(affected)
    edge_shifts = shifts([r for r in rows if r.src in aff or r.dst in aff])
    options: list[Onset] = []
    for s in edge_shifts.values():
        if anchor - window <= s.cp.time <= at + 60:
            options.append(Onset(s.cp.time, s.cp.latest if s.cp.latest is not None else s.cp.time + s.width,
                                 f"call edge {s.metric}", s.describe(), earliest=s.cp.earliest))
    options += [Onset(t, t, "health", text) for t, text in health]
    if not options:
        return Onset(at, at, "query time", "no change point in the affected edges and no health transition: "
                                           "the time asked about is taken as the onset"), edge_shifts
    return min(options, key=lambda o: (o.time, o.latest)), edge_shifts


# ------------------------------------------------------------------ candidates


def _reach(store: Store, symptom: str) -> tuple[dict[str, tuple[int, list[str], float]], list[str]]:
    """Nodes that can affect ``symptom`` → (distance, path from the node to the symptom, path weight);
    plus the services running on the symptom (their trouble is the symptom's)."""
    reach: dict[str, tuple[int, list[str], float]] = {symptom: (0, [symptom], 1.0)}

    def add(node: str, d: int, path: list[str], w: float) -> None:
        old = reach.get(node)
        if old is None or (d, -w) < (old[0], -old[2]):
            reach[node] = (d, path, w)

    for r in walk(store, symptom, MAX_HOPS, mode="causes").reached:
        add(r.id, r.distance, list(reversed(r.path)), r.weight)
    hosted = sorted({e.src for e in store.edges([symptom], "in", ["runs_on"]) if e.deleted_at is None})
    w_host = EDGE_TYPES["runs_on"].weight
    for svc in hosted[:20]:
        add(svc, 1, [svc, symptom], w_host)
        for r in walk(store, svc, MAX_HOPS - 1, mode="causes").reached:
            if r.id != symptom:
                add(r.id, r.distance + 1, [*reversed(r.path), symptom], r.weight * w_host)
    return reach, hosted


def _tag_only(ch: ChangeRow) -> bool:
    d = ch.details if isinstance(ch.details, dict) else {}
    paths: Any = d.get("attributes") if ch.kind == "cloudtrail" else d.get("paths") if ch.kind == "drift" \
        else d.get("changed")
    if isinstance(paths, list) and paths:
        return all(str(p).split(".")[0].lower() in ("tags", "tags_all", "tagset", "tag") or str(p).lower().startswith("attrs.tags")
                   for p in paths)
    return ch.kind == "cloudtrail" and bool(_TAG_CALL.match(str(d.get("event_name") or "")))


WRITE_CREATED, WRITE_DELETED = "(created)", "(deleted)"  # DeepDrift's markers in a write's details.attributes


def _kind_factor(ch: ChangeRow, folded: list[ChangeRow]) -> float:
    """The prior of the change's kind. What a write *did* decides, not who reported it: a write that
    brought its resource into existence is an appearance, like a scan's "created" — the write's own
    record says so (the writes table marks creating calls ``(created)``), or a rescan saw the node
    appear and folded into the write. When the node was first seen plays no part: a first scan that
    ran after the write is discovery, not a record of creation. A posture drift with a record of the
    write is the appearance (``unmanaged``) or disappearance (``missing``) that record shows."""
    kind = ch.kind
    drift_kind = _drift_kind(ch)
    attrs = ch.details.get("attributes") if isinstance(ch.details, dict) else None
    seen = {d.kind for d in folded}
    if drift_kind == "unmanaged":
        kind = "created"
    elif drift_kind == "missing":
        kind = "deleted"
    elif kind == "cloudtrail" and ((isinstance(attrs, list) and WRITE_CREATED in attrs) or "created" in seen):
        kind = "created"
    elif kind == "cloudtrail" and ((isinstance(attrs, list) and WRITE_DELETED in attrs) or "deleted" in seen):
        kind = "deleted"
    weight = TAG_ONLY if _tag_only(ch) else KIND_WEIGHT.get(kind, 0.5)
    return weight * (1.0 if ch.actor else ANONYMOUS)


def _drift_kind(ch: ChangeRow) -> str | None:
    if ch.kind != "drift":
        return None
    k = ch.details.get("drift_kind") if isinstance(ch.details, dict) else None
    if isinstance(k, str):
        return k
    m = re.match(r"drift (\w+)", ch.summary)  # rows written before drift_kind was stored
    return m.group(1) if m else None


def _screen(changes: list[ChangeRow]) -> tuple[list[ChangeRow], dict[str, list[ChangeRow]],
                                                list[tuple[ChangeRow, str]]]:
    """(candidates, folded rows per candidate id, rows set aside with the reason)."""
    writes = [c for c in changes if c.kind == "cloudtrail"]
    by_event: dict[str, list[ChangeRow]] = {}  # one CloudTrail event is one row per node it changed
    for w in writes:
        eid = w.details.get("event_id") if isinstance(w.details, dict) else None
        by_event.setdefault(str(eid or w.id), []).append(w)
    folded: dict[str, list[ChangeRow]] = {}
    gone: set[str] = set()
    aside: list[tuple[ChangeRow, str]] = []
    for ch in changes:
        cause = ch.details.get("cause") if ch.kind == "drift" and isinstance(ch.details, dict) else None
        same = by_event.get(str(cause.get("event_id"))) if isinstance(cause, dict) else None
        if same:
            target = next((w for w in same if w.node_id == ch.node_id), same[0])
            folded.setdefault(target.id, []).append(ch)
            gone.add(ch.id)
    recorded: dict[str, str] = {}  # node -> the candidate that records it appearing or vanishing
    for ch in changes:
        if ch.kind not in ("updated", "created", "deleted") or ch.actor or ch.id in gone:
            continue
        if ch.details.get("discovered") or (ch.kind == "created" and changetime.of(ch).basis == "detected"):
            aside.append((ch, "discovery: reported by the first scan of its scope"))
            gone.add(ch.id)
            continue
        ct = changetime.of(ch)
        lo = ct.earliest if ct.earliest is not None else ct.latest - SCAN_LAG
        seen = [w for w in writes if w.node_id == ch.node_id and lo - 1 <= w.time <= ct.latest + 1]
        # a scan diff is the write that touched one of its changed attributes, seen again — not a later
        # write on the same node that touched none of them (issue 19: a wrong name is worse than none)
        paths = ch.details.get("changed") if writers.is_scan_diff(ch) else None
        touching = [w for w in seen if any(writers.touches(str(p), w) for p in paths)] if paths else []
        seen = touching or seen
        seen_id = max(seen, key=lambda w: w.time).id if seen else ch.id
        if seen:  # the scan saw that write
            folded.setdefault(seen_id, []).append(ch)
            gone.add(ch.id)
        if ch.kind in ("created", "deleted"):
            recorded[ch.node_id] = seen_id
    for ch in changes:
        if ch.id in gone or _drift_kind(ch) not in POSTURE:
            continue
        cause = ch.details.get("cause")
        if ch.node_id in recorded:  # a scan saw it appear or vanish (or the write that did it): the record
            folded.setdefault(recorded[ch.node_id], []).append(ch)
            gone.add(ch.id)
        elif not isinstance(cause, dict) or not cause.get("event_time"):
            aside.append((ch, f"posture: {_drift_kind(ch)} says what is, not that anything changed "
                              "(no CloudTrail write or scan diff records it)"))
            gone.add(ch.id)
    # an unexplained drift and a scan diff of the same node at overlapping times: one change, two observers
    drifts = {c.node_id: c for c in changes if c.id not in gone and _drift_kind(c) == "changed"}
    for ch in changes:
        d = drifts.get(ch.node_id)
        if d is not None and ch.kind == "updated" and not ch.actor and ch.id not in gone \
                and changetime.overlaps(changetime.of(d), changetime.of(ch)):
            folded.setdefault(d.id, []).append(ch)
            gone.add(ch.id)
    return [c for c in changes if c.id not in gone], folded, aside


def _ago(seconds: float) -> str:
    s = abs(seconds)
    text = f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h"
    return text


def _when(ct: ChangeTime) -> str:
    if ct.earliest is not None and ct.latest - ct.earliest < 1:
        return f"at {to_rfc3339(ct.latest)} ({ct.basis})"
    lo = to_rfc3339(ct.earliest) if ct.earliest is not None else "an unknown time"
    return f"between {lo} and {to_rfc3339(ct.latest)} ({ct.basis})"


def dig(store: Store, symptom: str, at: float, window: float = 1800.0, limit: int = 10) -> Diagnosis:
    """Rank the changes in the ``window`` before the symptom's onset on nodes that can affect ``symptom``."""
    reach, hosted = _reach(store, symptom)
    affected = [symptom, *hosted]
    onset, aff_shifts = find_onset(store, affected, at, window)
    ref = onset.latest
    # the onset lies somewhere between the last window at the old level and the end of the first at the
    # new one: a change is scored against every onset time in that span, not only the latest
    onset_lo = min(ref, onset.earliest if onset.earliest is not None else onset.time)
    # what happened in the window, known now: a change is often detected after the question's time (the
    # next scan, a late trail delivery) yet happened before it; only what surely happened later is left out
    # (two queries, so that what was detected later never crowds the window's own rows out of the limit)
    until = max(at, ref)
    changes = store.changes_of(list(reach), min(ref, at) - window, until, kinds=STATE_CHANGE_KINDS, limit=2000)
    known = {c.id for c in changes}
    changes += [c for c in store.changes_of(list(reach), until, until + DETECTION_LAG, kinds=STATE_CHANGE_KINDS,
                                            limit=2000)
                if c.id not in known and (lo := changetime.of(c).earliest) is not None and lo <= until]
    summary = _symptom_summary(store, symptom, at, window)
    kept, folded, aside = _screen(changes)
    ranked: list[Candidate] = []
    for ch in kept:
        distance, path, weight = reach[ch.node_id]
        # every observer of the same change bounds when it happened: keep what they agree on
        ct = changetime.narrow(changetime.of(ch), [changetime.of(d) for d in folded.get(ch.id, [])])
        after = changetime.share_before(ct, ref, ref - window) == 0.0
        if not after and changetime.proximity(ct, ref, window) == 0.0:
            aside.append((ch, f"before the window: changed {_when(ct)}"))
            continue
        factors = {"kind": round(_kind_factor(ch, folded.get(ch.id, [])), 4), "distance": round((0.6 ** distance) * weight, 4),
                   "time": round(changetime.proximity_to_span(ct, onset_lo, ref, window), 4), "evidence": 1.0}
        evidence = [
            f"change: {ch.summary}" + (f" by {ch.actor}" if ch.actor and ch.actor not in ch.summary else "")
            + f" at {to_rfc3339(ch.time)} ({ch.source})",
            f"changed {_when(ct)}",
            f"path: {' → '.join(path)}" if distance else f"on the symptom itself: {symptom}",
            f"symptom: {summary}; onset {to_rfc3339(onset.time)} ({onset.source})",
        ]
        if writers.is_scan_diff(ch):  # who set each changed attribute, from the writes already read
            for pw in writers.writers_of(ch, changes)[:8]:
                if (w := pw.writer) is not None:  # the writes read here start at the window: none is no proof
                    evidence.append(f"{pw.path} set by {w.principal or 'an unknown principal'} ({w.event_name}, "
                                    f"{to_rfc3339(w.time)}, {w.channel or '?'})")
        for d in folded.get(ch.id, []):
            what = "drift from Terraform" if d.kind == "drift" else f"seen by {d.source}"
            evidence.insert(1, f"{what}: {d.summary} ({to_rfc3339(d.time)})")
        if after:
            evidence.insert(1, f"after the onset ({to_rfc3339(onset.time)}): cannot have caused it")
        ranked.append(Candidate(0.0, ch, path, distance, evidence, change_time=ct, after_onset=after,
                                factors=factors))
    _weigh_evidence(store, ranked, onset, at, window, aff_shifts)
    for c in ranked:
        c.score = round(math.prod(c.factors.values()), 4)
    ranked.sort(key=_order)
    top = ranked[:limit]
    for c in top:
        c.deciding = _deciding(c, onset)
    verdict, margin = _verdict(top)
    impact: list[tuple[str, int, list[str]]] = []
    if top:
        eff = walk(store, top[0].change.node_id, 3, mode="effects")
        impact = [(r.id, r.distance, list(r.path)) for r in eff.reached]
    return Diagnosis(symptom=symptom, at=at, candidates=top, impact=impact, symptom_summary=summary, onset=onset,
                     verdict=verdict, margin=margin, set_aside=aside)


def _order(c: Candidate) -> tuple[Any, ...]:
    # changes after the onset last; among those, what would have scored highest had it come before
    rest = math.prod(v for k, v in c.factors.items() if k != "time")
    return (c.after_onset, -c.score, -rest, -c.change.time, c.change.id)


def _weigh_evidence(store: Store, ranked: list[Candidate], onset: Onset, at: float, window: float,
                    aff_shifts: dict[tuple[str, str], Shift]) -> None:
    """The evidence factor and the before/after table (around the onset) of each candidate.

    Two queries for all of them: what runs on the paths' nodes, and those nodes' call statistics."""
    if not ranked:
        return
    path_nodes = list(dict.fromkeys(n for c in ranked for n in c.path))
    hosted: dict[str, list[str]] = {}
    for e in store.edges(path_nodes, "in", ["runs_on"]):
        if e.deleted_at is None:
            hosted.setdefault(e.dst, []).append(e.src)
    around = {id(c): {*c.path, *(h for n in c.path for h in hosted.get(n, []))} for c in ranked}
    wanted = sorted({n for ids in around.values() for n in ids})
    rows = store.service_edge_stats(min(at, onset.time) - window - max(BASELINE, window), at + 60, wanted)
    all_shifts = {**shifts(rows), **aff_shifts}
    span = min(window, 900.0)
    for cand in ranked:
        on = around[id(cand)]
        cand.before_after = compare(rows, on, onset.time, span)
        lo, hi = cand.change_time.bounded(onset.latest - window)
        best: tuple[float, Shift] | None = None
        for (src, dst), s in all_shifts.items():
            carried = src in on and dst in on
            if not (carried or src in on or dst in on):
                continue
            # right after the change: the step is no earlier than the change (within one statistics
            # window: a change mid-window shows in that window) and within the window asked about
            if not (lo <= s.cp.time + s.width and s.cp.time - hi <= window):
                continue
            ratio = EVIDENCE_ON_PATH if carried else EVIDENCE_NEAR_PATH
            if best is None or ratio > best[0] or (ratio == best[0] and s.cp.time < best[1].cp.time):
                best = (ratio, s)
        if best is not None:
            cand.factors["evidence"] = best[0]
            cand.shift = best[1]
            where = "on its path" if best[0] == EVIDENCE_ON_PATH else "next to its path"
            cand.evidence.insert(1, f"degraded after the change ({where}): {best[1].describe()}")


def _deciding(c: Candidate, onset: Onset) -> str:
    if c.after_onset:
        return f"after the onset ({to_rfc3339(onset.time)}): cannot be its cause"
    if c.shift is not None:
        where = "on its path" if c.factors["evidence"] == EVIDENCE_ON_PATH else "next to its path"
        return f"a call edge {where} degraded right after it: {c.shift.describe()}"
    lag = onset.latest - c.change_time.latest
    return f"{_ago(lag)} before the onset, {c.distance} hop(s) from the symptom, no call edge degraded after it"


_FACTOR_WORDS = {"evidence": "evidence from the traffic", "time": "closeness to the onset",
                 "distance": "graph distance", "kind": "kind of change"}


def _verdict(top: list[Candidate]) -> tuple[str | None, float | None]:
    live = [c for c in top if not c.after_onset and c.score > 0]
    if not live:
        return None, None
    first = live[0]
    if len(live) == 1:
        return (f"#1 {first.change.summary} is the only change before the onset that can reach the symptom; "
                f"{first.deciding}"), None
    second = live[1]
    margin = first.score / second.score if second.score else math.inf
    ratios = {k: math.log(first.factors[k] / second.factors[k]) if second.factors[k] and first.factors[k] else 0.0
              for k in first.factors}
    key = max(ratios, key=lambda k: ratios[k])
    if key == "evidence":
        why = f"a call edge degraded right after #1 ({first.shift.describe() if first.shift else ''})" + (
            ", none after #2" if second.shift is None else ", #2's evidence is weaker (next to its path only)")
    elif key == "time":
        why = (f"#1 lies closer before the onset (time factor {first.factors['time']:.2f} "
               f"against {second.factors['time']:.2f})")
    elif key == "distance":
        why = f"#1 is {first.distance} hop(s) from the symptom, #2 {second.distance}"
    else:
        why = (f"#1's kind of change ({first.change.kind}) weighs {first.factors['kind']:.2f}, #2's "
               f"({second.change.kind}{', tags only' if _tag_only(second.change) else ''}) "
               f"{second.factors['kind']:.2f}")
    m = "∞" if math.isinf(margin) else f"{margin:.1f}"
    return (f"#1 {first.change.summary} beat #2 {second.change.summary} by a factor of {m} "
            f"({first.score:.3f} against {second.score:.3f}); deciding: {_FACTOR_WORDS[key]} — {why}"), \
        (None if math.isinf(margin) else round(margin, 2))
