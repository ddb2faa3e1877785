"""What an AWS collector declares about itself: the kinds it reads, the API calls each comes from, the
edges it draws and the ARN format used when the API returns no ARN.

The declarations are the single source of ``docs/skygraph.md``'s kind table (``airdig.skygraph.aws.catalog``
renders it, a test fails when the doc is stale) and of the integration test that checks every edge a
scan produces against them, so a declaration cannot drift from what the transform does.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EdgeSpec:
    """``src -[type]-> dst`` between two node kinds (either end may be a kind of another service)."""

    src: str
    type: str
    dst: str


@dataclass(frozen=True)
class KindSpec:
    kind: str
    calls: tuple[str, ...]
    edges: tuple[EdgeSpec, ...] = ()
    arn: str = ""  # the synthesised ARN's format when the API returns none; "" = the API's own ARN
    natives: str = ""  # which native ids are indexed (so other scopes' references resolve)


def E(src: str, type_: str, *dsts: str) -> tuple[EdgeSpec, ...]:
    """Edges from ``src`` of one type to each of ``dsts`` (declaration shorthand)."""
    return tuple(EdgeSpec(src, type_, d) for d in dsts)


def arn_of(partition: str, service: str, region: str, account: str, resource: str) -> str:
    return f"arn:{partition}:{service}:{region}:{account}:{resource}"
