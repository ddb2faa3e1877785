"""The benchmark's Kubernetes cluster: the demo's simulated API server (``airdig.demo.k8s``), holding
one worker node per Kubernetes incident (on that incident's app host) and the incident's ``api``
Deployment in a namespace of its own. A rollout — new image or new environment — replaces the
ReplicaSet and Pod with ones whose ``creationTimestamp`` is the rollout time, as a cluster does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airdig.demo.estate import REGION
from airdig.demo.k8s import CLUSTER, FakeKubernetes, namespace, node_name, worker_node, workload
from airdig.model.events import to_rfc3339
from airdig.model.ids import k8s_id
from bench.rca.plan import Incident

__all__ = ["CLUSTER", "Cluster"]
PLURALS = ("nodes", "namespaces", "pods", "services", "deployments", "replicasets")


class Cluster:
    def __init__(self, folder: Path) -> None:
        self.lists: dict[str, list[dict[str, Any]]] = {p: [] for p in PLURALS}
        self.lists["namespaces"] += [namespace("default"), namespace("kube-system")]
        self.api = FakeKubernetes({}, folder, lists=self.lists)

    def start(self) -> None:
        self.api.start()

    def stop(self) -> None:
        self.api.stop()

    @staticmethod
    def _hash(inc: Incident) -> str:
        return f"7f{inc.suffix}"

    @staticmethod
    def _ip(inc: Incident) -> str:
        return f"10.{inc.index % 250}.1.10"

    def add(self, inc: Incident) -> None:
        """The incident's worker node (on its app host) and its ``api`` workload as first rolled out."""
        ip = self._ip(inc)
        self.lists["nodes"].append(worker_node(ip, f"{REGION}a", inc.ids["app"]))
        self.lists["namespaces"].append(namespace(inc.ns))
        self._put(inc, workload("api", inc.ns, node_name(ip), ip, f"10.{inc.index % 250}.1.20", index=inc.index,
                                image="ghcr.io/example/orders-api:4.1.0", env={"DB_POOL_SIZE": "20"},
                                rs_hash="5c7d9f8b6a"))
        inc.ids["pod_before"] = f"api-5c7d9f8b6a-x{inc.index}k4p"
        inc.ids["pod_after"] = f"api-{self._hash(inc)}-x{inc.index}k4p"  # the planned rollout's Pod

    def _put(self, inc: Incident, objs: dict[str, list[dict[str, Any]]]) -> None:
        for plural, items in objs.items():
            keep = [o for o in self.lists[plural]
                    if not (o["metadata"].get("namespace") == inc.ns and o["metadata"]["labels"].get("app") == "api")]
            self.lists[plural][:] = keep + items

    def rollout(self, inc: Incident, at: float, image: bool) -> tuple[str, str]:
        """Roll out a new image (or a new environment) at ``at``; returns the new ReplicaSet and Pod ids."""
        ip = self._ip(inc)
        rs_hash = self._hash(inc)
        objs = workload("api", inc.ns, node_name(ip), ip, f"10.{inc.index % 250}.1.21", index=inc.index,
                        image="ghcr.io/example/orders-api:4.2.0" if image else "ghcr.io/example/orders-api:4.1.0",
                        env={"DB_POOL_SIZE": "20" if image else "2"}, rs_hash=rs_hash, created=to_rfc3339(at))
        self._put(inc, objs)
        pod = inc.ids["pod_after"]
        return (k8s_id(CLUSTER, inc.ns, "replicaset", f"api-{rs_hash}"), k8s_id(CLUSTER, inc.ns, "pod", pod))
