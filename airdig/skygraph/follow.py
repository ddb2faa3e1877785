"""``airdig skygraph follow``: keep the graph fresh between full scans from CloudTrail.

The source is an SQS queue fed either by an EventBridge rule (``detail-type: AWS API Call via
CloudTrail`` — each message is one EventBridge event whose ``detail`` is the CloudTrail record) or by
S3 event notifications of a CloudTrail trail's bucket (each message names log files; they are read from
S3 and their ``Records`` used). A write mapped to the resources it touched
(:mod:`airdig.skygraph.follow_targets`) re-describes just those and splices them into their scope's
saved graph. Any other successful, non-read-only record names the service it wrote (``eventSource``)
and the region; the scopes of that service in that region (``ec2`` → ``ec2`` and ``vpclinks``, …) are
re-read with the ordinary scan (same state, same locks, same diff), so only their changes are
published — counted as ``unmapped`` and logged. A changed node gets the CloudTrail principal
(``userIdentity.arn``) as the event's ``actor`` when a record of the batch names the node (its id or a
native id appears in the request or response), or when one principal alone touched the scope.

With ``org`` (an organisation trail) a write is read in its ``recipientAccountId`` through the role,
in the ``<service>/<account>/<region>`` scopes of ``skygraph scan --org``. A
message is deleted only after the scopes it touched were read and their events handed to the bus; a
scope that failed (busy, denied) leaves its messages for SQS to deliver again. Messages that are not
CloudTrail (bad JSON, other shapes) are counted, logged and deleted — they would never parse.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from airdig.errors import AirDigError
from airdig.logs import get_logger
from airdig.model.events import CloudEvent, now
from airdig.skygraph.aws import SERVICES
from airdig.skygraph.diff import diff_scope
from airdig.skygraph.follow_targets import Target, redescribe, splice, strings_in, targets_of
from airdig.skygraph.graph import Fragment
from airdig.skygraph.graph_state import GraphState
from airdig.skygraph.scan import ScanOptions, ScanReport, change_events, describe_error, run_scan

log = get_logger("skygraph.follow")

# CloudTrail eventSource → the scanner services whose scopes it can change
EVENT_SOURCES: dict[str, tuple[str, ...]] = {
    "ec2.amazonaws.com": ("ec2", "vpclinks"),
    "autoscaling.amazonaws.com": ("autoscaling", "autoscaling-policies"),
    "elasticloadbalancing.amazonaws.com": ("elbv2", "elbv2-rules", "elb"),
    "rds.amazonaws.com": ("rds",),
    "lambda.amazonaws.com": ("lambda",),
    "dynamodb.amazonaws.com": ("dynamodb",),
    "sqs.amazonaws.com": ("sqs",),
    "sns.amazonaws.com": ("sns",),
    "kms.amazonaws.com": ("kms",),
    "eks.amazonaws.com": ("eks",),
    "elasticache.amazonaws.com": ("elasticache",),
    "iam.amazonaws.com": ("iam",),
    "s3.amazonaws.com": ("s3",),
    "ecs.amazonaws.com": ("ecs",),
    "ecr.amazonaws.com": ("ecr",),
    "elasticfilesystem.amazonaws.com": ("efs",),
    "secretsmanager.amazonaws.com": ("secretsmanager",),
    "acm.amazonaws.com": ("acm",),
    "monitoring.amazonaws.com": ("cloudwatch",),
    "logs.amazonaws.com": ("logs",),
    "events.amazonaws.com": ("events",),
    "states.amazonaws.com": ("stepfunctions",),
    "kinesis.amazonaws.com": ("kinesis",),
    "firehose.amazonaws.com": ("kinesis",),
    "kafka.amazonaws.com": ("kafka",),
    "es.amazonaws.com": ("opensearch",),
    "apigateway.amazonaws.com": ("apigateway",),
    "route53.amazonaws.com": ("route53",),
    "cloudfront.amazonaws.com": ("cloudfront",),
}
_GLOBAL = {s.name for s in SERVICES if s.is_global}
_NO_BASELINE = "no saved graph of the scope yet"
_READ_PREFIXES = ("Describe", "List", "Get", "Head", "Lookup", "BatchGet", "Search", "Select", "Scan", "Query")


class FollowError(AirDigError):
    """The queue (or the credentials) cannot be read; :meth:`Follower.run` backs off and retries."""


@dataclass(frozen=True)
class Write:
    """One CloudTrail write: where, which services' scopes it may change, who, and the strings it names."""

    region: str
    services: tuple[str, ...]
    principal: str
    names: frozenset[str]
    event_time: str = ""
    account: str = ""  # recipientAccountId: the account whose resources changed
    targets: tuple[Target, ...] | None = None  # the resources it touched, when mapped (follow_targets)
    event: str = ""  # eventSource/eventName, for the log of unmapped writes


