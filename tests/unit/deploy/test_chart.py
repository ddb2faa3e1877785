"""The Helm chart, rendered by a real helm, against the seed's Kubernetes diagram
(/work/shared/seed/deployment-architecture.md; DESIGN.md "Deployment")."""

from __future__ import annotations

import json
import re
import stat
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest

from airdig.engine.metrics import EngineMetrics
from airdig.skygraph.k8s.transform import KINDS

from .conftest import CHART, CI_VALUES, KUBE_VERSION, Render

pytestmark = pytest.mark.timeout(900)  # the first test may wait for the one-time helm build

Docs = list[dict[str, Any]]
IMAGE = "airdig/airdig:0.1.0"
READ_ONLY = {"get", "list", "watch"}


def find(docs: Docs, kind: str) -> Docs:
    return [d for d in docs if d["kind"] == kind]


def one(docs: Docs, kind: str, name: str) -> dict[str, Any]:
    found = [d for d in find(docs, kind) if d["metadata"]["name"] == name]
    if len(found) != 1:
        have = sorted(f"{d['kind']}/{d['metadata']['name']}" for d in docs)
        raise LookupError(f"expected one {kind}/{name}, found {len(found)}; rendered: {have}")
    return found[0]


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    if doc["kind"] == "CronJob":
        return dict(doc["spec"]["jobTemplate"]["spec"]["template"]["spec"])
    return dict(doc["spec"]["template"]["spec"])


def workloads(docs: Docs) -> Docs:
    return [d for d in docs if d["kind"] in ("Deployment", "Job", "CronJob")]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def fails(render: Render, *sets: str, values: Sequence[Path] = (CI_VALUES,)) -> str:
    with pytest.raises(subprocess.CalledProcessError) as err:
        render(*sets, values=values)
    return str(err.value.output)


# ------------------------------------------------------------------ lint and structure


def test_helm_lint_strict_passes(helm_run: Callable[[Sequence[str]], str]) -> None:
    out = helm_run(["lint", str(CHART), "--strict", "-f", str(CI_VALUES), "--kube-version", KUBE_VERSION])
    assert "1 chart(s) linted, 0 chart(s) failed" in out


def test_every_seed_component_is_rendered(docs: Docs) -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    expected = {
        ("Deployment", "rel-airdig-ui"), ("Deployment", "rel-airdig-engine"),
        ("Deployment", "rel-airdig-deepdrift"), ("Deployment", "rel-airdig-tracecore"),
        ("Deployment", "rel-airdig-pulsesight"), ("CronJob", "rel-airdig-skygraph"),
        ("Service", "rel-airdig-ui"), ("Service", "rel-airdig-engine"),
        ("HorizontalPodAutoscaler", "rel-airdig-ui"), ("HorizontalPodAutoscaler", "rel-airdig-engine"),
        ("ClusterRole", "rel-airdig-skygraph"), ("ClusterRoleBinding", "rel-airdig-skygraph"),
        ("Job", "rel-airdig-migrate"),
    }
    assert expected <= kinds
    # the data platform is not part of this chart (docs/deploy.md): no StatefulSet, no Secret
    assert not find(docs, "StatefulSet")
    assert not find(docs, "Secret")


def test_services_are_cluster_ip_on_the_seed_ports_and_select_their_pods(docs: Docs) -> None:
    ports = {d["metadata"]["name"]: {p["port"] for p in d["spec"]["ports"]} for d in find(docs, "Service")}
    assert ports == {
        "rel-airdig-ui": {3000}, "rel-airdig-engine": {8080},
        "rel-airdig-tracecore": {4317, 4318}, "rel-airdig-pulsesight": {8081},
    }
    for svc in find(docs, "Service"):
        assert svc["spec"]["type"] == "ClusterIP"
        dep = one(docs, "Deployment", svc["metadata"]["name"])
        pod_labels = dep["spec"]["template"]["metadata"]["labels"]
        assert svc["spec"]["selector"].items() <= pod_labels.items()
        named = {p["name"] for c in pod_spec(dep)["containers"] for p in c.get("ports", [])}
        assert {p["targetPort"] for p in svc["spec"]["ports"]} <= named


# ------------------------------------------------------------------ ingress (network flow)


def ingress_routes(docs: Docs) -> dict[str, tuple[str, int]]:
    routes = {}
    for ing in find(docs, "Ingress"):
        for rule in ing["spec"]["rules"]:
            for p in rule["http"]["paths"]:
                svc = p["backend"]["service"]
                routes[p["path"]] = (svc["name"], svc["port"]["number"])
                assert p["pathType"] == "Prefix"
    return routes


