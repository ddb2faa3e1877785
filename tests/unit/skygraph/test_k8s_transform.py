from __future__ import annotations

from pathlib import Path

import orjson

from airdig.skygraph.k8s.transform import KIND_BY_API, provider_instance, transform_kind

DATA = Path(__file__).resolve().parents[2] / "data" / "skygraph" / "k8s"


def test_provider_id_names_the_ec2_instance() -> None:
    assert provider_instance("aws:///us-east-1a/i-0a1b2c3d4e5f60718") == "i-0a1b2c3d4e5f60718"
    assert provider_instance("gce://proj/zone/vm-1") is None
    assert provider_instance(None) is None


def test_secret_data_never_enters_the_graph_even_if_the_server_sends_it() -> None:
    full = {"kind": "SecretList", "apiVersion": "v1", "metadata": {}, "items": [{
        "metadata": {"name": "db", "namespace": "shop", "uid": "u1", "labels": {"app": "db"}},
        "type": "Opaque", "data": {"password": "c2VjcmV0"}, "stringData": {"password": "secret"}}]}
    frag = transform_kind(KIND_BY_API["Secret"], full, "prod")
    (node,) = frag.nodes
    assert node.id == "k8s://prod/shop/secret/db"
    dumped = orjson.dumps(node.to_dict()).decode()
    assert "c2VjcmV0" not in dumped and '"secret"' not in dumped
    assert node.attrs == {"uid": "u1", "type": "Opaque", "namespace": "shop"}


def test_volatile_status_is_left_out_of_attrs() -> None:
    pods = orjson.loads((DATA / "pods.json").read_bytes())
    frag = transform_kind(KIND_BY_API["Pod"], pods, "prod")
    pod = next(n for n in frag.nodes if n.name == "db-0")
    assert pod.attrs["status"] == {"phase": "Running", "podIP": "10.0.1.23", "hostIP": "10.0.1.10",
                                   "qosClass": "BestEffort"}
    assert "managedFields" not in pod.attrs and "resourceVersion" not in pod.attrs
    assert pod.tags["app"] == "db"