@dataclass
class FollowStats:
    messages: int = 0
    writes: int = 0
    ignored_records: int = 0  # reads, failed calls, services not scanned
    bad_messages: int = 0
    scopes_read: int = 0
    scopes_failed: int = 0
    redescribed_writes: int = 0  # writes mapped to the resources they touched (re-described alone)
    redescribed_nodes: int = 0
    unmapped_writes: int = 0  # writes that fell back to re-reading their whole scope
    published: int = 0
    failures: list[str] = field(default_factory=list)
    receive_failures: int = 0  # receives from the queue that raised (run() retries them)
    receive_failures_in_a_row: int = 0  # since the last receive that succeeded (readiness)
    last_receive_at: float | None = None  # epoch s of the last receive that succeeded
    last_round_at: float | None = None  # epoch s when run()'s loop last finished a round (liveness)



def write_of(record: dict[str, Any]) -> Write | None:
    """The write a CloudTrail record describes, or ``None`` for reads, failed calls and unknown services."""
    if record.get("errorCode") or record.get("readOnly") is True:
        return None
    name = str(record.get("eventName") or "")
    if record.get("readOnly") is None and name.startswith(_READ_PREFIXES):
        return None
    services = EVENT_SOURCES.get(str(record.get("eventSource") or ""))
    region = record.get("awsRegion")
    if not services or not isinstance(region, str):
        return None
    ident = record.get("userIdentity") or {}
    principal = str(ident.get("arn") or ident.get("principalId") or ident.get("invokedBy") or "")
    names = frozenset(strings_in([record.get("requestParameters"), record.get("responseElements"),
                                record.get("resources")]))
    account = str(record.get("recipientAccountId") or ident.get("accountId") or "")
    targets = targets_of(record)
    return Write(region, services, principal, names, str(record.get("eventTime") or ""), account,
                 tuple(targets) if targets is not None else None, f"{record.get('eventSource')}/{name}")


def records_of(body: dict[str, Any], read_object: Callable[[str, str], bytes]) -> list[dict[str, Any]]:
    """CloudTrail records in one SQS message body (EventBridge event, S3 notification, or a log file)."""
    if isinstance(body.get("detail"), dict) and "eventSource" in body["detail"]:
        return [body["detail"]]  # EventBridge "AWS API Call via CloudTrail"
    if "eventSource" in body:
        return [body]
    out: list[dict[str, Any]] = []
    for r in body.get("Records") or []:
        if not isinstance(r, dict):
            continue
        s3 = r.get("s3")
        if isinstance(s3, dict):  # an S3 notification: the CloudTrail log file is in the bucket
            bucket = str((s3.get("bucket") or {}).get("name") or "")
            key = str((s3.get("object") or {}).get("key") or "")
            if not bucket or not key or not key.endswith((".json", ".json.gz")):
                continue
            raw = read_object(bucket, key)
            data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
            out.extend(x for x in orjson.loads(data).get("Records") or [] if isinstance(x, dict))
        elif "eventSource" in r:
            out.append(r)
    if not out and "Records" not in body:
        raise ValueError("neither a CloudTrail record, an EventBridge CloudTrail event nor an S3 notification")
    return out


