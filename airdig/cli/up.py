"""``airdig up``: every role in one process on the embedded defaults (DESIGN.md "One codebase, many roles")."""

from __future__ import annotations

from typing import Any

import click

from airdig.cli.common import cli_context, handle_errors, settings_options
from airdig.cli.serve import Listener, run_servers
from airdig.logs import get_logger

log = get_logger("up")


def up_options(func: Any) -> Any:
    """The options `airdig up` and `airdig demo` share (a contract: DESIGN.md "Contracts")."""
    for opt in reversed([
        click.option("--host", default="127.0.0.1", show_default=True, help="Address every listener binds to."),
        click.option("--engine-port", default=8080, show_default=True, type=int, help="Engine (GraphQL, REST)."),
        click.option("--ui-port", default=3000, show_default=True, type=int, help="Web UI."),
        click.option("--otlp-grpc-port", default=4317, show_default=True, type=int, help="TraceCore OTLP/gRPC."),
        click.option("--otlp-http-port", default=4318, show_default=True, type=int, help="TraceCore OTLP/HTTP."),
        click.option("--pulsesight-port", default=8081, show_default=True, type=int,
                     help="PulseSight webhooks (Falco, Alertmanager)."),
    ]):
        func = opt(func)
    return func


def start_all(host: str, engine_port: int, ui_port: int, otlp_grpc_port: int, otlp_http_port: int,
              pulsesight_port: int) -> tuple[list[Listener], list[Any]]:
    """Start the roles that exist; returns the HTTP listeners to serve and the handles to stop."""
    from airdig.engine.app import build_app
    from airdig.engine.auth import is_loopback
    from airdig.engine.service import EngineService

    settings = cli_context().settings
    svc = EngineService.from_settings(settings)
    svc.start()
    listeners = [Listener("engine", build_app(svc, require_auth=not is_loopback(host)), host, engine_port)]
    handles: list[Any] = [svc]
    log.info("roles started", roles=[ls.name for ls in listeners], data_dir=str(settings.data_dir))
    return listeners, handles


@click.command()
@up_options
@settings_options
@handle_errors
def up(host: str, engine_port: int, ui_port: int, otlp_grpc_port: int, otlp_http_port: int,
       pulsesight_port: int) -> None:
    """Run every AirDig role in one process on embedded backends (SQLite store, local bus, in-process cache).

    Stop with Ctrl-C. A separate `airdig skygraph scan --data-dir DIR` (e.g. from cron) pointed at the
    same data dir feeds this process through the embedded bus.
    """
    listeners, handles = start_all(host, engine_port, ui_port, otlp_grpc_port, otlp_http_port, pulsesight_port)
    click.echo(f"AirDig is up: engine http://{host}:{engine_port}/graphql  (Ctrl-C to stop)", err=True)

    def stop_all() -> None:
        for h in reversed(handles):
            h.stop()
        click.echo("AirDig stopped.", err=True)

    run_servers(listeners, on_stop=stop_all)
