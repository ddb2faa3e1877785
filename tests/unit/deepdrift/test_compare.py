from __future__ import annotations

from airdig.deepdrift.compare import diff, policy_data
from airdig.deepdrift.mapping import SPECS, Ctx
from airdig.deepdrift.rules import from_api, from_inline, from_rule_resource

CTX = Ctx(region="eu-west-1", account="111122223333")


def test_policies_compare_as_data() -> None:
    a = '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}'
    b = {"Statement": [{"Resource": ["*"], "Effect": "Allow", "Action": ["s3:GetObject"]}], "Version": "2012-10-17"}
    assert policy_data(a) == policy_data(b)
    assert policy_data("%7B%22Version%22%3A%222012-10-17%22%7D") == {"Version": "2012-10-17"}


def test_defaults_numbers_sets_and_tags() -> None:
    compared = {"description": "scalar", "port": "number", "ids": "set", "tags": "tags", "flag": "bool"}
    expected = {"description": "", "port": "80", "ids": ["b", "a"], "tags": {"Env": "prod"}, "tags_all": None,
                "flag": "false"}
    actual = {"description": None, "port": 80, "ids": ["a", "b"], "tags": {"Env": "prod"}, "flag": False}
    assert diff(compared, expected, actual) == []
    actual2 = {**actual, "tags": {"Env": "dev", "Extra": "1"}, "ids": ["a"]}
    assert diff(compared, expected, actual2) == [
        {"path": "ids", "expected": ["a", "b"], "actual": ["a"]},
        {"path": "tags.Env", "expected": "prod", "actual": "dev"},
        {"path": "tags.Extra", "expected": None, "actual": "1"}]


def test_unreported_live_values_and_unrecorded_state_values_are_not_drift() -> None:
    assert diff({"a": "scalar", "b": "scalar"}, {"a": "x"}, {"a": None, "b": "y"}) == []


def test_policy_diff_paths() -> None:
    e = '{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}'
    a = '{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
    assert diff({"policy": "json"}, {"policy": e}, {"policy": a}) == [
        {"path": "policy.Statement[0].Action", "expected": ["s3:GetObject"], "actual": ["*"]}]


def test_security_group_rule_atoms_from_every_form() -> None:
    api = [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            "UserIdGroupPairs": [{"GroupId": "sg-1"}, {"GroupId": "sg-2"}]},
           {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.0.0.0/8"}], "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}]
    assert from_api(api, "sg-1") == ["all 0-0 10.0.0.0/8", "all 0-0 ::/0", "tcp 22-22 0.0.0.0/0",
                                     "tcp 22-22 self", "tcp 22-22 sg-2"]
    inline = [{"protocol": "6", "from_port": 22, "to_port": 22, "cidr_blocks": ["0.0.0.0/0"],
               "security_groups": ["111122223333/sg-2"], "self": True}]
    assert from_inline(inline, "sg-1") == ["tcp 22-22 0.0.0.0/0", "tcp 22-22 self", "tcp 22-22 sg-2"]
    assert from_rule_resource("aws_vpc_security_group_ingress_rule", {
        "security_group_id": "sg-1", "ip_protocol": "tcp", "from_port": 5432, "to_port": 5432,
        "cidr_ipv4": "10.1.0.0/16"}) == ("sg-1", "ingress", ["tcp 5432-5432 10.1.0.0/16"])


def test_instance_transform_from_literal_api_item() -> None:
    item = {"InstanceId": "i-1", "InstanceType": "t3.micro", "ImageId": "ami-1", "SubnetId": "subnet-1",
            "SecurityGroups": [{"GroupId": "sg-2"}, {"GroupId": "sg-1"}], "OwnerId": "444455556666",
            "Tags": [{"Key": "Name", "Value": "web"}, {"Key": "aws:autoscaling:groupName", "Value": "asg"}]}
    [attrs] = SPECS["aws_instance"].transform(item, CTX)
    assert attrs["arn"] == "arn:aws:ec2:eu-west-1:444455556666:instance/i-1"
    assert attrs["vpc_security_group_ids"] == ["sg-1", "sg-2"]
    assert attrs["tags"] == {"Name": "web"}


def test_kms_key_pending_deletion_counts_as_gone_and_sqs_matches_by_name() -> None:
    assert SPECS["aws_kms_key"].transform({"KeyId": "k", "KeyState": "PendingDeletion"}, CTX) == []
    spec = SPECS["aws_sqs_queue"]
    [live] = spec.transform({"QueueUrl": "https://sqs.eu-west-1.amazonaws.com/1/jobs", "Attributes": {}}, CTX)
    assert spec.key(live) == spec.key({"id": "http://localhost:4566/000000000000/jobs"}) == "jobs"