def test_ingress_routes_root_to_ui_and_api_graphql_to_engine(docs: Docs) -> None:
    assert ingress_routes(docs) == {
        "/": ("rel-airdig-ui", 3000),
        "/api": ("rel-airdig-engine", 8080),
        "/graphql": ("rel-airdig-engine", 8080),
    }
    for ing in find(docs, "Ingress"):
        assert ing["spec"]["ingressClassName"] == "nginx"
        assert ing["spec"]["rules"][0]["host"] == "airdig.example.com"
        assert ing["spec"]["tls"] == [{"secretName": "airdig-tls", "hosts": ["airdig.example.com"]}]


def test_graphql_ingress_is_websocket_friendly_on_nginx(docs: Docs) -> None:
    gql = one(docs, "Ingress", "rel-airdig-graphql")
    ann = gql["metadata"]["annotations"]
    assert ann["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "3600"
    assert ann["nginx.ingress.kubernetes.io/proxy-send-timeout"] == "3600"
    main = one(docs, "Ingress", "rel-airdig")
    assert "nginx.ingress.kubernetes.io/proxy-read-timeout" not in (main["metadata"].get("annotations") or {})


def test_ingress_class_is_configurable_for_traefik(render: Render) -> None:
    docs = render("ingress.className=traefik")
    for ing in find(docs, "Ingress"):
        assert ing["spec"]["ingressClassName"] == "traefik"
        assert not any(k.startswith("nginx.") for k in (ing["metadata"].get("annotations") or {}))
    assert set(ingress_routes(docs)) == {"/", "/api", "/graphql"}


# ------------------------------------------------------------------ scaling


def metric_targets(hpa: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    out = {}
    for m in hpa["spec"]["metrics"]:
        body = m[m["type"].lower()]
        name = body["name"] if m["type"] == "Resource" else body["metric"]["name"]
        target = body["target"]
        value = target.get("averageUtilization", target.get("averageValue", target.get("value")))
        out[f"{m['type']}:{name}"] = (target["type"], value)
    return out


def test_ui_hpa_2_to_10_on_cpu_70(docs: Docs) -> None:
    hpa = one(docs, "HorizontalPodAutoscaler", "rel-airdig-ui")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "rel-airdig-ui"}
    assert metric_targets(hpa) == {"Resource:cpu": ("Utilization", 70)}


def test_engine_hpa_3_to_20_on_cpu_memory_and_kafka_lag(docs: Docs) -> None:
    hpa = one(docs, "HorizontalPodAutoscaler", "rel-airdig-engine")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 20)
    assert metric_targets(hpa) == {
        "Resource:cpu": ("Utilization", 70),
        "Resource:memory": ("Utilization", 80),
        "Pods:airdig_engine_consumer_lag_total": ("AverageValue", "1000"),
    }
    # HPA-managed: the Deployment must not pin replicas (it would fight the autoscaler on upgrades)
    assert "replicas" not in one(docs, "Deployment", "rel-airdig-engine")["spec"]
    assert "replicas" not in one(docs, "Deployment", "rel-airdig-ui")["spec"]


def test_lag_metric_name_is_what_the_engine_exports() -> None:
    exposition = generate_latest(EngineMetrics().registry).decode()
    assert re.search(r"^airdig_engine_consumer_lag_total ", exposition, re.M), exposition


def test_engine_lag_can_be_an_external_metric(render: Render) -> None:
    hpa = one(render("engine.autoscaling.kafkaLag.metricType=External"), "HorizontalPodAutoscaler",
              "rel-airdig-engine")
    ext = [m for m in hpa["spec"]["metrics"] if m["type"] == "External"]
    assert len(ext) == 1
    assert ext[0]["external"]["metric"]["name"] == "airdig_engine_consumer_lag_total"
    assert ext[0]["external"]["target"] == {"type": "AverageValue", "averageValue": "1000"}


