"""Shared fixtures: every backend fixture runs on the embedded backend AND on the real server.

The real servers (MariaDB, a standalone TiDB, Redis, an Apache Kafka broker) are started by
``scripts/test``, which exports their URLs; MariaDB, Redis and Kafka also have a TLS listener with
credentials (a MariaDB with ``require_secure_transport=ON``, Redis's tls-port with an ACL user, Kafka
SASL_SSL + SCRAM), signed by a throwaway CA, and the store, bus and cache fixtures run there too
(``mysql-tls``, ``kafka-sasl``, ``redis-tls``). TiDB runs the suites that prove the store itself —
store, migrations, apply, delivery, scenario — which opt in with :data:`ON_TIDB_TOO` or a ``tidb``
param of their own, so it does not double the time of every test that merely needs a store.
Outside ``scripts/test`` those cases skip, unless ``AIRDIG_TEST_REQUIRE_SERVERS=1`` (set by
``scripts/test`` and so in CI), where a missing server is a failure: nothing is skipped in CI.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import pymysql
import pytest

from airdig.backends.interfaces import Bus, Cache, Record, Store
from airdig.backends.registry import open_bus, open_cache, open_store

REQUIRE = os.environ.get("AIRDIG_TEST_REQUIRE_SERVERS") == "1"


def server_url(var: str) -> str:
    url = os.environ.get(var)
    if not url:
        if REQUIRE:
            pytest.fail(f"{var} is not set although AIRDIG_TEST_REQUIRE_SERVERS=1; run the tests via scripts/test")
        pytest.skip(f"{var} not set: run scripts/test to start the servers")
    return url


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "airdig"
    d.mkdir()
    return d


def fresh_database(var: str) -> Iterator[str]:
    """A new, empty database on the MySQL-protocol server named by ``var``; dropped afterwards."""
    base = server_url(var)
    parts = urlsplit(base)
    name = f"airdig_t_{uuid.uuid4().hex[:12]}"
    conn = pymysql.connect(host=parts.hostname, port=parts.port or 3306, user=parts.username or "root",
                           password=parts.password or "", autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
        yield urlunsplit(parts._replace(path=f"/{name}"))
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
    finally:
        conn.close()


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """A fresh, empty database on the MariaDB server for this test; dropped afterwards."""
    yield from fresh_database("AIRDIG_TEST_MYSQL_URL")


@pytest.fixture
def tidb_url() -> Iterator[str]:
    """A fresh, empty database on the TiDB server (standalone tidb-server, unistore); dropped afterwards."""
    yield from fresh_database("AIRDIG_TEST_TIDB_URL")


def with_query(url: str, extra: str) -> str:
    """``url`` with ``extra`` (``a=1&b=2``) added to its query."""
    return f"{url}{'&' if '?' in url else '?'}{extra}"


def fresh_tls_database(var: str) -> Iterator[str]:
    """A fresh database on the TLS-only server named by ``var`` (verified against the test CA)."""
    base = server_url(var)
    parts = urlsplit(base)
    ca = dict(parse_qsl(parts.query))["ssl_ca"]
    name = f"airdig_t_{uuid.uuid4().hex[:12]}"
    conn = pymysql.connect(host=parts.hostname, port=parts.port or 3306, user=parts.username or "root",
                           password=parts.password or "", autocommit=True, ssl_ca=ca, ssl_verify_identity=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
        yield urlunsplit(parts._replace(path=f"/{name}"))
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
    finally:
        conn.close()


@pytest.fixture
def mysql_tls_url() -> Iterator[str]:
    """A fresh database on the MariaDB that refuses plaintext (TLS, verified against the test CA)."""
    yield from fresh_tls_database("AIRDIG_TEST_MYSQL_TLS_URL")


@pytest.fixture
def tidb_tls_url() -> Iterator[str]:
    """A fresh database on the TiDB that refuses plaintext (``require_secure_transport=ON``, test CA)."""
    yield from fresh_tls_database("AIRDIG_TEST_TIDB_TLS_URL")


def warm_kafka(base: str) -> str:
    """Warm a broker listener up: on a fresh broker the first consumer group waits while Kafka creates
    ``__consumer_offsets`` and elects its coordinator; do that once, before any test measures anything."""
    bus = open_bus(with_query(base, f"partitions=1&prefix=warmup{uuid.uuid4().hex[:6]}."))
    try:
        bus.publish("airdig.resources", "k", b"warm")
        bus.flush(30)
        consumer = bus.consumer("warmup", ["airdig.resources"])
        deadline = time.monotonic() + 120
        got: list[Record] = []
        while not got:
            if time.monotonic() > deadline:
                pytest.fail("the Kafka broker did not serve a consumer group within 120 s")
            got = list(consumer.poll(10, timeout=1.0))
        consumer.commit(got)
        consumer.close()
    finally:
        bus.close()
    return base


@pytest.fixture(scope="session")
def kafka_base() -> str:
    """The broker's plaintext listener, warmed up."""
    return warm_kafka(server_url("AIRDIG_TEST_KAFKA_URL"))


