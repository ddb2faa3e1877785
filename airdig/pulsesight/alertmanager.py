"""Alertmanager webhook (version 4) → health signals; resolved alerts clear them.

Each alert becomes the signal ``alert:<alertname>:<fingerprint>`` on the node its labels name. Its
level comes from the ``severity`` label. While firing, ``endsAt`` is Go's zero time
``0001-01-01T00:00:00Z`` (no end known); a firing alert with a real ``endsAt`` expires then unless
Alertmanager repeats it.

    alerts = parse_alertmanager(orjson.loads(body))
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from airdig.errors import InvalidInput
from airdig.model.events import parse_time

SEVERITY_LEVEL = {"critical": "critical", "page": "critical", "error": "critical", "high": "critical",
                  "major": "critical", "warning": "warning", "warn": "warning", "medium": "warning",
                  "minor": "warning"}
DEFAULT_LEVEL = "warning"  # an alert without a known severity still means something is wrong


@dataclass(frozen=True)
class Alert:
    name: str
    status: str  # firing | resolved
    level: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: float
    ends_at: float | None  # None = Go zero time (still firing, no end known)
    fingerprint: str

    @property
    def signal(self) -> str:
        return f"alert:{self.name}:{self.fingerprint}"

    @property
    def message(self) -> str:
        text = self.annotations.get("summary") or self.annotations.get("description") or ""
        return f"alert {self.name} ({self.labels.get('severity', 'no severity')}){': ' + text if text else ''}"


def _str_map(v: Any, where: str) -> dict[str, str]:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise InvalidInput(where, "must be an object of strings")
    return {str(k): str(x) for k, x in v.items()}


def _end(value: Any, where: str) -> float | None:
    if value in (None, "") or (isinstance(value, str) and value.startswith("0001-01-01")):
        return None
    return parse_time(value, where)


def parse_alertmanager(body: Any) -> list[Alert]:
    """Validate a webhook v4 body; :class:`InvalidInput` names the alert and field at fault."""
    where = "alertmanager webhook"
    if not isinstance(body, dict):
        raise InvalidInput(where, "body must be a JSON object")
    if str(body.get("version", "")) != "4":
        raise InvalidInput(where, f"unsupported version {body.get('version')!r} (want '4')")
    alerts = body.get("alerts")
    if not isinstance(alerts, list):
        raise InvalidInput(where, "'alerts' must be a list")
    out = []
    for i, a in enumerate(alerts):
        aw = f"{where}: alerts[{i}]"
        if not isinstance(a, dict):
            raise InvalidInput(aw, "must be an object")
        status = a.get("status")
        if status not in ("firing", "resolved"):
            raise InvalidInput(aw, f"status must be 'firing' or 'resolved', got {status!r}")
        labels = _str_map(a.get("labels"), f"{aw}.labels")
        if not labels.get("alertname"):
            raise InvalidInput(aw, "labels.alertname is required")
        fingerprint = a.get("fingerprint")
        if not isinstance(fingerprint, str) or not fingerprint:
            fingerprint = hashlib.sha256(repr(sorted(labels.items())).encode()).hexdigest()[:16]
        out.append(Alert(
            name=labels["alertname"], status=status,
            level=SEVERITY_LEVEL.get(labels.get("severity", "").lower(), DEFAULT_LEVEL),
            labels=labels, annotations=_str_map(a.get("annotations"), f"{aw}.annotations"),
            starts_at=parse_time(a.get("startsAt"), f"{aw}.startsAt"),
            ends_at=_end(a.get("endsAt"), f"{aw}.endsAt"), fingerprint=fingerprint))
    return out
