"""The TLS listeners of the test servers refuse a wrong CA, a wrong password and plaintext, with one clear
error naming the connector, no secret in it and nothing written.

Real servers, started by ``scripts/services/start`` from a throwaway CA: a MariaDB with
``require_secure_transport=ON`` and a TiDB with the same, Redis's tls-port with an ACL
user, Kafka's SASL_SSL + SCRAM listener.
``other-ca.pem`` is a CA that signed none of them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pymysql
import pytest
from click.testing import CliRunner
from confluent_kafka.admin import AdminClient  # type: ignore[attr-defined]

from airdig.backends.bus.kafka import KafkaBus
from airdig.backends.registry import open_bus, open_cache, open_store
from airdig.cli.main import cli
from airdig.errors import BackendUnavailable
from tests.conftest import server_url

Edit = Callable[[dict[str, str]], None]


def rewrite(url: str, edit: Edit, password: str | None = None, scheme: str | None = None) -> str:
    """``url`` with its query edited (and optionally another password or scheme)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    edit(query)
    netloc = parts.netloc
    if password is not None:
        user = parts.username or ""
        netloc = f"{user}:{password}@{parts.hostname}:{parts.port}"
    return urlunsplit(parts._replace(scheme=scheme or parts.scheme, netloc=netloc, query=urlencode(query)))


def other_ca() -> str:
    return str(Path(server_url("AIRDIG_TEST_TLS_DIR")) / "other-ca.pem")


def secrets_of(url: str) -> list[str]:
    parts = urlsplit(url)
    found = [parts.password or ""] + [v for k, v in parse_qsl(parts.query) if "password" in k]
    return [s for s in found if s]


def assert_clear(exc: BaseException, connector: str, url: str, *reasons: str) -> None:
    text = str(exc)
    assert isinstance(exc, BackendUnavailable), repr(exc)
    assert text.startswith(f"{connector} unavailable"), text
    assert "\n" not in text and "Traceback" not in text, text
    for secret in [*secrets_of(url), "airdig-tls-pw", "airdig-redis-pw", "airdig-kafka-pw"]:
        assert secret not in text, f"secret leaked into: {text}"
    assert any(r.lower() in text.lower() for r in reasons), f"{text!r} does not say why ({reasons})"


# ------------------------------------------------------------------ MySQL protocol

def _tables(url: str) -> list[str]:
    parts = urlsplit(url)
    conn = pymysql.connect(host=parts.hostname, port=parts.port or 3306, user=parts.username or "",
                           password=parts.password or "", database=parts.path.lstrip("/"),
                           ssl_ca=dict(parse_qsl(parts.query))["ssl_ca"])
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW TABLES")
            return [r[0] for r in cur.fetchall()]
    finally:
        conn.close()


MYSQL_CASES: dict[str, tuple[Callable[[str], str], tuple[str, ...]]] = {
    "wrong-ca": (lambda u: rewrite(u, lambda q: q.update(ssl_ca=other_ca())), ("certificate verify failed",)),
    "wrong-password": (lambda u: rewrite(u, lambda q: None, password="not-the-password"), ("access denied",)),
    "plaintext": (lambda u: rewrite(u, lambda q: (q.pop("ssl_ca"), q.update(ssl_mode="disabled"))),
                  ("insecure transport", "the server requires TLS")),
}


TLS_SERVERS = pytest.mark.parametrize("server", ["mysql_tls_url", "tidb_tls_url"], ids=["mariadb", "tidb"])


@TLS_SERVERS
@pytest.mark.parametrize("case", sorted(MYSQL_CASES))
def test_mysql_tls_refusals(server: str, case: str, request: pytest.FixtureRequest) -> None:
    mysql_tls_url: str = request.getfixturevalue(server)
    make, reasons = MYSQL_CASES[case]
    bad = make(mysql_tls_url)
    store = open_store(bad)
    with pytest.raises(BackendUnavailable) as info:
        store.migrate()
    store.close()
    assert_clear(info.value, "mysql", bad, *reasons)
    assert _tables(mysql_tls_url) == []  # nothing half-written


def test_mysql_tls_with_password_file_and_cli(mysql_tls_url: str, tmp_path: Path) -> None:
    """The password from a mounted file; `airdig db migrate` works, and with a wrong one says why in a line."""
    password = urlsplit(mysql_tls_url).password or ""
    secret = tmp_path / "password"
    secret.write_text(password + "\n")
    parts = urlsplit(mysql_tls_url)
    by_file = urlunsplit(parts._replace(netloc=f"{parts.username}@{parts.hostname}:{parts.port}",
                                        query=parts.query + f"&password_file={secret}"))
    runner = CliRunner()
    ok = runner.invoke(cli, ["db", "migrate"], env={"AIRDIG_DATABASE_URL": by_file})
    assert ok.exit_code == 0, ok.output
    assert "applied migration" in ok.output
    assert "nodes" in _tables(mysql_tls_url)

    secret.write_text("wrong-secret-value\n")
    bad = runner.invoke(cli, ["db", "migrate"], env={"AIRDIG_DATABASE_URL": by_file})
    assert bad.exit_code != 0
    assert "mysql unavailable" in bad.output and "Access denied" in bad.output, bad.output
    assert "Traceback" not in bad.output and "wrong-secret-value" not in bad.output
    assert password not in bad.output


