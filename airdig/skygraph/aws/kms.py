"""KMS keys with their aliases. The key's id, ARN and every alias (name and ARN) are native ids, so a
resource naming its key any of these ways gets its ``depends_on`` edge."""

from __future__ import annotations

from typing import Any

from airdig.skygraph.aws.common import Clients, Where, each, jsonable, node, paginate
from airdig.skygraph.graph import Fragment


def get_kms(clients: Clients, where: Where) -> dict[str, Any]:
    kms = clients.client("kms", where.region)
    keys = []
    for k in paginate(kms, "list_keys", "Keys"):
        meta = jsonable(kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"])
        if meta.get("KeyManager") == "CUSTOMER":
            meta["Tags"] = paginate(kms, "list_resource_tags", "Tags", KeyId=k["KeyId"])
        keys.append(meta)
    return {"Keys": keys, "Aliases": paginate(kms, "list_aliases", "Aliases")}


def transform_kms(raw: dict[str, Any], where: Where, scope: str) -> Fragment:
    f = Fragment(scope)
    aliases: dict[str, list[str]] = {}
    for a in each(raw.get("Aliases")):
        if a.get("TargetKeyId"):
            aliases.setdefault(a["TargetKeyId"], []).extend([a.get("AliasName", ""), a.get("AliasArn", "")])
    for k in each(raw.get("Keys")):
        names = sorted(n for n in aliases.get(k["KeyId"], []) if n.startswith("alias/"))
        attrs = {key: v for key, v in k.items() if key != "Tags"}
        attrs["Aliases"] = names
        tags = {str(t.get("TagKey")): str(t.get("TagValue")) for t in each(k.get("Tags"))}
        f.add(node("aws.kms.key", k["Arn"], where, names[0] if names else k["KeyId"], attrs, tags,
                   [k["KeyId"], *aliases.get(k["KeyId"], [])]))
    return f
