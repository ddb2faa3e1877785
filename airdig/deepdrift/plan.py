"""A pending Terraform plan (``terraform show -json plan.out``): what the next apply will change.

A difference between state and the cloud that the pending apply itself is making (the apply has already
written the cloud, not yet the state) is not drift: it is reported as ``pending``. From
``resource_changes[]`` (Terraform's documented JSON output format) we keep per address the
``change.actions`` (``no-op``, ``create``, ``read``, ``update``, ``delete``, ``forget`` or the replace
pairs ``["delete", "create"]`` / ``["create", "delete"]``), ``before``, ``after`` and ``after_unknown``.

- changed: a difference on attribute A of resource R is pending when the plan updates or replaces R,
  changes A (``before.A != after.A``), and the live value equals the planned ``after.A`` (or ``after.A``
  is only known after apply);
- missing: pending when the plan deletes (or replaces) R;
- unmanaged: pending when the plan creates a resource of that type whose planned key (bucket name,
  role name, …) is the live item's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from airdig.errors import InvalidInput

_ACTIONS = frozenset({"no-op", "create", "read", "update", "delete", "forget"})


@dataclass(frozen=True)
class PlannedChange:
    address: str
    type: str
    actions: tuple[str, ...]
    before: dict[str, Any]
    after: dict[str, Any]
    after_unknown: dict[str, Any]

    @property
    def deletes(self) -> bool:
        return "delete" in self.actions or "forget" in self.actions

    @property
    def creates(self) -> bool:
        return "create" in self.actions

    @property
    def writes(self) -> bool:
        return "update" in self.actions or (self.creates and self.deletes)


@dataclass
class Plan:
    source: str = ""
    changes: dict[str, PlannedChange] = field(default_factory=dict)

    def at(self, address: str | None) -> PlannedChange | None:
        return self.changes.get(address) if address else None

    def created(self, rtype: str) -> list[PlannedChange]:
        return [c for c in self.changes.values() if c.type == rtype and c.creates]


def _obj(v: Any, where: str, source: str) -> dict[str, Any]:
    if v is None or isinstance(v, bool):  # before of a create / after of a delete; after_unknown may be true
        return {}
    if not isinstance(v, dict):
        raise InvalidInput(source, f"{where} must be an object or null")
    return v


def parse_plan(raw: bytes, source: str) -> Plan:
    """Parse ``terraform show -json`` output; :class:`InvalidInput` names the file and the problem."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(source, f"not valid JSON (want `terraform show -json PLANFILE` output): {exc}") from None
    if not isinstance(doc, dict) or "format_version" not in doc:
        raise InvalidInput(source, "not a Terraform JSON plan (no format_version; want `terraform show -json "
                                   "PLANFILE` output)")
    if "resource_changes" not in doc and "planned_values" not in doc:
        raise InvalidInput(source, "this is Terraform state JSON, not a plan (no resource_changes)")
    changes = doc.get("resource_changes") or []
    if not isinstance(changes, list):
        raise InvalidInput(source, "resource_changes must be a list")
    plan = Plan(source=source)
    for n, rc in enumerate(changes):
        where = f"resource_changes[{n}]"
        if not isinstance(rc, dict):
            raise InvalidInput(source, f"{where} must be an object")
        if rc.get("mode", "managed") != "managed":
            continue
        address, rtype, change = rc.get("address"), rc.get("type"), rc.get("change")
        if not isinstance(address, str) or not isinstance(rtype, str) or not isinstance(change, dict):
            raise InvalidInput(source, f"{where}: needs string 'address' and 'type' and an object 'change'")
        actions = change.get("actions")
        if (not isinstance(actions, list) or not actions
                or not all(isinstance(a, str) and a in _ACTIONS for a in actions)):
            raise InvalidInput(source, f"{where} ({address}): change.actions must be a non-empty list of "
                                       f"{sorted(_ACTIONS)}")
        plan.changes[address] = PlannedChange(
            address=address, type=rtype, actions=tuple(actions),
            before=_obj(change.get("before"), f"{where}.change.before", source),
            after=_obj(change.get("after"), f"{where}.change.after", source),
            after_unknown=_obj(change.get("after_unknown"), f"{where}.change.after_unknown", source))
    return plan


def load_plan(path: str) -> Plan:
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise InvalidInput(path, f"cannot read the plan: {exc.strerror or exc}") from None
    return parse_plan(raw, path)


def root_attribute(path: str) -> str:
    """``tags.Env`` → ``tags``, ``policy.Statement[0].Action`` → ``policy``, ``environment.X`` → ``environment``."""
    return path.split(".", 1)[0].split("[", 1)[0]