def test_mysql_client_certificate(mysql_tls_url: str) -> None:
    """A ``REQUIRE X509`` user (no password) gets in with ssl_cert/ssl_key, and only with them (MariaDB;
    the TLS TiDB of the tests verifies no client certificates, see scripts/services/start)."""
    tls = Path(server_url("AIRDIG_TEST_TLS_DIR"))
    parts = urlsplit(mysql_tls_url)
    x509 = urlunsplit(parts._replace(netloc=f"airdig_x509@{parts.hostname}:{parts.port}"))
    with_cert = rewrite(x509, lambda q: q.update(ssl_cert=str(tls / "client.pem"), ssl_key=str(tls / "client.key")))
    store = open_store(with_cert)
    try:
        store.migrate()
        assert "nodes" in _tables(mysql_tls_url)
    finally:
        store.close()
    without = open_store(x509)
    with pytest.raises(BackendUnavailable) as info:
        without.migrate()
    without.close()
    assert_clear(info.value, "mysql", x509, "access denied")


# ------------------------------------------------------------------ Kafka

KAFKA_CASES: dict[str, tuple[Callable[[str], str], tuple[str, ...]]] = {
    "wrong-ca": (lambda u: rewrite(u, lambda q: q.update({"ssl.ca.location": other_ca()})),
                 ("certificate verify failed", "ssl handshake")),
    "wrong-password": (lambda u: rewrite(u, lambda q: q.update({"sasl.password": "not-the-password"})),
                       ("authentication",)),
    "plaintext": (lambda u: rewrite(u, lambda q: [q.pop(k) for k in list(q) if k.startswith(("sasl.", "ssl.",
                                                                                              "security."))]),
                  ("disconnect", "timed out", "transport", "brokers are down")),
}


@pytest.mark.parametrize("case", sorted(KAFKA_CASES))
def test_kafka_sasl_ssl_refusals(kafka_sasl_url: str, case: str) -> None:
    make, reasons = KAFKA_CASES[case]
    prefix = f"t{uuid.uuid4().hex[:10]}."
    bad = rewrite(make(kafka_sasl_url), lambda q: q.update(prefix=prefix))
    bus = open_bus(bad)
    with pytest.raises(BackendUnavailable) as info:
        bus.publish("airdig.resources", "k", b"must not arrive")
        bus.flush(10)
    bus.close()
    assert_clear(info.value, "kafka", bad, *reasons)
    # nothing half-written: the refused client created no topic (so wrote no record)
    good = KafkaBus(kafka_sasl_url)
    try:
        topics = AdminClient(good._base()).list_topics(timeout=10).topics
    finally:
        good.close()
    assert not [t for t in topics if t.startswith(prefix)]


# ------------------------------------------------------------------ Redis

REDIS_CASES: dict[str, tuple[Callable[[str], str], tuple[str, ...]]] = {
    "wrong-ca": (lambda u: rewrite(u, lambda q: q.update(ssl_ca=other_ca())), ("certificate verify failed",)),
    "wrong-password": (lambda u: rewrite(u, lambda q: None, password="not-the-password"),
                       ("invalid username-password", "wrongpass")),
    "plaintext": (lambda u: rewrite(u, lambda q: q.pop("ssl_ca"), scheme="redis"),
                  ("connection", "closed", "reset")),
}


@pytest.mark.parametrize("case", sorted(REDIS_CASES))
def test_redis_tls_refusals(redis_tls_url: str, case: str) -> None:
    make, reasons = REDIS_CASES[case]
    bad = make(redis_tls_url)
    cache = open_cache(bad)
    with pytest.raises(BackendUnavailable) as info:
        cache.ping()
    cache.set("written", b"must not arrive", 60)  # a cache write never raises: it is logged and dropped
    cache.close()
    assert_clear(info.value, "redis", bad, *reasons)
    good = open_cache(redis_tls_url)
    try:
        good.ping()
        assert good.get("written") is None  # nothing half-written
    finally:
        good.close()


def test_redis_password_from_environment(redis_tls_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    parts = urlsplit(redis_tls_url)
    monkeypatch.setenv("TEST_REDIS_SECRET", parts.password or "")
    url = urlunsplit(parts._replace(netloc=f"{parts.hostname}:{parts.port}",
                                    query=parts.query + f"&username={parts.username}&password_env=TEST_REDIS_SECRET"))
    cache = open_cache(url)
    try:
        cache.ping()
        cache.set("k", b"v", 60)
        assert cache.get("k") == b"v"
    finally:
        cache.close()


def test_tls_urls_are_exported() -> None:
    """The TLS listeners are part of every test run (CI included), not an optional extra."""
    for var in ("AIRDIG_TEST_MYSQL_TLS_URL", "AIRDIG_TEST_TIDB_TLS_URL", "AIRDIG_TEST_KAFKA_SASL_URL",
                "AIRDIG_TEST_REDIS_TLS_URL"):
        assert server_url(var).split("://")[0] in ("mysql", "kafka", "rediss"), var
    assert os.path.isfile(other_ca())
