"""One scan: read every scope concurrently, resolve edges, diff with the previous graph, publish, save.

A scope is ``<service>/<region>`` for AWS (``ec2/us-east-1``, ``iam/global``; ``<service>/<account>/<region>``
when several accounts are read), ``k8s.<kind>/<cluster>``
for Kubernetes and ``terraform/<state>`` for a state file. Each scope is locked for the whole scan (a
second scan of the same scope reports it busy instead of overlapping), read on a thread pool with
boto3's adaptive retry (backoff on throttling), and either succeeds or fails as a whole: a failed scope
is reported, publishes nothing and keeps its previous graph, so it never produces deletions.

    report = run_scan(ScanOptions(regions=["us-east-1"]), GraphState(data_dir), publish=bus_publish)
    report.failed  # [ScopeResult(scope="lambda/us-east-1", error="AccessDeniedException: ...")]
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from airdig.errors import AirDigError
from airdig.logs import get_logger
from airdig.model.events import CloudEvent, confirm_events, edge_event, now, resource_event, to_rfc3339
from airdig.skygraph import terraform
from airdig.skygraph.aws import SERVICES
from airdig.skygraph.aws import accounts as aws_accounts
from airdig.skygraph.aws.common import RETRY_CONFIG, Clients, Where
from airdig.skygraph.diff import Changes, NodeChange, diff
from airdig.skygraph.gcpause import gc_paused
from airdig.skygraph.graph import Fragment, Graph, ScopeGraph, resolve
from airdig.skygraph.graph_state import GraphState
from airdig.skygraph.k8s import reader as k8s_reader
from airdig.skygraph.k8s.transform import KIND_BY_API, KINDS, SECRET, scope_of, transform_kind

log = get_logger("skygraph")
SOURCE = "skygraph"


@dataclass
class ScanOptions:
    aws: bool = True
    regions: list[str] | None = None  # None: every region enabled for the account
    services: list[str] | None = None  # None: all of SERVICES
    k8s: bool | None = None  # None: scan when a kubeconfig or in-cluster config is found
    kubeconfig: str | None = None
    context: str | None = None
    cluster_name: str | None = None
    tfstate: list[str] = field(default_factory=list)
    workers: int = 8
    # several accounts (airdig.skygraph.aws.accounts): scopes become <service>/<account>/<region>
    org: bool = False
    accounts: list[str] | None = None
    role_name: str = aws_accounts.DEFAULT_ROLE_NAME
    external_id: str | None = None


@dataclass
class ScopeResult:
    scope: str
    error: str | None = None
    nodes: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class ScanReport:
    graph: Graph
    changes: Changes
    scopes: list[ScopeResult]
    published: int = 0

    @property
    def failed(self) -> list[ScopeResult]:
        return [s for s in self.scopes if not s.ok]


Task = Callable[[], Fragment]


def describe_error(exc: BaseException) -> str:
    """A one-line reason: the AWS error code when there is one (``AccessDenied: ...``)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        err = response["Error"]
        return f"{err.get('Code', 'Error')}: {err.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"


# ------------------------------------------------------------------------------------------- planning


def _aws_tasks(opts: ScanOptions, setup_errors: list[ScopeResult]) -> dict[str, Task]:
    import boto3
    from botocore.config import Config

    # boto3 honours AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_<SERVICE>) from the environment itself.
    config = Config(retries=RETRY_CONFIG, connect_timeout=10, read_timeout=60, max_pool_connections=opts.workers * 2)
    session = boto3.session.Session()
    clients = Clients(session, config)
    home = session.region_name or "us-east-1"
    try:
        ident = clients.client("sts", home).get_caller_identity()
        account = str(ident["Account"])
        partition = str(ident.get("Arn", "arn:aws:").split(":")[1]) or "aws"
    except Exception as exc:
        setup_errors.append(ScopeResult("aws/credentials", describe_error(exc)))
        return {}
    chosen = aws_accounts.targets(
        session, config, home, account, partition, org=opts.org, accounts=opts.accounts or [],
        role_name=opts.role_name, external_id=opts.external_id,
        on_error=lambda scope, exc: setup_errors.append(ScopeResult(scope, describe_error(exc))))
    tasks: dict[str, Task] = {}
    # each account lists its own regions (opt-in regions differ per account): one round trip each, in parallel
    with ThreadPoolExecutor(max_workers=max(1, min(opts.workers, len(chosen)))) as pool:
        for part in pool.map(lambda t: _account_tasks(opts, t, config, home, setup_errors), chosen):
            tasks.update(part)
    return tasks


