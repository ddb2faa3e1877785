"""Retention (issue 13): minute call statistics rolled up to hours, old rows pruned, per-table policy."""

from __future__ import annotations

import pytest

from airdig.backends.interfaces import Record, Store
from airdig.backends.store.sql import SqlTx
from airdig.engine.apply import Applier
from airdig.engine.retention import DAY, RetentionPolicy, prune
from airdig.errors import ConfigError
from airdig.model.events import CloudEvent

NOW = 100 * DAY
A, B = "service://_/a", "service://_/b"
BOUNDS = [10.0, 100.0]


def call_window(start: float, requests: int, errors: int, counts: list[int]) -> Record:
    ev = CloudEvent(type="airdig.trace.edge", source="tracecore", subject=A, time=start + 60, data={
        "src": A, "dst": B, "type": "calls", "window_start": start, "window_seconds": 60,
        "stats": {"request_count": requests, "error_count": errors, "errors": {"5xx": errors} if errors else {},
                  "latency_ms": {"bounds": BOUNDS, "counts": counts}}})
    return Record(ev.topic, 0, 0, ev.subject, ev.encode(), ev.time)


def windows(store: Store) -> list[tuple[float, int, int, int, str]]:
    with store.transaction() as tx:
        assert isinstance(tx, SqlTx)
        return sorted((float(r[0]), int(r[1]), int(r[2]), int(r[3]), str(r[4])) for r in tx.fetch(
            "SELECT window_start, window_seconds, request_count, error_count, latency FROM service_edges"))


def test_minute_windows_older_than_the_rollup_age_become_one_hour_window(store: Store) -> None:
    old_hour = NOW - 10 * DAY - (NOW - 10 * DAY) % 3600
    recent = NOW - 3600
    Applier(store).apply([call_window(old_hour, 10, 1, [5, 5, 0]), call_window(old_hour + 60, 20, 2, [0, 10, 10]),
                          call_window(old_hour + 3600, 7, 0, [7, 0, 0]), call_window(recent, 3, 0, [3, 0, 0])])
    policy = RetentionPolicy.parse("service_edges_rollup=7")
    assert prune(store, policy, NOW, dry_run=True)["service_edges_rolled_up"] == 3
    done = prune(store, policy, NOW)
    assert done["service_edges_rolled_up"] == 3
    rows = windows(store)
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        (old_hour, 3600, 30, 3), (old_hour + 3600, 3600, 7, 0), (recent, 60, 3, 0)]
    assert '"counts":[5,15,10]' in rows[0][4]
    # a late minute window of an hour already rolled up adds to it; a second pass changes nothing else
    Applier(store).apply([call_window(old_hour + 120, 1, 0, [1, 0, 0])])
    prune(store, policy, NOW)
    prune(store, policy, NOW)
    assert [(r[0], r[2]) for r in windows(store)] == [(old_hour, 31), (old_hour + 3600, 7), (recent, 3)]


def test_old_rows_are_deleted_per_table_and_open_drifts_kept(store: Store) -> None:
    with store.transaction() as tx:
        assert isinstance(tx, SqlTx)
        tx.claim_events(["old-mark"], NOW - 20 * DAY)
        tx.claim_events(["new-mark"], NOW - DAY)
        for i, (status, resolved) in enumerate((("resolved", NOW - 200 * DAY), ("open", None),
                                                ("resolved", NOW - DAY))):
            tx.run("INSERT INTO drift_events (id, resource_id, resource_type, kind, severity, status, diffs, "
                   "detected_at, resolved_at, version) VALUES (?, 'r', 't', 'changed', 'low', ?, '[]', ?, ?, 1)",
                   (f"d{i}", status, NOW - 300 * DAY, resolved))
        tx.run("INSERT INTO service_edges (id, src, dst, window_start, window_seconds, request_count, error_count, "
               "errors, latency) VALUES ('h', 'a', 'b', ?, 3600, 1, 0, '{}', '{}')", (NOW - 91 * DAY,))
    done = prune(store, RetentionPolicy.parse("applied_events=14,drift_events=180d"), NOW)
    assert done["applied_events"] == 1 and done["drift_events"] == 1 and done["service_edges"] == 1
    assert store.table_counts()["applied_events"] == 1
    assert sorted(d.id for d in store.drift_events()) == ["d1", "d2"]


def test_policy_rejects_unknown_tables_and_bad_days() -> None:
    assert RetentionPolicy.parse("") == RetentionPolicy()
    for bad, needle in (("nodes=3", "TABLE one of"), ("changes=soon", "not a number"), ("changes=0", "> 0"),
                        ("service_edges=3", ">= service_edges_rollup")):
        with pytest.raises(ConfigError, match=needle):
            RetentionPolicy.parse(bad)
