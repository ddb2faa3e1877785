"""Graph-intelligence reads of the SQL store: BFS hops, change windows, service-edge stats, drift events.

Kept apart from :mod:`airdig.backends.store.sql` (rows in, rows out) so each module stays small; the
methods are mixed into :class:`~airdig.backends.store.sql.SqlStore`. Every query is plain SQL that
SQLite, MySQL, MariaDB and TiDB all accept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airdig.backends.interfaces import ChangeRow, DriftRow, ServiceEdgeRow
from airdig.backends.store.edge_windows import merge_window_parts


def _marks(n: int) -> str:
    return ",".join("?" * n)


def time_range(col: str, since: float | None, until: float | None,
               until_inclusive: bool = True) -> tuple[list[str], list[Any]]:
    """``col >= since AND col <= until`` (or ``< until``), for the bounds that are given."""
    where: list[str] = []
    params: list[Any] = []
    if since is not None:
        where.append(f"{col} >= ?")
        params.append(since)
    if until is not None:
        where.append(f"{col} {'<=' if until_inclusive else '<'} ?")
        params.append(until)
    return where, params


def _drift_where(resource_id: str | None, status: str | None, severity: str | None,
                 kind: str | None) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    for col, val in (("resource_id", resource_id), ("status", status), ("severity", severity), ("kind", kind)):
        if val is not None:
            where.append(f"{col} = ?")
            params.append(val)
    return where, params


class GraphQueries:
    """Mixin: needs ``_read(query, params)`` and ``transaction()`` from the store it is mixed into."""

    def _read(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def transaction(self) -> Any:
        raise NotImplementedError

    def hop_keys(self, frontier: Sequence[int], forward_types: Sequence[str],
                 backward_types: Sequence[str]) -> list[tuple[int, int, str]]:
        """One BFS step over node keys (index-only): ``(from, to, type)`` for ``frontier -[forward]-> to``
        and for ``to -[backward]-> frontier``. Deleted edges are not in the walk index."""
        out: list[tuple[int, int, str]] = []
        keys = list(dict.fromkeys(frontier))
        for i in range(0, len(keys), 1000):
            chunk = keys[i:i + 1000]
            parts: list[str] = []
            params: list[Any] = []
            if forward_types:
                parts.append(f"SELECT src_key, dst_key, type FROM adjacency WHERE src_key IN ({_marks(len(chunk))}) "
                             f"AND type IN ({_marks(len(forward_types))})")
                params += [*chunk, *forward_types]
            if backward_types:
                parts.append(f"SELECT dst_key, src_key, type FROM adjacency WHERE dst_key IN ({_marks(len(chunk))}) "
                             f"AND type IN ({_marks(len(backward_types))})")
                params += [*chunk, *backward_types]
            if not parts:
                return []
            out += [(int(r[0]), int(r[1]), str(r[2])) for r in self._read(" UNION ALL ".join(parts), params)]
        return out

    def node_ids_for_keys(self, keys: Sequence[int]) -> dict[int, str]:
        found: dict[int, str] = {}
        ks = list(dict.fromkeys(keys))
        for i in range(0, len(ks), 1000):
            chunk = ks[i:i + 1000]
            found.update((int(k), str(n)) for k, n in self._read(
                f"SELECT node_key, node_id FROM node_keys WHERE node_key IN ({_marks(len(chunk))})", chunk))
        return found

    def changes_of(self, node_ids: Sequence[str], since: float | None, until: float | None,
                   kinds: Sequence[str] | None = None, limit: int = 1000) -> list[ChangeRow]:
        from airdig.backends.store.sql import loads

        out: list[ChangeRow] = []
        ids = list(dict.fromkeys(node_ids))
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            where, params = time_range("time", since, until)
            where.append(f"node_id IN ({_marks(len(chunk))})")
            params += list(chunk)
            if kinds:
                where.append(f"kind IN ({_marks(len(kinds))})")
                params += list(kinds)
            q = ("SELECT id, node_id, time, kind, source, actor, summary, details FROM changes WHERE "
                 + " AND ".join(where) + " ORDER BY time DESC LIMIT ?")
            params.append(limit)
            out += [ChangeRow(id=r[0], node_id=r[1], time=r[2], kind=r[3], source=r[4], actor=r[5], summary=r[6],
                              details=loads(r[7]) or {}) for r in self._read(q, params)]
        out.sort(key=lambda c: (-c.time, c.id))
        return out[:limit]

    def service_edge_stats(self, since: float | None, until: float | None,
                           node_ids: Sequence[str] | None = None) -> list[ServiceEdgeRow]:
        """Per-window call statistics, optionally only for edges touching ``node_ids``; the parts of a
        window (late data published after the window) are added up into one row."""
        rows: dict[str, ServiceEdgeRow] = {}
        if node_ids:
            ids = list(dict.fromkeys(node_ids))
            for i in range(0, len(ids), 400):
                rows.update(self._edge_stats(since, until, ids[i:i + 400]))
        else:
            rows = self._edge_stats(since, until, None)
        return merge_window_parts(rows.values())

    def _edge_stats(self, since: float | None, until: float | None,
                    ids: list[str] | None) -> dict[str, ServiceEdgeRow]:
        from airdig.backends.store.sql import loads

        where, params = time_range("window_start", since, until, until_inclusive=False)
        if ids:
            where.append(f"(src IN ({_marks(len(ids))}) OR dst IN ({_marks(len(ids))}))")
            params += ids + ids
        q = ("SELECT id, src, dst, window_start, window_seconds, request_count, error_count, errors, latency, p50, "
             "p95, p99 FROM service_edges" + (" WHERE " + " AND ".join(where) if where else "")
             + " ORDER BY window_start")
        return {r[0]: ServiceEdgeRow(src=r[1], dst=r[2], window_start=r[3], window_seconds=int(r[4]),
                                     request_count=int(r[5]), error_count=int(r[6]), errors=loads(r[7]) or {},
                                     latency=loads(r[8]) or {}, p50=r[9], p95=r[10], p99=r[11])
                for r in self._read(q, params)}

    # ------------------------------------------------------------------ drift events

    _DRIFT_COLS = ("id, resource_id, resource_type, terraform_address, kind, severity, status, diffs, cause, "
                   "remediation, detected_at, resolved_at")

    @staticmethod
    def _drift(r: tuple[Any, ...]) -> DriftRow:
        from airdig.backends.store.sql import loads

        return DriftRow(id=r[0], resource_id=r[1], resource_type=r[2], terraform_address=r[3], kind=r[4],
                        severity=r[5], status=r[6], diffs=loads(r[7]) or [], cause=loads(r[8]),
                        remediation=loads(r[9]), detected_at=r[10], resolved_at=r[11])

    def drift_events(self, resource_id: str | None = None, status: str | None = None, severity: str | None = None,
                     kind: str | None = None, first: int = 50,
                     after: tuple[float, str] | None = None) -> list[DriftRow]:
        """Newest first, keyset-paged by ``(detected_at, id)``."""
        where, params = _drift_where(resource_id, status, severity, kind)
        if after is not None:
            where.append("(detected_at < ? OR (detected_at = ? AND id < ?))")
            params += [after[0], after[0], after[1]]
        q = (f"SELECT {self._DRIFT_COLS} FROM drift_events" + (" WHERE " + " AND ".join(where) if where else "")
             + " ORDER BY detected_at DESC, id DESC LIMIT ?")
        params.append(first)
        return [self._drift(r) for r in self._read(q, params)]

    def count_drift_events(self, resource_id: str | None = None, status: str | None = None,
                           severity: str | None = None, kind: str | None = None) -> int:
        where, params = _drift_where(resource_id, status, severity, kind)
        q = "SELECT COUNT(*) FROM drift_events" + (" WHERE " + " AND ".join(where) if where else "")
        return int(self._read(q, params)[0][0])

    def get_drift(self, drift_id: str) -> DriftRow | None:
        rows = self._read(f"SELECT {self._DRIFT_COLS} FROM drift_events WHERE id = ?", (drift_id,))
        return self._drift(rows[0]) if rows else None

    def update_drift_status(self, drift_id: str, status: str, at: float, actor: str | None) -> DriftRow | None:
        """Acknowledge or resolve a drift event (a user's decision, recorded on the node's timeline)."""
        drift = self.get_drift(drift_id)
        if drift is None:
            return None
        with self.transaction() as tx:
            tx.run("UPDATE drift_events SET status = ?, resolved_at = ? WHERE id = ?",
                   (status, at if status == "resolved" else drift.resolved_at, drift_id))
            if status == "resolved":
                tx.run("UPDATE nodes SET drift_status = 'in_sync' WHERE id = ?", (drift.resource_id,))
            tx.add_changes([ChangeRow(id=f"{drift_id}:{status}:{at}", node_id=drift.resource_id, time=at,
                                      kind="drift_" + status, source="engine", actor=actor,
                                      summary=f"drift {drift_id} {status}" + (f" by {actor}" if actor else ""))])
        return self.get_drift(drift_id)

    def coverage(self) -> dict[str, Any]:
        """Terraform coverage of the live graph: managed = a live node some ``manages`` edge points at."""
        rows = self._read(
            "SELECT n.kind, COUNT(*), SUM(CASE WHEN m.dst IS NULL THEN 0 ELSE 1 END) FROM nodes n "
            "LEFT JOIN (SELECT DISTINCT dst FROM edges WHERE type = 'manages' AND deleted_at IS NULL) m "
            "ON m.dst = n.id WHERE n.deleted_at IS NULL AND n.provider = 'aws' GROUP BY n.kind ORDER BY n.kind")
        by_type = {r[0]: {"managed": int(r[2] or 0), "total": int(r[1])} for r in rows}
        return {"managed": sum(v["managed"] for v in by_type.values()),
                "total": sum(v["total"] for v in by_type.values()), "by_type": by_type}
