"""Column limits of the store, checked on every planned row before it is written.

SQLite enforces no lengths and few types, MariaDB and TiDB in strict mode reject a value longer than its
``VARCHAR`` or of the wrong type, and the whole batch with it. The applier checks each event's rows here,
with the limits read from the schema declaration (:mod:`airdig.backends.store.schema`), so a bad event
is rejected with a precise reason on every store and never reaches a transaction. Identifiers (ids,
kinds, names, statuses) are never truncated: a truncated id would silently merge two resources. Display
text that has a column of its own (a change's summary and actor) is truncated by the store instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from airdig.backends.store.schema import COLUMNS
from airdig.errors import InvalidInput

# display text the store truncates to its column (documented in docs/reliability.md)
TRUNCATED = frozenset({("changes", "summary"), ("changes", "actor")})
_NUMERIC = ("float", "int")


def check_row(table: str, row: dict[str, Any], source: str) -> None:
    """Raise :class:`InvalidInput` naming the first column ``row`` does not fit."""
    cols = COLUMNS[table]
    for name, value in row.items():
        type_, chars = cols[name]
        if value is None:
            continue  # NOT NULL columns are filled by the planners, never from raw input
        if type_ in _NUMERIC:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidInput(source, f"{table}.{name} must be a number, got {type(value).__name__}")
            if type_ == "int" and not -(2**63) <= value < 2**63:
                raise InvalidInput(source, f"{table}.{name} = {value} does not fit a 64-bit integer")
            if value != value or value in (float("inf"), float("-inf")):
                raise InvalidInput(source, f"{table}.{name} must be a finite number")
            continue
        if chars is None or (table, name) in TRUNCATED:
            continue
        if not isinstance(value, str):
            raise InvalidInput(source, f"{table}.{name} must be a string, got {type(value).__name__}")
        if len(value) > chars:
            raise InvalidInput(source, f"{table}.{name} is {len(value)} characters, longer than the "
                                       f"{chars} its column holds (identifiers are never truncated)")


def check_rows(table: str, rows: Iterable[dict[str, Any]], source: str) -> None:
    for row in rows:
        check_row(table, row, source)
