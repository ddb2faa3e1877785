"""Where a pillar run on its own (``airdig tracecore serve``, ``airdig pulsesight serve``) gets the bearer
tokens it checks when auth is on: a token file (``tokens_file``), the engine's API tokens in the store
(``token_store: on``), or both. Inside ``airdig up`` the pillars use the engine's authenticator instead.

Auth on without any token source is a start-up error, never a silently open (or silently closed)
listener.

    tokens, owned = pillar_tokens(settings, "tracecore", host)   # None only when auth is off
"""

from __future__ import annotations

from typing import Any

from airdig.edge.auth import TokenCheck
from airdig.edge.policy import auth_required
from airdig.edge.tokenfile import AnyOf, TokenFile
from airdig.errors import AirDigError, ConfigError
from airdig.logs import get_logger
from airdig.settings import Settings

log = get_logger("edge.sources")
_PROBE_HASH = "0" * 64  # no token hashes to this: the start-up check reads the table without a match


def token_sources(settings: Settings) -> tuple[list[TokenCheck], list[Any]]:
    """The configured token checks, and what was opened for them (to close on stop)."""
    checks: list[TokenCheck] = []
    owned: list[Any] = []
    if settings.tokens_file:
        checks.append(TokenFile(settings.tokens_file, setting="AIRDIG_TOKENS_FILE"))
    if settings.token_store:
        from airdig.backends.registry import open_store
        from airdig.engine.auth import Authenticator

        store = open_store(settings.database_url)
        try:
            store.api_token_by_hash(_PROBE_HASH)  # reachable and migrated, or fail now, not per request
        except AirDigError:
            store.close()
            raise
        except Exception as exc:  # e.g. no api_tokens table: the engine's `airdig db migrate` never ran
            store.close()
            raise ConfigError("AIRDIG_TOKEN_STORE", f"cannot read the API tokens in the store "
                              f"({type(exc).__name__}); run `airdig db migrate` against it first") from None
        owned.append(store)
        checks.append(Authenticator(store, required=True))
    return checks, owned


def pillar_tokens(settings: Settings, pillar: str, host: str, other_credential: bool = False
                  ) -> tuple[TokenCheck | None, list[Any]]:
    """The token check of a standalone pillar bound to ``host``: None when auth is off (loopback only);
    else the configured sources. ``other_credential``: the pillar has a credential of its own
    (PulseSight's shared secret), so no token source is needed."""
    if not auth_required(settings.auth, [host]):
        return None, []
    checks, owned = token_sources(settings)
    if not checks:
        if other_credential:
            return None, owned
        raise ConfigError("AIRDIG_TOKENS_FILE", f"auth is on but {pillar} has no token source: set "
                          "AIRDIG_TOKEN_STORE=on (the engine's API tokens, read from AIRDIG_DATABASE_URL) "
                          "and/or AIRDIG_TOKENS_FILE=/path (a file of tokens, e.g. a Kubernetes Secret), "
                          "or AIRDIG_AUTH=off on a loopback bind")
    log.info("bearer tokens required", pillar=pillar, file=bool(settings.tokens_file),
             store=settings.token_store)
    return (checks[0] if len(checks) == 1 else AnyOf(checks)), owned
