"""Structured logging: one line per event worth knowing, JSON by default.

    log = get_logger("engine")
    log.info("event applied", topic="airdig.resources", count=12)
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

from airdig.model.redact import redact_text

_configured = False


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        payload.update(getattr(record, "fields", {}))
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        # last line of defence: whatever a caller put in a message or field, no secret reaches the log
        return redact_text(orjson.dumps(payload, default=str).decode())


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extra = " ".join(f"{k}={v}" for k, v in getattr(record, "fields", {}).items())
        line = f"{record.levelname.lower():7s} {record.name}: {record.getMessage()}"
        if extra:
            line += " " + extra
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact_text(line)


def configure(level: str = "info", fmt: str = "json") -> None:
    """Install the AirDig handler on the ``airdig`` logger (idempotent; last call wins)."""
    global _configured
    root = logging.getLogger("airdig")
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if fmt == "json" else _TextFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False
    _configured = True


class Logger:
    """A thin wrapper that takes key=value fields, so every line is one structured event."""

    def __init__(self, name: str) -> None:
        self._log = logging.getLogger(f"airdig.{name}")

    def _emit(self, level: int, msg: str, exc: bool, fields: dict[str, Any]) -> None:
        if self._log.isEnabledFor(level):
            self._log.log(level, msg, extra={"fields": fields}, exc_info=exc)

    def debug(self, msg: str, **fields: Any) -> None:
        self._emit(logging.DEBUG, msg, False, fields)

    def info(self, msg: str, **fields: Any) -> None:
        self._emit(logging.INFO, msg, False, fields)

    def warning(self, msg: str, **fields: Any) -> None:
        self._emit(logging.WARNING, msg, False, fields)

    def error(self, msg: str, exc_info: bool = False, **fields: Any) -> None:
        self._emit(logging.ERROR, msg, exc_info, fields)

    def exception_of(self, exc: BaseException, msg: str, **fields: Any) -> None:
        """An error line carrying the trace of ``exc`` (caught elsewhere, e.g. by a framework)."""
        if self._log.isEnabledFor(logging.ERROR):
            self._log.error(msg, extra={"fields": fields}, exc_info=(type(exc), exc, exc.__traceback__))


def get_logger(name: str) -> Logger:
    return Logger(name)
