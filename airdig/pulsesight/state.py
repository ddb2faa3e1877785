"""Per-node health: signals folded into one status, with ``for`` and hysteresis, transitions published.

Each node holds *signals* (one per rule, ratio code class, alert or security event). A signal's level
comes from its value and thresholds; hysteresis lowers the bar for *staying* at a level (so a value
hovering at the threshold does not flap) and ``for`` delays *escalation* until the level has held that
long. De-escalation is immediate once the value is out of the band.

A node's status is its worst signal, ranked critical > warning > unknown > healthy: a signal that could
not be measured must never read as healthy, so "unknown" outranks "healthy" (but not a real problem).
Every change of a node's status is published once as ``airdig.health.changed``.

With a :class:`SharedPending` (the cache, shared by every replica) the moment a level began to hold
for a ``for`` rule is kept there rather than in this process alone, so a restarted replica continues a
rule's ``for`` where it was (pending 3 of 5 minutes: it escalates 2 minutes after the restart) and two
replicas escalate at the same moment (and, through ``claim``, publish it once).

    state = HealthState(publish=outbox.publish)
    state.observe([Observation(node_id, "cpu", "cpu", value=91, warning=80, critical=95)], now)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from airdig.backends.interfaces import Cache
from airdig.errors import AirDigError
from airdig.logs import get_logger
from airdig.model.events import CloudEvent, to_rfc3339

log = get_logger("pulsesight.state")

LEVEL_RANK = {"healthy": 0, "unknown": 1, "warning": 2, "critical": 3}
SOURCE = "pulsesight"


@dataclass(frozen=True)
class Observation:
    """One measurement of one signal on one node.

    ``value is None`` means it could not be measured (level unknown). ``level`` set means the level is
    given by the signal itself (a firing alert, a Falco priority) rather than by thresholds.
    """

    node_id: str
    signal: str
    rule: str
    value: float | None = None
    warning: float | None = None
    critical: float | None = None
    direction: str = "above"
    band_warning: float = 0.0
    band_critical: float = 0.0
    for_seconds: float = 0.0
    message: str = ""
    level: str | None = None
    expires: float | None = None
    started: float | None = None  # when the source says the condition began (an alert's startsAt)


@dataclass
class SignalState:
    rule: str
    level: str = "healthy"
    since: float = 0.0
    value: float | None = None
    threshold: float | None = None
    message: str = ""
    expires: float | None = None
    above_since: dict[str, float] = field(default_factory=dict)  # raw level -> held continuously since
    synced: bool = False  # shared pending state checked once since this process saw the signal

    def reason(self) -> dict[str, Any]:
        return {"rule": self.rule, "value": self.value, "threshold": self.threshold,
                "since": to_rfc3339(self.since), "message": self.message, "level": self.level}


@dataclass
class NodeHealth:
    node_id: str
    status: str = "healthy"
    since: float = 0.0
    signals: dict[str, SignalState] = field(default_factory=dict)

    def reasons(self) -> list[dict[str, Any]]:
        bad = [s for s in self.signals.values() if s.level != "healthy"]
        bad.sort(key=lambda s: (-LEVEL_RANK[s.level], s.rule))
        return [s.reason() for s in bad]

    def to_dict(self) -> dict[str, Any]:
        return {"node_id": self.node_id, "status": self.status, "since": to_rfc3339(self.since),
                "reasons": self.reasons()}


def raw_level(obs: Observation, committed: str) -> str:
    """The level a value stands at, given the level already held (hysteresis keeps it there)."""
    if obs.level is not None:
        return obs.level
    if obs.value is None:
        return "unknown"
    sign = -1.0 if obs.direction == "below" else 1.0
    v = sign * obs.value
    held = LEVEL_RANK.get(committed, 0)
    if obs.critical is not None:
        bar = sign * obs.critical - (obs.band_critical if held >= LEVEL_RANK["critical"] else 0.0)
        if v >= bar:
            return "critical"
    if obs.warning is not None:
        bar = sign * obs.warning - (obs.band_warning if held >= LEVEL_RANK["warning"] else 0.0)
        if v >= bar:
            return "warning"
    return "healthy"


class SharedPending(Protocol):
    """Where a signal's level has held since, shared by the replicas (see :class:`CachePending`)."""

    def hold(self, node_id: str, signal: str, level: str, since: float, for_seconds: float) -> float:
        """Record that ``level`` holds (since ``since`` unless already recorded); return since when."""
        ...

    def drop(self, node_id: str, signal: str, level: str) -> None: ...


