"""The extension points of the data platform, as Protocols.

Everything above ``airdig/backends`` talks to these and never imports a driver. Implementations are
found from a URL by :mod:`airdig.backends.registry`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

# ---------------------------------------------------------------- store rows


@dataclass(frozen=True)
class NodeRow:
    """A node as the store keeps it; ``version`` is the event time of the state it holds."""

    id: str
    kind: str
    provider: str
    account: str
    region: str
    name: str
    attrs: dict[str, Any]
    tags: dict[str, str]
    managed_by: str | None
    version: float
    first_seen: float
    last_seen: float
    deleted_at: float | None = None
    drift_status: str = "unknown"
    drift_last_event: str | None = None
    health_status: str = "unknown"
    health_reasons: list[dict[str, Any]] = field(default_factory=list)
    health_since: float | None = None
    confirmed_at: float | None = None  # the last read of the cloud that saw the node (scan or follow)
    confirm_interval: float | None = None  # seconds between its scope's last two reads (scan cadence)


@dataclass(frozen=True)
class EdgeRow:
    src: str
    dst: str
    type: str
    attrs: dict[str, Any]
    first_seen: float
    last_seen: float
    deleted_at: float | None = None


@dataclass(frozen=True)
class ChangeRow:
    """One line of a node's change timeline: what changed, when, from where, by whom."""

    id: str
    node_id: str
    time: float
    kind: str  # created, updated, deleted, drift, cloudtrail, health, deploy, scaling ...
    source: str
    summary: str
    actor: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceEdgeRow:
    """Call statistics of one service edge in one time window."""

    src: str
    dst: str
    window_start: float
    window_seconds: int
    request_count: int
    error_count: int
    errors: dict[str, Any]
    latency: dict[str, Any]
    p50: float | None
    p95: float | None
    p99: float | None


@dataclass(frozen=True)
class DriftRow:
    id: str
    resource_id: str
    resource_type: str
    terraform_address: str | None
    kind: str
    severity: str
    status: str
    diffs: list[dict[str, Any]]
    cause: dict[str, Any] | None
    remediation: Any
    detected_at: float
    resolved_at: float | None


@dataclass(frozen=True)
class NodeFilter:
    kind: str | None = None
    provider: str | None = None
    account: str | None = None
    region: str | None = None
    tag: tuple[str, str | None] | None = None  # (key, value or None for "has key")
    health: str | None = None
    drift: str | None = None
    changed_since: float | None = None
    include_deleted: bool = False


@dataclass(frozen=True)
class ApiTokenRow:
    """An API token as stored: its SHA-256 only (the token itself is shown once, at creation)."""

    id: str
    name: str
    role: str  # viewer, editor, admin
    token_hash: str
    created_at: float
    revoked_at: float | None = None


@dataclass(frozen=True)
class AlertDeliveryRow:
    """One webhook delivery of an alert, updated after every attempt (status pending, sent or failed)."""

    id: str
    dedupe_key: str
    target: str  # the webhook URL with its secret parts masked
    format: str  # json or slack
    payload: dict[str, Any]
    status: str
    attempts: int
    last_error: str | None
    created_at: float
    sent_at: float | None = None


class EventsClaimed(Exception):
    """A concurrent transaction applied some events of this batch first: roll back and read again."""


class StoreTx(Protocol):
    """One transaction; every write of an applied batch goes through one of these."""

    def seen_events(self, event_ids: Sequence[str]) -> set[str]: ...
    def claim_events(self, event_ids: Sequence[str], at: float) -> None:
        """Record the events as applied by this transaction; :class:`EventsClaimed` when another
        transaction recorded one of them first (this one must roll back and read again)."""
    def upsert_nodes(self, rows: Sequence[NodeRow]) -> None: ...
    def upsert_edges(self, rows: Sequence[EdgeRow], version: Sequence[float]) -> None: ...
    def confirm_nodes(self, node_ids: Sequence[str], at: float, interval: float | None) -> None: ...
    def add_native_ids(self, pairs: Sequence[tuple[str, str]]) -> None: ...
    def add_changes(self, rows: Sequence[ChangeRow]) -> None: ...


