"""MySQL-protocol store: TiDB at scale (MariaDB and MySQL work too, and are what the tests use)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pymysql

from airdig.backends.store.sql import SqlStore
from airdig.errors import AirDigError, BackendUnavailable, ConfigError, StoreRejected

_DISCONNECT_CODES = {2003, 2006, 2013, 2055, 4031}
# worth a retry: the server is going away or busy, or the transaction lost a race (deadlock, lock wait,
# TiDB write conflict); the same write succeeds later
_TRANSIENT_CODES = _DISCONNECT_CODES | {1040, 1053, 1205, 1213, 1317, 1927, 8002, 8022, 8027, 9007}
# the data itself: too long, out of range, bad string for the charset, wrong value for the type,
# NULL where not allowed, duplicate key, bad JSON; the same write fails the same way every time
_REJECTED_CODES = {1048, 1062, 1264, 1265, 1292, 1300, 1366, 1406, 1416, 3140}


class MysqlDialect:
    name = "mysql"
    like_escape = ""  # backslash is MySQL's and TiDB's default LIKE escape

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("mysql", "tidb") or not parts.hostname:
            raise ConfigError("AIRDIG_DATABASE_URL", f"expected mysql://user:pass@host:port/db, got {url!r}")
        db = parts.path.lstrip("/")
        if not db:
            raise ConfigError("AIRDIG_DATABASE_URL", f"no database name in {url!r}")
        try:
            port = parts.port or 4000
        except ValueError as exc:
            raise ConfigError("AIRDIG_DATABASE_URL", f"bad port in {url!r}") from exc
        query = parse_qs(parts.query)
        self.params: dict[str, Any] = {
            "host": parts.hostname, "port": port, "user": unquote(parts.username or "root"),
            "password": unquote(parts.password or ""), "database": db, "charset": "utf8mb4",
            "autocommit": False, "connect_timeout": float(query.get("connect_timeout", ["5"])[0]),
            "read_timeout": float(query.get("read_timeout", ["60"])[0]),
            "write_timeout": float(query.get("write_timeout", ["60"])[0]),
        }
        self.where = f"{parts.hostname}:{port}/{db}"

    def connect(self) -> Any:
        try:
            return pymysql.connect(**self.params)
        except pymysql.err.OperationalError as exc:
            if exc.args and exc.args[0] == 1049:  # unknown database: create it, as `db migrate` promises
                return self._create_database()
            raise BackendUnavailable("mysql", f"cannot connect to {self.where}: {exc.args[-1]}") from exc
        except (OSError, pymysql.err.MySQLError) as exc:
            raise BackendUnavailable("mysql", f"cannot connect to {self.where}: {exc}") from exc

    def _create_database(self) -> Any:
        params = dict(self.params)
        db = params.pop("database")
        try:
            conn = pymysql.connect(**params)
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE IF NOT EXISTS `{db.replace('`', '``')}` CHARACTER SET utf8mb4")
            conn.select_db(db)
            return conn
        except pymysql.err.MySQLError as exc:
            raise BackendUnavailable("mysql", f"database {db} does not exist and cannot be created: {exc}") from exc

    def sql(self, query: str) -> str:
        return query.replace("?", "%s")

    def upsert(self, table: str, cols: Sequence[str], key: Sequence[str], newer_col: str | None,
               keep_min: Sequence[str] = (), keep_max: Sequence[str] = ()) -> str:
        # MySQL applies the assignments left to right, so the version column must be assigned last.
        sets = []
        for c in cols:
            if c in key or c == newer_col:
                continue
            if c in keep_min:
                sets.append(f"{c} = LEAST({c}, VALUES({c}))")
            elif c in keep_max:
                sets.append(f"{c} = GREATEST({c}, VALUES({c}))")
            elif newer_col:
                sets.append(f"{c} = IF(VALUES({newer_col}) >= {newer_col}, VALUES({c}), {c})")
            else:
                sets.append(f"{c} = VALUES({c})")
        if newer_col:
            sets.append(f"{newer_col} = GREATEST({newer_col}, VALUES({newer_col}))")
        return (f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
                f"ON DUPLICATE KEY UPDATE {', '.join(sets)}")

    def insert_ignore(self, table: str, cols: Sequence[str]) -> str:
        # not INSERT IGNORE: that would also hide truncation and type errors
        return (f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
                f"ON DUPLICATE KEY UPDATE {cols[0]} = {cols[0]}")

    def begin(self, conn: Any) -> None:
        conn.begin()

    def is_disconnect(self, exc: BaseException) -> bool:
        if isinstance(exc, pymysql.err.InterfaceError):
            return True
        return isinstance(exc, pymysql.err.OperationalError) and bool(exc.args) and exc.args[0] in _DISCONNECT_CODES


    def classify(self, exc: BaseException) -> AirDigError | None:
        """A driver error as :class:`StoreRejected` (the data) or :class:`BackendUnavailable` (retry);
        ``None`` for anything else (a bug: the caller retries and reports it rather than drop data)."""
        if not isinstance(exc, pymysql.err.MySQLError):
            return None
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        message = str(exc.args[-1]) if exc.args else str(exc)
        if isinstance(exc, pymysql.err.InterfaceError) or code in _TRANSIENT_CODES:
            return BackendUnavailable("mysql", f"{message} (error {code})")
        if isinstance(exc, pymysql.err.DataError | pymysql.err.IntegrityError) or code in _REJECTED_CODES:
            return StoreRejected("mysql", f"{message} (error {code})")
        return None


class MysqlStore(SqlStore):
    """``mysql://user:pass@host:4000/db`` — TiDB, MySQL or MariaDB."""

    def __init__(self, url: str) -> None:
        super().__init__(url, MysqlDialect(url))
