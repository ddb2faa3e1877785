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
