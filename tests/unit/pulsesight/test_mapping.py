"""Labels -> native ids -> node ids; unmapped signals are kept and listed."""

from __future__ import annotations

import httpx
import pytest

from airdig.errors import BackendUnavailable
from airdig.pulsesight.mapping import EngineResolver, Mapper, StaticResolver, candidates


@pytest.mark.parametrize(("labels", "expected"), [
    ({"instance_id": "i-0abc", "instance": "10.0.0.1:9100"}, ["i-0abc", "10.0.0.1:9100", "10.0.0.1"]),
    ({"InstanceId": "i-0abc"}, ["i-0abc"]),
    ({"namespace": "shop", "pod": "cart-1"}, ["shop/cart-1", "cart-1"]),
    ({"k8s_namespace_name": "shop", "k8s_pod_name": "cart-1"}, ["shop/cart-1", "cart-1"]),
    ({"container.id": "3ad7b26ded6d"}, ["3ad7b26ded6d"]),
    ({"container_id": "containerd://" + "ab" * 32}, ["ab" * 6]),
    ({"dbinstance_identifier": "orders-db"}, ["orders-db"]),
    ({"load_balancer": "app/prod-alb/50dc6c495c0c9188"}, ["app/prod-alb/50dc6c495c0c9188"]),
    ({"node": "worker-2"}, ["worker-2"]),
    ({"service_name": "cart", "service_namespace": "shop"}, ["service://shop/cart"]),
    ({"job": "x"}, []),
])
def test_candidates(labels: dict[str, str], expected: list[str]) -> None:
    assert candidates(labels) == expected


def test_template_and_preferred_labels_come_first() -> None:
    assert candidates({"a": "x", "b": "y", "instance_id": "i-1"}, prefer=["b"], template="{a}-{b}")[:3] == \
        ["x-y", "y", "i-1"]
    assert candidates({"instance_id": "i-1"}, template="{missing}") == ["i-1"]


def test_mapper_resolves_passes_node_ids_and_lists_unmapped() -> None:
    m = Mapper(StaticResolver({"i-1": "arn:aws:ec2:r:1:instance/i-1", "c" * 64: "k8s://c/ns/pod/p"}))
    assert m.map("prometheus", "cpu", {"instance_id": "i-1"}) == "arn:aws:ec2:r:1:instance/i-1"
    assert m.map("falco", "r", {"container.id": "c" * 12}) == "k8s://c/ns/pod/p"
    assert m.map("prometheus", "cpu", {"node_id": "service://shop/cart"}) == "service://shop/cart"
    assert m.map("prometheus", "cpu", {"instance_id": "i-9"}, value=3.0) is None
    assert m.map("prometheus", "cpu", {"instance_id": "i-9"}, value=4.0) is None
    [entry] = m.unmapped()
    assert entry["labels"] == {"instance_id": "i-9"} and entry["count"] == 2 and entry["value"] == 4.0
    assert entry["reason"] == "not in the native-id index"


def test_engine_resolver_caches_and_reports_outages() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.params["native_id"])
        if request.url.params["native_id"] == "down":
            return httpx.Response(503)
        if request.url.params["native_id"] == "i-1":
            return httpx.Response(200, json={"native_id": "i-1", "node_ids": ["arn:1"]})
        return httpx.Response(404, json={"error": "not found"})

    r = EngineResolver("http://engine:8080", token="t", transport=httpx.MockTransport(handler))
    try:
        assert r.resolve("i-1") == ["arn:1"] and r.resolve("i-1") == ["arn:1"]
        assert r.resolve("nope") == []
        assert calls == ["i-1", "nope"]
        with pytest.raises(BackendUnavailable):
            r.resolve("down")
        m = Mapper(r)
        assert m.map("alertmanager", "A", {"instance_id": "down"}) is None
        assert m.unmapped()[0]["reason"].startswith("resolver unavailable")
    finally:
        r.close()
