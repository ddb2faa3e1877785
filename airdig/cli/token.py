"""``airdig token``: API tokens of the engine (bearer tokens with a role, stored hashed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from airdig.cli.common import (
    cli_context,
    echo_json,
    echo_table,
    fail,
    format_option,
    handle_errors,
    settings_options,
)
from airdig.model.events import to_rfc3339

if TYPE_CHECKING:
    from airdig.engine.auth import TokenService


@click.group()
def token() -> None:
    """Create, list and revoke the engine's API tokens.

    Roles: viewer (read), editor (read + acknowledge/resolve drift), admin (everything). The engine asks
    for a token (`Authorization: Bearer <token>`) unless every listener is bound to loopback.
    """


def _service() -> TokenService:
    from airdig.backends.registry import open_store
    from airdig.engine.auth import TokenService

    store = open_store(cli_context().settings.database_url)
    store.migrate()  # the token table arrives with a migration; creating a token must not need a manual step
    return TokenService(store)


@token.command()
@click.option("--role", type=click.Choice(["viewer", "editor", "admin"]), required=True, help="What the token may do.")
@click.option("--name", required=True, help="Who or what uses the token (shown in `token list` and logs).")
@format_option()
@settings_options
@handle_errors
def create(role: str, name: str, fmt: str) -> None:
    """Create a token and print it once: only its SHA-256 is stored, it cannot be shown again."""
    svc = _service()
    try:
        secret, row = svc.create(name, role)
    finally:
        svc.store.close()
    if fmt == "json":
        echo_json({"id": row.id, "name": row.name, "role": row.role, "token": secret,
                   "created_at": to_rfc3339(row.created_at)})
        return
    click.echo(secret)
    click.echo(f"created token {row.id} ({row.name}, {row.role}); store it now: it is not shown again",
               err=True)


@token.command(name="list")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked tokens.")
@format_option()
@settings_options
@handle_errors
def list_(include_revoked: bool, fmt: str) -> None:
    """List tokens (id, name, role, dates; never the token)."""
    svc = _service()
    try:
        rows = svc.list(include_revoked)
    finally:
        svc.store.close()
    items = [{"id": r.id, "name": r.name, "role": r.role, "created_at": to_rfc3339(r.created_at),
              "revoked_at": to_rfc3339(r.revoked_at) if r.revoked_at else None} for r in rows]
    if fmt == "json":
        echo_json(items)
    else:
        echo_table(items, ["id", "name", "role", "created_at", "revoked_at"])


@token.command()
@click.argument("id_or_name")
@settings_options
@handle_errors
def revoke(id_or_name: str) -> None:
    """Revoke a token by id, or every token with that name (replicas stop accepting it within 5 s)."""
    svc = _service()
    try:
        n = svc.revoke(id_or_name)
    finally:
        svc.store.close()
    if n == 0:
        fail(f"no active token with id or name {id_or_name!r}")
    click.echo(f"revoked {n} token{'s' if n != 1 else ''}")
