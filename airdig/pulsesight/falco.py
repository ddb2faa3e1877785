"""Falco ``http_output`` events → ``airdig.security.event`` on the node they concern (+ a health signal).

Falco posts one JSON object per event: ``output``, ``priority``, ``rule``, ``time`` (RFC 3339 with
nanoseconds), ``output_fields``, ``source``, ``tags``, ``hostname``. The node is found from
``k8s.ns.name``/``k8s.pod.name``, then the 12-character ``container.id``, then the host; an event no
node matches is still published, with subject ``unmapped:<hostname>``.

    ev = parse_falco(orjson.loads(body))
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from airdig.errors import InvalidInput
from airdig.model.events import CloudEvent, parse_time
from airdig.model.redact import redact, redact_text

PRIORITIES = ("emergency", "alert", "critical", "error", "warning", "notice", "informational", "debug")
_ALIASES = {"info": "informational", "warn": "warning", "crit": "critical", "err": "error", "emerg": "emergency"}
# priority -> health level while the event is fresh (lower priorities are recorded, not scored)
HEALTH_LEVEL = {"emergency": "critical", "alert": "critical", "critical": "critical",
                "error": "warning", "warning": "warning"}


@dataclass(frozen=True)
class FalcoEvent:
    id: str
    rule: str
    priority: str
    output: str
    time: float
    time_text: str
    source: str
    fields: dict[str, Any]
    tags: list[str]
    hostname: str

    def labels(self) -> dict[str, str]:
        """Output fields as mapping labels (string values only), plus the host as a node name."""
        out = {k: str(v) for k, v in self.fields.items() if isinstance(v, str | int) and not isinstance(v, bool)}
        if self.hostname:
            out.setdefault("hostname", self.hostname)
        return out

    def to_event(self, subject: str) -> CloudEvent:
        # Falco quotes command lines and environments (``proc.cmdline=... --password=...``): the published
        # event carries them redacted like everything else that reaches the store
        return CloudEvent(type="airdig.security.event", source="pulsesight", subject=subject, time=self.time,
                          id=self.id, data={
                              "id": self.id, "source": self.source, "rule": self.rule,
                              "priority": self.priority, "output": redact_text(self.output),
                              "time": self.time_text, "fields": redact(self.fields), "tags": self.tags,
                              "hostname": self.hostname})


def parse_falco(body: Any) -> FalcoEvent:
    """Validate one http_output JSON object; :class:`InvalidInput` names the first problem."""
    where = "falco event"
    if not isinstance(body, dict):
        raise InvalidInput(where, "body must be a JSON object")
    for key in ("output", "rule", "priority", "time"):
        if not isinstance(body.get(key), str) or not body[key]:
            raise InvalidInput(where, f"field {key!r} must be a non-empty string")
    priority = body["priority"].strip().lower()
    priority = _ALIASES.get(priority, priority)
    if priority not in PRIORITIES:
        raise InvalidInput(where, f"unknown priority {body['priority']!r}; known: {', '.join(PRIORITIES)}")
    when = parse_time(body["time"], f"{where}: time")
    fields = body.get("output_fields") or {}
    if not isinstance(fields, dict):
        raise InvalidInput(where, "'output_fields' must be an object")
    tags = body.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise InvalidInput(where, "'tags' must be a list of strings")
    hostname = body.get("hostname") or ""
    source = body.get("source") or "syscall"
    if not isinstance(hostname, str) or not isinstance(source, str):
        raise InvalidInput(where, "'hostname' and 'source' must be strings")
    # a redelivered event gets the same id, so the engine's de-duplication drops the copy
    digest = hashlib.sha256(orjson.dumps([body["rule"], body["time"], hostname, body["output"]])).hexdigest()
    return FalcoEvent(id=f"falco-{digest[:32]}", rule=body["rule"], priority=priority, output=body["output"],
                      time=when, time_text=body["time"], source=source, fields=fields, tags=tags,
                      hostname=hostname)