def _account_tasks(opts: ScanOptions, target: aws_accounts.Target, config: Any, home: str,
                   setup_errors: list[ScopeResult]) -> dict[str, Task]:
    """One account's scopes: every wanted service in every region (``<service>/[<account>/]<region>``)."""
    clients = Clients(target.session, config)
    regions = opts.regions
    if not regions:
        try:
            resp = clients.client("ec2", home).describe_regions(AllRegions=False)
            regions = sorted(r["RegionName"] for r in resp.get("Regions", []))
        except Exception as exc:
            setup_errors.append(ScopeResult(f"aws/{target.infix}regions", describe_error(exc)))
            return {}
    wanted = set(opts.services or [s.name for s in SERVICES])
    tasks: dict[str, Task] = {}
    for svc in SERVICES:
        if svc.name not in wanted:
            continue
        for region in ["global"] if svc.is_global else regions:
            scope = f"{svc.name}/{target.infix}{region}"
            where = Where(target.account, region, target.partition)

            def task(svc: Any = svc, where: Where = where, scope: str = scope) -> Fragment:
                raw = svc.get(clients, where)
                with gc_paused():
                    return svc.transform(raw, where, scope)  # type: ignore[no-any-return]

            tasks[scope] = task
    return tasks


def _k8s_tasks(opts: ScanOptions, setup_errors: list[ScopeResult]) -> dict[str, Task]:
    if opts.k8s is False:
        return {}
    explicit = opts.k8s is True or bool(opts.kubeconfig or opts.context or opts.cluster_name)
    if not explicit and not (k8s_reader.default_kubeconfig() or os.environ.get("KUBERNETES_SERVICE_HOST")):
        return {}
    try:
        target = k8s_reader.connect(opts.kubeconfig, opts.context, opts.cluster_name)
    except Exception as exc:
        setup_errors.append(ScopeResult(f"k8s/{opts.cluster_name or opts.context or 'config'}", describe_error(exc)))
        return {}
    lists: dict[str, dict[str, Any]] = {}
    locks = {k.api_kind: threading.Lock() for k in KINDS}

    def fetch(kind_name: str) -> dict[str, Any]:
        with locks[kind_name]:  # the pod list is read once, by whichever of pods/services asks first
            if kind_name not in lists:
                lists[kind_name] = k8s_reader.get_list(target, KIND_BY_API[kind_name])
            return lists[kind_name]

    tasks: dict[str, Task] = {}
    for kind in KINDS:
        def task(kind: Any = kind) -> Fragment:
            raw = fetch(kind.api_kind)
            # a service's pods come from the pod list: without it the selector edges are unknown, so the
            # whole service scope fails rather than reporting every service→pod edge as deleted
            pods = fetch("Pod") if kind.api_kind == "Service" else None
            with gc_paused():
                return transform_kind(kind, raw, target.cluster, pods)

        tasks[scope_of(kind, target.cluster)] = task
    # Secrets are no longer listed (their nodes come with the pods that name them). The scope that once
    # listed them is read as empty, so an upgraded data dir drops the secrets no pod names any more
    # instead of keeping them forever; those a pod names are present in the pod scope and stay.
    retired = scope_of(SECRET, target.cluster)
    tasks[retired] = lambda: Fragment(retired)
    return tasks


def _terraform_tasks(opts: ScanOptions, setup_errors: list[ScopeResult]) -> dict[str, Task]:
    tasks: dict[str, Task] = {}
    for spec in opts.tfstate:
        try:
            sources = terraform.expand([spec])
        except AirDigError as exc:
            setup_errors.append(ScopeResult(f"terraform/{spec}", str(exc)))
            continue
        for source in sources:
            def task(source: str = source) -> Fragment:
                resources = terraform.read_state_resources(source)
                with gc_paused():
                    return terraform.transform_state(resources, source)

            tasks[terraform.scope_of(source)] = task
    return tasks


# ------------------------------------------------------------------------------------------- running


def run_scan(opts: ScanOptions, state: GraphState, publish: Callable[[CloudEvent], None] | None = None,
             on_scope: Callable[[ScopeResult], None] | None = None,
             on_plan: Callable[[int], None] | None = None) -> ScanReport:
    """Scan, diff against ``state``, hand each change event to ``publish``, then save the new state.

    The state of a scope is saved only after its events were handed over, so an interrupted publish
    repeats the events next time rather than losing them.
    """
    results: list[ScopeResult] = []
    tasks: dict[str, Task] = {}
    started = now()  # every scope is read after this: the lower bound of the next scan's changes
    if opts.aws:
        tasks.update(_aws_tasks(opts, results))
    tasks.update(_k8s_tasks(opts, results))
    tasks.update(_terraform_tasks(opts, results))
    if on_plan:
        on_plan(len(tasks))
    for r in results:
        log.warning("scope failed", scope=r.scope, error=r.error)
        if on_scope:
            on_scope(r)
    fragments: list[Fragment] = []
    with contextlib.ExitStack() as locks:
        runnable: dict[str, Task] = {}
        for scope, task in tasks.items():
            try:
                locks.enter_context(state.lock(scope))
                runnable[scope] = task
            except AirDigError as exc:
                results.append(ScopeResult(scope, str(exc)))
        with ThreadPoolExecutor(max_workers=max(1, opts.workers), thread_name_prefix="skygraph") as pool:
            futures = {scope: pool.submit(timed, task) for scope, task in runnable.items()}
            for scope, fut in futures.items():
                try:
                    frag = fut.result()
                except Exception as exc:  # one failing service/region never aborts the scan
                    res = ScopeResult(scope, describe_error(exc))
                    log.warning("scope failed", scope=scope, error=res.error)
                else:
                    fragments.append(frag)
                    res = ScopeResult(scope, nodes=len(frag.nodes))
                results.append(res)
                if on_scope:
                    on_scope(res)
        report = finish(fragments, results, state, publish, observed_at=started)
    return report


