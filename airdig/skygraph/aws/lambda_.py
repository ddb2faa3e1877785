"""Lambda functions with their event source mappings.

Edges: function ``depends_on`` its execution role, its KMS key, its dead-letter target and every event
source (SQS queue, DynamoDB/Kinesis stream, ...) of its mappings; subnets and security groups of its VPC
configuration ``network`` → function.
"""

from __future__ import annotations

from typing import Any

from airdig.skygraph.aws.common import Clients, Where, each, jsonable, node, paginate, without
from airdig.skygraph.graph import Fragment


def get_lambda(clients: Clients, where: Where) -> dict[str, Any]:
    lam = clients.client("lambda", where.region)
    functions = paginate(lam, "list_functions", "Functions")
    tags = {fn["FunctionArn"]: jsonable(lam.list_tags(Resource=fn["FunctionArn"]).get("Tags", {}))
            for fn in functions}
    mappings = paginate(lam, "list_event_source_mappings", "EventSourceMappings")
    return {"Functions": functions, "EventSourceMappings": mappings, "Tags": tags}


def _stream_table(arn: str) -> str:
    """A DynamoDB stream ARN ``…:table/T/stream/2024…`` names the table ``…:table/T``."""
    return arn.split("/stream/")[0] if ":dynamodb:" in arn and "/stream/" in arn else arn


def transform_lambda(raw: dict[str, Any], where: Where, scope: str) -> Fragment:
    f = Fragment(scope)
    tags: dict[str, Any] = raw.get("Tags") or {}
    for fn in each(raw.get("Functions")):
        arn = fn["FunctionArn"]
        f.add(node("aws.lambda.function", arn, where, fn.get("FunctionName", arn), without(fn),
                   {str(k): str(v) for k, v in (tags.get(arn) or {}).items()}, [fn.get("FunctionName")]))
        f.link(arn, "depends_on", fn.get("Role"))
        f.link(arn, "depends_on", fn.get("KMSKeyArn"))
        f.link(arn, "depends_on", (fn.get("DeadLetterConfig") or {}).get("TargetArn"))
        vpc = fn.get("VpcConfig") or {}
        for s in vpc.get("SubnetIds") or []:
            f.link(s, "network", arn)
        for g in vpc.get("SecurityGroupIds") or []:
            f.link(g, "network", arn)
    for m in each(raw.get("EventSourceMappings")):
        fn_arn = m.get("FunctionArn") or ""
        # a mapping may name a qualified function (…:function:f:alias); the node is the function
        base = ":".join(fn_arn.split(":")[:7]) if fn_arn.count(":") >= 7 else fn_arn
        src = m.get("EventSourceArn")
        f.link(base, "depends_on", _stream_table(src) if src else None)
    return f
