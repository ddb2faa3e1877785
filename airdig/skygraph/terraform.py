"""Terraform ownership: a ``manages`` edge from each managed resource's address to the node it manages.

State files are read by DeepDrift's reader (:mod:`airdig.deepdrift.tfstate`: v4 states, local files,
globs, S3 and HTTP backends), so both pillars agree on what a state says. The managed node is found by
the resource's ``arn`` attribute, else its ``id`` (``i-0abc``, a bucket name, a queue URL), through the
native-id index; resources naming nothing scanned (rules, attachments, other providers) get no edge.

    resources = read_state_resources("envs/prod/terraform.tfstate")
    frag = transform_state(resources, "envs/prod/terraform.tfstate")
"""

from __future__ import annotations

from typing import Any

from airdig.deepdrift import tfstate
from airdig.model.graph import Node
from airdig.model.ids import terraform_id
from airdig.model.redact import redact_url
from airdig.skygraph.graph import Fragment

StateResources = list[tuple[str, str, dict[str, Any]]]


def expand(specs: list[str]) -> list[str]:
    """``--tfstate`` values (paths, globs, ``s3://``/``https://``) to sources; a glob matching nothing raises."""
    out: list[str] = []
    for spec in specs:
        out.extend(tfstate.expand(spec))
    return list(dict.fromkeys(out))


def read_state_resources(path: str) -> StateResources:
    """``[(address, type, attributes)]`` of the managed resources in one state (InvalidInput if unreadable)."""
    state = tfstate.parse_state(tfstate.read_source(path), path)
    return [(r.address, r.type, r.attributes) for r in state.resources]


def scope_of(source: str) -> str:
    """The scope of a state; an ``https://user:pass@…`` source loses its password (scopes name files and
    appear in logs)."""
    return f"terraform/{redact_url(source)}"


def _target(attrs: dict[str, Any]) -> str | None:
    arn = attrs.get("arn")
    if isinstance(arn, str) and arn.startswith("arn:"):
        return arn
    ident = attrs.get("id")
    return str(ident) if isinstance(ident, str | int) and ident != "" else None


def transform_state(resources: StateResources, source: str) -> Fragment:
    f = Fragment(scope_of(source))
    for address, rtype, attrs in resources:
        tid = terraform_id(address)
        f.add(Node(id=tid, kind="terraform.resource", provider="terraform", name=address,
                   attrs={"type": rtype, "address": address, "state": source, "resource_id": attrs.get("id")}))
        f.link(tid, "manages", _target(attrs))
    return f
