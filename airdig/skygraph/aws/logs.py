"""CloudWatch Logs log groups. Edge: log group ``depends_on`` its KMS key. ``storedBytes`` is left out
(it grows by itself); retention and key changes are configuration."""

from __future__ import annotations

from typing import Any

from airdig.skygraph.aws.common import Clients, Where, each, node, paginate, without
from airdig.skygraph.aws.spec import E, KindSpec
from airdig.skygraph.graph import Fragment

GROUP = "aws.logs.log-group"
SPECS = (KindSpec(GROUP, ("logs:DescribeLogGroups",), E(GROUP, "depends_on", "aws.kms.key"), natives="log group name"),)


def get_logs(clients: Clients, where: Where) -> dict[str, Any]:
    logs = clients.client("logs", where.region)
    return {"logGroups": paginate(logs, "describe_log_groups", "logGroups")}


def transform_logs(raw: dict[str, Any], where: Where, scope: str) -> Fragment:
    f = Fragment(scope)
    for g in each(raw.get("logGroups")):
        name = g["logGroupName"]
        # the API's ``arn`` ends in ``:*``; the documented resource ARN has no suffix
        arn = str(g.get("logGroupArn") or g.get("arn") or
                  f"arn:{where.partition}:logs:{where.region}:{where.account}:log-group:{name}").removesuffix(":*")
        f.add(node(GROUP, arn, where, name, without(g, "storedBytes", "metricFilterCount"), {}, [name]))
        f.link(arn, "depends_on", g.get("kmsKeyId"))
    return f