def test_keda_replaces_the_engine_hpa_with_a_kafka_lag_trigger(render: Render) -> None:
    docs = render("engine.autoscaling.keda.enabled=true")
    assert [h["metadata"]["name"] for h in find(docs, "HorizontalPodAutoscaler")] == ["rel-airdig-ui"]
    so = one(docs, "ScaledObject", "rel-airdig-engine")
    assert so["apiVersion"] == "keda.sh/v1alpha1"
    assert so["spec"]["scaleTargetRef"]["name"] == "rel-airdig-engine"
    assert (so["spec"]["minReplicaCount"], so["spec"]["maxReplicaCount"]) == (3, 20)
    triggers = {t["type"]: t for t in so["spec"]["triggers"]}
    assert triggers["cpu"]["metadata"]["value"] == "70"
    assert triggers["memory"]["metadata"]["value"] == "80"
    kafka = triggers["kafka"]["metadata"]
    assert kafka["lagThreshold"] == "1000"
    engine = pod_spec(one(docs, "Deployment", "rel-airdig-engine"))["containers"][0]
    env = env_of(engine)
    assert kafka["consumerGroup"] == env["AIRDIG_CONSUMER_GROUP"]["value"]
    assert env["AIRDIG_BUS_URL"]["value"].startswith(f"kafka://{kafka['bootstrapServers']}?")
    assert "replicas" not in one(docs, "Deployment", "rel-airdig-engine")["spec"]


def test_fixed_replicas_when_autoscaling_is_off(render: Render) -> None:
    docs = render("engine.autoscaling.enabled=false", "ui.autoscaling.enabled=false", "engine.replicas=4")
    assert not find(docs, "HorizontalPodAutoscaler")
    assert one(docs, "Deployment", "rel-airdig-engine")["spec"]["replicas"] == 4
    assert one(docs, "Deployment", "rel-airdig-ui")["spec"]["replicas"] == 2


# ------------------------------------------------------------------ SkyGraph CronJob


def run_scan_script(cron: dict[str, Any], index: int, tmp_path: Path) -> list[str]:
    """Run the CronJob's shell script for one completion index with a stand-in `airdig` that records
    its arguments: the argv each scope's pod would execute."""
    container = pod_spec(cron)["containers"][0]
    assert container["command"] == ["/bin/sh", "-c"]
    fake = tmp_path / "airdig"
    fake.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done > "$ARGV_OUT"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    out = tmp_path / f"argv{index}"
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "JOB_COMPLETION_INDEX": str(index), "ARGV_OUT": str(out)}
    proc = subprocess.run(["/bin/sh", "-c", container["args"][0]], env=env, capture_output=True, text=True,
                          timeout=10, check=False)
    if proc.returncode != 0:
        return ["exit", str(proc.returncode), proc.stderr.strip()]
    return out.read_text().splitlines()


