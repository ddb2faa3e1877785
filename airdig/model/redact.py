"""One redaction rule for everything AirDig reads, stores, publishes, logs and renders.

Every pillar passes what it reads from the outside world (SkyGraph's API items, DeepDrift's Terraform
state values and CloudTrail request parameters, backend URLs in logs) through :func:`redact` *before*
anything leaves the process, so a secret cannot leak through one path that forgot a check.

Two kinds of evidence make a value secret:

* its **key**: ``password``, ``DB_PASSWORD``, ``client_secret``, ``Authorization``, ``pwd``... in a
  mapping, and in the name/value pairs of Kubernetes ``env`` lists and AWS ``Key``/``Value`` lists; or
  its path in a Terraform state's ``sensitive_attributes``. The whole value becomes :data:`REDACTED`.
* its **shape**, wherever it appears in a string: URL credentials (``postgres://app:***@db:5432/x``,
  the user and host stay readable), AWS access key ids (``AKIA…``/``ASIA…``), AWS secret access keys,
  JWTs, PEM private keys, ``Bearer``/``Basic`` credentials and ``password=…``-style assignments inside
  text (user data scripts, command lines, connection strings). Only the secret part becomes ``***``.

EC2/launch-template user data is base64 in the APIs and in Terraform state: it is decoded, redacted as
text and kept as that text, so a reader sees the script without its secrets (and both sides of a drift
comparison are treated alike).

    redact({"env": [{"name": "DB_PASSWORD", "value": "hunter2"}]})
    # {"env": [{"name": "DB_PASSWORD", "value": "(sensitive)"}]}
    redact_text("DATABASE_URL=postgres://app:hunter2@db:5432/x")
    # "DATABASE_URL=postgres://app:***@db:5432/x"
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
import re
from collections.abc import Callable, Iterable
from typing import Any

REDACTED = "(sensitive)"
MASK = "***"

# Key names (any casing, with _ - . or camelCase) that hold credentials in Terraform, AWS and Kubernetes.
_SECRET_KEY = re.compile(
    r"(pass(word|wd|phrase)?|pwd|secret|token|private[_-]?key|privatekey|access[_-]?key|accesskey|"
    r"api[_-]?key|apikey|credential|auth[_-]?string|authstring|session[_-]?key|client[_-]?secret|"
    r"master[_-]?user[_-]?password|connection[_-]?string|signature|authorization|cookie)",
    re.IGNORECASE,
)
# Keys that match the pattern above but carry no secret (ids and flags naming a secret, not holding it).
_NOT_SECRET = re.compile(
    r"(_arn|arn|_id|id|_ids|ids|_length|length|_enabled|enabled|_rotation|_kms_key_id|kmskeyid|"
    r"version|_name|name|_type|type|_count|count|_at|_time|_ref|ref|keyref|secretref|serviceaccounttoken|"
    r"expirationseconds)$",
    re.IGNORECASE,
)
# Keys whose value is instance user data (base64 in the EC2 API and in Terraform state).
_USER_DATA_KEY = re.compile(r"^user[_-]?data(_base64)?$", re.IGNORECASE)
# Name/value pair dicts: Kubernetes env ``{"name", "value"}``, AWS tags ``{"Key", "Value"}``, ...
_PAIR_NAMES = ("name", "Name", "key", "Key", "ParameterKey", "OptionName")
_PAIR_VALUES = ("value", "Value", "ParameterValue")
_PAIR_VALUE_KEYS = frozenset(_PAIR_VALUES)

# --- value patterns, applied to every string -------------------------------------------------------------
_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----(?:.*?-----END \1PRIVATE KEY-----|.*)", re.DOTALL)
# the password runs to the last "@" of the token, so an unencoded "/", "#" or "@" in it is hidden too
_URL_CREDENTIALS = re.compile(r"""\b([a-zA-Z][a-zA-Z0-9+.-]*://)([^:/?#@\s]*):([^\s"']+)@(?=[^\s@"']*(?:[\s"']|$))""")
_AWS_KEY_ID = re.compile(r"\b((?:AKIA|ASIA)[A-Z0-9]{16})\b")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_AUTH_SCHEME = re.compile(r"\b(Bearer|Basic|Digest)(\s+)([A-Za-z0-9._~+/=-]{8,})", re.IGNORECASE)
# ``password=…``, ``--db-password …``, ``"api_key": "…"``, ``Password=…;`` in text (scripts, args, DSNs)
_ASSIGNMENT = re.compile(
    r"""(?P<key>[A-Za-z0-9_.-]*(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[_-]?key|access[_-]?key|"""
    r"""private[_-]?key|credential|authorization)[A-Za-z0-9_.-]*)"""
    # ":" needs a quote before or a space after it, so "secretsmanager:GetSecretValue" is no assignment
    r"""(?P<sep>["']\s*[:=]\s*|\s*=\s*|\s*:\s+|\s+(?=["']))(?P<value>"[^"\n]*"|'[^'\n]*'|[^\s"'&;,]+)""",
    re.IGNORECASE,
)
# ``--db-password s3cr3t`` on a command line (the flag's value follows after a space)
_FLAG = re.compile(r"(?<![\w-])(?P<flag>--?[A-Za-z][A-Za-z0-9_.-]*)(?P<sep>\s+)(?P<value>[^\s\-'\"][^\s'\"]*)")
# A standalone 40-character AWS secret access key: base64 alphabet, mixed case and a digit (not a hex hash),
# delimited like a token (whitespace, quotes, = or :), so a path inside a longer string is left alone.
_AWS_SECRET = re.compile(r"""(?:^|(?<=[\s"'=:,]))([A-Za-z0-9/+]{40})(?=$|[\s"',;&])""")

# Every value pattern above needs one of these (lower-cased); most strings (ids, names, CIDRs) have none,
# so they pass with a few substring tests instead of eight regular expressions.
_HINTS = ("://", "akia", "asia", "eyj", "-----begin", "bearer", "basic", "digest", "pass", "pwd", "secret", "token",
          "key", "credential", "auth")



def _has_hint(low: str) -> bool:
    """``any(h in low for h in _HINTS)`` written out: 2-3x faster on the miss path (unique ids, names)."""
    return ("://" in low or "akia" in low or "asia" in low or "eyj" in low or "-----begin" in low or "bearer" in low
            or "basic" in low or "digest" in low or "pass" in low or "pwd" in low or "secret" in low
            or "token" in low or "key" in low or "credential" in low or "auth" in low)


Path = tuple[str | int, ...]


@functools.lru_cache(maxsize=65536)  # key names repeat across every item of a scan: look each up once
def is_secret_key(key: str) -> bool:
    """True when a key's name says its value is a credential (``password``, ``client_secret``...)."""
    return bool(_SECRET_KEY.search(key)) and not _NOT_SECRET.search(key)


def _looks_like_aws_secret(s: str) -> bool:
    return (any(c.islower() for c in s) and any(c.isupper() for c in s) and any(c.isdigit() for c in s)
            and s.count("/") < 3)


def _assignment(m: re.Match[str]) -> str:
    key, value = m.group("key"), m.group("value")
    if not is_secret_key(key.strip("-.")) or value.strip("\"'") in ("", MASK) or MASK in value:
        return m.group(0)
    scheme = re.match(r"(?i)([\"']?)(bearer|basic|digest)$", value)
    if scheme:  # "Authorization: Bearer x": the scheme stays, _AUTH_SCHEME already hid the credential
        return m.group(0)
    quote = value[0] if value[0] in "\"'" else ""
    return f"{key}{m.group('sep')}{quote}{MASK}{quote}"


def _flag(m: re.Match[str]) -> str:
    if not _is_secret_flag(m.group("flag")) or m.group("value") == MASK:
        return m.group(0)
    return f"{m.group('flag')}{m.group('sep')}{MASK}"


def _is_secret_flag(item: str) -> bool:
    return item.startswith("-") and "=" not in item and is_secret_key(item.lstrip("-"))


def redact_text(text: str) -> str:
    """``text`` with every secret-shaped part replaced by ``***`` (the rest stays readable)."""
    if len(text) < 8:
        return text
    if len(text) > 4096:  # scripts, policies, certificates: rarely repeated, not worth keeping in the cache
        return _redact_text.__wrapped__(text)
    out = _redact_text(text)
    # the cache may hand back an equal string object from an earlier call: give the caller its own, so
    # "nothing changed" stays an identity test (copy on write in the walk)
    return text if out == text else out


@functools.lru_cache(maxsize=65536)  # a scan repeats most values (states, zones, types, ids of shared things)
def _redact_text(text: str) -> str:
    if not _has_hint(text.lower()):
        if len(text) < 40:
            return text
        return _AWS_SECRET.sub(lambda m: MASK if _looks_like_aws_secret(m.group(1)) else m.group(1), text)
    out = _PEM.sub(lambda m: f"-----BEGIN {m.group(1)}PRIVATE KEY-----{MASK}-----END {m.group(1)}PRIVATE KEY-----",
                   text)
    out = _URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}{m.group(2)}:{MASK}@", out)
    out = _JWT.sub(MASK, out)
    out = _AWS_KEY_ID.sub(lambda m: f"{m.group(1)[:4]}{MASK}", out)
    out = _AUTH_SCHEME.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", out)
    out = _ASSIGNMENT.sub(_assignment, out)
    out = _FLAG.sub(_flag, out)
    return _AWS_SECRET.sub(lambda m: MASK if _looks_like_aws_secret(m.group(1)) else m.group(1), out)


