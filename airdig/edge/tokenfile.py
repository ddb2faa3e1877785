"""Static bearer tokens from a file: how a pillar run on its own (Kubernetes) checks tokens without
the engine's store, e.g. from a mounted Secret.

One entry per line, ``#`` starts a comment: the token itself, or ``sha256:<64 hex digits>`` (the
SHA-256 of the token, what ``airdig token create`` stores), optionally followed by a name that appears
in the pillar's logs instead of the token, and by ``role=viewer|editor|admin`` — the roles of the
engine's stored tokens (:mod:`airdig.edge.roles`): a viewer may read (PulseSight's read API), sending
data in (OTLP spans, webhooks) needs editor. A line without ``role=`` is an editor: what every file
token could do before file tokens had roles::

    adg_Zq8...   otel-collector
    sha256:4f1c...e9   payments-sdk   role=editor
    adg_Rr2...   dashboards   role=viewer

Only the hashes are kept in memory; a presented token is hashed and compared with every entry in
constant time (no early exit). The file is looked at again every ``reload_seconds``: a rotated Secret
takes effect without a restart; a file that became unreadable or empty keeps the last good set (and
says so in the log, never with its content).

    tokens = TokenFile("/etc/airdig/tokens/tokens")      # raises ConfigError when missing or empty
    tokens.principal("Bearer adg_...")                   # -> FileToken(name=..., role=...) or Unauthorized
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import threading
import time
from collections.abc import Callable, Sequence

from airdig.edge.auth import TokenCheck
from airdig.edge.roles import ROLES, WRITE_ROLE, Caller
from airdig.errors import ConfigError, Unauthorized
from airdig.logs import get_logger

log = get_logger("edge.tokens")
_HASH = re.compile(r"^sha256:([0-9a-fA-F]{64})$")
DEFAULT_ROLE = WRITE_ROLE  # a line without role=: may send data in (as file tokens always could) and read


class FileToken(Caller):
    """A caller known from the token file: its name and role (``role=`` on its line, else editor)."""


Entry = tuple[bytes, str, str]  # (sha256 digest, name, role)


def parse_token_lines(text: str, source: str) -> list[Entry]:
    """``(sha256 digest, name, role)`` per entry; raises :class:`ConfigError` naming the bad line (never
    its content: it may be a token)."""
    out: list[Entry] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        secret, *words = line.split()
        roles = [w[5:] for w in words if w.lower().startswith("role=")]
        if len(roles) > 1 or (roles and roles[0] not in ROLES):
            raise ConfigError(source, f"line {n}: role= must be given once, as one of {', '.join(ROLES)}")
        name = " ".join(w for w in words if not w.lower().startswith("role=")) or f"token-line-{n}"
        role = roles[0] if roles else DEFAULT_ROLE
        m = _HASH.match(secret)
        if m:
            out.append((bytes.fromhex(m.group(1)), name, role))
        elif secret.lower().startswith("sha256:"):
            raise ConfigError(source, f"line {n}: sha256: needs 64 hex digits")
        elif len(secret) < 16:
            raise ConfigError(source, f"line {n}: a token must be at least 16 characters")
        else:
            out.append((hashlib.sha256(secret.encode("utf-8")).digest(), name, role))
    return out


class TokenFile:
    """A :class:`airdig.edge.auth.TokenCheck` over a token file (see the module docstring)."""

    def __init__(self, path: str, setting: str = "AIRDIG_TOKENS_FILE", reload_seconds: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.setting = setting
        self.reload_seconds = reload_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._entries = self._read()
        if not self._entries:
            raise ConfigError(setting, f"{path} holds no token")
        self._next_check = clock() + reload_seconds

    def _read(self) -> list[Entry]:
        try:
            st = os.stat(self.path)
            with open(self.path, encoding="utf-8") as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(self.setting, f"cannot read the token file {self.path}: "
                              f"{getattr(exc, 'strerror', None) or type(exc).__name__}") from None
        self._stamp = (st.st_mtime_ns, st.st_size)
        return parse_token_lines(text, self.setting)

    def _current(self) -> list[Entry]:
        now = self.clock()
        if now < self._next_check:
            return self._entries
        with self._lock:
            if now < self._next_check:
                return self._entries
            self._next_check = now + self.reload_seconds
            try:
                st = os.stat(self.path)
                if (st.st_mtime_ns, st.st_size) != self._stamp:
                    entries = self._read()
                    if entries:
                        self._entries = entries
                        log.info("token file reloaded", path=self.path, tokens=len(entries))
                    else:
                        log.warning("token file is empty; keeping the previous tokens", path=self.path)
            except (OSError, ConfigError) as exc:
                log.warning("token file unreadable; keeping the previous tokens", path=self.path,
                            error=str(exc))
        return self._entries

    def principal(self, authorization: str | None) -> FileToken:
        if not authorization:
            raise Unauthorized("a bearer token is required: send 'Authorization: Bearer <token>'")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("the Authorization header must be 'Bearer <token>'")
        digest = hashlib.sha256(token.encode("utf-8")).digest()
        found: FileToken | None = None
        for known, name, role in self._current():  # every entry compared: the time says nothing about which
            if hmac.compare_digest(digest, known) and found is None:
                found = FileToken(name, role)
        if found is None:
            raise Unauthorized("the bearer token is not valid (not in the token file)")
        return found

    async def aprincipal(self, authorization: str | None) -> FileToken:
        """No I/O but a ``stat`` every few seconds: answered on the event loop."""
        return self.principal(authorization)


class AnyOf:
    """Accepts a token any of ``checks`` accepts (tried in order); the last refusal otherwise."""

    def __init__(self, checks: Sequence[TokenCheck]) -> None:
        self.checks = list(checks)
        if not self.checks:
            raise ValueError("AnyOf needs at least one token check")

    def principal(self, authorization: str | None) -> object:
        err: Unauthorized | None = None
        for check in self.checks:
            try:
                return check.principal(authorization)
            except Unauthorized as exc:
                err = exc
        assert err is not None
        raise err

    async def aprincipal(self, authorization: str | None) -> object:
        err: Unauthorized | None = None
        for check in self.checks:
            try:
                return await check.aprincipal(authorization)
            except Unauthorized as exc:
                err = exc
        assert err is not None
        raise err