def test_skygraph_cronjob_runs_one_scan_per_scope(docs: Docs, tmp_path: Path) -> None:
    cron = one(docs, "CronJob", "rel-airdig-skygraph")
    spec = cron["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    job = spec["jobTemplate"]["spec"]
    assert job["completionMode"] == "Indexed"
    assert job["completions"] == 2
    assert 1 <= job["parallelism"] <= 5
    assert pod_spec(cron)["restartPolicy"] == "Never"
    assert run_scan_script(cron, 0, tmp_path) == ["skygraph", "scan", "--no-k8s"]
    assert run_scan_script(cron, 1, tmp_path) == ["skygraph", "scan", "--no-aws"]
    assert run_scan_script(cron, 2, tmp_path)[:2] == ["exit", "2"]


def test_skygraph_scope_args_survive_shell_quoting(render: Render, tmp_path: Path) -> None:
    tricky = ["--tfstate", "s3://b/it's $HOME/*.tfstate", "--regions", "us-east-1;rm -rf /"]
    values = tmp_path / "scopes.yaml"
    values.write_text(json.dumps({"skygraph": {"parallelism": 5, "scopes": [
        {"name": "tf", "args": tricky}, {"name": "k8s", "args": ["--no-aws", "--cluster-name", "prod"]},
        {"name": "eu", "args": ["--no-k8s", "--regions", "eu-west-1"]}]}}))
    cron = one(render(values=[CI_VALUES, values]), "CronJob", "rel-airdig-skygraph")
    job = cron["spec"]["jobTemplate"]["spec"]
    assert (job["completions"], job["parallelism"]) == (3, 5)
    assert run_scan_script(cron, 0, tmp_path) == ["skygraph", "scan", *tricky]
    assert run_scan_script(cron, 1, tmp_path) == ["skygraph", "scan", "--no-aws", "--cluster-name", "prod"]
    assert run_scan_script(cron, 2, tmp_path) == ["skygraph", "scan", "--no-k8s", "--regions", "eu-west-1"]


@pytest.mark.parametrize("parallelism", ["0", "6"])
def test_skygraph_parallelism_outside_1_to_5_is_rejected(render: Render, parallelism: str) -> None:
    out = fails(render, f"skygraph.parallelism={parallelism}")
    assert "parallelism" in out


def test_skygraph_keeps_its_previous_graph_on_a_volume(docs: Docs) -> None:
    cron = one(docs, "CronJob", "rel-airdig-skygraph")
    vols = {v["name"]: v for v in pod_spec(cron)["volumes"]}
    assert vols["data"]["persistentVolumeClaim"]["claimName"] == "rel-airdig-skygraph"
    one(docs, "PersistentVolumeClaim", "rel-airdig-skygraph")


# ------------------------------------------------------------------ availability


def test_pdbs_protect_every_long_running_replicated_role(docs: Docs) -> None:
    pdbs = {d["metadata"]["name"]: d["spec"] for d in find(docs, "PodDisruptionBudget")}
    assert set(pdbs) == {"rel-airdig-ui", "rel-airdig-engine", "rel-airdig-tracecore", "rel-airdig-pulsesight"}
    assert pdbs["rel-airdig-engine"]["minAvailable"] == 2
    assert pdbs["rel-airdig-ui"]["minAvailable"] == 1
    for name, spec in pdbs.items():
        labels = one(docs, "Deployment", name)["spec"]["template"]["metadata"]["labels"]
        assert spec["selector"]["matchLabels"].items() <= labels.items()


@pytest.mark.parametrize("role", ["ui", "engine"])
def test_ui_and_engine_spread_across_zones(docs: Docs, role: str) -> None:
    dep = one(docs, "Deployment", f"rel-airdig-{role}")
    constraints = pod_spec(dep)["topologySpreadConstraints"]
    zone = [c for c in constraints if c["topologyKey"] == "topology.kubernetes.io/zone"]
    assert len(zone) == 1
    assert zone[0]["maxSkew"] == 1
    assert zone[0]["labelSelector"]["matchLabels"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()


# ------------------------------------------------------------------ probes


HTTP_ROLES = {"engine": 8080, "ui": 3000, "tracecore": 4318, "pulsesight": 8081}


def test_every_serving_role_probes_healthz_and_readyz_on_its_port(docs: Docs) -> None:
    seen = set()
    for dep in find(docs, "Deployment"):
        role = dep["metadata"]["labels"]["app.kubernetes.io/component"]
        container = pod_spec(dep)["containers"][0]
        if role == "deepdrift":
            # a daemon without a listener (`deepdrift watch` has no --port): an exec probe on its heartbeat
            assert "readinessProbe" not in container and "httpGet" not in container["livenessProbe"]
            assert not container.get("ports")
            continue
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        live, ready = container["livenessProbe"]["httpGet"], container["readinessProbe"]["httpGet"]
        assert (live["path"], ready["path"]) == ("/healthz", "/readyz")
        assert ports[live["port"]] == ports[ready["port"]] == HTTP_ROLES[role]
        seen.add(role)
    assert seen == set(HTTP_ROLES)


def test_role_commands_listen_on_the_probed_ports(docs: Docs) -> None:
    args = {d["metadata"]["labels"]["app.kubernetes.io/component"]: pod_spec(d)["containers"][0]["args"]
            for d in find(docs, "Deployment")}
    assert args["engine"][:5] == ["engine", "--host", "0.0.0.0", "--port", "8080"]
    assert args["engine"][-2:] == ["--intel-workers", "2"]  # root causes in worker processes
    assert args["ui"][:5] == ["ui", "--host", "0.0.0.0", "--port", "3000"]
    assert args["ui"][5:] == ["--engine-url", "http://rel-airdig-engine:8080"]
    assert args["tracecore"] == ["tracecore", "serve", "--host", "0.0.0.0", "--otlp-grpc-port", "4317",
                                 "--otlp-http-port", "4318"]
    assert args["pulsesight"] == ["pulsesight", "serve", "--host", "0.0.0.0", "--port", "8081"]
    assert args["deepdrift"][:2] == ["deepdrift", "watch"]
    assert "--state" in args["deepdrift"] and "--interval" in args["deepdrift"]


def test_deepdrift_liveness_probe_reads_the_heartbeat_the_watch_loop_writes(docs: Docs, tmp_path: Path) -> None:
    """The rendered exec probe, run as the kubelet would: alive while the real watch loop beats, dead
    once the beat is older than ``deepdrift.livenessMaxAgeSeconds``."""
    import os
    import sys
    import time

    from airdig.deepdrift.watch import run

    dep = one(docs, "Deployment", "rel-airdig-deepdrift")
    container = pod_spec(dep)["containers"][0]
    args = container["args"]
    beat_path = args[args.index("--heartbeat") + 1]
    command = container["livenessProbe"]["exec"]["command"]
    assert command[0] == "python" and command[-2] == beat_path and command[-1] == "1800"
    heartbeat = tmp_path / "deepdrift.heartbeat"

    def probe() -> int:
        return subprocess.run([sys.executable, *command[1:-2], str(heartbeat), command[-1]],
                              check=False, timeout=30).returncode

    assert probe() != 0  # no heartbeat yet

    class _Watcher:  # the cycle itself is not under test here: the loop's beat is
        def cycle(self, result: object) -> None:
            return None

    # drive the real loop for one cycle and two heartbeat sleeps, then stop it
    calls: list[float] = []

    def sleep(seconds: float) -> None:
        calls.append(seconds)
        if len(calls) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(_Watcher(), lambda: None, interval=25.0, once=False, sleep=sleep,  # type: ignore[arg-type, return-value]
            heartbeat=heartbeat)
    assert calls == [10.0, 10.0, 5.0]  # the beat comes every 10 s between cycles
    assert probe() == 0
    old = time.time() - 1801
    os.utime(heartbeat, (old, old))
    assert probe() != 0


# ------------------------------------------------------------------ RBAC


def api_path(group: str, resource: str) -> str:
    return f"/api/v1/{resource}" if group == "" else f"/apis/{group}/{resource}"


def _granted(role: dict[str, Any]) -> dict[str, set[str]]:
    """``{"<group>/<resource>": verbs}`` over every rule of a rendered ClusterRole."""
    granted: dict[str, set[str]] = {}
    for rule in role["rules"]:
        for group in rule.get("apiGroups", []):
            for res in rule.get("resources", []):
                granted.setdefault(f"{group}/{res}", set()).update(rule["verbs"])
    return granted


def test_scanner_clusterrole_is_read_only_and_covers_every_listed_kind(docs: Docs) -> None:
    role = one(docs, "ClusterRole", "rel-airdig-skygraph")
    for rule in role["rules"]:
        assert set(rule["verbs"]) <= READ_ONLY, rule
        assert "*" not in rule["resources"] and "*" not in rule["apiGroups"]
        assert not rule.get("nonResourceURLs") and not rule.get("resourceNames"), rule
    granted = _granted(role)
    # every list path the scanner reads (airdig/skygraph/k8s/transform.py KINDS) is readable
    wanted = set()
    for kind in KINDS:
        parts = kind.path.strip("/").split("/")
        group = "" if parts[0] == "api" else parts[1]
        wanted.add(f"{group}/{parts[-1]}")
        assert granted.get(f"{group}/{parts[-1]}") == READ_ONLY, kind.path
    # and nothing else: least privilege
    assert set(granted) == wanted


def test_no_rule_grants_secrets(docs: Docs) -> None:
    roles = [d for d in docs if d["kind"] in ("ClusterRole", "Role")]
    assert roles  # the scanner's ClusterRole is rendered, so the check below checks something
    for doc in roles:
        for rule in doc.get("rules", []):
            assert "secrets" not in rule.get("resources", []), (doc["metadata"]["name"], rule)
            assert "*" not in rule.get("resources", []), (doc["metadata"]["name"], rule)
    assert "Secret" not in {k.api_kind for k in KINDS}  # the scanner never lists them either


def test_the_removed_list_secrets_setting_is_refused(render: Render) -> None:
    with pytest.raises(subprocess.CalledProcessError) as err:
        render("rbac.listSecrets=true")
    assert "rbac.listSecrets was removed" in str(err.value.output)


def test_only_the_scanner_gets_an_api_token(docs: Docs) -> None:
    binding = one(docs, "ClusterRoleBinding", "rel-airdig-skygraph")
    assert binding["roleRef"]["name"] == "rel-airdig-skygraph"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "rel-airdig-skygraph", "namespace": "airdig"}]
    cron = pod_spec(one(docs, "CronJob", "rel-airdig-skygraph"))
    assert cron["serviceAccountName"] == "rel-airdig-skygraph"
    for dep in find(docs, "Deployment") + find(docs, "Job"):
        spec = pod_spec(dep)
        assert spec.get("serviceAccountName") != "rel-airdig-skygraph"
        assert spec["automountServiceAccountToken"] is False


