"""What one listener accepts: its Host names, the foreign origins it trusts, its body limit.

    policy = EdgePolicy.for_bind("127.0.0.1", allowed_origins=("https://ops.example.com",))
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

DEFAULT_MAX_BODY = 1 << 20  # GraphQL documents and REST queries are small


def is_loopback_name(host: str) -> bool:
    """``localhost``, ``*.localhost`` or a loopback IP (v4 or v6, bracketed or not)."""
    h = host.strip().lower().rstrip(".")
    if h == "localhost" or h.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(h.strip("[]")).is_loopback
    except ValueError:
        return False


def is_loopback_bind(host: str) -> bool:
    """Whether a bind address only accepts local connections (``0.0.0.0`` and other names do not)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class EdgePolicy:
    """``loopback``: the listener is bound to loopback, so the ``Host`` header must name a loopback
    address with the listener's own port (a DNS-rebinding page has its own name in ``Host``).
    ``allowed_hosts``: on other listeners, the Host names accepted (empty = any).
    ``allowed_origins``: browser origins (``scheme://host[:port]``) trusted besides the listener's own."""

    loopback: bool = False
    allowed_hosts: frozenset[str] = field(default_factory=frozenset)
    allowed_origins: frozenset[str] = field(default_factory=frozenset)
    max_body_bytes: int = DEFAULT_MAX_BODY

    @classmethod
    def for_bind(cls, bind_host: str, allowed_hosts: Iterable[str] = (), allowed_origins: Iterable[str] = (),
                 max_body_bytes: int = DEFAULT_MAX_BODY) -> EdgePolicy:
        return cls(loopback=is_loopback_bind(bind_host),
                   allowed_hosts=frozenset(h.strip().lower() for h in allowed_hosts if h.strip()),
                   allowed_origins=frozenset(normalize_origin(o) for o in allowed_origins if o.strip()),
                   max_body_bytes=max_body_bytes)


def normalize_origin(origin: str) -> str:
    """``HTTPS://Example.com:443/`` → ``https://example.com`` (default ports dropped, lower case)."""
    o = origin.strip().rstrip("/").lower()
    for scheme, port in (("http://", ":80"), ("https://", ":443")):
        if o.startswith(scheme) and o.endswith(port):
            return o[: -len(port)]
    return o


def auth_required(setting: bool | None, bind_hosts: Iterable[str], dev_default: bool = False) -> bool:
    """The ``auth`` setting for listeners bound to ``bind_hosts``: on unless set ``off`` — or left unset
    by ``airdig up``/``demo`` (``dev_default``) — and every listener is on loopback. ``off`` on a
    listener reachable from the network is a configuration error, not a silent open door."""
    from airdig.errors import ConfigError

    hosts = list(bind_hosts)
    local = all(is_loopback_bind(h) for h in hosts)
    if setting is True:
        return True
    if setting is False:
        if not local:
            raise ConfigError("AIRDIG_AUTH", f"auth can be off only when every listener is on loopback; "
                              f"bound to {', '.join(sorted(set(hosts)))}")
        return False
    return not (dev_default and local)
