from __future__ import annotations

from pathlib import Path

import pytest

from airdig.errors import InvalidInput
from airdig.model.graph import Edge, Node
from airdig.skygraph.graph import ScopeGraph
from airdig.skygraph.graph_state import GraphState, ScopeBusy


def test_save_load_roundtrip_per_scope(tmp_path: Path) -> None:
    st = GraphState(tmp_path)
    n = Node(id="arn:x", kind="aws.sqs.queue", provider="aws", account="1", region="r", name="q",
             attrs={"a": [1, {"b": None}]}, tags={"t": "v"}, native_ids=("q",))
    st.save("sqs/r", ScopeGraph({n.id: n}, {("arn:x", "depends_on", "arn:y"): Edge("arn:x", "arn:y", "depends_on")}))
    assert st.load("sqs/r") == ScopeGraph({n.id: n}, {("arn:x", "depends_on", "arn:y"): Edge("arn:x", "arn:y", "depends_on")})
    assert st.load("sqs/other") is None
    assert set(st.load_all()) == {"sqs/r"}


def test_a_scope_cannot_be_locked_twice(tmp_path: Path) -> None:
    st = GraphState(tmp_path)
    with st.lock("ec2/us-east-1"):
        with pytest.raises(ScopeBusy), st.lock("ec2/us-east-1"):
            pass
        with st.lock("ec2/eu-west-1"):
            pass
    with st.lock("ec2/us-east-1"):
        pass


def test_a_corrupt_state_file_is_reported(tmp_path: Path) -> None:
    st = GraphState(tmp_path)
    st.save("s/r", ScopeGraph())
    next(st.state_dir.glob("*.json")).write_text("{not json")
    with pytest.raises(InvalidInput, match="delete the file"):
        st.load_all()


def test_the_saved_state_remembers_when_the_scope_was_read(tmp_path: Path) -> None:
    st = GraphState(tmp_path)
    st.save("s/r", ScopeGraph(observed_at=1234.5))
    loaded = st.load("s/r")
    assert loaded is not None and loaded.observed_at == 1234.5
    st.save("s/q", ScopeGraph())  # not told: the time it was saved
    later = st.load("s/q")
    assert later is not None and later.observed_at is not None and later.observed_at > 1234.5
