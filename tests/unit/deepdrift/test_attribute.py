"""Per-attribute attribution end to end through :func:`compute` (state + live items + CloudTrail records).

The first two tests are the cases of issue 19: on the earlier heuristic, the second person was named for
both Lambda diffs, and a detached managed policy became a ``missing`` attachment under a made-up ARN.
"""

from __future__ import annotations

import json
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airdig.deepdrift.cloudtrail import Trail
from airdig.deepdrift.detect import DetectResult, compute
from airdig.deepdrift.mapping import Ctx
from airdig.deepdrift.report import to_html, to_table
from airdig.deepdrift.tfstate import parse_state

CTX = Ctx(region="us-east-1", account="111122223333")
NOW = 1_800_000_000.0  # detection time: 2027-01-15T08:00:00Z
READONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
NOW_TIME = "2027-01-15T08:00:00Z"
ROLE_ARN = "arn:aws:iam::111122223333:role/service/app-role"  # a role path: only the live listing knows it


def state(*resources: dict[str, Any]) -> bytes:
    return json.dumps({"version": 4, "resources": [
        {"mode": "managed", "type": r["type"], "name": r["name"], "instances": [{"attributes": r["attrs"]}]}
        for r in resources]}).encode()


def record(eid: str, when: float, who: str, source: str, name: str, params: dict[str, Any]) -> dict[str, Any]:
    from airdig.model.events import to_rfc3339

    return {"eventID": eid, "eventName": name, "eventSource": f"{source}.amazonaws.com",
            "eventTime": to_rfc3339(when).replace(".000000", ""), "awsRegion": "us-east-1",
            "recipientAccountId": "111122223333", "sourceIPAddress": f"198.51.100.{len(who)}",
            "userIdentity": {"type": "IAMUser", "userName": who, "arn": f"arn:aws:iam::111122223333:user/{who}"},
            "userAgent": "aws-cli/2.15.30", "requestParameters": params}


def run(tf: bytes, live: dict[str, list[dict[str, Any]]], records: list[dict[str, Any]]) -> DetectResult:
    trail = Trail()
    trail.add_records(records, "test")
    trail.finish()
    return compute(parse_state(tf, "s").resources, live, {}, CTX, trail.events, now=NOW)


FUNCTION_STATE = state({"type": "aws_lambda_function", "name": "worker", "attrs": {
    "id": "worker", "function_name": "worker", "timeout": 30, "description": "queue worker", "memory_size": 256}})


def function_live(**changes: Any) -> dict[str, list[dict[str, Any]]]:
    item = {"FunctionName": "worker", "FunctionArn": "arn:aws:lambda:us-east-1:111122223333:function:worker",
            "Timeout": 30, "Description": "queue worker", "MemorySize": 256, **changes}
    return {"lambda.functions": [item]}


def test_two_people_on_one_function_are_each_named_for_their_own_attribute() -> None:
    result = run(FUNCTION_STATE, function_live(Timeout=10, Description="edited"), [
        record("e-alice", NOW - 600, "alice", "lambda", "UpdateFunctionConfiguration20150331v2",
               {"functionName": "worker", "timeout": 10}),
        record("e-bob", NOW - 300, "bob", "lambda", "UpdateFunctionConfiguration20150331v2",
               {"functionName": "arn:aws:lambda:us-east-1:111122223333:function:worker", "description": "edited"}),
        # later than both, on the same function, touching neither drifted attribute: never a cause
        record("e-carol", NOW - 60, "carol", "lambda", "PutFunctionConcurrency20171031",
               {"functionName": "worker", "reservedConcurrentExecutions": 5}),
    ])
    (drift,) = result.drifts
    writers = {d["path"]: (d["cause"] or {}).get("principal") for d in drift["diffs"]}
    assert writers == {"timeout": "user/alice", "description": "user/bob"}
    assert drift["diffs"][0]["cause"]["source_ip"] == "198.51.100.5"
    assert drift["cause"]["event_id"] == "e-bob"  # both paths are medium: the later write
    assert drift["related_events"] == ["e-alice"]
    assert "e-carol" not in json.dumps(result.drifts)


def test_an_attribute_no_write_touched_has_no_writer() -> None:
    result = run(FUNCTION_STATE, function_live(MemorySize=1024), [
        record("e-dave", NOW - 60, "dave", "lambda", "UpdateFunctionConfiguration20150331v2",
               {"functionName": "worker", "description": "queue worker"})])
    (drift,) = result.drifts
    assert drift["diffs"] == [{"path": "memory_size", "expected": 256, "actual": 1024, "cause": None}]
    assert drift["cause"] is None  # dave touched the function, not its memory size


