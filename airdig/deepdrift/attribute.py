"""Attaching to each drift the CloudTrail write event(s) that explain it.

An index maps ``service|id`` keys to events (in time order). For a drift, the candidates are the
events that touched the resource; the cause is the latest one whose API call fits the difference
(tag calls for tag diffs, rule calls for security-group rules, deletes for "missing", creates for
"unmanaged"), preferring calls made outside Terraform; failing that, the latest write by anyone.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

from airdig.deepdrift.cloudtrail import TrailEvent

_TAG_CALLS = re.compile(r"^(Create|Delete|Add|Remove)Tags|^(Tag|Untag)|BucketTagging|TagsToResource|"
                        r"TagsFromResource|^(Tag|Untag)(Role|Queue|Resource)")
_RULE_CALLS = re.compile(r"^(Authorize|Revoke)SecurityGroup|^ModifySecurityGroupRules|"
                         r"^UpdateSecurityGroupRuleDescriptions")
_DELETE_CALLS = re.compile(r"^(Delete|Terminate|Deregister|Remove|ScheduleKeyDeletion|DisableKey)")
_CREATE_CALLS = re.compile(r"^(Create|Run|Put|Register|Attach|Import|Copy|Restore)")
_POLICY_CALLS = re.compile(r"Policy|^(Attach|Detach)")
_KEY_STATE_CALLS = re.compile(r"^(Enable|Disable)Key")
_CHANGE_CALLS = re.compile(r"^(Modify|Update|Put|Set|Change|Replace|Associate|Disassociate|Attach|Detach|"
                           r"Enable|Disable|Reset|Add|Remove|Register|Deregister|Publish)")


def _fits(kind: str, paths: list[str], name: str) -> bool:
    if kind == "missing":
        return bool(_DELETE_CALLS.match(name))
    if kind == "unmanaged":
        return bool(_CREATE_CALLS.match(name))
    for path in paths:
        if path.startswith("tags"):
            if _TAG_CALLS.search(name):
                return True
        elif path.startswith(("ingress", "egress")):
            if _RULE_CALLS.match(name):
                return True
        elif "polic" in path:
            if _POLICY_CALLS.search(name):
                return True
        elif path in ("is_enabled", "enable_key_rotation"):
            if _KEY_STATE_CALLS.match(name) or "KeyRotation" in name:
                return True
        elif _CHANGE_CALLS.match(name) and not _TAG_CALLS.search(name) and not _RULE_CALLS.match(name):
            return True
    return False


class TrailIndex:
    """Events by resource key; ``events`` must already be sorted by time (``Trail.finish``)."""

    def __init__(self, events: list[TrailEvent]) -> None:
        self.events = events
        self.by_key: dict[str, list[int]] = defaultdict(list)
        for i, ev in enumerate(events):
            for key in ev.keys:
                self.by_key[key].append(i)

    def touching(self, keys: Iterable[str]) -> list[TrailEvent]:
        found: set[int] = set()
        for key in keys:
            found.update(self.by_key.get(key, ()))
        return [self.events[i] for i in sorted(found)]


def resource_keys(service: str, ids: Iterable[str]) -> set[str]:
    """The index keys under which events name a resource known by ``ids`` (ids, names, ARNs)."""
    out: set[str] = set()
    for value in ids:
        if not value:
            continue
        out.add(f"{service}|{value}")
        if value.startswith("arn:"):
            out.add(f"arn|{value}")
        elif service == "sqs" and value.startswith(("https://", "http://")):
            out.add(f"sqs|{value.rstrip('/').rsplit('/', 1)[-1]}")
    return out


def explain(kind: str, paths: list[str], candidates: list[TrailEvent],
            before: float | None = None) -> list[TrailEvent]:
    """The explaining events, best first: fitting non-Terraform calls, then any fitting, then any write."""
    pool = [e for e in candidates if before is None or e.ts <= before]
    if not pool:
        return []
    fitting = [e for e in pool if _fits(kind, paths, e.event_name)]
    outside = [e for e in fitting if e.channel != "terraform"]
    for group in (outside, fitting, [e for e in pool if e.channel != "terraform"], pool):
        if group:
            return list(reversed(group[-5:]))
    return []
