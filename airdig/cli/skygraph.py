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
from airdig.skygraph.aws.accounts import DEFAULT_ROLE_NAME, AccountsError, check_accounts, check_role_name
from airdig.skygraph.graph_state import GraphState
from airdig.skygraph.scan import ScanOptions, ScopeResult, run_scan


def _scan_lease(database_url: str, opts: ScanOptions) -> Lease:
    """One lease per set of scopes (the options that choose them), renewed while the scan runs."""
    import hashlib

    from airdig.backends.registry import open_store

    store = open_store(database_url)
    store.migrate()
    key = orjson.dumps([opts.aws, opts.regions, opts.services, opts.k8s, opts.kubeconfig, opts.context,
                        opts.cluster_name, sorted(opts.tfstate),
                        # other accounts are other scopes (kept out of the key when absent, so a one-account
                        # scan's lease keeps its name)
                        *([opts.org, sorted(opts.accounts or [])] if opts.org or opts.accounts else [])])
    return Lease(store, "skygraph:scan:" + hashlib.sha1(key).hexdigest(), ttl=120.0)


def _services(values: tuple[str, ...]) -> list[str] | None:
    """The --services asked for (None: all), refusing a name no scanner reads."""
    wanted = _split(values) or None
    unknown = sorted(set(wanted or []) - set(SERVICE_NAMES))
    if unknown:
        raise click.BadParameter(f"unknown service(s) {', '.join(unknown)}; known: {', '.join(SERVICE_NAMES)}",
                                 param_hint="--services")
    return wanted


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
@click.option("--org", is_flag=True,
              help="Read every ACTIVE account of the AWS organisation (organizations:ListAccounts), assuming --role-name in each.")
@click.option("--account", "account_ids", multiple=True,
              help="AWS account id(s) to read, comma-separated or repeated, assuming --role-name in each (with --org: in addition).")
@click.option("--role-name", default=DEFAULT_ROLE_NAME, show_default=True,
              help="IAM role assumed in each account other than the credentials' own (with --org/--account).")
@click.option("--external-id", default=None, envvar="AIRDIG_SKYGRAPH_EXTERNAL_ID",
              help="External id passed to AssumeRole (also $AIRDIG_SKYGRAPH_EXTERNAL_ID).")
@handle_errors
def scan(regions: tuple[str, ...], services: tuple[str, ...], no_aws: bool, kubeconfig: str | None,
         context: str | None, cluster_name: str | None, no_k8s: bool, tfstate: tuple[str, ...],
         output: str | None, no_publish: bool, workers: int, lease: bool, org: bool, account_ids: tuple[str, ...],
         role_name: str, external_id: str | None) -> None:
    """Scan every scope, publish created/updated/deleted events, exit 1 if any scope failed.

    A scope is one AWS service in one region, one Kubernetes kind, or one state file. A scope that
    cannot be read is reported and keeps its previous graph: it never produces deletions.
    """
    settings = cli_context().settings
    wanted = _services(services)
    try:
        account_list = check_accounts(_split(account_ids))
        check_role_name(role_name)
    except AccountsError as exc:
        raise click.BadParameter(str(exc), param_hint="--account/--role-name") from None
    if no_aws and (org or account_list):
        raise click.BadParameter("--org/--account read AWS; drop --no-aws", param_hint="--org/--account")
    opts = ScanOptions(aws=not no_aws, regions=_split(regions) or None, services=wanted,
                       k8s=False if no_k8s else (True if (kubeconfig or context) else None),
                       kubeconfig=kubeconfig, context=context, cluster_name=cluster_name,
                       tfstate=list(tfstate), workers=workers, org=org, accounts=account_list or None,
                       role_name=role_name, external_id=external_id)
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


@skygraph.command("follow")
@settings_options
@click.option("--queue-url", required=True,
              help="SQS queue receiving CloudTrail writes (EventBridge 'AWS API Call via CloudTrail' events, "
                   "or S3 notifications of a trail's log files).")
