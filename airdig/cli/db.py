"""``airdig db``: schema management of the store."""

from __future__ import annotations

import click

from airdig.cli.common import cli_context, handle_errors, settings_options
from airdig.errors import ConfigError


@click.group()
def db() -> None:
    """Manage the graph store (SQLite embedded, TiDB/MySQL at scale)."""


@db.command()
@click.option("--dry-run", is_flag=True, help="Print the SQL the pending migrations would run; change nothing.")
@settings_options
@handle_errors
def migrate(dry_run: bool) -> None:
    """Create or upgrade the store's tables in place (safe to run again, and from several replicas).

    Refuses a database that a newer AirDig release already migrated."""
    from airdig.backends.registry import open_store

    store = open_store(cli_context().settings.database_url)
    try:
        applied = store.migrate(dry_run=dry_run)
    finally:
        store.close()
    if dry_run:
        for line in applied:
            click.echo(line if line.startswith("--") else f"{line};")
        if not applied:
            click.echo("-- schema is up to date: nothing to run")
        return
    if applied:
        for line in applied:
            click.echo(f"applied migration {line}")
    else:
        click.echo("schema is up to date")


@db.command()
@click.option("--dry-run", is_flag=True, help="Count what would be rolled up or deleted; change nothing.")
@settings_options
@handle_errors
def prune(dry_run: bool) -> None:
    """Enforce AIRDIG_RETENTION: roll minute call statistics up to hours, delete what is older than kept.

    Works in chunks of 5,000 rows, one transaction each: safe to interrupt and run again. Run it from
    one place at a time (a daily CronJob), not from every replica.
    """
    import time

    from airdig.backends.registry import open_store
    from airdig.engine.retention import RetentionPolicy
    from airdig.engine.retention import prune as run_prune

    settings = cli_context().settings
    policy = RetentionPolicy.parse(settings.retention)
    store = open_store(settings.database_url)
    try:
        done = run_prune(store, policy, time.time(), dry_run=dry_run)
    finally:
        store.close()
    verb = "would affect" if dry_run else "affected"
    for step, rows in done.items():
        click.echo(f"{step}: {verb} {rows} rows")


@db.command()
@settings_options
@handle_errors
def status() -> None:
    """Show the store's schema version, the newest this release knows, and pending migrations."""
    from airdig.backends.registry import open_store

    store = open_store(cli_context().settings.database_url)
    try:
        st = store.schema_status()
    finally:
        store.close()
    click.echo(f"schema version {st['version']} (this release knows up to {st['head']})")
    for line in st["pending"]:
        click.echo(f"pending migration {line}")
    if st["too_new"]:
        raise ConfigError("AIRDIG_DATABASE_URL", st["too_new"])
    if not st["pending"]:
        click.echo("schema is up to date")