# ------------------------------------------------------------------ migrations


def test_db_migrate_runs_as_pre_install_and_pre_upgrade_hook(docs: Docs) -> None:
    job = one(docs, "Job", "rel-airdig-migrate")
    ann = job["metadata"]["annotations"]
    assert set(ann["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    assert pod_spec(job)["containers"][0]["args"] == ["db", "migrate"]
    assert "AIRDIG_DATABASE_URL" in env_of(pod_spec(job)["containers"][0])
    engine = pod_spec(one(docs, "Deployment", "rel-airdig-engine"))["containers"][0]
    assert "--no-migrate" in engine["args"]


def test_db_prune_runs_on_a_schedule_with_the_retention_policy(render: Render) -> None:
    docs = render("prune.retention=changes=30\\,applied_events=7")
    cron = one(docs, "CronJob", "rel-airdig-prune")
    assert cron["spec"]["schedule"] == "17 3 * * *" and cron["spec"]["concurrencyPolicy"] == "Forbid"
    spec = pod_spec(cron)
    assert spec["automountServiceAccountToken"] is False
    container = spec["containers"][0]
    assert container["args"] == ["db", "prune"]
    env = env_of(container)
    assert env["AIRDIG_DATABASE_URL"]["value"].startswith("mysql://airdig:$(AIRDIG_SECRET_DATABASE_PASSWORD)@")
    assert env["AIRDIG_RETENTION"]["value"] == "changes=30,applied_events=7"
    assert not [d for d in render("prune.enabled=false") if d["metadata"]["name"] == "rel-airdig-prune"]


# ------------------------------------------------------------------ settings, secrets, image, security


def test_roles_point_at_the_external_data_platform(docs: Docs) -> None:
    env = {d["metadata"]["labels"]["app.kubernetes.io/component"]: env_of(pod_spec(d)["containers"][0])
           for d in workloads(docs)}
    engine = env["engine"]
    assert engine["AIRDIG_DATABASE_URL"]["value"] == \
        "mysql://airdig:$(AIRDIG_SECRET_DATABASE_PASSWORD)@basic-tidb.tidb:4000/airdig"
    assert engine["AIRDIG_CACHE_URL"]["value"] == "redis://:$(AIRDIG_SECRET_REDIS_PASSWORD)@redis-master.redis:6379/0"
    assert engine["AIRDIG_TRACES_URL"]["value"].startswith("tempo://tempo-query-frontend.tempo:3200")
    assert env["tracecore"]["AIRDIG_TRACES_URL"] == engine["AIRDIG_TRACES_URL"]
    assert env["pulsesight"]["AIRDIG_METRICS_URL"]["value"] == "http://mimir-nginx.mimir/prometheus"
    assert env["pulsesight"]["AIRDIG_LOGS_URL"]["value"] == "http://loki-gateway.loki"
    assert env["pulsesight"]["AIRDIG_PULSESIGHT_RESOLVER_URL"]["value"] == "http://rel-airdig-engine:8080"
    for role, e in env.items():
        assert e["AIRDIG_BUS_URL"]["value"].startswith("kafka://airdig-kafka-kafka-bootstrap.kafka:9092?"), role
        assert e["AIRDIG_DATA_DIR"]["value"] == "/data"
        if role not in ("engine", "migrate", "prune", "tracecore"):  # tracecore: the token store
            assert "AIRDIG_DATABASE_URL" not in e, f"{role} does not need the database credentials"
        # $(VAR) references resolve only to variables defined earlier in the same container
        names = list(e)
        for i, item in enumerate(e.values()):
            for ref in re.findall(r"\$\(([A-Z_]+)\)", item.get("value", "")):
                assert ref in names[:i], f"{role}: {item['name']} uses $({ref}) before it is defined"


def test_no_secret_value_is_rendered(docs: Docs) -> None:
    sensitive = re.compile(r"PASSWORD|SECRET|TOKEN", re.I)
    not_secret = {"AIRDIG_TOKEN_STORE", "AIRDIG_TOKENS_FILE"}  # on/off and a path, not credentials
    for w in workloads(docs):
        for c in pod_spec(w)["containers"]:
            for e in c.get("env", []):
                if "value" in e:
                    assert e["name"] in not_secret or not sensitive.search(e["name"]), \
                        f"{e['name']} is rendered as a plain value"
                    # credentials inside URLs come only from $(VAR) references
                    m = re.match(r"^[a-z+]+://([^/@]*)@", e["value"])
                    if m and ":" in m.group(1):
                        assert re.fullmatch(r"[^:]*:\$\([A-Z_]+\)", m.group(1)), e
                else:
                    assert e["valueFrom"]["secretKeyRef"]["name"] == "airdig-credentials"


def test_tracecore_checks_bearer_tokens_from_the_store_or_a_mounted_secret(docs: Docs, render: Render) -> None:
    """Standalone TraceCore with auth on needs a token source (docs/edge.md): by default the engine's
    tokens in the database; or a key of the existing Secret mounted read-only as AIRDIG_TOKENS_FILE."""
    spec = pod_spec(one(docs, "Deployment", "rel-airdig-tracecore"))
    env = env_of(spec["containers"][0])
    assert env["AIRDIG_TOKEN_STORE"]["value"] == "on"
    assert env["AIRDIG_DATABASE_URL"]["value"] == \
        "mysql://airdig:$(AIRDIG_SECRET_DATABASE_PASSWORD)@basic-tidb.tidb:4000/airdig"
    assert "AIRDIG_TOKENS_FILE" not in env

    spec = pod_spec(one(render("tracecore.auth.tokenStore=false", "tracecore.auth.tokensFileKey=otlp-tokens"),
                        "Deployment", "rel-airdig-tracecore"))
    container = spec["containers"][0]
    env = env_of(container)
    assert "AIRDIG_TOKEN_STORE" not in env and "AIRDIG_DATABASE_URL" not in env
    assert env["AIRDIG_TOKENS_FILE"]["value"] == "/etc/airdig/tokens/otlp-tokens"
    mount = {m["name"]: m for m in container["volumeMounts"]}["tokens"]
    assert mount == {"name": "tokens", "mountPath": "/etc/airdig/tokens", "readOnly": True}
    volume = {v["name"]: v for v in spec["volumes"]}["tokens"]["secret"]
    assert volume["secretName"] == "airdig-credentials"
    assert volume["items"] == [{"key": "otlp-tokens", "path": "otlp-tokens"}]
    engine = pod_spec(one(render("tracecore.auth.tokensFileKey=otlp-tokens"), "Deployment", "rel-airdig-engine"))
    assert "tokens" not in {v["name"] for v in engine["volumes"]}  # only tracecore sees them

    assert "tracecore.auth.tokenStore=true and/or tracecore.auth.tokensFileKey" in \
        fails(render, "tracecore.auth.tokenStore=false")


def test_a_password_in_a_url_value_is_refused(render: Render) -> None:
    out = fails(render, "dataPlatform.database.url=mysql://airdig:hunter2@tidb:4000/airdig")
    assert "must not hold a password" in out
    assert "hunter2" not in out.replace("mysql://airdig:hunter2@tidb:4000/airdig", "")


def test_defaults_require_the_data_platform_and_secrets(render: Render, tmp_path: Path) -> None:
    assert "bootstrapServers is required" in fails(render, values=[])
    partial = tmp_path / "v.yaml"
    partial.write_text(json.dumps({"dataPlatform": {"database": {"url": "mysql://a@tidb:4000/a"},
                                                    "kafka": {"bootstrapServers": "k:9092"}},
                                   "deepdrift": {"states": ["s3://b/k"]}}))
    assert "secrets.existingSecret" in fails(render, values=[partial])
    assert "deepdrift.states is required" in fails(render, "deepdrift.states=null")


def test_every_container_runs_the_one_pinned_airdig_image(docs: Docs, render: Render) -> None:
    images = {c["image"] for w in workloads(docs) for c in pod_spec(w)["containers"] + pod_spec(w).get(
        "initContainers", [])}
    assert images == {IMAGE}
    digest = "sha256:" + "a" * 64
    pinned = render(f"image.digest={digest}")
    assert {c["image"] for w in workloads(pinned) for c in pod_spec(w)["containers"]} == {f"airdig/airdig@{digest}"}
    assert "latest" in fails(render, "image.tag=latest")


def test_pods_are_non_root_read_only_with_writable_tmp_and_data(docs: Docs) -> None:
    for w in workloads(docs):
        spec = pod_spec(w)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 10001
        vols = {v["name"] for v in spec["volumes"]}
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
            assert {"/tmp", "/data"} <= set(mounts)
            assert set(mounts.values()) <= vols
            assert {"cpu", "memory"} <= set(c["resources"]["requests"]) and {"cpu", "memory"} <= set(
                c["resources"]["limits"])


def test_environment_names_match_the_settings_module(docs: Docs) -> None:
    from airdig.settings import SETTINGS

    known = {s.env for s in SETTINGS} | {
        "AIRDIG_ENGINE_URL", "AIRDIG_API_TOKEN", "AIRDIG_PULSESIGHT_SECRET", "AIRDIG_PULSESIGHT_RESOLVER_URL",
        "AIRDIG_PULSESIGHT_RESOLVER_TOKEN"}
    helpers = {"AIRDIG_SECRET_DATABASE_PASSWORD", "AIRDIG_SECRET_REDIS_PASSWORD"}  # spliced into URLs only
    for w in workloads(docs):
        for c in pod_spec(w)["containers"]:
            for e in c["env"]:
                assert e["name"] in known | helpers, f"{e['name']} is not a setting AirDig reads"


def test_tls_serve_makes_every_listener_https_with_the_mounted_secret(render: Render) -> None:
    """tls.serve: each serving role gets AIRDIG_TLS_CERT_FILE/KEY from tls.existingSecret; the UI, PulseSight
    and DeepDrift call the engine over https, trusting the CA key; probes and the NGINX ingress speak HTTPS."""
    docs = render("tls.existingSecret=airdig-tls", "tls.serve=true", "ingress.enabled=true",
                  "ingress.className=nginx")
    for role in ("engine", "ui", "tracecore", "pulsesight"):
        container = pod_spec(one(docs, "Deployment", f"rel-airdig-{role}"))["containers"][0]
        env = env_of(container)
        assert env["AIRDIG_TLS_CERT_FILE"]["value"] == "/etc/airdig/tls/tls.crt", role
        assert env["AIRDIG_TLS_KEY_FILE"]["value"] == "/etc/airdig/tls/tls.key", role
        assert {"name": "tls", "mountPath": "/etc/airdig/tls", "readOnly": True} in container["volumeMounts"]
        assert container["readinessProbe"]["httpGet"]["scheme"] == "HTTPS", role
        assert container["livenessProbe"]["httpGet"]["scheme"] == "HTTPS", role
    ui = pod_spec(one(docs, "Deployment", "rel-airdig-ui"))["containers"][0]
    assert "https://rel-airdig-engine:8080" in ui["args"]
    assert env_of(ui)["AIRDIG_HTTP_CA_FILE"]["value"] == "/etc/airdig/tls/ca.crt"
    ps = env_of(pod_spec(one(docs, "Deployment", "rel-airdig-pulsesight"))["containers"][0])
    assert ps["AIRDIG_PULSESIGHT_RESOLVER_URL"]["value"] == "https://rel-airdig-engine:8080"
    for ing in find(docs, "Ingress"):
        assert ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/backend-protocol"] == "HTTPS"

    plain = render()
    engine = pod_spec(one(plain, "Deployment", "rel-airdig-engine"))["containers"][0]
    assert "AIRDIG_TLS_CERT_FILE" not in env_of(engine)
    assert engine["readinessProbe"]["httpGet"]["scheme"] == "HTTP"
    assert "tls.serve needs tls.existingSecret" in fails(render, "tls.serve=true")


def test_skygraph_follow_runs_with_the_scanners_account_state_and_probes(render: Render) -> None:
    """skygraph.follow: one `airdig skygraph follow` replica on the queue, with the scanner's service account
    (it describes the cloud), the scans' graph-state volume (it splices into their graphs) and HTTP probes
    on its port; off by default, and a queue URL is required."""
    assert not [d for d in render() if d["metadata"]["name"] == "rel-airdig-skygraph-follow"]
    queue = "https://sqs.eu-west-1.amazonaws.com/123456789012/cloudtrail-writes"
    docs = render("skygraph.follow.enabled=true", f"skygraph.follow.queueUrl={queue}")
    dep = one(docs, "Deployment", "rel-airdig-skygraph-follow")
    assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"]["type"] == "Recreate"
    spec = pod_spec(dep)
    assert spec["serviceAccountName"] == "rel-airdig-skygraph"
    container = spec["containers"][0]
    assert container["args"][:4] == ["skygraph", "follow", "--queue-url", queue]
    assert container["args"][4:] == ["--host", "0.0.0.0", "--port", "8082"]
    assert container["readinessProbe"]["httpGet"]["port"] == "http"
    assert {"name": "http", "containerPort": 8082, "protocol": "TCP"} in container["ports"]
    data = {v["name"]: v for v in spec["volumes"]}["data"]
    cron = pod_spec(one(docs, "CronJob", "rel-airdig-skygraph"))
    assert data == {v["name"]: v for v in cron["volumes"]}["data"]  # the scans' state volume
    assert "AIRDIG_BUS_URL" in env_of(container)
    assert "skygraph.follow.queueUrl is required" in fails(render, "skygraph.follow.enabled=true")
