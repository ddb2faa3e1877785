"""Shared pieces of the AWS collectors: where a resource lives, clients, JSON-safe responses, tags.

Every collector module has the same two steps (Cartography's pattern): ``get_*`` does the boto3 I/O
and returns the API's response shape made JSON-safe by :func:`jsonable` (so the transform is tested on
the very JSON files recorded from the API), and ``transform_*`` is pure and returns a
:class:`~airdig.skygraph.graph.Fragment`.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from airdig.model.graph import Node, make_node
from airdig.model.ids import aws_arn

# Adaptive retry: client-side rate limiting plus exponential backoff on throttling errors, so a scan of a
# large account slows down instead of failing (boto3 "adaptive" mode).
RETRY_CONFIG: dict[str, Any] = {"max_attempts": 10, "mode": "adaptive"}


@dataclass(frozen=True)
class Where:
    """The account and region a collector reads; ``region`` is ``global`` for IAM and S3."""

    account: str
    region: str
    partition: str = "aws"

    def arn(self, kind: str, native_id: str) -> str:
        return aws_arn(kind, self.region, self.account, native_id, self.partition)


class Clients:
    """boto3 clients for one scan; clients are thread-safe, their creation from one session is not."""

    def __init__(self, session: Any, config: Any) -> None:
        self._session = session
        self._config = config
        self._lock = threading.Lock()

    def client(self, service: str, region: str) -> Any:
        with self._lock:
            return self._session.client(service, region_name=region, config=self._config)


def jsonable(value: Any) -> Any:
    """An API response as plain JSON types: datetimes become RFC 3339 strings, bytes base64."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def paginate(client: Any, op: str, key: str, **kwargs: Any) -> list[Any]:
    """Every page of a paginated list call, concatenated (``key`` is the list in each page)."""
    out: list[Any] = []
    for page in client.get_paginator(op).paginate(**kwargs):
        out.extend(jsonable(page.get(key) or []))
    return out


def tag_list(tags: Iterable[dict[str, Any]] | None) -> dict[str, str]:
    """``[{"Key": k, "Value": v}]`` (EC2, ELB, RDS, ...) → ``{k: v}``."""
    if not tags:
        return {}
    out: dict[str, str] = {}
    for t in tags:  # written out: 3x cheaper than the comprehension with nested .get defaults (issue 14)
        k = t["Key"] if "Key" in t else t.get("key", "")
        v = t["Value"] if "Value" in t else t.get("value", "")
        out[k if type(k) is str else str(k)] = v if type(v) is str else str(v)
    return out


def without(item: dict[str, Any], *keys: str) -> dict[str, Any]:
    """The configuration snapshot: the API item minus tags and fields that change on their own."""
    out = dict(item)  # a C-level copy, then the few removals: same keys, same order as a filtered copy
    for k in keys:
        out.pop(k, None)
    return out


def node(kind: str, node_id: str, where: Where, name: str, attrs: dict[str, Any],
         tags: dict[str, str] | None = None, natives: Iterable[str | None] = (),
         region: str | None = None) -> Node:
    return make_node(node_id, kind, "aws", where.account, where.region if region is None else region,
                     name or node_id, attrs, tags or {}, tuple(dict.fromkeys(filter(None, natives))))


def name_tag(tags: dict[str, str], default: str) -> str:
    return tags.get("Name") or default


def each(items: Iterable[dict[str, Any]] | None) -> Iterator[dict[str, Any]]:
    for item in items or []:
        if isinstance(item, dict):
            yield item


Getter = Callable[[Clients, Where], dict[str, Any]]
