from __future__ import annotations

from pathlib import Path

import orjson

from airdig.model.ids import terraform_id
from airdig.skygraph.aws.common import Where
from airdig.skygraph.aws.ec2 import transform_ec2
from airdig.skygraph.aws.elbv2 import transform_elbv2
from airdig.skygraph.graph import resolve
from airdig.skygraph.terraform import read_state_resources, transform_state

DATA = Path(__file__).resolve().parents[2] / "data" / "skygraph"
W = Where("123456789012", "us-east-1")


def test_read_state_resources_keeps_managed_resources_with_full_addresses() -> None:
    res = read_state_resources(str(DATA / "terraform.tfstate"))
    assert [(a, t) for a, t, _ in res] == [
        ("aws_instance.node", "aws_instance"), ("module.edge.aws_lb.ingress", "aws_lb"),
        ("aws_ebs_volume.data[0]", "aws_ebs_volume"), ("aws_security_group_rule.https", "aws_security_group_rule")]


def test_manages_edges_point_at_the_scanned_nodes() -> None:
    aws = [transform_ec2(orjson.loads((DATA / "aws" / "ec2.json").read_bytes()), W, "ec2/us-east-1"),
           transform_elbv2(orjson.loads((DATA / "aws" / "elbv2.json").read_bytes()), W, "elbv2/us-east-1")]
    path = str(DATA / "terraform.tfstate")
    tf = transform_state(read_state_resources(path), path)
    graph = resolve([*aws, tf])
    manages = {e.key for e in graph.edges() if e.type == "manages"}
    assert manages == {
        (terraform_id("aws_instance.node"), "manages", W.arn("aws.ec2.instance", "i-0a1b2c3d4e5f60718")),
        (terraform_id("module.edge.aws_lb.ingress"), "manages",
         "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/k8s-shop-shop-0a1b2c3d4e/987654321"),
        (terraform_id("aws_ebs_volume.data[0]"), "manages", W.arn("aws.ec2.volume", "vol-0f1e2d3c4b5a69788")),
    }  # the security group rule is not a node of its own: no edge


def test_real_driftctl_states_are_read() -> None:
    corpus = Path("/work/shared/corpus/tfstate/driftctl/test__aws_instance.tfstate")
    if not corpus.exists():
        return
    res = read_state_resources(str(corpus))
    frag = transform_state(res, str(corpus))
    assert len(frag.nodes) == len(res) > 0
    assert all(n.kind == "terraform.resource" for n in frag.nodes)


def test_a_state_url_with_credentials_names_its_scope_without_the_password() -> None:
    from airdig.skygraph.terraform import scope_of

    assert scope_of("https://ci:hunter2@state.example/prod.tfstate") == "terraform/https://ci:***@state.example/prod.tfstate"
    assert scope_of("envs/prod/terraform.tfstate") == "terraform/envs/prod/terraform.tfstate"
