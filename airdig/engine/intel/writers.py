"""Who set each changed attribute of a SkyGraph scan diff: the CloudTrail write behind it, per path.

A scan diff (an ``updated`` change row) lists the attribute paths that differ between two scans, in the
AWS API's *response* shape (``attrs.Timeout``, ``attrs.IpPermissions``, ``tags.Owner``). DeepDrift's
watch records every mapped CloudTrail write on the same node (``cloudtrail`` change rows) with its
request parameters in the API's *request* shape (``timeout``, ``ipPermissions``). Both are the same API
member names, in lowerCamel for the request and UpperCamel for the Describe response, so a write
*touches* a path when:

- ``attrs.<Name>...``: ``<Name>`` equals, ignoring case, a top-level request parameter name of the write
  (EC2's ``{"items": [...]}`` wrappers sit below that name and do not matter), with the few members the
  response names differently listed in :data:`RENAMED` (egress rules), and the ``attribute`` value of
  EC2's ``Modify*Attribute`` calls (``{"attribute": "instanceType", "value": …}``);
- ``tags.<Key>``: the write's mapped attributes (``details.attributes``, from DeepDrift's event table)
  name that exact tag key (``tags.<Key>``, or ``tag.<Key>`` for Auto Scaling groups).

Anything else (``name``, a path no request names) has no writer: null, never a guess — a wrong name is
worse than none. Per path, ``writer`` is the latest touching write at or before detection (the scan that
saw the new value: the row's ``change_time.latest``, else its time); ``writers`` lists every touching
write since the previous scan (``change_time.earliest``; all before detection when unbounded), newest
first, and always includes ``writer``. Computed at read time, so CloudTrail files that arrive after the
scan are taken into account as soon as the watch has recorded them.

    found = for_changes(store, rows)  # one store query for the whole batch
    found[row.id]  # [PathWriters(path="attrs.Timeout", writer=Writer(...), writers=[...]), ...]
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from airdig.backends.interfaces import ChangeRow, Store

# Request members whose Describe-response member has another name, per event: EC2's egress calls send
# their rules as ``ipPermissions``, which the response calls ``IpPermissionsEgress`` (``IpPermissions``
# are the ingress rules: matching by name alone would blame an egress change for an ingress diff).
RENAMED: dict[tuple[str, str], str] = {
    (event, "ipPermissions"): "IpPermissionsEgress"
    for event in ("AuthorizeSecurityGroupEgress", "RevokeSecurityGroupEgress",
                  "UpdateSecurityGroupRuleDescriptionsEgress")}
# EC2's Modify*/Reset*Attribute calls may name the attribute they set as a value (``attribute: instanceType``)
_NAMES_ITS_ATTRIBUTE = re.compile(r"^(Modify|Reset)\w*Attribute$")
_VERSION_SUFFIX = re.compile(r"\d{8}(v\d+)?$")  # UpdateFunctionConfiguration20150331v2
SCAN_DIFF_KINDS = ("updated",)
WRITE_KIND = "cloudtrail"
MAX_WRITES = 20000  # newest writes read per batch; older ones dropped can only turn a writer into null


@dataclass(frozen=True, slots=True)
class Writer:
    """One CloudTrail write: which event, when (epoch seconds), who, through what, from where."""

    change_id: str
    event_id: str
    event_name: str | None
    time: float
    principal: str | None
    channel: str | None
    source_ip: str | None


@dataclass(frozen=True, slots=True)
class PathWriters:
    """The write that set ``path``'s current value (None: no write on record touched it) and all writers."""

    path: str
    writer: Writer | None
    writers: tuple[Writer, ...]


def is_scan_diff(row: ChangeRow) -> bool:
    changed = row.details.get("changed") if isinstance(row.details, dict) else None
    return row.kind in SCAN_DIFF_KINDS and isinstance(changed, list) and bool(changed)


def detection(row: ChangeRow) -> tuple[float | None, float]:
    """(previous observation or None, detection) of a scan diff, from its stored ``change_time``."""
    ct = row.details.get("change_time") if isinstance(row.details, dict) else None
    if isinstance(ct, dict) and isinstance(ct.get("latest"), int | float):
        lo = ct.get("earliest")
        return (float(lo) if isinstance(lo, int | float) else None), float(ct["latest"])
    return None, row.time


