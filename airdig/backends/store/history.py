"""History reads of the SQL store: the graph as of a time and what changed between two times.

The graph keeps one row per node and edge (``first_seen``, ``deleted_at``) and a change timeline
(``changes``) whose rows say what happened when; these queries answer "as of T" from both. They are
mixed into :class:`~airdig.backends.store.sql.SqlStore` like :mod:`airdig.backends.store.queries`, and
are plain SQL that SQLite, MySQL, MariaDB and TiDB all accept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airdig.backends.interfaces import ChangeRow, DriftRow, EdgeRow, NodeRow


def _marks(n: int) -> str:
    return ",".join("?" * n)


_CHANGE_COLS = "c.id, c.node_id, c.time, c.kind, c.source, c.actor, c.summary, c.details"


def _change(r: tuple[Any, ...]) -> ChangeRow:
    from airdig.backends.store.sql import loads

    return ChangeRow(id=r[0], node_id=r[1], time=r[2], kind=r[3], source=r[4], actor=r[5], summary=r[6],
                     details=loads(r[7]) or {})


class HistoryQueries:
    """Mixin: needs ``_read``, ``_node`` and ``_NODE_SELECT``-style reads from the store it is mixed into."""

    def _read(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def edge_links(self, node_ids: Sequence[str], direction: str, types: Sequence[str] | None,
                   at: float | None) -> list[tuple[str, str, str]]:
        """``(src, dst, type)`` of the edges touching ``node_ids`` that are alive now (``at`` None) or
        existed at ``at`` — no attributes decoded, for walks over thousands of nodes."""
        alive = ("deleted_at IS NULL" if at is None else "first_seen <= ? AND (deleted_at IS NULL OR deleted_at > ?)")
        tparams: list[Any] = [] if at is None else [at, at]
        tfilter = ""
        if types:
            tfilter = f" AND type IN ({_marks(len(types))})"
            tparams += list(types)
        out: list[tuple[str, str, str]] = []
        ids = list(dict.fromkeys(node_ids))
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            parts: list[str] = []
            params: list[Any] = []
            for col, wanted in (("src", ("out", "both")), ("dst", ("in", "both"))):
                if direction in wanted:
                    parts.append(f"SELECT src, dst, type FROM edges WHERE {col} IN ({_marks(len(chunk))}) AND "
                                 f"{alive}{tfilter}")
                    params += [*chunk, *tparams]
            out += [(str(r[0]), str(r[1]), str(r[2])) for r in self._read(" UNION ".join(parts), params)]
        return out

    def node_briefs(self, node_ids: Sequence[str]) -> dict[str, NodeRow]:
        """Nodes without their JSON columns (attrs and tags empty, no health reasons): what grouping and
        counting thousands of nodes need, at a fraction of :meth:`get_nodes`' cost."""
        out: dict[str, NodeRow] = {}
        ids = list(dict.fromkeys(node_ids))
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            for r in self._read(
                    "SELECT n.id, n.kind, n.provider, n.account, n.region, n.name, n.managed_by, n.version, "
                    "n.first_seen, n.last_seen, n.deleted_at, n.drift_status, n.drift_last_event, h.status, h.since "
                    f"FROM nodes n LEFT JOIN health h ON h.node_id = n.id WHERE n.id IN ({_marks(len(chunk))})", chunk):
                out[r[0]] = NodeRow(id=r[0], kind=r[1], provider=r[2], account=r[3], region=r[4], name=r[5], attrs={},
                                    tags={}, managed_by=r[6], version=r[7], first_seen=r[8], last_seen=r[9],
                                    deleted_at=r[10], drift_status=r[11] or "unknown", drift_last_event=r[12],
                                    health_status=r[13] or "unknown", health_since=r[14])
        return out

    def _node_rows(self, where: str, params: Sequence[Any]) -> list[NodeRow]:
        raise NotImplementedError

    def latest_changes(self, node_ids: Sequence[str], kinds: Sequence[str], at: float) -> dict[str, ChangeRow]:
        """Per node, the newest change of one of ``kinds`` at or before ``at`` (ties: the largest id)."""
        out: dict[str, ChangeRow] = {}
        ids = list(dict.fromkeys(node_ids))
        km = _marks(len(kinds))
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            q = (f"SELECT {_CHANGE_COLS} FROM changes c JOIN (SELECT node_id, MAX(time) AS t FROM changes "
                 f"WHERE node_id IN ({_marks(len(chunk))}) AND kind IN ({km}) AND time <= ? GROUP BY node_id) m "
                 f"ON m.node_id = c.node_id AND m.t = c.time WHERE c.kind IN ({km})")
            for r in self._read(q, [*chunk, *kinds, at, *kinds]):
                c = _change(r)
                old = out.get(c.node_id)
                if old is None or c.id > old.id:
                    out[c.node_id] = c
        return out

    def latest_changes_of_kind(self, kind: str, at: float) -> dict[str, ChangeRow]:
        """Every node's newest change of ``kind`` at or before ``at`` (health as of a time, estate-wide)."""
        q = (f"SELECT {_CHANGE_COLS} FROM changes c JOIN (SELECT node_id, MAX(time) AS t FROM changes "
             "WHERE kind = ? AND time <= ? GROUP BY node_id) m ON m.node_id = c.node_id AND m.t = c.time "
             "WHERE c.kind = ?")
        out: dict[str, ChangeRow] = {}
        for r in self._read(q, (kind, at, kind)):
            c = _change(r)
            old = out.get(c.node_id)
            if old is None or c.id > old.id:
                out[c.node_id] = c
        return out

    def drift_events_until(self, resource_ids: Sequence[str], at: float) -> list[DriftRow]:
        """Drift events of these resources detected at or before ``at`` (whatever their status now)."""
        from airdig.backends.store.queries import GraphQueries

        out: list[DriftRow] = []
        ids = list(dict.fromkeys(resource_ids))
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            out += [GraphQueries._drift(r) for r in self._read(
                f"SELECT {GraphQueries._DRIFT_COLS} FROM drift_events WHERE resource_id IN ({_marks(len(chunk))}) "
                "AND detected_at <= ?", [*chunk, at])]
        return out

    def nodes_existing_at(self, at: float, first: int, after: str | None = None) -> list[NodeRow]:
        """Nodes that existed at ``at`` (``first_seen <= at`` and not deleted by then), by id, keyset-paged."""
        where = "n.first_seen <= ? AND (n.deleted_at IS NULL OR n.deleted_at > ?)"
        params: list[Any] = [at, at]
        if after is not None:
            where += " AND n.id > ?"
            params.append(after)
        return self._node_rows(where + " ORDER BY n.id LIMIT ?", [*params, int(first)])

    def count_nodes_existing_at(self, at: float) -> int:
        return int(self._read("SELECT COUNT(*) FROM nodes WHERE first_seen <= ? AND (deleted_at IS NULL OR "
                              "deleted_at > ?)", (at, at))[0][0])

    def nodes_appeared(self, lo: float, hi: float, node_ids: Sequence[str] | None,
                       first: int) -> tuple[list[NodeRow], int]:
        """Nodes that did not exist at ``lo`` and did at ``hi``: first seen in (lo, hi], not deleted by hi."""
        return self._lifecycle("n.first_seen > ? AND n.first_seen <= ? AND (n.deleted_at IS NULL OR n.deleted_at > ?)",
                               [lo, hi, hi], node_ids, first)

    def nodes_vanished(self, lo: float, hi: float, node_ids: Sequence[str] | None,
                       first: int) -> tuple[list[NodeRow], int]:
        """Nodes that existed at ``lo`` and were deleted in (lo, hi]."""
        return self._lifecycle("n.first_seen <= ? AND n.deleted_at > ? AND n.deleted_at <= ?", [lo, lo, hi],
                               node_ids, first)

    def _lifecycle(self, cond: str, params: list[Any], node_ids: Sequence[str] | None,
                   first: int) -> tuple[list[NodeRow], int]:
        if node_ids is None:
            total = int(self._read("SELECT COUNT(*) FROM nodes n WHERE " + cond, params)[0][0])
            return self._node_rows(cond + " ORDER BY n.id LIMIT ?", [*params, int(first)]), total
        rows: list[NodeRow] = []
        ids = sorted(set(node_ids))
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            rows += self._node_rows(cond + f" AND n.id IN ({_marks(len(chunk))})", [*params, *chunk])
        rows.sort(key=lambda n: n.id)
        return rows[:first], len(rows)

    def changed_node_ids(self, lo: float, hi: float, kinds: Sequence[str], node_ids: Sequence[str] | None,
                         first: int) -> tuple[list[str], int]:
        """Nodes with a change of ``kinds`` in (lo, hi], newest change first; and how many there are."""
        km = _marks(len(kinds))
        if node_ids is None:
            base = f"FROM changes WHERE time > ? AND time <= ? AND kind IN ({km})"
            params: list[Any] = [lo, hi, *kinds]
            total = int(self._read(f"SELECT COUNT(DISTINCT node_id) {base}", params)[0][0])
            rows = self._read(f"SELECT node_id, MAX(time) AS t {base} GROUP BY node_id ORDER BY t DESC, node_id "
                              "LIMIT ?", [*params, int(first)])
            return [str(r[0]) for r in rows], total
        found: list[tuple[float, str]] = []
        ids = sorted(set(node_ids))
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            found += [(float(r[1]), str(r[0])) for r in self._read(
                f"SELECT node_id, MAX(time) FROM changes WHERE time > ? AND time <= ? AND kind IN ({km}) "
                f"AND node_id IN ({_marks(len(chunk))}) GROUP BY node_id", [lo, hi, *kinds, *chunk])]
        found.sort(key=lambda x: (-x[0], x[1]))
        return [n for _, n in found[:first]], len(found)

    def edges_between(self, lo: float, hi: float, appeared: bool, node_ids: Sequence[str] | None,
                      first: int) -> tuple[list[EdgeRow], int]:
        """Edges that appeared (first seen in (lo, hi], alive at hi) or vanished (alive at lo, deleted
        in (lo, hi]) between two times; with ``node_ids``, only edges with both ends among them."""
        from airdig.backends.store.sql import loads

        cond = ("first_seen > ? AND first_seen <= ? AND (deleted_at IS NULL OR deleted_at > ?)" if appeared
                else "first_seen <= ? AND deleted_at > ? AND deleted_at <= ?")
        params: list[Any] = [lo, hi, hi] if appeared else [lo, lo, hi]
        cols = "src, dst, type, attrs, first_seen, last_seen, deleted_at"
        raw: list[tuple[Any, ...]] = []
        if node_ids is None:
            total = int(self._read("SELECT COUNT(*) FROM edges WHERE " + cond, params)[0][0])
            raw = self._read(f"SELECT {cols} FROM edges WHERE {cond} ORDER BY src, type, dst LIMIT ?",
                             [*params, int(first)])
        else:
            ids = sorted(set(node_ids))
            keep = set(ids)
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                raw += [r for r in self._read(f"SELECT {cols} FROM edges WHERE {cond} AND src IN "
                                              f"({_marks(len(chunk))})", [*params, *chunk]) if r[1] in keep]
            raw.sort(key=lambda r: (r[0], r[2], r[1]))
            total = len(raw)
            raw = raw[:first]
        return [EdgeRow(src=r[0], dst=r[1], type=r[2], attrs=loads(r[3]) or {}, first_seen=r[4], last_seen=r[5],
                        deleted_at=r[6]) for r in raw], total
