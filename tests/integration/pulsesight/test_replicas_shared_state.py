"""Two PulseSight replicas feeding the same signals (issue 13): each health transition is published once,
through the last-published status they share in the cache, and a restarted replica does not announce
again what was published before it restarted. On the in-process cache and on a real Redis (one client
per replica, as two processes would have)."""

from __future__ import annotations

from pathlib import Path

from airdig.backends.interfaces import Cache
from airdig.backends.registry import open_bus, open_cache
from airdig.model.events import TOPIC_HEALTH, CloudEvent, to_rfc3339
from airdig.pulsesight.mapping import StaticResolver
from airdig.pulsesight.service import PulseSight
from airdig.pulsesight.state import Observation

NODE = "arn:aws:rds:us-east-1:1:db:orders"


def replica(cache: Cache, bus_path: Path) -> PulseSight:
    return PulseSight([], {}, StaticResolver({}), open_bus(f"embedded://{bus_path}"), cache=cache)


def cpu(value: float) -> Observation:
    return Observation(NODE, "cpu", "cpu", value=value, warning=80, critical=95)


def published(bus_path: Path) -> list[CloudEvent]:
    bus = open_bus(f"embedded://{bus_path}")
    c = bus.consumer("reader", [TOPIC_HEALTH])
    events = [CloudEvent.decode(r.value) for r in c.poll(1000, timeout=1.0)]
    c.close()
    bus.close()
    return events


def test_two_replicas_publish_each_transition_once_and_a_restart_republishes_nothing(
        cache_url: str, data_dir: Path) -> None:
    bus_path = data_dir / "bus.db"
    cache_a = open_cache(cache_url)
    # a second client on the same Redis; the in-process cache can only be shared as the one object
    cache_b = open_cache(cache_url) if cache_url.startswith("redis") else cache_a
    a, b = replica(cache_a, bus_path), replica(cache_b, bus_path)
    for t, value in ((10.0, 50.0), (20.0, 97.0), (30.0, 50.0)):  # healthy -> critical -> healthy
        a.state.observe([cpu(value)], t)
        b.state.observe([cpu(value)], t + 1)
    events = published(bus_path)
    assert [(e.data["previous"], e.data["status"]) for e in events] == [
        ("unknown", "healthy"), ("healthy", "critical"), ("critical", "healthy")]
    assert b.state.suppressed == 3
    # a restarts: it starts every node at "unknown", but healthy was published already
    a2 = replica(cache_a, bus_path)
    a2.state.observe([cpu(50.0)], 40.0)
    assert len(published(bus_path)) == 3 and a2.state.suppressed == 1
    # the next real change is published, with the previous status the replicas share
    a2.state.observe([cpu(90.0)], 50.0)
    last = published(bus_path)[-1]
    assert (last.data["previous"], last.data["status"]) == ("healthy", "warning")
    for ps in (a, b, a2):
        if ps.outbox.bus is not None:
            ps.outbox.bus.close()
    cache_a.close()
    if cache_b is not cache_a:
        cache_b.close()


def cpu_for(value: float) -> Observation:
    """CPU with ``for: 5m`` on both levels: a level escalates once it has held 300 s."""
    return Observation(NODE, "cpu", "cpu", value=value, warning=80, critical=95, for_seconds=300.0)


def statuses(bus_path: Path) -> list[tuple[str, str, float]]:
    return [(e.data["previous"], e.data["status"], e.time or 0.0) for e in published(bus_path)]


def test_a_restart_continues_the_for_timer_where_it_was(cache_url: str, data_dir: Path) -> None:
    """Pending for 3 of its 5 minutes when the replica restarts: it fires 2 minutes later, not 5."""
    bus_path = data_dir / "bus.db"
    cache = open_cache(cache_url)
    a = replica(cache, bus_path)
    for t in (0.0, 60.0, 120.0, 180.0):
        a.state.observe([cpu_for(97.0)], t)
    assert a.state.get(NODE)["status"] == "healthy"  # type: ignore[index]
    assert a.outbox.bus is not None
    a.outbox.bus.close()
    restarted = replica(open_cache(cache_url) if cache_url.startswith("redis") else cache, bus_path)
    for t in (240.0, 290.0):
        restarted.state.observe([cpu_for(97.0)], t)
        assert restarted.state.get(NODE)["status"] == "healthy"  # type: ignore[index]
    restarted.state.observe([cpu_for(97.0)], 300.0)
    assert restarted.state.get(NODE)["status"] == "critical"  # type: ignore[index]
    assert statuses(bus_path)[-1][:2] == ("healthy", "critical")
    # the condition clears: the timer is gone for every replica, a new one starts from zero
    restarted.state.observe([cpu_for(50.0)], 360.0)
    again = replica(open_cache(cache_url) if cache_url.startswith("redis") else cache, bus_path)
    for t in (420.0, 600.0):
        again.state.observe([cpu_for(97.0)], t)
    assert again.state.get(NODE)["status"] == "healthy"  # type: ignore[index]
    again.state.observe([cpu_for(97.0)], 720.0)
    assert again.state.get(NODE)["status"] == "critical"  # type: ignore[index]
    for ps in (restarted, again):
        if ps.outbox.bus is not None:
            ps.outbox.bus.close()
    cache.close()


