"""MySQL-protocol store: TiDB at scale (MariaDB and MySQL work too; the tests run on MariaDB and TiDB).

TLS and credentials come from the URL's query (see docs/connect.md)::

    mysql://airdig@tidb.example.com:4000/airdig?ssl_ca=/etc/airdig/ca.pem&password_file=/run/secrets/db
    mysql://airdig@aurora.example.com:3306/airdig?auth=rds-iam&region=eu-west-1

``ssl_mode`` is ``disabled``, ``preferred`` (the driver's default without TLS options: TLS if the server
offers it, unverified), ``required`` (TLS, server unverified), ``verify_ca`` or ``verify_identity``
(chain and host name; the default as soon as any TLS option, ``tls=true`` or RDS IAM is given).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

import pymysql

from airdig.backends.options import UrlOptions, client_tls_context
from airdig.backends.store.sql import SqlStore
from airdig.errors import AirDigError, BackendUnavailable, ConfigError, StoreRejected
from airdig.model.redact import redact_text

SETTING = "AIRDIG_DATABASE_URL"
SSL_MODES = ("disabled", "preferred", "required", "verify_ca", "verify_identity")

_DISCONNECT_CODES = {2003, 2006, 2013, 2055, 4031}
# worth a retry: the server is going away or busy, or the transaction lost a race (deadlock, lock wait);
# TiDB's own (https://docs.pingcap.com/tidb/stable/error-codes): a write conflict under snapshot
# isolation (8002 SELECT FOR UPDATE conflict, 8005 stale start timestamp, 9007 conflict in TiKV, 8022
# commit failed and rolled back), the schema changing under a statement (8027 outdated schema version,
# 8028 information schema changed: TiDB's DDL is online), PD/TiKV timeouts, busy or unavailable
# regions (9001-9005); the same write succeeds later
_TRANSIENT_CODES = _DISCONNECT_CODES | {1040, 1053, 1205, 1213, 1317, 1927, 8002, 8005, 8022, 8027, 8028,
                                        9001, 9002, 9003, 9004, 9005, 9007}
# the data itself: too long, out of range, bad string for the charset, wrong value for the type,
# NULL where not allowed, duplicate key, bad JSON, and TiDB's size limits: one row larger than
# txn-entry-size-limit (8025, 6 MB by default, where MariaDB's MEDIUMTEXT takes 16 MB) or a transaction
# larger than txn-total-size-limit (8004; a smaller part of the batch fits); the same write fails the
# same way every time
_REJECTED_CODES = {1048, 1062, 1264, 1265, 1292, 1300, 1366, 1406, 1416, 3140, 8004, 8025}


class MysqlDialect:
    name = "mysql"
    like_escape = ""  # backslash is MySQL's and TiDB's default LIKE escape
    # Which server answers is learnt on the first connection. On TiDB the applied-event check is a
    # locking read: under its snapshot isolation two replicas applying one redelivered batch (a rebalance
    # after a crash) would both read "not applied" and both count and announce it; FOR UPDATE locks the
    # event ids (TiDB locks absent keys too) and the later transaction reads the earlier one's commit.
    # Not on MariaDB/MySQL, where FOR UPDATE on absent keys takes gap locks that would serialise unrelated
    # batches; there the racing insert of the same ids waits on the row lock instead.
    seen_lock = ""
    tidb: bool | None = None

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
        opts = UrlOptions(SETTING, parts.query)
        self.params: dict[str, Any] = {
            "host": parts.hostname, "port": port, "user": unquote(parts.username or "root"),
            "password": unquote(parts.password or "") or opts.secret("password", "") or "",
            "database": db, "charset": "utf8mb4",
            "autocommit": False, "connect_timeout": opts.number("connect_timeout", 5),
            "read_timeout": opts.number("read_timeout", 60),
            "write_timeout": opts.number("write_timeout", 60),
        }
        self.where = f"{parts.hostname}:{port}/{db}"
        self.iam_region: str | None = None
        auth = (opts.get("auth") or "password").lower()
        if auth == "rds-iam":
            self.iam_region = opts.get("region") or ""
        elif auth != "password":
            raise ConfigError(SETTING, f"option auth must be password or rds-iam, got {auth!r}")
        self.ssl_mode = self._tls(opts)

    def _tls(self, opts: UrlOptions) -> str:
        """Put the TLS context into the connect parameters; answers the effective ssl_mode."""
        ca, cert, key = opts.path("ssl_ca"), opts.path("ssl_cert"), opts.path("ssl_key")
        if bool(cert) != bool(key):
            raise ConfigError(SETTING, "a client certificate needs both ssl_cert and ssl_key")
        asked = any(opts.get(k) for k in ("ssl_ca", "ssl_cert", "ssl_verify_identity")) \
            or opts.flag("tls", False) or self.iam_region is not None
        mode = (opts.get("ssl_mode") or ("verify_identity" if asked else "preferred")).lower()
        if mode not in SSL_MODES:
            raise ConfigError(SETTING, f"option ssl_mode must be one of {', '.join(SSL_MODES)}, got {mode!r}")
        if mode == "verify_identity" and not opts.flag("ssl_verify_identity", True):
            mode = "verify_ca"
        if self.iam_region is not None and mode in ("disabled", "preferred"):
            raise ConfigError(SETTING, "RDS IAM authentication sends a token and needs TLS; "
                                       "drop ssl_mode or set it to required or stronger")
        if mode == "disabled":
            self.params["ssl_disabled"] = True
        elif mode != "preferred":
            self.params["ssl"] = client_tls_context(SETTING, ca, cert, key, verify=mode != "required",
                                                    check_hostname=mode == "verify_identity")
        return mode

    def _iam_token(self) -> str:
        """A 15-minute RDS IAM authentication token, signed with the AWS credential chain (no API call)."""
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            # a session of its own: boto3's process-wide default session keeps the credentials it first
            # resolved, so rotated keys (or another test's) would sign every later token
            client = boto3.session.Session().client("rds", region_name=self.iam_region or None)
            token: str = client.generate_db_auth_token(DBHostname=self.params["host"], Port=self.params["port"],
                                                       DBUsername=self.params["user"])
        except (BotoCoreError, ClientError) as exc:
            raise BackendUnavailable("mysql", f"cannot sign an RDS IAM token for {self.where}: {exc}") from None
        return token

    def connect_params(self) -> dict[str, Any]:
        """The driver's connect arguments; an RDS IAM token is made fresh for every connection."""
        if self.iam_region is None:
            return self.params
        return {**self.params, "password": self._iam_token()}

    def connect(self) -> Any:
        params = self.connect_params()
        try:
            conn = pymysql.connect(**params)
        except pymysql.err.OperationalError as exc:
            if exc.args and exc.args[0] == 1049:  # unknown database: create it, as `db migrate` promises
                conn = self._create_database(params)
            else:
                raise self._unavailable(exc.args[-1] if exc.args else exc, params) from None
        except (OSError, pymysql.err.MySQLError) as exc:
            raise self._unavailable(exc, params) from None
        if self.tidb is None:
            try:
                self._learn_server(conn)
            except (OSError, pymysql.err.MySQLError) as exc:
                conn.close()
                raise self._unavailable(exc, params) from None
        return conn

    def _learn_server(self, conn: Any) -> None:
        """TiDB or not, from ``VERSION()`` (``8.0.11-TiDB-v8.5.1``); sets :attr:`seen_lock`."""
        with conn.cursor() as cur:
            cur.execute("SELECT VERSION()")
            row = cur.fetchone()
        conn.commit()
        self.tidb = "tidb" in str(row[0] if row else "").lower()
        self.seen_lock = " FOR UPDATE" if self.tidb else ""

    def _unavailable(self, cause: object, params: dict[str, Any]) -> BackendUnavailable:
        """The driver's reason, without the password (or IAM token) it may quote, and with the TLS mode."""
        # "(using password: YES)" is the server saying whether one was sent, not a secret
        text = redact_text(re.sub(r"\(using password: (YES|NO)\)", r"(password sent: \1)", str(cause)))
        password = str(params.get("password") or "")
        if len(password) >= 4:
            text = text.replace(password, "***")
        if self.ssl_mode == "disabled" and "Access denied" in text:
            # MariaDB answers a plaintext login to a require_secure_transport server with "access denied"
            text += "; if the server requires TLS, drop ssl_mode=disabled"
        return BackendUnavailable("mysql", f"cannot connect to {self.where} (ssl_mode={self.ssl_mode}): {text}")

    def _create_database(self, connect: dict[str, Any]) -> Any:
        params = dict(connect)
        db = params.pop("database")
        try:
            conn = pymysql.connect(**params)
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE IF NOT EXISTS `{db.replace('`', '``')}` CHARACTER SET utf8mb4")
            conn.select_db(db)
            return conn
        except (OSError, pymysql.err.MySQLError) as exc:
            raise BackendUnavailable("mysql", f"database {db} does not exist and cannot be created: "
                                              f"{redact_text(str(exc))}") from None

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


    def is_duplicate_key(self, exc: BaseException) -> bool:
        return isinstance(exc, pymysql.err.IntegrityError) and bool(exc.args) and exc.args[0] == 1062

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
    """``mysql://user:pass@host:4000/db[?ssl_ca=...&ssl_mode=...]`` — TiDB, MySQL or MariaDB."""

    def __init__(self, url: str) -> None:
        super().__init__(url, MysqlDialect(url))
