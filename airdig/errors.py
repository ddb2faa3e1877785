"""The one error root of AirDig.

Every error a user can cause or meet derives from :class:`AirDigError` and carries a stable ``code``;
``airdig.engine.api.errors`` is the one place that maps codes to HTTP statuses and GraphQL
``extensions.code`` so the REST and GraphQL surfaces never disagree.
"""

from __future__ import annotations


class AirDigError(Exception):
    """Base of every AirDig error; ``code`` is machine-readable, ``str(err)`` is a one-line reason."""

    code = "INTERNAL"


class ConfigError(AirDigError):
    """A setting is missing or malformed (bad URL, unknown scheme, unreadable config file)."""

    code = "BAD_CONFIG"

    def __init__(self, setting: str, detail: str) -> None:
        self.setting = setting
        self.detail = detail
        super().__init__(f"{setting}: {detail}")


class InvalidInput(AirDigError):
    """Input from outside (an event, a state file, a webhook body, a query) cannot be used."""

    code = "BAD_INPUT"

    def __init__(self, source: str, detail: str) -> None:
        self.source = source
        self.detail = detail
        super().__init__(f"{source}: {detail}")


class NotFound(AirDigError):
    """The thing asked for does not exist."""

    code = "NOT_FOUND"

    def __init__(self, kind: str, ident: str) -> None:
        self.kind = kind
        self.ident = ident
        super().__init__(f"{kind} not found: {ident}")


class BackendUnavailable(AirDigError):
    """A backend (database, broker, cache, metrics source) cannot be reached; retrying may help."""

    code = "UNAVAILABLE"

    def __init__(self, backend: str, detail: str) -> None:
        self.backend = backend
        self.detail = detail
        super().__init__(f"{backend} unavailable: {detail}")


class StoreRejected(AirDigError):
    """The store refused a write because of the data in it (too long for its column, wrong type, bad
    encoding, a constraint): the same write fails the same way every time, so retrying cannot help.

    Backends map their driver's errors to this class or to :class:`BackendUnavailable` (worth a retry);
    the engine bisects a rejected batch and dead-letters only the event responsible."""

    code = "BAD_INPUT"

    def __init__(self, backend: str, detail: str) -> None:
        self.backend = backend
        self.detail = detail
        super().__init__(f"{backend} rejected the write: {detail}")


class Unauthorized(AirDigError):
    """No valid credentials were presented."""

    code = "UNAUTHENTICATED"


class Forbidden(AirDigError):
    """The credentials are valid but their role does not allow the action."""

    code = "FORBIDDEN"


class LimitExceeded(AirDigError):
    """A request exceeded a limit (query depth or cost, page size, body size)."""

    code = "LIMIT_EXCEEDED"
