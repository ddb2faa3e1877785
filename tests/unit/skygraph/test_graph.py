from __future__ import annotations

from airdig.model.graph import Edge, Node
from airdig.skygraph.graph import Fragment, resolve


def _n(id_: str, *natives: str, kind: str = "aws.ec2.instance") -> Node:
    return Node(id=id_, kind=kind, provider="aws", native_ids=natives)


def test_references_resolve_through_native_ids_and_unknown_ones_are_dropped() -> None:
    f = Fragment("ec2/r")
    f.add(_n("arn:vpc", "vpc-1", kind="aws.ec2.vpc"))
    f.add(_n("arn:subnet", "subnet-1", kind="aws.ec2.subnet"))
    f.link("vpc-1", "contains", "subnet-1")
    f.link("arn:subnet", "network", "i-unknown")
    f.link("vpc-1", "contains", None)  # absent optional link: nothing recorded
    g = resolve([f])
    assert {e.key for e in g.edges()} == {("arn:vpc", "contains", "arn:subnet")}
    assert g.unresolved == 1


def test_ambiguous_native_ids_resolve_to_nothing() -> None:
    f = Fragment("ec2/r")
    f.add(_n("arn:a", "10.0.0.1"))
    f.add(_n("arn:b", "10.0.0.1"))
    f.add(_n("arn:sg", "sg-1", kind="aws.ec2.security-group"))
    f.edges.append(Edge("sg-1", "10.0.0.1", "network"))
    assert list(resolve([f]).edges()) == []


def test_known_nodes_of_other_scopes_resolve_cross_layer_references() -> None:
    k8s = Fragment("k8s.node/prod")
    k8s.add(Node(id="k8s://prod/_/node/n1", kind="k8s.node"))
    k8s.link("k8s://prod/_/node/n1", "runs_on", "i-0abc")
    g = resolve([k8s], known={"ec2/us-east-1": [_n("arn:aws:ec2:us-east-1:1:instance/i-0abc", "i-0abc")]})
    assert {e.key for e in g.edges()} == {("k8s://prod/_/node/n1", "runs_on", "arn:aws:ec2:us-east-1:1:instance/i-0abc")}
    # the output contract only holds edges whose both ends are in the scanned graph
    assert g.to_json()["edges"] == []


def test_every_added_node_is_redacted_before_anything_can_publish_it() -> None:
    from airdig.skygraph.aws.common import Where
    from airdig.skygraph.aws.lambda_ import transform_lambda

    raw = {"Functions": [{"FunctionArn": "arn:aws:lambda:us-east-1:1:function:f", "FunctionName": "f",
                          "Environment": {"Variables": {"DB_PASSWORD": "pw-1x", "QUEUE": "jobs",
                                                        "DB_URL": "postgres://app:pw-2y@db:5432/x"}}}],
           "Tags": {"arn:aws:lambda:us-east-1:1:function:f": {"deploy_token": "pw-3z", "team": "a"}}}
    (node,) = transform_lambda(raw, Where("1", "us-east-1"), "lambda/us-east-1").nodes
    assert node.attrs["Environment"]["Variables"] == {"DB_PASSWORD": "(sensitive)", "QUEUE": "jobs",
                                                      "DB_URL": "postgres://app:***@db:5432/x"}
    assert node.tags == {"deploy_token": "(sensitive)", "team": "a"}
    clean = _n("arn:vpc", "vpc-1", kind="aws.ec2.vpc")
    assert Fragment("ec2/r").add(clean) is clean  # nothing to hide: the node is kept as it is
