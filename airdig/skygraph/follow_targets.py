"""Which resources a CloudTrail write touched, and how to re-describe just those.

``skygraph follow`` used to re-read the whole (service, region) scope a write belonged to. For the
writes mapped here it re-describes only the resources the record names (``AuthorizeSecurityGroupIngress``
on ``sg-0abc`` → ``DescribeSecurityGroups`` filtered to ``sg-0abc``; ``ModifyDBInstance`` on ``orders-db`` →
``DescribeDBInstances`` filtered to it; ``UpdateFunctionConfiguration`` → that function's configuration,
tags and event source mappings), runs the service's ordinary
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
from airdig.skygraph.aws.common import Clients, Where, jsonable, paginate
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
    key: str  # the raw dict key the service's transform reads for these nodes (``SecurityGroups``)
    kind: str
    # (boto3 client, native ids) -> the raw answer for them, under the keys the service's transform reads
    # (``key``, and any side tables the transform joins, such as a function's tags and mappings)
    fetch: Callable[[Any, list[str]], dict[str, Any]]
    owns: frozenset[tuple[str, str, str]]


def _describe_sgs(ec2: Any, ids: list[str]) -> dict[str, Any]:
    # a filter, not GroupIds=: a deleted group is then simply absent (GroupIds raises InvalidGroup.NotFound)
    return {"SecurityGroups": paginate(ec2, "describe_security_groups", "SecurityGroups",
                                       Filters=[{"Name": "group-id", "Values": ids}])}


def _describe_instances(ec2: Any, ids: list[str]) -> dict[str, Any]:
    return {"Reservations": paginate(ec2, "describe_instances", "Reservations",
                                     Filters=[{"Name": "instance-id", "Values": ids}])}


def _describe_db_instances(rds: Any, ids: list[str]) -> dict[str, Any]:
    # a filter again: a deleted instance is absent instead of DBInstanceNotFound
    return {"DBInstances": paginate(rds, "describe_db_instances", "DBInstances",
                                    Filters=[{"Name": "db-instance-id", "Values": ids}])}


def _describe_functions(lam: Any, names: list[str]) -> dict[str, Any]:
    """What ``get_lambda`` reads, for these functions only: configuration, tags, event source mappings
    (the transform joins all three; a function re-described without its tags would look untagged)."""
    functions: list[Any] = []
    tags: dict[str, Any] = {}
    mappings: list[Any] = []
    for name in names:
        try:
            fn = lam.get_function_configuration(FunctionName=name)
        except lam.exceptions.ResourceNotFoundException:
            continue  # deleted: absent from the answer, so the splice deletes it
        fn.pop("ResponseMetadata", None)
        functions.append(fn)
        tags[fn["FunctionArn"]] = jsonable(lam.list_tags(Resource=fn["FunctionArn"]).get("Tags", {}))
        mappings += paginate(lam, "list_event_source_mappings", "EventSourceMappings", FunctionName=name)
    return {"Functions": functions, "Tags": tags, "EventSourceMappings": mappings}


SECTIONS: dict[str, Section] = {
    "SecurityGroups": Section("ec2", "SecurityGroups", "aws.ec2.security-group", _describe_sgs, frozenset({
        ("in", "contains", "aws.ec2.vpc"), ("out", "network", "aws.ec2.security-group")})),
    "Reservations": Section("ec2", "Reservations", "aws.ec2.instance", _describe_instances, frozenset({
        ("in", "network", "aws.ec2.subnet"), ("in", "network", "aws.ec2.security-group"),
        ("out", "depends_on", "aws.iam.instance-profile"), ("out", "depends_on", "aws.ec2.volume")})),
    "DBInstances": Section("rds", "DBInstances", "aws.rds.instance", _describe_db_instances, frozenset({
        ("in", "network", "aws.ec2.subnet"), ("in", "network", "aws.ec2.security-group"),
        ("out", "depends_on", "aws.rds.subnet-group"), ("out", "depends_on", "aws.kms.key"),
        ("in", "contains", "aws.rds.cluster")})),
    "Functions": Section("lambda", "Functions", "aws.lambda.function", _describe_functions, frozenset({
        ("out", "depends_on", "aws.iam.role"), ("out", "depends_on", "aws.kms.key"),
        ("out", "depends_on", "aws.sqs.queue"), ("out", "depends_on", "aws.sns.topic"),
        ("out", "depends_on", "aws.dynamodb.table"), ("out", "depends_on", "aws.kinesis.stream"),
        ("in", "network", "aws.ec2.subnet"), ("in", "network", "aws.ec2.security-group")})),
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
# RDS writes on one DB instance (cluster, snapshot and subnet-group writes re-read the scope)
_DB_INSTANCE_EVENTS = frozenset({
    "CreateDBInstance", "ModifyDBInstance", "RebootDBInstance", "StartDBInstance", "StopDBInstance",
    "DeleteDBInstance", "PromoteReadReplica", "CreateDBInstanceReadReplica"})
_RDS_TAG_EVENTS = frozenset({"AddTagsToResource", "RemoveTagsFromResource"})
# Lambda's CloudTrail event names carry the API version (UpdateFunctionConfiguration20150331v2)
_LAMBDA_VERSION = re.compile(r"\d{8}(v\d+)?$")
_FUNCTION_EVENTS = frozenset({
    "CreateFunction", "DeleteFunction", "UpdateFunctionConfiguration", "UpdateFunctionCode",
    "PutFunctionConcurrency", "DeleteFunctionConcurrency", "TagResource", "UntagResource",
    "CreateEventSourceMapping", "UpdateEventSourceMapping", "DeleteEventSourceMapping"})


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
    if source == "rds.amazonaws.com":
        return _rds_targets(record, name)
    if source == "lambda.amazonaws.com":
        return _lambda_targets(record, _LAMBDA_VERSION.sub("", name))
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


def _params(record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    req, resp = record.get("requestParameters"), record.get("responseElements")
    return (req if isinstance(req, dict) else {}), (resp if isinstance(resp, dict) else {})


def _rds_targets(record: dict[str, Any], name: str) -> list[Target] | None:
    req, resp = _params(record)
    if name in _DB_INSTANCE_EVENTS:
        # the instance a read replica is made from is read too: its replica list changed
        ids = {str(v) for v in (req.get("dBInstanceIdentifier"), resp.get("dBInstanceIdentifier"),
                                req.get("sourceDBInstanceIdentifier")) if isinstance(v, str) and v}
        ids = {_rds_instance_name(i) or i for i in ids}
    elif name in _RDS_TAG_EVENTS:
        arn = req.get("resourceName")
        instance = _rds_instance_name(arn) if isinstance(arn, str) else None
        ids = {instance} if instance else set()  # a cluster's, a snapshot's tags: the scope is re-read
    else:
        return None
    return [Target("DBInstances", tuple(sorted(ids)))] if ids else None


def _rds_instance_name(value: str) -> str | None:
    """``arn:aws:rds:REGION:ACCOUNT:db:NAME`` → NAME; None for other ARNs (cluster, snapshot, ...)."""
    parts = value.split(":")
    if len(parts) == 7 and parts[0] == "arn" and parts[2] == "rds":
        return parts[6] if parts[5] == "db" else None
    return None if value.startswith("arn:") else value


def _lambda_targets(record: dict[str, Any], name: str) -> list[Target] | None:
    if name not in _FUNCTION_EVENTS:
        return None
    req, resp = _params(record)
    # functionName is a name, an ARN or a partial ARN; TagResource names the function by `resource`;
    # DeleteEventSourceMapping carries only the mapping's UUID, and the function in its response
    raw = [req.get("functionName"), req.get("resource"), resp.get("functionName"), resp.get("functionArn")]
    names = {n for n in (_function_name(v) for v in raw if isinstance(v, str) and v) if n}
    return [Target("Functions", tuple(sorted(names)))] if names else None


def _function_name(value: str) -> str | None:
    """``my-fn``, ``arn:aws:lambda:R:A:function:my-fn[:qualifier]`` or ``A:function:my-fn`` → ``my-fn``;
    None for a layer or other non-function ARN."""
    parts = value.split(":")
    if len(parts) == 1:
        return value
    if "function" in parts and parts.index("function") + 1 < len(parts):
        return parts[parts.index("function") + 1]
    return None


def redescribe(clients: Clients, where: Where, target: Target, scope: str) -> Fragment:
    """Describe just ``target``'s resources and transform them with the service's own transform."""
    section = SECTIONS[target.section]
    service = next(s for s in SERVICES if s.name == section.service)
    client = clients.client(section.service, where.region)
    return service.transform(section.fetch(client, list(target.ids)), where, scope)


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
