"""The one place that maps AirDig errors to HTTP statuses (REST) and ``extensions.code`` (GraphQL)."""

from __future__ import annotations

from airdig.errors import AirDigError

HTTP_STATUS: dict[str, int] = {
    "BAD_INPUT": 400,
    "BAD_CONFIG": 500,
    "NOT_FOUND": 404,
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "LIMIT_EXCEEDED": 400,
    "UNAVAILABLE": 503,
    "INTERNAL": 500,
}


def http_status(exc: BaseException) -> int:
    code = exc.code if isinstance(exc, AirDigError) else "INTERNAL"
    return HTTP_STATUS.get(code, 500)


def error_body(exc: BaseException) -> dict[str, str]:
    if isinstance(exc, AirDigError):
        return {"error": str(exc), "code": exc.code}
    return {"error": "internal error", "code": "INTERNAL"}
