"""Embedded store: one SQLite file in WAL mode, shared by every process on the host."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airdig.backends.store.sql import SqlStore
from airdig.errors import AirDigError, BackendUnavailable, ConfigError, StoreRejected


def sqlite_path(url: str) -> Path:
    """``sqlite:///rel/path`` or ``sqlite:////abs/path`` (SQLAlchemy's convention) → a path."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise ConfigError("AIRDIG_DATABASE_URL", f"expected sqlite:///PATH, got {url!r}")
    path = url[len(prefix):].split("?", 1)[0]
    if path == ":memory:":
        raise ConfigError("AIRDIG_DATABASE_URL",
                          "an in-memory SQLite database cannot be shared between threads; use a file path")
    return Path(path)


def open_sqlite(path: Path, timeout: float = 30.0) -> sqlite3.Connection:
    """A connection tuned for many readers and one writer at a time across processes."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=timeout, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
    except (OSError, sqlite3.Error) as exc:
        raise BackendUnavailable("sqlite", f"cannot open {path}: {exc}") from exc
    return conn


class SqliteDialect:
    name = "sqlite"
    like_escape = " ESCAPE '\\'"
    seen_lock = ""  # BEGIN IMMEDIATE: one writer at a time already

    def __init__(self, path: Path) -> None:
        self.path = path

    def connect(self) -> Any:
        return open_sqlite(self.path)

    def sql(self, query: str) -> str:
        return query

    def upsert(self, table: str, cols: Sequence[str], key: Sequence[str], newer_col: str | None,
               keep_min: Sequence[str] = (), keep_max: Sequence[str] = ()) -> str:
        sets = []
        for c in cols:
            if c in key:
                continue
            if c in keep_min:
                sets.append(f"{c} = MIN({table}.{c}, excluded.{c})")
            elif c in keep_max or c == newer_col:
                sets.append(f"{c} = MAX({table}.{c}, excluded.{c})")
            elif newer_col:
                # SQL evaluates every SET expression against the old row, so the order does not matter here
                sets.append(f"{c} = CASE WHEN excluded.{newer_col} >= {table}.{newer_col} "
                            f"THEN excluded.{c} ELSE {table}.{c} END")
            else:
                sets.append(f"{c} = excluded.{c}")
        return (f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
                f"ON CONFLICT({', '.join(key)}) DO UPDATE SET {', '.join(sets)}")

    def insert_ignore(self, table: str, cols: Sequence[str]) -> str:
        return f"INSERT OR IGNORE INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"

    def begin(self, conn: Any) -> None:
        conn.execute("BEGIN IMMEDIATE")

    def is_disconnect(self, exc: BaseException) -> bool:
        return False

    def is_duplicate_key(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.IntegrityError) and "UNIQUE constraint failed" in str(exc)

    def classify(self, exc: BaseException) -> AirDigError | None:
        """Constraint and binding errors are the data's; a locked or unreadable file is worth a retry."""
        if isinstance(exc, sqlite3.IntegrityError | sqlite3.DataError | sqlite3.InterfaceError | OverflowError):
            return StoreRejected("sqlite", f"{exc} ({type(exc).__name__})")
        if isinstance(exc, sqlite3.OperationalError):
            return BackendUnavailable("sqlite", str(exc))
        return None


class SqliteStore(SqlStore):
    """``sqlite:///PATH`` — the embedded default."""

    def __init__(self, url: str) -> None:
        super().__init__(url, SqliteDialect(sqlite_path(url)))
