"""Embedded trace store: spans in a local SQLite file, kept for a retention period.

``embedded://`` keeps ``<data_dir>/traces.db`` (in memory without a data dir);
``embedded:///PATH?retention_hours=24`` names the file. One row per span with the columns search
filters on, and the whole span as JSON for ``get_trace``.

    ts = EmbeddedTraceStore("embedded://", data_dir=Path("~/.airdig"))
    ts.put_spans(spans); ts.get_trace(trace_id); list(ts.search(service="checkout", error=True))
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from airdig.backends.store.sqlite import open_sqlite
from airdig.errors import BackendUnavailable, ConfigError, InvalidInput, NotFound

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS spans (trace_id TEXT NOT NULL, span_id TEXT NOT NULL, parent TEXT NOT NULL, "
    "service TEXT NOT NULL, name TEXT NOT NULL, start_ns INTEGER NOT NULL, duration_ms REAL NOT NULL, "
    "error INTEGER NOT NULL, doc BLOB NOT NULL, PRIMARY KEY (trace_id, span_id))",
    "CREATE INDEX IF NOT EXISTS ix_spans_start ON spans (start_ns)",
    "CREATE INDEX IF NOT EXISTS ix_spans_service ON spans (service, start_ns)",
)
CRITERIA = ("service", "operation", "min_duration_ms", "error", "start", "end", "limit")


class EmbeddedTraceStore:
    def __init__(self, url: str, data_dir: Path | str | None = None, **_: Any) -> None:
        parts = urlsplit(url)
        if parts.scheme != "embedded":
            raise ConfigError("AIRDIG_TRACES_URL", f"expected embedded://[/PATH], got {url!r}")
        q = parse_qs(parts.query)
        try:
            self.retention = float(q.get("retention_hours", ["24"])[0]) * 3600
        except ValueError as exc:
            raise ConfigError("AIRDIG_TRACES_URL", f"bad retention_hours in {url!r}: {exc}") from exc
        self.url = url
        self._lock = threading.Lock()
        if parts.path and parts.path != "/":
            self.path: Path | None = Path(parts.path)
        elif data_dir is not None:
            self.path = Path(data_dir).expanduser() / "traces.db"
        else:
            self.path = None
        if self.path is not None:
            self._conn = open_sqlite(self.path)
        else:
            self._conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        self._last_trim = 0.0
        with self._lock:
            for stmt in _SCHEMA:
                self._conn.execute(stmt)

    def put_spans(self, spans: Sequence[dict[str, Any]]) -> None:
        rows = []
        for s in spans:
            try:
                rows.append((s["trace_id"], s["span_id"], s.get("parent_span_id") or "", s.get("service") or "",
                             s.get("name") or "", int(s["start_unix_nano"]), float(s.get("duration_ms") or 0),
                             1 if s.get("status") == "error" else 0, orjson.dumps(s)))
            except (KeyError, TypeError, ValueError) as exc:
                raise InvalidInput("trace store", f"span lacks a required field: {exc!r}") from None
        now = time.time()
        try:
            with self._lock:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    self._conn.executemany("INSERT OR REPLACE INTO spans VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
                    if now - self._last_trim > 60:
                        self._last_trim = now
                        self._conn.execute("DELETE FROM spans WHERE start_ns < ?",
                                           (int((now - self.retention) * 1e9),))
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            raise BackendUnavailable("embedded trace store", str(exc)) from exc

    def get_trace(self, trace_id: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute("SELECT doc FROM spans WHERE trace_id = ? ORDER BY start_ns",
                                      (trace_id.lower(),)).fetchall()
        if not rows:
            raise NotFound("trace", trace_id)
        return [orjson.loads(r[0]) for r in rows]

    def search(self, **criteria: Any) -> Iterator[dict[str, Any]]:
        """Traces with at least one span matching every given criterion, newest first."""
        unknown = set(criteria) - set(CRITERIA)
        if unknown:
            raise InvalidInput("trace search", f"unknown criteria {sorted(unknown)}; known: {', '.join(CRITERIA)}")
        where, args = ["1 = 1"], []
        if criteria.get("service"):
            where.append("service = ?")
            args.append(criteria["service"])
        if criteria.get("operation"):
            where.append("name = ?")
            args.append(criteria["operation"])
        if criteria.get("min_duration_ms") is not None:
            where.append("duration_ms >= ?")
            args.append(float(criteria["min_duration_ms"]))
        if criteria.get("error") is not None:
            where.append("error = ?")
            args.append(1 if criteria["error"] else 0)
        if criteria.get("start") is not None:
            where.append("start_ns >= ?")
            args.append(int(float(criteria["start"]) * 1e9))
        if criteria.get("end") is not None:
            where.append("start_ns < ?")
            args.append(int(float(criteria["end"]) * 1e9))
        limit = int(criteria.get("limit") or 20)
        sql = (f"SELECT trace_id, MAX(start_ns) AS t FROM spans WHERE {' AND '.join(where)} "
               "GROUP BY trace_id ORDER BY t DESC LIMIT ?")
        with self._lock:
            ids = [r[0] for r in self._conn.execute(sql, [*args, limit]).fetchall()]
            summaries = []
            for tid in ids:
                rows = self._conn.execute(
                    "SELECT parent, service, name, start_ns, duration_ms FROM spans WHERE trace_id = ? "
                    "ORDER BY start_ns", (tid,)).fetchall()
                root = next((r for r in rows if not r[0]), rows[0])
                start = min(r[3] for r in rows)
                end = max(r[3] + int(r[4] * 1e6) for r in rows)
                summaries.append({"trace_id": tid, "root_service": root[1], "root_name": root[2],
                                  "start_unix_nano": start, "duration_ms": round((end - start) / 1e6, 3)})
        yield from summaries

    def ping(self) -> None:
        try:
            with self._lock:
                self._conn.execute("SELECT 1").fetchall()
        except sqlite3.Error as exc:
            raise BackendUnavailable("embedded trace store", str(exc)) from exc

    def close(self) -> None:
        with self._lock:
            self._conn.close()
