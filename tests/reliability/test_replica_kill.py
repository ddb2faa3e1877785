"""An engine replica (a real ``airdig engine`` process) killed with SIGKILL in the middle of applying a
stream; a second replica takes over its partitions. Nothing may be lost, no effect applied twice, and no
stale version may win after the re-delivery (every node ends at its last version).

Shared MariaDB and Kafka (a database and topic prefix of its own); only the engine process is killed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pymysql
import pytest

from airdig.backends.registry import open_bus
from airdig.model.events import TOPIC_RESOURCES, resource_event
from airdig.model.graph import Node

from .conftest import Report, Row

NODES, VERSIONS = 1000, 8


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_engine(mysql_url: str, kafka_url: str, data_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "AIRDIG_DATABASE_URL": mysql_url, "AIRDIG_BUS_URL": kafka_url,
           "AIRDIG_CACHE_URL": "memory://", "AIRDIG_DATA_DIR": str(data_dir), "AIRDIG_LOG_LEVEL": "warning"}
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "airdig.cli", "engine", "--host", "127.0.0.1", "--port",
                                 str(_port())], env=env, stdout=out, stderr=subprocess.STDOUT)


def count(mysql_url: str, query: str) -> int:
    p = urlsplit(mysql_url)
    conn = pymysql.connect(host=p.hostname, port=p.port or 3306, user=p.username, password=p.password or "",
                           database=p.path.lstrip("/"))
    try:
        with conn.cursor() as cur:
            try:
                cur.execute(query)
            except pymysql.err.ProgrammingError:  # tables not migrated yet
                return 0
            row = cur.fetchone()
            return int(row[0]) if row else 0
    finally:
        conn.close()


def test_sigkill_an_engine_replica_mid_apply(mysql_url: str, kafka_url: str, tmp_path: Path,
                                             report: Report) -> None:
    bus = open_bus(kafka_url)
    sent = 0
    for v in range(VERSIONS):
        for i in range(NODES):
            node = Node(id=f"arn:aws:ec2:us-east-1:1:instance/i-{i:05d}", kind="aws.ec2.instance",
                        name=f"n{i}", attrs={"seq": v})
            bus.publish(TOPIC_RESOURCES, node.id, resource_event("updated", node, "t", time=1000.0 + v).encode())
            sent += 1
    bus.flush(60)
    bus.close()
    log = tmp_path / "engine.log"
    a = start_engine(mysql_url, kafka_url, tmp_path / "a", log)
    b: subprocess.Popen[bytes] | None = None
    try:
        deadline = time.monotonic() + 60
        while count(mysql_url, "SELECT COUNT(*) FROM changes") < sent // 5:
            assert a.poll() is None, log.read_text()[-3000:]
            if time.monotonic() > deadline:
                pytest.fail("replica A applied too little within 60 s:\n" + log.read_text()[-3000:])
            time.sleep(0.02)
        os.kill(a.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        a.wait(10)
        at_kill = count(mysql_url, "SELECT COUNT(*) FROM changes")
        b = start_engine(mysql_url, kafka_url, tmp_path / "b", log)
        deadline = time.monotonic() + 90
        while count(mysql_url, "SELECT COUNT(*) FROM changes") < sent and time.monotonic() < deadline:
            assert b.poll() is None, log.read_text()[-3000:]
            time.sleep(0.1)
        recovery = time.monotonic() - killed_at
        applied = count(mysql_url, "SELECT COUNT(*) FROM changes")
        distinct = count(mysql_url, "SELECT COUNT(DISTINCT id) FROM changes")
        stale = count(mysql_url, f"SELECT COUNT(*) FROM nodes WHERE attrs NOT LIKE '%\"seq\":{VERSIONS - 1}%'")
        b_alive = b.poll() is None
    finally:
        for proc in (a, b):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(20)
    report.add(Row("engine replica SIGKILLed mid-apply (MariaDB, Kafka)", sent, applied, 0, sent - applied,
                   applied - distinct, recovery, 0 if b_alive else 1,
                   f"killed at {at_kill} applied; a second `airdig engine` process took over; "
                   f"{stale} nodes left at a stale version"))
    assert applied == sent and distinct == sent
    assert stale == 0
    assert b_alive
