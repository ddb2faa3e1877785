"""AirDig as a user runs it: ``airdig up`` in its own process (engine, TraceCore, PulseSight on the
embedded backends in one data folder), and the cron-style commands ``airdig skygraph scan`` and
``airdig deepdrift watch --once`` run against the same folder, reading the AWS emulator (its endpoint is
in this process's environment, which the commands inherit), the simulated Kubernetes API and the trail.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from airdig.demo.estate import REGION, free_ports


class StackFailed(RuntimeError):
    """A command or role of AirDig failed; the message carries its output."""


class Stack:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data = folder / "airdig"
        self.data.mkdir(parents=True, exist_ok=True)
        config = folder / "airdig.yaml"
        # TraceCore's windows are in event time (per minute, as in production); the pairing wait is short
        # and the horizon long: the replay posts hours of spans (45 min per incident, newest first) in seconds
        config.write_text("log_level: warning\ntracecore_window_seconds: 60\ntracecore_pair_wait: 1\n"
                          "tracecore_window_horizon: 259200\n", encoding="utf-8")
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("AIRDIG_", "KUBECONFIG"))}
        self.env.update(AIRDIG_CONFIG=str(config), AIRDIG_DATA_DIR=str(self.data), AIRDIG_LOG_LEVEL="warning")
        ports = free_ports(5)
        self.engine = f"http://127.0.0.1:{ports[0]}"
        self.otlp = f"http://127.0.0.1:{ports[3]}/v1/traces"
        self.pulsesight = f"http://127.0.0.1:{ports[4]}"
        names = ["--engine-port", "--ui-port", "--otlp-grpc-port", "--otlp-http-port", "--pulsesight-port"]
        self.log = (folder / "airdig-up.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "airdig.cli", "up", *(x for pair in zip(names, map(str, ports), strict=True)
                                                           for x in pair)],
            env={k: v for k, v in self.env.items() if not k.startswith("AWS_")}, stdout=self.log, stderr=self.log)
        self.http = httpx.Client(timeout=120)

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StackFailed(f"airdig up exited: {(self.folder / 'airdig-up.log').read_text()[-2000:]}")
            try:
                if (self.http.get(f"{self.engine}/readyz").status_code == 200
                        and self.http.get(f"{self.pulsesight}/healthz").status_code == 200):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise StackFailed("airdig up did not get ready")

    def stop(self) -> None:
        self.http.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def cli(self, *args: str) -> str:
        """Run one ``airdig`` command with this stack's data folder; its output, or StackFailed."""
        env = {**self.env, **{k: v for k, v in os.environ.items() if k.startswith("AWS_")}}
        r = subprocess.run([sys.executable, "-m", "airdig.cli", *args], env=env, capture_output=True, text=True,
                           timeout=600)
        if r.returncode != 0:
            raise StackFailed(f"airdig {' '.join(args[:2])} failed ({r.returncode}): {r.stderr[-3000:]}")
        return r.stdout + r.stderr

    def scan(self, kubeconfig: Path, states: list[Path]) -> str:
        args = ["skygraph", "scan", "--regions", REGION, "--kubeconfig", str(kubeconfig), "--workers", "4"]
        for s in states:
            args += ["--tfstate", str(s)]
        return self.cli(*args)

    def watch(self, states: list[Path], trail: Path | None) -> str:
        args = ["deepdrift", "watch", "--once", "--region", REGION]
        for s in states:
            args += ["--state", str(s)]
        if trail is not None:
            args += ["--cloudtrail", str(trail)]
        return self.cli(*args)

    def post_spans(self, body: bytes) -> None:
        r = self.http.post(self.otlp, content=body, headers={"Content-Type": "application/x-protobuf"})
        if r.status_code >= 300:
            raise StackFailed(f"OTLP export refused: HTTP {r.status_code} {r.text[:300]}")

    def post_alert(self, body: dict[str, Any]) -> dict[str, Any]:
        r = self.http.post(f"{self.pulsesight}/webhooks/alertmanager", json=body)
        if r.status_code >= 300:
            raise StackFailed(f"Alertmanager webhook refused: HTTP {r.status_code} {r.text[:300]}")
        out: dict[str, Any] = r.json()
        return out

    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        body = self.http.post(f"{self.engine}/graphql", json={"query": query, "variables": variables}).json()
        if body.get("errors"):
            raise StackFailed(f"GraphQL: {body['errors'][0].get('message')}")
        data: dict[str, Any] = body["data"]
        return data
