"""``skygraph follow``'s probe listener: ``/healthz``, ``/readyz`` and ``/metrics`` like every other role.

The follower itself is a loop (SQS receive → re-describe → publish → delete); this serves what an
orchestrator and Prometheus need to watch it, from a daemon thread, without touching the loop:

* ``/healthz`` fails when the loop has not come round for ``stall_after`` seconds (a hung describe
  or receive: restart the pod) — a reconcile scan runs inside the loop, so the bound is generous;
* ``/readyz`` fails while the queue cannot be received from (the last receive failed, or none has
  succeeded yet) and, when events are published, while the bus does not answer its ping;
* ``/metrics``: the follower's counters (:class:`~airdig.skygraph.follow.FollowStats`) read at scrape
  time, the time of the last successful receive and of the loop's last round.

    server = start_follow_probes(follower, bus, "0.0.0.0", 8082)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.applications import Starlette

from airdig.edge.probes import Probes, ping_check
from airdig.edge.tls import ServerTls
from airdig.errors import BackendUnavailable
from airdig.skygraph.follow import Follower

STALL_AFTER = 1800.0  # seconds without a loop round before /healthz fails (a reconcile scan may be long)

# FollowStats field -> (metric name without _total, help)
_COUNTERS = {
    "messages": ("skygraph_follow_messages", "SQS messages received"),
    "writes": ("skygraph_follow_writes", "CloudTrail write records followed"),
    "ignored_records": ("skygraph_follow_ignored_records", "records ignored (reads, failed calls, services not scanned)"),
    "bad_messages": ("skygraph_follow_bad_messages", "messages that were not CloudTrail (reported and dropped)"),
    "scopes_read": ("skygraph_follow_scopes_read", "scopes re-read"),
    "scopes_failed": ("skygraph_follow_scopes_failed", "scope re-reads that failed (messages left for redelivery)"),
    "redescribed_writes": ("skygraph_follow_redescribed_writes", "writes re-described alone (mapped)"),
    "redescribed_nodes": ("skygraph_follow_redescribed_nodes", "nodes re-described for mapped writes"),
    "unmapped_writes": ("skygraph_follow_unmapped_writes", "writes that re-read their whole scope"),
    "published": ("skygraph_follow_events_published", "change events published"),
    "receive_failures": ("skygraph_follow_receive_failures", "receives from the queue that failed"),
}


class _StatsCollector(Collector):
    """The follower's counters as Prometheus metrics, read when scraped (the loop keeps no registry)."""

    def __init__(self, follower: Follower) -> None:
        self.follower = follower

    def collect(self) -> Iterator[Any]:
        st = self.follower.stats
        for field_name, (name, doc) in _COUNTERS.items():
            c = CounterMetricFamily(name, doc)
            c.add_metric([], float(getattr(st, field_name)))
            yield c
        for name, doc, value in (
            ("skygraph_follow_last_receive_timestamp_seconds", "when a receive from the queue last succeeded",
             st.last_receive_at),
            ("skygraph_follow_last_round_timestamp_seconds", "when the follow loop last finished a round",
             st.last_round_at)):
            if value is not None:
                g = GaugeMetricFamily(name, doc)
                g.add_metric([], value)
                yield g


def follow_probes(follower: Follower, bus: Any = None, stall_after: float = STALL_AFTER) -> Probes:
    """The probe set of one follower (and the bus it publishes to, when it does)."""
    registry = CollectorRegistry()
    registry.register(_StatsCollector(follower))
    started = time.time()

    def loop_alive() -> str | None:
        last = follower.stats.last_round_at or started
        age = time.time() - last
        return None if age <= stall_after else f"the follow loop has not come round for {age:.0f}s"

    def queue_ready() -> str | None:
        st = follower.stats
        if st.receive_failures_in_a_row:
            return f"the last {st.receive_failures_in_a_row} receives from the queue failed"
        if st.last_receive_at is None:
            return "no receive from the queue yet"
        return None

    probes = Probes(registry, liveness={"loop": loop_alive})
    probes.readiness["queue"] = queue_ready
    if bus is not None and hasattr(bus, "ping"):
        probes.readiness["bus"] = ping_check(bus.ping)
    return probes


@dataclass
class ProbeServer:
    server: uvicorn.Server
    thread: threading.Thread
    port: int

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start_follow_probes(follower: Follower, bus: Any, host: str, port: int,
                        stall_after: float = STALL_AFTER, tls: ServerTls | None = None) -> ProbeServer:
    """Serve the probes on ``host:port`` (0: any free port) from a daemon thread; returns once listening.
    ``tls``: serve them over TLS only, like every other listener (airdig.edge.tls)."""
    app = Starlette(routes=follow_probes(follower, bus, stall_after).routes())
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                                           lifespan="off", **(tls.uvicorn_options() if tls else {})))
    thread = threading.Thread(target=server.run, name="skygraph-follow-http", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise BackendUnavailable("skygraph follow", f"could not listen on {host}:{port}")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1] if port == 0 else port
    return ProbeServer(server, thread, bound)