def redact_url(url: str) -> str:
    """A URL (a backend setting, an endpoint) without the password of its user-info part."""
    return redact_text(url)


def _user_data(value: Any) -> Any:
    """Decoded (when base64 of UTF-8 text) and redacted user data; other shapes go through the walk."""
    if not isinstance(value, str):
        return value
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return redact_text(value)
    if not decoded.replace("\n", "").replace("\r", "").replace("\t", "").isprintable():
        return redact_text(value)  # not text (Terraform keeps a SHA-1 hex of user_data, which decodes too)
    return redact_text(decoded)


def redact(value: Any, sensitive: Iterable[Path] = (), _path: Path = ()) -> Any:
    """A copy of ``value`` with secret keys, the ``sensitive`` paths and secret-shaped text hidden.

    A sensitive path covers everything below it; list indexes in paths match list positions. The
    input is never modified; without ``sensitive`` paths, parts with nothing to hide are shared with it.
    """
    if not sensitive:  # () or an empty set/list: SkyGraph's case, no frozenset to build per node
        return _walk_fast(value)
    paths = sensitive if isinstance(sensitive, frozenset) else frozenset(tuple(p) for p in sensitive)
    return _walk(value, paths, _path) if paths else _walk_fast(value)


def walk_path() -> str:
    """Which walk redacts values without sensitive paths: ``native`` (compiled) or ``python``."""
    return "python" if _walk_fast is _walk_python else "native"


