"""A simulated Kubernetes API for the demo: the documented list endpoints (``/api/v1/<plural>``,
``/apis/<group>/<version>/<plural>``) answering list responses in the shape a real API server returns,
behind bearer-token auth, reached by SkyGraph's official client through a kubeconfig file.

The cluster ``shop`` has two worker nodes whose ``spec.providerID`` names the demo's EC2 instances (so
SkyGraph draws node → instance edges), the ``frontend``, ``checkout`` and ``cart`` Deployments with
their ReplicaSets and Pods, and a Service per app. Kinds the demo does not populate answer empty lists,
as an API server does for a kind with no objects.
"""

from __future__ import annotations

import json
import secrets
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from airdig.demo.estate import REGION

CLUSTER = "shop"
NAMESPACE = "shop"
CREATED = "2026-11-01T08:00:00Z"
APPS = (("frontend", "checkout"), ("checkout", "checkout"), ("cart", "cart"))  # (app, node it runs on)


def _meta(name: str, ns: str | None = None, labels: dict[str, str] | None = None,
          owner: tuple[str, str, str] | None = None) -> dict[str, Any]:
    m: dict[str, Any] = {"name": name, "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{ns}/{name}")),
                         "resourceVersion": "1000", "creationTimestamp": CREATED, "labels": labels or {}}
    if ns:
        m["namespace"] = ns
    if owner:
        api, kind, oname = owner
        m["ownerReferences"] = [{"apiVersion": api, "kind": kind, "name": oname, "controller": True,
                                 "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{ns}/{oname}"))}]
    return m


def node_name(ip: str) -> str:
    return f"ip-{ip.replace('.', '-')}.ec2.internal"


def workload(app: str, ns: str, node: str, host_ip: str, pod_ip: str, index: int = 0, image: str | None = None,
             env: dict[str, str] | None = None, rs_hash: str = "6d8f7c9b5d", created: str = CREATED,
             ) -> dict[str, list[dict[str, Any]]]:
    """One app as an API server lists it: its Deployment, the ReplicaSet of the current rollout, one Pod
    on ``node`` and a Service. A rollout (new image or env) is a new ``rs_hash`` whose ReplicaSet and Pod
    carry the rollout time in ``creationTimestamp`` (``created``), as a real cluster's do."""
    labels = {"app": app}
    rs = f"{app}-{rs_hash}"
    container: dict[str, Any] = {"name": app, "image": image or f"ghcr.io/example/shop-{app}:2.3.1",
                                 "ports": [{"containerPort": 8080, "protocol": "TCP"}]}
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in sorted(env.items())]
    template = {"metadata": {"labels": labels}, "spec": {"containers": [container]}}
    dep_meta = _meta(app, ns, labels)
    if created != CREATED:  # a rollout: the Deployment's spec changed then (its managedFields record it)
        dep_meta["managedFields"] = [{"manager": "kubectl", "operation": "Update", "apiVersion": "apps/v1",
                                      "time": created}]
    rs_meta = _meta(rs, ns, {**labels, "pod-template-hash": rs_hash}, ("apps/v1", "Deployment", app))
    pod_meta = _meta(f"{rs}-x{index}k4p", ns, {**labels, "pod-template-hash": rs_hash}, ("apps/v1", "ReplicaSet", rs))
    rs_meta["creationTimestamp"] = pod_meta["creationTimestamp"] = created
    return {
        "deployments": [{"metadata": dep_meta,
                         "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": template},
                         "status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1}}],
        "replicasets": [{"metadata": rs_meta,
                         "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": template},
                         "status": {"replicas": 1, "readyReplicas": 1}}],
        "pods": [{"metadata": pod_meta,
                  "spec": {"nodeName": node, "containers": [container]},
                  "status": {"phase": "Running", "hostIP": host_ip, "podIP": pod_ip, "startTime": created,
                             "conditions": [{"type": "Ready", "status": "True"}]}}],
        "services": [{"metadata": _meta(app, ns, labels),
                      "spec": {"type": "ClusterIP", "selector": labels, "clusterIP": f"172.20.{index // 200}.{10 + index % 200}",
                               "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}]},
                      "status": {"loadBalancer": {}}}],
    }


def worker_node(ip: str, zone: str, instance_id: str) -> dict[str, Any]:
    """A worker Node whose ``spec.providerID`` names its EC2 instance (SkyGraph links node → instance)."""
    return {
        "metadata": _meta(node_name(ip), labels={"kubernetes.io/hostname": node_name(ip),
                                                 "topology.kubernetes.io/zone": zone,
                                                 "node.kubernetes.io/instance-type": "t3.medium"}),
        "spec": {"providerID": f"aws:///{zone}/{instance_id}"},
        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                   "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": node_name(ip)}],
                   "nodeInfo": {"kubeletVersion": "v1.30.4-eks-a737599", "osImage": "Amazon Linux 2",
                                "architecture": "amd64"}},
    }


