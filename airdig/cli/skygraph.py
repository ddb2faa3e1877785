"""``airdig skygraph scan``: read AWS, Kubernetes and Terraform state into the graph, publish the changes."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import orjson

from airdig.backends.registry import open_bus
from airdig.cli.common import Progress, cli_context, handle_errors, settings_options
from airdig.lease import Lease
from airdig.model.events import CloudEvent
from airdig.model.redact import redact_text
from airdig.skygraph.aws import SERVICE_NAMES
from airdig.skygraph.graph_state import GraphState
from airdig.skygraph.scan import ScanOptions, ScopeResult, run_scan


def _scan_lease(database_url: str, opts: ScanOptions) -> Lease:
    """One lease per set of scopes (the options that choose them), renewed while the scan runs."""
    import hashlib

    from airdig.backends.registry import open_store

    store = open_store(database_url)
    store.migrate()
    key = orjson.dumps([opts.aws, opts.regions, opts.services, opts.k8s, opts.kubeconfig, opts.context,
                        opts.cluster_name, sorted(opts.tfstate)])
    return Lease(store, "skygraph:scan:" + hashlib.sha1(key).hexdigest(), ttl=120.0)


@click.group("skygraph")
def skygraph() -> None:
    """SkyGraph: the AWS + Kubernetes + Terraform resource graph."""


def _split(values: tuple[str, ...]) -> list[str]:
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


@skygraph.command("scan")
@settings_options
@click.option("--regions", multiple=True, help="AWS regions, comma-separated or repeated [default: every enabled region].")
@click.option("--services", multiple=True,
              help=f"AWS services to read, comma-separated [default: all: {', '.join(SERVICE_NAMES)}].")
@click.option("--no-aws", is_flag=True, help="Do not read AWS.")
@click.option("--kubeconfig", type=click.Path(dir_okay=False), default=None,
              help="Kubeconfig file [default: $KUBECONFIG, ~/.kube/config, or in-cluster config].")
@click.option("--context", default=None, help="Kubeconfig context [default: the current context].")
@click.option("--cluster-name", default=None, help="Cluster name used in node ids [default: the context's cluster].")
@click.option("--no-k8s", is_flag=True, help="Do not read Kubernetes even when a kubeconfig is found.")
@click.option("--tfstate", multiple=True, help="Terraform state file, glob, s3:// or https:// URL (repeatable).")
@click.option("--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the scanned graph as JSON {nodes, edges} to this file ('-' for stdout).")
@click.option("--no-publish", is_flag=True, help="Do not publish change events to the bus (state is still saved).")
@click.option("--workers", type=click.IntRange(1, 64), default=8, show_default=True, help="Scopes read at once.")
@click.option("--lease/--no-lease", default=True, show_default=True,
              help="Hold a lease in the store (AIRDIG_DATABASE_URL) on this scan's scopes while publishing: a "
                   "second scan of the same scopes exits at once (status 0) instead of publishing them twice.")
@handle_errors
def scan(regions: tuple[str, ...], services: tuple[str, ...], no_aws: bool, kubeconfig: str | None,
         context: str | None, cluster_name: str | None, no_k8s: bool, tfstate: tuple[str, ...],
         output: str | None, no_publish: bool, workers: int, lease: bool) -> None:
    """Scan every scope, publish created/updated/deleted events, exit 1 if any scope failed.

    A scope is one AWS service in one region, one Kubernetes kind, or one state file. A scope that
    cannot be read is reported and keeps its previous graph: it never produces deletions.
    """
    settings = cli_context().settings
    wanted = _split(services) or None
    unknown = sorted(set(wanted or []) - set(SERVICE_NAMES))
    if unknown:
        raise click.BadParameter(f"unknown service(s) {', '.join(unknown)}; known: {', '.join(SERVICE_NAMES)}",
                                 param_hint="--services")
    opts = ScanOptions(aws=not no_aws, regions=_split(regions) or None, services=wanted,
                       k8s=False if no_k8s else (True if (kubeconfig or context) else None),
                       kubeconfig=kubeconfig, context=context, cluster_name=cluster_name,
                       tfstate=list(tfstate), workers=workers)
    progress = Progress("skygraph scan")

    def on_plan(n: int) -> None:
        progress.total = n

    def on_scope(r: ScopeResult) -> None:
        progress.advance(note=r.scope if r.ok else f"{r.scope} FAILED")

    held = None if no_publish or not lease else _scan_lease(settings.database_url, opts)
    if held is not None and not held.acquire():
        held.store.close()
        click.echo(f"airdig: another replica holds the scan lease {held.scope}; nothing scanned", err=True)
        return
    bus = None if no_publish else open_bus(settings.bus_url)
    try:
        def publish(ev: CloudEvent) -> None:
            if bus is not None:
                bus.publish(ev.topic, ev.subject, ev.encode())

        if held is not None:
            with held.kept():
                report = run_scan(opts, GraphState(settings.data_dir), publish, on_scope, on_plan)
                if bus is not None:
                    bus.flush()
        else:
            report = run_scan(opts, GraphState(settings.data_dir), None if bus is None else publish, on_scope,
                              on_plan)
            if bus is not None:
                bus.flush()
    finally:
        if bus is not None:
            bus.close()
        if held is not None:
            held.store.close()
    ch = report.changes
    nodes = len({n.id for n in report.graph.nodes()})
    progress.finish(f"{len(report.scopes)} scopes, {len(report.failed)} failed, {nodes} nodes; "
                    f"{ch.count('created')} created, {ch.count('updated')} updated, {ch.count('deleted')} deleted; "
                    f"{report.published} events published")
    if output:
        body = orjson.dumps(report.graph.to_json(), option=orjson.OPT_INDENT_2)
        if output == "-":
            sys.stdout.buffer.write(body + b"\n")
        else:
            Path(output).write_bytes(body)
    if report.failed:
        for r in report.failed:
            click.echo(redact_text(f"airdig: scope failed: {r.scope}: {r.error}"), err=True)
        click.echo(f"airdig: error: {len(report.failed)} of {len(report.scopes)} scopes failed "
                   "(their previous graph is kept; nothing was deleted for them)", err=True)
        sys.exit(1)
