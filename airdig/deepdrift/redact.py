"""One redaction rule for everything DeepDrift reads and writes.

State values, CloudTrail request parameters and every output (table, JSON, HTML, bus events) pass through
:func:`redact`, so a secret cannot leak through one path that forgot a check. A value is hidden when its
key looks secret-like or when its path is listed in a Terraform state's ``sensitive_attributes``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

REDACTED = "(sensitive)"

# Key names (any casing, with _ - or camelCase) that hold credentials in Terraform and AWS APIs.
_SECRET_KEY = re.compile(
    r"(pass(word|wd|phrase)?|secret|token|private[_-]?key|privatekey|access[_-]?key|accesskey|"
    r"api[_-]?key|apikey|credential|auth[_-]?string|authstring|session[_-]?key|client[_-]?secret|"
    r"master[_-]?user[_-]?password|connection[_-]?string|signature)",
    re.IGNORECASE,
)
# Keys that match the pattern above but carry no secret (ids and flags naming a secret, not holding it).
_NOT_SECRET = re.compile(
    r"(_arn|arn|_id|id|_ids|ids|_length|length|_enabled|enabled|_rotation|_kms_key_id|kmskeyid|"
    r"version|_name|name|_type|type|_count|count|_at|_time)$",
    re.IGNORECASE,
)

Path = tuple[str | int, ...]


def is_secret_key(key: str) -> bool:
    """True when a key's name says its value is a credential (``password``, ``client_secret``...)."""
    return bool(_SECRET_KEY.search(key)) and not _NOT_SECRET.search(key)


def redact(value: Any, sensitive: Iterable[Path] = (), _path: Path = ()) -> Any:
    """A copy of ``value`` with secret-like keys and the ``sensitive`` paths replaced by ``REDACTED``.

    A sensitive path covers everything below it; list indexes in paths match list positions.
    """
    paths = sensitive if isinstance(sensitive, frozenset) else frozenset(tuple(p) for p in sensitive)
    return _walk(value, paths, _path)


def _walk(value: Any, paths: frozenset[Path], path: Path) -> Any:
    if paths and path in paths:
        return REDACTED if value is not None else None
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if isinstance(k, str) and is_secret_key(k) and v not in (None, "", [], {}):
                out[k] = REDACTED
            else:
                out[k] = _walk(v, paths, (*path, k))
        return out
    if isinstance(value, list):
        return [_walk(v, paths, (*path, i)) for i, v in enumerate(value)]
    return value


def redact_path_value(path: str, value: Any) -> Any:
    """Hide a diff value whose dotted path ends in a secret-like key (``environment.DB_PASSWORD``)."""
    last = re.split(r"[.\[\]]", path.strip("]"))[-1] if path else ""
    if value is not None and last and is_secret_key(last):
        return REDACTED
    return redact(value)
