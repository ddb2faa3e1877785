"""The docs are part of the product: these tests fail when a setting, command, API field, topic, event
type, metric or REST route is added without being documented."""

from __future__ import annotations

import re
from pathlib import Path

import click

from airdig.cli.main import cli
from airdig.engine.api.graphql.schema import build_schema
from airdig.engine.api.rest.openapi import openapi_document
from airdig.engine.metrics import EngineMetrics
from airdig.model.events import EVENT_TYPES, TOPICS
from airdig.settings import SETTINGS

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.md")}
ALL_DOCS = README + "\n".join(DOCS.values())


def command_paths(group: click.Group, prefix: str = "airdig") -> list[str]:
    out = []
    for name, cmd in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        if isinstance(cmd, click.Group):
            out += command_paths(cmd, path)
        else:
            out.append(path)
    return out


def test_every_setting_is_in_the_readme_table() -> None:
    missing = [s.env for s in SETTINGS if f"`{s.env}`" not in README]
    assert not missing, f"settings missing from README's configuration table: {missing}"


def test_every_environment_variable_the_code_reads_is_documented() -> None:
    names = set()
    for path in (ROOT / "airdig").rglob("*.py"):
        names |= set(re.findall(r"AIRDIG_[A-Z][A-Z0-9_]*[A-Z0-9]", path.read_text(encoding="utf-8")))
    missing = sorted(n for n in names if n not in ALL_DOCS)
    assert not missing, f"environment variables read by the code but documented nowhere: {missing}"


def test_every_command_is_documented() -> None:
    paths = command_paths(cli)
    assert "airdig skygraph scan" in paths and "airdig up" in paths
    missing = [p for p in paths if p not in ALL_DOCS]
    assert not missing, f"commands missing from README/docs: {missing}"
    top = [f"airdig {name}" for name in cli.commands]
    assert not [t for t in top if t not in README], "every command group is listed in the README"


def test_every_graphql_root_field_is_documented() -> None:
    schema = build_schema()
    gql = schema._schema  # graphql-core schema: the camelCase names clients use
    fields = []
    for root in (gql.query_type, gql.mutation_type, gql.subscription_type):
        if root is not None:
            fields += list(root.fields)
    engine_docs = DOCS["engine.md"] + DOCS.get("engine-auth-alerts.md", "")
    missing = [f for f in fields if f"`{f}" not in engine_docs]
    assert not missing, f"GraphQL root fields missing from docs/engine.md: {missing}"


def test_every_rest_route_is_documented() -> None:
    missing = [path for path in openapi_document()["paths"] if path.split("{")[0].rstrip("/") not in DOCS["engine.md"]]
    assert not missing, f"REST routes missing from docs/engine.md: {missing}"


def test_every_topic_and_event_type_is_documented() -> None:
    missing = [t for t in [*TOPICS, *EVENT_TYPES] if f"`{t}`" not in DOCS["events.md"]]
    assert not missing, f"topics/event types missing from docs/events.md: {missing}"


def test_every_engine_metric_is_documented() -> None:
    names = {m.name for m in EngineMetrics().registry.collect()}
    # prometheus_client reports counters without their _total suffix
    missing = [n for n in names if n not in DOCS["engine.md"]]
    assert not missing, f"metrics missing from docs/engine.md: {missing}"