@runtime_checkable
class Store(Protocol):
    """The graph and its history (SQLite embedded, TiDB/MySQL at scale)."""

    url: str

    def migrate(self, dry_run: bool = False) -> list[str]: ...
    def schema_status(self) -> dict[str, Any]: ...
    def check_schema(self) -> None: ...
    def ping(self) -> None: ...
    def transaction(self) -> AbstractContextManager[StoreTx]: ...
    def get_node(self, node_id: str) -> NodeRow | None: ...
    def get_nodes(self, node_ids: Sequence[str]) -> dict[str, NodeRow]: ...
    def list_nodes(self, flt: NodeFilter, first: int, after: str | None) -> list[NodeRow]: ...
    def count_nodes(self, flt: NodeFilter) -> int: ...
    def search_nodes(self, text: str, limit: int) -> list[NodeRow]: ...
    def resolve_native_id(self, native_id: str) -> list[str]: ...
    def edges(self, node_ids: Sequence[str], direction: str = "both",
              types: Sequence[str] | None = None) -> list[EdgeRow]: ...
    def changes(self, node_id: str | None, since: float | None, until: float | None,
                limit: int = 500) -> list[ChangeRow]: ...
    def table_counts(self) -> dict[str, int]: ...
    def add_api_token(self, row: ApiTokenRow) -> None: ...
    def api_token_by_hash(self, token_hash: str) -> ApiTokenRow | None: ...
    def list_api_tokens(self, include_revoked: bool = False) -> list[ApiTokenRow]: ...
    def revoke_api_tokens(self, id_or_name: str, at: float) -> int: ...
    def save_alert_delivery(self, row: AlertDeliveryRow) -> None: ...
    def alert_deliveries(self, first: int, dedupe_key: str | None = None,
                         since: float | None = None) -> list[AlertDeliveryRow]: ...
    def hop_keys(self, frontier: Sequence[int], forward_types: Sequence[str],
                 backward_types: Sequence[str]) -> list[tuple[int, int, str]]: ...
    def node_ids_for_keys(self, keys: Sequence[int]) -> dict[int, str]: ...
    def changes_of(self, node_ids: Sequence[str], since: float | None, until: float | None,
                   kinds: Sequence[str] | None = None, limit: int = 1000) -> list[ChangeRow]: ...
    def service_edge_stats(self, since: float | None, until: float | None,
                           node_ids: Sequence[str] | None = None) -> list[ServiceEdgeRow]:
        """One row per (src, dst, window): the parts of a window are added up."""
        ...
    def drift_events(self, resource_id: str | None = None, status: str | None = None, severity: str | None = None,
                     kind: str | None = None, first: int = 50,
                     after: tuple[float, str] | None = None) -> list[DriftRow]: ...
    def count_drift_events(self, resource_id: str | None = None, status: str | None = None,
                           severity: str | None = None, kind: str | None = None) -> int: ...
    def get_drift(self, drift_id: str) -> DriftRow | None: ...
    def update_drift_status(self, drift_id: str, status: str, at: float, actor: str | None) -> DriftRow | None: ...
    def coverage(self) -> dict[str, Any]: ...
    # history: the graph as of a time (see airdig.backends.store.history)
    def edge_links(self, node_ids: Sequence[str], direction: str, types: Sequence[str] | None,
                   at: float | None) -> list[tuple[str, str, str]]: ...
    def node_briefs(self, node_ids: Sequence[str]) -> dict[str, NodeRow]: ...
    def latest_changes(self, node_ids: Sequence[str], kinds: Sequence[str], at: float) -> dict[str, ChangeRow]: ...
    def latest_changes_of_kind(self, kind: str, at: float) -> dict[str, ChangeRow]: ...
    def drift_events_until(self, resource_ids: Sequence[str], at: float) -> list[DriftRow]: ...
    def nodes_existing_at(self, at: float, first: int, after: str | None = None) -> list[NodeRow]: ...
    def count_nodes_existing_at(self, at: float) -> int: ...
    def nodes_appeared(self, lo: float, hi: float, node_ids: Sequence[str] | None,
                       first: int) -> tuple[list[NodeRow], int]: ...
    def nodes_vanished(self, lo: float, hi: float, node_ids: Sequence[str] | None,
                       first: int) -> tuple[list[NodeRow], int]: ...
    def changed_node_ids(self, lo: float, hi: float, kinds: Sequence[str], node_ids: Sequence[str] | None,
                         first: int) -> tuple[list[str], int]: ...
    def edges_between(self, lo: float, hi: float, appeared: bool, node_ids: Sequence[str] | None,
                      first: int) -> tuple[list[EdgeRow], int]: ...
    def acquire_lease(self, scope: str, holder: str, ttl: float, now: float) -> bool: ...
    def release_lease(self, scope: str, holder: str) -> None: ...
    def lease_holder(self, scope: str, now: float) -> str | None: ...
    def close(self) -> None: ...


# ---------------------------------------------------------------- bus


@dataclass(frozen=True)
class Record:
    """One message read from the bus."""

    topic: str
    partition: int
    offset: int
    key: str
    value: bytes
    timestamp: float


@dataclass(frozen=True)
class Committed:
    """A partition's committed position (the first offset not yet done; -1: nothing committed) and the
    metadata committed with it."""

    position: int
    metadata: str = ""


