"""SNS topics with their subscriptions. Edges: topic ``depends_on`` each subscribed SQS queue or Lambda
function (deliveries fail when they fail) and its KMS key."""

from __future__ import annotations

from typing import Any

from airdig.skygraph.aws.common import Clients, Where, each, node, paginate, tag_list
from airdig.skygraph.graph import Fragment

_COUNTS = ("SubscriptionsConfirmed", "SubscriptionsPending", "SubscriptionsDeleted")


def get_sns(clients: Clients, where: Where) -> dict[str, Any]:
    sns = clients.client("sns", where.region)
    topics = []
    for t in paginate(sns, "list_topics", "Topics"):
        arn = t["TopicArn"]
        topics.append({
            "TopicArn": arn,
            "Attributes": sns.get_topic_attributes(TopicArn=arn).get("Attributes", {}),
            "Tags": sns.list_tags_for_resource(ResourceArn=arn).get("Tags", []),
            "Subscriptions": paginate(sns, "list_subscriptions_by_topic", "Subscriptions", TopicArn=arn),
        })
    return {"Topics": topics}


def transform_sns(raw: dict[str, Any], where: Where, scope: str) -> Fragment:
    f = Fragment(scope)
    for t in each(raw.get("Topics")):
        arn = t["TopicArn"]
        a = {k: v for k, v in (t.get("Attributes") or {}).items() if k not in _COUNTS}
        subs = sorted((s.get("Protocol", ""), s.get("Endpoint", "")) for s in each(t.get("Subscriptions")))
        a["Subscriptions"] = [{"Protocol": p, "Endpoint": e} for p, e in subs]
        f.add(node("aws.sns.topic", arn, where, arn.rsplit(":", 1)[-1], a, tag_list(t.get("Tags")), []))
        for proto, endpoint in subs:
            if proto in ("sqs", "lambda"):
                f.link(arn, "depends_on", endpoint)
        f.link(arn, "depends_on", a.get("KmsMasterKeyId"))
    return f
