"""IAM roles and instance profiles (global). Edge: instance profile ``depends_on`` its roles.
``RoleLastUsed`` is left out: it changes whenever the role is used. A role's managed-policy attachments
and inline policy names are recorded on the role (``AttachedPolicyArns``, ``InlinePolicyNames``): they
are sub-resources users look for on the role, and a scan diff of the role then shows them change."""

from __future__ import annotations

from typing import Any

from airdig.skygraph.aws.common import Clients, Where, each, jsonable, node, paginate, tag_list, without
from airdig.skygraph.graph import Fragment


def get_iam(clients: Clients, where: Where) -> dict[str, Any]:
    iam = clients.client("iam", "us-east-1")
    roles = paginate(iam, "list_roles", "Roles")
    for r in roles:
        r["Tags"] = jsonable(iam.list_role_tags(RoleName=r["RoleName"]).get("Tags", []))
        r["AttachedPolicyArns"] = sorted(p["PolicyArn"] for p in paginate(
            iam, "list_attached_role_policies", "AttachedPolicies", RoleName=r["RoleName"]))
        r["InlinePolicyNames"] = sorted(paginate(iam, "list_role_policies", "PolicyNames", RoleName=r["RoleName"]))
    profiles = paginate(iam, "list_instance_profiles", "InstanceProfiles")
    return {"Roles": roles, "InstanceProfiles": profiles}


def transform_iam(raw: dict[str, Any], where: Where, scope: str) -> Fragment:
    f = Fragment(scope)
    for r in each(raw.get("Roles")):
        f.add(node("aws.iam.role", r["Arn"], where, r.get("RoleName", r["Arn"]),
                   without(r, "Tags", "RoleLastUsed"), tag_list(r.get("Tags")), [r.get("RoleId")], region=""))
    for p in each(raw.get("InstanceProfiles")):
        attrs = without(p, "Tags", "Roles")
        attrs["Roles"] = sorted(r["Arn"] for r in each(p.get("Roles")))
        f.add(node("aws.iam.instance-profile", p["Arn"], where, p.get("InstanceProfileName", p["Arn"]), attrs,
                   tag_list(p.get("Tags")), [p.get("InstanceProfileId"), p.get("InstanceProfileName")], region=""))
        for role in attrs["Roles"]:
            f.link(p["Arn"], "depends_on", role)
    return f
