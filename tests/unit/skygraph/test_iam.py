"""IAM transform on literal API items: a role carries its policy attachments and inline policy names."""

from __future__ import annotations

from airdig.skygraph.aws.common import Where
from airdig.skygraph.aws.iam import transform_iam

ROLE = "arn:aws:iam::123456789012:role/service/app-role"


def test_role_records_its_attachments_and_inline_policies() -> None:
    raw = {"Roles": [{"RoleName": "app-role", "Arn": ROLE, "RoleId": "AROA1", "Path": "/service/",
                      "Tags": [{"Key": "team", "Value": "core"}], "RoleLastUsed": {"LastUsedDate": "x"},
                      "AttachedPolicyArns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
                      "InlinePolicyNames": ["read-orders"]}], "InstanceProfiles": []}
    f = transform_iam(raw, Where(account="123456789012", region="global"), "iam")
    (node,) = f.nodes
    assert node.id == ROLE and node.kind == "aws.iam.role"
    assert node.attrs["AttachedPolicyArns"] == ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
    assert node.attrs["InlinePolicyNames"] == ["read-orders"]
    assert "RoleLastUsed" not in node.attrs and node.tags == {"team": "core"}


def test_users_and_customer_managed_policies_with_their_attachment_edges() -> None:
    policy = "arn:aws:iam::123456789012:policy/orders-read"
    user = "arn:aws:iam::123456789012:user/ci"
    raw = {"Roles": [{"RoleName": "app-role", "Arn": ROLE, "RoleId": "AROA1",
                      "AttachedPolicyArns": ["arn:aws:iam::aws:policy/ReadOnlyAccess", policy]}],
           "InstanceProfiles": [],
           "Users": [{"UserName": "ci", "Arn": user, "UserId": "AIDA1", "PasswordLastUsed": "2026-12-01T00:00:00Z",
                      "Tags": [{"Key": "team", "Value": "core"}], "AttachedPolicyArns": [policy],
                      "InlinePolicyNames": []}],
           "Policies": [{"PolicyName": "orders-read", "Arn": policy, "PolicyId": "ANPA1", "AttachmentCount": 2,
                         "PermissionsBoundaryUsageCount": 0, "DefaultVersionId": "v3", "Tags": []}]}
    f = transform_iam(raw, Where(account="123456789012", region="global"), "iam")
    by = {n.id: n for n in f.nodes}
    assert by[user].kind == "aws.iam.user" and by[user].native_ids == ("AIDA1", "ci") and by[user].region == ""
    assert "PasswordLastUsed" not in by[user].attrs and by[user].tags == {"team": "core"}
    assert by[policy].kind == "aws.iam.policy" and by[policy].native_ids == ("ANPA1",)
    assert "AttachmentCount" not in by[policy].attrs and by[policy].attrs["DefaultVersionId"] == "v3"
    # the AWS managed policy is no node, so no edge is drawn to it
    assert {(e.src, e.type, e.dst) for e in f.edges} == {(ROLE, "depends_on", policy), (user, "depends_on", policy)}
