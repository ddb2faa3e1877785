"""``airdig demo``: ``airdig up`` plus a simulated estate and a scripted incident (DESIGN.md "Demo")."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import tempfile
from typing import Any

import click

from airdig.cli.common import cli_context, fail, handle_errors, settings_options
from airdig.cli.up import start_all, up_options
from airdig.logs import get_logger

log = get_logger("demo")


def _free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _say(message: str) -> None:
    click.echo(f"[demo] {message}", err=True)


@click.command()
@up_options
@click.option("--speed", type=float, default=1.0, show_default=True,
              help="Compress the timeline (2 = twice as fast); 0.1 to 100.")
@click.option("--no-incident", is_flag=True, help="Run the estate and its traffic without the incident.")
@click.option("--exit-after", type=float, default=None, metavar="SECONDS",
              help="Stop by itself after this many seconds (for tests and recordings).")
@settings_options
@handle_errors
def demo(host: str, engine_port: int, ui_port: int, otlp_grpc_port: int, otlp_http_port: int,
         pulsesight_port: int, speed: float, no_incident: bool, exit_after: float | None) -> None:
    """Run AirDig with a simulated shop estate and watch it find an incident's root cause.

    Starts everything `airdig up` starts, plus an AWS API emulator (moto) holding the shop's account, a
    simulated Kubernetes API, the shop's traffic (OTLP traces to TraceCore) and its /metrics (scraped by
    PulseSight). After ~20 s "alice" opens the orders database's security group to the internet through
    the AWS API; CloudTrail records it, DeepDrift reports the drift, the database slows down, the
    checkout host turns critical and the engine's root cause names the change. Data goes to a fresh
    temporary folder unless --data-dir is given. Needs `pip install 'airdig[demo]'` (moto).
    """
    from airdig.demo.scenario import Script, Timing, prepare, release

    try:
        timing = Timing(speed)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--speed") from None
    if exit_after is not None and exit_after <= 0:
        raise click.BadParameter("must be positive", param_hint="--exit-after")
    for option, port in (("--engine-port", engine_port), ("--ui-port", ui_port), ("--otlp-grpc-port", otlp_grpc_port),
                         ("--otlp-http-port", otlp_http_port), ("--pulsesight-port", pulsesight_port)):
        if not _free(host, port):  # before minutes of setup, not after
            fail(f"{host}:{port} is already in use (is `airdig up` running?); choose another with {option}")
    ctx = cli_context()
    if not os.environ.get("AIRDIG_LOG_LEVEL") and not ctx.config_file and not os.environ.get("AIRDIG_CONFIG"):
        ctx.overrides["log_level"] = "warning"  # the [demo] lines tell the story; info logs would drown them
    if "data_dir" not in ctx.overrides:
        ctx.overrides["data_dir"] = tempfile.mkdtemp(prefix="airdig-demo-")
    settings = ctx.settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # TraceCore's statistics window and pairing wait, compressed with the timeline (config keys win)
    settings.extra.setdefault("tracecore_window_seconds", timing.trace_window)
    settings.extra.setdefault("tracecore_pair_wait", min(10.0, timing.trace_window))
    _say(f"data in {settings.data_dir}")
    from airdig.engine.auth import is_loopback

    prepared = prepare(settings.data_dir, timing, _say, None if is_loopback(host) else settings.database_url)
    try:
        listeners, handles = start_all(host, engine_port, ui_port, otlp_grpc_port, otlp_http_port, pulsesight_port)
    except BaseException:
        release(prepared)
        raise
    local = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    script = Script(prepared, bus=handles[0].bus, data_dir=settings.data_dir,
                    engine_url=f"http://{local}:{engine_port}", otlp_url=f"http://{local}:{otlp_http_port}/v1/traces",
                    ui_url=f"http://{host}:{ui_port}/", timing=timing, with_incident=not no_incident, progress=_say)
    _say(f"AirDig is up: UI http://{host}:{ui_port}/  GraphQL http://{host}:{engine_port}/graphql  "
         f"OTLP http://{host}:{otlp_http_port}/v1/traces  webhooks http://{host}:{pulsesight_port}/")

    def stop_all() -> None:
        script.stop()
        for h in reversed(handles):
            h.stop()
        release(prepared)
        _say(f"data kept in {settings.data_dir} (`airdig up --data-dir {settings.data_dir}` shows it again)")
        _say("stopped.")

    background: list[Any] = []
    if exit_after is not None:
        limit = exit_after

        async def exit_later(stop: asyncio.Event) -> None:
            try:
                await asyncio.wait_for(stop.wait(), timeout=limit)
            except TimeoutError:
                stop.set()
        background.append(exit_later)

    from airdig.cli.serve import run_servers

    script.start()
    run_servers(listeners, on_stop=stop_all, background=background)
    if script.error:
        sys.exit(1)
