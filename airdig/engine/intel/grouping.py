"""Summarise a large graph into at most ``budget`` visible items: single nodes and groups of one kind.

A neighbourhood of 5,000 nodes cannot be drawn readably; "94 aws.ec2.instance in subnet-a" can. This
module is pure (ids in, groups out) so the same rules serve the resource neighbourhood and the service
map, and so it is tested without a store.

Rules (see docs/ui-api.md §1):
* members are first bucketed by kind (kinds beyond the budget share one ``other`` group);
* small buckets are opened (shown as nodes) while they fit the budget, smallest first;
* the largest bucket that still has a grouping key is split by it: members sharing a value form a
  piece ("in subnet-a"); members without the key, or in pieces that do not fit, stay under the
  bucket's own id as the remainder;
* ``expand`` opens named groups first: members as nodes if they fit, else split by the next keys, else
  as many members as fit (most troubled first) with the rest kept under the same id.
The visible count (center + nodes + groups) never exceeds the budget.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

LAST = 1 << 30  # the priority of a member nobody ranked
OTHER = "other"  # the ``by`` of the group that holds kinds beyond the budget (its kind is "*")


@dataclass
class Bucket:
    """A group under construction: members of one kind (or of many, for ``other``) sharing a key value."""

    kind: str
    by: str
    value: str
    members: list[str]
    next_key: int = 0  # index into the refinement keys: the next key this bucket may be split by
    forced: bool = False  # an expand was applied to it already (a remainder keeps its parent's id)

    @property
    def id(self) -> str:
        return group_id(self.by, self.value, self.kind)


def group_id(by: str, value: str, kind: str) -> str:
    """``group:<by>:<value>:<kind>`` — stable across requests; ``value`` may contain ':', ``kind`` never."""
    return f"group:{by}:{value}:{kind}"


@dataclass
class Summary:
    nodes: list[str]  # visible single nodes, center first
    groups: list[Bucket]
    links: list[tuple[str, str, str, int]]  # (src, dst, type, count): src/dst a node id or a group id
    representative: dict[str, str] = field(default_factory=dict)  # node id -> the visible item holding it


def summarise(center: str | None, order: Sequence[str], kinds: Mapping[str, str],
              keys: Mapping[str, Mapping[str, str]], edges: Sequence[tuple[str, str, str]], budget: int,
              group_by: Sequence[str], expand: Sequence[str] = (),
              priority: Mapping[str, int] | None = None) -> Summary:
    """Group ``order`` (node ids, walk order, the center included) into at most ``budget`` items.

    ``keys[node][by]`` is the node's value for a grouping key (missing: it has none); ``priority``
    (lower first) decides which members a partly opened group shows."""
    prio = priority or {}
    members = [n for n in order if n != center]
    fixed = 1 if center is not None else 0
    if fixed + len(members) <= budget:
        return _finish(center, members, [], edges, members)
    refine = [k for k in group_by if k != "kind"]
    # expand: the named groups take their members first (deepest key first, so a subgroup named next to
    # its parent keeps its own members); each such group is then opened as far as the budget allows
    named: list[Bucket] = []
    taken: set[str] = set()
    depth = {"kind": 0, **{k: i + 1 for i, k in enumerate(refine)}}
    asked = [p for p in map(parse_group_id, dict.fromkeys(expand)) if p is not None and p[0] in depth]
    for by, value, kind in sorted(asked, key=lambda p: -depth[p[0]]):
        picked = [m for m in members if m not in taken and kinds.get(m) == kind
                  and ((by == "kind" and value == kind) or keys.get(m, {}).get(by) == value)]
        if picked:
            taken.update(picked)
            named.append(Bucket(kind=kind, by=by, value=value, members=picked, next_key=depth[by]))
    buckets = _kind_buckets([m for m in members if m not in taken], kinds, max(1, budget - fixed - len(named)))
    buckets += named
    opened: list[str] = []

    def visible() -> int:
        return fixed + len(opened) + len(buckets)

    def split(b: Bucket, room: int, forced: bool) -> list[Bucket] | None:
        """``b`` split by its next key that tells anything, within ``room`` extra items; None if none does."""
        if b.by == OTHER:  # the mixed-kind group splits once, by kind
            if b.next_key > 0:
                return None
            b.next_key = 1
            return _cut(b, {m: kinds.get(m, "unknown") for m in b.members}, "kind", room, forced)
        while b.next_key < len(refine):
            key = refine[b.next_key]
            b.next_key += 1
            parts = _cut(b, {m: v for m in b.members if (v := keys.get(m, {}).get(key))}, key, room, forced)
            if parts is not None:
                return parts
        return None

    for b in sorted(named, key=lambda b: (len(b.members), b.id)):
        b.forced = True
        room = budget - visible()
        buckets.remove(b)
        if len(b.members) - 1 <= room:
            opened += b.members
            continue
        parts = split(b, room, forced=True)
        if parts is not None:
            buckets += parts
            continue
        fit = max(0, room)
        ranked = sorted(b.members, key=lambda m: (prio.get(m, LAST), m))
        opened += ranked[:fit]
        b.members = sorted(ranked[fit:])
        buckets.append(b)

    progress = True
    while progress:
        progress = False
        for b in sorted(buckets, key=lambda b: (len(b.members), b.id)):
            if visible() - 1 + len(b.members) <= budget:
                buckets.remove(b)
                opened += b.members
                progress = True
        for b in sorted(buckets, key=lambda b: (-len(b.members), b.id)):
            if b.next_key >= (1 if b.by == OTHER else len(refine)):
                continue
            parts = split(b, budget - visible(), forced=False)
            if parts is None:
                continue
            buckets.remove(b)
            buckets += parts
            progress = True
            break
    shown = set(opened)
    return _finish(center, [m for m in members if m in shown], sorted(buckets, key=lambda b: (-len(b.members), b.id)),
                   edges, members)


def parse_group_id(gid: str) -> tuple[str, str, str] | None:
    """``group:<by>:<value>:<kind>`` → (by, value, kind); None for anything else."""
    if not gid.startswith("group:"):
        return None
    by, sep, rest = gid[len("group:"):].partition(":")
    value, sep2, kind = rest.rpartition(":")
    return (by, value, kind) if sep and sep2 and by and value and kind else None


def _cut(b: Bucket, value_of: Mapping[str, str], key: str, room: int, forced: bool) -> list[Bucket] | None:
    """Pieces of ``b`` by ``value_of`` (largest first, as many as ``room`` allows) plus the remainder
    under ``b``'s own id; None when the key tells nothing (for an expand: nothing new) or nothing fits."""
    pieces: dict[str, list[str]] = {}
    rest: list[str] = []
    for m in b.members:
        v = value_of.get(m)
        (pieces.setdefault(v, []) if v else rest).append(m)
    if not pieces or (len(pieces) == 1 and not rest and (forced or b.by != "kind")):
        return None  # the key tells nothing new (a kind-level group may still take a more telling label)
    ranked = sorted(pieces.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    keep = len(ranked) if len(ranked) + (1 if rest else 0) - 1 <= room else room
    if keep < 1:
        return None
    for _, ms in ranked[keep:]:
        rest += ms
    mixed = b.by == OTHER
    out = [Bucket(kind=v if mixed else b.kind, by=key, value=v, members=ms, next_key=0 if mixed else b.next_key)
           for v, ms in ranked[:keep]]
    if rest:
        out.append(Bucket(kind=b.kind, by=b.by, value=b.value, members=sorted(rest), next_key=b.next_key,
                          forced=b.forced))
    return out


def _kind_buckets(members: Sequence[str], kinds: Mapping[str, str], room: int) -> list[Bucket]:
    by_kind: dict[str, list[str]] = {}
    for m in members:
        by_kind.setdefault(kinds.get(m, "unknown"), []).append(m)
    ranked = sorted(by_kind.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    if len(ranked) <= room:
        return [Bucket(kind=k, by="kind", value=k, members=sorted(ms)) for k, ms in ranked]
    head, tail = ranked[:room - 1], ranked[room - 1:]
    return [*(Bucket(kind=k, by="kind", value=k, members=sorted(ms)) for k, ms in head),
            Bucket(kind="*", by=OTHER, value="*", members=sorted(m for _, ms in tail for m in ms))]


def _finish(center: str | None, nodes: list[str], groups: list[Bucket], edges: Sequence[tuple[str, str, str]],
            members: Sequence[str]) -> Summary:
    rep: dict[str, str] = {n: n for n in nodes}
    if center is not None:
        rep[center] = center
    for g in groups:
        for m in g.members:
            rep[m] = g.id
    counts: dict[tuple[str, str, str], int] = {}
    for s, d, t in edges:
        rs, rd = rep.get(s), rep.get(d)
        if rs is None or rd is None or rs == rd:
            continue
        counts[(rs, rd, t)] = counts.get((rs, rd, t), 0) + 1
    head = [center] if center is not None else []
    return Summary(nodes=head + nodes, groups=groups,
                   links=[(s, d, t, c) for (s, d, t), c in sorted(counts.items())], representative=rep)


HEALTH_ORDER = {"critical": 3, "warning": 2, "healthy": 1, "unknown": 0}
DRIFTED = frozenset({"drifted", "missing", "unmanaged"})


def worst_health(statuses: Sequence[str]) -> str:
    """critical > warning > healthy > unknown: a group is unknown only when nothing in it is known."""
    return max(statuses, key=lambda s: HEALTH_ORDER.get(s, 0), default="unknown")
