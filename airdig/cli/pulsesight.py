"""``airdig pulsesight``: health from metrics, logs, Falco events and Alertmanager alerts."""

from __future__ import annotations

import signal
import threading
from typing import Any

import click

from airdig.cli.common import cli_context, echo_json, handle_errors, settings_options
from airdig.pulsesight.config import PulseSightConfig
from airdig.pulsesight.rules import default_rules_path, load_rules


@click.group()
def pulsesight() -> None:
    """Health of graph nodes from Prometheus/Mimir, Loki, TraceCore, Falco and Alertmanager."""


@pulsesight.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but loopback needs AIRDIG_PULSESIGHT_SECRET.")
@click.option("--port", default=8081, show_default=True, type=int, help="Webhook and API port.")
@click.option("--rules", "rules_files", multiple=True, type=click.Path(dir_okay=False, exists=True),
              help="Extra rules file layered over the shipped defaults (repeatable).")
@click.option("--check", is_flag=True, help="Validate the rules and settings, print them, and exit.")
@settings_options
@handle_errors
def serve(host: str, port: int, rules_files: tuple[str, ...], check: bool) -> None:
    """Receive webhooks and evaluate health rules until interrupted.

    Webhooks: POST /webhooks/falco (Falco http_output) and POST /webhooks/alertmanager (webhook v4).
    Reads: GET /api/v1/health, /api/v1/unmapped, /api/v1/security-events, /healthz, /readyz, /metrics.
    With auth on (AIRDIG_AUTH, the default) every route but the probes takes AIRDIG_PULSESIGHT_SECRET
    and/or the tokens of AIRDIG_TOKEN_STORE=on / AIRDIG_TOKENS_FILE; without any of them it does not
    start (AIRDIG_AUTH=off is accepted on loopback only).
    """
    from airdig.edge.sources import pillar_tokens
    from airdig.pulsesight.serve import start_pulsesight

    settings = cli_context().settings
    cfg = PulseSightConfig.load(settings)
    files = (*cfg.rules, *rules_files)
    rules = load_rules(default_rules_path(), *files)
    if check:
        echo_json({"rules": [{"name": r.name, "mode": r.mode, "source": r.source} for r in rules],
                   "config": {k: v for k, v in cfg.__dict__.items() if k not in ("secret", "resolver_token")}})
        return
    tokens, owned = pillar_tokens(settings, "pulsesight", host, other_credential=bool(cfg.secret))
    try:
        handle = start_pulsesight(settings, host, port, config=cfg, rules=rules,
                                  tokens=tokens.aprincipal if tokens is not None else None)
    except BaseException:
        for thing in owned:
            thing.close()
        raise
    click.echo(f"pulsesight: listening on {handle.url} ({len(rules)} rules)", err=True)
    done = threading.Event()

    def _stop(*_: Any) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    done.wait()
    handle.stop()
    for thing in owned:
        thing.close()
