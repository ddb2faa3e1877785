"""``airdig db``: schema management of the store."""

from __future__ import annotations

import click

from airdig.cli.common import cli_context, handle_errors, settings_options


@click.group()
def db() -> None:
    """Manage the graph store (SQLite embedded, TiDB/MySQL at scale)."""


@db.command()
@settings_options
@handle_errors
def migrate() -> None:
    """Create or upgrade the store's tables (safe to run again, and from several replicas)."""
    from airdig.backends.registry import open_store

    store = open_store(cli_context().settings.database_url)
    try:
        applied = store.migrate()
    finally:
        store.close()
    if applied:
        for line in applied:
            click.echo(f"applied migration {line}")
    else:
        click.echo("schema is up to date")
