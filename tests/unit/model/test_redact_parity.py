"""The faster redaction walks (issue 14 item 4) must give exactly the results of the one they replaced.

``redact_reference.py`` next to this file is the pre-speed-up module, kept verbatim. Every JSON document
and Terraform state in tests/data and the shared corpus (/work/shared/corpus, real driftctl states),
each of their sub-values, the same values with secrets planted in them (property style, hypothesis) and
the Terraform ``sensitive_attributes`` paths go through both; any difference fails with the value.
Every test runs twice (the ``walk`` fixture of conftest.py): with the pure-Python walk and with the
compiled one (``Redactor``, native/tracecore/src/redact.rs); the last tests compare those two directly,
copy on write included, on the corpus and on the odd values JSON never holds.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airdig.model import redact as new

pytestmark = pytest.mark.usefixtures("walk")

_spec = importlib.util.spec_from_file_location("redact_reference", Path(__file__).with_name("redact_reference.py"))
assert _spec is not None and _spec.loader is not None
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)

ROOT = Path(__file__).resolve().parents[3]
CORPUS = Path(os.environ.get("AIRDIG_CORPUS", "/work/shared/corpus"))


def _documents() -> list[tuple[str, Any]]:
    docs: list[tuple[str, Any]] = []
    files = sorted((ROOT / "tests" / "data").rglob("*.json")) + sorted((ROOT / "tests" / "data").rglob("*.tfstate"))
    if CORPUS.is_dir():
        files += sorted(CORPUS.rglob("*.tfstate"))
    for f in files:
        try:
            docs.append((str(f), json.loads(f.read_text(encoding="utf-8"))))
        except (ValueError, UnicodeDecodeError):
            continue  # the corpus holds deliberately invalid states
    return docs


DOCS = _documents()


def _subvalues(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for v in value.values():
            yield from _subvalues(v)
    elif isinstance(value, list):
        for v in value:
            yield from _subvalues(v)


def _instances(doc: Any) -> Iterator[tuple[dict[str, Any], list[tuple[str | int, ...]]]]:
    """(attributes, sensitive paths) of every resource instance of a Terraform state."""
    if not isinstance(doc, dict):
        return
    for res in doc.get("resources") or []:
        for inst in (res.get("instances") or []) if isinstance(res, dict) else []:
            if isinstance(inst, dict) and isinstance(inst.get("attributes"), dict):
                paths: list[tuple[str | int, ...]] = []
                for p in inst.get("sensitive_attributes") or []:
                    if isinstance(p, list):
                        paths.append(tuple(s["value"] for s in p if isinstance(s, dict) and "value" in s))
                yield inst["attributes"], paths


def test_corpus_is_there() -> None:
    """The parity below means little without data: the repository's own files at least."""
    assert len(DOCS) >= 20
    if CORPUS.is_dir():
        assert sum(1 for name, _ in DOCS if name.startswith(str(CORPUS))) >= 100


@pytest.mark.parametrize("name", [n for n, _ in DOCS], ids=lambda n: n.rsplit("/", 1)[-1])
def test_same_result_for_every_subvalue(name: str) -> None:
    doc = dict(DOCS)[name]
    for v in _subvalues(doc):
        assert new.redact(v) == ref.redact(v), v
        if isinstance(v, str):
            assert new.redact_text(v) == ref.redact_text(v), v
        if isinstance(v, dict) and all(isinstance(x, str) for x in v.values()):
            assert new.redact_tags(v) == ref.redact_tags(v), v
    for attrs, paths in _instances(doc):
        assert new.redact(attrs, paths) == ref.redact(attrs, paths), attrs


@pytest.mark.parametrize("name", [n for n, _ in DOCS], ids=lambda n: n.rsplit("/", 1)[-1])
def test_node_parts_are_name_attrs_and_tags_redacted(name: str) -> None:
    """``redact_node_parts`` (SkyGraph's Fragment.add) is the three reference calls, on every string
    (as a name), dict (as attributes) and string-valued dict (as tags) of the document."""
    subs = list(_subvalues(dict(DOCS)[name]))
    names = [v for v in subs if isinstance(v, str)] or [""]
    tags = [v for v in subs if isinstance(v, dict) and all(isinstance(x, str) for x in v.values())] or [{}]
    for i, attrs in enumerate(v for v in subs if isinstance(v, dict)):
        n, t = names[i % len(names)], tags[i % len(tags)]
        got = new.redact_node_parts(n, attrs, t)
        assert got == (ref.redact_text(n), ref.redact(attrs), ref.redact_tags(t)), (n, attrs, t)
        # copy on write: each part is the very input when nothing in it changed
        assert [g is x for g, x in zip(got, (n, attrs, t), strict=True)] == [
            g is x for g, x in zip(new._node_parts_python(n, attrs, t), (n, attrs, t), strict=True)]


