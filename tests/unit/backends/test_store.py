"""The store contract, on SQLite, on a real MariaDB server and on a real TiDB (each plaintext and TLS)."""

from __future__ import annotations

import pytest

from airdig.backends.interfaces import ChangeRow, EdgeRow, EventsClaimed, NodeFilter, NodeRow, Store
from airdig.backends.store.sql import SqlTx
from tests.conftest import STORE_KINDS

pytestmark = pytest.mark.parametrize("store_url", [*STORE_KINDS, "tidb", "tidb-tls"], indirect=True)


def row(node_id: str, version: float, kind: str = "aws.ec2.instance", deleted: bool = False,
        **attrs: object) -> NodeRow:
    return NodeRow(id=node_id, kind=kind, provider="aws", account="123456789012", region="us-east-1",
                   name=node_id.rsplit("/", 1)[-1], attrs=dict(attrs), tags={"env": "prod", "team": "pay"},
                   managed_by=None, version=version, first_seen=version, last_seen=version,
                   deleted_at=version if deleted else None)


def write(store: Store, *rows: NodeRow) -> None:
    with store.transaction() as tx:
        assert isinstance(tx, SqlTx)
        tx.upsert_nodes(list(rows))


def test_migrate_is_idempotent(store: Store) -> None:
    assert store.migrate() == []  # the fixture already migrated


def test_newer_state_wins_whatever_the_arrival_order(store: Store) -> None:
    write(store, row("i-1", 20.0, InstanceType="m5.large"))
    write(store, row("i-1", 10.0, InstanceType="t3.micro"))  # stale: arrives late
    node = store.get_node("i-1")
    assert node is not None
    assert node.attrs == {"InstanceType": "m5.large"}
    assert node.version == 20.0
    assert node.first_seen == 10.0  # first_seen still learns from the older observation
    write(store, row("i-1", 30.0, InstanceType="c5.xlarge"))
    node = store.get_node("i-1")
    assert node is not None and node.attrs == {"InstanceType": "c5.xlarge"}


def test_newer_wins_inside_one_batch(store: Store) -> None:
    write(store, row("i-2", 5.0, size=1), row("i-2", 7.0, size=3), row("i-2", 6.0, size=2))
    node = store.get_node("i-2")
    assert node is not None and node.attrs == {"size": 3}


def test_delete_then_stale_update_stays_deleted(store: Store) -> None:
    write(store, row("i-3", 1.0))
    write(store, row("i-3", 3.0, deleted=True))
    write(store, row("i-3", 2.0))
    node = store.get_node("i-3")
    assert node is not None and node.deleted_at == 3.0
    assert store.list_nodes(NodeFilter(), 10, None) == []
    assert [n.id for n in store.list_nodes(NodeFilter(include_deleted=True), 10, None)] == ["i-3"]


def test_filters_paging_and_count(store: Store) -> None:
    write(store, *(row(f"n-{i:03d}", 1.0, kind="aws.ec2.instance" if i % 2 else "aws.rds.instance")
                   for i in range(25)))
    flt = NodeFilter(kind="aws.ec2.instance")
    assert store.count_nodes(flt) == 12
    page1 = store.list_nodes(flt, 5, None)
    page2 = store.list_nodes(flt, 5, page1[-1].id)
    ids = [n.id for n in page1 + page2]
    assert ids == sorted(ids) and len(set(ids)) == 10
    assert all(n.kind == "aws.ec2.instance" for n in page1 + page2)
    assert store.count_nodes(NodeFilter(tag=("team", "pay"))) == 25
    assert store.count_nodes(NodeFilter(tag=("team", "other"))) == 0
    assert store.count_nodes(NodeFilter(tag=("env", None))) == 25


def test_native_ids_and_search(store: Store) -> None:
    arn = "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc"
    write(store, row(arn, 1.0), row("arn:aws:rds:us-east-1:123456789012:db:Orders_DB", 1.0, kind="aws.rds.instance"))
    with store.transaction() as tx:
        tx.add_native_ids([("i-0abc", arn), ("10.0.1.5", arn), ("i-0abc", arn)])
    assert store.resolve_native_id("i-0abc") == [arn]
    assert [n.id for n in store.search_nodes("10.0.1.5", 5)] == [arn]
    # substring search is case-insensitive on every collation, and % / _ are literal
    assert [n.kind for n in store.search_nodes("orders_db", 5)] == ["aws.rds.instance"]
    assert store.search_nodes("ORDERS%", 5) == []


