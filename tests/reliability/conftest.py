"""Fault injection against real servers (issue 13).

Destructive faults (a server killed and restarted) hit a PRIVATE MariaDB / Redis / Kafka started by
``scripts/services/start`` in a run directory and on ports of this session's own, never the shared test
servers. Each scenario reports one row — events sent / applied / dead-lettered / lost / duplicated, time
to recover, processes left dead — and the session writes the table into ``docs/reliability.md``.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts" / "services"
DOC = REPO / "docs" / "reliability.md"
START, END = "<!-- reliability-table:start -->", "<!-- reliability-table:end -->"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PrivateServers:
    """Servers of this session only, started with the project's own scripts; restarted at will."""

    run_dir: Path
    ports: dict[str, int]
    started: set[str] = field(default_factory=set)

    def env(self, services: str) -> dict[str, str]:
        return {**os.environ, "AIRDIG_TEST_RUN_DIR": str(self.run_dir), "AIRDIG_TEST_SERVICES": services,
                "AIRDIG_TEST_MYSQL_PORT": str(self.ports["mysql"]), "AIRDIG_TEST_REDIS_PORT": str(self.ports["redis"]),
                "AIRDIG_TEST_KAFKA_PORT": str(self.ports["kafka"]),
                "AIRDIG_TEST_KAFKA_CONTROLLER_PORT": str(self.ports["controller"]),
                # the TLS listeners the script also starts, on ports of their own (never next to another's)
                "AIRDIG_TEST_MYSQL_TLS_PORT": str(self.ports["mysql_tls"]),
                "AIRDIG_TEST_REDIS_TLS_PORT": str(self.ports["redis_tls"]),
                "AIRDIG_TEST_KAFKA_SASL_PORT": str(self.ports["kafka_sasl"])}

    def start(self, service: str) -> float:
        """Start (or restart) one server and wait until it answers; returns the seconds it took."""
        t0 = time.monotonic()
        subprocess.run([str(SCRIPTS / "start")], env=self.env(service), check=True, capture_output=True,
                       timeout=180)
        self.started.add(service)
        return time.monotonic() - t0

    def pid(self, service: str) -> int:
        name = {"mariadb": "mariadb/mariadbd.pid", "redis": "redis/redis.pid", "kafka": "kafka/kafka.pid"}[service]
        return int((self.run_dir / name).read_text().strip())

    def kill(self, service: str, sig: int = signal.SIGKILL) -> None:
        """Kill the server process (SIGKILL: a crash, no clean shutdown) and wait until it is gone."""
        pid = self.pid(service)
        os.kill(pid, sig)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        raise AssertionError(f"{service} (pid {pid}) did not exit")

    def url(self, service: str) -> str:
        if service == "mariadb":
            return f"mysql://airdig:airdig@127.0.0.1:{self.ports['mysql']}/airdig_rel"
        if service == "redis":
            return f"redis://127.0.0.1:{self.ports['redis']}/0"
        return f"kafka://127.0.0.1:{self.ports['kafka']}"

    def stop_all(self) -> None:
        subprocess.run([str(SCRIPTS / "stop"), "--purge"], env=self.env("mariadb redis kafka"), check=False,
                       capture_output=True, timeout=120)


@pytest.fixture(scope="session")
def private() -> Iterator[PrivateServers]:
    run_dir = Path(tempfile.mkdtemp(prefix="airdig-rel-"))
    servers = PrivateServers(run_dir, {k: _free_port() for k in ("mysql", "redis", "kafka", "controller", "mysql_tls",
                                                                "redis_tls", "kafka_sasl")})
    yield servers
    servers.stop_all()


@dataclass
class Row:
    scenario: str
    sent: int
    applied: int
    deadlettered: int
    lost: int
    duplicated: int
    recovery_s: float | None
    dead_processes: int
    note: str

    def line(self) -> str:
        rec = "—" if self.recovery_s is None else f"{self.recovery_s:.1f}"
        return (f"| {self.scenario} | {self.sent} | {self.applied} | {self.deadlettered} | {self.lost} | "
                f"{self.duplicated} | {rec} | {self.dead_processes} | {self.note} |")


class Report:
    def __init__(self) -> None:
        self.rows: list[Row] = []

    def add(self, row: Row) -> None:
        self.rows.append(row)

    def write(self) -> None:
        """Replace this run's scenarios in the table; rows of scenarios not run this time stay."""
        if not self.rows or not DOC.exists():
            return
        text = DOC.read_text()
        if START not in text or END not in text:
            return
        head, rest = text.split(START, 1)
        table, tail = rest.split(END, 1)
        kept: dict[str, str] = {}
        for line in table.strip().splitlines()[2:]:
            m = re.match(r"\| ([^|]+?) \|", line)
            if m:
                kept[m.group(1)] = line
        for row in self.rows:
            kept[row.scenario] = row.line()
        header = ("| scenario | sent | applied | dead-lettered | lost | duplicated | recovery (s) | "
                  "processes left dead | how |\n|---|---|---|---|---|---|---|---|---|")
        body = "\n".join(kept.values())
        DOC.write_text(f"{head}{START}\n{header}\n{body}\n{END}{tail}")


_REPORT = Report()


@pytest.fixture(scope="session")
def report() -> Iterator[Report]:
    yield _REPORT
    _REPORT.write()
