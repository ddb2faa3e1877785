"""The Kubernetes scanner against a fake API server.

The fake is an ``http.server`` built from the documented Kubernetes API (list endpoints, ``limit`` /
``continue`` pagination, bearer-token auth, ``PartialObjectMetadataList`` content negotiation); its
answers are the recorded-shape JSON list responses under ``tests/data/skygraph/k8s/``. It pages every
list two items at a time so the reader's pagination is exercised. The official client reaches it
through a kubeconfig file, as in production.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest

from airdig.model.ids import k8s_id
from airdig.skygraph.aws.common import Where
from airdig.skygraph.aws.ec2 import transform_ec2
from airdig.skygraph.aws.elbv2 import transform_elbv2
from airdig.skygraph.graph import resolve
from airdig.skygraph.graph_state import GraphState
from airdig.skygraph.scan import ScanOptions, run_scan

DATA = Path(__file__).resolve().parents[2] / "data" / "skygraph"
TOKEN = "test-token-0123456789"
PAGE = 2
ACCOUNT = "123456789012"


class FakeApi(BaseHTTPRequestHandler):
    requests: list[tuple[str, str]] = []
    forbidden: set[str] = set()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: dict[str, object]) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        resource = url.path.rstrip("/").rsplit("/", 1)[-1]
        accept = self.headers.get("Accept", "")
        type(self).requests.append((url.path, accept))
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._send(401, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Unauthorized",
                             "code": 401})
            return
        if resource in type(self).forbidden:
            self._send(403, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden",
                             "message": f'{resource} is forbidden: User "scanner" cannot list resource', "code": 403})
            return
        path = DATA / "k8s" / f"{resource}.json"
        if not path.exists():
            self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})
            return
        if resource in ("secrets", "configmaps") and "as=PartialObjectMetadataList" not in accept:
            self._send(406, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 406,
                             "reason": "NotAcceptable", "message": "this fake only serves metadata for " + resource})
            return
        body = json.loads(path.read_text())
        q = parse_qs(url.query)
        start = int(q.get("continue", ["0"])[0])
        size = min(int(q.get("limit", ["500"])[0]), PAGE)
        items = body["items"]
        body["items"] = items[start:start + size]
        if start + size < len(items):
            body["metadata"]["continue"] = str(start + size)
        self._send(200, body)


@pytest.fixture
def k8s_api(tmp_path: Path) -> Iterator[Path]:
    FakeApi.requests = []
    FakeApi.forbidden = set()
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "prod-admin",
        "clusters": [{"name": "prod", "cluster": {"server": f"http://127.0.0.1:{server.server_address[1]}"}}],
        "users": [{"name": "scanner", "user": {"token": TOKEN}}],
        "contexts": [{"name": "prod-admin", "context": {"cluster": "prod", "user": "scanner"}}],
    }))
    yield kubeconfig
    server.shutdown()
    server.server_close()


def _seed_aws(state: GraphState) -> dict[str, str]:
    """The previous scan's EC2 and ELB scopes, from recorded API responses."""
    where = Where(ACCOUNT, "us-east-1")
    ec2 = transform_ec2(orjson.loads((DATA / "aws" / "ec2.json").read_bytes()), where, "ec2/us-east-1")
    elb = transform_elbv2(orjson.loads((DATA / "aws" / "elbv2.json").read_bytes()), where, "elbv2/us-east-1")
    graph = resolve([ec2, elb])
    for scope, sg in graph.scopes.items():
        state.save(scope, sg)
    return {n.name: n.id for n in graph.nodes()}


def K(ns: str | None, kind: str, name: str) -> str:
    return k8s_id("prod", ns, kind, name)


