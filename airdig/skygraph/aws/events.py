"""EventBridge event buses and rules.

Edges: bus ``contains`` its rules; rule ``depends_on`` each target (Lambda, SQS, SNS, Step Functions,
Kinesis, ECS cluster, another bus…) and the IAM role it uses to deliver.
"""

from __future__ import annotations

from typing import Any

from airdig.skygraph.aws.common import Clients, Where, each, jsonable, node, paginate, tag_list, without
from airdig.skygraph.aws.spec import E, KindSpec
from airdig.skygraph.graph import Fragment

BUS, RULE = "aws.events.event-bus", "aws.events.rule"
SPECS = (
    KindSpec(BUS, ("events:ListEventBuses", "events:ListTagsForResource"), E(BUS, "contains", RULE)),
    KindSpec(RULE, ("events:ListRules", "events:ListTargetsByRule", "events:ListTagsForResource"),
             E(RULE, "depends_on", "aws.lambda.function", "aws.sqs.queue", "aws.sns.topic", "aws.states.state-machine",
               "aws.kinesis.stream", "aws.ecs.cluster", "aws.events.event-bus", "aws.iam.role")),
)


def get_events(clients: Clients, where: Where) -> dict[str, Any]:
    ev = clients.client("events", where.region)
    buses = jsonable(ev.list_event_buses().get("EventBuses", []))
    rules: list[Any] = []
    for b in buses:
        b["Tags"] = jsonable(ev.list_tags_for_resource(ResourceARN=b["Arn"]).get("Tags", []))
        for r in paginate(ev, "list_rules", "Rules", EventBusName=b["Name"]):
            r["Targets"] = paginate(ev, "list_targets_by_rule", "Targets", Rule=r["Name"], EventBusName=b["Name"])
            r["Tags"] = jsonable(ev.list_tags_for_resource(ResourceARN=r["Arn"]).get("Tags", []))
            rules.append(r)
    return {"EventBuses": buses, "Rules": rules}


def transform_events(raw: dict[str, Any], where: Where, scope: str) -> Fragment:
    f = Fragment(scope)
    bus_arn = {b.get("Name"): b["Arn"] for b in each(raw.get("EventBuses"))}
    for b in each(raw.get("EventBuses")):
        f.add(node(BUS, b["Arn"], where, b.get("Name", b["Arn"]), without(b, "Tags"), tag_list(b.get("Tags")), []))
    for r in each(raw.get("Rules")):
        arn = r["Arn"]
        f.add(node(RULE, arn, where, r.get("Name", arn), without(r, "Tags"), tag_list(r.get("Tags")), []))
        f.link(bus_arn.get(r.get("EventBusName") or "default"), "contains", arn)
        f.link(arn, "depends_on", r.get("RoleArn"))
        for t in each(r.get("Targets")):
            f.link(arn, "depends_on", t.get("Arn"))
            f.link(arn, "depends_on", t.get("RoleArn"))
    return f
