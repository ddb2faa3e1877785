"""Which resources a CloudTrail write touched, and how to re-describe just those.

``skygraph follow`` used to re-read the whole (service, region) scope a write belonged to. For the
writes mapped here it re-describes only the resources the record names (``AuthorizeSecurityGroupIngress``
on ``sg-0abc`` → ``DescribeSecurityGroups`` filtered to ``sg-0abc``), runs the service's ordinary
transform on that partial answer, and splices the result into the scope's saved graph
(:func:`splice`): the re-described nodes are replaced (or deleted when the describe no longer returns
them) together with the edges their section of the transform draws (:attr:`Section.owns`); every
other node and edge of the scope is left as the last full read saw it. Records not mapped here fall
back to the scope re-read (counted and logged by the follower).

    targets = targets_of(record)          # [Target("ec2", "SecurityGroups", ("sg-0abc",))] or None
    frag = redescribe(clients, where, targets[0], scope)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from airdig.model.graph import Edge, Node
from airdig.skygraph.aws import SERVICES
from airdig.skygraph.aws.common import Clients, Where, paginate
from airdig.skygraph.graph import Fragment, ScopeGraph, resolve

_SG_ID = re.compile(r"^sg-[0-9a-f]{8,17}$")
_INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")


@dataclass(frozen=True)
class Section:
    """One part of a service's raw answer that can be read for a few ids.

    ``owns``: the edges this section's transform draws for its nodes, as (``in``|``out``, edge type,
    kind at the other end) — exactly those are replaced when its nodes are re-described; edges other
    sections draw to the same nodes (an instance's security groups, an ENI's instance) stay."""

    service: str
    key: str  # the raw dict key the service's transform reads (``SecurityGroups``)
    kind: str
    fetch: Callable[[Any, list[str]], list[Any]]  # (boto3 client, native ids) -> the raw items
    owns: frozenset[tuple[str, str, str]]


def _describe_sgs(ec2: Any, ids: list[str]) -> list[Any]:
    # a filter, not GroupIds=: a deleted group is then simply absent (GroupIds raises InvalidGroup.NotFound)
    return paginate(ec2, "describe_security_groups", "SecurityGroups", Filters=[{"Name": "group-id", "Values": ids}])


def _describe_instances(ec2: Any, ids: list[str]) -> list[Any]:
    return paginate(ec2, "describe_instances", "Reservations", Filters=[{"Name": "instance-id", "Values": ids}])


SECTIONS: dict[str, Section] = {
    "SecurityGroups": Section("ec2", "SecurityGroups", "aws.ec2.security-group", _describe_sgs, frozenset({
        ("in", "contains", "aws.ec2.vpc"), ("out", "network", "aws.ec2.security-group")})),
    "Reservations": Section("ec2", "Reservations", "aws.ec2.instance", _describe_instances, frozenset({
        ("in", "network", "aws.ec2.subnet"), ("in", "network", "aws.ec2.security-group"),
        ("out", "depends_on", "aws.iam.instance-profile"), ("out", "depends_on", "aws.ec2.volume")})),
}

_SG_EVENTS = frozenset({
    "AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress", "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress", "ModifySecurityGroupRules", "UpdateSecurityGroupRuleDescriptionsIngress",
    "UpdateSecurityGroupRuleDescriptionsEgress", "CreateSecurityGroup", "DeleteSecurityGroup"})
# RunInstances and TerminateInstances also create or delete network interfaces and volumes (other
# sections): they re-read the scope
_INSTANCE_EVENTS = frozenset({
    "StartInstances", "StopInstances", "RebootInstances", "ModifyInstanceAttribute", "ModifyInstanceMetadataOptions", "MonitorInstances", "UnmonitorInstances",
    "AssociateIamInstanceProfile", "DisassociateIamInstanceProfile", "ReplaceIamInstanceProfileAssociation"})
_TAG_EVENTS = frozenset({"CreateTags", "DeleteTags"})


@dataclass(frozen=True)
class Target:
    """The resources of one section a write touched, by native id."""

    section: str
    ids: tuple[str, ...]

    @property
    def service(self) -> str:
        return SECTIONS[self.section].service


def strings_in(value: Any) -> Iterator[str]:
    """Every string anywhere in a JSON value (CloudTrail request parameters and response elements)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings_in(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings_in(v)


def _ids(record: dict[str, Any], pattern: re.Pattern[str]) -> tuple[str, ...]:
    found = {s for s in strings_in([record.get("requestParameters"), record.get("responseElements")])
             if pattern.match(s)}
    return tuple(sorted(found))


def targets_of(record: dict[str, Any]) -> list[Target] | None:
    """The resources the write touched, or ``None`` when it is not mapped (the follower then re-reads
    the scope). A mapped write whose record names no id (a redacted request) is unmapped too."""
    source, name = record.get("eventSource"), str(record.get("eventName") or "")
    if source != "ec2.amazonaws.com":
        return None
    out: list[Target] = []
    if (name in _SG_EVENTS or name in _TAG_EVENTS) and (sgs := _ids(record, _SG_ID)):
        out.append(Target("SecurityGroups", sgs))
    if (name in _INSTANCE_EVENTS or name in _TAG_EVENTS) and (instances := _ids(record, _INSTANCE_ID)):
        out.append(Target("Reservations", instances))
    if name in _TAG_EVENTS and out:
        # tags on other resource types too (a subnet, a volume): those are not mapped, re-read the scope
        tagged = set(strings_in((record.get("requestParameters") or {}).get("resourcesSet")))
        if tagged - {i for t in out for i in t.ids}:
            return None
    return out or None


def redescribe(clients: Clients, where: Where, target: Target, scope: str) -> Fragment:
    """Describe just ``target``'s resources and transform them with the service's own transform."""
    section = SECTIONS[target.section]
    service = next(s for s in SERVICES if s.name == section.service)
    client = clients.client(section.service, where.region)
    raw = {section.key: section.fetch(client, list(target.ids))}
    return service.transform(raw, where, scope)


def _kinds(graphs: Iterable[ScopeGraph], extra: Iterable[Node]) -> dict[str, str]:
    out = {nid: n.kind for sg in graphs for nid, n in sg.nodes.items()}
    out.update((n.id, n.kind) for n in extra)
    return out


def splice(prev: ScopeGraph, frag: Fragment, targets: list[Target],
           previous: Mapping[str, ScopeGraph]) -> tuple[ScopeGraph, set[str]]:
    """The scope's graph after re-describing ``targets``: ``prev`` with the targeted nodes (those the
    answer returned, and those of the section's kind that claim a requested id) replaced by ``frag``'s,
    and the edges those sections own replaced by ``frag``'s resolved edges. Returns the new graph and
    the ids that were re-described (the only nodes a confirmation may name)."""
    requested = {i for t in targets for i in t.ids}
    kinds = {SECTIONS[t.section].kind for t in targets}
    owned = {(SECTIONS[t.section].kind, *o) for t in targets for o in SECTIONS[t.section].owns}
    touched = {n.id for n in frag.nodes}
    touched |= {nid for nid, n in prev.nodes.items() if n.kind in kinds and requested & {nid, *n.native_ids}}
    resolved = resolve([frag], {s: list(sg.nodes.values()) for s, sg in previous.items()})
    fresh = resolved.scopes.get(frag.scope, ScopeGraph())
    kind_of = _kinds(previous.values(), frag.nodes)

    def owned_edge(e: Edge) -> bool:
        return (e.src in touched and (kind_of.get(e.src), "out", e.type, kind_of.get(e.dst)) in owned) or (
            e.dst in touched and (kind_of.get(e.dst), "in", e.type, kind_of.get(e.src)) in owned)

    gone = touched - fresh.nodes.keys()  # no longer described: deleted, and every edge at it with it
    nodes = {nid: n for nid, n in prev.nodes.items() if nid not in touched}
    nodes.update(fresh.nodes)
    edges = {k: e for k, e in prev.edges.items() if not owned_edge(e) and e.src not in gone and e.dst not in gone}
    edges.update(fresh.edges)
    return ScopeGraph(nodes, edges, observed_at=prev.observed_at), touched
