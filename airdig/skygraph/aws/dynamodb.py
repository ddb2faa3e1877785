"""DynamoDB tables. Edge: table ``depends_on`` its KMS key. Item count and size are left out: they
change without anyone changing the table."""

from __future__ import annotations

from typing import Any

from airdig.skygraph.aws.common import Clients, Where, each, jsonable, node, paginate, tag_list, without
from airdig.skygraph.graph import Fragment


def get_dynamodb(clients: Clients, where: Where) -> dict[str, Any]:
    ddb = clients.client("dynamodb", where.region)
    tables = []
    for name in paginate(ddb, "list_tables", "TableNames"):
        t = jsonable(ddb.describe_table(TableName=name)["Table"])
        t["Tags"] = jsonable(ddb.list_tags_of_resource(ResourceArn=t["TableArn"]).get("Tags", []))
        tables.append(t)
    return {"Tables": tables}


def transform_dynamodb(raw: dict[str, Any], where: Where, scope: str) -> Fragment:
    f = Fragment(scope)
    for t in each(raw.get("Tables")):
        arn = t["TableArn"]
        f.add(node("aws.dynamodb.table", arn, where, t.get("TableName", arn),
                   without(t, "Tags", "ItemCount", "TableSizeBytes"), tag_list(t.get("Tags")),
                   [t.get("TableName"), t.get("LatestStreamArn")]))
        f.link(arn, "depends_on", (t.get("SSEDescription") or {}).get("KMSMasterKeyArn"))
    return f