def test_two_replicas_share_one_for_timer_and_fire_once(cache_url: str, data_dir: Path) -> None:
    """Replica B starts watching 2 minutes after A: both escalate at A's 5 minutes, published once."""
    bus_path = data_dir / "bus.db"
    cache_a = open_cache(cache_url)
    cache_b = open_cache(cache_url) if cache_url.startswith("redis") else cache_a
    a, b = replica(cache_a, bus_path), replica(cache_b, bus_path)
    a.state.observe([cpu_for(50.0)], 0.0)
    b.state.observe([cpu_for(50.0)], 1.0)
    for t in (10.0, 70.0, 130.0, 190.0, 250.0, 310.0):
        a.state.observe([cpu_for(97.0)], t)
        if t >= 130.0:
            b.state.observe([cpu_for(97.0)], t + 1)
    assert a.state.get(NODE)["status"] == b.state.get(NODE)["status"] == "critical"  # type: ignore[index]
    assert [s[:2] for s in statuses(bus_path)] == [("unknown", "healthy"), ("healthy", "critical")]
    assert statuses(bus_path)[-1][2] == 310.0  # A's five minutes (B alone would have waited till 431)
    for ps in (a, b):
        if ps.outbox.bus is not None:
            ps.outbox.bus.close()
    cache_a.close()
    if cache_b is not cache_a:
        cache_b.close()


def status(ps: PulseSight, node_id: str) -> str | None:
    got = ps.state.get(node_id)
    return None if got is None else str(got["status"])


def test_a_falco_hold_survives_a_restart_and_reaches_the_other_replica(cache_url: str, data_dir: Path) -> None:
    """A Falco Critical keeps its node critical for ``falco_hold`` seconds; Falco sends an event once, so
    the hold lives in the cache: a replica restarted within the hold, and the replica that did not get the
    webhook, hold the node critical too instead of publishing it healthy again."""
    import time

    bus_path = data_dir / "bus.db"
    pod = "k8s://prod/web/pod/nginx-6d8f7b-abcde"
    resolver = StaticResolver({"9f2c1e0b7a44d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e": pod})
    cache_a = open_cache(cache_url)
    cache_b = open_cache(cache_url) if cache_url.startswith("redis") else cache_a

    def falco_replica(cache: Cache) -> PulseSight:
        return PulseSight([], {}, resolver, open_bus(f"embedded://{bus_path}"), cache=cache, falco_hold=300.0)

    now = time.time()
    event = {"hostname": "worker-2", "output": "Critical Shell spawned in a container", "priority": "Critical",
             "rule": "Terminal shell in container", "source": "syscall",
             "output_fields": {"container.id": "9f2c1e0b7a44"},
             "time": to_rfc3339(now - 10)}
    a = falco_replica(cache_a)
    assert a.receive_falco(event)["mapped"] == 1
    assert status(a, pod) == "critical"
    b = falco_replica(cache_b)  # the other replica, and a restarted one, learn the hold on their next tick
    a2 = falco_replica(cache_a)
    for ps in (b, a2):
        ps.tick()
        assert status(ps, pod) == "critical"
    # and the hold still ends when it should
    for ps in (b, a2):
        ps.clock = lambda: now + 301
        ps.tick()
        assert status(ps, pod) != "critical"
    for ps in (a, b, a2):
        if ps.outbox.bus is not None:
            ps.outbox.bus.close()
    cache_a.close()
    if cache_b is not cache_a:
        cache_b.close()
