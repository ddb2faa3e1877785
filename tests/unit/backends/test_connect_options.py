"""How connector URLs and settings turn into TLS contexts, credentials and client properties.

No network here: the servers are exercised in tests/integration/backends/test_tls_listeners.py and by
the ``mysql-tls``/``kafka-sasl``/``redis-tls`` fixture params; these tests pin the parsing, the defaults
(verification on) and that a secret never reaches an error message.
"""

from __future__ import annotations

import base64
import ssl
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from airdig.backends.bus.kafka import KafkaBus
from airdig.backends.cache.redis import RedisCache
from airdig.backends.http_auth import HttpAuth, reader_auth
from airdig.backends.options import UrlOptions
from airdig.backends.store.mysql import MysqlDialect
from airdig.errors import ConfigError
from airdig.settings import Settings

CA = ssl.get_default_verify_paths().cafile or ""


@pytest.fixture
def ca_file(tmp_path: Path) -> str:
    """A real CA bundle to load: the system's when present, else Python's test-free fallback (certifi)."""
    if CA and Path(CA).is_file():
        return CA
    import certifi

    return str(certifi.where())


def test_secret_from_file_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pw").write_text("s3cret\n")
    monkeypatch.setenv("MY_PW", "from-env")
    assert UrlOptions("X", f"password_file={tmp_path / 'pw'}").secret("password") == "s3cret"
    assert UrlOptions("X", "password_env=MY_PW").secret("password") == "from-env"
    assert UrlOptions("X", "").secret("password", "dflt") == "dflt"
    with pytest.raises(ConfigError, match="cannot read secret file"):
        UrlOptions("X", f"password_file={tmp_path / 'missing'}").secret("password")
    with pytest.raises(ConfigError, match="NOPE, which is not set"):
        UrlOptions("X", "password_env=NOPE").secret("password")


def test_mysql_tls_verifies_identity_by_default(ca_file: str) -> None:
    d = MysqlDialect(f"mysql://u:p@db.example.com:4000/airdig?ssl_ca={ca_file}")
    ctx = d.params["ssl"]
    assert d.ssl_mode == "verify_identity"
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname


def test_mysql_tls_modes(ca_file: str) -> None:
    d = MysqlDialect(f"mysql://u:p@10.0.0.5:4000/airdig?ssl_ca={ca_file}&ssl_verify_identity=false")
    assert d.ssl_mode == "verify_ca"
    assert d.params["ssl"].verify_mode == ssl.CERT_REQUIRED and not d.params["ssl"].check_hostname
    d = MysqlDialect("mysql://u:p@db:4000/airdig?ssl_mode=required")
    assert d.params["ssl"].verify_mode == ssl.CERT_NONE
    d = MysqlDialect("mysql://u:p@db:4000/airdig?tls=true")  # the system CAs (TiDB Cloud, RDS with a bundle)
    assert d.ssl_mode == "verify_identity" and d.params["ssl"].check_hostname
    d = MysqlDialect("mysql://u:p@db:4000/airdig?ssl_mode=disabled")
    assert d.params["ssl_disabled"] is True
    assert "ssl" not in MysqlDialect("mysql://u:p@db:4000/airdig").params  # unchanged default
    with pytest.raises(ConfigError, match="ssl_mode must be one of"):
        MysqlDialect("mysql://u:p@db:4000/airdig?ssl_mode=sometimes")
    with pytest.raises(ConfigError, match="no such file"):
        MysqlDialect("mysql://u:p@db:4000/airdig?ssl_ca=/nonexistent/ca.pem")
    with pytest.raises(ConfigError, match="needs both ssl_cert and ssl_key"):
        MysqlDialect(f"mysql://u:p@db:4000/airdig?ssl_cert={ca_file}")