def test_unchanged_parts_are_shared_and_input_untouched() -> None:
    """Copy on write stays: a clean value is returned as it is, a redacted one is a new object."""
    for _, doc in DOCS:
        before = json.dumps(doc, sort_keys=True)
        out = new.redact(doc)
        assert json.dumps(doc, sort_keys=True) == before
        if out == doc:
            assert out is doc


_SECRETS = ["hunter2hunter2", "postgres://app:s3cr3t@db:5432/x", "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "Bearer abcdefghijklmnop",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.sig", "--db-password", "password=letmein",
            "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----", "", "short", "a" * 40]
_KEYS = ["password", "DB_PASSWORD", "name", "Name", "Key", "value", "Value", "user_data", "UserData",
         "secret_arn", "clientSecret", "token", "args", "env", "tags", "id", "description"]

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from(_SECRETS) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=12), children, max_size=6),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_json)
def test_same_result_on_generated_values(value: Any) -> None:
    assert new.redact(value) == ref.redact(value)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(DOCS))), st.sampled_from(_SECRETS), st.sampled_from(_KEYS), st.randoms())
def test_same_result_with_a_secret_planted_in_real_data(i: int, secret: str, key: str, rnd: Any) -> None:
    """A real document with one secret (by key or by shape) put into a random dict or list of it."""
    doc = json.loads(json.dumps(DOCS[i][1]))
    holders = [v for v in _subvalues(doc) if isinstance(v, dict | list)]
    if not holders:
        return
    h = rnd.choice(holders)
    if isinstance(h, dict):
        h[key] = secret
    else:
        h.insert(rnd.randrange(len(h) + 1), secret)
    assert new.redact(doc) == ref.redact(doc)


def test_written_out_hint_test_matches_the_hint_list() -> None:
    """``_has_hint`` spells ``_HINTS`` out for speed: every hint must trigger it, and nothing else."""
    for h in new._HINTS:
        assert new._has_hint(h) and new._has_hint(f"xx{h}yy")
    assert not new._has_hint("i-0123456789abcdef0 ip-10-0-0-1.ec2.internal sg-0abc vpc-1 subnet-2 10.0.0.0/16")


@pytest.mark.parametrize("name", [n for n, _ in DOCS], ids=lambda n: n.rsplit("/", 1)[-1])
def test_compiled_walk_is_the_python_walk_copy_on_write_included(name: str, redactor: Any) -> None:
    """Same value, and the same object back exactly where the Python walk hands the input back."""
    walk = redactor.walk
    for v in _subvalues(dict(DOCS)[name]):
        a, b = new._walk_python(v), walk(v)
        assert a == b, v
        assert (a is v) == (b is v), v


class _Str(str):
    """A str subclass: never in JSON, must still be treated like the Python walk treats it."""


_ODD: list[Any] = [
    "\u212aey=abcdefgh",  # KELVIN SIGN lower-cases to an ASCII "k": a hint only Python's lower() finds
    "p\u00e4ssword=geheim123", "caf\u00e9 ordinaire", "\ud800lone surrogate password=x1234567",
    {"password": "\ud800x"}, {"k": "\ud800\udfff-------"}, ["--password", "\ud800abcdefgh"], ["\ud800--x", "v"],
    {1: "postgres://a:b@c/d", None: "x", (1, 2): {"password": "p"}}, {_Str("password"): "p", "v": _Str("")},
    {"value": "s3cr3t-value", "name": _Str("DB_PASSWORD")}, {"Value": "v", "Key": "token", "a": 1, "b": 2, "c": 3},
    {"Value": "v", "Key": "token", "a": 1, "b": 2, "c": 3, "d": 4},  # six keys: not a pair
    [_Str("--db-password"), "s3cr3t-value"], ["-", "x"], ["--token", ""], ["--token", 5], ["--token", ["x"]],
    {"password": 0, "token": 0.0, "secret": [], "api_key": {}, "pwd": False, "auth_string": _Str("")},
    {"user_data": 5, "UserData": ["x"], "userData": "not base64 password=abcdefgh"},
    "x" * 5000 + " password=abcdefgh", "a" * 40, "A1b2" * 10, ["A1b2" * 10, "ok"],
    {"s": 1.5, "t": True, "u": None, "w": b"bytes", "x": ("tuple", "password=abcdefgh")},
]