def _pair_is_secret(d: dict[str, Any]) -> bool:
    for k in _PAIR_NAMES:
        if k in d:
            name = d[k]
            if isinstance(name, str) and is_secret_key(name):
                return True
    return False


_ACTIONS: dict[str, int] = {}  # key name -> action; a plain dict read inline is the cheapest cache here
_PLAIN_KEYS: set[str] = set()  # the keys whose action is 0 (walk): a set test beats .get() and a compare
# Strings (8..256 characters) the value patterns left unchanged: a set test is cheaper than the LRU call
# and the comparison that follow it, and a scan repeats most values. Bounded like the caches above.
_CLEAN: set[str] = set()
_CLEAN_MAX = 131072


def _key_action(key: str) -> int:
    """0: walk the value, 1: hide it (a secret key), 2: user data (decode, redact as text)."""
    action = 1 if is_secret_key(key) else 2 if _USER_DATA_KEY.match(key) else 0
    if len(_ACTIONS) > 65536:  # bounded: keys are names, but a map keyed by ids could be unbounded
        _ACTIONS.clear()
        _PLAIN_KEYS.clear()
    _ACTIONS[key] = action
    if action == 0:
        _PLAIN_KEYS.add(key)
    return action


def _walk_python(value: Any) -> Any:
    """:func:`_walk` without sensitive paths: the same rules, fewer calls (SkyGraph's hot path).

    Copy on write: a dict or list with nothing to hide is returned as it is, so a clean snapshot costs
    no allocation. The reference of the compiled walk (:func:`_native_walk`), which must give the same
    result for every value.
    """
    t = type(value)
    if t is str:
        return redact_text(value)
    if t is dict:
        out: dict[Any, Any] | None = None
        for k, v in value.items():
            action: int | None = 0
            if k not in _PLAIN_KEYS:  # the common case is in it: one set test, no action lookup
                action = _ACTIONS.get(k)
                if action is None:
                    action = _key_action(k) if type(k) is str else 0
            # a name/value pair (``{"name": "DB_PASSWORD", "value": ...}``) is only looked at for its value key
            if action == 0 and not (k in _PAIR_VALUE_KEYS and len(value) <= 5 and _pair_is_secret(value)):
                tv = type(v)
                if tv is str:
                    if v in _CLEAN or len(v) < 8:
                        continue
                    nv = _redact_text(v) if len(v) <= 4096 else _redact_text.__wrapped__(v)
                    if nv == v:
                        if len(v) <= 256:
                            if len(_CLEAN) >= _CLEAN_MAX:
                                _CLEAN.clear()
                            _CLEAN.add(v)
                        continue
                elif tv is dict or tv is list:
                    nv = _walk_python(v)
                else:
                    continue  # numbers, booleans, None
            elif v is None or v == "" or type(v) is bool or ((type(v) is list or type(v) is dict) and not v):
                continue  # nothing to hide; a flag (``automountServiceAccountToken: true``) is no secret
            elif action == 2:
                nv = _user_data(v)
            else:
                nv = REDACTED
            if nv is not v:
                if out is None:
                    out = dict(value)
                out[k] = nv
        return value if out is None else out
    if t is list:
        items: list[Any] | None = None
        for i, v in enumerate(value):
            tv = type(v)
            if tv is str:  # inline: most list items are ids and names
                nv = v if v in _CLEAN or len(v) < 8 else redact_text(v)
            elif tv is dict or tv is list:
                nv = _walk_python(v)
            else:
                continue  # numbers, booleans, None: nothing to hide, and no argv value either
            if nv is v and i and type(v) is str and v:  # an argv list: the item after "--password" is its value
                prev = value[i - 1]
                if type(prev) is str and prev[:1] == "-" and _is_secret_flag(prev):
                    nv = REDACTED
            if nv is not v:
                if items is None:
                    items = list(value)
                items[i] = nv
        return value if items is None else items
    return value


