"""The store's tables, declared once and rendered to each SQL dialect, plus the migration list.

A migration is ``(version, name, steps)``; new ones are appended with the next version. A step is a
:class:`Table` (created if missing), an :class:`AddColumn` or an :class:`AddIndex` (ALTERs rendered per
dialect by Alembic, see :mod:`airdig.backends.store.migrations`). When a migration adds a column to a
table, add it to the table's declaration too: fresh installs then create it at once and the ALTER step
is skipped because the column exists.

Only DDL that TiDB also accepts: indexes are declared inline for MySQL-protocol servers (TiDB and MySQL
have no ``CREATE INDEX IF NOT EXISTS``), key columns stay within the 3072-byte index limit of
utf8mb4 (768 characters per key), and no foreign keys, triggers or stored procedures are used.
"""

from __future__ import annotations

from dataclasses import dataclass

# abstract column types -> (sqlite, mysql)
TYPES: dict[str, tuple[str, str]] = {
    "id": ("TEXT", "VARCHAR(512)"),
    "native": ("TEXT", "VARCHAR(255)"),
    "hash": ("TEXT", "CHAR(40)"),
    "short": ("TEXT", "VARCHAR(64)"),
    "medium": ("TEXT", "VARCHAR(512)"),
    "long": ("TEXT", "VARCHAR(2048)"),
    "text": ("TEXT", "MEDIUMTEXT"),
    "float": ("REAL", "DOUBLE"),
    "int": ("INTEGER", "BIGINT"),
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool = False
    default: str | None = None


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...] = ()

    def ddl(self, dialect: str) -> list[str]:
        col = 0 if dialect == "sqlite" else 1
        parts = []
        for c in self.columns:
            line = f"{c.name} {TYPES[c.type][col]}"
            if not c.nullable:
                line += " NOT NULL"
            if c.default is not None:
                line += f" DEFAULT {c.default}"
            parts.append(line)
        parts.append(f"PRIMARY KEY ({', '.join(self.primary_key)})")
        stmts: list[str] = []
        if dialect == "mysql":
            for idx in self.indexes:
                parts.append(f"INDEX ix_{self.name}_{'_'.join(idx)} ({', '.join(idx)})")
            body = ",\n  ".join(parts)
            stmts.append(f"CREATE TABLE IF NOT EXISTS {self.name} (\n  {body}\n) DEFAULT CHARSET=utf8mb4")
        else:
            body = ",\n  ".join(parts)
            stmts.append(f"CREATE TABLE IF NOT EXISTS {self.name} (\n  {body}\n)")
            for idx in self.indexes:
                stmts.append(
                    f"CREATE INDEX IF NOT EXISTS ix_{self.name}_{'_'.join(idx)} ON {self.name} ({', '.join(idx)})"
                )
        return stmts


@dataclass(frozen=True)
class AddColumn:
    """``ALTER TABLE table ADD COLUMN``; nullable or with a default, so existing rows stay valid."""

    table: str
    column: Column

    def __post_init__(self) -> None:
        if not self.column.nullable and self.column.default is None:
            raise ValueError(f"{self.table}.{self.column.name}: an added column needs nullable=True or a default")


@dataclass(frozen=True)
class AddIndex:
    """``CREATE INDEX ix_<table>_<cols> ON table (cols)`` (the same name :class:`Table` gives inline indexes)."""

    table: str
    columns: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"ix_{self.table}_{'_'.join(self.columns)}"


Step = Table | AddColumn | AddIndex

C = Column
NODES = Table("nodes", (
    C("id", "id"), C("kind", "short"), C("provider", "short"), C("account", "short"), C("region", "short"),
    C("name", "medium"), C("attrs", "text"), C("tags", "text"), C("managed_by", "medium", nullable=True),
    C("version", "float"), C("first_seen", "float"), C("last_seen", "float"),
    C("deleted_at", "float", nullable=True),
    C("drift_status", "short", default="'unknown'"), C("drift_last_event", "medium", nullable=True),
    C("confirmed_at", "float", nullable=True), C("confirm_interval", "float", nullable=True),
), ("id",), (("kind",), ("last_seen",), ("name",)))

EDGES = Table("edges", (
    C("id", "hash"), C("src", "id"), C("dst", "id"), C("type", "short"), C("attrs", "text"),
    C("version", "float"), C("first_seen", "float"), C("last_seen", "float"),
    C("deleted_at", "float", nullable=True),
), ("id",), (("src", "type"), ("dst", "type")))

NATIVE_IDS = Table("native_ids", (C("native_id", "native"), C("node_id", "id")), ("native_id", "node_id"),
                   (("node_id",),))

CHANGES = Table("changes", (
    C("id", "medium"), C("node_id", "id"), C("time", "float"), C("kind", "short"), C("source", "short"),
    C("actor", "medium", nullable=True), C("summary", "long"), C("details", "text"),
), ("id",), (("node_id", "time"), ("time",)))

