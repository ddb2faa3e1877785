"""The demo's timeline: build the estate, scan it, send traffic, then the incident and the diagnosis.

Each pillar is fed through its real input path: SkyGraph's scan reads the AWS emulator, the simulated
Kubernetes API and the Terraform state and publishes to the bus; DeepDrift's watch cycle compares that
state with the emulator and reads the CloudTrail folder; traces go to TraceCore's OTLP/HTTP receiver;
PulseSight scrapes the shop's ``/metrics``. The diagnosis is the engine's own GraphQL ``rootCause``.
Nothing is written into the store or onto the bus by the demo itself.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from airdig.backends.interfaces import Bus
from airdig.demo import incident
from airdig.demo.estate import ACCOUNT, REGION, AwsEmulator, Estate, build, write_state
from airdig.demo.k8s import FakeKubernetes
from airdig.demo.traffic import Hosts, MetricsEndpoint, Simulation, TrafficGenerator
from airdig.errors import AirDigError
from airdig.logs import get_logger
from airdig.model.events import CloudEvent, parse_time, to_rfc3339

log = get_logger("demo")
INCIDENT_AFTER = 20.0  # seconds of normal traffic before the incident (divided by --speed)
DEGRADE_AFTER = 4.0  # seconds from the change to the first slow database calls
CRITICAL_TIMEOUT = 120.0  # real seconds to wait for the checkout host to turn critical


class DemoFailed(AirDigError):
    """A step of the demo did not happen as scripted (the message says which and why)."""

    def __init__(self, step: str, detail: str) -> None:
        super().__init__(f"{step}: {detail}")


@dataclass
class Timing:
    """Every delay of the script, compressed by ``speed``."""

    speed: float = 1.0

    def __post_init__(self) -> None:
        if not 0.1 <= self.speed <= 100:
            raise ValueError(f"--speed must be between 0.1 and 100, got {self.speed}")

    def scaled(self, seconds: float, floor: float = 0.0) -> float:
        return max(floor, seconds / self.speed)

    @property
    def trace_window(self) -> float:  # TraceCore's statistics window
        return self.scaled(10.0, floor=2.0)

    @property
    def health_interval(self) -> float:  # PulseSight's evaluation interval
        return self.scaled(5.0, floor=1.0)


@dataclass
class Prepared:
    emulator: AwsEmulator
    estate: Estate
    k8s: FakeKubernetes
    sim: Simulation
    metrics: MetricsEndpoint
    folder: Path
    state_file: Path
    trail: Path
    env_saved: dict[str, str | None] = field(default_factory=dict)
    token: str | None = None  # the engine's API token when it requires one (bound beyond loopback)


def _network_access(database_url: str, progress: Callable[[str], None]) -> dict[str, str]:
    """Bound beyond loopback the engine requires tokens and PulseSight a webhook secret: create an editor
    token (as `airdig token create` does) for the demo's own queries, its OTLP traffic and PulseSight's
    resolver, and a random webhook secret unless one is configured."""
    import secrets

    from airdig.backends.registry import open_store
    from airdig.engine.auth import TokenService

    store = open_store(database_url)
    try:
        store.migrate()
        # editor: its OTLP traffic sends spans in, which a viewer token may not (airdig.edge.roles)
        token, _row = TokenService(store).create("airdig-demo", "editor")
    finally:
        store.close()
    env = {"AIRDIG_PULSESIGHT_RESOLVER_TOKEN": token}
    if not os.environ.get("AIRDIG_PULSESIGHT_SECRET"):
        env["AIRDIG_PULSESIGHT_SECRET"] = secrets.token_urlsafe(24)
        progress(f"PulseSight webhook secret (bound beyond loopback): {env['AIRDIG_PULSESIGHT_SECRET']}")
    progress(f"editor API token for this demo: {token}")
    return env


def prepare(data_dir: Path, timing: Timing, progress: Callable[[str], None], database_url: str | None = None,
            ) -> Prepared:
    """Before the roles start: the AWS emulator and its estate, the Terraform state, the Kubernetes API,
    the shop's metrics endpoint, and PulseSight's settings pointing at it (read when PulseSight starts)."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request otherwise
    folder = data_dir / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    emulator = AwsEmulator()
    emulator.start()
    started: list[Any] = [emulator]
    try:
        progress(f"AWS emulator (moto) on {emulator.endpoint}; building the shop's account through the AWS API")
        estate = build()
        state_file = write_state(estate, folder / "terraform" / "shop.tfstate")
        k8s = FakeKubernetes({"checkout": estate.ids["checkout_instance"], "cart": estate.ids["cart_instance"]},
                             folder)
        k8s.start()
        started.append(k8s)
        sim = Simulation()
        metrics = MetricsEndpoint(sim, estate.ids["checkout_instance"], window=timing.trace_window)
        metrics.start()
        started.append(metrics)
    except BaseException:
        for s in reversed(started):
            s.stop()
        raise
    rules = folder / "pulsesight-rules.yaml"
    rules.write_text(resources.files("airdig.demo").joinpath("rules.yaml").read_text(encoding="utf-8"),
                     encoding="utf-8")
    env = {"AIRDIG_PULSESIGHT_SCRAPE_TARGETS": metrics.url, "AIRDIG_PULSESIGHT_RULES": str(rules),
           "AIRDIG_PULSESIGHT_INTERVAL": f"{timing.health_interval:g}s"}
    try:
        if database_url is not None:
            env.update(_network_access(database_url, progress))
    except BaseException:
        for s in reversed(started):
            s.stop()
        raise
    saved = {k: os.environ.get(k) for k in env}
    for k, v in env.items():
        if os.environ.get(k) and k in ("AIRDIG_PULSESIGHT_SCRAPE_TARGETS", "AIRDIG_PULSESIGHT_RULES"):
            v = f"{os.environ[k]},{v}"  # keep what the user configured, add the demo's
        os.environ[k] = v
    return Prepared(emulator, estate, k8s, sim, metrics, folder, state_file, folder / "cloudtrail", saved,
                    token=env.get("AIRDIG_PULSESIGHT_RESOLVER_TOKEN"))