def _walk(value: Any, paths: frozenset[Path], path: Path) -> Any:
    # ``path`` is only built while there are sensitive paths to match: the common case walks without it
    if paths and path in paths:
        return REDACTED if value is not None else None
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        pair_secret = _pair_is_secret(value)
        out: dict[Any, Any] = {}
        for k, v in value.items():
            action = _key_action(k) if isinstance(k, str) else 0
            if v is None or v == "" or isinstance(v, bool) or (action == 0 and not (pair_secret and k in _PAIR_VALUES)):
                out[k] = v if v is None or v == "" or isinstance(v, bool) else _walk(v, paths, (*path, k) if paths else path)
            elif isinstance(v, list | dict) and not v:
                out[k] = v
            elif action == 2:
                out[k] = _user_data(v)
            else:
                out[k] = REDACTED
        return out
    if isinstance(value, list):
        items = [_walk(v, paths, (*path, i) if paths else path) for i, v in enumerate(value)]
        # an argv list (container args, a command): the item after "--password" is its value
        for i in range(1, len(items)):
            prev = value[i - 1]
            if isinstance(prev, str) and isinstance(value[i], str) and value[i] and _is_secret_flag(prev):
                items[i] = REDACTED
        return items
    return value


def redact_tags(tags: dict[str, str]) -> dict[str, str]:
    """Resource tags/labels: a secret-named tag's value is hidden, every value is pattern-checked.

    Copy on write like :func:`redact`: tags with nothing to hide (nearly all) come back as the same
    dict, so SkyGraph does not build and compare a copy per node.
    """
    out: dict[str, str] | None = None
    for k, v in tags.items():
        nv = REDACTED if is_secret_key(k) and v else redact_text(v)
        if nv is not v and nv != v:
            if out is None:
                out = dict(tags)
            out[k] = nv
    return tags if out is None else out


