"""Retention: what the store keeps, per table, and the pass that enforces it.

Without it ``service_edges`` (one row per edge per minute), ``changes``, ``drift_events`` and
``applied_events`` grow forever. The policy comes from ``AIRDIG_RETENTION`` (``table=DAYS`` pairs, each
optional; see :data:`DEFAULTS`):

* ``service_edges_rollup``: minute windows older than this are summed into hour windows (request and
  error counts added, latency histograms merged, percentiles read again from the merged histogram);
* ``service_edges``: hour windows older than this are deleted;
* ``changes``: timeline rows older than this are deleted;
* ``drift_events``: resolved drifts resolved longer ago than this are deleted (open ones are kept);
* ``applied_events``: idempotency marks older than this are deleted. Keep it above the bus's retention
  (Kafka's default is 7 days): an event re-delivered after its mark is gone would apply again.

Every step works in chunks, each in its own transaction, so a pass can be interrupted at any point
and run again. Run it from one place at a time (``airdig db prune``, e.g. a daily CronJob): two
concurrent roll-ups of the same minute rows could overwrite each other's hour sums.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, fields
from typing import Any

from airdig.backends.interfaces import Store
from airdig.backends.store.sql import SqlTx, dumps, edge_id, loads
from airdig.errors import ConfigError
from airdig.model import stats

DAY = 86400.0
HOUR = 3600
CHUNK = 5000


@dataclass(frozen=True)
class RetentionPolicy:
    """Days kept per table (see the module doc)."""

    service_edges_rollup: float = 7.0
    service_edges: float = 90.0
    changes: float = 90.0
    drift_events: float = 180.0
    applied_events: float = 14.0

    @classmethod
    def parse(cls, text: str | None) -> RetentionPolicy:
        """``"changes=30,service_edges=60"`` → a policy; unnamed tables keep their defaults."""
        values: dict[str, float] = {}
        known = {f.name for f in fields(cls)}
        for part in (text or "").split(","):
            if not part.strip():
                continue
            key, sep, value = part.partition("=")
            key = key.strip()
            if not sep or key not in known:
                raise ConfigError("AIRDIG_RETENTION", f"{part.strip()!r}: expected TABLE=DAYS with TABLE one of "
                                                      f"{', '.join(sorted(known))}")
            try:
                days = float(value.strip().removesuffix("d"))
            except ValueError:
                raise ConfigError("AIRDIG_RETENTION", f"{part.strip()!r}: {value.strip()!r} is not a number "
                                                      "of days") from None
            if days <= 0:
                raise ConfigError("AIRDIG_RETENTION", f"{part.strip()!r}: days must be > 0")
            values[key] = days
        policy = cls(**values)
        if policy.service_edges < policy.service_edges_rollup:
            raise ConfigError("AIRDIG_RETENTION", "service_edges must be >= service_edges_rollup")
        return policy


DEFAULTS = RetentionPolicy()


def prune(store: Store, policy: RetentionPolicy, now: float, dry_run: bool = False) -> dict[str, int]:
    """Enforce ``policy`` as of ``now``; returns rows affected per step (``dry_run``: counted only)."""
    out = {"service_edges_rolled_up": _rollup(store, now - policy.service_edges_rollup * DAY, dry_run)}
    steps = (
        ("service_edges", "SELECT id FROM service_edges WHERE window_start < ?", policy.service_edges),
        ("changes", "SELECT id FROM changes WHERE time < ?", policy.changes),
        ("drift_events", "SELECT id FROM drift_events WHERE status = 'resolved' AND resolved_at < ?",
         policy.drift_events),
        ("applied_events", "SELECT event_id FROM applied_events WHERE applied_at < ?", policy.applied_events),
    )
    for table, select, days in steps:
        out[table] = _delete(store, table, select, now - days * DAY, dry_run)
    return out


def _delete(store: Store, table: str, select: str, cutoff: float, dry_run: bool) -> int:
    key = "event_id" if table == "applied_events" else "id"
    total = 0
    while True:
        with store.transaction() as tx:
            assert isinstance(tx, SqlTx)
            if dry_run:
                return int(tx.fetch(select.replace(f"SELECT {key}", "SELECT COUNT(*)"), (cutoff,))[0][0])
            ids = [r[0] for r in tx.fetch(select + f" LIMIT {CHUNK}", (cutoff,))]
            if ids:
                tx.run(f"DELETE FROM {table} WHERE {key} IN ({','.join('?' * len(ids))})", ids)
        total += len(ids)
        if len(ids) < CHUNK:
            return total


def _rollup(store: Store, cutoff: float, dry_run: bool) -> int:
    """Minute windows before ``cutoff`` → hour windows, one chunk per transaction."""
    select = ("SELECT id, src, dst, window_start, request_count, error_count, errors, latency FROM service_edges "
              "WHERE window_seconds < ? AND window_start < ? ORDER BY window_start, id")
    total = 0
    while True:
        with store.transaction() as tx:
            assert isinstance(tx, SqlTx)
            if dry_run:
                return int(tx.fetch("SELECT COUNT(*) FROM service_edges WHERE window_seconds < ? AND "
                                    "window_start < ?", (HOUR, cutoff))[0][0])
            rows = tx.fetch(select + f" LIMIT {CHUNK}", (HOUR, cutoff))
            if rows:
                _fold(tx, rows)
        total += len(rows)
        if len(rows) < CHUNK:
            return total


def _fold(tx: SqlTx, rows: list[tuple[Any, ...]]) -> None:
    groups: dict[tuple[str, str, float], list[tuple[Any, ...]]] = defaultdict(list)
    for r in rows:
        start = float(r[3])
        groups[(r[1], r[2], start - start % HOUR)].append(r)
    ids = {key: edge_id(key[0], f"w{HOUR}:{key[2]}", key[1]) for key in groups}
    existing: dict[str, tuple[Any, ...]] = {}
    hour_ids = sorted(ids.values())
    for i in range(0, len(hour_ids), 500):
        chunk = hour_ids[i:i + 500]
        for r in tx.fetch(f"SELECT id, src, dst, window_start, request_count, error_count, errors, latency FROM "
                          f"service_edges WHERE id IN ({','.join('?' * len(chunk))})", chunk):
            existing[r[0]] = r
    cols = ("id", "src", "dst", "window_start", "window_seconds", "request_count", "error_count", "errors",
            "latency", "p50", "p95", "p99")
    upserts = []
    for key, members in groups.items():
        hid = ids[key]
        parts = members + ([existing[hid]] if hid in existing else [])
        errors: dict[str, int] = defaultdict(int)
        for p in parts:
            for cls_, n in (loads(p[6]) or {}).items():
                if isinstance(n, int | float):
                    errors[cls_] += int(n)
        latency = stats.merge(h for p in parts if isinstance(h := loads(p[7]), dict)) or {}
        q = [stats.quantile(latency["bounds"], latency["counts"], x) if latency else None for x in (0.5, 0.95, 0.99)]
        upserts.append((hid, key[0], key[1], key[2], HOUR, sum(int(p[4]) for p in parts),
                        sum(int(p[5]) for p in parts), dumps(dict(errors)), dumps(latency), *q))
    tx.run_many(tx._s.d.upsert("service_edges", cols, ("id",), None), upserts)
    gone = [r[0] for r in rows]
    tx.run(f"DELETE FROM service_edges WHERE id IN ({','.join('?' * len(gone))})", gone)
