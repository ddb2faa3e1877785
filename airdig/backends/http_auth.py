"""Credentials and TLS for the HTTP readers (Tempo, Prometheus/Mimir, Loki): one description, one client.

Grafana Cloud, a Mimir behind an auth gateway and a self-hosted Loki with a private CA all differ only in
these: the tenant (``X-Scope-OrgID``), an ``Authorization`` (bearer token or basic user/password), the CA
that signed the server's certificate, and a client certificate for mutual TLS.

    auth = HttpAuth.parse("AIRDIG_METRICS_AUTH", "basic:123456:glc_...", tenant="team-a", ca_file="/ca.pem")
    httpx.Client(**auth.client_options())
"""

from __future__ import annotations

import base64
import ssl
from dataclasses import dataclass
from typing import Any

from airdig.backends.options import client_tls_context
from airdig.errors import ConfigError


@dataclass(frozen=True)
class HttpAuth:
    """What an HTTP reader sends and trusts; ``authorization`` is a ready header value (never logged)."""

    tenant: str | None = None
    authorization: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    setting: str = "AIRDIG_HTTP_CA_FILE"

    @classmethod
    def parse(cls, setting: str, auth: str | None, tenant: str | None = None, ca_file: str | None = None,
              cert_file: str | None = None, key_file: str | None = None) -> HttpAuth:
        """``auth`` is ``bearer:TOKEN`` or ``basic:USER:PASSWORD`` (the password may hold colons)."""
        header = None
        if auth:
            kind, _, rest = auth.strip().partition(":")
            if kind.lower() == "bearer" and rest:
                header = f"Bearer {rest}"
            elif kind.lower() == "basic" and ":" in rest:
                user, _, password = rest.partition(":")
                header = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            else:
                # never echo the value: it is a credential
                raise ConfigError(setting, "expected bearer:TOKEN or basic:USER:PASSWORD")
        if bool(cert_file) != bool(key_file):
            raise ConfigError("AIRDIG_HTTP_CERT_FILE", "a client certificate needs both http_cert_file and "
                                                       "http_key_file")
        return cls(tenant=tenant or None, authorization=header, ca_file=ca_file or None,
                   cert_file=cert_file or None, key_file=key_file or None)

    def headers(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.tenant:
            out["X-Scope-OrgID"] = self.tenant
        if self.authorization:
            out["Authorization"] = self.authorization
        return out

    def verify(self) -> ssl.SSLContext | bool:
        if not (self.ca_file or self.cert_file):
            return True
        return client_tls_context("AIRDIG_HTTP_CA_FILE", self.ca_file, self.cert_file, self.key_file)

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for :class:`httpx.Client`."""
        return {"headers": self.headers(), "verify": self.verify()}


def reader_auth(settings: Any, which: str) -> HttpAuth:
    """The :class:`HttpAuth` of one reader (``metrics``, ``logs``, ``traces``) from resolved settings."""
    return HttpAuth.parse(f"AIRDIG_{which.upper()}_AUTH", getattr(settings, f"{which}_auth", None),
                          tenant=getattr(settings, "tenant", None),
                          ca_file=getattr(settings, "http_ca_file", None),
                          cert_file=getattr(settings, "http_cert_file", None),
                          key_file=getattr(settings, "http_key_file", None))
