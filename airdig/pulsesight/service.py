"""The PulseSight core, without HTTP: health state, mapping, outbox, security events, metrics.

Webhook handlers and the evaluator loop both feed one :class:`PulseSight`; tests drive it directly.

    ps = PulseSight(rules, sources, StaticResolver({...}), bus)
    ps.receive_falco(body); ps.receive_alerts(body); ps.evaluator.evaluate_once()
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge

from airdig.backends.interfaces import Bus, Cache
from airdig.errors import AirDigError
from airdig.logs import get_logger
from airdig.pulsesight.alertmanager import parse_alertmanager
from airdig.pulsesight.evaluator import Evaluator, RuleResult
from airdig.pulsesight.falco import HEALTH_LEVEL, parse_falco
from airdig.pulsesight.mapping import Mapper, NodeResolver
from airdig.pulsesight.publish import Outbox
from airdig.pulsesight.rules import Rule
from airdig.pulsesight.sources.base import MetricSource
from airdig.pulsesight.state import CachePending, HealthState, Observation
from airdig.supervisor import Supervisor

log = get_logger("pulsesight")


class Metrics:
    """PulseSight's own metrics, on a registry of its own (no global state shared between instances)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.evaluations = Counter("pulsesight_rule_evaluations_total", "Rule evaluations by outcome.",
                                   ["rule", "outcome"], registry=r)
        self.webhooks = Counter("pulsesight_webhook_requests_total", "Webhook requests by endpoint and outcome.",
                                ["endpoint", "outcome"], registry=r)
        self.http_requests = Counter("airdig_http_requests_total", "HTTP requests served, by route template "
                                     "and status.", ["route", "status"], registry=r)
        self.security_events = Counter("pulsesight_security_events_total", "Falco events received.",
                                       ["priority"], registry=r)
        self.nodes = Gauge("pulsesight_nodes", "Nodes by health status.", ["status"], registry=r)
        self.unmapped = Gauge("pulsesight_unmapped_signals", "Signals no node matched (kept, listed).",
                              registry=r)
        self.outbox = Gauge("pulsesight_outbox_pending", "Events waiting to be published.", registry=r)
        self.transitions = Gauge("pulsesight_health_transitions", "Health transitions since start.",
                                 registry=r)
        self.thread_restarts = Counter("airdig_thread_restarts_total",
                                       "Background threads restarted by the supervisor after dying, by thread.",
                                       ["thread"], registry=r)


# the last published health status of each node, shared by the replicas through the cache (AIRDIG_CACHE_URL)
PUBLISHED_KEY = "pulsesight:published:"
PUBLISHED_TTL = 30 * 86400.0
# the Falco holds in force, shared by the replicas: Falco sends an event once, to one replica
FALCO_HOLDS_KEY = "pulsesight:falco-holds"


class FalcoHolds:
    """The Falco holds in force, one cache key holding all of them (a JSON list of observations, each
    with its ``expires``). Falco posts an event once, to one replica; a restarted replica, or one that did
    not get the webhook, reads the holds on its next tick and holds the node as the first one does.
    Two replicas adding a hold at the same instant can lose one of the two writes (read-merge-write
    without a compare-and-set): the hold then stays with the replica that received it."""

    def __init__(self, cache: Cache) -> None:
        self.cache = cache

    def _load(self, now: float) -> list[dict[str, Any]]:
        raw = self.cache.get(FALCO_HOLDS_KEY)
        try:
            items = orjson.loads(raw) if raw else []
        except orjson.JSONDecodeError:
            return []
        return [h for h in items if isinstance(h, dict) and float(h.get("expires") or 0) > now]

    def add(self, obs: Observation, now: float) -> None:
        holds = [h for h in self._load(now) if (h["node_id"], h["signal"]) != (obs.node_id, obs.signal)]
        holds.append({"node_id": obs.node_id, "signal": obs.signal, "rule": obs.rule, "level": obs.level,
                      "expires": obs.expires, "message": obs.message})
        ttl = max(float(h["expires"]) for h in holds) - now
        self.cache.set(FALCO_HOLDS_KEY, orjson.dumps(holds), max(ttl, 1.0))

    def current(self, now: float) -> list[Observation]:
        return [Observation(str(h["node_id"]), str(h["signal"]), str(h["rule"]), level=str(h["level"]),
                            expires=float(h["expires"]), message=str(h.get("message") or ""))
                for h in self._load(now)]



