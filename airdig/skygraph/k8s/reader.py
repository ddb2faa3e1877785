"""Reads list responses from a Kubernetes API server through the official client.

Kubeconfig (``--kubeconfig`` / ``--context``, else ``$KUBECONFIG`` / ``~/.kube/config``) or in-cluster
configuration. Every list follows ``metadata.continue``; config maps are requested as
``PartialObjectMetadataList`` so their data never leaves the API server.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from airdig.errors import BackendUnavailable, ConfigError
from airdig.skygraph.k8s.transform import K8sKind

PAGE = 500
_METADATA_ACCEPT = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"


@dataclass
class K8sTarget:
    api_client: Any
    cluster: str


def default_kubeconfig() -> str | None:
    env = os.environ.get("KUBECONFIG")
    if env:
        return env.split(os.pathsep)[0]
    home = Path.home() / ".kube" / "config"
    return str(home) if home.exists() else None


def connect(kubeconfig: str | None, context: str | None, cluster_name: str | None) -> K8sTarget:
    """An API client for the chosen context (or in-cluster), and the cluster name used in node ids."""
    from kubernetes import client, config

    path = kubeconfig or default_kubeconfig()
    if path:
        try:
            contexts, active = config.list_kube_config_contexts(config_file=path)  # type: ignore[no-untyped-call]
            chosen = next((c for c in contexts if c.get("name") == context), None) if context else active
            if chosen is None:
                raise ConfigError("--context", f"no context {context!r} in {path}")
            api = config.new_client_from_config(config_file=path, context=chosen["name"])  # type: ignore[no-untyped-call]
        except config.ConfigException as exc:
            raise ConfigError("--kubeconfig", f"{path}: {exc}") from exc
        name = cluster_name or (chosen.get("context") or {}).get("cluster") or chosen["name"]
        return K8sTarget(api, name)
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config()  # type: ignore[no-untyped-call]
        return K8sTarget(client.ApiClient(), cluster_name or "in-cluster")
    raise ConfigError("--kubeconfig", "no kubeconfig found and not running in a cluster")


def get_list(target: K8sTarget, kind: K8sKind) -> dict[str, Any]:
    """All items of one kind across namespaces, as one ``*List`` object (pages joined)."""
    items: list[Any] = []
    token: str | None = None
    first: dict[str, Any] = {}
    while True:
        query: list[tuple[str, Any]] = [("limit", PAGE)]
        if token:
            query.append(("continue", token))
        headers = {"Accept": _METADATA_ACCEPT if kind.metadata_only else "application/json"}
        method, url, hdrs, body, _ = target.api_client.param_serialize(
            "GET", kind.path, query_params=query, header_params=headers, auth_settings=["BearerToken"])
        try:
            resp = target.api_client.call_api(method, url, header_params=hdrs, body=body, _request_timeout=60)
            raw = resp.read()
            status = resp.status
        except Exception as exc:  # ApiException, urllib3 errors: the scope fails, the scan carries on
            status = getattr(exc, "status", None)
            if status in (401, 403):
                raise PermissionError(f"{kind.path}: HTTP {status} (RBAC denies list {kind.api_kind})") from exc
            raise BackendUnavailable("kubernetes API", f"{kind.path}: {exc}") from exc
        if status in (401, 403):
            raise PermissionError(f"{kind.path}: HTTP {status} (RBAC denies list {kind.api_kind})")
        if not 200 <= status < 300:
            raise BackendUnavailable("kubernetes API", f"{kind.path}: HTTP {status}")
        page = orjson.loads(raw)
        if not first:
            first = {k: v for k, v in page.items() if k != "items"}
        items.extend(page.get("items") or [])
        token = (page.get("metadata") or {}).get("continue") or None
        if not token:
            break
    first["items"] = items
    return first
