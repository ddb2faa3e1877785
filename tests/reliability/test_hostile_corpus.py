"""A hostile-event corpus through Kafka into MariaDB (strict mode): every bad event is dead-lettered with
a reason naming what is wrong, every good one (hostile-looking but valid: huge attrs, NUL characters,
4-byte characters, over-long display text) applies, the partition keeps flowing, the processor lives.

Uses the shared servers (nothing is restarted here), in a database and topic prefix of its own.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from airdig.backends.registry import open_bus, open_store
from airdig.engine.processor import EventProcessor
from airdig.model.events import (
    TOPIC_DEADLETTER,
    TOPIC_DRIFT,
    TOPIC_RESOURCES,
    TOPIC_TRACES,
    CloudEvent,
    resource_event,
)
from airdig.model.graph import Node

from .conftest import Report, Row

ARN = "arn:aws:ec2:us-east-1:123456789012:instance/i-"


def _res(i: int, **node: Any) -> dict[str, Any]:
    n = {"id": f"{ARN}{i:06d}", "kind": "aws.ec2.instance", "name": f"web-{i}", **node}
    ev = CloudEvent(type="airdig.resource.created", source="hostile", subject=str(n["id"]) if isinstance(n["id"], str)
                    else "x", data={"node": n}, time=100.0 + i)
    return ev.to_dict()


def _edge(**data: Any) -> dict[str, Any]:
    d = {"src": "service://_/a", "dst": "service://_/b", "type": "calls", "window_start": 60.0,
         "window_seconds": 60, "stats": {"request_count": 3, "error_count": 0}}
    d.update(data)
    return CloudEvent(type="airdig.trace.edge", source="hostile", subject="service://_/a", data=d, time=70.0).to_dict()


def _drift(**data: Any) -> dict[str, Any]:
    d = {"id": "dr-1", "resource_id": f"{ARN}000001", "kind": "changed", "severity": "low", "diffs": []}
    d.update(data)
    return CloudEvent(type="airdig.drift.detected", source="hostile", subject=f"{ARN}000001", data=d,
                      time=80.0).to_dict()


def corpus() -> tuple[list[tuple[str, str, bytes]], list[tuple[str, str, bytes]]]:
    """(bad, good): (name, topic, raw value)."""
    deep: Any = "x"
    for _ in range(2000):
        deep = [deep]
    long_event = _res(9001)
    long_event["id"] = "e" * 600
    wrong_time = _res(9002)
    wrong_time["time"] = "yesterday"
    change = CloudEvent(type="airdig.change.recorded", source="hostile", subject=f"{ARN}000002", time=90.0,
                        data={"kind": "cloudtrail", "summary": "s" * 5000, "actor": "a" * 1000}).to_dict()
    bad: list[tuple[str, str, bytes]] = [
        ("id of 600 characters", TOPIC_RESOURCES, orjson.dumps(_res(1, id=f"{ARN}{'x' * 600}"))),
        ("kind of 100 characters", TOPIC_RESOURCES, orjson.dumps(_res(9003, kind="k" * 100))),
        ("name of 600 characters", TOPIC_RESOURCES, orjson.dumps(_res(9004, name="n" * 600))),
        ("event id of 600 characters", TOPIC_RESOURCES, orjson.dumps(long_event)),
        ("bad UTF-8", TOPIC_RESOURCES, orjson.dumps(_res(9005)).replace(b"web-9005", b"web-\xff\xfe")),
        ("lone surrogate escape", TOPIC_RESOURCES, orjson.dumps(_res(9006)).replace(b"web-9006", b"\\ud800")),
        ("nesting 2000 deep", TOPIC_RESOURCES, orjson.dumps(_res(9007)).replace(
            b'"name":"web-9007"', b'"name":"w","attrs":{"d":' + b"[" * 2000 + b"]" * 2000 + b"}")),
        ("name of the wrong type", TOPIC_RESOURCES, orjson.dumps(_res(9008, name=42))),
        ("attrs of the wrong type", TOPIC_RESOURCES, orjson.dumps(_res(9009, attrs=[1, 2]))),
        ("time of the wrong type", TOPIC_RESOURCES, orjson.dumps(wrong_time)),
        ("not JSON", TOPIC_RESOURCES, b"\x00\x01garbage"),
        ("edge dst of 600 characters", TOPIC_TRACES, orjson.dumps(_edge(dst="service://_/" + "d" * 600))),
        ("p95 as a string", TOPIC_TRACES, orjson.dumps(_edge(stats={"request_count": 1, "p95": "fast"}))),
        ("request count 1e30", TOPIC_TRACES, orjson.dumps(_edge(stats={"request_count": 1e30}))),
        ("terraform address of 600 characters", TOPIC_DRIFT, orjson.dumps(_drift(terraform_address="t" * 600))),
        ("terraform address of the wrong type", TOPIC_DRIFT, orjson.dumps(_drift(terraform_address={"a": 1}))),
    ]
    good: list[tuple[str, str, bytes]] = [
        ("attrs of 600 kB", TOPIC_RESOURCES, orjson.dumps(_res(2, attrs={"blob": "b" * 600_000}))),
        ("NUL characters in the name", TOPIC_RESOURCES, orjson.dumps(_res(3, name="a\u0000b"))),
        ("4-byte characters in the id", TOPIC_RESOURCES, orjson.dumps(_res(4, id=f"{ARN}🦀🦀", name="crab"))),
        ("summary of 5000 and actor of 1000 characters (truncated)", TOPIC_DRIFT, orjson.dumps(change)),
    ]
    good += [(f"plain {i}", TOPIC_RESOURCES,
              resource_event("created", Node(id=f"{ARN}{i:06d}", kind="aws.ec2.instance", name=f"w{i}"),
                             "hostile", time=200.0 + i).encode()) for i in range(10, 210)]
    return bad, good


def test_hostile_corpus_through_kafka_into_mariadb(mysql_url: str, kafka_url: str, report: Report) -> None:
    bad, good = corpus()
    bus = open_bus(kafka_url)
    store = open_store(mysql_url)
    store.migrate()
    # interleave, all on ONE key so they share one partition: nothing bad may stall what follows it
    mixed = []
    for i, item in enumerate(good):
        mixed.append(item)
        if i % 12 == 0 and bad:
            mixed.append(bad.pop(0))
    bad_n = len(corpus()[0])
    mixed += bad
    for _, topic, raw in mixed:
        bus.publish(topic, "one-key", raw)
    bus.flush(30)
    p = EventProcessor(store, bus, None, "engine", batch_size=100)
    t0 = time.monotonic()
    p.start()
    try:
        deadline = time.monotonic() + 90
        while p.stats.applied + p.stats.deadlettered < len(mixed) and time.monotonic() < deadline:
            time.sleep(0.2)
        took = time.monotonic() - t0
        alive = p.alive
    finally:
        p.stop()
    counts = store.table_counts()
    nodes = counts["nodes"]
    dlq = bus.consumer("dlq-reader", [TOPIC_DEADLETTER])
    reasons: list[str] = []
    deadline = time.monotonic() + 30
    while len(reasons) < bad_n and time.monotonic() < deadline:
        reasons += [str(orjson.loads(r.value)["reason"]) for r in dlq.poll(100, timeout=0.5)]
    dlq.close()
    crab = store.get_node(f"{ARN}🦀🦀")
    change_rows = [c for c in store.changes(f"{ARN}000002", None, None) if c.kind == "cloudtrail"]
    bus.close()
    store.close()
    good_nodes = len(good) - 1  # the change event makes no node
    report.add(Row("hostile corpus (MariaDB strict, Kafka)", len(mixed), p.stats.applied, p.stats.deadlettered,
                   max(0, good_nodes - nodes), max(0, nodes - good_nodes), took, 0 if alive else 1,
                   f"{bad_n} hostile kinds among {len(good)} good events on one partition"))
    assert alive
    assert p.stats.deadlettered == bad_n and len(reasons) == bad_n, reasons
    assert p.stats.applied == len(good)
    assert nodes == good_nodes
    assert crab is not None and crab.name == "crab"
    assert len(change_rows) == 1 and len(change_rows[0].summary) == 2048 and len(change_rows[0].actor or "") == 512
    joined = "\n".join(reasons)
    for needle in ("nodes.id is 6", "nodes.kind is 100 characters", "nodes.name is 600 characters",
                   "applied_events.event_id is 600 characters", "not JSON", "edges.dst is 6",
                   "service_edges.p95 must be a number", "does not fit a 64-bit integer",
                   "drift_events.terraform_address is 600 characters",
                   "drift_events.terraform_address must be a string"):
        assert needle in joined, (needle, joined)
