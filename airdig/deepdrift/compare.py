"""Attribute-level comparison of a state instance with its live counterpart.

Normalisation removes differences that are not drift: empty values (``None``, ``""``, ``[]``, ``{}``) are
equal, numbers compare as numbers whatever their JSON type, sets compare unordered, policy documents
compare as data (single statements and scalars widened to lists, lists sorted), tags compare as maps.
Only attributes the state actually records are compared, so an older provider's state is not flagged.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import orjson

Diff = dict[str, Any]  # {"path", "expected", "actual"}

def _is_empty(v: Any) -> bool:
    return v is None or (isinstance(v, str | list | dict) and len(v) == 0)


def _number(v: Any) -> Any:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int | float):
        return int(v) if float(v).is_integer() else float(v)
    if isinstance(v, str):
        try:
            f = float(v)
        except ValueError:
            return v
        return int(f) if f.is_integer() else f
    return v


def _bool(v: Any) -> Any:
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    return v


def _sorted_list(v: Any) -> list[Any]:
    if v is None:
        return []
    if not isinstance(v, list):
        v = [v]
    return sorted(v, key=lambda x: orjson.dumps(x, option=orjson.OPT_SORT_KEYS))


_WIDEN = {"Action", "NotAction", "Resource", "NotResource", "AWS", "Service", "Federated",
          "CanonicalUser"}


def _policy(node: Any, key: str = "") -> Any:
    if key == "Statement" and isinstance(node, dict):
        return [_policy(node)]
    if isinstance(node, dict):
        return {k: _policy(v, k) for k, v in node.items() if k != "Sid" or v}
    if isinstance(node, list):
        return _sorted_list([_policy(v) for v in node])
    if key in _WIDEN:
        return [node]
    return node


def policy_data(v: Any) -> Any:
    """A policy document (JSON text, URL-encoded JSON or data) as normalised data, or the text if not JSON."""
    if _is_empty(v):
        return None
    if isinstance(v, str):
        text = v.strip()
        if text.startswith("%7B") or text.startswith("%7b"):
            text = unquote(text)
        try:
            v = orjson.loads(text)
        except orjson.JSONDecodeError:
            return v
    return _policy(v)


def _env(v: Any) -> dict[str, str]:
    """Lambda ``environment = [{variables = {...}}]`` to the map of variables."""
    if isinstance(v, list) and v and isinstance(v[0], dict):
        v = v[0].get("variables") or {}
    return {str(k): str(x) for k, x in v.items()} if isinstance(v, dict) else {}


def _ddb_attributes(v: Any) -> list[str]:
    out = []
    for a in v or []:
        if isinstance(a, dict):
            out.append(f"{a.get('name')}:{a.get('type')}")
        else:
            out.append(str(a))
    return sorted(out)


def normalise(kind: str, v: Any) -> Any:
    if kind == "number":
        return None if _is_empty(v) else _number(v)
    if kind == "bool":
        return None if _is_empty(v) else _bool(v)
    if kind == "set":
        return _sorted_list(v)
    if kind == "json":
        return policy_data(v)
    if kind == "env":
        return _env(v)
    if kind == "ddb_attributes":
        return _ddb_attributes(v)
    if kind == "tags":
        return {str(k): "" if x is None else str(x) for k, x in v.items()} if isinstance(v, dict) else {}
    return None if _is_empty(v) else v


def _same(a: Any, b: Any) -> bool:
    if _is_empty(a) and _is_empty(b):
        return True
    return bool(a == b)


def _deep(path: str, a: Any, b: Any, out: list[Diff]) -> None:
    """Leaf-level differences of two JSON values (policy documents)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            _deep(f"{path}.{k}", a.get(k), b.get(k), out)
    elif (isinstance(a, list) and isinstance(b, list) and len(a) == len(b)
          and all(isinstance(x, dict) for x in a + b)):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _deep(f"{path}[{i}]", x, y, out)
    elif not _same(a, b):
        out.append({"path": path, "expected": a, "actual": b})


def _map_diff(prefix: str, expected: dict[str, str], actual: dict[str, str], out: list[Diff]) -> None:
    for k in sorted(set(expected) | set(actual)):
        if expected.get(k) != actual.get(k):
            out.append({"path": f"{prefix}.{k}", "expected": expected.get(k), "actual": actual.get(k)})


def state_tags(attrs: dict[str, Any]) -> dict[str, Any] | None:
    """``tags_all`` (with provider default_tags) when recorded, else ``tags``; None when neither is."""
    for key in ("tags_all", "tags"):
        value = attrs.get(key)
        if isinstance(value, dict):
            return value
    return {} if "tags" in attrs or "tags_all" in attrs else None


def diff(compared: dict[str, str], expected: dict[str, Any], actual: dict[str, Any]) -> list[Diff]:
    """Differences between state attributes ``expected`` and live attributes ``actual``."""
    out: list[Diff] = []
    for attr, kind in compared.items():
        raw = state_tags(expected) if kind == "tags" else expected.get(attr)
        if raw is None and (attr not in expected or kind == "tags"):
            continue  # the state does not record it: nothing to compare
        live = actual.get(attr)
        if live is None and kind in ("scalar", "number", "bool"):
            continue  # the API did not report it: unknown, not changed
        e, a = normalise(kind, raw), normalise(kind, live)
        if kind in ("tags", "env"):
            _map_diff(attr if kind == "tags" else "environment", e, a, out)
        elif kind == "json":
            if not _same(e, a):
                if isinstance(e, dict | list) and isinstance(a, dict | list):
                    _deep(attr, e, a, out)
                else:
                    out.append({"path": attr, "expected": e, "actual": a})
        elif not _same(e, a):
            out.append({"path": attr, "expected": e, "actual": a})
    return out