def _writer(w: ChangeRow) -> Writer:
    d = w.details if isinstance(w.details, dict) else {}

    def s(key: str) -> str | None:
        v = d.get(key)
        return v if isinstance(v, str) and v else None

    return Writer(change_id=w.id, event_id=s("event_id") or w.id, event_name=s("event_name"), time=w.time,
                  principal=w.actor, channel=s("channel"), source_ip=s("source_ip"))


def _request_names(w: ChangeRow) -> frozenset[str]:
    """The response members a write's request names, lower-cased (see :data:`RENAMED`, ``attribute``)."""
    d = w.details if isinstance(w.details, dict) else {}
    params = d.get("request_parameters")
    if not isinstance(params, dict):
        return frozenset()
    event = _VERSION_SUFFIX.sub("", str(d.get("event_name") or ""))
    names = {RENAMED.get((event, str(k)), str(k)).lower() for k in params}
    attribute = params.get("attribute")
    if _NAMES_ITS_ATTRIBUTE.match(event) and isinstance(attribute, str) and attribute:
        names.add(attribute.lower())  # ModifyInstanceAttribute {attribute: instanceType, value: …}
    return frozenset(names)


def _attributes(w: ChangeRow) -> frozenset[str]:
    attrs = w.details.get("attributes") if isinstance(w.details, dict) else None
    return frozenset(a for a in attrs if isinstance(a, str)) if isinstance(attrs, list) else frozenset()


def top_attribute(path: str) -> str | None:
    """``Timeout`` for ``attrs.Timeout``, ``IpPermissions`` for ``attrs.IpPermissions[0].FromPort``."""
    if not path.startswith("attrs."):
        return None
    rest = path[len("attrs."):]
    for stop in (".", "["):
        rest = rest.split(stop, 1)[0]
    return rest or None


def touches(path: str, w: ChangeRow) -> bool:
    """Whether write ``w`` touched scan path ``path`` (see the module docstring for the rule)."""
    if path.startswith("tags."):
        key = path[len("tags."):]
        attrs = _attributes(w)
        return bool(key) and (f"tags.{key}" in attrs or f"tag.{key}" in attrs)
    top = top_attribute(path)
    return top is not None and top.lower() in _request_names(w)


def writers_of(row: ChangeRow, writes: Iterable[ChangeRow]) -> list[PathWriters]:
    """Per changed path of scan diff ``row`` (in its order), its writer and writers among ``writes``
    (CloudTrail change rows on the row's node; others are ignored). Empty for a row that is no scan diff."""
    if not is_scan_diff(row):
        return []
    since, until = detection(row)
    before = sorted((w for w in writes if w.kind == WRITE_KIND and w.node_id == row.node_id and w.time <= until),
                    key=lambda w: (w.time, w.id), reverse=True)
    out: list[PathWriters] = []
    for path in dict.fromkeys(str(p) for p in row.details["changed"]):
        mine = [w for w in before if touches(path, w)]
        last = _writer(mine[0]) if mine else None
        window = [_writer(w) for w in mine if since is None or w.time >= since]
        if last is not None and (not window or window[0].change_id != last.change_id):
            window.insert(0, last)
        out.append(PathWriters(path=path, writer=last, writers=tuple(window)))
    return out


def for_changes(store: Store, rows: Sequence[ChangeRow]) -> dict[str, list[PathWriters]]:
    """Writers per scan-diff row id of ``rows``, with ONE store read for the whole batch."""
    diffs = [r for r in rows if is_scan_diff(r)]
    if not diffs:
        return {}
    until = max(detection(r)[1] for r in diffs)
    writes = store.changes_of([r.node_id for r in diffs], None, until, [WRITE_KIND], MAX_WRITES)
    by_node: dict[str, list[ChangeRow]] = defaultdict(list)
    for w in writes:
        by_node[w.node_id].append(w)
    return {r.id: writers_of(r, by_node.get(r.node_id, [])) for r in diffs}