class Consumer(Protocol):
    """A member of a consumer group. Offsets move only through :meth:`commit` / :meth:`commit_positions`."""

    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Record]: ...
    def commit(self, records: Sequence[Record]) -> None: ...
    def commit_positions(self, positions: Mapping[tuple[str, int], tuple[int, str]]) -> None:
        """Per (topic, partition): every record below ``position`` is done; ``metadata`` (a short string,
        Kafka keeps up to 4 KB) is stored with it for whoever owns the partition next. Used by consumers
        that hold records' effects in memory and so cannot commit a record as soon as it is read."""
        ...
    def committed(self, partitions: Sequence[tuple[str, int]]) -> dict[tuple[str, int], Committed]: ...
    def publish_and_commit(self, messages: Sequence[tuple[str, str, bytes]],
                           positions: Mapping[tuple[str, int], tuple[int, str]]) -> None:
        """Publish ``messages`` (topic, key, value) and commit ``positions`` (as :meth:`commit_positions`)
        atomically: both or neither (Kafka: one transaction, fenced by the group's generation, so a
        member that lost its partitions cannot commit; embedded: one SQLite transaction). Raises
        :class:`airdig.errors.BackendUnavailable` when it did not happen."""
        ...
    def lag(self) -> dict[tuple[str, int], int]: ...
    def assignment(self) -> list[tuple[str, int]]: ...
    def close(self) -> None: ...


class RebalanceListener(Protocol):
    """Told when the group moves partitions; called on the thread that polls (or closes) the consumer.

    ``revoked`` comes BEFORE partitions go to another member, while this member may still commit them:
    the moment to publish what it holds and commit. ``lost`` means they are gone already (this member
    was thrown out of the group): it must drop their state without publishing, since the new owner
    replays them from the last commit. ``assigned`` comes before the first record of a partition is read.
    """

    def assigned(self, consumer: Consumer, partitions: list[tuple[str, int]]) -> None: ...
    def revoked(self, consumer: Consumer, partitions: list[tuple[str, int]]) -> None: ...
    def lost(self, consumer: Consumer, partitions: list[tuple[str, int]]) -> None: ...


@runtime_checkable
class Bus(Protocol):
    """Keyed publish and consumer groups (embedded log or Kafka)."""

    url: str

    def publish(self, topic: str, key: str, value: bytes) -> None: ...
    def flush(self, timeout: float = 10.0) -> None: ...
    def consumer(self, group: str, topics: Sequence[str], member_id: str | None = None,
                 listener: RebalanceListener | None = None) -> Consumer: ...
    def ping(self) -> None: ...
    def close(self) -> None: ...


# ---------------------------------------------------------------- cache + fan-out


class Subscription(Protocol):
    def close(self) -> None: ...


@runtime_checkable
class Cache(Protocol):
    """Hot-read cache plus pub/sub fan-out to every engine replica (in-process or Redis)."""

    url: str

    def get(self, key: str) -> bytes | None: ...
    def set(self, key: str, value: bytes, ttl: float) -> None: ...
    def swap(self, key: str, value: bytes, ttl: float) -> bytes | None: ...
    def hold(self, key: str, value: bytes, ttl: float) -> bytes:
        """Atomically: set ``key`` to ``value`` unless it holds a value already, give it ``ttl`` either
        way, and return the value it holds now (the one that was there, else ``value``). Raises
        :class:`airdig.errors.BackendUnavailable` when the cache is away."""
        ...
    def delete(self, *keys: str) -> None: ...
    def generation(self, namespace: str) -> int: ...
    def bump(self, namespace: str) -> int: ...
    def publish(self, channel: str, message: bytes) -> None: ...
    def subscribe(self, channel: str, callback: Callable[[bytes], None]) -> Subscription: ...
    def ping(self) -> None: ...
    def close(self) -> None: ...


# ---------------------------------------------------------------- traces


@runtime_checkable
class TraceStore(Protocol):
    """Span storage and query (embedded, or Tempo).

    A span is the dict of ``airdig.tracecore.spans.SpanSummary.to_store`` (``trace_id, span_id,
    parent_span_id, name, kind, service, start_unix_nano, end_unix_nano, duration_ms, status,
    attributes, resource, links``). ``search`` takes ``service, operation, min_duration_ms, error,
    start, end`` (epoch seconds) and ``limit``, and yields trace summaries ``{trace_id, root_service,
    root_name, start_unix_nano, duration_ms}``; ``get_trace`` raises ``NotFound`` for an unknown id.
    """

    url: str

    def put_spans(self, spans: Sequence[dict[str, Any]]) -> None: ...
    def get_trace(self, trace_id: str) -> list[dict[str, Any]]: ...
    def search(self, **criteria: Any) -> Iterator[dict[str, Any]]: ...
    def ping(self) -> None: ...
    def close(self) -> None: ...
