"""The Compose dev stack against the seed's "Docker Compose" diagram: every service with its port,
dependencies that exist (and wait on health where a probe exists), mounted config files present in the
repo, and AirDig roles wired to the right services."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import COMPOSE

SEED_PORTS = {
    "airdig-ui": 3000, "airdig-engine": 8080, "tidb": 4000, "pd": 2379, "tikv": 20160, "tempo": 3200,
    "prometheus": 9090, "loki": 3100, "grafana": 3001, "kafka": 9092, "zookeeper": 2181, "redis": 6379,
    "minio": 9000,
}
SEED_WORKERS = {"skygraph", "deepdrift"}  # drawn without a port: a CronJob-like loop and a daemon
ROLES = {"airdig-engine": "engine", "airdig-ui": "ui", "tracecore": "tracecore", "pulsesight": "pulsesight",
         "deepdrift": "deepdrift", "skygraph": "skygraph"}
# images without a shell or an HTTP client to probe with (see the comment at the top of the file)
NO_PROBE_TOOL = {"pd", "tikv", "tidb", "tempo", "loki"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


def ports_of(svc: dict[str, Any]) -> set[int]:
    """Container ports a service publishes or exposes."""
    out = set()
    for p in svc.get("ports", []):
        out.add(int(str(p).rsplit(":", 1)[-1].split("/")[0]))
    out.update(int(p) for p in svc.get("expose", []))
    return out


def test_every_seed_service_exists_with_its_port(services: dict[str, dict[str, Any]]) -> None:
    for name, port in SEED_PORTS.items():
        assert name in services, name
        assert port in ports_of(services[name]), f"{name} does not offer :{port}"
    assert set(services) >= SEED_WORKERS
    assert {4317, 4318} <= ports_of(services["tracecore"])
    assert 8081 in ports_of(services["pulsesight"])


def test_published_ports_bind_to_loopback_only(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        for p in svc.get("ports", []):
            assert str(p).startswith("127.0.0.1:"), f"{name} publishes {p} on every interface"


def test_images_are_pinned(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        image = svc["image"]
        tag = image.rsplit(":", 1)[-1] if ":" in image.split("/")[-1] else ""
        if name in ROLES or name == "airdig-migrate":
            assert image == "${AIRDIG_IMAGE:-airdig:dev}" and svc["build"]["dockerfile"] == "Dockerfile"
            continue
        assert tag and tag != "latest", f"{name}: {image} is not pinned"


def test_dependencies_exist_and_wait_for_health_where_there_is_a_probe(
        services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        deps = svc.get("depends_on", {})
        assert isinstance(deps, dict), f"{name}: depends_on needs conditions"
        for dep, cond in deps.items():
            assert dep in services, f"{name} depends on unknown {dep}"
            want = "service_healthy" if "healthcheck" in services[dep] else "service_started"
            if dep == "airdig-migrate":
                want = "service_completed_successfully"
            assert cond["condition"] == want, f"{name} -> {dep}"
    for name, svc in services.items():
        if name not in NO_PROBE_TOOL and name != "airdig-migrate" and name not in SEED_WORKERS:
            assert "healthcheck" in svc, f"{name} has no healthcheck"


def test_seed_edges_are_dependencies(services: dict[str, dict[str, Any]]) -> None:
    def deps(name: str) -> set[str]:
        return set(services[name].get("depends_on", {}))

    assert "airdig-engine" in deps("airdig-ui")
    assert {"kafka", "redis", "airdig-migrate"} <= deps("airdig-engine")
    assert "tidb" in deps("airdig-migrate")
    assert "kafka" in deps("skygraph") and "kafka" in deps("deepdrift")
    assert "pd" in deps("tikv") and "tikv" in deps("tidb")
    assert "zookeeper" in deps("kafka")
    assert "minio" in deps("tempo") and "minio" in deps("loki")
    assert {"prometheus", "loki", "tempo"} <= deps("grafana")


def test_mounted_config_files_exist(services: dict[str, dict[str, Any]]) -> None:
    base = COMPOSE.parent
    mounted = 0
    for name, svc in services.items():
        for vol in svc.get("volumes", []):
            # ${VAR:-default} -> default, then the source of source:target[:mode]
            src = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(vol)).split(":", 1)[0]
            if src.startswith("."):
                assert (base / src).exists(), f"{name} mounts missing {src}"
                mounted += 1
    assert mounted == 6  # prometheus, tempo, loki, grafana configs; tfstate twice


def airdig_env(svc: dict[str, Any]) -> dict[str, str]:
    """The environment as compose resolves it without a .env (``${VAR:-default}`` -> default)."""
    return {k: re.sub(r"^\$\{[A-Z_]+:-(.*)\}$", r"\1", str(v)) for k, v in (svc.get("environment") or {}).items()}


def test_airdig_roles_point_at_the_right_services(services: dict[str, dict[str, Any]]) -> None:
    for name in ("airdig-engine", "skygraph", "deepdrift", "tracecore", "pulsesight", "airdig-migrate"):
        env = airdig_env(services[name])
        assert env["AIRDIG_BUS_URL"] == "kafka://kafka:9092", name
        assert env["AIRDIG_DATA_DIR"] == "/data"
    engine = airdig_env(services["airdig-engine"])
    assert engine["AIRDIG_DATABASE_URL"] == "mysql://root@tidb:4000/airdig"
    assert airdig_env(services["airdig-migrate"])["AIRDIG_DATABASE_URL"] == engine["AIRDIG_DATABASE_URL"]
    assert engine["AIRDIG_CACHE_URL"] == "redis://redis:6379/0"
    assert engine["AIRDIG_TRACES_URL"].startswith("tempo://tempo:3200")
    pulse = airdig_env(services["pulsesight"])
    assert pulse["AIRDIG_METRICS_URL"] == "http://prometheus:9090"
    assert pulse["AIRDIG_LOGS_URL"] == "http://loki:3100"
    assert pulse["AIRDIG_PULSESIGHT_RESOLVER_URL"] == "http://airdig-engine:8080"
    assert pulse["AIRDIG_PULSESIGHT_SECRET"].startswith("${AIRDIG_PULSESIGHT_SECRET:?")
    assert airdig_env(services["airdig-ui"])["AIRDIG_ENGINE_URL"] == "http://airdig-engine:8080"


def test_airdig_commands_are_the_roles(services: dict[str, dict[str, Any]]) -> None:
    assert services["airdig-engine"]["command"][:5] == ["engine", "--host", "0.0.0.0", "--port", "8080"]
    assert "--no-migrate" in services["airdig-engine"]["command"]
    assert services["airdig-ui"]["command"] == ["ui", "--host", "0.0.0.0", "--port", "3000"]
    assert services["tracecore"]["command"][:2] == ["tracecore", "serve"]
    assert services["pulsesight"]["command"][:2] == ["pulsesight", "serve"]
    drift = services["deepdrift"]["command"]
    assert drift[:2] == ["deepdrift", "watch"] and "--interval" in drift and "--state" in drift
    loop = services["skygraph"]["command"][0]
    assert "airdig skygraph scan" in loop and "while" in loop and "sleep" in loop
    assert "airdig db migrate" in services["airdig-migrate"]["command"][0]
    for name in ROLES:
        svc = services[name]
        assert svc["read_only"] is True and svc["cap_drop"] == ["ALL"], name


def test_grafana_datasources_are_provisioned(services: dict[str, dict[str, Any]]) -> None:
    mount = next(v for v in services["grafana"]["volumes"] if "provisioning/datasources" in v)
    folder = COMPOSE.parent / mount.split(":", 1)[0]
    sources = []
    for f in folder.glob("*.yaml"):
        sources += yaml.safe_load(f.read_text())["datasources"]
    by_type = {s["type"]: s["url"] for s in sources}
    assert by_type == {"prometheus": "http://prometheus:9090", "loki": "http://loki:3100",
                       "tempo": "http://tempo:3200"}


def test_prometheus_scrapes_every_airdig_role(services: dict[str, dict[str, Any]]) -> None:
    cfg = yaml.safe_load((COMPOSE.parent / "config" / "prometheus.yml").read_text())
    targets = {t for job in cfg["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    assert {"airdig-engine:8080", "airdig-ui:3000", "tracecore:4318", "pulsesight:8081"} <= targets


def test_tempo_and_loki_store_in_minio(services: dict[str, dict[str, Any]]) -> None:
    tempo = yaml.safe_load((COMPOSE.parent / "config" / "tempo.yaml").read_text())
    assert tempo["storage"]["trace"]["backend"] == "s3"
    assert tempo["storage"]["trace"]["s3"]["endpoint"] == "minio:9000"
    otlp = tempo["distributor"]["receivers"]["otlp"]["protocols"]
    assert otlp["http"]["endpoint"] == "0.0.0.0:4318"  # where AIRDIG_TRACES_URL's otlp= sends spans
    loki = yaml.safe_load((COMPOSE.parent / "config" / "loki.yaml").read_text())
    assert loki["common"]["storage"]["s3"]["endpoint"] == "minio:9000"
    buckets = services["minio"]["command"][0]
    assert tempo["storage"]["trace"]["s3"]["bucket"] in buckets and loki["common"]["storage"]["s3"]["bucketnames"] in buckets


def test_no_secret_is_committed(services: dict[str, dict[str, Any]]) -> None:
    text = COMPOSE.read_text() + "".join(p.read_text() for p in (COMPOSE.parent / "config").rglob("*.y*ml"))
    for m in re.finditer(r"(?im)^\s*([A-Z_]*(PASSWORD|SECRET|SECRET_KEY|ACCESS_KEY)[A-Z_]*):\s*(\S+)", text):
        assert m.group(3).startswith("${"), f"{m.group(1)} has a literal value"
    assert Path(COMPOSE.parent / ".gitignore").read_text().count(".env") >= 1


def test_managed_services_and_their_credentials_come_from_env(services: dict[str, dict[str, Any]]) -> None:
    """Every connector URL and HTTP credential can be set in .env (docs/connect.md), nothing literal."""
    raw = {k: str(v) for k, v in (services["airdig-engine"].get("environment") or {}).items()}
    for var in ("AIRDIG_DATABASE_URL", "AIRDIG_BUS_URL", "AIRDIG_CACHE_URL", "AIRDIG_TRACES_URL",
                "AIRDIG_METRICS_URL", "AIRDIG_LOGS_URL", "AIRDIG_TENANT", "AIRDIG_METRICS_AUTH",
                "AIRDIG_LOGS_AUTH", "AIRDIG_TRACES_AUTH", "AIRDIG_HTTP_CA_FILE"):
        assert raw[var].startswith("${" + var + ":-"), var
    for var in ("AIRDIG_METRICS_AUTH", "AIRDIG_LOGS_AUTH", "AIRDIG_TRACES_AUTH"):
        assert raw[var] == "${" + var + ":-}"
    example = (COMPOSE.parent / ".env.example").read_text()
    assert "AIRDIG_METRICS_AUTH=" in example and "AIRDIG_HTTP_CA_FILE=" in example
