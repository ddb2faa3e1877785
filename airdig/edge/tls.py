"""TLS on AirDig's own listeners: one certificate and key for every port of a process.

Set ``tls_cert_file`` and ``tls_key_file`` (``AIRDIG_TLS_CERT_FILE`` / ``AIRDIG_TLS_KEY_FILE``, e.g. a
mounted Kubernetes TLS Secret) and the engine, the UI, PulseSight and both TraceCore receivers (OTLP/HTTP
and OTLP/gRPC) serve TLS only — a bearer token then never crosses the network in plain text, also where
no mesh or ingress terminates TLS in front. Both files are read at start: a missing file, a key that
does not match the certificate or only one of the two settings fails the start naming the setting,
instead of a listener that comes up in plain text.

    tls = ServerTls.from_settings(settings)          # None: plain text
    uvicorn.Config(app, **(tls.uvicorn_options() if tls else {}))
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airdig.errors import ConfigError


@dataclass(frozen=True)
class ServerTls:
    cert_file: str
    key_file: str

    @classmethod
    def from_settings(cls, settings: Any) -> ServerTls | None:
        cert, key = getattr(settings, "tls_cert_file", None), getattr(settings, "tls_key_file", None)
        if not cert and not key:
            return None
        if not cert or not key:
            missing = "AIRDIG_TLS_KEY_FILE" if cert else "AIRDIG_TLS_CERT_FILE"
            raise ConfigError(missing, "TLS needs both a certificate (tls_cert_file) and its key (tls_key_file)")
        tls = cls(str(cert), str(key))
        tls.context()  # fail now, naming the setting, not at the first handshake
        return tls

    def context(self) -> ssl.SSLContext:
        """The server-side context (TLS 1.2 or newer)."""
        for name, path in (("AIRDIG_TLS_CERT_FILE", self.cert_file), ("AIRDIG_TLS_KEY_FILE", self.key_file)):
            if not Path(path).is_file():
                raise ConfigError(name, f"no such file: {path}")
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            ctx.load_cert_chain(self.cert_file, self.key_file)
        except (ssl.SSLError, ValueError) as exc:
            raise ConfigError("AIRDIG_TLS_CERT_FILE", f"cannot use {self.cert_file} with key {self.key_file}: "
                              f"{exc}") from None
        return ctx

    def uvicorn_options(self) -> dict[str, Any]:
        return {"ssl_certfile": self.cert_file, "ssl_keyfile": self.key_file}

    def pem_pair(self) -> tuple[bytes, bytes]:
        """(private key, certificate chain) as gRPC's server credentials take them."""
        return Path(self.key_file).read_bytes(), Path(self.cert_file).read_bytes()


def scheme(tls: ServerTls | None) -> str:
    return "https" if tls is not None else "http"


def client_context(ca_file: str | None) -> ssl.SSLContext:
    """How AirDig's own clients of an https engine (the UI's proxy, PulseSight's resolver, DeepDrift's
    impact look-up) verify it: against ``ca_file`` (``AIRDIG_HTTP_CA_FILE``, a private CA) or the system
    CAs; never unverified."""
    return ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
