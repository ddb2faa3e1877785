"""``airdig pulsesight serve`` as its own process with a token file: the roles of its lines are the roles
of the engine's tokens. A viewer line reads the API and is refused (403 FORBIDDEN) on the webhooks,
through ``Authorization`` and ``X-AirDig-Secret`` alike; an editor line — and a line without ``role=``,
as every file token could before roles — sends data in. (TraceCore's receivers, the other standalone
write routes: ``tests/integration/tracecore/test_standalone_auth_live.py``.)"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from airdig.demo.estate import free_ports

DATA = Path(__file__).parents[2] / "data" / "pulsesight"
VIEWER = "adg_dashboards-read-only-0123456789"
EDITOR = "adg_falcosidekick-writer-0123456789"
PLAIN = "adg_alertmanager-no-role-0123456789"


@pytest.fixture
def pulsesight(tmp_path: Path) -> Iterator[str]:
    tokens = tmp_path / "tokens"
    tokens.write_text(f"{VIEWER} dashboards role=viewer\n{EDITOR} falcosidekick role=editor\n"
                      f"{PLAIN} alertmanager\n")
    (port,) = free_ports(1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRDIG_")}
    env.update(AIRDIG_DATA_DIR=str(tmp_path), AIRDIG_TOKENS_FILE=str(tokens), AIRDIG_LOG_FORMAT="text")
    proc = subprocess.Popen([sys.executable, "-m", "airdig.cli", "pulsesight", "serve", "--host", "127.0.0.1",
                             "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (proc.stderr.read() if proc.stderr else b"").decode()
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "pulsesight did not start"
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        err = proc.stderr.read() if proc.stderr else b""
        if proc.stderr is not None:
            proc.stderr.close()
        for token in (VIEWER, EDITOR, PLAIN):
            assert token.encode() not in err  # never logged


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_viewer_file_token_reads_but_may_not_send_webhooks(pulsesight: str) -> None:
    firing = (DATA / "alertmanager_firing.json").read_bytes()
    falco = (DATA / "falco_pod_event.json").read_bytes()
    for path in ("/api/v1/health", "/api/v1/unmapped", "/api/v1/security-events"):
        assert httpx.get(pulsesight + path, timeout=5).status_code == 401
        assert httpx.get(pulsesight + path, headers=_bearer(VIEWER), timeout=5).status_code == 200, path
    for path, body in (("/webhooks/alertmanager", firing), ("/webhooks/falco", falco)):
        assert httpx.post(pulsesight + path, content=body, timeout=5).status_code == 401
        for headers in (_bearer(VIEWER), {"X-AirDig-Secret": VIEWER}):
            r = httpx.post(pulsesight + path, content=body, headers=headers, timeout=5)
            assert r.status_code == 403, (path, r.text)
            assert r.json()["code"] == "FORBIDDEN" and "editor" in r.json()["error"]
            assert "dashboards" in r.json()["error"] and VIEWER not in r.text
    # nothing the viewer sent was taken in: no security event, no unmapped alert
    assert httpx.get(pulsesight + "/api/v1/security-events", headers=_bearer(VIEWER), timeout=5).json()["events"] == []
    for token in (EDITOR, PLAIN):
        r = httpx.post(pulsesight + "/webhooks/alertmanager", content=firing, headers=_bearer(token), timeout=5)
        assert r.status_code == 200, r.text
    r = httpx.post(pulsesight + "/webhooks/falco", content=falco, headers={"X-AirDig-Secret": EDITOR}, timeout=5)
    assert r.status_code == 200, r.text
    events = httpx.get(pulsesight + "/api/v1/security-events", headers=_bearer(VIEWER), timeout=5).json()["events"]
    assert len(events) == 1