@click.option("--services", multiple=True, help="Only these scanner services, comma-separated [default: all].")
@click.option("--wait", "wait_seconds", type=click.IntRange(0, 20), default=20, show_default=True,
              help="SQS long-poll seconds per receive.")
@click.option("--reconcile-every", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Seconds between full scans of every scope (0: never; run 'skygraph scan' on a schedule instead).")
@click.option("--once", is_flag=True, help="Process one batch of messages and exit (for cron and tests).")
@click.option("--org", is_flag=True,
              help="Follow every account's records (an organisation trail), re-reading them through --role-name.")
@click.option("--role-name", default=DEFAULT_ROLE_NAME, show_default=True, help="Role assumed in each account (--org).")
@click.option("--external-id", default=None, envvar="AIRDIG_SKYGRAPH_EXTERNAL_ID",
              help="External id passed to AssumeRole (also $AIRDIG_SKYGRAPH_EXTERNAL_ID).")
@click.option("--no-publish", is_flag=True, help="Do not publish change events (state is still saved).")
@click.option("--workers", type=click.IntRange(1, 64), default=8, show_default=True, help="Scopes read at once.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address of the probe listener.")
@click.option("--port", type=click.IntRange(0, 65535), default=8082, show_default=True,
              help="Port of /healthz, /readyz and /metrics (not served with --once).")
@handle_errors
def follow(queue_url: str, services: tuple[str, ...], wait_seconds: int, reconcile_every: float, once: bool,
           org: bool, role_name: str, external_id: str | None, no_publish: bool, workers: int, host: str,
           port: int) -> None:
    """Re-describe what CloudTrail writes touched and publish the changes with the writer as actor.

    Security-group, EC2 instance, RDS instance and Lambda function writes re-describe just those
    resources (docs/skygraph.md lists them); any other write re-reads its
    (service, region) scope (counted as 'unmapped' in the summary). Runs until interrupted (Ctrl-C / SIGTERM). A scope that cannot be read leaves its messages in the queue
    for SQS to deliver again; a message that is not CloudTrail is reported and dropped. While it runs it
    serves /healthz (the loop comes round), /readyz (the queue answers; the bus too when publishing) and
    /metrics (its counters) on --host:--port.
    """
    import signal
    import threading

    from airdig.skygraph.follow import Follower

    settings = cli_context().settings
    wanted = _services(services)
    try:
        check_role_name(role_name)
    except AccountsError as exc:
        raise click.BadParameter(str(exc), param_hint="--role-name") from None
    bus = None if no_publish else open_bus(settings.bus_url)
    stop = threading.Event()
    if not once:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    try:
        def publish(ev: CloudEvent) -> None:
            if bus is not None:
                bus.publish(ev.topic, ev.subject, ev.encode())
                bus.flush()

        state = GraphState(settings.data_dir)
        follower = Follower(queue_url, state, publish if bus is not None else None, wait_seconds, workers, wanted,
                            org=org, role_name=role_name, external_id=external_id)
        if once:
            follower.step()
        else:
            from airdig.edge.tls import ServerTls
            from airdig.skygraph.follow_http import start_follow_probes

            probes = start_follow_probes(follower, bus, host, port, tls=ServerTls.from_settings(settings))
            try:
                follower.run(stop.is_set, reconcile_every,
                             lambda: run_scan(ScanOptions(services=wanted, k8s=False, workers=workers, org=org,
                                                          role_name=role_name, external_id=external_id), state,
                                              publish if bus is not None else None))
            finally:
                probes.stop()
    finally:
        if bus is not None:
            bus.close()
    st = follower.stats
    click.echo(f"skygraph follow: {st.messages} messages, {st.writes} writes, {st.ignored_records} ignored records, "
               f"{st.bad_messages} bad messages, {st.redescribed_writes} re-described ({st.redescribed_nodes} nodes), "
               f"{st.unmapped_writes} unmapped, {st.scopes_read} scopes read, {st.scopes_failed} failed, "
               f"{st.published} events published", err=True)
    for failure in st.failures:
        click.echo(f"airdig: follow: {failure}", err=True)
    if once and st.scopes_failed:
        sys.exit(1)