def namespace(name: str) -> dict[str, Any]:
    return {"metadata": _meta(name, labels={"kubernetes.io/metadata.name": name}), "spec": {},
            "status": {"phase": "Active"}}


def objects(instances: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """List items per API plural; ``instances`` maps ``checkout``/``cart`` to EC2 instance ids."""
    ips = {"checkout": "10.0.1.10", "cart": "10.0.2.10"}
    zones = {"checkout": f"{REGION}a", "cart": f"{REGION}b"}
    out: dict[str, list[dict[str, Any]]] = {
        "nodes": [worker_node(ips[n], zones[n], iid) for n, iid in sorted(instances.items())],
        "namespaces": [namespace(n) for n in ("default", "kube-system", NAMESPACE)],
        "pods": [], "services": [], "deployments": [], "replicasets": []}
    for i, (app, host) in enumerate(APPS):
        w = workload(app, NAMESPACE, node_name(ips[host]), ips[host],
                     f"10.0.{1 if host == 'checkout' else 2}.{20 + i}", index=i)
        for plural, items in w.items():
            out[plural] += items
    return out


class _Api(BaseHTTPRequestHandler):
    token = ""
    lists: dict[str, list[dict[str, Any]]] = {}

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            self._send(401, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Unauthorized",
                             "code": 401})
            return
        path = urlsplit(self.path).path.rstrip("/")
        if not (path.startswith("/api/") or path.startswith("/apis/")):
            self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
                             "code": 404})
            return
        plural = path.rsplit("/", 1)[-1]
        items = self.lists.get(plural, [])
        kind = {"nodes": "NodeList", "pods": "PodList", "services": "ServiceList"}.get(plural, "List")
        self._send(200, {"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": "123456"},
                         "items": items})


class FakeKubernetes:
    """The API server on a free loopback port and a kubeconfig (written into ``folder``) that reaches it."""

    def __init__(self, instances: dict[str, str], folder: Path,
                 lists: dict[str, list[dict[str, Any]]] | None = None) -> None:
        #: what the API lists, per plural; callers may change it while the server runs (a rollout, a new
        #: namespace): each list request reads it afresh
        self.lists = objects(instances) if lists is None else lists
        handler: type[_Api] = type("DemoApi", (_Api,), {"token": secrets.token_hex(16), "lists": self.lists})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="demo-k8s", daemon=True)
        port = self._server.server_address[1]
        self.kubeconfig = folder / "kubeconfig"
        folder.mkdir(parents=True, exist_ok=True)
        self.kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": f"{CLUSTER}-demo",
            "clusters": [{"name": CLUSTER, "cluster": {"server": f"http://127.0.0.1:{port}"}}],
            "users": [{"name": "airdig-demo", "user": {"token": handler.token}}],
            "contexts": [{"name": f"{CLUSTER}-demo", "context": {"cluster": CLUSTER, "user": "airdig-demo"}}],
        }), encoding="utf-8")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
