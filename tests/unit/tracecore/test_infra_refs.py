"""Resource attributes -> infrastructure references, and virtual peers -> RDS endpoints."""

from __future__ import annotations

from airdig.tracecore.infra import endpoint_dependency, infra_refs, virtual_peer
from airdig.tracecore.spans import KIND_CLIENT, Resource, SpanSummary


def refs(**attrs: str) -> list[str]:
    return infra_refs(Resource("svc", "", attrs))


def test_ec2_host_becomes_arn_only_with_account_and_region() -> None:
    assert refs(**{"host.id": "i-0abc", "cloud.account.id": "111122223333", "cloud.region": "eu-west-1"}) == \
        ["arn:aws:ec2:eu-west-1:111122223333:instance/i-0abc"]
    assert refs(**{"host.id": "i-0abc", "host.name": "ip-10-0-0-1"}) == ["native://i-0abc"]
    assert refs(**{"host.name": "ip-10-0-0-1"}) == ["native://ip-10-0-0-1"]


def test_pod_node_container_lambda() -> None:
    assert refs(**{"k8s.pod.name": "p", "k8s.namespace.name": "ns", "k8s.cluster.name": "c",
                   "k8s.node.name": "n1", "container.id": "abcdef0123456789ff"}) == \
        ["k8s://c/ns/pod/p", "k8s://c/_/node/n1", "native://abcdef012345"]
    assert refs(**{"k8s.pod.uid": "u-1", "k8s.pod.name": "p", "k8s.namespace.name": "ns"}) == ["native://u-1"]
    assert refs(**{"faas.name": "fn", "cloud.account.id": "1", "cloud.region": "r",
                   "cloud.resource_id": "arn:aws:lambda:r:1:function:fn"}) == ["arn:aws:lambda:r:1:function:fn"]


def test_virtual_peers_and_rds_endpoint() -> None:
    def peer(**attrs: object) -> tuple[str, str] | None:
        s = SpanSummary("t", "s", "", KIND_CLIENT, "x", 0, 1, 0, Resource("svc", "", {}), dict(attrs))
        got = virtual_peer(s)
        return (got[0].id, got[1]) if got else None

    assert peer(**{"db.system.name": "mysql", "server.address": "db.x.us-east-1.rds.amazonaws.com",
                   "server.port": 3306}) == ("service://~db/db.x.us-east-1.rds.amazonaws.com:3306", "database")
    assert peer(**{"db.system.name": "sqlite", "db.namespace": "app"}) == ("service://~db/sqlite/app", "database")
    assert peer(**{"messaging.system": "sqs", "messaging.destination.name": "jobs"}) == \
        ("service://~queue/sqs/jobs", "messaging_system")
    assert peer(**{"service.peer.name": "payments"}) == ("service://~external/payments", "virtual_node")
    assert peer() is None
    s = SpanSummary("t", "s", "", KIND_CLIENT, "x", 0, 1, 0, Resource("svc", "", {}),
                    {"db.system.name": "redis", "server.address": "c.abc.cache.amazonaws.com"})
    got = virtual_peer(s)
    assert got is not None and endpoint_dependency(got[0]) == "native://c.abc.cache.amazonaws.com"