DRIFT_EVENTS = Table("drift_events", (
    C("id", "medium"), C("resource_id", "id"), C("resource_type", "short"),
    C("terraform_address", "medium", nullable=True), C("kind", "short"), C("severity", "short"),
    C("status", "short"), C("diffs", "text"), C("cause", "text", nullable=True),
    C("remediation", "text", nullable=True), C("detected_at", "float"), C("resolved_at", "float", nullable=True),
    C("version", "float"),
), ("id",), (("resource_id",), ("detected_at",)))

SERVICE_EDGES = Table("service_edges", (
    C("id", "hash"), C("src", "id"), C("dst", "id"), C("window_start", "float"), C("window_seconds", "int"),
    C("request_count", "int"), C("error_count", "int"), C("errors", "text"), C("latency", "text"),
    C("p50", "float", nullable=True), C("p95", "float", nullable=True), C("p99", "float", nullable=True),
), ("id",), (("src", "window_start"), ("dst", "window_start"), ("window_start",)))

HEALTH = Table("health", (
    C("node_id", "id"), C("status", "short"), C("reasons", "text"), C("since", "float", nullable=True),
    C("version", "float"),
), ("node_id",), (("status",),))

APPLIED_EVENTS = Table("applied_events", (C("event_id", "medium"), C("applied_at", "float")), ("event_id",),
                       (("applied_at",),))

# API bearer tokens: only the SHA-256 of a token is kept, never the token itself
API_TOKENS = Table("api_tokens", (
    C("id", "short"), C("name", "medium"), C("role", "short"), C("token_hash", "short"),
    C("created_at", "float"), C("revoked_at", "float", nullable=True),
), ("id",), (("token_hash",),))

# one row per alert delivery (webhook POST), updated after every attempt
ALERT_DELIVERIES = Table("alert_deliveries", (
    C("id", "short"), C("dedupe_key", "medium"), C("target", "medium"), C("format", "short"),
    C("payload", "text"), C("status", "short"), C("attempts", "int"), C("last_error", "long", nullable=True),
    C("created_at", "float"), C("sent_at", "float", nullable=True),
), ("id",), (("dedupe_key",), ("created_at",)))

# Graph walks run on 8-byte hashed node keys: (key, type, key) fits a covering index in both directions,
# which ids of up to 512 characters cannot (InnoDB's 3072-byte key limit), so a hop is an index-only
# scan; keys map back to ids only for the nodes a walk reaches.
ADJACENCY = Table("adjacency", (C("src_key", "int"), C("type", "short"), C("dst_key", "int")),
                  ("src_key", "type", "dst_key"), (("dst_key", "type", "src_key"),))
NODE_KEYS = Table("node_keys", (C("node_key", "int"), C("node_id", "id")), ("node_key",))

# One row per scope of work only one replica may do at a time (a DeepDrift watch, a SkyGraph scan scope):
# held by ``holder`` until ``expires_at`` unless renewed (see airdig.backends.store.sql: acquire_lease).
LEASES = Table("leases", (
    C("scope", "id"), C("holder", "medium"), C("acquired_at", "float"), C("expires_at", "float"),
), ("scope",))

MIGRATIONS: list[tuple[int, str, tuple[Step, ...]]] = [
    (1, "graph, history, drift, service edges, health, applied events",
     (NODES, EDGES, NATIVE_IDS, CHANGES, DRIFT_EVENTS, SERVICE_EDGES, HEALTH, APPLIED_EVENTS)),
    (2, "API tokens, alert deliveries", (API_TOKENS, ALERT_DELIVERIES)),
    (3, "hashed node keys and adjacency for graph walks", (ADJACENCY, NODE_KEYS)),
    (4, "leases: one replica works a scope at a time", (LEASES,)),
    # last_seen is the time of the last event applied to a node (a change, a delete, a trace sighting),
    # not when the cloud last confirmed it: a scan publishes only differences, so an unchanged node's
    # last_seen stays at its last change. confirmed_at moves with every read that saw it.
    (5, "nodes.confirmed_at / confirm_interval: when the cloud last confirmed a node, at what cadence",
     (AddColumn("nodes", C("confirmed_at", "float", nullable=True)),
      AddColumn("nodes", C("confirm_interval", "float", nullable=True)))),
]


def _chars(type_: str) -> int | None:
    """Characters a column holds on MySQL-protocol servers (``VARCHAR(512)`` → 512; TEXT types → None)."""
    mysql = TYPES[type_][1]
    if "(" not in mysql:
        return None
    return int(mysql.split("(", 1)[1].rstrip(")"))


# table -> column -> (abstract type, characters or None): what the applier checks a row against before
# writing it, so SQLite (which enforces no length) rejects exactly what MariaDB/TiDB in strict mode would
def _columns() -> dict[str, dict[str, tuple[str, int | None]]]:
    """Every table's columns at the head of the migrations (created tables plus columns added later)."""
    out: dict[str, dict[str, tuple[str, int | None]]] = {}
    for _, _, steps in MIGRATIONS:
        for step in steps:
            if isinstance(step, Table):
                out[step.name] = {c.name: (c.type, _chars(c.type)) for c in step.columns}
            elif isinstance(step, AddColumn):
                out.setdefault(step.table, {})[step.column.name] = (step.column.type, _chars(step.column.type))
    return out


COLUMNS: dict[str, dict[str, tuple[str, int | None]]] = _columns()
