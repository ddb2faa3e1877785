"""The AWS kind declarations: complete, consistent with the vocabulary and the scanner, and the kind
table of docs/skygraph.md generated from them (regenerate: ``python -m airdig.skygraph.aws.catalog``)."""

from __future__ import annotations

from airdig.model.kinds import EDGE_TYPES, NODE_KINDS
from airdig.skygraph.aws import SERVICE_NAMES
from airdig.skygraph.aws.catalog import DOC, SPECS, all_specs, render_markdown, with_table


def test_the_doc_table_is_generated_from_the_declarations() -> None:
    doc = DOC.read_text(encoding="utf-8")
    assert render_markdown() in doc, "docs/skygraph.md is stale: run python -m airdig.skygraph.aws.catalog"
    assert with_table(doc) == doc


def test_every_scanner_service_declares_its_kinds_and_every_kind_is_in_the_vocabulary() -> None:
    assert list(SPECS) == list(SERVICE_NAMES)
    kinds = [k.kind for _, k in all_specs()]
    assert len(kinds) == len(set(kinds)), "a kind is declared by two services"
    assert len(kinds) >= 60
    assert [k for k in kinds if k not in NODE_KINDS] == []
    for _, k in all_specs():
        assert k.calls, k.kind
        for e in k.edges:
            assert e.type in EDGE_TYPES, e
            assert e.src in NODE_KINDS and e.dst in NODE_KINDS, e
            assert k.kind in (e.src, e.dst) or e.src.startswith("aws."), e
        assert not k.arn or k.arn.startswith("arn:aws:") or k.arn.startswith("the API"), k


def test_a_changed_declaration_makes_the_doc_stale() -> None:
    doc = DOC.read_text(encoding="utf-8")
    spec = SPECS["ecr"][0]
    original = SPECS["ecr"]
    try:
        SPECS["ecr"] = (type(spec)(spec.kind, (*spec.calls, "ecr:DescribeImages"), spec.edges, spec.arn, spec.natives),)
        assert render_markdown() not in doc
    finally:
        SPECS["ecr"] = original
