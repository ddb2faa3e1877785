"""One detection run: read states, read the live cloud, compare, attribute, classify, advise.

:func:`detect` does the I/O (states, AWS, CloudTrail) and hands plain data to :func:`compute`, which is
pure and is what the benchmark and unit tests drive. Every state file and every (type, account, region)
ends a run ``checked``, ``unknown`` (why) or ``unsupported`` (the coverage matrix): nothing in an unknown
scope is called missing or unmanaged, and nothing is unmanaged while any state could not be read, because
"could not see" must never read as "gone" or "not ours".
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airdig.deepdrift import compare, rules
from airdig.deepdrift.attribute import TrailIndex, attribute
from airdig.deepdrift.cloudtrail import Trail, TrailEvent, TrailSeen, gc_paused, load_trail
from airdig.deepdrift.ignore import IgnoreRules
from airdig.deepdrift.live import GLOBAL, GLOBAL_FETCHERS, ClientPool, Raw, fetch_all
from airdig.deepdrift.mapping import SPECS, Ctx, TypeSpec, resource_account, resource_region, synth_arn
from airdig.deepdrift.plan import Plan, load_plan, root_attribute
from airdig.deepdrift.remediation import remediation
from airdig.deepdrift.severity import severity
from airdig.deepdrift.tfstate import StateResource, load_states
from airdig.deepdrift.writes import native_ref
from airdig.deepdrift.writes import node_id as write_node_id
from airdig.errors import InvalidInput
from airdig.logs import get_logger
from airdig.model.events import to_rfc3339
from airdig.model.redact import redact, redact_path_value

log = get_logger("deepdrift.detect")


@dataclass
class DetectOptions:
    states: list[str]
    cloudtrail: list[str] = field(default_factory=list)
    ignore_file: str | None = None
    ignore: list[str] = field(default_factory=list)
    region: str | None = None
    since_hours: float = 24.0 * 7
    graph: str | None = None
    regions: list[str] = field(default_factory=list)
    plan: str | None = None
    trail_seen: TrailSeen | None = None  # watch: S3 log objects already read in earlier cycles


@dataclass
class DetectResult:
    drifts: list[dict[str, Any]]
    coverage: dict[str, Any]
    errors: list[str] = field(default_factory=list)
    causes: list[TrailEvent] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)
    # every write the table maps to a node: (event, node id, attributes it set there)
    writes: list[tuple[TrailEvent, str, tuple[str, ...]]] = field(default_factory=list)
    attribution: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"drifts": self.drifts, "pending": self.pending, "coverage": self.coverage, "errors": self.errors,
                "attribution": self.attribution}

    @property
    def exit_code(self) -> int:
        """1 when drift was found; else 2 when any input or scope could not be read (sync is unproven);
        else 0 (pending changes of a plan are not drift)."""
        if self.drifts:
            return 1
        cov = self.coverage
        unknown = cov.get("unknown_types") or any(s.get("status") == "unknown" for s in cov.get("states", []))
        return 2 if self.errors or unknown else 0


# (drift, its type, the live attributes, the expected ones, the parent node's type and attributes)
RawDrift = tuple[dict[str, Any], TypeSpec, dict[str, Any], dict[str, Any], TypeSpec, dict[str, Any]]


def drift_id(kind: str, resource_type: str, ident: str) -> str:
    return "drift-" + hashlib.sha1(f"{kind}|{resource_type}|{ident}".encode()).hexdigest()[:16]


Scope = tuple[str, str]  # (terraform type, region); the account is the caller's (one per run)


@dataclass
class ScopeInfo:
    """One (type, account, region) and what this run knows about it."""

    type: str
    account: str
    region: str
    status: str = "checked"  # checked | unknown | unsupported
    reason: str = ""
    state_resources: int = 0
    compared: int = 0
    live: int = 0
    managed: int = 0

    def unknown(self, reason: str) -> None:
        if self.status != "unknown":
            self.status, self.reason = "unknown", reason

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "account": self.account, "region": self.region,
                               "status": self.status, "state_resources": self.state_resources,
                               "compared": self.compared, "live": self.live, "managed": self.managed}
        if self.reason:
            out["reason"] = self.reason
        return out


def _split_key(key: str, ctx: Ctx) -> tuple[str, str]:
    """``fetcher@region`` (or a bare fetcher name: the run's region) to (fetcher, region)."""
    name, _, region = key.partition("@")
    return name, region or (GLOBAL if name in GLOBAL_FETCHERS else ctx.region)


def _scope_region(spec: TypeSpec, region: str) -> str:
    return GLOBAL if spec.fetcher in GLOBAL_FETCHERS else region


class _Live:
    """Live attributes per type and key, with the region each was read in, and the scopes read."""

    def __init__(self, live_items: dict[str, list[Raw]], failed: dict[str, str], ctx: Ctx,
                 errors: list[str]) -> None:
        self.items: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        self.region: dict[str, dict[str, str]] = defaultdict(dict)
        self.scopes: dict[Scope, ScopeInfo] = {}
        self.ctx = ctx
        by_fetcher: dict[str, list[TypeSpec]] = defaultdict(list)
        for spec in SPECS.values():
            if spec.listable:
                by_fetcher[spec.fetcher].append(spec)
        for key, reason in failed.items():
            name, region = _split_key(key, ctx)
            for spec in by_fetcher.get(name, []):
                self._scope(spec.type, ctx, region).unknown(f"could not list: {reason}")
        for key, items in live_items.items():
            name, region = _split_key(key, ctx)
            sctx = ctx if region == GLOBAL else Ctx(region=region, account=ctx.account)
            for spec in by_fetcher.get(name, []):
                info = self._scope(spec.type, ctx, region)
                for item in items:
                    for attr, why in (item.get("_unreadable") or {}).items():
                        errors.append(f"live {spec.type} {region}: {attr} of one item is unknown ({why}); "
                                      "it is not compared")
                    try:
                        for attrs in spec.transform(item, sctx):
                            k = spec.key(attrs)
                            self.items[spec.type][k] = attrs
                            self.region[spec.type][k] = region
                    except (KeyError, TypeError, ValueError, AttributeError) as exc:
                        # the item's resource cannot be told apart: the whole scope is unknown
                        info.unknown(f"an API item of unexpected shape could not be read ({exc!r})")
                        errors.append(f"live {spec.type} {region}: an API item of unexpected shape was skipped "
                                      f"({exc!r}); nothing there is called missing or unmanaged")

    def _scope(self, rtype: str, ctx: Ctx, region: str) -> ScopeInfo:
        key = (rtype, region)
        if key not in self.scopes:
            self.scopes[key] = ScopeInfo(rtype, ctx.account, region)
        return self.scopes[key]


def _sg_expected(attrs: dict[str, Any], extra: dict[tuple[str, str], set[str]]) -> dict[str, Any]:
    attrs = dict(attrs)
    gid = str(attrs.get("id") or "")
    for direction in ("ingress", "egress"):
        standalone = extra.get((gid, direction), set())
        if direction in attrs or standalone:
            attrs[direction] = sorted(set(rules.from_inline(attrs.get(direction), gid)) | standalone)
    return attrs


def _claimed_by_roles(resources: list[StateResource]) -> set[str]:
    """Role policies a state declares inline on ``aws_iam_role`` (never unmanaged)."""
    out: set[str] = set()
    for r in resources:
        if r.type != "aws_iam_role":
            continue
        role = str(r.attributes.get("name") or r.id)
        for p in r.attributes.get("inline_policy") or []:
            if isinstance(p, dict) and p.get("name"):
                out.add(f"aws_iam_role_policy|{role}:{p['name']}")
        for arn in r.attributes.get("managed_policy_arns") or []:
            out.add(f"aws_iam_role_policy_attachment|{role}/{arn}")
    return out


SUB_RESOURCES = ("aws_iam_role_policy", "aws_iam_role_policy_attachment", *rules.RULE_TYPES)


def sub_path(resource_type: str, attrs: dict[str, Any]) -> str:
    """The path that names a sub-resource on its parent: ``managed_policy_arns[<arn>]``,
    ``inline_policy[<name>]``."""
    if resource_type == "aws_iam_role_policy_attachment":
        return f"managed_policy_arns[{attrs.get('policy_arn', '')}]"
    if resource_type == "aws_iam_role_policy":
        name = attrs.get("name") or str(attrs.get("id") or "").partition(":")[2]
        return f"inline_policy[{name}]"
    raise KeyError(resource_type)


def _ids(spec: TypeSpec, attrs: dict[str, Any]) -> list[str]:
    out = [spec.key(attrs), str(attrs.get("id") or ""), str(attrs.get("arn") or "")]
    if spec.type in rules.RULE_TYPES:
        out.append(str(attrs.get("security_group_id") or ""))
    return [i for i in out if i]


def compute(resources: list[StateResource], live_items: dict[str, list[Raw]], failed: dict[str, str],
            ctx: Ctx, events: list[TrailEvent], ignore: IgnoreRules | None = None,
            blast: Callable[[str], int] | None = None, now: float | None = None, *,
            unknown_states: dict[str, str] | None = None, states: list[str] | None = None,
            plan: Plan | None = None) -> DetectResult:
    """Compare state with live items, attribute with events, classify and advise (no I/O).

    ``live_items`` / ``failed`` are keyed ``fetcher@region`` (a bare fetcher name means ``ctx.region``).
    A state resource whose scope (type, region) was not read, failed or held an unreadable item is never
    missing; a live item is unmanaged only in a checked scope and only when every state was read
    (``unknown_states``: source → why it could not be read)."""
    with gc_paused():  # acyclic data only: collections would rescan every live item and event
        return _compute(resources, live_items, failed, ctx, events, ignore, blast, now, unknown_states, states, plan)


def _compute(resources: list[StateResource], live_items: dict[str, list[Raw]], failed: dict[str, str],
             ctx: Ctx, events: list[TrailEvent], ignore: IgnoreRules | None, blast: Callable[[str], int] | None,
             now: float | None, unknown_states: dict[str, str] | None, states: list[str] | None,
             plan: Plan | None) -> DetectResult:
    now = time.time() if now is None else now
    errors: list[str] = []
    ignore = ignore or IgnoreRules()
    unknown_states = unknown_states or {}
    live = _Live(live_items, failed, ctx, errors)
    scopes = live.scopes
    extra_rules: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in resources:
        if r.type in rules.RULE_TYPES:
            gid, direction, atoms = rules.from_rule_resource(r.type, r.attributes)
            extra_rules[(gid, direction)].update(atoms)
    managed: dict[str, set[str]] = defaultdict(set)
    raw_drifts: list[RawDrift] = []

    def parent_of(spec: TypeSpec, attrs: dict[str, Any]) -> tuple[TypeSpec, dict[str, Any]]:
        """The node users see for a sub-resource (the role, the security group); itself otherwise."""
        if spec.type in rules.RULE_TYPES:
            gid = str(attrs.get("security_group_id") or "")
            return SPECS["aws_security_group"], live.items["aws_security_group"].get(gid) or {"id": gid}
        if spec.type in ("aws_iam_role_policy", "aws_iam_role_policy_attachment"):
            role = str(attrs.get("role") or "")
            return SPECS["aws_iam_role"], live.items["aws_iam_role"].get(role) or {"id": role, "name": role}
        return spec, attrs

    extra_scopes: dict[tuple[str, str, str], ScopeInfo] = {}

    def scope_of(rtype: str, account: str, region: str) -> ScopeInfo:
        if account == ctx.account and (rtype, region) in scopes:
            return scopes[(rtype, region)]
        key = (rtype, account, region)
        if key not in extra_scopes:
            info = ScopeInfo(rtype, account, region)
            spec = SPECS.get(rtype)
            if spec is None:
                info.status, info.reason = "unsupported", "type not covered by DeepDrift"
            elif account != ctx.account:
                info.status, info.reason = "unsupported", (f"in account {account}; the credentials are for "
                                                           f"account {ctx.account}")
            else:
                info.unknown("region not read")
            if account == ctx.account and spec is not None:
                scopes[(rtype, region)] = info
            else:
                extra_scopes[key] = info
        return extra_scopes.get(key) or scopes[(rtype, region)]

    def add(kind: str, spec: TypeSpec, attrs: dict[str, Any], address: str, diffs: list[dict[str, Any]],
            live_attrs: dict[str, Any] | None, region: str, source: str = "",
            expected: dict[str, Any] | None = None) -> None:
        key = spec.key(attrs)
        sctx = ctx if region == GLOBAL else Ctx(region=region, account=ctx.account)
        parent, parent_attrs = parent_of(spec, live_attrs or attrs)
        rid = synth_arn(parent, parent_attrs, sctx)
        d: dict[str, Any] = {
            "id": drift_id(kind, spec.type, address or key), "resource_id": rid, "resource_type": spec.type,
            "terraform_address": address or None, "kind": kind, "severity": "low", "diffs": diffs,
            "cause": None, "remediation": None, "native_id": key, "state": source or None,
            "account": ctx.account, "region": region}
        kept = ignore.filter(d, key) if ignore else d
        if kept is not None:
            raw_drifts.append((kept, spec, live_attrs or attrs, expected or attrs, parent, parent_attrs))

    state_total = 0
    for r in resources:
        spec = SPECS.get(r.type)
        state_total += 1
        account = resource_account(r.attributes) or ctx.account
        if spec is None:
            scope_of(r.type, account, resource_region(r.attributes, ctx.region)).state_resources += 1
            continue
        group_spec = SPECS["aws_security_group"] if r.type in rules.RULE_TYPES else spec
        region = _scope_region(group_spec, resource_region(r.attributes, ctx.region))
        info = scope_of(group_spec.type, account, region)
        info.state_resources += 1
        if info.status == "unsupported":
            continue
        if r.type in rules.RULE_TYPES:
            gid, direction, atoms = rules.from_rule_resource(r.type, r.attributes)
            group = live.items["aws_security_group"].get(gid)
            if group is None and info.status != "checked":
                continue
            info.compared += 1
            if group is None:
                add("missing", spec, r.attributes, r.address, [], None, region, r.source)
            else:  # the rule is gone from a group that exists: the group changed
                gone = [a for a in atoms if a not in set(group.get(direction) or [])]
                if gone:
                    add("changed", spec, r.attributes, r.address,
                        [{"path": f"{direction}[{a}]", "expected": a, "actual": None} for a in gone], None, region,
                        r.source)
            continue
        key = spec.key(r.attributes)
        current = live.items[r.type].get(key)
        if current is None:
            if info.status != "checked":
                continue
            info.compared += 1
            if r.type in SUB_RESOURCES and str(r.attributes.get("role") or "") in live.items["aws_iam_role"]:
                path = sub_path(r.type, r.attributes)
                wanted = r.attributes.get("policy_arn") if r.type == "aws_iam_role_policy_attachment" \
                    else r.attributes.get("name")
                add("changed", spec, r.attributes, r.address, [{"path": path, "expected": wanted, "actual": None}],
                    None, region, r.source)
            else:
                add("missing", spec, r.attributes, r.address, [], None, region, r.source)
            continue
        info.compared += 1
        managed[r.type].add(key)
        expected = _sg_expected(r.attributes, extra_rules) if r.type == "aws_security_group" else r.attributes
        actual = redact(current, r.sensitive_paths)  # the state side was redacted the same way
        diffs = compare.diff(spec.compared, expected, actual)
        if diffs and r.type == "aws_iam_role_policy":
            head = sub_path(r.type, r.attributes)
            diffs = [{**x, "path": f"{head}.{x['path']}"} for x in diffs]
        if diffs:
            add("changed", spec, r.attributes, r.address, diffs, current, region, r.source, expected)

    claimed = _claimed_by_roles(resources)
    unmanaged_reason = ("; ".join(f"state {src} could not be read ({why})" for src, why in unknown_states.items())
                        if unknown_states else "")
    for spec in SPECS.values():
        if not spec.listable:
            continue
        for key, attrs in live.items[spec.type].items():
            if attrs.get("_default"):
                continue
            info = scopes[(spec.type, live.region[spec.type][key])]
            info.live += 1
            if key in managed[spec.type] or f"{spec.type}|{key}" in claimed:
                info.managed += 1
            elif info.status != "checked" or unmanaged_reason:
                continue
            elif spec.type in SUB_RESOURCES:
                # added outside Terraform to a role: a change of that role; on an unmanaged role, that
                # role's own "unmanaged" drift covers it
                if str(attrs.get("role") or "") in managed["aws_iam_role"]:
                    add("changed", spec, attrs, "", [{"path": sub_path(spec.type, attrs), "expected": None,
                                                      "actual": attrs.get("policy_arn") or attrs.get("name")}],
                        attrs, info.region)
            else:
                add("unmanaged", spec, attrs, "", [], attrs, info.region)

    pending: list[dict[str, Any]] = []
    if plan is not None:
        raw_drifts = _apply_plan(plan, raw_drifts, extra_rules, pending)

    index = TrailIndex(events)
    drifts: list[dict[str, Any]] = []
    causes: dict[str, TrailEvent] = {}
    for d, spec, attrs, _expected, parent, parent_attrs in raw_drifts:
        writes = index.writes(parent.kind, _ids(parent, parent_attrs) + _ids(spec, attrs))
        found = attribute(d["kind"], d["resource_type"], d["diffs"], writes, before=now)
        for x, ev in zip(d["diffs"], found.per_path, strict=True):
            x["cause"] = ev.brief() if ev else None
            if ev:
                causes[ev.event_id] = ev
        if found.cause:
            d["cause"] = found.cause.cause()
            causes[found.cause.event_id] = found.cause
        d["related_events"] = [e.event_id for e in found.related]
        radius = blast(d["resource_id"]) if blast else 0
        d["severity"] = severity(d["kind"], d["resource_type"], d["diffs"], radius)
        if blast:
            d["blast_radius"] = radius
        name = str(attrs.get("name") or attrs.get("bucket") or attrs.get("function_name") or d["native_id"])
        # a sub-resource added outside Terraform is a change of its parent but, for the fix, unmanaged
        fix_kind = "unmanaged" if d["kind"] == "changed" and not d["terraform_address"] else d["kind"]
        d["remediation"] = remediation(fix_kind, d["resource_type"], d["terraform_address"] or "", d["severity"],
                                       d["diffs"], attrs, name)
        d["detected_at"] = to_rfc3339(now)
        drifts.append(redact_drift(d))
    node_ids = _node_ids(live)
    mapped: list[tuple[TrailEvent, str, tuple[str, ...]]] = []
    unresolved = 0
    for ev in events:
        for t in ev.targets:
            nid = next((node_ids[(t.kind, i)] for i in t.ids if (t.kind, i) in node_ids), None) \
                or write_node_id(t, ev.region or ctx.region, ev.account or ctx.account) or native_ref(t)
            if nid is None:
                unresolved += 1
            else:
                mapped.append((ev, nid, t.attributes))
    unknown: dict[str, int] = {}
    for ev in events:
        if not ev.known:
            label = f"{ev.service}:{ev.event_name}"
            unknown[label] = unknown.get(label, 0) + 1
    attribution = {"writes": len(events), "mapped": len(mapped), "unresolved_targets": unresolved,
                   "unknown_events": dict(sorted(unknown.items(), key=lambda kv: (-kv[1], kv[0])))}
    drifts.sort(key=lambda x: (-_rank(x["severity"]), x["resource_type"], x["resource_id"]))
    pending.sort(key=lambda x: (x["resource_type"], x["resource_id"]))
    coverage = _coverage(list(scopes.values()) + list(extra_scopes.values()), state_total, unknown_states,
                         states or [], unmanaged_reason, len(pending))
    return DetectResult(drifts=drifts, coverage=coverage, errors=errors, causes=list(causes.values()),
                        pending=[redact_drift(p) for p in pending], writes=mapped, attribution=attribution)


def _node_ids(live: _Live) -> dict[tuple[str, str], str]:
    """(node kind, any id a write may name it by) -> the node id, for the resources listed live (each in
    the region it was listed in)."""
    out: dict[tuple[str, str], str] = {}
    for spec in SPECS.values():
        if spec.type in SUB_RESOURCES:
            continue
        regions = live.region.get(spec.type, {})
        for key, attrs in live.items.get(spec.type, {}).items():
            region = regions.get(key, live.ctx.region)
            sctx = live.ctx if region == GLOBAL else Ctx(region=region, account=live.ctx.account)
            nid = synth_arn(spec, attrs, sctx)
            for ident in _ids(spec, attrs):
                out[(spec.kind, ident)] = nid
    return out


def _apply_plan(plan: Plan, raw: list[RawDrift],
                extra_rules: dict[tuple[str, str], set[str]], pending: list[dict[str, Any]]
                ) -> list[RawDrift]:
    """Move what the pending apply is making into ``pending``; what is left is drift."""
    kept = []
    for d, spec, attrs, expected, parent, parent_attrs in raw:
        change = plan.at(d["terraform_address"])
        whole: list[str] | None = None  # the plan's actions when the whole drift is pending
        if d["kind"] == "missing" and change is not None and change.deletes:
            whole = list(change.actions)
        elif d["kind"] == "unmanaged":
            creating = [c for c in plan.created(spec.type) if c.after and spec.key(c.after) == d["native_id"]]
            if creating:
                whole = list(creating[0].actions)
                d = {**d, "terraform_address": creating[0].address}
        elif d["kind"] == "changed" and change is not None and change.writes:
            sg = spec.type == "aws_security_group"
            before = _sg_expected(change.before, extra_rules) if sg else change.before
            after = _sg_expected(change.after, extra_rules) if sg else change.after
            moved: list[dict[str, Any]] = []
            still: list[dict[str, Any]] = []
            for x in d["diffs"]:
                attr = root_attribute(x["path"])
                kind = spec.compared.get(attr)
                unknown_after = change.after_unknown.get(attr) is True
                if kind is not None and (unknown_after or compare.diff({attr: kind}, before, after)):
                    live_differs = {y["path"] for y in compare.diff({attr: kind}, after, attrs)}
                    if unknown_after or x["path"] not in live_differs:
                        moved.append(x)  # the live value is the planned one: the apply wrote it
                        continue
                still.append(x)
            if moved and still:
                pending.append({**d, "id": drift_id("pending", spec.type, d["terraform_address"] or ""),
                                "diffs": moved, "actions": list(change.actions)})
                d["diffs"] = still
            elif moved:
                whole = list(change.actions)
        if whole is not None:
            pending.append({**d, "actions": whole})
        else:
            kept.append((d, spec, attrs, expected, parent, parent_attrs))
    return kept


def _coverage(scopes: list[ScopeInfo], state_total: int, unknown_states: dict[str, str], states: list[str],
              unmanaged_reason: str, pending: int) -> dict[str, Any]:
    """The coverage matrix: per (type, account, region) checked / unknown (why) / unsupported, per state
    file read or not, and the share of state resources actually compared. ``managed`` / ``total`` /
    ``by_type`` keep their meaning: live resources managed by a state / all live resources."""
    by_type: dict[str, dict[str, Any]] = {}
    for info in sorted(scopes, key=lambda i: (i.type, i.region)):
        if info.status == "unsupported":
            continue
        t = by_type.setdefault(info.type, {"managed": 0, "total": 0, "status": "ok"})
        t["managed"] += info.managed
        t["total"] += info.live
        if info.status == "unknown":
            t["status"] = "unknown"
            t["reason"] = "; ".join(x for x in (t.get("reason"), f"{info.region}: {info.reason}") if x)
    compared = sum(i.compared for i in scopes)
    state_rows = [{"source": src, "status": "checked"} for src in states]
    state_rows += [{"source": src, "status": "unknown", "reason": why} for src, why in unknown_states.items()]
    return {
        "managed": sum(t["managed"] for t in by_type.values()),
        "total": sum(t["total"] for t in by_type.values()),
        "by_type": by_type,
        "unknown_types": sorted(t for t, v in by_type.items() if v["status"] == "unknown"),
        "scopes": [i.to_json() for i in sorted(scopes, key=lambda i: (i.type, i.account, i.region))],
        "states": state_rows,
        "unmanaged": {"status": "unknown", "reason": unmanaged_reason} if unmanaged_reason else {"status": "checked"},
        "compared": {"state_resources": state_total, "compared": compared,
                     "share": round(compared / state_total, 4) if state_total else None},
        "pending": pending,
    }


def _rank(level: str) -> int:
    return ("low", "medium", "high", "critical").index(level)


def redact_drift(d: dict[str, Any]) -> dict[str, Any]:
    """The final pass every output goes through: secret-like paths and keys hidden."""
    d["diffs"] = [{"path": x["path"], "expected": redact_path_value(x["path"], x["expected"]),
                   "actual": redact_path_value(x["path"], x["actual"]),
                   "cause": redact(x["cause"]) if x.get("cause") else None} for x in d["diffs"]]
    rem = d.get("remediation")
    if isinstance(rem, dict) and isinstance(rem.get("adopt"), dict):
        rem["adopt"] = {k: redact_path_value(k, v) for k, v in rem["adopt"].items()}
    if d.get("cause"):
        d["cause"] = redact(d["cause"])
    return d


def state_regions(resources: list[StateResource], default: str) -> list[str]:
    return sorted({resource_region(r.attributes, default) for r in resources} - {GLOBAL})


def detect(opts: DetectOptions, pool: ClientPool | None = None,
           progress: Callable[[str], None] | None = None) -> DetectResult:
    """The whole run with I/O; input problems land in ``errors`` and the rest is still processed.
    ``progress`` is told each step as it starts (state, live AWS, CloudTrail, comparison).
    A failed STS call raises (exit 2): ARNs with an empty account would match nothing."""
    step = progress or (lambda _note: None)
    step("reading Terraform state")
    states, state_errors = load_states(opts.states)
    errors = [str(e) for e in state_errors]
    if not states:
        raise InvalidInput(", ".join(opts.states), "no readable Terraform state"
                           + (f" ({'; '.join(errors)})" if errors else ""))
    unknown_states = {e.source: e.detail for e in state_errors}
    plan = load_plan(opts.plan) if opts.plan else None
    ignore = IgnoreRules(opts.ignore)
    if opts.ignore_file:
        for negate, pattern in IgnoreRules.from_file(opts.ignore_file).rules:
            ignore.rules.append((negate, pattern))
    pool = pool or ClientPool(opts.region)
    main = pool.get()
    ctx = Ctx(region=main.region_name, account=main.account_id())
    resources = [r for s in states for r in s.resources]
    regions = sorted({ctx.region, *opts.regions, *state_regions(resources, ctx.region)})
    fetchers = sorted({s.fetcher for s in SPECS.values() if s.listable})
    step(f"reading live AWS ({len(fetchers)} resource types in {', '.join(regions)})")
    live_items, failed = fetch_all(pool, [(f, r) for f in fetchers for r in regions])
    step("reading CloudTrail" if opts.cloudtrail else "no CloudTrail given: drift will not be attributed")
    trail = (load_trail(opts.cloudtrail, opts.since_hours, seen=opts.trail_seen) if opts.cloudtrail
             else Trail())
    errors += [str(e) for e in trail.errors]
    blast = None
    if opts.graph:
        from airdig.deepdrift.impact import Graph

        graph = Graph.load(opts.graph)
        blast = graph.radius
    step(f"comparing {len(resources)} resources")
    result = compute(resources, live_items, failed, ctx, trail.events, ignore, blast,
                     unknown_states=unknown_states, states=[s.source for s in states], plan=plan)
    result.errors = errors + result.errors
    for key, reason in failed.items():
        result.errors.append(f"live {key}: could not fetch ({reason}); its resources are unknown this run")
    if unknown_states:
        result.errors.append("no live resource is called unmanaged this run: a state could not be read")
    log.info("drift detection finished", states=len(states), resources=len(resources), regions=len(regions),
             drifts=len(result.drifts), pending=len(result.pending), events=len(trail.events),
             errors=len(result.errors))
    if result.attribution.get("unknown_events"):
        log.warning("CloudTrail writes not in the writes table (not attributed)",
                    unknown_events=result.attribution["unknown_events"])
    return result
