"""Kubernetes list responses → nodes and edges (pure; tested on recorded-shape JSON).

Edges: namespace ``contains`` every object in it; an owner ``contains`` what it owns (ownerReferences:
Deployment → ReplicaSet → Pod, CronJob → Job → Pod, ...); pod ``runs_on`` its node and ``depends_on`` its
PVCs, config maps and secrets; PVC ``depends_on`` its PV; PV ``depends_on`` the EBS volume behind it;
service ``depends_on`` the pods its selector matches; ingress ``depends_on`` its backend services; HPA
``depends_on`` its scale target. Cross-layer: a node whose ``spec.providerID`` is
``aws:///<az>/i-…`` ``runs_on`` that EC2 instance; a service or ingress whose load-balancer hostname is
an ELB's DNS name ``depends_on`` that load balancer.

Secrets are never read from the API (the scanner's ClusterRole grants no access to them): a secret
node comes from the pods that reference it (volume, ``envFrom``, ``env.valueFrom``) and carries only its
name and namespace. Config maps are read as metadata only. Container ``env`` values and everything else
pass through :mod:`airdig.model.redact` when the node is added to the fragment.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from airdig.model.graph import Node, make_node
from airdig.model.ids import k8s_id
from airdig.skygraph.graph import Fragment


@dataclass(frozen=True)
class K8sKind:
    api_kind: str  # as in ownerReferences and the List's items
    node_kind: str
    path: str  # list path across all namespaces
    namespaced: bool
    metadata_only: bool = False  # ask for PartialObjectMetadataList: the data never crosses the wire


KINDS: tuple[K8sKind, ...] = (
    K8sKind("Namespace", "k8s.namespace", "/api/v1/namespaces", False),
    K8sKind("Node", "k8s.node", "/api/v1/nodes", False),
    K8sKind("Pod", "k8s.pod", "/api/v1/pods", True),
    K8sKind("Deployment", "k8s.deployment", "/apis/apps/v1/deployments", True),
    K8sKind("ReplicaSet", "k8s.replicaset", "/apis/apps/v1/replicasets", True),
    K8sKind("StatefulSet", "k8s.statefulset", "/apis/apps/v1/statefulsets", True),
    K8sKind("DaemonSet", "k8s.daemonset", "/apis/apps/v1/daemonsets", True),
    K8sKind("Job", "k8s.job", "/apis/batch/v1/jobs", True),
    K8sKind("CronJob", "k8s.cronjob", "/apis/batch/v1/cronjobs", True),
    K8sKind("Service", "k8s.service", "/api/v1/services", True),
    K8sKind("Ingress", "k8s.ingress", "/apis/networking.k8s.io/v1/ingresses", True),
    K8sKind("ConfigMap", "k8s.configmap", "/api/v1/configmaps", True, metadata_only=True),
    K8sKind("PersistentVolumeClaim", "k8s.pvc", "/api/v1/persistentvolumeclaims", True),
    K8sKind("PersistentVolume", "k8s.pv", "/api/v1/persistentvolumes", False),
    K8sKind("HorizontalPodAutoscaler", "k8s.hpa", "/apis/autoscaling/v2/horizontalpodautoscalers", True),
)
# Not listed (least privilege: RBAC cannot grant metadata-only access to secrets); named by pod references.
SECRET = K8sKind("Secret", "k8s.secret", "/api/v1/secrets", True, metadata_only=True)
KIND_BY_API = {k.api_kind: k for k in (*KINDS, SECRET)}

# status fields that are configuration-like; the rest (conditions, timestamps, ready counts) moves by itself
_STATUS_KEEP: dict[str, tuple[str, ...]] = {
    "Pod": ("phase", "podIP", "hostIP", "qosClass"),
    "Node": ("addresses", "nodeInfo", "capacity", "allocatable"),
    "Service": ("loadBalancer",),
    "Ingress": ("loadBalancer",),
    "PersistentVolumeClaim": ("phase", "capacity"),
    "PersistentVolume": ("phase",),
}
_META_KEEP = ("uid", "creationTimestamp", "ownerReferences")


def scope_of(kind: K8sKind, cluster: str) -> str:
    return f"k8s.{kind.api_kind.lower()}/{cluster}"


def _items(raw: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for item in raw.get("items") or []:
        if isinstance(item, dict) and isinstance(item.get("metadata"), dict) and item["metadata"].get("name"):
            yield item


def _node(kind: K8sKind, cluster: str, item: dict[str, Any]) -> Node:
    meta = item["metadata"]
    ns = meta.get("namespace") if kind.namespaced else None
    attrs: dict[str, Any] = {k: meta[k] for k in _META_KEEP if k in meta}
    if not kind.metadata_only:
        if "spec" in item:
            attrs["spec"] = item["spec"]
        status = item.get("status") or {}
        kept = {k: status[k] for k in _STATUS_KEEP.get(kind.api_kind, ()) if k in status}
        if kept:
            attrs["status"] = kept
    if kind.api_kind == "Secret" and isinstance(item.get("type"), str):
        attrs["type"] = item["type"]
    if ns:
        attrs["namespace"] = ns
    natives = [meta.get("uid")]
    if kind.api_kind == "Pod":
        status = item.get("status") or {}
        natives.append(status.get("podIP"))
        if ns:
            natives.append(f"{ns}/{meta['name']}")  # how metrics and logs name a pod (namespace + pod label)
        for cs in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
            cid = str(cs.get("containerID") or "")
            if "://" in cid:  # containerd://<64 hex>; Falco reports the first 12
                natives.append(cid.split("://", 1)[1])
    elif kind.api_kind == "Node":
        natives.append(meta["name"])
    return make_node(k8s_id(cluster, ns, kind.api_kind, meta["name"]), kind.node_kind, "k8s", cluster, cluster,
                     meta["name"], attrs, {str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
                     tuple(filter(None, natives)))


def _lb_hostnames(item: dict[str, Any]) -> list[str]:
    ingress = ((item.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return [i["hostname"] for i in ingress if isinstance(i, dict) and i.get("hostname")]


def _pod_refs(spec: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(kind, name) of the claims, config maps and secrets a pod mounts or reads."""
    for v in spec.get("volumes") or []:
        if (v.get("persistentVolumeClaim") or {}).get("claimName"):
            yield "PersistentVolumeClaim", v["persistentVolumeClaim"]["claimName"]
        if (v.get("configMap") or {}).get("name"):
            yield "ConfigMap", v["configMap"]["name"]
        if (v.get("secret") or {}).get("secretName"):
            yield "Secret", v["secret"]["secretName"]
    for c in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        for ef in c.get("envFrom") or []:
            if (ef.get("configMapRef") or {}).get("name"):
                yield "ConfigMap", ef["configMapRef"]["name"]
            if (ef.get("secretRef") or {}).get("name"):
                yield "Secret", ef["secretRef"]["name"]
        for env in c.get("env") or []:
            src = env.get("valueFrom") or {}
            if (src.get("configMapKeyRef") or {}).get("name"):
                yield "ConfigMap", src["configMapKeyRef"]["name"]
            if (src.get("secretKeyRef") or {}).get("name"):
                yield "Secret", src["secretKeyRef"]["name"]


