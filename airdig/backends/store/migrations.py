"""Schema upgrades in place: the DDL of each migration step, rendered per dialect, and what is applied.

Alembic (with SQLAlchemy Core) renders the ALTERs — ``ADD COLUMN`` and ``CREATE INDEX`` — for SQLite
and MySQL/TiDB in its offline mode, so the statements are exactly what ``airdig db migrate --dry-run``
prints; the store then runs them on its own connection, one statement per transaction (MySQL and TiDB
commit DDL implicitly anyway). Every step is idempotent — a table is created ``IF NOT EXISTS``, a column
or index that already exists is skipped — so replicas migrating at the same time, or a run interrupted
half-way, converge on the same schema. Versions are recorded in ``schema_migrations``.
"""

from __future__ import annotations

import io
from typing import Any, Protocol

from airdig.backends.store.schema import MIGRATIONS, TYPES, AddColumn, Step, Table


def head() -> int:
    """The newest schema version this release knows."""
    return max(version for version, _, _ in MIGRATIONS)


class _Reader(Protocol):
    def _read(self, query: str, params: Any = ()) -> list[tuple[Any, ...]]: ...


def _alembic(dialect: str) -> tuple[Any, io.StringIO]:
    """Alembic operations that write SQL for ``dialect`` into a buffer instead of running it."""
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    buf = io.StringIO()
    ctx = MigrationContext.configure(dialect_name=dialect, opts={"as_sql": True, "output_buffer": buf,
                                                                  "literal_binds": True})
    return Operations(ctx), buf


def _column_type(type_name: str, dialect: str) -> Any:
    """The abstract column type (``short``, ``float``...) as the exact SQL type :class:`Table` uses."""
    from sqlalchemy.types import UserDefinedType

    spec = TYPES[type_name][0 if dialect == "sqlite" else 1]

    class _Declared(UserDefinedType[Any]):
        cache_ok = True

        def get_col_spec(self, **_: Any) -> str:
            return spec

    return _Declared()


def render(step: Step, dialect: str) -> list[str]:
    """The SQL statements of one step for ``sqlite`` or ``mysql``."""
    if isinstance(step, Table):
        return step.ddl(dialect)
    import sqlalchemy as sa

    op, buf = _alembic(dialect)
    if isinstance(step, AddColumn):
        c = step.column
        op.add_column(step.table, sa.Column(c.name, _column_type(c.type, dialect), nullable=c.nullable,
                                            server_default=sa.text(c.default) if c.default is not None else None))
    else:
        op.create_index(step.name, step.table, list(step.columns))
    return [s.strip() for s in buf.getvalue().split(";\n") if s.strip()]


def exists(store: _Reader, step: Step, dialect: str) -> bool:
    """Whether a column or index step is already in the database (tables use ``IF NOT EXISTS``)."""
    if isinstance(step, Table):
        return False
    if dialect == "sqlite":
        if isinstance(step, AddColumn):
            return any(r[1] == step.column.name for r in store._read(f"PRAGMA table_info({step.table})"))
        return any(r[1] == step.name for r in store._read(f"PRAGMA index_list({step.table})"))
    if isinstance(step, AddColumn):
        rows = store._read("SELECT 1 FROM information_schema.columns WHERE table_schema = DATABASE() "
                           "AND table_name = ? AND column_name = ?", (step.table, step.column.name))
    else:
        rows = store._read("SELECT 1 FROM information_schema.statistics WHERE table_schema = DATABASE() "
                           "AND table_name = ? AND index_name = ?", (step.table, step.name))
    return bool(rows)


def table_exists(store: _Reader, table: str, dialect: str) -> bool:
    if dialect == "sqlite":
        return bool(store._read("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)))
    return bool(store._read("SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() "
                            "AND table_name = ?", (table,)))


def pending(done: set[int]) -> list[tuple[int, str, tuple[Step, ...]]]:
    return [m for m in sorted(MIGRATIONS, key=lambda m: m[0]) if m[0] not in done]


def too_new(done: set[int]) -> str | None:
    """Why this AirDig must not run against the database (a newer release migrated it), or None."""
    newest = max(done, default=0)
    if newest > head():
        return (f"the database schema is at version {newest}, newer than this AirDig knows (up to {head()}): "
                "a newer AirDig release migrated it; run that release (or newer), or point "
                "AIRDIG_DATABASE_URL at another database")
    return None
