"""``airdig deepdrift detect | watch | impact``: drift between Terraform and the cloud, and its blast radius."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from airdig.cli.common import Progress, cli_context, echo_json, fail, handle_errors, settings_options

if TYPE_CHECKING:
    from airdig.deepdrift.detect import DetectOptions

F = TypeVar("F", bound=Callable[..., Any])

_STATE_HELP = ("Terraform state: a file, a glob (quote it), s3://bucket/key or an https:// HTTP backend URL "
               "(TF_HTTP_USERNAME/TF_HTTP_PASSWORD for basic auth). Repeatable.")
_TRAIL_HELP = ("CloudTrail source for attribution: a folder of delivered .json.gz logs, s3://bucket/prefix "
               "(only the AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/ folders inside --since-hours are "
               "read; watch reads only objects it has not read before), or 'lookup' (LookupEvents API, "
               "2 requests/s). Repeatable.")


def _detect_options(func: F) -> F:
    for option in reversed([
        click.option("--state", "states", multiple=True, required=True, help=_STATE_HELP),
        click.option("--cloudtrail", "cloudtrail", multiple=True, help=_TRAIL_HELP),
        click.option("--ignore-file", type=click.Path(dir_okay=False), default=None,
                     help=".driftignore-style file: resource or resource.attribute patterns, # comments."),
        click.option("--ignore", "ignore", multiple=True,
                     help="Ignore pattern, e.g. 'aws_instance.*.tags.LastScanned'. Repeatable."),
        click.option("--region", default=None,
                     help="Default AWS region [default: the boto3 default]; state resources whose ARN, "
                          "region attribute, queue URL or availability zone names another region are read "
                          "there."),
        click.option("--regions", "regions", default="",
                     help="Comma-separated extra regions to read (for unmanaged detection where the "
                          "state has no resource). All regions are read in parallel."),
        click.option("--plan", "plan", type=click.Path(dir_okay=False), default=None,
                     help="`terraform show -json PLANFILE` output: differences the pending apply is making "
                          "are reported as pending, not drift."),
        click.option("--since-hours", type=float, default=168.0, show_default=True,
                     help="How far back --cloudtrail lookup and s3:// read."),
        click.option("--graph", type=click.Path(dir_okay=False), default=None,
                     help="skygraph scan --output JSON; raises severity by blast radius."),
    ]):
        func = option(func)
    return func


def _options(states: tuple[str, ...], cloudtrail: tuple[str, ...], ignore_file: str | None,
             ignore: tuple[str, ...], region: str | None, regions: str, plan: str | None, since_hours: float,
             graph: str | None) -> DetectOptions:
    from airdig.deepdrift.detect import DetectOptions

    return DetectOptions(states=list(states), cloudtrail=list(cloudtrail), ignore_file=ignore_file,
                         ignore=list(ignore), region=region, since_hours=since_hours, graph=graph,
                         regions=[r.strip() for r in regions.split(",") if r.strip()], plan=plan)


@click.group("deepdrift")
def deepdrift() -> None:
    """Drift between Terraform state and the live AWS account, attributed through CloudTrail."""


@deepdrift.command("detect")
@_detect_options
@click.option("--format", "fmt", type=click.Choice(("table", "json", "html")), default="table",
              show_default=True, help="Output format (html: one self-contained file).")
@click.option("--output", type=click.Path(dir_okay=False), default=None, help="Write the report here.")
@settings_options
@handle_errors
def detect_cmd(states: tuple[str, ...], cloudtrail: tuple[str, ...], ignore_file: str | None,
               ignore: tuple[str, ...], region: str | None, regions: str, plan: str | None, since_hours: float,
               graph: str | None, fmt: str, output: str | None) -> None:
    """Compare Terraform state with live AWS and report drift.

    Every output carries a coverage matrix: per state file and per (type, account, region) checked,
    unknown (why) or unsupported, and the share of state resources actually compared. Nothing in an
    unknown scope is called missing or unmanaged. Exit status: 0 in sync, 1 drift found, 2 error
    (including: no drift found but some input, state or scope could not be read, so being in sync is
    not proven; and a failed STS call).
    """
    from airdig.deepdrift import report
    from airdig.deepdrift.detect import detect

    progress = Progress("deepdrift detect", total=4)
    result = detect(_options(states, cloudtrail, ignore_file, ignore, region, regions, plan, since_hours, graph),
                    progress=lambda note: progress.advance(note=note))
    progress.finish(f"{len(result.drifts)} drift(s), coverage {result.coverage.get('managed')}/"
                    f"{result.coverage.get('total')}")
    if fmt == "json":
        text = report.to_json(result).decode()
    elif fmt == "html":
        text = report.to_html(result)
    else:
        text = report.to_table(result)
    if output:
        Path(output).write_text(text + "\n", encoding="utf-8")
        click.echo(f"deepdrift: {len(result.drifts)} drift(s); report written to {output}", err=True)
    else:
        click.echo(text)
    for err in result.errors:
        click.echo(f"airdig: warning: {err}", err=True)
    sys.exit(result.exit_code)


@deepdrift.command("watch")
@_detect_options
@click.option("--interval", type=float, default=300.0, show_default=True, help="Seconds between cycles.")
@click.option("--once", is_flag=True, help="Run one cycle, publish, exit (for cron and CI).")
@click.option("--heartbeat", type=click.Path(dir_okay=False), default=None,
              help="File rewritten before each cycle and every 10 s between cycles (a liveness probe "
                   "checks its age; the Helm chart does).")
@click.option("--lease/--no-lease", default=True, show_default=True,
              help="Hold a lease in the store (AIRDIG_DATABASE_URL) on these states: of several replicas "
                   "only the holder runs cycles, a standby takes over when it stops or dies.")
@settings_options
@handle_errors
def watch_cmd(states: tuple[str, ...], cloudtrail: tuple[str, ...], ignore_file: str | None,
              ignore: tuple[str, ...], region: str | None, regions: str, plan: str | None, since_hours: float,
              graph: str | None, interval: float, once: bool, heartbeat: str | None, lease: bool) -> None:
    """Detect drift repeatedly and publish airdig.drift events (detected / resolved) only on change.

    Also publishes airdig.change.recorded for each CloudTrail write that caused a drift. Events go to
    the bus of AIRDIG_BUS_URL; the previous cycle is remembered in <data-dir>/deepdrift-watch.json and the S3 CloudTrail
    objects already read in <data-dir>/deepdrift-cloudtrail.json.
    """
    from airdig.backends.registry import open_bus
    from airdig.deepdrift.detect import detect
    from airdig.deepdrift.watch import Watcher, run

    settings = cli_context().settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    bus = open_bus(settings.bus_url)
    from airdig.deepdrift.cloudtrail import TrailSeen

    opts = _options(states, cloudtrail, ignore_file, ignore, region, regions, plan, since_hours, graph)
    opts.trail_seen = TrailSeen(str(settings.data_dir / "deepdrift-cloudtrail.json"))
    held = None
    if lease:
        import hashlib

        from airdig.backends.registry import open_store
        from airdig.lease import Lease

        store = open_store(settings.database_url)
        store.migrate()
        scope = "deepdrift:watch:" + hashlib.sha1("\n".join(sorted(states)).encode()).hexdigest()
        held = Lease(store, scope, ttl=2 * interval + 300)
    try:
        watcher = Watcher(bus, settings.data_dir / "deepdrift-watch.json")
        run(watcher, lambda: detect(opts), interval, once,
            heartbeat=Path(heartbeat) if heartbeat else None, lease=held.acquire if held else None)
    finally:
        if held is not None:
            held.release()
            held.store.close()
        bus.close()


@deepdrift.command("impact")
@click.argument("resource")
@click.option("--graph", type=click.Path(dir_okay=False), default=None,
              help="Graph JSON written by `airdig skygraph scan --output`.")
@click.option("--engine", default=None,
              help="Engine base URL instead of --graph; needs an engine serving "
                   "GET /api/v1/impact/{id}?hops=N answering {\"nodes\": [{id, distance, path}]} "
                   "(token from AIRDIG_API_TOKEN).")
@click.option("--hops", type=int, default=3, show_default=True, help="Maximum distance.")
@click.option("--format", "fmt", type=click.Choice(("table", "json")), default="table", show_default=True)
@settings_options
@handle_errors
def impact_cmd(resource: str, graph: str | None, engine: str | None, hops: int, fmt: str) -> None:
    """Print the blast radius of RESOURCE (node id, native id such as sg-0abc, or name).

    Breadth-first over the graph following each edge type's declared failure propagation.
    """
    import os

    from airdig.deepdrift.impact import Graph, impact_from_engine

    if bool(graph) == bool(engine):
        fail("give exactly one of --graph FILE or --engine URL")
    if hops < 1:
        fail("--hops must be at least 1")
    if graph:
        nodes = Graph.load(graph).impact(resource, hops)
    else:
        nodes = impact_from_engine(str(engine), resource, hops, os.environ.get("AIRDIG_API_TOKEN"),
                                   cli_context().settings.http_ca_file)
    if fmt == "json":
        echo_json({"resource": resource, "hops": hops, "nodes": nodes})
        return
    if not nodes:
        click.echo(f"No other resource is affected by {resource} within {hops} hop(s).")
        return
    for n in nodes:
        click.echo(f"{n['distance']}  {n.get('kind', ''):28s} {n['id']}  via {' -> '.join(n.get('path', []))}")