class CachePending:
    """:class:`SharedPending` in the cache: one key per (node, signal, level), kept while the level
    holds and for ``grace`` seconds past ``for`` after the last observation (a replica restarting
    within that continues the timer; a key nobody refreshes for longer is gone, so a condition that
    cleared while no replica watched starts its ``for`` afresh)."""

    PREFIX = "pulsesight:pending:"

    def __init__(self, cache: Cache, grace: float = 300.0) -> None:
        self.cache = cache
        self.grace = grace

    def _key(self, node_id: str, signal: str, level: str) -> str:
        return f"{self.PREFIX}{level}:{signal}:{node_id}"

    def hold(self, node_id: str, signal: str, level: str, since: float, for_seconds: float) -> float:
        got = self.cache.hold(self._key(node_id, signal, level), repr(since).encode(), for_seconds + self.grace)
        try:
            return float(got)
        except ValueError:
            return since

    def drop(self, node_id: str, signal: str, level: str) -> None:
        self.cache.delete(self._key(node_id, signal, level))


def _shared_since(pending: SharedPending, obs: Observation, level: str, since: float) -> float:
    try:
        return pending.hold(obs.node_id, obs.signal, level, since, obs.for_seconds)
    except AirDigError as exc:  # the cache away: this process's own timer (as without a cache)
        log.warning("shared pending state unavailable; timing 'for' in this process", node=obs.node_id,
                    signal=obs.signal, error=str(exc))
        return since


def _shared_drop(pending: SharedPending, obs: Observation, level: str) -> None:
    try:
        pending.drop(obs.node_id, obs.signal, level)
    except AirDigError as exc:
        log.warning("shared pending state unavailable", node=obs.node_id, signal=obs.signal, error=str(exc))


def step_signal(sig: SignalState, obs: Observation, now: float, pending: SharedPending | None = None) -> None:
    """Advance one signal's state machine with a new observation (``pending``: share ``for`` timers)."""
    raw = raw_level(obs, sig.level)
    sig.value = obs.value
    sig.message = obs.message
    sig.expires = obs.expires
    shared = pending if obs.for_seconds > 0 else None
    if raw == "unknown":
        if shared is not None:
            for lvl in ("warning", "critical"):
                if lvl in sig.above_since or not sig.synced:
                    _shared_drop(shared, obs, lvl)
        sig.above_since.clear()
        new = "unknown"
    else:
        for lvl in ("warning", "critical"):
            if LEVEL_RANK[raw] >= LEVEL_RANK[lvl]:
                since = sig.above_since.get(lvl, now)
                sig.above_since[lvl] = since if shared is None else _shared_since(shared, obs, lvl, since)
            else:
                if shared is not None and (lvl in sig.above_since or not sig.synced):
                    _shared_drop(shared, obs, lvl)
                sig.above_since.pop(lvl, None)
        new = "healthy"
        for lvl in ("critical", "warning"):
            started = sig.above_since.get(lvl)
            held_already = LEVEL_RANK[sig.level] >= LEVEL_RANK[lvl] and sig.level != "unknown"
            if started is not None and (held_already or now - started >= obs.for_seconds):
                new = lvl
                break
    if new == "critical":
        sig.threshold = obs.critical
    elif new == "warning":
        sig.threshold = obs.warning
    else:
        sig.threshold = obs.warning if obs.warning is not None else obs.critical
    sig.synced = True
    if new != sig.level:
        sig.level = new
        # an alert knows when it started firing (startsAt): the symptom began then, not when it reached us
        sig.since = min(now, obs.started) if obs.started is not None and new in ("warning", "critical") else now


