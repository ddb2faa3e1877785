"""``airdig tracecore``: the OTLP receivers, the service map and the service-to-infrastructure links."""

from __future__ import annotations

import signal
import threading
from typing import Any

import click

from airdig.cli.common import cli_context, handle_errors, settings_options
from airdig.edge.sources import pillar_tokens
from airdig.tracecore.serve import TraceCoreOptions, start_tracecore


@click.group()
def tracecore() -> None:
    """Receive OpenTelemetry traces and publish the service map."""


@tracecore.command()
@settings_options
@click.option("--host", default="0.0.0.0", show_default=True, help="Address both receivers listen on.")
@click.option("--otlp-grpc-port", type=int, default=4317, show_default=True, help="OTLP/gRPC port.")
@click.option("--otlp-http-port", type=int, default=4318, show_default=True,
              help="OTLP/HTTP port (also /healthz, /readyz, /metrics).")
@click.option("--pair-wait", type=float, default=None, help="Seconds a span waits for its other half [10].")
@click.option("--window", "window_seconds", type=float, default=None,
              help="Seconds between published edge statistics [60].")
@click.option("--window-lateness", type=float, default=None,
              help="Seconds past a window's end before it is published [2 x pair-wait].")
@click.option("--max-pending", type=int, default=None, help="Bound of the pending-pair store [100000].")
@click.option("--max-edges", type=int, default=None,
              help="Bound of the (window, edge) statistics awaiting publication [100000].")
@click.option("--max-queue-spans", type=int, default=None, help="Bound of the ingest queue in spans [200000].")
@click.option("--max-body-bytes", type=int, default=None, help="Request size limit [16777216].")
@click.option("--route", type=click.Choice(["bus", "local"]), default=None,
              help="bus: pair across replicas via the bus (default); local: pair in this process only.")
@click.option("--no-aggregate", is_flag=True, default=False, help="Receive only; other replicas aggregate.")
@click.option("--no-store", is_flag=True, default=False, help="Do not keep spans in the trace store.")
@click.option("--json-spans", is_flag=True, default=False,
              help="Publish span batches as JSON CloudEvents, not binary blocks: for a rolling upgrade from a "
                   "version whose aggregators do not read blocks (drop it once every replica is upgraded).")
@handle_errors
def serve(host: str, otlp_grpc_port: int, otlp_http_port: int, no_aggregate: bool, no_store: bool,
          json_spans: bool, **given: Any) -> None:
    """Run the OTLP receivers (gRPC and HTTP) and an aggregator until interrupted.

    Auth (AIRDIG_AUTH, on by default; off only on loopback): both receivers need `Authorization: Bearer
    <token>` (gRPC: `authorization` metadata), checked against AIRDIG_TOKEN_STORE=on (the engine's API
    tokens) and/or AIRDIG_TOKENS_FILE; with auth on and neither set, it does not start."""
    settings = cli_context().settings
    if no_aggregate:
        given["aggregate"] = False
    if no_store:
        given["store_traces"] = False
    if json_spans:
        given["span_blocks"] = False
    opts = TraceCoreOptions.from_settings(settings, **given)
    tokens, owned = pillar_tokens(settings, "tracecore", host)
    try:
        handle = start_tracecore(settings, host, otlp_grpc_port, otlp_http_port, options=opts, tokens=tokens)
    except BaseException:
        for thing in owned:
            thing.close()
        raise
    handle.adopt(owned)
    auth = "bearer tokens required" if tokens is not None else "auth off"
    click.echo(f"tracecore: OTLP gRPC on {host}:{handle.grpc_port}, HTTP on {host}:{handle.http_port} "
               f"(route={opts.route}; {auth}); Ctrl-C stops", err=True)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    handle.stop()
