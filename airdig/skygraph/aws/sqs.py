"""SQS queues. Edges: queue ``depends_on`` its dead-letter queue and its KMS key."""

from __future__ import annotations

import contextlib
from typing import Any

import orjson

from airdig.skygraph.aws.common import Clients, Where, each, node, paginate
from airdig.skygraph.graph import Fragment


def get_sqs(clients: Clients, where: Where) -> dict[str, Any]:
    sqs = clients.client("sqs", where.region)
    queues = []
    for url in paginate(sqs, "list_queues", "QueueUrls"):
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]).get("Attributes", {})
        tags = sqs.list_queue_tags(QueueUrl=url).get("Tags", {})
        queues.append({"QueueUrl": url, "Attributes": attrs, "Tags": tags})
    return {"Queues": queues}


def transform_sqs(raw: dict[str, Any], where: Where, scope: str) -> Fragment:
    f = Fragment(scope)
    for q in each(raw.get("Queues")):
        a = dict(q.get("Attributes") or {})
        url = q["QueueUrl"]
        name = url.rstrip("/").rsplit("/", 1)[-1]
        arn = a.get("QueueArn") or f"arn:{where.partition}:sqs:{where.region}:{where.account}:{name}"
        attrs = {k: v for k, v in a.items() if not k.startswith("ApproximateNumberOf")}
        attrs["QueueUrl"] = url
        f.add(node("aws.sqs.queue", arn, where, name, attrs,
                   {str(k): str(v) for k, v in (q.get("Tags") or {}).items()}, [url, name]))
        redrive = a.get("RedrivePolicy")
        if redrive:
            # a malformed policy names no queue; the attribute itself is still recorded
            with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
                f.link(arn, "depends_on", orjson.loads(redrive).get("deadLetterTargetArn"))
        f.link(arn, "depends_on", a.get("KmsMasterKeyId"))
    return f