class HealthState:
    """All nodes' health; thread-safe (the evaluator loop and the webhook handlers both feed it)."""

    def __init__(self, publish: Callable[[CloudEvent], None] | None = None,
                 claim: Callable[[str, str], str | None] | None = None,
                 pending: SharedPending | None = None) -> None:
        """``claim(node_id, status)``: record ``status`` as the node's last published status in state
        shared by every replica (the cache) and return the one it replaces. A transition whose status
        is already the published one is not published again: two replicas evaluating the same signals
        publish each change once, and a restarted replica, which starts every node at "unknown", does
        not re-announce what it published before. ``previous`` in the event is the shared one.
        ``pending``: where ``for`` timers are kept for every replica (see :class:`CachePending`)."""
        self._lock = threading.Lock()
        self._nodes: dict[str, NodeHealth] = {}
        self._publish = publish
        self._claim = claim
        self._pending = pending
        self.transitions = 0
        self.suppressed = 0

    # ------------------------------------------------------------ updates

    def observe(self, observations: Iterable[Observation], now: float) -> list[CloudEvent]:
        """Apply observations; returns (and publishes) the transition events they caused."""
        touched: dict[str, str] = {}
        with self._lock:
            for obs in observations:
                node = self._node(obs.node_id, now, touched)
                sig = node.signals.get(obs.signal)
                if sig is None:
                    sig = node.signals[obs.signal] = SignalState(rule=obs.rule, since=now)
                step_signal(sig, obs, now, self._pending)
            events = self._fold(touched, now)
        return self._emit(events)

    def clear(self, node_id: str, signal: str, now: float) -> list[CloudEvent]:
        """Forget one signal (a resolved alert, a series gone from a rule that treats no data as fine)."""
        touched: dict[str, str] = {}
        with self._lock:
            node = self._nodes.get(node_id)
            if node is not None and signal in node.signals:
                touched[node_id] = node.status
                del node.signals[signal]
            events = self._fold(touched, now)
        return self._emit(events)

    def signals_of_rule(self, rule: str) -> list[tuple[str, str]]:
        """(node id, signal key) of every signal a rule currently holds."""
        with self._lock:
            return [(n.node_id, key) for n in self._nodes.values() for key, s in n.signals.items()
                    if s.rule == rule]

    def expire(self, now: float) -> list[CloudEvent]:
        """Drop signals whose ``expires`` time has passed (alerts past endsAt, old security events)."""
        touched: dict[str, str] = {}
        with self._lock:
            for node in self._nodes.values():
                gone = [k for k, s in node.signals.items() if s.expires is not None and s.expires <= now]
                if gone:
                    touched[node.node_id] = node.status
                    for k in gone:
                        del node.signals[k]
            events = self._fold(touched, now)
        return self._emit(events)

    # ------------------------------------------------------------ reads

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [n.to_dict() for n in sorted(self._nodes.values(), key=lambda n: n.node_id)]

    def get(self, node_id: str) -> dict[str, Any] | None:
        with self._lock:
            node = self._nodes.get(node_id)
            return None if node is None else node.to_dict()

    def counts(self) -> dict[str, int]:
        with self._lock:
            out = dict.fromkeys(LEVEL_RANK, 0)
            for n in self._nodes.values():
                out[n.status] += 1
            return out

    # ------------------------------------------------------------ internals

    def _node(self, node_id: str, now: float, touched: dict[str, str]) -> NodeHealth:
        node = self._nodes.get(node_id)
        if node is None:
            # a node first seen starts from "unknown": its first verdict is a transition worth publishing
            node = self._nodes[node_id] = NodeHealth(node_id=node_id, status="unknown", since=now)
        touched.setdefault(node_id, node.status)
        return node

    def _fold(self, touched: dict[str, str], now: float) -> list[CloudEvent]:
        events: list[CloudEvent] = []
        for node_id, previous in touched.items():
            node = self._nodes[node_id]
            status = max((s.level for s in node.signals.values()), key=LEVEL_RANK.__getitem__,
                         default="healthy")
            if status == node.status:
                continue
            node.status = status
            node.since = min([now, *(s.since for s in node.signals.values() if s.level == status)]) \
                if status in ("warning", "critical") else now
            self.transitions += 1
            events.append(CloudEvent(
                type="airdig.health.changed", source=SOURCE, subject=node_id, time=now,
                data={"node_id": node_id, "status": status, "previous": previous,
                      "reasons": node.reasons(), "since": to_rfc3339(node.since)}))
        return events

    def _emit(self, events: list[CloudEvent]) -> list[CloudEvent]:
        if self._claim is not None:
            events = [ev for ev in events if self._claimed(ev)]
        if self._publish is not None:
            for ev in events:
                self._publish(ev)
        return events

    def _claimed(self, ev: CloudEvent) -> bool:
        assert self._claim is not None
        try:
            previous = self._claim(ev.subject, str(ev.data["status"]))
        except Exception as exc:  # shared state away: publish (a duplicate is harmless, a loss is not)
            log.warning("published-status claim failed; publishing anyway", node=ev.subject, error=str(exc))
            return True
        if previous == ev.data["status"]:
            self.suppressed += 1
            return False
        if previous is not None:
            ev.data["previous"] = previous
        return True
