"""PromQL over HTTPS with basic auth, on a real Prometheus (``--web.config.file``: TLS from the test CA,
a bcrypt-hashed user). Tempo, Mimir and Loki take the same :class:`HttpAuth`; they cannot run here, so
their header wiring is checked on the client objects, not against a server."""

from __future__ import annotations

import ctypes
import ctypes.util
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from airdig.backends.http_auth import HttpAuth, reader_auth
from airdig.backends.traces.tempo import TempoTraceStore
from airdig.errors import BackendUnavailable
from airdig.pulsesight.sources.prometheus import PrometheusSource
from airdig.settings import Settings
from tests.conftest import server_url
from tests.integration.pulsesight.conftest import free_port

PASSWORD = "prom-basic-pw"


def bcrypt(password: str) -> str:
    """Prometheus's web config wants bcrypt; libcrypt (libxcrypt on Debian) has it."""
    lib = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
    lib.crypt.restype = ctypes.c_char_p
    hashed = lib.crypt(password.encode(), b"$2b$05$airdigtestsaltairdigte")
    assert hashed and hashed.startswith(b"$2b$"), "libcrypt has no bcrypt"
    return str(hashed.decode())


@pytest.fixture(scope="module")
def tls_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    tls = Path(server_url("AIRDIG_TEST_TLS_DIR"))
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("the `prometheus` binary is not on PATH: scripts/test installs it")
    root = tmp_path_factory.mktemp("prometheus-tls")
    (root / "prometheus.yml").write_text("global:\n  scrape_interval: 15s\n")
    (root / "web.yml").write_text(
        f"tls_server_config:\n  cert_file: {tls / 'server.pem'}\n  key_file: {tls / 'server.key'}\n"
        f"basic_auth_users:\n  airdig: '{bcrypt(PASSWORD)}'\n")
    port = free_port()
    log = (root / "prometheus.log").open("wb")
    proc = subprocess.Popen([binary, f"--config.file={root / 'prometheus.yml'}", f"--web.config.file={root / 'web.yml'}",
                             f"--storage.tsdb.path={root / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"prometheus exited: {(root / 'prometheus.log').read_text()[-2000:]}")
            try:
                r = httpx.get(f"{url}/-/ready", timeout=1, auth=("airdig", PASSWORD),
                              verify=ssl.create_default_context(cafile=str(tls / "ca.pem")))
                if r.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("prometheus (TLS) did not become ready within 30 s")
            time.sleep(0.2)
        yield url, tls
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_promql_over_https_with_basic_auth_and_custom_ca(tls_prometheus: tuple[str, Path]) -> None:
    url, tls = tls_prometheus
    settings = Settings.load(environ={"AIRDIG_METRICS_URL": url, "AIRDIG_METRICS_AUTH": f"basic:airdig:{PASSWORD}",
                                      "AIRDIG_HTTP_CA_FILE": str(tls / "ca.pem")})
    prom = PrometheusSource(url, auth=reader_auth(settings, "metrics"), timeout=5)
    try:
        samples = prom.instant("vector(42)", at=time.time())
    finally:
        prom.http.close()
    assert [s.value for s in samples] == [42.0]


@pytest.mark.parametrize("case", ["wrong-ca", "wrong-password", "no-credentials"])
def test_refusals_are_one_clear_line_without_the_secret(tls_prometheus: tuple[str, Path], case: str) -> None:
    url, tls = tls_prometheus
    auth = {"wrong-ca": HttpAuth.parse("S", f"basic:airdig:{PASSWORD}", ca_file=str(tls / "other-ca.pem")),
            "wrong-password": HttpAuth.parse("S", "basic:airdig:not-the-pw", ca_file=str(tls / "ca.pem")),
            "no-credentials": HttpAuth.parse("S", None, ca_file=str(tls / "ca.pem"))}[case]
    prom = PrometheusSource(url, auth=auth, timeout=5)
    try:
        with pytest.raises(BackendUnavailable) as info:
            prom.instant("vector(1)", at=time.time())
    finally:
        prom.http.close()
    text = str(info.value)
    assert text.startswith("prometheus unavailable") and "\n" not in text
    assert PASSWORD not in text and "not-the-pw" not in text
    expected = "CERTIFICATE_VERIFY_FAILED" if case == "wrong-ca" else "HTTP 401"
    assert expected in text, text


def test_tempo_sends_tenant_and_credentials() -> None:
    auth = HttpAuth.parse("AIRDIG_TRACES_AUTH", "bearer:tempo-token")
    store = TempoTraceStore("tempo://tempo:3200", tenant="team-a", auth=auth)
    try:
        assert store._http.headers["Authorization"] == "Bearer tempo-token"
        assert store._http.headers["X-Scope-OrgID"] == "team-a"
    finally:
        store.close()
