"""``airdig engine``: the API tier (GraphQL + REST) and the event processor."""

from __future__ import annotations

import click

from airdig.cli.common import cli_context, handle_errors, settings_options
from airdig.cli.serve import Listener, run_servers


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port of /graphql, /api/v1, probes.")
@click.option("--no-processor", is_flag=True, help="Serve the API only; do not consume events.")
@click.option("--no-migrate", is_flag=True, help="Do not apply schema migrations at start (run `airdig db migrate`).")
@click.option("--intel-workers", default=2, show_default=True, type=click.IntRange(0, 64),
              help="Worker processes for rootCause, so a root cause never holds this process's GIL "
                   "(0: run it in a thread of this process).")
@click.option("--no-hot-reads", is_flag=True,
              help="Answer every GraphQL query through Strawberry, also plain resource(id) reads (to compare, "
                   "or to rule the hot read path out).")
@settings_options
@handle_errors
def engine(host: str, port: int, no_processor: bool, no_migrate: bool, intel_workers: int,
           no_hot_reads: bool) -> None:
    """Serve the unified graph (GraphQL at /graphql, REST at /api/v1) and apply events from the bus.

    Replicas share the bus in one consumer group (AIRDIG_CONSUMER_GROUP), so run as many as the
    load needs; each serves /healthz, /readyz and /metrics (consumer lag included). API tokens are
    required unless AIRDIG_AUTH=off, which is accepted on a loopback --host only.
    """
    from airdig.edge.policy import EdgePolicy, auth_required
    from airdig.edge.tls import ServerTls
    from airdig.engine.app import build_app
    from airdig.engine.service import EngineService

    settings = cli_context().settings
    require_auth = auth_required(settings.auth, [host])  # AIRDIG_AUTH: on unless set off on loopback
    tls = ServerTls.from_settings(settings)  # checked before anything starts
    svc = EngineService.from_settings(settings, migrate=not no_migrate)
    svc.start(process_events=not no_processor, intel_workers=intel_workers)
    app = build_app(svc, require_auth=require_auth,
                    policy=EdgePolicy.for_bind(host, settings.allowed_hosts, settings.allowed_origins),
                    graphiql=not require_auth, hot_reads=not no_hot_reads)
    run_servers([Listener("engine", app, host, port, tls)], on_stop=svc.stop)