def test_mysql_password_file(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("from-file\n")
    d = MysqlDialect(f"mysql://airdig@db:4000/airdig?password_file={tmp_path / 'pw'}")
    assert d.params["password"] == "from-file"


def test_rds_iam_token_is_signed_per_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3 signs the token locally from the credential chain (here: static test keys in the environment)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATESTTESTTESTTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testsecretkeytestsecretkeytestsecretkey0")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    d = MysqlDialect("mysql://iam_user@aurora.example.com:3306/airdig?auth=rds-iam&region=eu-west-1")
    assert d.ssl_mode == "verify_identity"
    token = d.connect_params()["password"]
    assert token.startswith("aurora.example.com:3306/?")
    q = parse_qs(urlsplit("https://" + token).query)
    assert q["Action"] == ["connect"] and q["DBUser"] == ["iam_user"]
    assert q["X-Amz-Credential"][0].startswith("AKIATESTTESTTESTTEST/") and "/eu-west-1/rds-db/" in q["X-Amz-Credential"][0]
    assert len(q["X-Amz-Signature"][0]) == 64
    assert d.params["password"] == ""  # the token is never kept in the parameters
    with pytest.raises(ConfigError, match="needs TLS"):
        MysqlDialect("mysql://u@aurora:3306/airdig?auth=rds-iam&ssl_mode=disabled")


def test_mysql_error_never_quotes_the_password() -> None:
    d = MysqlDialect("mysql://u:hunter2-long@db:4000/airdig")
    err = d._unavailable("Access denied for password hunter2-long", d.params)
    assert "hunter2-long" not in str(err) and str(err).startswith("mysql unavailable")


def test_kafka_properties_and_secret_files(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("scram-secret\n")
    bus = KafkaBus("kafka://b1:9096,b2:9096?security.protocol=SASL_SSL&sasl.mechanism=SCRAM-SHA-256"
                   f"&sasl.username=airdig&sasl.password_file={tmp_path / 'pw'}&partitions=3&prefix=x.")
    assert bus.properties == {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-256",
                              "sasl.username": "airdig", "sasl.password": "scram-secret"}
    assert bus.partitions == 3 and bus.prefix == "x." and bus.bootstrap == "b1:9096,b2:9096"
    with pytest.raises(ConfigError, match="unknown option 'tls'"):
        KafkaBus("kafka://b1:9096?tls=true")


def test_kafka_bad_property_is_a_config_error() -> None:
    bus = KafkaBus("kafka://127.0.0.1:1?security.protocol=SASL_SSL&sasl.mechanism=NOPE&sasl.password=pw12345")
    with pytest.raises(ConfigError) as info:
        bus.ping()
    assert "pw12345" not in str(info.value)


def test_msk_iam_maps_to_oauthbearer(monkeypatch: pytest.MonkeyPatch) -> None:
    signer = pytest.importorskip("aws_msk_iam_sasl_signer")
    assert signer
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATESTTESTTESTTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testsecretkeytestsecretkeytestsecretkey0")
    bus = KafkaBus("kafka://b-1.msk:9098?security.protocol=SASL_SSL&sasl.mechanism=AWS_MSK_IAM&region=us-east-1")
    assert bus.properties["sasl.mechanism"] == "OAUTHBEARER"
    token, expiry = bus.properties["oauth_cb"](None)
    url = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    assert url.startswith("https://kafka.us-east-1.amazonaws.com/?Action=kafka-cluster%3AConnect")
    assert expiry > 0
    with pytest.raises(ConfigError, match="region"):
        KafkaBus("kafka://b-1.msk:9098?sasl.mechanism=AWS_MSK_IAM")


def test_redis_tls_options(ca_file: str, tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("acl-secret\n")
    cache = RedisCache(f"rediss://airdig@cache.example.com:6380/0?ssl_ca={ca_file}"
                       f"&password_file={tmp_path / 'pw'}&prefix=p:")
    kw = cache._r.connection_pool.connection_kwargs
    assert kw["ssl_ca_certs"] == ca_file and kw["ssl_check_hostname"] is True
    assert kw["password"] == "acl-secret" and kw["username"] == "airdig"
    assert cache.prefix == "p:"
    cache.close()
    with pytest.raises(ConfigError, match="need a rediss:// URL"):
        RedisCache(f"redis://cache:6379/0?ssl_ca={ca_file}")


def test_http_auth_headers_and_errors(ca_file: str) -> None:
    assert HttpAuth.parse("S", "bearer:tok123", tenant="team-a").headers() == {
        "X-Scope-OrgID": "team-a", "Authorization": "Bearer tok123"}
    basic = HttpAuth.parse("S", "basic:123456:glc:with:colons").headers()["Authorization"]
    assert base64.b64decode(basic.split()[1]).decode() == "123456:glc:with:colons"
    with pytest.raises(ConfigError) as info:
        HttpAuth.parse("AIRDIG_METRICS_AUTH", "tok-no-kind")
    assert "tok-no-kind" not in str(info.value)
    verify = HttpAuth.parse("S", None, ca_file=ca_file).verify()
    assert isinstance(verify, ssl.SSLContext) and verify.check_hostname


def test_secret_settings_from_files(tmp_path: Path) -> None:
    (tmp_path / "db").write_text("mysql://u:p@db:4000/airdig\n")
    (tmp_path / "tok").write_text("bearer:abc\n")
    s = Settings.load(environ={"AIRDIG_DATABASE_URL_FILE": str(tmp_path / "db"),
                               "AIRDIG_METRICS_AUTH_FILE": str(tmp_path / "tok"), "AIRDIG_TENANT": "t1"})
    assert s.database_url == "mysql://u:p@db:4000/airdig"
    assert reader_auth(s, "metrics").headers() == {"X-Scope-OrgID": "t1", "Authorization": "Bearer abc"}
    cfg = tmp_path / "airdig.yaml"
    cfg.write_text(f"logs_auth_file: {tmp_path / 'tok'}\n")
    assert Settings.load(config_file=cfg, environ={}).logs_auth == "bearer:abc"
    with pytest.raises(ConfigError, match="AIRDIG_CACHE_URL_FILE"):
        Settings.load(environ={"AIRDIG_CACHE_URL_FILE": str(tmp_path / "missing")})
