"""The SQL store shared by the SQLite and MySQL-protocol backends.

Queries are written once with ``?`` placeholders; a :class:`Dialect` supplies what really differs
(placeholder style, upsert syntax, connection handling). Writes of one applied batch happen in one
transaction, with the newer-wins rule in the upsert itself, so a stale event can never overwrite a
newer state even when two engine replicas race.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, Protocol

import orjson

from airdig.backends.interfaces import (
    AlertDeliveryRow,
    ApiTokenRow,
    ChangeRow,
    EdgeRow,
    EventsClaimed,
    NodeFilter,
    NodeRow,
)
from airdig.backends.store import migrations
from airdig.backends.store.history import HistoryQueries
from airdig.backends.store.queries import GraphQueries, time_range
from airdig.backends.store.schema import MIGRATIONS, Step, Table
from airdig.errors import AirDigError, ConfigError
from airdig.model.ids import node_key

_SHORT_HEX = re.compile(r"[0-9a-fA-F]{12,63}")
NODE_COLS = ("id", "kind", "provider", "account", "region", "name", "attrs", "tags", "managed_by",
             "version", "first_seen", "last_seen", "deleted_at")
_NODE_SELECT = (
    "SELECT n.id, n.kind, n.provider, n.account, n.region, n.name, n.attrs, n.tags, n.managed_by, n.version, "
    "n.first_seen, n.last_seen, n.deleted_at, n.drift_status, n.drift_last_event, "
    "h.status, h.reasons, h.since, n.confirmed_at, n.confirm_interval FROM nodes n LEFT JOIN health h ON h.node_id = n.id"
)


def edge_id(src: str, type_: str, dst: str) -> str:
    return hashlib.sha1(f"{src}\x00{type_}\x00{dst}".encode()).hexdigest()


def dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def loads(value: Any) -> Any:
    if value is None or value == "":
        return None
    return orjson.loads(value)


class Dialect(Protocol):
    name: str
    like_escape: str  # the ESCAPE clause that makes backslash the LIKE escape character
    # appended to the applied-event check: "" where a plain read suffices (SQLite's write transaction
    # already excludes every other writer), " FOR UPDATE" where a snapshot read would let two replicas
    # both take a redelivered event for new (TiDB, see airdig.backends.store.mysql)
    seen_lock: str

    def connect(self) -> Any: ...
    def sql(self, query: str) -> str: ...
    def upsert(self, table: str, cols: Sequence[str], key: Sequence[str], newer_col: str | None,
               keep_min: Sequence[str] = (), keep_max: Sequence[str] = ()) -> str: ...
    def insert_ignore(self, table: str, cols: Sequence[str]) -> str: ...
    def begin(self, conn: Any) -> None: ...
    def is_disconnect(self, exc: BaseException) -> bool: ...
    def classify(self, exc: BaseException) -> AirDigError | None: ...
    def is_duplicate_key(self, exc: BaseException) -> bool: ...


class SqlTx:
    """The write side of one transaction (see :class:`airdig.backends.interfaces.StoreTx`)."""

    def __init__(self, store: SqlStore, cur: Any) -> None:
        self._s = store
        self._cur = cur

    def run(self, query: str, params: Sequence[Any] = ()) -> None:
        self._cur.execute(self._s.d.sql(query), params)

    def run_many(self, query: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._cur.executemany(self._s.d.sql(query), rows)

    def fetch(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self._cur.execute(self._s.d.sql(query), params)
        return list(self._cur.fetchall())

    def seen_events(self, event_ids: Sequence[str]) -> set[str]:
        seen: set[str] = set()
        ids = list(event_ids)
        lock = self._s.d.seen_lock
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            # events applied before every applied event was claimed are recorded by their timeline row only
            if lock:  # a locking read waits for a racing transaction on the same ids and sees its commit
                seen.update(r[0] for r in self.fetch(
                    f"SELECT event_id FROM applied_events WHERE event_id IN ({marks}){lock}", chunk))
                seen.update(r[0] for r in self.fetch(f"SELECT id FROM changes WHERE id IN ({marks}){lock}", chunk))
                continue
            seen.update(r[0] for r in self.fetch(
                f"SELECT event_id FROM applied_events WHERE event_id IN ({marks}) "
                f"UNION SELECT id FROM changes WHERE id IN ({marks})", chunk + chunk))
        return seen

    def claim_events(self, event_ids: Sequence[str], at: float) -> None:
        """Record these events as applied by this transaction, or raise :class:`EventsClaimed` when
        another transaction recorded one of them first.

        A plain insert, not an insert-or-ignore: on MariaDB/MySQL the applied-event check is a snapshot
        read, so two replicas applying one redelivered batch at once (a rebalance after a crash) both
        read "not applied". The second one's insert of the same ids waits for the first transaction and
        then fails on the key, which tells it to start over and read the first one's commit. Ids go in
        sorted so two claimers lock them in one order and cannot deadlock."""
        rows = [(e, at) for e in sorted(set(event_ids))]
        try:
            self.run_many("INSERT INTO applied_events (event_id, applied_at) VALUES (?, ?)", rows)
        except Exception as exc:
            if self._s.d.is_duplicate_key(exc):
                raise EventsClaimed(f"another transaction applied some of these {len(rows)} events first") from exc
            raise

    def upsert_nodes(self, rows: Sequence[NodeRow]) -> None:
        q = self._s.d.upsert("nodes", NODE_COLS, ("id",), "version", keep_min=("first_seen",),
                             keep_max=("last_seen",))
        self.run_many(q, [
            (r.id, r.kind, r.provider, r.account, r.region, r.name[:512], dumps(r.attrs), dumps(r.tags),
             r.managed_by, r.version, r.first_seen, r.last_seen, r.deleted_at)
            for r in rows
        ])

    def confirm_nodes(self, node_ids: Sequence[str], at: float, interval: float | None) -> None:
        """Move ``confirmed_at`` of these nodes forward to ``at`` (never back: confirmations of one node can
        arrive out of order, from different scans or partitions); ``interval`` replaces the cadence when
        given. Unknown ids are no-ops: a confirmation never creates a node."""
        ids = sorted(set(node_ids))
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            self.run(f"UPDATE nodes SET confirm_interval = COALESCE(?, confirm_interval), confirmed_at = ? "
                     f"WHERE id IN ({','.join('?' * len(chunk))}) AND (confirmed_at IS NULL OR confirmed_at < ?)",
                     [interval, at, *chunk, at])

    def upsert_edges(self, rows: Sequence[EdgeRow], version: Sequence[float]) -> None:
        cols = ("id", "src", "dst", "type", "attrs", "version", "first_seen", "last_seen", "deleted_at")
        q = self._s.d.upsert("edges", cols, ("id",), "version", keep_min=("first_seen",), keep_max=("last_seen",))
        self.run_many(q, [
            (edge_id(r.src, r.type, r.dst), r.src, r.dst, r.type, dumps(r.attrs), v, r.first_seen, r.last_seen,
             r.deleted_at)
            for r, v in zip(rows, version, strict=True)
        ])
        self.sync_adjacency({edge_id(r.src, r.type, r.dst) for r in rows})

    def sync_adjacency(self, edge_ids: set[str]) -> None:
        """Make the walk index agree with the edges rows as they now stand (newer-wins already applied)."""
        ids = sorted(edge_ids)
        live: list[tuple[str, str, str]] = []
        gone: list[tuple[str, str, str]] = []
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            for src, typ, dst, deleted in self.fetch(
                    f"SELECT src, type, dst, deleted_at FROM edges WHERE id IN ({','.join('?' * len(chunk))})", chunk):
                (gone if deleted is not None else live).append((src, typ, dst))
        self.link(live)
        self.unlink(gone)

    def link(self, edges: Sequence[tuple[str, str, str]]) -> None:
        if not edges:
            return
        d = self._s.d
        self.run_many(d.insert_ignore("adjacency", ("src_key", "type", "dst_key")),
                      [(node_key(s), t, node_key(x)) for s, t, x in edges])
        ids = {n for s, _, x in edges for n in (s, x)}
        self.run_many(d.insert_ignore("node_keys", ("node_key", "node_id")), [(node_key(n), n) for n in ids])

    def unlink(self, edges: Sequence[tuple[str, str, str]]) -> None:
        self.run_many("DELETE FROM adjacency WHERE src_key = ? AND type = ? AND dst_key = ?",
                      [(node_key(s), t, node_key(x)) for s, t, x in edges])

    def delete_edges(self, edges: Sequence[tuple[str, str, str]]) -> None:
        """Remove edges outright (a ``native://`` edge re-pointed at its node), walk index included."""
        self.run_many("DELETE FROM edges WHERE id = ?", [(edge_id(s, t, x),) for s, t, x in edges])
        self.unlink(edges)

    def add_native_ids(self, pairs: Sequence[tuple[str, str]]) -> None:
        self.run_many(self._s.d.insert_ignore("native_ids", ("native_id", "node_id")),
                      [(n[:255], node) for n, node in pairs])

    def add_changes(self, rows: Sequence[ChangeRow]) -> None:
        cols = ("id", "node_id", "time", "kind", "source", "actor", "summary", "details")
        self.run_many(self._s.d.insert_ignore("changes", cols), [
            (r.id, r.node_id, r.time, r.kind, r.source, r.actor[:512] if r.actor else r.actor, r.summary[:2048],
             dumps(r.details))
            for r in rows
        ])


class SqlStore(GraphQueries, HistoryQueries):
    """A :class:`airdig.backends.interfaces.Store` over a DB-API driver chosen by the dialect."""

    def __init__(self, url: str, dialect: Dialect) -> None:
        self.url = url
        self.d = dialect
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()

    # -------------------------------------------------------------- connections

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self.d.connect()
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def _drop_conn(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._lock:
                if conn in self._all:
                    self._all.remove(conn)
            with suppress(Exception):
                conn.close()

    @contextmanager
    def transaction(self) -> Iterator[SqlTx]:
        conn = self._conn()
        try:
            self.d.begin(conn)
            cur = conn.cursor()
            yield SqlTx(self, cur)
            conn.commit()
        except BaseException as exc:
            with suppress(Exception):
                conn.rollback()
            if self.d.is_disconnect(exc):
                self._drop_conn()
            mapped = self.d.classify(exc) if isinstance(exc, Exception) else None
            if mapped is not None:
                raise mapped from exc
            raise

    def _read(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        for attempt in (1, 2):
            conn = self._conn()
            try:
                cur = conn.cursor()
                cur.execute(self.d.sql(query), params)
                rows = list(cur.fetchall())
                conn.commit()  # end the read snapshot so the next read sees new commits
                return rows
            except Exception as exc:
                if attempt == 1 and self.d.is_disconnect(exc):
                    self._drop_conn()
                    continue
                raise
        raise AssertionError("unreachable")

    # -------------------------------------------------------------- lifecycle

    def applied_versions(self) -> set[int]:
        """The schema versions recorded in the database (empty for a new one)."""
        if not migrations.table_exists(self, "schema_migrations", self.d.name):
            return set()
        return {int(r[0]) for r in self._read("SELECT version FROM schema_migrations")}

    def schema_status(self) -> dict[str, Any]:
        """``{"version", "head", "pending": ["N: name", ...], "too_new": reason | None}`` for `db status`."""
        done = self.applied_versions()
        return {"version": max(done, default=0), "head": migrations.head(),
                "pending": [f"{v}: {n}" for v, n, _ in migrations.pending(done)],
                "too_new": migrations.too_new(done)}

    def check_schema(self) -> None:
        """Refuse a database that a newer AirDig migrated: its writes could break what that release reads."""
        reason = migrations.too_new(self.applied_versions())
        if reason:
            raise ConfigError("AIRDIG_DATABASE_URL", reason)

    def migrate(self, dry_run: bool = False) -> list[str]:
        """Apply missing migrations in order; safe to run from several replicas at once.

        ``dry_run`` applies nothing and answers the SQL that would run (``-- N: name`` before each
        migration's statements)."""
        done = self.applied_versions()
        reason = migrations.too_new(done)
        if reason:
            raise ConfigError("AIRDIG_DATABASE_URL", reason)
        ledger = ("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL PRIMARY KEY, "
                  "name VARCHAR(255) NOT NULL, applied_at DOUBLE NOT NULL)")
        if dry_run:
            lines = [] if done else [ledger]
            for version, name, steps in migrations.pending(done):
                lines.append(f"-- {version}: {name}")
                lines += [s for step in steps for s in migrations.render(step, self.d.name)]
            return lines
        applied: list[str] = []
        with self.transaction() as tx:
            tx.run(ledger)
        for version, name, steps in migrations.pending(done):
            for step in steps:
                self._apply_step(step)
            if version == 3:
                self._backfill_adjacency()
            with self.transaction() as tx:
                tx.run(self.d.insert_ignore("schema_migrations", ("version", "name", "applied_at")),
                       (version, name, time.time()))
            applied.append(f"{version}: {name}")
        return applied

    def _apply_step(self, step: Step) -> None:
        if migrations.exists(self, step, self.d.name):
            return
        for stmt in migrations.render(step, self.d.name):
            try:
                with self.transaction() as tx:
                    tx.run(stmt)
            except Exception:
                # another replica may have added the same column/index a moment ago: that is success
                if migrations.exists(self, step, self.d.name):
                    return
                raise

    def _backfill_adjacency(self) -> None:
        """Index the edges a store already holds when it is upgraded to migration 3."""
        last = ""
        while True:
            rows = self._read("SELECT id, src, type, dst FROM edges WHERE deleted_at IS NULL AND id > ? "
                              "ORDER BY id LIMIT 5000", (last,))
            if not rows:
                return
            with self.transaction() as tx:
                tx.link([(r[1], r[2], r[3]) for r in rows])
            last = rows[-1][0]

    def ping(self) -> None:
        self._read("SELECT 1")

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for c in conns:
            with suppress(Exception):
                c.close()
        self._local = threading.local()

    # -------------------------------------------------------------- reads

    @staticmethod
    def _node(r: tuple[Any, ...]) -> NodeRow:
        return NodeRow(
            id=r[0], kind=r[1], provider=r[2], account=r[3], region=r[4], name=r[5], attrs=loads(r[6]) or {},
            tags=loads(r[7]) or {}, managed_by=r[8], version=r[9], first_seen=r[10], last_seen=r[11],
            deleted_at=r[12], drift_status=r[13] or "unknown", drift_last_event=r[14],
            health_status=r[15] or "unknown", health_reasons=loads(r[16]) or [], health_since=r[17],
            confirmed_at=r[18], confirm_interval=r[19],
        )

    def get_node(self, node_id: str) -> NodeRow | None:
        rows = self._read(_NODE_SELECT + " WHERE n.id = ?", (node_id,))
        return self._node(rows[0]) if rows else None

    def _node_rows(self, where: str, params: Sequence[Any]) -> list[NodeRow]:
        return [self._node(r) for r in self._read(_NODE_SELECT + " WHERE " + where, params)]

    def get_nodes(self, node_ids: Sequence[str]) -> dict[str, NodeRow]:
        out: dict[str, NodeRow] = {}
        ids = list(dict.fromkeys(node_ids))
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for r in self._read(_NODE_SELECT + f" WHERE n.id IN ({marks})", chunk):
                out[r[0]] = self._node(r)
        return out

    def _where(self, flt: NodeFilter) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        if not flt.include_deleted:
            where.append("n.deleted_at IS NULL")
        for col in ("kind", "provider", "account", "region"):
            val = getattr(flt, col)
            if val is not None:
                where.append(f"n.{col} = ?")
                params.append(val)
        if flt.drift is not None:
            where.append("n.drift_status = ?")
            params.append(flt.drift)
        if flt.health is not None:
            if flt.health == "unknown":
                where.append("(h.status IS NULL OR h.status = 'unknown')")
            else:
                where.append("h.status = ?")
                params.append(flt.health)
        if flt.changed_since is not None:
            where.append("n.version >= ?")
            params.append(flt.changed_since)
        if flt.tag is not None:
            key, value = flt.tag
            # tags are stored as sorted JSON; match the serialised pair so both dialects agree
            needle = dumps({key: value})[1:-1] if value is not None else dumps(key) + ":"
            where.append("n.tags LIKE ?" + self.d.like_escape)
            params.append("%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        return where, params

    def list_nodes(self, flt: NodeFilter, first: int, after: str | None) -> list[NodeRow]:
        where, params = self._where(flt)
        if after is not None:
            where.append("n.id > ?")
            params.append(after)
        q = _NODE_SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY n.id LIMIT ?"
        params.append(int(first))
        return [self._node(r) for r in self._read(q, params)]

    def count_nodes(self, flt: NodeFilter) -> int:
        where, params = self._where(flt)
        q = "SELECT COUNT(*) FROM nodes n LEFT JOIN health h ON h.node_id = n.id" + (
            " WHERE " + " AND ".join(where) if where else "")
        return int(self._read(q, params)[0][0])

    def search_nodes(self, text: str, limit: int) -> list[NodeRow]:
        """Exact id or native id first, then name/id substring matches."""
        text = text.strip()
        if not text:
            return []
        ids = [text, *self.resolve_native_id(text)]
        found = self.get_nodes(ids)
        ordered = [found[i] for i in ids if i in found]
        if len(ordered) < limit:
            # case-insensitive on every collation (TiDB's default utf8mb4_bin compares bytes)
            pat = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            rows = self._read(
                _NODE_SELECT + f" WHERE n.deleted_at IS NULL AND (LOWER(n.name) LIKE ?{self.d.like_escape} OR "
                f"LOWER(n.id) LIKE ?{self.d.like_escape}) ORDER BY n.name, n.id LIMIT ?", (pat, pat, int(limit)))
            seen = {n.id for n in ordered}
            ordered += [n for n in map(self._node, rows) if n.id not in seen]
        return ordered[:limit]

    def resolve_native_id(self, native_id: str) -> list[str]:
        """Exact match; a bare hex id of 12+ characters also matches as a prefix (Falco and Docker print
        the first 12 characters of a 64-character container id)."""
        found = [r[0] for r in self._read("SELECT node_id FROM native_ids WHERE native_id = ? ORDER BY node_id",
                                          (native_id[:255],))]
        if not found and _SHORT_HEX.fullmatch(native_id):
            found = [r[0] for r in self._read(
                "SELECT DISTINCT node_id FROM native_ids WHERE native_id LIKE ? ORDER BY node_id LIMIT 10",
                (native_id.lower() + "%",))]
        return found

    def edges(self, node_ids: Sequence[str], direction: str = "both",
              types: Sequence[str] | None = None) -> list[EdgeRow]:
        ids = list(dict.fromkeys(node_ids))
        out: list[EdgeRow] = []
        cols = "src, dst, type, attrs, first_seen, last_seen, deleted_at"
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            tfilter, tparams = "", []
            if types:
                tfilter = f" AND type IN ({','.join('?' * len(types))})"
                tparams = list(types)
            parts = []
            params: list[Any] = []
            if direction in ("out", "both"):
                parts.append(f"SELECT {cols} FROM edges WHERE src IN ({marks}){tfilter}")
                params += chunk + tparams
            if direction in ("in", "both"):
                parts.append(f"SELECT {cols} FROM edges WHERE dst IN ({marks}){tfilter}")
                params += chunk + tparams
            for r in self._read(" UNION ".join(parts), params):
                out.append(EdgeRow(src=r[0], dst=r[1], type=r[2], attrs=loads(r[3]) or {}, first_seen=r[4],
                                   last_seen=r[5], deleted_at=r[6]))
        return out

    def table_counts(self) -> dict[str, int]:
        """Rows per table (for operators and tests)."""
        return {t.name: int(self._read(f"SELECT COUNT(*) FROM {t.name}")[0][0])
                for _, _, steps in MIGRATIONS for t in steps if isinstance(t, Table)}

    def changes(self, node_id: str | None, since: float | None, until: float | None,
                limit: int = 500) -> list[ChangeRow]:
        if node_id is not None:
            return self.changes_of([node_id], since, until, None, limit)
        where, params = time_range("time", since, until)
        q = ("SELECT id, node_id, time, kind, source, actor, summary, details FROM changes"
             + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY time DESC, id LIMIT ?")
        params.append(int(limit))
        return [ChangeRow(id=r[0], node_id=r[1], time=r[2], kind=r[3], source=r[4], actor=r[5], summary=r[6],
                          details=loads(r[7]) or {}) for r in self._read(q, params)]

    # -------------------------------------------------------------- API tokens (hashed) and alert deliveries

    _TOKEN_COLS = ("id", "name", "role", "token_hash", "created_at", "revoked_at")

    def add_api_token(self, row: ApiTokenRow) -> None:
        with self.transaction() as tx:
            tx.run(f"INSERT INTO api_tokens ({', '.join(self._TOKEN_COLS)}) VALUES (?, ?, ?, ?, ?, ?)",
                   (row.id, row.name[:512], row.role, row.token_hash, row.created_at, row.revoked_at))

    def api_token_by_hash(self, token_hash: str) -> ApiTokenRow | None:
        rows = self._read(f"SELECT {', '.join(self._TOKEN_COLS)} FROM api_tokens WHERE token_hash = ? "
                          "AND revoked_at IS NULL", (token_hash,))
        return ApiTokenRow(*rows[0]) if rows else None

    def list_api_tokens(self, include_revoked: bool = False) -> list[ApiTokenRow]:
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        return [ApiTokenRow(*r) for r in self._read(
            f"SELECT {', '.join(self._TOKEN_COLS)} FROM api_tokens{where} ORDER BY created_at, id")]

    def revoke_api_tokens(self, id_or_name: str, at: float) -> int:
        """Revoke the active token with this id, or every active token with this name; returns how many."""
        with self.transaction() as tx:
            ids = [r[0] for r in tx.fetch("SELECT id FROM api_tokens WHERE (id = ? OR name = ?) "
                                          "AND revoked_at IS NULL", (id_or_name, id_or_name))]
            tx.run_many("UPDATE api_tokens SET revoked_at = ? WHERE id = ?", [(at, i) for i in ids])
        return len(ids)

    # -------------------------------------------------------------- leases (one replica per scope)

    def acquire_lease(self, scope: str, holder: str, ttl: float, now: float) -> bool:
        """Take or renew the lease on ``scope`` for ``ttl`` seconds; False while another holder's lease
        runs. Atomic on both dialects: the row is locked by the insert (MySQL) or the whole write
        transaction is (SQLite) before it is read back."""
        with self.transaction() as tx:
            tx.run(self.d.insert_ignore("leases", ("scope", "holder", "acquired_at", "expires_at")),
                   (scope, holder, now, now + ttl))
            tx.run("UPDATE leases SET acquired_at = CASE WHEN holder = ? THEN acquired_at ELSE ? END, holder = ?, "
                   "expires_at = ? WHERE scope = ? AND (holder = ? OR expires_at < ?)",
                   (holder, now, holder, now + ttl, scope, holder, now))
            rows = tx.fetch("SELECT holder FROM leases WHERE scope = ?", (scope,))
        return bool(rows) and rows[0][0] == holder

    def release_lease(self, scope: str, holder: str) -> None:
        """Give the lease up at once (a clean stop), so a standby takes over without waiting for expiry."""
        with self.transaction() as tx:
            tx.run("DELETE FROM leases WHERE scope = ? AND holder = ?", (scope, holder))

    def lease_holder(self, scope: str, now: float) -> str | None:
        rows = self._read("SELECT holder FROM leases WHERE scope = ? AND expires_at >= ?", (scope, now))
        return str(rows[0][0]) if rows else None

    _DELIVERY_COLS = ("id", "dedupe_key", "target", "format", "payload", "status", "attempts", "last_error",
                      "created_at", "sent_at")

    def save_alert_delivery(self, row: AlertDeliveryRow) -> None:
        q = self.d.upsert("alert_deliveries", self._DELIVERY_COLS, ("id",), None, keep_min=("created_at",))
        with self.transaction() as tx:
            tx.run(q, (row.id, row.dedupe_key[:512], row.target[:512], row.format, dumps(row.payload), row.status,
                       row.attempts, (row.last_error or "")[:2048] or None, row.created_at, row.sent_at))

    def alert_deliveries(self, first: int, dedupe_key: str | None = None,
                         since: float | None = None) -> list[AlertDeliveryRow]:
        """Newest first."""
        where: list[str] = []
        params: list[Any] = []
        if dedupe_key is not None:
            where.append("dedupe_key = ?")
            params.append(dedupe_key)
        if since is not None:
            where.append("created_at >= ?")
            params.append(since)
        q = (f"SELECT {', '.join(self._DELIVERY_COLS)} FROM alert_deliveries"
             + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY created_at DESC, id LIMIT ?")
        params.append(int(first))
        return [AlertDeliveryRow(id=r[0], dedupe_key=r[1], target=r[2], format=r[3], payload=loads(r[4]) or {},
                                 status=r[5], attempts=int(r[6]), last_error=r[7], created_at=r[8], sent_at=r[9])
                for r in self._read(q, params)]