class PulseSight:
    """Everything one PulseSight process holds."""

    def __init__(self, rules: Sequence[Rule], sources: Mapping[str, MetricSource], resolver: NodeResolver,
                 bus: Bus | None, falco_hold: float = 300.0, clock: Callable[[], float] = time.time,
                 keep_security_events: int = 50, cache: Cache | None = None) -> None:
        self.metrics = Metrics()
        # the evaluator loop and the trace-statistics consumer run under it (see airdig.supervisor)
        self.supervisor = Supervisor("pulsesight", self.metrics.thread_restarts)
        self.outbox = Outbox(bus)
        claim = None
        if cache is not None:  # shared with the other replicas: each transition is published once
            shared = cache

            def claim(node_id: str, status: str) -> str | None:
                old = shared.swap(PUBLISHED_KEY + node_id, status.encode(), PUBLISHED_TTL)
                return old.decode() if old is not None else None
        self.state = HealthState(publish=self.outbox.publish, claim=claim,
                                 pending=CachePending(cache) if cache is not None else None)
        self.falco_holds = FalcoHolds(cache) if cache is not None else None
        self.mapper = Mapper(resolver)
        self.clock = clock
        self.falco_hold = falco_hold
        self.evaluator = Evaluator(rules, sources, self.mapper, self.state, clock=clock,
                                   on_result=self._counted)
        self._security: dict[str, deque[dict[str, Any]]] = defaultdict(lambda: deque(maxlen=keep_security_events))
        self._lock = threading.Lock()

    def _counted(self, res: RuleResult) -> None:
        self.metrics.evaluations.labels(res.rule, res.outcome).inc()

    # ------------------------------------------------------------ receivers

    def receive_falco(self, body: Any) -> dict[str, Any]:
        """One Falco event (or a list of them): publish, attach to the node, score fresh ones."""
        items = body if isinstance(body, list) else [body]
        events = [parse_falco(item) for item in items]  # validate all before acting on any
        now = self.clock()
        mapped = 0
        for ev in events:
            self.metrics.security_events.labels(ev.priority).inc()
            node = self.mapper.map("falco", ev.rule, ev.labels(), value=ev.priority)
            subject = node or f"unmapped:{ev.hostname or 'unknown'}"
            self.outbox.publish(ev.to_event(subject))
            with self._lock:
                self._security[subject].appendleft(ev.to_event(subject).data | {"node_id": node})
            level = HEALTH_LEVEL.get(ev.priority)
            if node is not None:
                mapped += 1
                if level is not None and self.falco_hold > 0 and now - ev.time < self.falco_hold:
                    held = Observation(node, f"falco:{ev.rule}", f"falco:{ev.rule}", level=level,
                                       expires=ev.time + self.falco_hold,
                                       message=f"Falco {ev.priority}: {ev.output[:300]}")
                    self.state.observe([held], now)
                    self._share_hold(held, now)
            log.info("falco event", rule=ev.rule, priority=ev.priority, node=subject)
        return {"accepted": len(events), "mapped": mapped, "unmapped": len(events) - mapped}

    def receive_alerts(self, body: Any) -> dict[str, Any]:
        alerts = parse_alertmanager(body)
        now = self.clock()
        mapped = firing = resolved = 0
        for a in alerts:
            node = self.mapper.map("alertmanager", a.name, a.labels, value=a.status)
            if node is None:
                continue
            mapped += 1
            if a.status == "resolved" or (a.ends_at is not None and a.ends_at <= now):
                resolved += 1
                self.state.clear(node, a.signal, now)
            else:
                firing += 1
                self.state.observe([Observation(node, a.signal, f"alertmanager:{a.name}", level=a.level,
                                                expires=a.ends_at, message=a.message, started=a.starts_at)],
                                   now)
        log.info("alertmanager webhook", alerts=len(alerts), mapped=mapped, firing=firing, resolved=resolved)
        return {"accepted": len(alerts), "mapped": mapped, "unmapped": len(alerts) - mapped,
                "firing": firing, "resolved": resolved}

    # ------------------------------------------------------------ reads

    def security_events(self, node_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            if node_id is not None:
                return list(self._security.get(node_id, ()))
            return sorted((e for q in self._security.values() for e in q), key=lambda e: str(e["time"]),
                          reverse=True)

    def refresh_metrics(self) -> None:
        for status, n in self.state.counts().items():
            self.metrics.nodes.labels(status).set(n)
        self.metrics.unmapped.set(len(self.mapper.unmapped()))
        self.metrics.outbox.set(self.outbox.pending)
        self.metrics.transitions.set(self.state.transitions)

    def _share_hold(self, held: Observation, now: float) -> None:
        if self.falco_holds is None:
            return
        try:
            self.falco_holds.add(held, now)
        except AirDigError as exc:  # the cache away: the hold stays with this replica
            log.warning("falco hold not shared (cache unavailable)", node=held.node_id, error=str(exc))

    def tick(self) -> None:
        """Between evaluations: retry unpublished events, take up the Falco holds other replicas (or
        this one before a restart) received, expire stale signals."""
        self.outbox.retry()
        now = self.clock()
        if self.falco_holds is not None:
            try:
                holds = self.falco_holds.current(now)
            except AirDigError as exc:
                log.warning("falco holds not read (cache unavailable)", error=str(exc))
                holds = []
            if holds:
                self.state.observe(holds, now)
        self.state.expire(now)
