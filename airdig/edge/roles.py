"""The one role model of every listener: viewer < editor < admin, whatever the token's source.

A token of the engine's store (:class:`airdig.engine.auth.Principal`), a line of a token file
(:class:`airdig.edge.tokenfile.FileToken`) and PulseSight's shared secret all carry a ``role``. Reading
needs ``viewer``; a write route — data sent *in*: OTLP spans, webhooks — and a GraphQL mutation need
:data:`WRITE_ROLE`; managing tokens needs ``admin`` (the CLI, on the store itself).

    if not may(principal, WRITE_ROLE): refuse with FORBIDDEN
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airdig.errors import InvalidInput

ROLES = ("viewer", "editor", "admin")
WRITE_ROLE = "editor"


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput("role", f"{role!r} is not one of {', '.join(ROLES)}")
    return role


def role_allows(role: str, needed: str) -> bool:
    """True when ``role`` is at least ``needed`` in viewer < editor < admin."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def may(principal: Any, needed: str) -> bool:
    """Whether a caller (anything with a ``role``) has at least the role ``needed``; a caller without
    a role has none."""
    role = getattr(principal, "role", None)
    return isinstance(role, str) and role_allows(role, needed)


def refusal(principal: Any, needed: str) -> str:
    """The FORBIDDEN message: who the caller is (never a token) and what was needed."""
    role = getattr(principal, "role", None)
    return f"this needs the {needed} role; {str(principal)!r} has {role or 'no role'}"


@dataclass(frozen=True)
class Caller:
    """A caller known by name and role (a token-file line, PulseSight's shared secret)."""

    name: str
    role: str

    def allows(self, needed: str) -> bool:
        return role_allows(self.role, needed)

    def __str__(self) -> str:
        return self.name
