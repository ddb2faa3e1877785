"""Connector options from a backend URL's query, with secrets read from files or the environment.

Every connector takes its TLS and credential options from its URL, so one setting (one Kubernetes
Secret key) describes a connection. A secret never has to sit in the URL itself: ``name_file=PATH``
reads it from a file (a mounted Secret; one trailing newline is dropped) and ``name_env=VAR`` from an
environment variable. Errors name the option and the file or variable, never the value.

    opts = UrlOptions("AIRDIG_DATABASE_URL", "ssl_ca=/ca.pem&password_file=/run/secrets/db")
    opts.secret("password")  # the file's content
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from urllib.parse import parse_qsl

from airdig.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def read_secret_file(setting: str, path: str) -> str:
    """A secret's value from a file; a missing or unreadable file is a :class:`ConfigError`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(setting, f"cannot read secret file {path}: {exc.strerror}") from None
    return text[:-1] if text.endswith("\n") else text


class UrlOptions:
    """The query of a backend URL as options (last value wins); tracks which ones were consumed."""

    def __init__(self, setting: str, query: str) -> None:
        self.setting = setting
        self.values: dict[str, str] = dict(parse_qsl(query, keep_blank_values=True))

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.values.get(name, default)

    def flag(self, name: str, default: bool) -> bool:
        raw = self.values.get(name)
        if raw is None or raw == "":
            return default
        low = raw.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ConfigError(self.setting, f"option {name} must be true or false, got {raw!r}")

    def number(self, name: str, default: float) -> float:
        raw = self.values.get(name)
        if raw is None:
            return default
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(self.setting, f"option {name} must be a number, got {raw!r}") from None

    def path(self, name: str) -> str | None:
        """A file option (a CA, a certificate): must exist now, so a typo fails at start-up."""
        raw = self.values.get(name)
        if not raw:
            return None
        if not Path(raw).is_file():
            raise ConfigError(self.setting, f"option {name}: no such file {raw}")
        return raw

    def secret(self, name: str, default: str | None = None) -> str | None:
        """``name`` itself, else ``name_file`` (file content), else ``name_env`` (variable), else default."""
        if self.values.get(name):
            return self.values[name]
        path = self.values.get(name + "_file")
        if path:
            return read_secret_file(f"{self.setting} ({name}_file)", path)
        var = self.values.get(name + "_env")
        if var:
            value = os.environ.get(var)
            if value is None:
                raise ConfigError(self.setting, f"option {name}_env names {var}, which is not set")
            return value
        return default


def client_tls_context(setting: str, ca: str | None, cert: str | None, key: str | None,
                       verify: bool = True, check_hostname: bool = True) -> ssl.SSLContext:
    """A client TLS context: the given CA bundle (else the system's), an optional client certificate.

    ``verify=False`` encrypts without checking the server (``ssl_mode=required``); ``check_hostname=False``
    checks the chain but not the name (``verify_ca``, for servers reached by IP).
    """
    try:
        ctx = ssl.create_default_context(cafile=ca)
        if cert:
            ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(setting, f"cannot load TLS files: {exc}") from None
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif not check_hostname:
        ctx.check_hostname = False
    return ctx
