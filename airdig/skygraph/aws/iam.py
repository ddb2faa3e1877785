"""IAM roles, instance profiles, users and customer managed policies (global).

Edges: instance profile ``depends_on`` its roles; role and user ``depends_on`` each customer managed
policy attached to them (AWS managed policies are not read as nodes: thousands, identical in every
account). ``RoleLastUsed``/``PasswordLastUsed`` are left out (they change whenever used), and so are a
policy's ``AttachmentCount``/``PermissionsBoundaryUsageCount`` (they move with other resources; the
attachment edges say the same). A role's or user's attachments and inline policy names are also kept on
it (``AttachedPolicyArns``, ``InlinePolicyNames``), so a scan diff of the role shows a detach."""

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
    users = paginate(iam, "list_users", "Users")
    for u in users:
        u["Tags"] = jsonable(iam.list_user_tags(UserName=u["UserName"]).get("Tags", []))
        u["AttachedPolicyArns"] = sorted(p["PolicyArn"] for p in paginate(
            iam, "list_attached_user_policies", "AttachedPolicies", UserName=u["UserName"]))
        u["InlinePolicyNames"] = sorted(paginate(iam, "list_user_policies", "PolicyNames", UserName=u["UserName"]))
    policies = paginate(iam, "list_policies", "Policies", Scope="Local")
    for p in policies:
        p["Tags"] = jsonable(iam.list_policy_tags(PolicyArn=p["Arn"]).get("Tags", []))
    return {"Roles": roles, "InstanceProfiles": profiles, "Users": users, "Policies": policies}


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
    for u in each(raw.get("Users")):
        f.add(node("aws.iam.user", u["Arn"], where, u.get("UserName", u["Arn"]),
                   without(u, "Tags", "PasswordLastUsed"), tag_list(u.get("Tags")), [u.get("UserId"), u.get("UserName")],
                   region=""))
    for p in each(raw.get("Policies")):
        f.add(node("aws.iam.policy", p["Arn"], where, p.get("PolicyName", p["Arn"]),
                   without(p, "Tags", "AttachmentCount", "PermissionsBoundaryUsageCount"), tag_list(p.get("Tags")),
                   [p.get("PolicyId")], region=""))
    # attachments to customer managed policies (an AWS managed one, arn:aws:iam::aws:policy/…, is no node)
    for holder in (*each(raw.get("Roles")), *each(raw.get("Users"))):
        for arn in holder.get("AttachedPolicyArns") or []:
            if ":iam::aws:policy/" not in arn:
                f.link(holder["Arn"], "depends_on", arn)
    return f
