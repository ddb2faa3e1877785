from __future__ import annotations

import json
from pathlib import Path

import pytest

from airdig.deepdrift.ignore import IgnoreRules
from airdig.deepdrift.impact import Graph
from airdig.errors import InvalidInput, NotFound

GRAPH = {
    "nodes": [
        {"id": "vpc", "kind": "aws.ec2.vpc", "name": "main"},
        {"id": "subnet", "kind": "aws.ec2.subnet"},
        {"id": "sg", "kind": "aws.ec2.security-group", "native_ids": ["sg-0abc"]},
        {"id": "inst", "kind": "aws.ec2.instance"},
        {"id": "db", "kind": "aws.rds.instance"},
        {"id": "svc", "kind": "service"},
        {"id": "caller", "kind": "service"},
        {"id": "tf", "kind": "terraform.resource"},
    ],
    "edges": [
        {"src": "vpc", "dst": "subnet", "type": "contains"},
        {"src": "subnet", "dst": "inst", "type": "network"},
        {"src": "sg", "dst": "inst", "type": "network"},
        {"src": "inst", "dst": "db", "type": "depends_on"},
        {"src": "svc", "dst": "inst", "type": "runs_on"},
        {"src": "caller", "dst": "svc", "type": "calls"},
        {"src": "tf", "dst": "inst", "type": "manages"},
    ],
}


def test_bfs_follows_declared_propagation(tmp_path: Path) -> None:
    path = tmp_path / "g.json"
    path.write_text(json.dumps(GRAPH))
    g = Graph.load(str(path))
    hits = {(h["id"], h["distance"], tuple(h["path"])) for h in g.impact("sg-0abc", hops=3)}
    assert hits == {("inst", 1, ("sg", "inst")), ("svc", 2, ("sg", "inst", "svc")),
                    ("caller", 3, ("sg", "inst", "svc", "caller"))}
    assert {h["id"] for h in g.impact("db", hops=3)} == {"inst", "svc", "caller"}
    assert {h["id"] for h in g.impact("main", hops=1)} == {"subnet"}
    assert g.radius("vpc") == 3 and g.radius("unknown") == 0
    with pytest.raises(NotFound):
        g.impact("nope")


def test_bad_graph_file(tmp_path: Path) -> None:
    path = tmp_path / "g.json"
    path.write_text('{"nodes": []}')
    with pytest.raises(InvalidInput, match="skygraph scan --output"):
        Graph.load(str(path))


def _drift(kind: str = "changed") -> dict[str, object]:
    return {"terraform_address": 'module.net.aws_subnet.this["a"]', "resource_type": "aws_subnet",
            "resource_id": "arn:x", "kind": kind,
            "diffs": [{"path": "tags.Tier", "expected": "a", "actual": "b"},
                      {"path": "cidr_block", "expected": "x", "actual": "y"}]}


def test_ignore_rules(tmp_path: Path) -> None:
    assert IgnoreRules(["module.net.*"]).filter(_drift(), "subnet-1") is None
    assert IgnoreRules(["aws_subnet.subnet-1"]).filter(_drift(), "subnet-1") is None
    kept = IgnoreRules(["*.tags.*"]).filter(_drift(), "subnet-1")
    assert kept is not None and [d["path"] for d in kept["diffs"]] == ["cidr_block"]  # type: ignore[index]
    assert IgnoreRules(["aws_*", "!aws_subnet.*"]).filter(_drift(), "subnet-1") is not None
    f = tmp_path / ".driftignore"
    f.write_text("# comment\n\naws_subnet.subnet-1.cidr_block\n*.tags.Tier\n")
    assert IgnoreRules.from_file(str(f)).filter(_drift(), "subnet-1") is None
    with pytest.raises(InvalidInput):
        IgnoreRules.from_file(str(tmp_path / "missing"))