def test_k8s_scan_nodes_owner_chains_selectors_and_cross_layer_edges(k8s_api: Path, data_dir: Path) -> None:
    state = GraphState(data_dir)
    aws = _seed_aws(state)
    report = run_scan(ScanOptions(aws=False, kubeconfig=str(k8s_api)), state)
    assert report.failed == []
    nodes = {n.id: n for n in report.graph.nodes()}
    edges = {e.key for e in report.graph.edges()}

    kinds = {n.kind for n in nodes.values() if n.provider == "k8s"}
    assert kinds == {"k8s.namespace", "k8s.node", "k8s.pod", "k8s.deployment", "k8s.replicaset", "k8s.statefulset",
                     "k8s.daemonset", "k8s.job", "k8s.cronjob", "k8s.service", "k8s.ingress", "k8s.configmap",
                     "k8s.secret", "k8s.pvc", "k8s.pv", "k8s.hpa"}
    # pagination: 5 pods served two at a time
    assert sum(1 for n in nodes.values() if n.kind == "k8s.pod") == 5

    rs = K("shop", "ReplicaSet", "web-7d4b9c8f6d")
    web_pods = {K("shop", "Pod", "web-7d4b9c8f6d-x2k4p"), K("shop", "Pod", "web-7d4b9c8f6d-q8z7m")}
    owners = {e for e in edges if e[1] == "contains" and "/namespace/" not in e[0]}
    assert owners == {
        (K("shop", "Deployment", "web"), "contains", rs),
        *((rs, "contains", p) for p in web_pods),
        (K("shop", "StatefulSet", "db"), "contains", K("shop", "Pod", "db-0")),
        (K("kube-system", "DaemonSet", "aws-node"), "contains", K("kube-system", "Pod", "aws-node-7xk2p")),
        (K("shop", "CronJob", "nightly-report"), "contains", K("shop", "Job", "nightly-report-29405400")),
        (K("shop", "Job", "nightly-report-29405400"), "contains", K("shop", "Pod", "nightly-report-29405400-7hq2d")),
    }
    selectors = {e for e in edges if e[0].split("/")[4] == "service" and e[2].startswith("k8s://")}
    assert selectors == {
        *((K("shop", "Service", "web"), "depends_on", p) for p in web_pods),
        (K("shop", "Service", "db"), "depends_on", K("shop", "Pod", "db-0")),
    }
    node = K(None, "Node", "ip-10-0-1-10.ec2.internal")
    assert {e for e in edges if e[1] == "runs_on" and e[0].startswith("k8s://prod/shop/pod/")} == {
        (p, "runs_on", node) for p in [*web_pods, K("shop", "Pod", "db-0"), K("shop", "Pod", "nightly-report-29405400-7hq2d")]}
    pv = K(None, "PersistentVolume", "pvc-3f1c2b7e-8d9a-4c61-b0e2-5a7d9c1e4f20")
    assert {
        (K("shop", "Pod", "db-0"), "depends_on", K("shop", "PersistentVolumeClaim", "data-db-0")),
        (K("shop", "PersistentVolumeClaim", "data-db-0"), "depends_on", pv),
        (K("shop", "Pod", "web-7d4b9c8f6d-x2k4p"), "depends_on", K("shop", "Secret", "web-tls")),
        (K("shop", "Pod", "web-7d4b9c8f6d-x2k4p"), "depends_on", K("shop", "Secret", "db-credentials")),
        (K("shop", "Pod", "web-7d4b9c8f6d-x2k4p"), "depends_on", K("shop", "ConfigMap", "web-config")),
        (K("shop", "Ingress", "shop"), "depends_on", K("shop", "Service", "web")),
        (K("shop", "HorizontalPodAutoscaler", "web"), "depends_on", K("shop", "Deployment", "web")),
        (K(None, "Namespace", "shop"), "contains", K("shop", "Deployment", "web")),
    } <= edges

    # cross-layer: node → EC2 instance, LoadBalancer service → NLB, ingress → ALB, PV → EBS volume
    cross = {e for e in edges if e[0].startswith("k8s://") and e[2].startswith("arn:")}
    assert cross == {
        (node, "runs_on", f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-0a1b2c3d4e5f60718"),
        (K("shop", "Service", "web"), "depends_on", aws["k8s-shop-web-6f5c2a9b1d"]),
        (K("shop", "Ingress", "shop"), "depends_on", aws["k8s-shop-shop-0a1b2c3d4e"]),
        (pv, "depends_on", f"arn:aws:ec2:us-east-1:{ACCOUNT}:volume/vol-0f1e2d3c4b5a69788"),
    }


def test_secrets_are_never_requested_and_come_from_pod_references(k8s_api: Path, data_dir: Path) -> None:
    report = run_scan(ScanOptions(aws=False, kubeconfig=str(k8s_api)), GraphState(data_dir))
    assert report.failed == []
    asked = {path: accept for path, accept in FakeApi.requests}
    # least privilege: the scanner's ClusterRole grants nothing on secrets, so it never asks
    assert not any(path.endswith("/secrets") for path in asked)
    assert "as=PartialObjectMetadataList" in asked["/api/v1/configmaps"]
    secrets = [n for n in report.graph.nodes() if n.kind == "k8s.secret"]
    assert sorted(n.name for n in secrets) == ["db-credentials", "web-tls"]  # what the web pod references
    assert all(n.attrs == {"namespace": "shop"} for n in secrets)


def test_secrets_listed_by_an_older_version_go_unless_a_pod_names_them(k8s_api: Path, data_dir: Path) -> None:
    from airdig.model.graph import Node
    from airdig.skygraph.graph import ScopeGraph

    state = GraphState(data_dir)
    old = {K("shop", "Secret", name): Node(id=K("shop", "Secret", name), kind="k8s.secret", provider="k8s",
                                          account="prod", region="prod", name=name, attrs={"namespace": "shop"})
           for name in ("db-credentials", "retired-token")}
    state.save("k8s.secret/prod", ScopeGraph(nodes=old))
    report = run_scan(ScanOptions(aws=False, kubeconfig=str(k8s_api)), state)
    assert report.failed == []
    deleted = {c.node.id for c in report.changes.nodes if c.action == "deleted"}
    assert deleted == {K("shop", "Secret", "retired-token")}  # db-credentials is named by the web pod
    assert K("shop", "Secret", "db-credentials") in {n.id for n in report.graph.nodes()}


def test_forbidden_kind_fails_only_its_scope_and_deletes_nothing(k8s_api: Path, data_dir: Path) -> None:
    state = GraphState(data_dir)
    first = run_scan(ScanOptions(aws=False, kubeconfig=str(k8s_api)), state)
    assert first.failed == []
    FakeApi.forbidden = {"pods"}
    second = run_scan(ScanOptions(aws=False, kubeconfig=str(k8s_api)), state)
    # pods are forbidden; services need the pod list for their selectors, so they are unknown too
    assert {r.scope for r in second.failed} == {"k8s.pod/prod", "k8s.service/prod"}
    assert "403" in next(r.error or "" for r in second.failed if r.scope == "k8s.pod/prod")
    assert [c for c in second.changes.nodes if c.action == "deleted"] == []
    assert [c for c in second.changes.edges if c.action == "deleted"] == []
    kept = state.load("k8s.pod/prod").nodes.values()  # type: ignore[union-attr]
    assert sum(1 for n in kept if n.kind == "k8s.pod") == 5  # (the scope also holds the secrets pods name)