def release(p: Prepared) -> None:
    for thing in (p.metrics, p.k8s, p.emulator):
        try:
            thing.stop()
        except Exception as exc:  # stopping must go on for the others
            log.warning("demo component did not stop cleanly", component=type(thing).__name__, error=str(exc))
    for k, v in p.env_saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


class Script:
    """The timeline, run on its own thread once the roles listen."""

    def __init__(self, p: Prepared, bus: Bus, data_dir: Path, engine_url: str, otlp_url: str, ui_url: str,
                 timing: Timing, with_incident: bool, progress: Callable[[str], None]) -> None:
        self.p, self.bus, self.data_dir = p, bus, data_dir
        self.engine_url, self.otlp_url, self.ui_url = engine_url, otlp_url, ui_url
        self.timing, self.with_incident, self.say = timing, with_incident, progress
        self.traffic: TrafficGenerator | None = None
        self.error: str | None = None
        self.finished = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-script", daemon=True)
        self.http = httpx.Client(timeout=30, headers={"Authorization": f"Bearer {p.token}"} if p.token else {})

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        if self.traffic is not None:
            self.traffic.stop()
        self.http.close()

    def _sleep(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise _Stopped()

    def _run(self) -> None:
        try:
            self.run()
        except _Stopped:
            pass
        except Exception as exc:  # the demo says what did not happen instead of pretending
            self.error = str(exc) if isinstance(exc, AirDigError) else f"{type(exc).__name__}: {exc}"
            log.error("demo script failed", error=self.error, exc_info=not isinstance(exc, AirDigError))
            self.say(f"demo: FAILED: {self.error}")
        finally:
            self.finished.set()

    # ------------------------------------------------------------------ engine reads
    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        resp = self.http.post(f"{self.engine_url}/graphql", json={"query": query, "variables": variables or {}})
        body = resp.json()
        if body.get("errors"):
            raise DemoFailed("engine", f"GraphQL error: {body['errors'][0].get('message')}")
        data: dict[str, Any] = body["data"]
        return data

    def _wait(self, what: str, check: Callable[[], bool], timeout: float, step: float = 0.5) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if check():
                    return
            except (httpx.HTTPError, DemoFailed) as exc:
                log.debug("not yet", what=what, error=str(exc))
            if time.monotonic() > deadline:
                raise DemoFailed("demo", f"{what}: not reached within {timeout:.0f} s")
            self._sleep(step)

    def health_of(self, node_id: str) -> str | None:
        data = self.graphql("query($id: ID!) { resource(id: $id) { health { status } } }", {"id": node_id})
        res = data.get("resource")
        return str(res["health"]["status"]) if res and res.get("health") else None

    # ------------------------------------------------------------------ pillars' inputs
    def _publish(self, ev: CloudEvent) -> None:
        self.bus.publish(ev.topic, key=ev.subject, value=ev.encode())

    def scan(self) -> Any:
        from airdig.skygraph.graph_state import GraphState
        from airdig.skygraph.scan import ScanOptions, run_scan

        opts = ScanOptions(regions=[REGION], k8s=True, kubeconfig=str(self.p.k8s.kubeconfig),
                           tfstate=[str(self.p.state_file)], workers=4)
        report = run_scan(opts, GraphState(self.data_dir), publish=self._publish)
        self.bus.flush()
        if report.failed:
            raise DemoFailed("skygraph", "; ".join(f"{r.scope}: {r.error}" for r in report.failed))
        return report

    def drift_cycle(self, cloudtrail: bool) -> Any:
        from airdig.deepdrift.detect import DetectOptions, detect
        from airdig.deepdrift.watch import Watcher

        opts = DetectOptions(states=[str(self.p.state_file)], region=REGION,
                             cloudtrail=[str(self.p.trail)] if cloudtrail else [])
        result = detect(opts)
        if result.errors:
            raise DemoFailed("deepdrift", "; ".join(result.errors))
        Watcher(self.bus, self.data_dir / "deepdrift-watch.json").cycle(result)
        return result

    # ------------------------------------------------------------------ the timeline
    def run(self) -> None:
        e = self.p.estate
        self._wait("the engine answering", lambda: self.http.get(f"{self.engine_url}/readyz").status_code == 200,
                   60)
        report = self.scan()
        scanned_at = time.time()
        nodes = list(report.graph.nodes())
        by = {p: sum(1 for n in nodes if n.provider == p) for p in ("aws", "k8s", "terraform")}
        self._wait("the scan applied by the engine", lambda: self.health_of(e.checkout_arn) is not None
                   or self.graphql("query($id: ID!) { resource(id: $id) { id } }",
                                   {"id": e.checkout_arn}).get("resource") is not None, 60)
        baseline = self.drift_cycle(cloudtrail=False)
        self.say(f"estate ready: {by['aws']} AWS resources, {by['k8s']} Kubernetes objects, "
                 f"{by['terraform']} Terraform addresses; DeepDrift: {len(baseline.drifts)} drift(s) "
                 f"({baseline.coverage.get('managed')}/{baseline.coverage.get('total')} managed)")
        hosts = Hosts(checkout=e.ids["checkout_instance"], cart=e.ids["cart_instance"],
                      db_endpoint=e.ids["db_endpoint"], account=ACCOUNT, region=REGION)
        # the app "starts" after the next TraceCore window boundary, so no statistics window holds both the
        # time before the estate existed and traffic (the root cause compares windows around changes);
        # each tick reports the requests of the interval just past, hence the extra interval
        window, tick = self.timing.trace_window, self.timing.scaled(1.0, 0.25)
        self._sleep(max(0.0, (scanned_at // window + 1) * window - time.time()) + tick + 0.05)
        self.traffic = TrafficGenerator(self.p.sim, hosts, self.otlp_url, interval=tick, token=self.p.token)
        self.p.sim.serving = True
        self.traffic.start()
        traffic_from = time.time()
        self.say("traffic: frontend → checkout → orders-db (PostgreSQL on RDS) and cart, OTLP to TraceCore; "
                 "p95 ~15 ms")
        if not self.with_incident:
            self.say(f"no incident (--no-incident). Open the UI: {self.ui_url}")
            return
        # at least one full statistics window of normal traffic before the incident
        self._sleep(max(scanned_at + self.timing.scaled(INCIDENT_AFTER), traffic_from + window + 0.5) - time.time())
        when = time.time()
        resp = incident.open_database_to_the_world(e)
        incident.deliver(self.p.trail, [incident.cloudtrail_record(e, when, resp)], when)
        self.say(f"incident: alice opened {e.ids['sg_db']} to 0.0.0.0/0 on 5432 (AWS SSO session "
                 f"{incident.ACTOR}, CloudTrail delivered)")
        result = self.drift_cycle(cloudtrail=True)
        mine = [d for d in result.drifts if d["resource_id"].endswith(e.ids["sg_db"])]
        if not mine:
            raise DemoFailed("deepdrift", f"no drift found on {e.ids['sg_db']} after the change")
        d = mine[0]
        who = (d.get("cause") or {}).get("principal") or "unknown (no CloudTrail match)"
        self.say(f"drift detected: {d['terraform_address']} {d['severity']} — "
                 + ", ".join(f"{x['path']}" for x in d["diffs"][:3]) + f"; caused by {who}")
        self.scan()  # the scheduled rescan sees the new rule too
        self._sleep(self.timing.scaled(DEGRADE_AFTER))
        self.p.sim.degrade()
        self.say("latency rising: checkout → orders-db p95 ~400 ms, ~15% of checkouts fail")
        self._wait("checkout-web turning critical", lambda: self.health_of(e.checkout_arn) == "critical",
                   CRITICAL_TIMEOUT)
        self.say(f"checkout-web critical ({e.ids['checkout_instance']}: PulseSight, shop-checkout-latency)")
        self._sleep(self.timing.trace_window + 1.0)  # let one statistics window after the change land
        self.report_root_cause(changed_at=when)
        self.say(f"Open the UI: {self.ui_url}  (GraphQL {self.engine_url}/graphql; Ctrl-C to stop)")

    def report_root_cause(self, changed_at: float) -> None:
        """Ask the engine, as a user would, what caused the checkout host's symptom. The window reaches
        back just past the change (whole minutes, at least one): the question is "what changed lately"."""
        e = self.p.estate
        data = self.graphql("query($id: ID!) { resource(id: $id) { health { status since } } }",
                            {"id": e.checkout_arn})
        since = ((data.get("resource") or {}).get("health") or {}).get("since")
        at = parse_time(since, "health.since") if since else time.time()  # when the symptom appeared
        minutes = max(1, math.ceil((at - changed_at + 30) / 60))
        data = self.graphql("""query($id: ID!, $at: String, $w: Int!) {
            rootCause(id: $id, at: $at, windowMinutes: $w) { summary onset { time source } verdict
              candidates { score evidence change { kind summary actor time resourceId } } } }""",
                            {"id": e.checkout_arn, "at": to_rfc3339(at), "w": minutes})
        cands = data["rootCause"]["candidates"]
        if not cands:
            raise DemoFailed("engine", "rootCause found no candidate")
        top = cands[0]
        ch = top["change"]
        self.say(f"root cause: {ch['summary']} on {ch['resourceId']} (score {top['score']:.2f})")
        for line in top["evidence"]:
            self.say(f"    {line}")
        if data["rootCause"].get("verdict"):
            self.say(f"    why: {data['rootCause']['verdict']}")
        for rank, c in enumerate(cands[1:3], start=2):
            self.say(f"    runner-up #{rank}: {c['change']['kind']} {c['change']['summary'][:80]} on "
                     f"{c['change']['resourceId']} (score {c['score']:.2f})")


class _Stopped(Exception):
    """The demo is stopping; leave the script."""
