"""The watch loop: detect, then publish only what changed since the previous cycle.

``airdig.drift.detected`` goes out for a new drift or one whose content changed, ``airdig.drift.resolved``
for one that disappeared, ``airdig.change.recorded`` once per CloudTrail write that caused a drift. The
previous cycle's drifts are kept in ``<data_dir>/deepdrift-watch.json`` so ``--once`` runs from cron
behave like one long-running watch. A type that could not be fetched keeps its previous drifts (unknown
is not resolved).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from airdig.backends.interfaces import Bus
from airdig.deepdrift.cloudtrail import TrailEvent
from airdig.deepdrift.detect import DetectResult
from airdig.deepdrift.redact import redact
from airdig.errors import AirDigError
from airdig.logs import get_logger
from airdig.model.events import TOPIC_DRIFT, CloudEvent, to_rfc3339

log = get_logger("deepdrift.watch")
SOURCE = "airdig/deepdrift"


def fingerprint(d: dict[str, Any]) -> str:
    body = {k: v for k, v in d.items() if k not in ("detected_at", "related_events")}
    return hashlib.sha1(orjson.dumps(body, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()


def change_event(ev: TrailEvent, subject: str) -> CloudEvent:
    data = {"id": ev.event_id, "kind": "cloudtrail",
            "summary": f"{ev.event_name} ({ev.event_source}) by {ev.principal} via {ev.channel}",
            "actor": ev.principal, "time": to_rfc3339(ev.ts),
            "details": redact({"event_name": ev.event_name, "event_source": ev.event_source,
                               "principal_type": ev.principal_type, "principal_arn": ev.principal_arn,
                               "session": ev.session, "channel": ev.channel, "source_ip": ev.source_ip,
                               "user_agent": ev.user_agent, "request_parameters": ev.request_parameters})}
    return CloudEvent(type="airdig.change.recorded", source=SOURCE, subject=subject, data=data, time=ev.ts)


class Watcher:
    """Remembers the last cycle and turns a new :class:`DetectResult` into events."""

    def __init__(self, bus: Bus, state_file: Path | None = None) -> None:
        self.bus = bus
        self.state_file = state_file
        self.previous: dict[str, dict[str, Any]] = {}
        self.published_changes: set[str] = set()
        if state_file and state_file.exists():
            try:
                saved = orjson.loads(state_file.read_bytes())
                self.previous = saved.get("drifts", {})
                self.published_changes = set(saved.get("changes", []))
            except (orjson.JSONDecodeError, OSError, AttributeError) as exc:
                log.warning("ignoring unreadable watch state", path=str(state_file), error=str(exc))

    def cycle(self, result: DetectResult) -> dict[str, int]:
        current = {d["id"]: d for d in result.drifts}
        unknown = set(result.coverage.get("unknown_types", []))
        counts = {"detected": 0, "resolved": 0, "changes": 0}
        for did, d in current.items():
            old = self.previous.get(did)
            if old is None or old.get("_fp") != fingerprint(d):
                self._publish("airdig.drift.detected", d["resource_id"], d)
                counts["detected"] += 1
        for did, old in list(self.previous.items()):
            if did in current or old.get("resource_type") in unknown:
                continue
            data = {k: v for k, v in old.items() if k != "_fp"}
            data["resolved_at"] = to_rfc3339(time.time())
            self._publish("airdig.drift.resolved", old["resource_id"], data)
            counts["resolved"] += 1
        subjects = {d["cause"]["event_id"]: d["resource_id"] for d in result.drifts if d.get("cause")}
        for ev in result.causes:
            if ev.event_id not in self.published_changes:
                ce = change_event(ev, subjects.get(ev.event_id, ev.event_id))
                self.bus.publish(ce.topic, key=ce.subject, value=ce.encode())
                self.published_changes.add(ev.event_id)
                counts["changes"] += 1
        self.bus.flush()
        kept = {did: {**d, "_fp": fingerprint(d)} for did, d in current.items()}
        for did, old in self.previous.items():
            if did not in current and old.get("resource_type") in unknown:
                kept[did] = old
        self.previous = kept
        self._save()
        log.info("watch cycle published", **counts)
        return counts

    def _publish(self, etype: str, subject: str, data: dict[str, Any]) -> None:
        ev = CloudEvent(type=etype, source=SOURCE, subject=subject, data=data)
        self.bus.publish(TOPIC_DRIFT, key=subject, value=ev.encode())

    def _save(self) -> None:
        if not self.state_file:
            return
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps({"drifts": self.previous, "changes": sorted(self.published_changes)[-50000:]},
                                     default=str))
        os.replace(tmp, self.state_file)


HEARTBEAT_EVERY = 10.0


def beat(path: Path) -> None:
    """Write the time to the heartbeat file (its mtime is what the liveness probe reads)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{time.time():.3f}\n")
    os.replace(tmp, path)


def run(watcher: Watcher, detect_once: Callable[[], DetectResult], interval: float, once: bool,
        sleep: Callable[[float], None] = time.sleep, heartbeat: Path | None = None,
        lease: Callable[[], bool] | None = None) -> None:
    """Run cycles every ``interval`` seconds (or one with ``once``); a failed cycle is logged, not fatal.

    ``heartbeat``: a file rewritten before each cycle and every 10 s between cycles, by this loop itself
    (not a side thread), so a loop that hangs stops the beat and the chart's exec probe restarts the
    pod; a cycle that fails (AWS unreachable) still beats: restarting would not help it.

    ``lease``: asked before each cycle; a replica that does not hold it skips the cycle (a standby), so
    two replicas watching the same states never publish every drift twice."""
    while True:
        if heartbeat is not None:
            beat(heartbeat)
        try:
            if lease is not None and not lease():
                if once:
                    raise AirDigError("another replica holds the watch lease of these states")
            else:
                watcher.cycle(detect_once())
        except Exception as exc:  # a daemon outlives one bad cycle; --once reports it
            if once:
                raise
            log.error("watch cycle failed", error=str(exc), exc_info=True)
        if once:
            return
        left = interval
        while left > 0:
            step = min(left, HEARTBEAT_EVERY) if heartbeat is not None else left
            sleep(step)
            left -= step
            if heartbeat is not None and left > 0:
                beat(heartbeat)
