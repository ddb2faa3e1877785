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
    """Start every role on the shared embedded backends; returns the listeners to serve and the handles
    to stop (in reverse order). A role that fails to start stops the ones started before it."""
    import dataclasses

    from airdig.edge.policy import EdgePolicy, auth_required
    from airdig.engine.app import build_app
    from airdig.engine.auth import Authenticator
    from airdig.engine.service import EngineService
    from airdig.pulsesight.config import PulseSightConfig
    from airdig.pulsesight.serve import start_pulsesight
    from airdig.tracecore.serve import start_tracecore
    from airdig.ui.app import build_ui_app

    settings = cli_context().settings
    if settings.tls_cert_file or settings.tls_key_file:
        from airdig.errors import ConfigError

        # its roles call each other over loopback HTTP (UI proxy, PulseSight's resolver): not worth a
        # certificate; the separate roles serve TLS (docs/edge.md)
        raise ConfigError("AIRDIG_TLS_CERT_FILE", "airdig up/demo serve plain HTTP; for TLS run the roles "
                          "(airdig engine, ui, tracecore, pulsesight) or terminate TLS in front")
    # every listener binds `host`: without an explicit AIRDIG_AUTH, loopback runs in dev mode (no tokens;
    # Host and Origin checks on every listener keep other sites and DNS-rebinding pages out)
    require_auth = auth_required(settings.auth, [host], dev_default=True)
    policy = EdgePolicy.for_bind(host, settings.allowed_hosts, settings.allowed_origins)
    handles: list[Any] = []
    try:
        svc = EngineService.from_settings(settings)
        svc.start()
        handles.append(svc)
        authenticator = Authenticator(svc.store, required=require_auth)
        tokens = authenticator.aprincipal
        engine_url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{engine_port}"
        # the pillars share the engine's bus connection: one embedded log file, one writer per process
        handles.append(start_tracecore(settings, host, otlp_grpc_port, otlp_http_port, bus=svc.bus, policy=policy,
                                       tokens=authenticator if require_auth else None))
        ps_cfg = PulseSightConfig.load(settings)
        if ps_cfg.resolver_url == "http://127.0.0.1:8080":  # the default: point it at this engine
            ps_cfg = dataclasses.replace(ps_cfg, resolver_url=engine_url)
        handles.append(start_pulsesight(settings, host, pulsesight_port, config=ps_cfg, bus=svc.bus,
                                        tokens=tokens if require_auth else None))
    except BaseException:
        for h in reversed(handles):
            h.stop()
        raise
    # the engine serves the SPA itself (one origin); the UI listener stays for a familiar port and is
    # the same proxy as on Kubernetes (Origin and Host forwarded, hostile origins refused)
    listeners = [Listener("engine", build_app(svc, require_auth=require_auth, policy=policy, spa=True,
                                              graphiql=not require_auth), host, engine_port),
                 Listener("ui", build_ui_app(engine_url, policy=policy), host, ui_port)]
    log.info("roles started", roles=["engine", "ui", "tracecore", "pulsesight"], data_dir=str(settings.data_dir),
             engine=engine_url, otlp_grpc=otlp_grpc_port, otlp_http=otlp_http_port, pulsesight=pulsesight_port)
    return listeners, handles


def auth_on(host: str) -> bool:
    from airdig.edge.policy import auth_required

    return auth_required(cli_context().settings.auth, [host], dev_default=True)


@click.command()
@up_options
@settings_options
@handle_errors
def up(host: str, engine_port: int, ui_port: int, otlp_grpc_port: int, otlp_http_port: int,
       pulsesight_port: int) -> None:
    """Run every AirDig role in one process on embedded backends (SQLite store, local bus, in-process cache).

    Stop with Ctrl-C. A separate `airdig skygraph scan --data-dir DIR` (e.g. from cron) pointed at the
    same data dir feeds this process through the embedded bus. On loopback it runs without API tokens
    (loopback dev mode; Host and Origin checks keep other sites out) unless AIRDIG_AUTH=on; beyond
    loopback tokens are required (`airdig token create`).
    """
    listeners, handles = start_all(host, engine_port, ui_port, otlp_grpc_port, otlp_http_port, pulsesight_port)
    auth = "on (API tokens: `airdig token create`)" if auth_on(host) else "off (loopback dev mode)"
    click.echo(f"AirDig is up (auth {auth}):\n  UI           http://{host}:{ui_port}/  (also http://{host}:{engine_port}/)\n"
               f"  GraphQL      http://{host}:{engine_port}/graphql   REST http://{host}:{engine_port}/api/v1/\n"
               f"  OTLP         grpc {host}:{otlp_grpc_port}  http http://{host}:{otlp_http_port}/v1/traces\n"
               f"  Webhooks     http://{host}:{pulsesight_port}/webhooks/falco | /webhooks/alertmanager\n"
               f"  Feed it:     airdig skygraph scan --data-dir {cli_context().settings.data_dir}   (Ctrl-C to stop)",
               err=True)

    def stop_all() -> None:
        for h in reversed(handles):
            h.stop()
        click.echo("AirDig stopped.", err=True)

    run_servers(listeners, on_stop=stop_all)
