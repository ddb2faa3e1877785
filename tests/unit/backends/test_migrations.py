"""Schema upgrades in place, on SQLite, on MariaDB (plaintext and TLS) and on TiDB: a database made by the current
schema, with rows in it, is upgraded to a head that adds a column and an index; nothing is lost, the
dry run prints the SQL and changes nothing, and a database from a newer release is refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from airdig.backends.registry import open_store
from airdig.backends.store import migrations
from airdig.backends.store.schema import MIGRATIONS, AddColumn, AddIndex, Column
from airdig.backends.store.sql import SqlStore
from airdig.cli.main import cli
from airdig.errors import ConfigError
from tests.conftest import ON_TIDB_TOO

ROWS = 250


@pytest.fixture
def current(store_url: str) -> Iterator[SqlStore]:
    """A store migrated to this release's head, holding ROWS nodes."""
    store = open_store(store_url)
    assert isinstance(store, SqlStore)
    store.migrate()
    cols = ("id", "kind", "provider", "account", "region", "name", "attrs", "tags", "version", "first_seen",
            "last_seen")
    with store.transaction() as tx:
        for i in range(ROWS):
            tx.run(f"INSERT INTO nodes ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                   (f"aws:ec2:i-{i:04d}", "ec2.instance", "aws", "123", "eu-west-1", f"web-{i}", "{}", "{}",
                    1.0, 1.0, 1.0))
    yield store
    store.close()


@pytest.fixture
def next_release() -> Iterator[int]:
    """The MIGRATIONS list of a next release: one more migration adding nodes.owner and its index."""
    version = migrations.head() + 1
    step = (version, "test: node owner", (AddColumn("nodes", Column("owner", "short", nullable=True)),
                                          AddIndex("nodes", ("owner",))))
    MIGRATIONS.append(step)
    try:
        yield version
    finally:
        MIGRATIONS.remove(step)


def _columns(store: SqlStore) -> set[str]:
    if store.d.name == "sqlite":
        return {r[1] for r in store._read("PRAGMA table_info(nodes)")}
    return {r[0] for r in store._read("SELECT column_name FROM information_schema.columns "
                                      "WHERE table_schema = DATABASE() AND table_name = 'nodes'")}


@ON_TIDB_TOO
def test_upgrade_in_place_adds_a_column_and_an_index_without_losing_rows(current: SqlStore,
                                                                       next_release: int) -> None:
    before = current._read("SELECT id, name FROM nodes ORDER BY id")
    assert len(before) == ROWS
    assert current.schema_status()["pending"] == [f"{next_release}: test: node owner"]

    sql = current.migrate(dry_run=True)
    assert sql[0] == f"-- {next_release}: test: node owner"
    column_type = "TEXT" if current.d.name == "sqlite" else "VARCHAR(64)"
    assert f"ALTER TABLE nodes ADD COLUMN owner {column_type}" in sql
    assert "CREATE INDEX ix_nodes_owner ON nodes (owner)" in sql
    assert "owner" not in _columns(current)  # the dry run changed nothing

    assert current.migrate() == [f"{next_release}: test: node owner"]
    assert "owner" in _columns(current)
    assert migrations.exists(current, AddIndex("nodes", ("owner",)), current.d.name)
    assert current._read("SELECT id, name FROM nodes ORDER BY id") == before  # no row lost or changed
    assert current._read("SELECT COUNT(*) FROM nodes WHERE owner IS NULL")[0][0] == ROWS
    with current.transaction() as tx:
        tx.run("UPDATE nodes SET owner = ? WHERE id = ?", ("team-a", "aws:ec2:i-0007"))
    assert current._read("SELECT id FROM nodes WHERE owner = ?", ("team-a",)) == [("aws:ec2:i-0007",)]
    assert current.schema_status()["version"] == next_release
    assert current.migrate() == []  # idempotent


@ON_TIDB_TOO
def test_a_half_applied_migration_is_finished(current: SqlStore, next_release: int) -> None:
    """A run that died after the ALTER but before recording the version: the next run completes it."""
    with current.transaction() as tx:
        for stmt in migrations.render(AddColumn("nodes", Column("owner", "short", nullable=True)), current.d.name):
            tx.run(stmt)
    assert current.migrate() == [f"{next_release}: test: node owner"]
    assert migrations.exists(current, AddIndex("nodes", ("owner",)), current.d.name)


@ON_TIDB_TOO
def test_a_newer_schema_is_refused(current: SqlStore, store_url: str) -> None:
    newer = migrations.head() + 3
    with current.transaction() as tx:
        tx.run("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
               (newer, "from a future release", 0.0))
    with pytest.raises(ConfigError, match=f"schema is at version {newer}, newer than this AirDig"):
        current.migrate()
    with pytest.raises(ConfigError, match="newer than this AirDig"):
        current.check_schema()
    out = CliRunner().invoke(cli, ["db", "status"], env={"AIRDIG_DATABASE_URL": store_url})
    assert out.exit_code == 2 and "newer than this AirDig" in out.output and "Traceback" not in out.output
    assert current._read("SELECT COUNT(*) FROM nodes")[0][0] == ROWS


@pytest.mark.parametrize("server", ["sqlite", "tidb_url"], ids=["sqlite", "tidb"])
def test_cli_dry_run_and_status_on_a_new_database(server: str, data_dir: Path,
                                                  request: pytest.FixtureRequest) -> None:
    url = f"sqlite:///{data_dir / 'new.db'}" if server == "sqlite" else request.getfixturevalue(server)
    runner = CliRunner()
    dry = runner.invoke(cli, ["db", "migrate", "--dry-run"], env={"AIRDIG_DATABASE_URL": url})
    assert dry.exit_code == 0, dry.output
    assert "CREATE TABLE IF NOT EXISTS nodes (" in dry.output and "-- 1: " in dry.output
    status = runner.invoke(cli, ["db", "status"], env={"AIRDIG_DATABASE_URL": url})
    assert status.exit_code == 0
    assert status.output.startswith(f"schema version 0 (this release knows up to {migrations.head()})")
    assert "pending migration 1: " in status.output
    assert runner.invoke(cli, ["db", "migrate"], env={"AIRDIG_DATABASE_URL": url}).exit_code == 0
    done = runner.invoke(cli, ["db", "status"], env={"AIRDIG_DATABASE_URL": url})
    assert f"schema version {migrations.head()}" in done.output and "schema is up to date" in done.output


def test_an_added_column_must_keep_existing_rows_valid() -> None:
    with pytest.raises(ValueError, match="needs nullable=True or a default"):
        AddColumn("nodes", Column("owner", "short"))
