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
