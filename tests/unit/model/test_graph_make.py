"""``make_node``/``make_edge`` build what the dataclass constructors build, and follow their fields."""

from __future__ import annotations

import dataclasses
import gc
import pickle

import pytest

from airdig.model.graph import Drift, Edge, Health, Node, make_edge, make_node

pytestmark = pytest.mark.filterwarnings("error")


def test_make_node_equals_the_constructor_field_by_field() -> None:
    attrs, tags = {"State": {"Name": "running"}}, {"Name": "web"}
    fast = make_node("arn:aws:ec2:us-east-1:1:instance/i-1", "aws.ec2.instance", "aws", "1", "us-east-1", "web",
                     attrs, tags, ("i-1", "10.0.0.1"))
    slow = Node(id="arn:aws:ec2:us-east-1:1:instance/i-1", kind="aws.ec2.instance", provider="aws", account="1",
                region="us-east-1", name="web", attrs=attrs, tags=tags, native_ids=("i-1", "10.0.0.1"))
    assert fast == slow
    for f in dataclasses.fields(Node):  # same values, the very default objects included
        assert getattr(fast, f.name) == getattr(slow, f.name), f.name
    assert fast.health is slow.health and fast.drift is slow.drift
    assert fast.attrs is attrs and fast.tags is tags  # taken as given, like the constructor
    assert fast.health == Health() and fast.drift == Drift()
    assert list(vars(fast)) == [f.name for f in dataclasses.fields(Node)]  # every field, in order
    # stored like the constructor stores them (inline values, no separate __dict__ object per instance)
    assert {type(r) for r in gc.get_referents(make_node("a", "k", "", "", "", "", {}, {}, ()))} == {
        type(r) for r in gc.get_referents(Node(id="a", kind="k"))}
    assert dataclasses.replace(fast, name="x") == dataclasses.replace(slow, name="x")
    assert pickle.loads(pickle.dumps(fast)) == slow
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.name = "changed"  # type: ignore[misc]


def test_make_edge_equals_the_constructor() -> None:
    assert make_edge("a", "b", "network") == Edge("a", "b", "network")
    e1, e2 = make_edge("a", "b", "network"), make_edge("a", "b", "network")
    assert e1.attrs == {} and e1.attrs is not e2.attrs  # a fresh dict each, like default_factory
    attrs = {"port": 443}
    e = make_edge("a", "b", "network", attrs)
    assert e == Edge("a", "b", "network", attrs) and e.attrs is attrs and e.key == ("a", "network", "b")
    assert list(vars(e)) == [f.name for f in dataclasses.fields(Edge)]
    assert sorted(type(r).__name__ for r in gc.get_referents(make_edge("a", "b", "t"))) == sorted(
        type(r).__name__ for r in gc.get_referents(Edge("a", "b", "t")))
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.src = "c"  # type: ignore[misc]