ROLE_STATE = state(
    {"type": "aws_iam_role", "name": "app", "attrs": {"id": "app-role", "name": "app-role", "arn": ROLE_ARN,
                                                      "path": "/service/"}},
    {"type": "aws_iam_role_policy_attachment", "name": "ro", "attrs": {
        "id": f"app-role-{READONLY}", "role": "app-role", "policy_arn": READONLY}},
    {"type": "aws_iam_role_policy", "name": "inline", "attrs": {
        "id": "app-role:read-orders", "role": "app-role", "name": "read-orders",
        "policy": json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*"}]})}})


def role_live(attached: list[str], inline: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {"iam.roles": [{"RoleName": "app-role", "Arn": ROLE_ARN, "Path": "/service/",
                           "AttachedPolicyArns": attached, "InlinePolicies": inline}]}


def test_a_detached_policy_is_a_change_of_the_role_with_the_detaching_principal() -> None:
    inline = {"read-orders": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*"}]}}
    result = run(ROLE_STATE, role_live([], inline), [
        record("e-tag", NOW - 900, "erin", "iam", "TagRole", {"roleName": "app-role",
                                                               "tags": [{"key": "team", "value": "x"}]}),
        record("e-detach", NOW - 600, "frank", "iam", "DetachRolePolicy",
               {"roleName": "app-role", "policyArn": READONLY})])
    (drift,) = result.drifts
    assert drift["resource_id"] == ROLE_ARN  # the node users see, with its real (path-bearing) ARN
    assert (drift["kind"], drift["resource_type"], drift["terraform_address"]) == (
        "changed", "aws_iam_role_policy_attachment", "aws_iam_role_policy_attachment.ro")
    assert [(d["path"], d["expected"], d["actual"]) for d in drift["diffs"]] == [
        (f"managed_policy_arns[{READONLY}]", READONLY, None)]
    assert drift["diffs"][0]["cause"]["principal"] == "user/frank"
    assert drift["cause"]["event_name"] == "DetachRolePolicy"
    assert not any(":aws_iam_role_policy_attachment/" in json.dumps(d) for d in result.drifts)


def test_an_inline_policy_edit_and_an_outside_attachment_land_on_the_role() -> None:
    admin = "arn:aws:iam::aws:policy/AdministratorAccess"
    inline = {"read-orders": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}]}}
    result = run(ROLE_STATE, role_live([READONLY, admin], inline), [
        record("e-put", NOW - 600, "gina", "iam", "PutRolePolicy",
               {"roleName": "app-role", "policyName": "read-orders", "policyDocument": "{}"}),
        record("e-attach", NOW - 300, "hank", "iam", "AttachRolePolicy", {"roleName": "app-role", "policyArn": admin}),
    ])
    assert {d["resource_id"] for d in result.drifts} == {ROLE_ARN}
    paths = {x["path"]: (x["cause"] or {}).get("principal") for d in result.drifts for x in d["diffs"]}
    assert paths == {"inline_policy[read-orders].policy.Statement[0].Action": "user/gina",
                     f"managed_policy_arns[{admin}]": "user/hank"}
    assert {d["kind"] for d in result.drifts} == {"changed"}
    added = next(d for d in result.drifts if d["terraform_address"] is None)
    assert added["severity"] == "high" and added["remediation"]["action"] == "import"
    assert added["remediation"]["command"].endswith(f" app-role/{admin}")


def test_every_mapped_write_is_offered_for_publication_and_unknown_names_are_counted() -> None:
    result = run(FUNCTION_STATE, function_live(), [
        record("e-1", NOW - 60, "ivy", "lambda", "PutFunctionConcurrency20171031", {"functionName": "worker"}),
        record("e-2", NOW - 50, "ivy", "lambda", "FrobnicateFunction", {"functionName": "worker"}),
        record("e-3", NOW - 40, "ivy", "lambda", "FrobnicateFunction", {"functionName": "worker"})])
    assert result.drifts == []
    assert [(ev.event_id, node, attrs) for ev, node, attrs in result.writes] == [
        ("e-1", "arn:aws:lambda:us-east-1:111122223333:function:worker", ("reserved_concurrent_executions",))]
    assert result.attribution["unknown_events"] == {"lambda:FrobnicateFunction": 2}
    assert result.to_json()["attribution"]["mapped"] == 1
    assert "not in the writes table (not attributed): 2 write(s) of 1 event name(s): lambda:FrobnicateFunction (2)" \
        in to_table(result)


def test_the_table_output_names_each_attributes_writer() -> None:
    result = run(FUNCTION_STATE, function_live(Timeout=10, Description="edited"), [
        record("e-alice", NOW - 600, "alice", "lambda", "UpdateFunctionConfiguration20150331v2",
               {"functionName": "worker", "timeout": 10})])
    text = to_table(result) + to_html(result)
    assert "aws_lambda_function.worker timeout: set by user/alice (UpdateFunctionConfiguration20150331v2 at" in text
    assert "aws_lambda_function.worker description" not in text.split("Who set each attribute:")[1]
    assert "no write on record" in to_html(result)  # the description's row in the HTML report


# ---- property: for any interleaving of writes, each path names its last writer before detection ----

ATTRS = {"timeout": ("timeout", 10), "description": ("description", "d"), "memory_size": ("memorySize", 512),
         "tags.team": None, "tags.owner": None}
WRITERS = ("alice", "bob", "carol", "dave")

write_st = st.tuples(st.sampled_from(WRITERS), st.integers(min_value=-3600, max_value=600),
                     st.sets(st.sampled_from(sorted(ATTRS)), min_size=1, max_size=3))


def _record(i: int, who: str, offset: int, attrs: set[str]) -> list[dict[str, Any]]:
    """One person's edit as CloudTrail records it: configuration and tags are separate calls."""
    out = []
    config = {ATTRS[a][0]: ATTRS[a][1] for a in attrs if ATTRS[a] is not None}  # type: ignore[index]
    if config:
        out.append(record(f"e{i:03d}c", NOW + offset, who, "lambda", "UpdateFunctionConfiguration20150331v2",
                          {"functionName": "worker", **config}))
    tags = {a.split(".", 1)[1]: who for a in attrs if a.startswith("tags.")}
    if tags:
        out.append(record(f"e{i:03d}t", NOW + offset, who, "lambda", "TagResource",
                          {"resource": "arn:aws:lambda:us-east-1:111122223333:function:worker", "tags": tags}))
    return out


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(write_st, min_size=0, max_size=12), st.randoms(use_true_random=False))
def test_each_path_names_its_last_writer_before_detection(writes: list[tuple[str, int, set[str]]],
                                                          rnd: random.Random) -> None:
    tf = state({"type": "aws_lambda_function", "name": "worker", "attrs": {
        "id": "worker", "function_name": "worker", "timeout": 30, "description": "queue worker",
        "memory_size": 256, "tags": {"team": "core", "owner": "ops"}}})
    records = [r for i, (who, off, attrs) in enumerate(writes) for r in _record(i, who, off, attrs)]
    expected: dict[str, str | None] = dict.fromkeys(ATTRS)
    for r in sorted(records, key=lambda r: (r["eventTime"], r["eventID"])):  # the order CloudTrail defines
        if r["eventTime"] > NOW_TIME:
            continue  # after detection: cannot have set the value that was detected
        touched = ({k for k in ATTRS if ATTRS[k] and ATTRS[k][0] in r["requestParameters"]}  # type: ignore[index]
                   | {f"tags.{k}" for k in r["requestParameters"].get("tags", {})})
        for a in touched:
            expected[a] = r["userIdentity"]["userName"]
    rnd.shuffle(records)  # files arrive in any order, repeated
    records += records[: len(records) // 3]
    item = {"FunctionName": "worker", "FunctionArn": "arn:aws:lambda:us-east-1:111122223333:function:worker",
            "Timeout": 10, "Description": "d", "MemorySize": 512}
    result = run(tf, {"lambda.functions": [item]}, records)
    (drift,) = result.drifts
    got = {x["path"]: (x["cause"]["principal"].removeprefix("user/") if x["cause"] else None)
           for x in drift["diffs"]}
    assert set(got) == {"timeout", "description", "memory_size"}  # Lambda tags are not compared: no diff
    assert got == {p: expected[p] for p in got}
    causes = {x["cause"]["event_id"] for x in drift["diffs"] if x["cause"]}
    assert (drift["cause"] is None) == (not causes)
    if drift["cause"]:
        assert drift["cause"]["event_id"] in causes  # the drift-level cause is one of the paths' writers


def test_a_revoked_standalone_rule_is_a_change_of_its_group() -> None:
    tf = state(
        {"type": "aws_security_group", "name": "web", "attrs": {"id": "sg-1", "name": "web", "vpc_id": "vpc-1"}},
        {"type": "aws_security_group_rule", "name": "https", "attrs": {
            "id": "sgrule-1", "security_group_id": "sg-1", "type": "ingress", "protocol": "tcp", "from_port": 443,
            "to_port": 443, "cidr_blocks": ["0.0.0.0/0"]}})
    live = {"ec2.security_groups": [{"GroupId": "sg-1", "GroupName": "web", "VpcId": "vpc-1", "OwnerId": "111122223333",
                                     "IpPermissions": [], "IpPermissionsEgress": []}]}
    result = run(tf, live, [
        record("e-tag", NOW - 900, "jane", "ec2", "CreateTags", {"resourcesSet": {"items": [{"resourceId": "sg-1"}]},
                                                                 "tagSet": {"items": [{"key": "x", "value": "y"}]}}),
        record("e-revoke", NOW - 600, "kim", "ec2", "RevokeSecurityGroupIngress",
               {"groupId": "sg-1", "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 443}]}})])
    drifts = [d for d in result.drifts if d["resource_type"] == "aws_security_group_rule"]
    (d,) = drifts
    assert d["resource_id"] == "arn:aws:ec2:us-east-1:111122223333:security-group/sg-1"
    assert d["kind"] == "changed" and d["terraform_address"] == "aws_security_group_rule.https"
    assert [(x["path"], x["cause"]["principal"]) for x in d["diffs"]] == [("ingress[tcp 443-443 0.0.0.0/0]", "user/kim")]
