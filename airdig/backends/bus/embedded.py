"""Embedded bus: a durable, partitioned append log in a local SQLite file.

Every process on the host that opens the same file shares it, so a cron-run ``airdig skygraph scan``
feeds a running ``airdig up``. It keeps Kafka's contract where the engine relies on it: keyed
partitions (one key's records stay ordered), consumer groups that share partitions among live members,
and offsets that move only when the consumer commits. The log lives in its own file (``bus.db``)
rather than the store's, so publishers and the engine's store writes never wait on one lock.

    bus = EmbeddedBus("embedded:////var/lib/airdig/bus.db")
    bus.publish("airdig.resources", key, value); bus.flush()
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from airdig.backends.interfaces import Committed, RebalanceListener, Record
from airdig.backends.store.sqlite import open_sqlite
from airdig.errors import BackendUnavailable, ConfigError

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS bus_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, "
    "part INTEGER NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, ts REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS ix_bus_log_tp ON bus_log (topic, part, seq)",
    "CREATE INDEX IF NOT EXISTS ix_bus_log_ts ON bus_log (ts)",
    "CREATE TABLE IF NOT EXISTS bus_offsets (grp TEXT NOT NULL, topic TEXT NOT NULL, part INTEGER NOT NULL, "
    "seq INTEGER NOT NULL, PRIMARY KEY (grp, topic, part))",
    "CREATE TABLE IF NOT EXISTS bus_members (grp TEXT NOT NULL, member TEXT NOT NULL, heartbeat REAL NOT NULL, "
    "PRIMARY KEY (grp, member))",
    # who reads a partition now, for members with a rebalance listener: the next owner waits until the
    # previous one has published and committed (revoked) or left the group (closed, or heartbeat expired)
    "CREATE TABLE IF NOT EXISTS bus_owners (grp TEXT NOT NULL, topic TEXT NOT NULL, part INTEGER NOT NULL, "
    "member TEXT NOT NULL, PRIMARY KEY (grp, topic, part))",
)


def partition_for(key: str, partitions: int) -> int:
    """Stable across processes (Python's ``hash`` is salted per process)."""
    return zlib.crc32(key.encode()) % partitions



# a commit only moves forward: an older position (a late duplicate commit) keeps the newer one and its metadata
_COMMIT_SQL = ("INSERT INTO bus_offsets (grp, topic, part, seq, meta) VALUES (?, ?, ?, ?, ?) "
               "ON CONFLICT(grp, topic, part) DO UPDATE SET "
               "meta = CASE WHEN excluded.seq >= bus_offsets.seq THEN excluded.meta ELSE bus_offsets.meta END, "
               "seq = MAX(bus_offsets.seq, excluded.seq)")


class EmbeddedBus:
    """``embedded:///PATH?partitions=4&retention_hours=168``."""

    def __init__(self, url: str, session_timeout: float = 10.0, **_: Any) -> None:
        parts = urlsplit(url)
        if parts.scheme != "embedded" or not parts.path or parts.path == "/":
            raise ConfigError("AIRDIG_BUS_URL", f"expected embedded:///PATH, got {url!r}")
        q = parse_qs(parts.query)
        try:
            self.partitions = int(q.get("partitions", ["4"])[0])
            self.retention = float(q.get("retention_hours", ["168"])[0]) * 3600
        except ValueError as exc:
            raise ConfigError("AIRDIG_BUS_URL", f"bad option in {url!r}: {exc}") from exc
        if self.partitions < 1:
            raise ConfigError("AIRDIG_BUS_URL", "partitions must be at least 1")
        self.url = url
        self.path = Path(parts.path)
        self.session_timeout = session_timeout
        self._buf: list[tuple[str, int, str, bytes, float]] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        self._last_trim = 0.0
        with self._write() as conn:
            for stmt in _SCHEMA:
                conn.execute(stmt)
            columns = {r[1] for r in conn.execute("PRAGMA table_info(bus_offsets)")}
            if "meta" not in columns:  # a log written before commit metadata existed
                conn.execute("ALTER TABLE bus_offsets ADD COLUMN meta TEXT NOT NULL DEFAULT ''")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = open_sqlite(self.path)
            self._local.conn = conn
        return conn

    def _write(self) -> _WriteTx:
        return _WriteTx(self._conn())

    # -------------------------------------------------------------- producer side

    def publish(self, topic: str, key: str, value: bytes) -> None:
        """Buffered: records are durable after :meth:`flush` (or when the buffer fills)."""
        with self._lock:
            self._buf.append((topic, partition_for(key, self.partitions), key, value, time.time()))
            full = len(self._buf) >= 2000
        if full:
            self.flush()

    def flush(self, timeout: float = 10.0) -> None:
        with self._lock:
            buf, self._buf = self._buf, []
        if not buf:
            return
        try:
            with self._write() as conn:
                conn.executemany("INSERT INTO bus_log (topic, part, key, value, ts) VALUES (?, ?, ?, ?, ?)", buf)
        except sqlite3.Error as exc:
            with self._lock:  # keep what could not be written, in order, for the next flush
                self._buf = buf + self._buf
            raise BackendUnavailable("embedded bus", f"cannot append to {self.path}: {exc}") from exc
        now = time.time()
        if now - self._last_trim > 600:
            self._last_trim = now
            with self._write() as conn:
                conn.execute("DELETE FROM bus_log WHERE ts < ?", (now - self.retention,))

    # -------------------------------------------------------------- consumer side

    def consumer(self, group: str, topics: Sequence[str], member_id: str | None = None,
                 listener: RebalanceListener | None = None) -> EmbeddedConsumer:
        return EmbeddedConsumer(self, group, list(topics), member_id or uuid.uuid4().hex, listener)

    def ping(self) -> None:
        try:
            self._conn().execute("SELECT 1 FROM bus_log LIMIT 1").fetchall()
        except sqlite3.Error as exc:
            raise BackendUnavailable("embedded bus", str(exc)) from exc

    def end_offsets(self, topic: str) -> dict[int, int]:
        rows = self._conn().execute("SELECT part, MAX(seq) FROM bus_log WHERE topic = ? GROUP BY part",
                                    (topic,)).fetchall()
        return {int(p): int(s) for p, s in rows}

    def close(self) -> None:
        self.flush()
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class _WriteTx:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` on a connection in autocommit mode."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


class EmbeddedConsumer:
    """A group member: live members (by heartbeat) split the partitions round-robin.

    With a ``listener`` a partition changes hands the way Kafka's eager rebalance does it: the member
    losing it is told (``revoked``) and may publish and commit before it lets go, and the member getting
    it reads it only once the previous owner has let go, left the group, or missed its heartbeats for
    ``session_timeout``; a member that finds its own heartbeat expired is told its partitions are ``lost``.
    Without a listener a partition is read by its new owner at once (from the last commit)."""

    def __init__(self, bus: EmbeddedBus, group: str, topics: list[str], member: str,
                 listener: RebalanceListener | None = None) -> None:
        self.bus = bus
        self.group = group
        self.topics = topics
        self.member = member
        self.listener = listener
        self._positions: dict[tuple[str, int], int] = {}
        self._assigned: list[tuple[str, int]] = []
        self._waiting = False  # some partitions of our share are still held by their previous owner
        self._last_beat = 0.0
        self._closed = False

    def _heartbeat(self) -> None:
        now = time.time()
        if self._assigned and now - self._last_beat < (0.2 if self._waiting else 1.0):
            return
        every = [(t, p) for t in sorted(self.topics) for p in range(self.bus.partitions)]
        with self.bus._write() as conn:
            known = conn.execute("SELECT 1 FROM bus_members WHERE grp = ? AND member = ?",
                                 (self.group, self.member)).fetchone() is not None
            conn.execute("INSERT INTO bus_members (grp, member, heartbeat) VALUES (?, ?, ?) "
                         "ON CONFLICT(grp, member) DO UPDATE SET heartbeat = excluded.heartbeat",
                         (self.group, self.member, now))
            conn.execute("DELETE FROM bus_members WHERE grp = ? AND heartbeat < ?",
                         (self.group, now - self.bus.session_timeout))
            members = [r[0] for r in conn.execute(
                "SELECT member FROM bus_members WHERE grp = ? ORDER BY member", (self.group,))]
            idx = members.index(self.member)
            share = [tp for i, tp in enumerate(every) if i % len(members) == idx]
            held = share
            if self.listener is not None:
                owners = {(t, int(p)): m for t, p, m in conn.execute(
                    "SELECT topic, part, member FROM bus_owners WHERE grp = ?", (self.group,))}
                live = set(members)
                held = [tp for tp in share if owners.get(tp) in (None, self.member) or owners[tp] not in live]
                conn.executemany("INSERT INTO bus_owners (grp, topic, part, member) VALUES (?, ?, ?, ?) "
                                 "ON CONFLICT(grp, topic, part) DO UPDATE SET member = excluded.member",
                                 [(self.group, t, p, self.member) for t, p in held])
        self._last_beat = now
        self._waiting = len(held) < len(share)
        if self.listener is None:
            if share != self._assigned:
                # partitions taken over start from the group's committed offset, never from a stale position
                self._positions = {tp: pos for tp, pos in self._positions.items() if tp in share}
                self._assigned = share
            return
        if self._assigned and not known:  # our heartbeat expired: others may have read our partitions
            lost, self._assigned, self._positions = self._assigned, [], {}
            self.listener.lost(self, lost)
        revoked = [tp for tp in self._assigned if tp not in share]
        if revoked:
            self.listener.revoked(self, revoked)
            self._release(revoked)
        added = [tp for tp in held if tp not in self._assigned]
        self._positions = {tp: pos for tp, pos in self._positions.items() if tp in held}
        self._assigned = [tp for tp in share if tp in held]
        if added:
            self.listener.assigned(self, added)

    def _release(self, partitions: list[tuple[str, int]]) -> None:
        with self.bus._write() as conn:
            conn.executemany("DELETE FROM bus_owners WHERE grp = ? AND topic = ? AND part = ? AND member = ?",
                             [(self.group, t, p, self.member) for t, p in partitions])

    def assignment(self) -> list[tuple[str, int]]:
        return list(self._assigned)

    def _committed(self, conn: sqlite3.Connection) -> dict[tuple[str, int], int]:
        rows = conn.execute("SELECT topic, part, seq FROM bus_offsets WHERE grp = ?", (self.group,)).fetchall()
        return {(t, int(p)): int(s) for t, p, s in rows}

    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Record]:
        if self._closed:
            raise BackendUnavailable("embedded bus", "consumer is closed")
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._heartbeat()
                out = self._read(max_records)
            except sqlite3.Error as exc:
                raise BackendUnavailable("embedded bus", str(exc)) from exc
            if out or time.monotonic() >= deadline:
                return out
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    def _read(self, max_records: int) -> list[Record]:
        conn = self.bus._conn()
        committed = self._committed(conn)
        out: list[Record] = []
        for tp in self._assigned:
            if len(out) >= max_records:
                break
            start = max(self._positions.get(tp, 0), committed.get(tp, 0))
            rows = conn.execute(
                "SELECT seq, key, value, ts FROM bus_log WHERE topic = ? AND part = ? AND seq > ? ORDER BY seq LIMIT ?",
                (tp[0], tp[1], start, max_records - len(out))).fetchall()
            for seq, key, value, ts in rows:
                out.append(Record(topic=tp[0], partition=tp[1], offset=int(seq), key=key, value=bytes(value),
                                  timestamp=float(ts)))
            if rows:
                self._positions[tp] = int(rows[-1][0])
        return out

    def commit(self, records: Sequence[Record]) -> None:
        top: dict[tuple[str, int], int] = {}
        for r in records:
            tp = (r.topic, r.partition)
            top[tp] = max(top.get(tp, 0), r.offset)
        if not top:
            return
        try:
            with self.bus._write() as conn:
                conn.executemany(
                    "INSERT INTO bus_offsets (grp, topic, part, seq) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(grp, topic, part) DO UPDATE SET seq = MAX(bus_offsets.seq, excluded.seq)",
                    [(self.group, t, p, s) for (t, p), s in top.items()])
        except sqlite3.Error as exc:
            raise BackendUnavailable("embedded bus", f"commit failed: {exc}") from exc

    def commit_positions(self, positions: Mapping[tuple[str, int], tuple[int, str]]) -> None:
        rows = [(self.group, t, p, pos - 1, meta) for (t, p), (pos, meta) in positions.items() if pos > 0]
        if not rows:
            return
        try:
            with self.bus._write() as conn:  # the log's seq is the offset; "done below pos" is seq pos - 1
                conn.executemany(_COMMIT_SQL, rows)
        except sqlite3.Error as exc:
            raise BackendUnavailable("embedded bus", f"commit failed: {exc}") from exc

    def publish_and_commit(self, messages: Sequence[tuple[str, str, bytes]],
                           positions: Mapping[tuple[str, int], tuple[int, str]]) -> None:
        """The records and the offsets in one SQLite transaction of the log file."""
        now = time.time()
        rows = [(self.group, t, p, pos - 1, meta) for (t, p), (pos, meta) in positions.items() if pos > 0]
        try:
            with self.bus._write() as conn:
                conn.executemany("INSERT INTO bus_log (topic, part, key, value, ts) VALUES (?, ?, ?, ?, ?)",
                                 [(t, partition_for(k, self.bus.partitions), k, v, now) for t, k, v in messages])
                conn.executemany(_COMMIT_SQL, rows)
        except sqlite3.Error as exc:
            raise BackendUnavailable("embedded bus", f"publish and commit failed: {exc}") from exc

    def committed(self, partitions: Sequence[tuple[str, int]]) -> dict[tuple[str, int], Committed]:
        try:
            rows = self.bus._conn().execute("SELECT topic, part, seq, meta FROM bus_offsets WHERE grp = ?",
                                            (self.group,)).fetchall()
        except sqlite3.Error as exc:
            raise BackendUnavailable("embedded bus", str(exc)) from exc
        have = {(t, int(p)): Committed(int(s) + 1, str(m or "")) for t, p, s, m in rows}
        return {tp: have.get(tp, Committed(-1, "")) for tp in partitions}

    def lag(self) -> dict[tuple[str, int], int]:
        conn = self.bus._conn()
        committed = self._committed(conn)
        out: dict[tuple[str, int], int] = {}
        for tp in self._assigned:
            row = conn.execute("SELECT COUNT(*) FROM bus_log WHERE topic = ? AND part = ? AND seq > ?",
                               (tp[0], tp[1], committed.get(tp, 0))).fetchone()
            out[tp] = int(row[0])
        return out

    def close(self) -> None:
        if self._closed:
            return
        if self.listener is not None and self._assigned:
            self.listener.revoked(self, list(self._assigned))
        self._closed = True
        try:
            with self.bus._write() as conn:  # leave the group so the others take over at once
                conn.execute("DELETE FROM bus_members WHERE grp = ? AND member = ?", (self.group, self.member))
                conn.execute("DELETE FROM bus_owners WHERE grp = ? AND member = ?", (self.group, self.member))
        except sqlite3.Error:
            pass  # the heartbeat expires on its own
