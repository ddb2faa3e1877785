"""Bearer API tokens with roles (viewer < editor < admin, :mod:`airdig.edge.roles`), checked in front of
the engine's API.

A token is 32 random bytes shown once at creation; the store keeps only its SHA-256, which is enough
for a secret of that entropy (no salt or slow hash is needed: nothing can be guessed from the hash).
Authentication is the ``auth`` setting (``AIRDIG_AUTH``, on by default). It is off only in loopback
dev mode (``airdig up``/``demo`` bound to loopback, or ``auth: off`` on a loopback listener), where the
edge's Host and Origin checks keep other sites and DNS-rebinding pages out.

    tokens = TokenService(store); token, row = tokens.create("ci", "viewer")
    gate = AuthGate(app, verify=Authenticator(store, required=True).aprincipal)   # airdig.edge.auth
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
import uuid
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from airdig.backends.interfaces import ApiTokenRow, Store
from airdig.edge.policy import is_loopback_bind
from airdig.edge.roles import WRITE_ROLE, check_role, role_allows
from airdig.errors import Forbidden, InvalidInput, Unauthorized
from airdig.logs import get_logger

log = get_logger("engine.auth")

TOKEN_PREFIX = "adg_"
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
CACHE_SECONDS = 5.0  # a revoked token stops working within this time on every replica

Scope = MutableMapping[str, Any]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def is_loopback(host: str) -> bool:
    """Whether a bind address only accepts local connections (``0.0.0.0`` and names other than
    ``localhost`` do not count: they may be reachable from the network)."""
    return is_loopback_bind(host)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token's name and role, or the implicit admin of a loopback-only engine."""

    name: str
    role: str
    token_id: str | None = None

    def allows(self, needed: str) -> bool:
        return role_allows(self.role, needed)

    def __str__(self) -> str:  # how the caller appears as an actor (e.g. of a drift acknowledgement)
        return self.name


LOOPBACK = Principal(name="loopback", role="admin")


class TokenService:
    """Create, list and revoke tokens; the token string exists only in the return value of ``create``."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def create(self, name: str, role: str) -> tuple[str, ApiTokenRow]:
        if not name.strip():
            raise InvalidInput("--name", "a token needs a name (who or what uses it)")
        if len(name) > 200:
            raise InvalidInput("--name", "name is longer than 200 characters")
        check_role(role)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = ApiTokenRow(id="tok_" + uuid.uuid4().hex[:12], name=name.strip(), role=role,
                          token_hash=hash_token(token), created_at=self.clock())
        self.store.add_api_token(row)
        log.info("api token created", token_id=row.id, name=row.name, role=role)
        return token, row

    def list(self, include_revoked: bool = False) -> list[ApiTokenRow]:
        return self.store.list_api_tokens(include_revoked)

    def revoke(self, id_or_name: str) -> int:
        n = self.store.revoke_api_tokens(id_or_name, self.clock())
        log.info("api tokens revoked", ident=id_or_name, count=n)
        return n


class Authenticator:
    """Maps an ``Authorization`` header value to a :class:`Principal` (lookups cached a few seconds)."""

    def __init__(self, store: Store, required: bool, cache_seconds: float = CACHE_SECONDS) -> None:
        self.store = store
        self.required = required
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()

    def principal(self, authorization: str | None) -> Principal:
        """The caller, or :class:`Unauthorized` when auth is on and the credentials are missing or bad."""
        if not self.required:
            return LOOPBACK
        if not authorization:
            raise Unauthorized("an API token is required: send 'Authorization: Bearer <token>' "
                               "(create one with `airdig token create`)")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("the Authorization header must be 'Bearer <token>'")
        found = self._lookup(hash_token(token))
        if found is None:
            raise Unauthorized("the API token is not valid (unknown or revoked)")
        return found

    async def aprincipal(self, authorization: str | None) -> Principal:
        """:meth:`principal` for the event loop: a cached token answers inline, a lookup in the token
        store runs in a worker thread."""
        if not self.required or not authorization:
            return self.principal(authorization)
        _, _, token = authorization.strip().partition(" ")
        hit = self._cache.get(hash_token(token.strip()))
        if hit is not None and hit[0] > time.monotonic() and hit[1] is not None:
            return hit[1]
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(self.principal, authorization)

    def _lookup(self, digest: str) -> Principal | None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(digest)
            if hit is not None and hit[0] > now:
                return hit[1]
        row = self.store.api_token_by_hash(digest)
        found = Principal(name=row.name, role=row.role, token_id=row.id) if row else None
        with self._lock:
            if len(self._cache) > 10_000:  # bounded: a flood of bad tokens must not grow memory
                self._cache.clear()
            self._cache[digest] = (now + self.cache_seconds, found)
        return found


def principal_of(scope: Scope) -> Principal | None:
    state = scope.get("state") or {}
    p = state.get("principal")
    return p if isinstance(p, Principal) else None


def ws_principal(context: dict[str, Any], auth: Authenticator) -> Principal:
    """For a WebSocket's ``connection_init``: the caller from the header or the payload's
    ``Authorization`` (``authorization`` also accepted); raises :class:`Unauthorized` otherwise."""
    known = context.get("principal")
    if isinstance(known, Principal):
        return known
    params = context.get("connection_params") or {}
    value = params.get("Authorization") or params.get("authorization") if isinstance(params, dict) else None
    principal = auth.principal(value if isinstance(value, str) else None)
    context["principal"] = principal
    return principal


class MutationGuard(SchemaExtension):
    """GraphQL mutations need the editor role; a viewer gets an error with code FORBIDDEN.

    Reads the caller from ``context["principal"]`` (set from the middleware or the WebSocket
    ``connection_init``); a context without one (e.g. a schema executed directly) is not guarded.
    """

    def on_execute(self) -> Any:
        ctx = self.execution_context
        context = ctx.context
        principal = context.get("principal") if isinstance(context, dict) else None
        if ctx.operation_type == OperationType.MUTATION and context is not None and "principal" in context \
                and not (isinstance(principal, Principal) and principal.allows(WRITE_ROLE)):
            who = f"token {principal.name!r} (role {principal.role})" if isinstance(principal, Principal) else "anonymous"
            exc = Forbidden(f"mutations need the editor role; {who} may only read")
            ctx.result = GraphQLExecutionResult(data=None, errors=[GraphQLError(str(exc), original_error=exc)])
        yield
