"""The watch loop: detect, then publish only what changed since the previous cycle.

``airdig.drift.detected`` goes out for a new drift or one whose content changed, ``airdig.drift.resolved``
for one that disappeared, ``airdig.change.recorded`` once per CloudTrail write (and node it changed) that
the writes table maps to a node, whether or not it caused a drift (the root-cause model only counts a
change that is on record), ``airdig.drift.coverage`` (the coverage matrix) when it differs from the last
one published. The
previous cycle's drifts are kept in ``<data_dir>/deepdrift-watch.json`` so ``--once`` runs from cron
behave like one long-running watch. Unknown is never resolved: a drift stays open while its scope
(type, region) is unknown, its state file could not be read, or (for unmanaged drifts) any state could
not be read.
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
from airdig.deepdrift.writes import NATIVE
from airdig.errors import AirDigError
from airdig.logs import get_logger
from airdig.model.events import DRIFT_COVERAGE_SUBJECT, TOPIC_DRIFT, CloudEvent, to_rfc3339
from airdig.model.redact import redact

log = get_logger("deepdrift.watch")
SOURCE = "airdig/deepdrift"


def fingerprint(d: dict[str, Any]) -> str:
    body = {k: v for k, v in d.items() if k not in ("detected_at", "related_events")}
    return hashlib.sha1(orjson.dumps(body, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()


def change_id(ev: TrailEvent, subject: str) -> str:
    """The change id of a write's second and later nodes: a write that changed several nodes
    (``CreateTags`` on three resources) is one change per node; the first node's change keeps the bare
    eventID (see :meth:`Watcher.cycle`)."""
    return f"{ev.event_id}@{subject}"


def change_event(ev: TrailEvent, subject: str, attributes: tuple[str, ...] = (), change: str = "") -> CloudEvent:
    data = {"id": change or ev.event_id, "kind": "cloudtrail",
            "summary": f"{ev.event_name} ({ev.event_source}) by {ev.principal} via {ev.channel}",
            "actor": ev.principal, "time": to_rfc3339(ev.ts),
            "details": redact({"event_id": ev.event_id, "event_name": ev.event_name, "event_source": ev.event_source,
                               "attributes": list(attributes),
                               "principal_type": ev.principal_type, "principal_arn": ev.principal_arn,
                               "session": ev.session, "channel": ev.channel, "source_ip": ev.source_ip,
                               "user_agent": ev.user_agent, "request_parameters": ev.request_parameters})}
    if subject.startswith(NATIVE):  # named by native id only: say which node the engine is to look for
        kind = next((t.kind for t in ev.targets if subject[len(NATIVE):] in t.ids), None)
        data["target"] = {k: v for k, v in (("kind", kind), ("account", ev.account), ("region", ev.region)) if v}
    return CloudEvent(type="airdig.change.recorded", source=SOURCE, subject=subject, data=data, time=ev.ts)


class _Unknown:
    """What this cycle could not see, read from the coverage matrix."""

    def __init__(self, coverage: dict[str, Any]) -> None:
        self.types = set(coverage.get("unknown_types", []))
        self.scopes = {(s.get("type"), s.get("region")) for s in coverage.get("scopes", [])
                       if s.get("status") != "checked"}
        self.states = {s.get("source") for s in coverage.get("states", []) if s.get("status") != "checked"}
        self.unmanaged = (coverage.get("unmanaged") or {}).get("status", "checked") != "checked"

    def holds(self, drift: dict[str, Any]) -> bool:
        """True when ``drift`` (from an earlier cycle) lies where this cycle could not look."""
        if drift.get("state") and drift["state"] in self.states:
            return True
        if drift.get("kind") == "unmanaged" and self.unmanaged:
            return True
        if "region" in drift:
            return (drift.get("resource_type"), drift.get("region")) in self.scopes
        return drift.get("resource_type") in self.types  # a drift saved before scopes had regions


class Watcher:
    """Remembers the last cycle and turns a new :class:`DetectResult` into events."""

    def __init__(self, bus: Bus, state_file: Path | None = None) -> None:
        self.bus = bus
        self.state_file = state_file
        self.previous: dict[str, dict[str, Any]] = {}
        self.published_changes: set[str] = set()
        self.coverage_fp = ""
        self.last_cycle: float | None = None  # when the previous cycle looked (drifts are placed after it)
        if state_file and state_file.exists():
            try:
                saved = orjson.loads(state_file.read_bytes())
                self.previous = saved.get("drifts", {})
                self.published_changes = set(saved.get("changes", []))
                self.coverage_fp = str(saved.get("coverage_fp") or "")
                self.last_cycle = saved.get("last_cycle")
            except (orjson.JSONDecodeError, OSError, AttributeError) as exc:
                log.warning("ignoring unreadable watch state", path=str(state_file), error=str(exc))

    def cycle(self, result: DetectResult) -> dict[str, int]:
        current = {d["id"]: d for d in result.drifts}
        unknown = _Unknown(result.coverage)
        counts = {"detected": 0, "resolved": 0, "changes": 0}
        now = time.time()
        for did, d in current.items():
            old = self.previous.get(did)
            if old is None or old.get("_fp") != fingerprint(d):
                # the previous cycle still saw the resource without this drift: it appeared in between
                # (root cause scores that interval, not the detection time); unknown on the first cycle
                bound = {"observed_between": [to_rfc3339(self.last_cycle), to_rfc3339(now)]} \
                    if self.last_cycle is not None else {}
                self._publish("airdig.drift.detected", d["resource_id"], {**d, **bound})
                counts["detected"] += 1
        for did, old in list(self.previous.items()):
            if did in current or unknown.holds(old):
                continue
            data = {k: v for k, v in old.items() if k != "_fp"}
            data["resolved_at"] = to_rfc3339(time.time())
            self._publish("airdig.drift.resolved", old["resource_id"], data)
            counts["resolved"] += 1
        first_node: dict[str, str] = {}
        for ev, node, attributes in result.writes:
            first = first_node.setdefault(ev.event_id, node)
            cid = ev.event_id if node == first else change_id(ev, node)
            if cid not in self.published_changes:
                ce = change_event(ev, node, attributes, cid)
                self.bus.publish(ce.topic, key=ce.subject, value=ce.encode())
                self.published_changes.add(cid)
                counts["changes"] += 1
        cov_fp = hashlib.sha1(orjson.dumps(result.coverage, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()
        if cov_fp != self.coverage_fp:  # the engine serves the newest as driftCoverage
            self._publish("airdig.drift.coverage", DRIFT_COVERAGE_SUBJECT, result.coverage)
            self.coverage_fp = cov_fp
        self.bus.flush()
        kept = {did: {**d, "_fp": fingerprint(d)} for did, d in current.items()}
        for did, old in self.previous.items():
            if did not in current and unknown.holds(old):
                kept[did] = old
        self.previous = kept
        self.last_cycle = now
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
        tmp.write_bytes(orjson.dumps({"drifts": self.previous, "changes": sorted(self.published_changes)[-50000:],
                                      "coverage_fp": self.coverage_fp, "last_cycle": self.last_cycle},
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
