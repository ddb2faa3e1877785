from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from airdig.model.graph import Edge, Node
from airdig.skygraph.aws.common import tag_list
from airdig.skygraph.graph import Fragment, NativeIndex, resolve


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


class _OldIndex:
    """The native-id index as it was before the one-dict rewrite (issue 14 item 4): a set of node ids
    tried first, then a native-id map where a second claimant makes the id ambiguous."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.natives: dict[str, str] = {}

    def add(self, node_id: str, natives: tuple[str, ...]) -> None:
        self.ids.add(node_id)
        for n in natives:
            if not n or n == node_id:
                continue
            prev = self.natives.get(n)
            if prev is None:
                self.natives[n] = node_id
            elif prev != node_id:
                self.natives[n] = ""

    def resolve(self, ref: str) -> str | None:
        return ref if ref in self.ids else (self.natives.get(ref) or None)


_names = st.sampled_from(["a", "b", "c", "i-1", "10.0.0.1", "x", ""])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_names, st.lists(_names, max_size=4).map(tuple)), max_size=8))
def test_native_index_answers_what_the_two_map_index_answered(adds: list[tuple[str, tuple[str, ...]]]) -> None:
    """Node ids win over natives whatever the order, repeated natives of one node stay its own,
    a second claimant makes a native ambiguous, an empty id is an id."""
    old, new = _OldIndex(), NativeIndex()
    for node_id, natives in adds:
        old.add(node_id, natives)
        new.add(node_id, natives)
    for ref in ["a", "b", "c", "i-1", "10.0.0.1", "x", "", "unknown"]:
        assert new.resolve(ref) == old.resolve(ref), ref


def test_links_are_plain_edges_each_with_its_own_attrs() -> None:
    f = Fragment("ec2/r")
    f.link("a", "network", "b")
    f.link("a", "contains", "c")
    f.link("a", "network", "a")  # a self-reference is no edge
    assert f.edges == [Edge("a", "b", "network"), Edge("a", "c", "contains")]
    assert f.edges[0].attrs == {} and f.edges[0].attrs is not f.edges[1].attrs


def test_tag_list_shapes() -> None:
    assert tag_list(None) == {} and tag_list([]) == {}
    assert tag_list([{"Key": "Name", "Value": "web"}, {"key": "team", "value": "orders"}, {"Key": "n", "Value": 5},
                     {"Key": None}, {"Value": "x"}, {"Key": "Name", "Value": "last wins"}]) == {
        "Name": "last wins", "team": "orders", "n": "5", "None": "", "": "x"}
