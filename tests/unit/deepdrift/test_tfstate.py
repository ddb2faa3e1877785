from __future__ import annotations

import glob
import json
from pathlib import Path

import pytest

from airdig.deepdrift.tfstate import load_states, parse_state
from airdig.errors import InvalidInput
from airdig.model.redact import REDACTED

CORPUS = sorted(glob.glob("/work/shared/corpus/tfstate/driftctl/*"))


def _state(resources: list[dict[str, object]], version: int = 4) -> bytes:
    return json.dumps({"version": version, "serial": 3, "lineage": "x", "resources": resources}).encode()


def test_modules_index_keys_and_data_sources() -> None:
    raw = _state([
        {"mode": "data", "type": "aws_ami", "name": "ubuntu", "instances": [{"attributes": {"id": "ami-1"}}]},
        {"module": "module.net", "mode": "managed", "type": "aws_subnet", "name": "s", "provider": "p",
         "instances": [{"index_key": "a", "attributes": {"id": "subnet-a"}},
                       {"index_key": 1, "attributes": {"id": "subnet-1"}}]},
        {"mode": "managed", "type": "aws_vpc", "name": "main", "instances": [{"attributes": {"id": "vpc-1"}}]},
    ])
    state = parse_state(raw, "s.tfstate")
    assert [(r.address, r.id) for r in state.resources] == [
        ('module.net.aws_subnet.s["a"]', "subnet-a"), ("module.net.aws_subnet.s[1]", "subnet-1"),
        ("aws_vpc.main", "vpc-1")]


def test_sensitive_attributes_are_redacted_at_load() -> None:
    raw = _state([{"mode": "managed", "type": "aws_db_instance", "name": "db", "instances": [{
        "attributes": {"id": "db", "password": "pw-123", "nested": [{"v": "x"}], "note": "keep"},
        "sensitive_attributes": [[{"type": "get_attr", "value": "password"}],
                                 [{"type": "get_attr", "value": "nested"},
                                  {"type": "index", "value": {"value": 0, "type": "number"}}]]}]}])
    res = parse_state(raw, "db.tfstate").resources[0]
    assert res.attributes == {"id": "db", "password": REDACTED, "nested": [REDACTED], "note": "keep"}
    assert res.sensitive_paths == (("password",), ("nested", 0))


@pytest.mark.parametrize(("raw", "message"), [
    (b"", "the state file is empty"),
    (b'{"version": 4, "resources": [', "not valid JSON"),
    (b'{"version": 3, "modules": []}', "state format version 3 is not supported"),
    (b'{"version": 5}', "unsupported state format version 5"),
    (b"[]", "must be a JSON object"),
    (b'{"version": 4, "resources": {}}', "'resources' must be a list"),
    (b'{"version": 4, "resources": [{"mode": "managed", "type": "aws_vpc", "name": "x", "instances": [{}]}]}',
     "'attributes' must be an object"),
])
def test_rejections_name_file_and_problem(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_state(raw, "envs/prod.tfstate")
    assert str(exc.value).startswith("envs/prod.tfstate: ")
    assert message in str(exc.value)


def test_load_states_keeps_going_after_a_bad_file(tmp_path: Path) -> None:
    (tmp_path / "a.tfstate").write_bytes(_state([]))
    (tmp_path / "b.tfstate").write_text("{")
    states, errors = load_states([str(tmp_path / "*.tfstate"), str(tmp_path / "missing.tfstate"),
                                  str(tmp_path / "none-*.x")])
    assert [s.source for s in states] == [str(tmp_path / "a.tfstate")]
    assert sorted(e.source for e in errors) == sorted([str(tmp_path / "b.tfstate"), str(tmp_path / "missing.tfstate"),
                                                       str(tmp_path / "none-*.x")])


def test_whole_driftctl_corpus_parses_or_is_rejected_cleanly() -> None:
    assert len(CORPUS) >= 150
    parsed = rejected = 0
    for path in CORPUS:
        with open(path, "rb") as fh:
            raw = fh.read()
        try:
            state = parse_state(raw, path)
        except InvalidInput as exc:
            assert exc.source == path
            rejected += 1
            continue
        parsed += 1
        for r in state.resources:
            assert r.address.endswith(r.name) or r.address.endswith("]")
    assert parsed >= 140 and rejected >= 1