def actor_for(node_id: str, natives: tuple[str, ...], writes: list[Write], name: str = "") -> str | None:
    """The principal of the write that names the node (its id, a native id or its name); else the only
    principal of the writes, if there is one."""
    keys = {node_id, *natives, name} - {""}
    named = {w.principal for w in writes if w.principal and keys & w.names}
    if len(named) == 1:
        return named.pop()
    principals = {w.principal for w in writes if w.principal}
    return principals.pop() if len(principals) == 1 and not named else None


class Follower:
    """One SQS queue, drained batch by batch; :meth:`step` is one receive → re-read → publish → delete."""

    def __init__(self, queue_url: str, state: GraphState, publish: Callable[[CloudEvent], None] | None,
                 wait_seconds: int = 20, workers: int = 8, services: list[str] | None = None,
                 org: bool = False, role_name: str | None = None, external_id: str | None = None) -> None:
        """``org``: records of every account (an organisation trail) are re-read in their account through
        ``role_name``, in the ``<service>/<account>/<region>`` scopes of ``skygraph scan --org``; without
        it only the credentials' account is followed and other accounts' records are ignored."""
        import boto3
        from botocore.config import Config

        from airdig.skygraph.aws.common import RETRY_CONFIG

        self.queue_url = queue_url
        self.state = state
        self.publish = publish
        self.wait_seconds = wait_seconds
        self.workers = workers
        self.services = set(services) if services else None
        from airdig.skygraph.aws.common import Clients

        session = boto3.session.Session()
        config = Config(retries=RETRY_CONFIG, connect_timeout=10, read_timeout=max(60, wait_seconds + 10))
        self._session = session
        self._describe_config = Config(retries=RETRY_CONFIG, connect_timeout=10, read_timeout=60)
        self._clients = Clients(session, self._describe_config)
        self._account_clients: dict[str, Clients] = {}  # --org: account -> clients through the role
        region = queue_url.split(".")[1] if queue_url.startswith("https://sqs.") else (session.region_name or "us-east-1")
        self._sqs = session.client("sqs", region_name=region, config=config)
        self._s3 = session.client("s3", config=config)
        self.stats = FollowStats()
        self.org = org
        self.role_name = role_name
        self.external_id = external_id
        try:
            ident = session.client("sts", config=config).get_caller_identity()
        except Exception as exc:
            raise FollowError(f"follow: cannot identify the credentials' account: {describe_error(exc)}") from exc
        self._caller = str(ident.get("Account") or "")
        self._partition = str(ident.get("Arn") or "arn:aws:").split(":")[1] or "aws"

    def _read_object(self, bucket: str, key: str) -> bytes:
        return bytes(self._s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    def step(self) -> int:
        """Process one batch; returns the number of messages received."""
        try:
            resp = self._sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10,
                                             WaitTimeSeconds=self.wait_seconds)
        except Exception as exc:
            self.stats.receive_failures += 1
            self.stats.receive_failures_in_a_row += 1
            raise FollowError(f"follow: cannot receive from {self.queue_url}: {describe_error(exc)}") from exc
        self.stats.receive_failures_in_a_row = 0
        self.stats.last_receive_at = time.time()
        messages = resp.get("Messages") or []
        if not messages:
            return 0
        self.stats.messages += len(messages)
        writes_by_msg: dict[str, list[Write]] = {}
        done: list[str] = []
        for m in messages:
            handle = m["ReceiptHandle"]
            try:
                body = orjson.loads(m.get("Body") or "")
                if not isinstance(body, dict):
                    raise ValueError("the message body is not a JSON object")
                records = records_of(body, self._read_object)
            except Exception as exc:  # a poison message: report it precisely, drop it, keep following
                self.stats.bad_messages += 1
                self.stats.failures.append(f"message {m.get('MessageId')}: {type(exc).__name__}: {exc}")
                log.warning("bad message dropped", message_id=m.get("MessageId"), error=str(exc))
                done.append(handle)
                continue
            ws = []
            for r in records:
                w = write_of(r)
                if w is None or (self.services is not None and not set(w.services) & self.services) or (
                        not self.org and w.account and w.account != self._caller) or (self.org and not w.account):
                    self.stats.ignored_records += 1
                else:
                    ws.append(w)
            self.stats.writes += len(ws)
            writes_by_msg[handle] = ws
        by_place: dict[tuple[str, str], set[str]] = {}
        # (account — with --org only —, service, region) -> section -> ids
        targeted: dict[tuple[str, str, str], dict[str, set[str]]] = {}
        for ws in writes_by_msg.values():
            for w in ws:
                if self._targeted(w):
                    self.stats.redescribed_writes += 1
                    for t in w.targets or ():
                        targeted.setdefault((w.account if self.org else "", t.service, w.region), {}).setdefault(
                            t.section, set()).update(t.ids)
                    continue
                self.stats.unmapped_writes += 1
                log.info("write not mapped to its resources: re-reading its scopes", event=w.event, region=w.region)
                wanted = [s for s in w.services if self.services is None or s in self.services]
                place = (w.account if self.org else "", "global" if set(wanted) <= _GLOBAL else w.region)
                by_place.setdefault(place, set()).update(wanted)
        failed_scopes: set[str] = set()
        all_writes = [w for ws in writes_by_msg.values() for w in ws]
        for (account, service, region), sections in sorted(targeted.items()):
            targets = [Target(sec, tuple(sorted(ids))) for sec, ids in sorted(sections.items())]
            error = self._redescribe(account, service, region, targets, all_writes)
            self.stats.scopes_read += 1
            scope = f"{service}/{account + '/' if account else ''}{region}"
            if error == _NO_BASELINE:  # the scope was never read in full: read it now (the diff needs a baseline)
                by_place.setdefault((account, region), set()).add(service)
            elif error is not None:
                failed_scopes.add(scope)
                self.stats.failures.append(f"{scope}: {error}")
        for (account, region), services in sorted(by_place.items()):
            report = self._rescan(account, region, sorted(services), all_writes)
            self.stats.scopes_read += len(report.scopes)
            for res in report.failed:
                failed_scopes.add(res.scope)
                self.stats.failures.append(f"{res.scope}: {res.error}")
        self.stats.scopes_failed += len(failed_scopes)
        for handle, ws in writes_by_msg.items():
            touched = {scope for w in ws for scope in self._scopes_of(w)}
            if not touched & failed_scopes:
                done.append(handle)
        for i in range(0, len(done), 10):  # a failed delete only means SQS redelivers: the re-read is idempotent
            self._sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(n), "ReceiptHandle": h} for n, h in enumerate(done[i:i + 10])])
        return len(messages)

    def _targeted(self, w: Write) -> bool:
        """Whether the write is re-described alone: mapped, and of a followed service."""
        return bool(w.targets) and all(self.services is None or t.service in self.services for t in w.targets or ())

    def _scopes_of(self, w: Write) -> set[str]:
        if self._targeted(w):
            return {f"{t.service}/{w.account + '/' if self.org else ''}{w.region}" for t in w.targets or ()}
        return {f"{s}/{w.account + '/' if self.org else ''}{'global' if s in _GLOBAL else w.region}" for s in w.services}

    def _publisher(self, writes: list[Write]) -> Callable[[CloudEvent], None]:
        """Publish with the CloudTrail principal of the write that names the node as ``actor``."""
        def publish(ev: CloudEvent) -> None:
            node = ev.data.get("node") if ev.type.startswith("airdig.resource.") else None
            if isinstance(node, dict):
                actor = actor_for(str(node.get("id")), tuple(node.get("native_ids") or ()), writes,
                                  str(node.get("name") or ""))
                if actor:
                    ev.data["actor"] = actor
            self.stats.published += 1
            if self.publish is not None:
                self.publish(ev)

        return publish

    def _clients_for(self, account: str) -> Any:
        """The credentials' own clients, or (``--org``) clients acting in ``account`` through the role,
        assumed once per account and refreshed as they age (as ``skygraph scan --org`` does)."""
        from airdig.skygraph.aws import accounts as aws_accounts
        from airdig.skygraph.aws.common import Clients

        if not account or account == self._caller:
            return self._clients
        if account not in self._account_clients:
            session = aws_accounts.assume_session(
                self._session, self._describe_config, self._session.region_name or "us-east-1", account,
                self._partition, self.role_name or aws_accounts.DEFAULT_ROLE_NAME, self.external_id)
            self._account_clients[account] = Clients(session, self._describe_config)
        return self._account_clients[account]

    def _redescribe(self, account: str, service: str, region: str, targets: list[Target],
                    writes: list[Write]) -> str | None:
        """Re-describe the targeted resources of one (service, [account,] region) scope, splice them into
        its saved graph, publish the differences and save. Returns an error (the messages stay in the
        queue), :data:`_NO_BASELINE` when the scope has no saved graph yet, or ``None``."""
        from airdig.skygraph.aws.common import Where

        scope = f"{service}/{account + '/' if account else ''}{region}"
        try:
            with self.state.lock(scope):
                prev = self.state.load(scope)
                if prev is None:
                    return _NO_BASELINE
                started = now()
                where = Where(account or self._caller, region, self._partition)
                clients = self._clients_for(account)
                frag = Fragment(scope, read_at=started)
                for t in targets:
                    frag.extend(redescribe(clients, where, t, scope))
                cur, touched = splice(prev, frag, targets, self.state.load_all())
                changes = diff_scope(prev, cur, scope=scope, read_at=started, confirm_only=touched)
                publish = self._publisher([w for w in writes
                                           if w.region == region and (not account or w.account == account)])
                for ev in change_events(changes):
                    publish(ev)
                self.state.save(scope, cur)
                self.stats.redescribed_nodes += len(touched)
                log.info("re-described", scope=scope, nodes=len(touched), created=changes.count("created"),
                         updated=changes.count("updated"), deleted=changes.count("deleted"))
        except Exception as exc:  # busy (a full scan holds the scope), denied, throttled out
            log.warning("re-describe failed", scope=scope, error=describe_error(exc))
            return describe_error(exc)
        return None

    def _rescan(self, account: str, region: str, services: list[str], writes: list[Write]) -> ScanReport:
        regional = [w for w in writes
                    if (w.region == region or region == "global") and (not account or w.account == account)]
        publish = self._publisher(regional)

        opts = ScanOptions(regions=[region] if region != "global" else ["us-east-1"], services=services, k8s=False,
                           workers=self.workers, accounts=[account] if self.org else None,
                           external_id=self.external_id)
        if self.role_name:
            opts.role_name = self.role_name
        return run_scan(opts, self.state, publish)

    def run(self, stop: Callable[[], bool], reconcile_every: float = 0.0,
            reconcile: Callable[[], object] | None = None) -> None:
        """Follow until ``stop()``; every ``reconcile_every`` seconds run ``reconcile`` (a full scan)."""
        last = time.monotonic()
        backoff = 1.0
        while not stop():
            try:
                self.step()
                backoff = 1.0
            except Exception as exc:  # the queue is unreachable for a while: keep following, slower
                log.warning("follow step failed", error=str(exc), retry_in_s=backoff)
                deadline = time.monotonic() + backoff
                while time.monotonic() < deadline and not stop():
                    time.sleep(0.2)
                backoff = min(60.0, backoff * 2)
            if reconcile is not None and reconcile_every > 0 and time.monotonic() - last >= reconcile_every:
                reconcile()
                last = time.monotonic()
            self.stats.last_round_at = time.time()
