"""Scopes in :func:`compute`: what could not be read is unknown, never missing, unmanaged or resolved."""

from __future__ import annotations

from typing import Any

import orjson

from airdig.deepdrift.detect import compute
from airdig.deepdrift.mapping import Ctx, resource_region
from airdig.deepdrift.report import to_html, to_json, to_table
from airdig.deepdrift.tfstate import parse_state

CTX = Ctx(region="us-east-1", account="111122223333")


def _state(*resources: tuple[str, str, dict[str, Any]]) -> bytes:
    return orjson.dumps({"version": 4, "resources": [
        {"mode": "managed", "type": t, "name": n, "instances": [{"attributes": a}]} for t, n, a in resources]})


QUEUES = _state(
    ("aws_sqs_queue", "jobs", {"id": "https://sqs.us-east-1.amazonaws.com/111122223333/jobs", "name": "jobs",
                               "delay_seconds": 0}),
    ("aws_sqs_queue", "mail", {"id": "https://sqs.us-east-1.amazonaws.com/111122223333/mail", "name": "mail",
                               "delay_seconds": 0}))


def test_a_live_item_that_fails_to_transform_makes_no_resource_missing() -> None:
    live = {"sqs.queues": [
        {"QueueUrl": "https://sqs.us-east-1.amazonaws.com/111122223333/jobs", "Attributes": {"DelaySeconds": "0"}},
        {"Attributes": {"DelaySeconds": "0"}}]}  # no QueueUrl: which queue this is cannot be told
    result = compute(parse_state(QUEUES, "q.tfstate").resources, live, {}, CTX, [])
    assert result.drifts == []  # "mail" may be the unreadable item: it is not called missing
    assert result.exit_code == 2
    scope = next(s for s in result.coverage["scopes"] if s["type"] == "aws_sqs_queue")
    assert scope["status"] == "unknown" and "unexpected shape" in scope["reason"]
    assert (scope["state_resources"], scope["compared"]) == (2, 1)
    assert result.coverage["compared"] == {"state_resources": 2, "compared": 1, "share": 0.5}
    assert any("unexpected shape" in e for e in result.errors)


def test_a_changed_resource_in_an_unknown_scope_is_still_reported() -> None:
    live = {"sqs.queues": [
        {"QueueUrl": "https://sqs.us-east-1.amazonaws.com/111122223333/jobs", "Attributes": {"DelaySeconds": "9"}},
        {"Attributes": {}}]}
    result = compute(parse_state(QUEUES, "q.tfstate").resources, live, {}, CTX, [])
    assert [(d["kind"], d["native_id"], d["region"]) for d in result.drifts] == [("changed", "jobs", "us-east-1")]


def test_regions_are_read_from_the_instance() -> None:
    assert resource_region({"arn": "arn:aws:dynamodb:eu-west-1:1:table/t"}, "us-east-1") == "eu-west-1"
    assert resource_region({"id": "https://sqs.ap-south-1.amazonaws.com/1/q"}, "us-east-1") == "ap-south-1"
    assert resource_region({"availability_zone": "eu-central-1b"}, "us-east-1") == "eu-central-1"
    assert resource_region({"region": "sa-east-1", "arn": "arn:aws:x:eu-west-1:1:y"}, "us-east-1") == "sa-east-1"
    assert resource_region({"arn": "arn:aws:iam::1:role/r"}, "us-east-1") == "us-east-1"


def test_scopes_per_region_unsupported_types_and_foreign_accounts() -> None:
    state = _state(
        ("aws_dynamodb_table", "eu", {"id": "t-eu", "name": "t-eu", "arn": "arn:aws:dynamodb:eu-west-1:111122223333:table/t-eu"}),
        ("aws_dynamodb_table", "us", {"id": "t-us", "name": "t-us", "arn": "arn:aws:dynamodb:us-east-1:111122223333:table/t-us"}),
        ("aws_dynamodb_table", "other", {"id": "t-o", "name": "t-o", "arn": "arn:aws:dynamodb:us-east-1:999988887777:table/t-o"}),
        ("aws_route53_record", "www", {"id": "Z1_www_A", "name": "www"}))
    table = {"TableName": "t-us", "KeySchema": [], "AttributeDefinitions": []}
    result = compute(parse_state(state, "s").resources, {"dynamodb.tables@us-east-1": [table]},
                     {"dynamodb.tables@eu-west-1": "ClientError: AccessDenied"}, CTX, [])
    assert result.drifts == []  # eu-west-1 unreadable, the other account not ours, route53 not covered
    scopes = {(s["type"], s["account"], s["region"]): (s["status"], s.get("reason", "")) for s in
              result.coverage["scopes"]}
    assert scopes[("aws_dynamodb_table", "111122223333", "eu-west-1")] == (
        "unknown", "could not list: ClientError: AccessDenied")
    assert scopes[("aws_dynamodb_table", "111122223333", "us-east-1")] == ("checked", "")
    assert scopes[("aws_dynamodb_table", "999988887777", "us-east-1")][0] == "unsupported"
    assert scopes[("aws_route53_record", "111122223333", "us-east-1")] == (
        "unsupported", "type not covered by DeepDrift")
    assert result.coverage["compared"] == {"state_resources": 4, "compared": 1, "share": 0.25}
    by_type = result.coverage["by_type"]["aws_dynamodb_table"]
    assert (by_type["managed"], by_type["total"], by_type["status"]) == (1, 1, "unknown")
    assert result.exit_code == 2


def test_every_output_carries_the_coverage_matrix() -> None:
    result = compute(parse_state(QUEUES, "q.tfstate").resources,
                     {"sqs.queues@us-east-1": [{"Attributes": {}}]}, {"s3.buckets@global": "EndpointConnectionError"},
                     CTX, [], unknown_states={"s3://tf/b.tfstate": "could not read the S3 object: AccessDenied"},
                     states=["q.tfstate"])
    doc = orjson.loads(to_json(result))
    cov = doc["coverage"]
    assert {"managed", "total", "by_type", "unknown_types", "scopes", "states", "unmanaged", "compared"} <= set(cov)
    assert cov["states"] == [{"source": "q.tfstate", "status": "checked"},
                             {"source": "s3://tf/b.tfstate", "status": "unknown",
                              "reason": "could not read the S3 object: AccessDenied"}]
    table = to_table(result)
    assert "state s3://tf/b.tfstate: unknown (could not read the S3 object: AccessDenied)" in table
    assert "Compared: 0/2 state resources compared (0%)." in table
    assert any(line.startswith("aws_s3_bucket") and "global" in line and "unknown" in line
               and "EndpointConnectionError" in line for line in table.splitlines())
    html = to_html(result)
    assert "<td>aws_sqs_queue</td><td>111122223333</td><td>us-east-1</td><td class=\"unknown\">unknown</td>" in html
    assert "s3://tf/b.tfstate" in html and "unmanaged detection: unknown" in html
