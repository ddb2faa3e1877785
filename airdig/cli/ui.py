"""``airdig ui``: the web UI (static single-page app) and its proxy to the engine."""

from __future__ import annotations

import click

from airdig.cli.common import cli_context, handle_errors, settings_options
from airdig.cli.serve import Listener, run_servers

DEFAULT_ENGINE_URL = "http://127.0.0.1:8080"


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=3000, show_default=True, type=int, help="Port of the UI (/, probes).")
@click.option("--engine-url", envvar="AIRDIG_ENGINE_URL", default=DEFAULT_ENGINE_URL, show_default=True,
              help="Engine that /graphql and /api/* are proxied to (env AIRDIG_ENGINE_URL).")
@settings_options
@handle_errors
def ui(host: str, port: int, engine_url: str) -> None:
    """Serve the AirDig web UI: incident view, resources, service map, drift.

    Like the Kubernetes Ingress, `/` is the UI and `/graphql` (HTTP + WebSocket) and `/api/*` are
    forwarded to the engine, so the browser needs one origin only. /readyz is ready when the engine
    answers; the UI itself needs no database. An https engine URL is verified against the system CAs,
    or AIRDIG_HTTP_CA_FILE when set.
    """
    from airdig.edge.policy import EdgePolicy
    from airdig.edge.tls import ServerTls, scheme
    from airdig.ui.app import build_ui_app

    settings = cli_context().settings  # also configures log level/format from AIRDIG_* / --config
    tls = ServerTls.from_settings(settings)
    app = build_ui_app(engine_url, policy=EdgePolicy.for_bind(host, settings.allowed_hosts, settings.allowed_origins),
                       engine_ca_file=settings.http_ca_file)
    click.echo(f"AirDig UI on {scheme(tls)}://{host}:{port}/ (engine {engine_url})", err=True)
    run_servers([Listener("ui", app, host, port, tls)])