def redact_path_value(path: str, value: Any) -> Any:
    """Hide a diff value whose dotted path ends in a secret-like key (``environment.DB_PASSWORD``)."""
    last = re.split(r"[.\[\]]", path.strip("]"))[-1] if path else ""
    if value is not None and last and is_secret_key(last):
        return REDACTED
    if value is not None and last and _USER_DATA_KEY.match(last):
        return _user_data(value)
    return redact(value)


def _node_parts_python(name: str, attrs: dict[str, Any], tags: dict[str, str]) -> tuple[str, Any, dict[str, str]]:
    """A node's name, attributes and tags redacted (each the same object when nothing in it changed)."""
    return redact_text(name), _walk_python(attrs), redact_tags(tags)


def _native_redactor() -> Any:
    """The compiled walk (``Redactor`` of the ``airdig_tracecore_native`` extension, native/tracecore),
    bound to this module's caches and rule functions; None when the extension is not installed, is an
    older build without it, or ``AIRDIG_TRACECORE_NATIVE=off`` asks for pure Python everywhere.

    It visits the structure in Rust and calls back here for every rule (key actions, value patterns,
    user data, argv flags), so the rules live in one place (it reads a key's secrecy from ``_ACTIONS``,
    for keys and for the names of name/value pairs); tests/unit/model/test_redact_parity.py
    proves ``walk`` returns what :func:`_walk_python` returns and ``parts`` what :func:`_node_parts_python`
    returns.
    """
    if os.environ.get("AIRDIG_TRACECORE_NATIVE", "").strip().lower() in ("off", "0", "false", "no"):
        return None
    try:
        from airdig_tracecore_native import Redactor
    except ImportError:  # not built (scripts/tools/tracecore-native), or built before the walk existed
        return None
    if list(Redactor.hints()) != list(_HINTS):  # its written-out clean test must follow the hint list
        return None
    return Redactor(_PLAIN_KEYS, _ACTIONS, _CLEAN, _CLEAN_MAX, _PAIR_VALUE_KEYS, _key_action, redact_text,
                    _PAIR_NAMES, _user_data, _is_secret_flag, _walk_python, is_secret_key, REDACTED)


# SkyGraph redacts every node it adds: compiled when it can be, the Python reference otherwise
_REDACTOR = _native_redactor()
_walk_fast: Callable[[Any], Any] = _walk_python if _REDACTOR is None else _REDACTOR.walk
redact_node_parts: Callable[[str, dict[str, Any], dict[str, str]], tuple[str, Any, dict[str, str]]] = (
    _node_parts_python if _REDACTOR is None else _REDACTOR.parts)
"""``(redact_text(name), redact(attrs), redact_tags(tags))`` in one call (compiled when it can be)."""
