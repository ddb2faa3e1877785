"""The engine and up commands as a user runs them: separate processes, real ports, Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

AIRDIG = [sys.executable, "-m", "airdig.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def env_for(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRDIG_") or k.startswith("AIRDIG_TEST")}
    env.update({"AIRDIG_DATA_DIR": str(data_dir), **extra})
    return env


def test_bad_database_url_exits_with_one_line(data_dir: Path) -> None:
    for url, needle in (("mysql://u:p@127.0.0.1:1/airdig", "cannot connect to 127.0.0.1:1/airdig"),
                        ("postgres://x/y", "unknown scheme 'postgres'"),
                        ("sqlite:///:memory:", "in-memory SQLite")):
        r = subprocess.run([*AIRDIG, "engine", "--port", str(free_port())], env=env_for(data_dir,
                           AIRDIG_DATABASE_URL=url), capture_output=True, text=True, timeout=60)
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, r.stderr
        assert lines[0].startswith(("airdig: error: AIRDIG_DATABASE_URL", "airdig: error: mysql unavailable"))
        assert needle in lines[0]
        assert "p@" not in lines[0] or url.startswith("postgres")  # no password in the message


def test_up_serves_every_role_and_stops_cleanly_on_ctrl_c(data_dir: Path) -> None:
    ports = {name: free_port() for name in ("engine", "ui", "grpc", "http", "pulse")}
    proc = subprocess.Popen([*AIRDIG, "up", "--engine-port", str(ports["engine"]), "--ui-port", str(ports["ui"]),
                             "--otlp-grpc-port", str(ports["grpc"]), "--otlp-http-port", str(ports["http"]),
                             "--pulsesight-port", str(ports["pulse"]), "--data-dir", str(data_dir)],
                            env=env_for(data_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        ready = None
        while time.monotonic() < deadline:
            try:
                ready = httpx.get(f"http://127.0.0.1:{ports['engine']}/readyz", timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None:
                raise AssertionError(f"airdig up exited early: {proc.stderr.read() if proc.stderr else ''}")
            time.sleep(0.3)
        assert ready is not None and ready.status_code == 200, ready.text if ready else "no answer"
        r = httpx.post(f"http://127.0.0.1:{ports['engine']}/graphql",
                       json={"query": "{ resources(first: 5) { totalCount } }"})
        assert r.json() == {"data": {"resources": {"totalCount": 0}}}
        # every role of the seed answers on its own port
        for role in ("ui", "http", "pulse"):
            assert httpx.get(f"http://127.0.0.1:{ports[role]}/healthz", timeout=5).status_code == 200, role
        via_ui = httpx.post(f"http://127.0.0.1:{ports['ui']}/graphql", json={"query": "{ coverage { total } }"})
        assert via_ui.json() == {"data": {"coverage": {"total": 0}}}  # the UI proxies to the engine
        assert (data_dir / "airdig.db").exists() and (data_dir / "bus.db").exists()
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "AirDig stopped." in err


def _wait_healthy(url: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("engine did not start")


def test_engine_on_loopback_asks_for_a_token_unless_auth_is_off(data_dir: Path) -> None:
    """Bound to 127.0.0.1 (e.g. behind nginx) the engine still asks for a token: auth is a setting, on by
    default, not a consequence of the bind address. `AIRDIG_AUTH=off` is accepted on loopback only."""
    for auth, status in ((None, 401), ("off", 200)):
        port = free_port()
        extra = {"AIRDIG_AUTH": auth} if auth else {}
        proc = subprocess.Popen([*AIRDIG, "engine", "--port", str(port), "--no-processor"],
                                env=env_for(data_dir, **extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(url, proc)
            assert httpx.get(f"{url}/api/v1/resources?first=1", timeout=5).status_code == status, auth
            # a rebound name is refused on loopback whatever the auth setting
            assert httpx.get(f"{url}/healthz", headers={"Host": f"evil.example:{port}"}, timeout=5).status_code == 403
        finally:
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=30)
    r = subprocess.run([*AIRDIG, "engine", "--host", "0.0.0.0", "--port", str(free_port())],
                       env=env_for(data_dir, AIRDIG_AUTH="off"), capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "AIRDIG_AUTH" in r.stderr and "loopback" in r.stderr, r.stderr