def timed(task: Task) -> Fragment:
    """Run a scope's read and stamp the fragment with when it started (its nodes' confirmation time)."""
    started = now()
    frag = task()
    if frag.read_at is None:
        frag.read_at = started
    return frag


def confirms(scope: str) -> bool:
    """Whether reading ``scope`` confirms its nodes: the cloud and Kubernetes APIs do; a Terraform
    state file only says what was applied once, not that it still exists."""
    return not scope.startswith("terraform/")


def finish(fragments: list[Fragment], results: list[ScopeResult], state: GraphState,
           publish: Callable[[CloudEvent], None] | None, observed_at: float | None = None) -> ScanReport:
    """Resolve, diff, publish and save (the scopes' locks are held by the caller)."""
    ok = {f.scope for f in fragments}
    failed = {r.scope for r in results if not r.ok}
    previous = state.load_all()
    known = {scope: list(sg.nodes.values()) for scope, sg in previous.items() if scope not in ok}
    with gc_paused():  # CPU-only and acyclic: see airdig.skygraph.gcpause
        graph = resolve(fragments, known)
        for scope in ok:
            graph.scopes.setdefault(scope, ScopeGraph())  # an empty scope is a result: its old nodes are gone
        read_at = {f.scope: f.read_at for f in fragments if f.read_at is not None and confirms(f.scope)}
        changes = diff(previous, graph, failed, read_at)
    published = 0
    if publish is not None:
        published = publish_changes(changes, publish)
    for scope in ok:
        graph.scopes[scope].observed_at = observed_at
        state.save(scope, graph.scopes[scope])
    log.info("scan finished", scopes=len(results), failed=len(failed), nodes=sum(1 for _ in graph.nodes()),
             created=changes.count("created"), updated=changes.count("updated"),
             deleted=changes.count("deleted"), published=published, unresolved_edges=graph.unresolved)
    return ScanReport(graph, changes, results, published)


def change_events(changes: Changes, at: float | None = None) -> list[CloudEvent]:
    """Events in apply order: nodes created/updated, edges observed, edges deleted, nodes deleted, then
    the confirmations of the nodes that did not change."""
    t = now() if at is None else at
    events: list[CloudEvent] = []
    for c in changes.nodes:
        if c.action != "deleted":
            events.append(_timed(resource_event(c.action, c.node, SOURCE, changed=list(c.changed) or None, time=t,
                                                confirmed_at=c.confirmed_at), c))
    events.extend(edge_event(c.action, c.edge, SOURCE, time=t) for c in changes.edges if c.action == "observed")
    events.extend(edge_event(c.action, c.edge, SOURCE, time=t) for c in changes.edges if c.action == "deleted")
    events.extend(_timed(resource_event("deleted", c.node, SOURCE, time=t), c)
                  for c in changes.nodes if c.action == "deleted")
    for conf in changes.confirmed:
        events.extend(confirm_events(conf.scope, list(conf.node_ids), conf.at, SOURCE, conf.interval, time=t))
    return events


def _timed(ev: CloudEvent, c: NodeChange) -> CloudEvent:
    """Say when the change happened, as far as scans can tell: after the scope's previous observation
    (``observed_between``), at the object's own rollout time when it records one (``changed_at``);
    a node the first scan of its scope reports is ``discovered``, not created."""
    if c.observed_since is None:
        if c.action == "created":
            ev.data["discovered"] = True
    else:
        ev.data["observed_between"] = [to_rfc3339(c.observed_since), to_rfc3339(ev.time)]
    if c.changed_at is not None:
        ev.data["changed_at"] = to_rfc3339(c.changed_at)
    return ev


def publish_changes(changes: Changes, publish: Callable[[CloudEvent], None]) -> int:
    events = change_events(changes)
    for ev in events:
        publish(ev)
    return len(events)
