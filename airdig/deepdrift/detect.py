"""One detection run: read states, read the live cloud, compare, attribute, classify, advise.

:func:`detect` does the I/O (states, AWS, CloudTrail) and hands plain data to :func:`compute`, which is
pure and is what the benchmark and unit tests drive. A type whose live listing failed is reported as
``unknown`` in the coverage: none of its resources is called missing or unmanaged in that run.
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
from airdig.deepdrift.cloudtrail import Trail, TrailEvent, load_trail
from airdig.deepdrift.ignore import IgnoreRules
from airdig.deepdrift.live import Clients, Raw, fetch_all
from airdig.deepdrift.mapping import SPECS, Ctx, TypeSpec, synth_arn
from airdig.deepdrift.remediation import remediation
from airdig.deepdrift.severity import severity
from airdig.deepdrift.tfstate import StateResource, load_states
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


@dataclass
class DetectResult:
    drifts: list[dict[str, Any]]
    coverage: dict[str, Any]
    errors: list[str] = field(default_factory=list)
    causes: list[TrailEvent] = field(default_factory=list)
    # every write the table maps to a node: (event, node id, attributes it set there)
    writes: list[tuple[TrailEvent, str, tuple[str, ...]]] = field(default_factory=list)
    attribution: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"drifts": self.drifts, "coverage": self.coverage, "errors": self.errors,
                "attribution": self.attribution}

    @property
    def exit_code(self) -> int:
        """1 when drift was found; else 2 when any input could not be read (sync is unproven); else 0."""
        if self.drifts:
            return 1
        return 2 if self.errors or self.coverage.get("unknown_types") else 0


def drift_id(kind: str, resource_type: str, ident: str) -> str:
    return "drift-" + hashlib.sha1(f"{kind}|{resource_type}|{ident}".encode()).hexdigest()[:16]


def _live_index(live_items: dict[str, list[Raw]], failed: dict[str, str], ctx: Ctx,
                errors: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
    live: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for spec in SPECS.values():
        if not spec.listable or spec.fetcher in failed:
            continue
        for item in live_items.get(spec.fetcher, []):
            try:
                for attrs in spec.transform(item, ctx):
                    live[spec.type][spec.key(attrs)] = attrs
            except (KeyError, TypeError, ValueError) as exc:
                errors.append(f"live {spec.type}: an API item of unexpected shape was skipped ({exc!r})")
    return live


def _sg_expected(res: StateResource, extra: dict[tuple[str, str], set[str]]) -> dict[str, Any]:
    attrs = dict(res.attributes)
    gid = res.id
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
            blast: Callable[[str], int] | None = None, now: float | None = None) -> DetectResult:
    """Compare state with live items, attribute with events, classify and advise (no I/O)."""
    now = time.time() if now is None else now
    errors: list[str] = []
    ignore = ignore or IgnoreRules()
    live = _live_index(live_items, failed, ctx, errors)
    extra_rules: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in resources:
        if r.type in rules.RULE_TYPES:
            gid, direction, atoms = rules.from_rule_resource(r.type, r.attributes)
            extra_rules[(gid, direction)].update(atoms)
    managed: dict[str, set[str]] = defaultdict(set)
    raw_drifts: list[tuple[dict[str, Any], TypeSpec, dict[str, Any], TypeSpec, dict[str, Any]]] = []

    def parent_of(spec: TypeSpec, attrs: dict[str, Any]) -> tuple[TypeSpec, dict[str, Any]]:
        """The node users see for a sub-resource (the role, the security group); itself otherwise."""
        if spec.type in rules.RULE_TYPES:
            gid = str(attrs.get("security_group_id") or "")
            return SPECS["aws_security_group"], live["aws_security_group"].get(gid) or {"id": gid}
        if spec.type in ("aws_iam_role_policy", "aws_iam_role_policy_attachment"):
            role = str(attrs.get("role") or "")
            return SPECS["aws_iam_role"], live["aws_iam_role"].get(role) or {"id": role, "name": role}
        return spec, attrs

    def add(kind: str, spec: TypeSpec, attrs: dict[str, Any], address: str, diffs: list[dict[str, Any]],
            live_attrs: dict[str, Any] | None, source: str = "") -> None:
        key = spec.key(attrs)
        parent, parent_attrs = parent_of(spec, live_attrs or attrs)
        d: dict[str, Any] = {
            "id": drift_id(kind, spec.type, address or key), "resource_id": synth_arn(parent, parent_attrs, ctx),
            "resource_type": spec.type, "terraform_address": address or None, "kind": kind, "severity": "low",
            "diffs": diffs, "cause": None, "remediation": None, "native_id": key, "state": source or None}
        kept = ignore.filter(d, key) if ignore else d
        if kept is not None:
            raw_drifts.append((kept, spec, live_attrs or attrs, parent, parent_attrs))

    for r in resources:
        spec = SPECS.get(r.type)
        if spec is None or spec.fetcher in failed:
            continue
        if r.type in rules.RULE_TYPES:
            gid, direction, atoms = rules.from_rule_resource(r.type, r.attributes)
            group = live["aws_security_group"].get(gid)
            if group is None:
                add("missing", spec, r.attributes, r.address, [], None, r.source)
            else:  # the rule is gone from a group that exists: the group changed
                gone = [a for a in atoms if a not in set(group.get(direction) or [])]
                if gone:
                    add("changed", spec, r.attributes, r.address,
                        [{"path": f"{direction}[{a}]", "expected": a, "actual": None} for a in gone], None, r.source)
            continue
        key = spec.key(r.attributes)
        current = live[r.type].get(key)
        if current is None:
            if r.type in SUB_RESOURCES and str(r.attributes.get("role") or "") in live["aws_iam_role"]:
                path = sub_path(r.type, r.attributes)
                expected = r.attributes.get("policy_arn") if r.type == "aws_iam_role_policy_attachment" \
                    else r.attributes.get("name")
                add("changed", spec, r.attributes, r.address, [{"path": path, "expected": expected, "actual": None}],
                    None, r.source)
            else:
                add("missing", spec, r.attributes, r.address, [], None, r.source)
            continue
        managed[r.type].add(key)
        expected = _sg_expected(r, extra_rules) if r.type == "aws_security_group" else r.attributes
        actual = redact(current, r.sensitive_paths)  # the state side was redacted the same way
        diffs = compare.diff(spec.compared, expected, actual)
        if diffs and r.type == "aws_iam_role_policy":
            head = sub_path(r.type, r.attributes)
            diffs = [{**x, "path": f"{head}.{x['path']}"} for x in diffs]
        if diffs:
            add("changed", spec, r.attributes, r.address, diffs, current, r.source)

    claimed = _claimed_by_roles(resources)
    by_type: dict[str, dict[str, Any]] = {}
    for spec in SPECS.values():
        if not spec.listable:
            continue
        if spec.fetcher in failed:
            by_type[spec.type] = {"managed": 0, "total": 0, "status": "unknown", "reason": failed[spec.fetcher]}
            continue
        total = managed_n = 0
        for key, attrs in live[spec.type].items():
            if attrs.get("_default"):
                continue
            total += 1
            if key in managed[spec.type] or f"{spec.type}|{key}" in claimed:
                managed_n += 1
            elif spec.type in SUB_RESOURCES:
                # added outside Terraform to a role: a change of that role; on an unmanaged role, that
                # role's own "unmanaged" drift covers it
                if str(attrs.get("role") or "") in managed["aws_iam_role"]:
                    add("changed", spec, attrs, "", [{"path": sub_path(spec.type, attrs), "expected": None,
                                                      "actual": attrs.get("policy_arn") or attrs.get("name")}], attrs)
            else:
                add("unmanaged", spec, attrs, "", [], attrs)
        by_type[spec.type] = {"managed": managed_n, "total": total, "status": "ok"}

    index = TrailIndex(events)
    drifts: list[dict[str, Any]] = []
    causes: dict[str, TrailEvent] = {}
    for d, spec, attrs, parent, parent_attrs in raw_drifts:
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
    node_ids = _node_ids(live, ctx)
    mapped: list[tuple[TrailEvent, str, tuple[str, ...]]] = []
    unresolved = 0
    for ev in events:
        for t in ev.targets:
            nid = next((node_ids[(t.kind, i)] for i in t.ids if (t.kind, i) in node_ids), None) \
                or write_node_id(t, ev.region or ctx.region, ev.account or ctx.account)
            if nid is None:
                unresolved += 1
            else:
                mapped.append((ev, nid, t.attributes))
    drifts.sort(key=lambda x: (-_rank(x["severity"]), x["resource_type"], x["resource_id"]))
    total = sum(t["total"] for t in by_type.values())
    managed_total = sum(t["managed"] for t in by_type.values())
    coverage = {"managed": managed_total, "total": total, "by_type": by_type,
                "unknown_types": sorted(t for t, v in by_type.items() if v["status"] == "unknown")}
    unknown: dict[str, int] = {}
    for ev in events:
        if not ev.known:
            label = f"{ev.service}:{ev.event_name}"
            unknown[label] = unknown.get(label, 0) + 1
    attribution = {"writes": len(events), "mapped": len(mapped), "unresolved_targets": unresolved,
                   "unknown_events": dict(sorted(unknown.items(), key=lambda kv: (-kv[1], kv[0])))}
    return DetectResult(drifts=drifts, coverage=coverage, errors=errors, causes=list(causes.values()),
                        writes=mapped, attribution=attribution)


def _node_ids(live: dict[str, dict[str, dict[str, Any]]], ctx: Ctx) -> dict[tuple[str, str], str]:
    """(node kind, any id a write may name it by) -> the node id, for the resources listed live."""
    out: dict[tuple[str, str], str] = {}
    for spec in SPECS.values():
        if spec.type in SUB_RESOURCES:
            continue
        for attrs in live.get(spec.type, {}).values():
            nid = synth_arn(spec, attrs, ctx)
            for ident in _ids(spec, attrs):
                out[(spec.kind, ident)] = nid
    return out


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


def detect(opts: DetectOptions, clients: Clients | None = None,
           progress: Callable[[str], None] | None = None) -> DetectResult:
    """The whole run with I/O; input problems land in ``errors`` and the rest is still processed.
    ``progress`` is told each step as it starts (state, live AWS, CloudTrail, comparison)."""
    step = progress or (lambda _note: None)
    step("reading Terraform state")
    states, state_errors = load_states(opts.states)
    errors = [str(e) for e in state_errors]
    if not states:
        raise InvalidInput(", ".join(opts.states), "no readable Terraform state"
                           + (f" ({'; '.join(errors)})" if errors else ""))
    ignore = IgnoreRules(opts.ignore)
    if opts.ignore_file:
        for negate, pattern in IgnoreRules.from_file(opts.ignore_file).rules:
            ignore.rules.append((negate, pattern))
    clients = clients or Clients(opts.region)
    ctx = Ctx(region=clients.region_name, account=clients.account_id())
    fetchers = sorted({s.fetcher for s in SPECS.values() if s.listable})
    step(f"reading live AWS ({len(fetchers)} resource types)")
    live_items, failed = fetch_all(clients, fetchers)
    step("reading CloudTrail" if opts.cloudtrail else "no CloudTrail given: drift will not be attributed")
    trail = load_trail(opts.cloudtrail, opts.since_hours) if opts.cloudtrail else Trail()
    errors += [str(e) for e in trail.errors]
    blast = None
    if opts.graph:
        from airdig.deepdrift.impact import Graph

        graph = Graph.load(opts.graph)
        blast = graph.radius
    resources = [r for s in states for r in s.resources]
    step(f"comparing {len(resources)} resources")
    result = compute(resources, live_items, failed, ctx, trail.events, ignore, blast)
    result.errors = errors + result.errors
    for t, reason in failed.items():
        result.errors.append(f"live {t}: could not fetch ({reason}); its resources are unknown this run")
    log.info("drift detection finished", states=len(states), resources=len(resources),
             drifts=len(result.drifts), events=len(trail.events), errors=len(result.errors))
    if result.attribution.get("unknown_events"):
        log.warning("CloudTrail writes not in the writes table (not attributed)",
                    unknown_events=result.attribution["unknown_events"])
    return result