def test_short_container_ids_resolve_by_prefix(store: Store) -> None:
    pod = "k8s://prod/shop/pod/checkout-7d9f"
    full = "3f5e2a9c1b7d" + "0" * 52
    write(store, row(pod, 1.0, kind="k8s.pod"))
    with store.transaction() as tx:
        tx.add_native_ids([(full, pod), ("shop/checkout-7d9f", pod)])
    assert store.resolve_native_id(full[:12]) == [pod]  # Falco's 12-character container id
    assert store.resolve_native_id("shop/checkout-7d9f") == [pod]
    assert store.resolve_native_id("3f5e2a9c1b7e") == []
    assert store.resolve_native_id("3f5e") == []  # too short to be a container id prefix


def test_edges_and_changes(store: Store) -> None:
    with store.transaction() as tx:
        tx.upsert_edges([EdgeRow("sg-1", "i-1", "network", {}, 1.0, 1.0), EdgeRow("i-1", "db-1", "depends_on", {}, 1.0, 1.0)],
                        [1.0, 1.0])
        tx.add_changes([ChangeRow("c1", "i-1", 100.0, "updated", "skygraph", "type changed", actor="alice"),
                        ChangeRow("c2", "i-1", 200.0, "drift", "deepdrift", "drift"),
                        ChangeRow("c1", "i-1", 100.0, "updated", "skygraph", "duplicate id is ignored")])
    got = {(e.src, e.type, e.dst) for e in store.edges(["i-1"])}
    assert got == {("sg-1", "network", "i-1"), ("i-1", "depends_on", "db-1")}
    assert {(e.src, e.type, e.dst) for e in store.edges(["i-1"], direction="out")} == {("i-1", "depends_on", "db-1")}
    assert [c.id for c in store.changes("i-1", None, None)] == ["c2", "c1"]
    assert [c.id for c in store.changes("i-1", 150.0, None)] == ["c2"]
    assert store.changes("i-1", None, 150.0)[0].actor == "alice"


def test_applied_event_ids(store: Store) -> None:
    with store.transaction() as tx:
        tx.claim_events(["e1", "e2"], 1.0)
    # a claim of an event claimed before fails whole (the applier then rolls back and reads again)
    with pytest.raises(EventsClaimed, match="another transaction"), store.transaction() as tx:
        tx.claim_events(["e3", "e2"], 2.0)
    with store.transaction() as tx:
        tx.claim_events(["e3"], 2.0)
        assert tx.seen_events(["e1", "e3", "e4"]) == {"e1", "e3"}


def test_failed_transaction_rolls_back(store: Store) -> None:
    try:
        with store.transaction() as tx:
            assert isinstance(tx, SqlTx)
            tx.upsert_nodes([row("i-9", 1.0)])
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert store.get_node("i-9") is None


def test_walk_index_follows_edge_writes_and_is_backfilled(store: Store) -> None:
    from airdig.model.ids import node_key

    def walk_edges() -> set[tuple[str, str, str]]:
        keys = {node_key(n): n for n in ("sg-1", "i-1", "i-2", "db-1")}
        hops = store.hop_keys(list(keys), ["network"], ["depends_on"])
        return {(keys[f], t, keys[x]) for f, x, t in hops}

    with store.transaction() as tx:
        tx.upsert_edges([EdgeRow("sg-1", "i-1", "network", {}, 1.0, 1.0), EdgeRow("sg-1", "i-2", "network", {}, 1.0, 1.0),
                         EdgeRow("i-1", "db-1", "depends_on", {}, 1.0, 1.0)], [1.0, 1.0, 1.0])
    # forward edges from the frontier, backward edges into it (db-1's trouble reaches i-1)
    assert walk_edges() == {("sg-1", "network", "i-1"), ("sg-1", "network", "i-2"), ("db-1", "depends_on", "i-1")}
    with store.transaction() as tx:  # deleted, and a stale re-observation must not bring it back
        tx.upsert_edges([EdgeRow("sg-1", "i-2", "network", {}, 5.0, 5.0, deleted_at=5.0)], [5.0])
        tx.upsert_edges([EdgeRow("sg-1", "i-2", "network", {}, 3.0, 3.0)], [3.0])
    assert ("sg-1", "network", "i-2") not in walk_edges()
    assert store.node_ids_for_keys([node_key("i-1")]) == {node_key("i-1"): "i-1"}
    # an older store upgraded to migration 3 gets its walk index built from the edges it holds
    with store.transaction() as tx:
        assert isinstance(tx, SqlTx)
        tx.run("DELETE FROM adjacency")
        tx.run("DELETE FROM node_keys")
        tx.run("DELETE FROM schema_migrations WHERE version = 3")
    assert walk_edges() == set()
    assert store.migrate() == ["3: hashed node keys and adjacency for graph walks"]
    assert walk_edges() == {("sg-1", "network", "i-1"), ("db-1", "depends_on", "i-1")}
