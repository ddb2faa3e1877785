"""The Helm chart against managed services: TLS from an existing Secret, SASL and HTTP credentials from
another, nothing secret rendered — and the URLs it renders are ones the connectors accept."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from airdig.backends.bus.kafka import KafkaBus

from .conftest import CI_VALUES, Render
from .test_chart import env_of, fails, one, pod_spec, workloads

MANAGED = {
    "dataPlatform": {
        "database": {"url": "mysql://airdig@tidb.example.com:4000/airdig", "tls": "verify_identity"},
        "kafka": {"bootstrapServers": "b-1.kafka:9096,b-2.kafka:9096", "securityProtocol": "SASL_SSL",
                  "saslMechanism": "SCRAM-SHA-512", "saslUsername": "airdig",
                  "properties": {"ssl.endpoint.identification.algorithm": "https"}},
        "redis": {"url": "rediss://airdig@cache.example.com:6380/0"},
        "mimir": {"url": "https://mimir.example.com/prometheus"},
        "loki": {"url": "https://loki.example.com"},
    },
    "tls": {"existingSecret": "airdig-ca", "caKey": "ca.crt"},
    "secrets": {"kafkaPasswordKey": "kafka-password", "metricsAuthKey": "mimir-auth", "logsAuthKey": "loki-auth",
                "tracesAuthKey": "tempo-auth"},
}


@pytest.fixture(scope="module")
def managed_values(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("values") / "managed.yaml"
    path.write_text(json.dumps(MANAGED))
    return path


@pytest.fixture(scope="module")
def docs(render: Render, managed_values: Path) -> list[dict[str, Any]]:
    return render(values=[CI_VALUES, managed_values])


def test_database_url_carries_tls_and_the_secret_reference(docs: list[dict[str, Any]]) -> None:
    engine = env_of(pod_spec(one(docs, "Deployment", "rel-airdig-engine"))["containers"][0])
    assert engine["AIRDIG_DATABASE_URL"]["value"] == (
        "mysql://airdig:$(AIRDIG_SECRET_DATABASE_PASSWORD)@tidb.example.com:4000/airdig"
        "?ssl_mode=verify_identity&ssl_ca=/etc/airdig/tls/ca.crt")
    assert engine["AIRDIG_CACHE_URL"]["value"] == (
        "rediss://airdig:$(AIRDIG_SECRET_REDIS_PASSWORD)@cache.example.com:6380/0?ssl_ca=/etc/airdig/tls/ca.crt")
    assert engine["AIRDIG_TRACES_AUTH"]["valueFrom"]["secretKeyRef"] == {"name": "airdig-credentials",
                                                                         "key": "tempo-auth"}


def test_every_role_gets_sasl_ssl_and_the_ca(docs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    for w in workloads(docs):
        spec = pod_spec(w)
        c = spec["containers"][0]
        env = env_of(c)
        role = w["metadata"]["labels"]["app.kubernetes.io/component"]
        url = env["AIRDIG_BUS_URL"]["value"]
        assert "security.protocol=SASL_SSL&sasl.mechanism=SCRAM-SHA-512&sasl.username=airdig" in url, role
        assert "sasl.password_env=AIRDIG_SECRET_KAFKA_PASSWORD" in url and "ssl.ca.location=/etc/airdig/tls/ca.crt" in url
        assert env["AIRDIG_SECRET_KAFKA_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "kafka-password"
        assert {"name": "tls", "mountPath": "/etc/airdig/tls", "readOnly": True} in c["volumeMounts"], role
        assert {"name": "tls", "secret": {"secretName": "airdig-ca", "defaultMode": 0o444}} in spec["volumes"], role
        # the rendered URL is one the Kafka bus accepts, the password coming from the referenced variable
        monkeypatch.setenv("AIRDIG_SECRET_KAFKA_PASSWORD", "from-the-secret")
        props = KafkaBus(url).properties
        assert props["sasl.password"] == "from-the-secret" and props["ssl.endpoint.identification.algorithm"] == "https"


def test_http_readers_get_credentials_and_ca(docs: list[dict[str, Any]]) -> None:
    ps = env_of(pod_spec(one(docs, "Deployment", "rel-airdig-pulsesight"))["containers"][0])
    assert ps["AIRDIG_METRICS_AUTH"]["valueFrom"]["secretKeyRef"]["key"] == "mimir-auth"
    assert ps["AIRDIG_LOGS_AUTH"]["valueFrom"]["secretKeyRef"]["key"] == "loki-auth"
    assert ps["AIRDIG_HTTP_CA_FILE"]["value"] == "/etc/airdig/tls/ca.crt"
    assert ps["AIRDIG_TENANT"]["value"] == "airdig"


def test_nothing_secret_is_rendered(docs: list[dict[str, Any]]) -> None:
    for w in workloads(docs):
        for e in pod_spec(w)["containers"][0].get("env", []):
            if "value" in e:
                # AIRDIG_TOKEN_STORE (on/off) and AIRDIG_TOKENS_FILE (a path) name no credential
                assert e["name"] in ("AIRDIG_TOKEN_STORE", "AIRDIG_TOKENS_FILE") or \
                    not re.search(r"PASSWORD|SECRET|TOKEN|_AUTH$", e["name"]), e
                assert "from-the-secret" not in e["value"]
            else:
                assert e["valueFrom"]["secretKeyRef"]["name"] == "airdig-credentials"


def test_bad_tls_values_are_refused(render: Render, managed_values: Path) -> None:
    values = [CI_VALUES, managed_values]
    assert "dataPlatform.database.tls must be" in fails(render, "dataPlatform.database.tls=sometimes", values=values)
    assert "securityProtocol must be" in fails(render, "dataPlatform.kafka.securityProtocol=TLS", values=values)
    assert "looks like a credential" in fails(render, "dataPlatform.kafka.properties.sasl\\.password=x",
                                              values=values)
    assert "region is required" in fails(render, "dataPlatform.kafka.saslMechanism=AWS_MSK_IAM", values=values)