def _nested(depth: int) -> Any:
    value: Any = {"password": "p", "url": "postgres://a:b@c/d", "ok": "plain-value-here"}
    for i in range(depth):
        value = [value, "--token", "abcdefgh"] if i % 2 else {"k": value, "env": "x" * 9}
    return value


@pytest.mark.parametrize("value", [*_ODD, _nested(5), _nested(199), _nested(201), _nested(600)],
                         ids=lambda v: repr(v)[:40])
def test_compiled_walk_on_values_json_never_holds(value: Any, redactor: Any) -> None:
    """Non-ASCII and lone surrogates, str subclasses, non-string keys, odd types, deep nesting (below
    200 levels the compiled walk hands the subtree to the Python walk)."""
    walk = redactor.walk
    a, b = new._walk_python(value), walk(value)
    assert a == b
    assert (a is value) == (b is value)
    assert new.redact(value) == ref.redact(value)


@pytest.mark.parametrize("tags", [
    {"db_password": "x", "url": "redis://:hunter2@cache:6379", "team": "orders"}, {"token": ""}, {},
    {"Name": "web", "kubernetes.io/cluster/prod": "owned", "api_key": "k"}, {1: "postgres://a:b@c/d"},
    {_Str("password"): "p", "k": _Str("postgres://a:b@c/d")}, {"k\u212aey": "x", "\ud800": "\ud800 password=abcdefgh"},
])
def test_compiled_node_parts_on_odd_tags(tags: Any, redactor: Any) -> None:
    """Odd tags too, a non-string key included (the reference raises TypeError there: so must it)."""
    parts = redactor.parts
    for name in ("web", "postgres://app:pw@db/x", _Str("token abcdefghijkl"), "\u212a" * 9):
        try:
            a = new._node_parts_python(name, {"password": "p"}, tags)
        except TypeError:
            with pytest.raises(TypeError):
                parts(name, {"password": "p"}, tags)
            continue
        b = parts(name, {"password": "p"}, tags)
        assert a == b
        assert [x is y for x, y in zip(a, (name, None, tags), strict=True)] == [
            x is y for x, y in zip(b, (name, None, tags), strict=True)]


@pytest.mark.usefixtures("redactor")
def test_compiled_walk_hands_every_hinted_string_to_the_python_rules() -> None:
    """The one rule written out in Rust is "ASCII, under 40 characters, no hint: unchanged". A string
    holding any hint, in any case and place, must reach ``redact_text``; a plain id must not (the
    fast path is really taken). A spy stands in for ``redact_text``."""
    from airdig_tracecore_native import Redactor

    seen: list[str] = []

    def spy(text: str) -> str:
        seen.append(text)
        return new.redact_text(text)

    clean: set[str] = set()  # strings the rules passed are not asked again: emptied before each call
    r = Redactor(set(), {}, clean, 16, new._PAIR_VALUE_KEYS, new._key_action, spy, new._PAIR_NAMES,
                 new._user_data, new._is_secret_flag, new._walk_python, new.is_secret_key, new.REDACTED)
    for h in new._HINTS:
        for s in (f"xyz{h}abc", f"{h.upper()}12345678", f"1234567{h.title()}", ("q" * 39)[: 39 - len(h)] + h):
            seen.clear()
            for fn, args in ((r.walk, ({"k": s},)), (r.walk, ([s],)), (r.parts, (s, {}, {"t": s}))):
                clean.clear()
                fn(*args)
            assert seen == [s] * 4, (h, s)
    seen.clear()
    r.parts("i-0123456789abcdef0", {"SubnetId": "subnet-0123456789", "Ip": "10.0.12.100"}, {"Name": "web-01-prod"})
    r.walk(["ip-10-0-1-10.ec2.internal", "sg-0a1b2c3d4e5f60003"])
    assert seen == []
    r.walk({"k": "n" * 40, "l": "caf\u00e9 12345678"})  # 40 characters, non-ASCII: the Python rules decide
    assert seen == ["n" * 40, "caf\u00e9 12345678"]


@pytest.mark.usefixtures("redactor")
def test_compiled_walk_hints_are_the_python_hints() -> None:
    """``Redactor`` writes out its clean-string test from ``_HINTS``; a drift disables it (Python walk)."""
    from airdig_tracecore_native import Redactor

    assert list(Redactor.hints()) == list(new._HINTS)


def test_pure_python_when_the_extension_is_absent_or_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRDIG_TRACECORE_NATIVE", "off")
    assert new._native_redactor() is None
    monkeypatch.delenv("AIRDIG_TRACECORE_NATIVE")
    monkeypatch.setitem(__import__("sys").modules, "airdig_tracecore_native", None)  # import fails
    assert new._native_redactor() is None
