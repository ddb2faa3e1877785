"""The ``airdig`` command: one CLI, one sub-command group per role (DESIGN.md, "CLI contract")."""

from __future__ import annotations

import importlib

import click

from airdig import __version__

# (module, attribute) of each command or group; one module per command group
COMMANDS: list[tuple[str, str]] = [
    ("airdig.cli.tracecore", "tracecore"),
    ("airdig.cli.up", "up"),
    ("airdig.cli.demo", "demo"),
    ("airdig.cli.engine", "engine"),
    ("airdig.cli.db", "db"),
    ("airdig.cli.deepdrift", "deepdrift"),
    ("airdig.cli.pulsesight", "pulsesight"),
    ("airdig.cli.skygraph", "skygraph"),
    ("airdig.cli.token", "token"),
    ("airdig.cli.ui", "ui"),
]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="airdig")
def cli() -> None:
    """AirDig: what changed, who changed it, and what did it break?

    One graph of your cloud estate (AWS, Kubernetes, Terraform) with drift, traces and health on it.
    Start everything locally with `airdig up`; run each role separately at scale.
    Settings come from AIRDIG_* variables or --config FILE (see the README).
    """


for _module, _attr in COMMANDS:
    cli.add_command(getattr(importlib.import_module(_module), _attr))


def main() -> None:
    cli(prog_name="airdig")