@pytest.fixture(scope="session")
def kafka_sasl_base() -> str:
    """The broker's SASL_SSL + SCRAM-SHA-512 listener (test CA), warmed up."""
    return warm_kafka(server_url("AIRDIG_TEST_KAFKA_SASL_URL"))


@pytest.fixture
def kafka_url(kafka_base: str) -> str:
    """The broker, with a topic prefix unique to this test so tests never see each other's records."""
    return with_query(kafka_base, f"partitions=4&prefix=t{uuid.uuid4().hex[:10]}.")


@pytest.fixture
def kafka_sasl_url(kafka_sasl_base: str) -> str:
    return with_query(kafka_sasl_base, f"partitions=4&prefix=t{uuid.uuid4().hex[:10]}.")


@pytest.fixture
def redis_url() -> str:
    base = server_url("AIRDIG_TEST_REDIS_URL")
    return with_query(base, f"prefix=t{uuid.uuid4().hex[:10]}:")


@pytest.fixture
def redis_tls_url() -> str:
    """Redis's tls-port (test CA) as its ACL user."""
    return with_query(server_url("AIRDIG_TEST_REDIS_TLS_URL"), f"prefix=t{uuid.uuid4().hex[:10]}:")


STORE_KINDS = ["sqlite", "mysql", "mysql-tls"]
_STORE_FIXTURES = {"mysql": "mysql_url", "mysql-tls": "mysql_tls_url", "tidb": "tidb_url",
                   "tidb-tls": "tidb_tls_url"}

ON_TIDB_TOO = pytest.mark.parametrize("store_url", [*STORE_KINDS, "tidb"], indirect=True)
"""``pytestmark = ON_TIDB_TOO`` in a module: its ``store``/``store_url`` tests run on TiDB as well."""


@pytest.fixture(params=STORE_KINDS)
def store_url(request: pytest.FixtureRequest, data_dir: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{data_dir / 'airdig.db'}"
    url: str = request.getfixturevalue(_STORE_FIXTURES[request.param])
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    s.migrate()
    yield s
    s.close()


@pytest.fixture(params=["embedded", "kafka", "kafka-sasl"])
def bus_url(request: pytest.FixtureRequest, data_dir: Path) -> str:
    if request.param == "embedded":
        return f"embedded://{data_dir / 'bus.db'}"
    url: str = request.getfixturevalue("kafka_sasl_url" if request.param == "kafka-sasl" else "kafka_url")
    return url


@pytest.fixture
def bus(bus_url: str) -> Iterator[Bus]:
    b = open_bus(bus_url)
    yield b
    b.close()


@pytest.fixture(params=["memory", "redis", "redis-tls"])
def cache_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    url: str = request.getfixturevalue("redis_tls_url" if request.param == "redis-tls" else "redis_url")
    return url


@pytest.fixture
def cache(cache_url: str) -> Iterator[Cache]:
    c = open_cache(cache_url)
    yield c
    c.close()


@dataclass(frozen=True)
class Backends:
    """The URLs of one whole stack: embedded (SQLite, local bus, memory) or distributed (MariaDB, Kafka,
    Redis); ``distributed-tidb`` is the same with TiDB as the store (modules opt in, as with ON_TIDB_TOO)."""

    name: str
    store_url: str
    bus_url: str
    cache_url: str


@pytest.fixture(params=["embedded", "distributed"])
def backends(request: pytest.FixtureRequest, data_dir: Path) -> Backends:
    if request.param == "embedded":
        return Backends("embedded", f"sqlite:///{data_dir / 'airdig.db'}", f"embedded://{data_dir / 'bus.db'}",
                        "memory://")
    store = request.getfixturevalue("tidb_url" if request.param == "distributed-tidb" else "mysql_url")
    return Backends(request.param, store, request.getfixturevalue("kafka_url"), request.getfixturevalue("redis_url"))