def _ebs_volume(spec: dict[str, Any]) -> str | None:
    ebs = (spec.get("awsElasticBlockStore") or {}).get("volumeID")
    if ebs:
        return str(ebs).rsplit("/", 1)[-1]  # "aws://us-east-1a/vol-0abc" or "vol-0abc"
    csi = spec.get("csi") or {}
    if csi.get("driver") == "ebs.csi.aws.com" and csi.get("volumeHandle"):
        return str(csi["volumeHandle"])
    return None


def provider_instance(provider_id: str | None) -> str | None:
    """``aws:///us-east-1a/i-0abc`` → ``i-0abc``; other clouds → None."""
    if not provider_id or not provider_id.startswith("aws://"):
        return None
    last = provider_id.rstrip("/").rsplit("/", 1)[-1]
    return last if last.startswith("i-") else None


def transform_kind(kind: K8sKind, raw: dict[str, Any], cluster: str,
                   pods: dict[str, Any] | None = None) -> Fragment:
    """One kind's list response; services need the pod list (``pods``) to resolve their selectors."""
    f = Fragment(scope_of(kind, cluster))
    pods_by_ns: dict[str, list[dict[str, Any]]] = {}
    if kind.api_kind == "Service" and pods is not None:
        for p in _items(pods):
            pods_by_ns.setdefault(p["metadata"].get("namespace") or "default", []).append(p)
    for item in _items(raw):
        n = f.add(_node(kind, cluster, item))
        meta = item["metadata"]
        ns = meta.get("namespace") if kind.namespaced else None
        spec = item.get("spec") or {}

        def ref(api_kind: str, name: str | None, _ns: str | None = ns) -> str | None:
            target = KIND_BY_API.get(api_kind)
            if not name or target is None:
                return None
            return k8s_id(cluster, _ns if target.namespaced else None, api_kind, name)

        if ns:
            f.link(ref("Namespace", ns), "contains", n.id)
        for owner in meta.get("ownerReferences") or []:
            f.link(ref(owner.get("kind", ""), owner.get("name")), "contains", n.id)
        if kind.api_kind == "Pod":
            f.link(n.id, "runs_on", ref("Node", spec.get("nodeName")))
            for k, name in _pod_refs(spec):
                target_id = ref(k, name)
                if k == "Secret" and target_id:
                    f.add(Node(id=target_id, kind=SECRET.node_kind, provider="k8s", account=cluster,
                               region=cluster, name=name, attrs={"namespace": ns} if ns else {}))
                f.link(n.id, "depends_on", target_id)
        elif kind.api_kind == "Node":
            f.link(n.id, "runs_on", provider_instance(spec.get("providerID")))
        elif kind.api_kind == "PersistentVolumeClaim":
            f.link(n.id, "depends_on", ref("PersistentVolume", spec.get("volumeName")))
        elif kind.api_kind == "PersistentVolume":
            f.link(n.id, "depends_on", _ebs_volume(spec))
        elif kind.api_kind == "Service":
            selector = spec.get("selector") or {}
            if selector:
                for p in pods_by_ns.get(ns or "default", []):
                    labels = p["metadata"].get("labels") or {}
                    if all(labels.get(k) == v for k, v in selector.items()):
                        f.link(n.id, "depends_on", ref("Pod", p["metadata"]["name"]))
            for host in _lb_hostnames(item):
                f.link(n.id, "depends_on", host)
        elif kind.api_kind == "Ingress":
            backends = [spec.get("defaultBackend") or {}]
            for rule in spec.get("rules") or []:
                backends.extend(p.get("backend") or {} for p in (rule.get("http") or {}).get("paths") or [])
            for b in backends:
                f.link(n.id, "depends_on", ref("Service", (b.get("service") or {}).get("name")))
            for host in _lb_hostnames(item):
                f.link(n.id, "depends_on", host)
        elif kind.api_kind == "HorizontalPodAutoscaler":
            target = spec.get("scaleTargetRef") or {}
            f.link(n.id, "depends_on", ref(target.get("kind", ""), target.get("name")))
    return f
