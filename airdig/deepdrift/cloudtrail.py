"""CloudTrail records: reading them (S3-delivered log files, a local folder, LookupEvents) and reading
*who*, *how* and *what* out of each write event.

Records arrive unordered and repeated (S3 delivery is at-least-once, LookupEvents overlaps pages): the
:class:`Trail` keeps one event per ``eventID``, sorted by ``eventTime``. Each event names the nodes it
changed and the attributes it set, read through the table in :mod:`airdig.deepdrift.writes` (keyed by
``eventSource`` and ``eventName``, which is what tells ``CreateAlias`` in KMS from ``CreateAlias`` in
Lambda); a write the table does not know is kept with ``known=False`` (counted, never guessed).
Read-only and failed calls explain no drift and are dropped while parsing; a record of unknown shape
is reported with its file and position.
"""

from __future__ import annotations

import gc
import gzip
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any

import orjson

from airdig.deepdrift import writes
from airdig.deepdrift.writes import Target
from airdig.errors import InvalidInput
from airdig.logs import get_logger
from airdig.model.redact import redact

log = get_logger("deepdrift.cloudtrail")

_READ_PREFIXES = ("Describe", "Get", "List", "Head", "Lookup", "Search", "Scan", "Query", "BatchGet",
                  "Select", "Check", "Validate", "Estimate", "Preview", "Test")
_CONSOLE_AGENTS = ("console.amazonaws.com", "signin.amazonaws.com", "aws internal")


@dataclass(slots=True)
class TrailEvent:
    """One write call: who (principal), how (channel), what (event name, resources), when, from where."""

    event_id: str
    event_name: str
    event_source: str
    event_time: str
    ts: float
    principal: str
    principal_type: str
    principal_arn: str
    session: str
    channel: str
    user_agent: str
    source_ip: str
    targets: tuple[Target, ...] = ()
    known: bool = True  # False: the event name is not in the writes table (counted, never guessed)
    region: str = ""
    account: str = ""
    # as recorded, NOT yet redacted: only :attr:`request_parameters` (redacted) may leave this object. Redacting
    # lazily spares the walk over every write event's parameters when only a few ever become a cause.
    raw_parameters: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def request_parameters(self) -> dict[str, Any]:
        """The request parameters with secret-like values redacted (what may be published or stored)."""
        redacted: dict[str, Any] = redact(self.raw_parameters)
        return redacted

    def to_saved(self) -> dict[str, Any]:
        """The event as :class:`TrailSeen` writes it to disk (parameters redacted)."""
        return {"event_id": self.event_id, "event_name": self.event_name, "event_source": self.event_source,
                "event_time": self.event_time, "ts": self.ts, "principal": self.principal,
                "principal_type": self.principal_type, "principal_arn": self.principal_arn,
                "session": self.session, "channel": self.channel, "user_agent": self.user_agent,
                "source_ip": self.source_ip, "region": self.region, "account": self.account, "known": self.known,
                "targets": [{"kind": t.kind, "ids": list(t.ids), "attributes": list(t.attributes)}
                            for t in self.targets],
                "raw_parameters": self.request_parameters}

    @classmethod
    def from_saved(cls, doc: dict[str, Any]) -> TrailEvent:
        """The inverse of :meth:`to_saved` (its parameters were redacted when saved, and stay so)."""
        targets = tuple(Target(kind=str(t["kind"]), ids=tuple(t["ids"]), attributes=tuple(t["attributes"]))
                        for t in doc.get("targets", ()))
        fields = {k: v for k, v in doc.items() if k != "targets"}
        return cls(**fields, targets=targets)

    @property
    def service(self) -> str:
        return self.event_source.split(".", 1)[0]

    def brief(self) -> dict[str, Any]:
        """The per-diff ``cause``: the contract's six fields."""
        return {"event_id": self.event_id, "event_name": self.event_name, "event_time": self.event_time,
                "principal": self.principal, "channel": self.channel, "source_ip": self.source_ip}

    def cause(self) -> dict[str, Any]:
        """The ``cause`` object of the drift JSON contract (plus the principal's parts)."""
        return {"event_id": self.event_id, "event_name": self.event_name, "event_time": self.event_time,
                "principal": self.principal, "channel": self.channel, "source_ip": self.source_ip,
                "principal_type": self.principal_type, "principal_arn": self.principal_arn,
                "session": self.session, "event_source": self.event_source, "user_agent": self.user_agent}


def principal_of(ui: dict[str, Any]) -> tuple[str, str, str, str]:
    """(principal, type, arn, session) for every ``userIdentity.type``; roles as ``assumed-role/Role/session``."""
    kind = str(ui.get("type") or "Unknown")
    arn = str(ui.get("arn") or "")
    if kind == "AssumedRole":
        issuer = (ui.get("sessionContext") or {}).get("sessionIssuer") or {}
        parts = arn.split("/")
        role = str(issuer.get("userName") or (parts[1] if len(parts) > 2 else "") or "unknown-role")
        session = parts[-1] if len(parts) > 2 else str(ui.get("principalId", "")).partition(":")[2]
        return f"assumed-role/{role}/{session}", kind, str(issuer.get("arn") or arn), session
    if kind == "IAMUser":
        return f"user/{ui.get('userName') or arn.rsplit('/', 1)[-1]}", kind, arn, ""
    if kind == "Root":
        return "root", kind, arn, ""
    if kind == "FederatedUser":
        issuer = (ui.get("sessionContext") or {}).get("sessionIssuer") or {}
        name = arn.rsplit("/", 1)[-1] if arn else str(ui.get("principalId", ""))
        return f"federated-user/{name}", kind, str(issuer.get("arn") or arn), name
    if kind == "AWSService":
        return str(ui.get("invokedBy") or "aws-service"), kind, arn, ""
    if kind == "AWSAccount":
        return f"account/{ui.get('accountId') or ui.get('principalId') or 'unknown'}", kind, arn, ""
    if kind == "IdentityCenterUser":
        user = ui.get("userName") or (ui.get("onBehalfOf") or {}).get("userId") or ui.get("principalId")
        return f"sso-user/{user}", kind, arn, ""
    name = ui.get("userName") or ui.get("principalId") or arn or "unknown"
    return f"{kind.lower()}/{name}", kind, arn, ""


def channel_of(user_agent: str, identity_type: str, from_console: bool) -> str:
    """console | cli-sdk | terraform | aws-service | unknown, read from the user agent."""
    ua = user_agent.lower()
    if "terraform/" in ua or "hashicorp" in ua:
        return "terraform"
    if from_console or ua in _CONSOLE_AGENTS or "console" in ua.split("/", 1)[0]:
        return "console"
    if identity_type == "AWSService" or (ua.endswith(".amazonaws.com") and " " not in ua):
        return "aws-service"
    return "cli-sdk" if ua else "unknown"


def is_read_only(rec: dict[str, Any], name: str) -> bool:
    flag = rec.get("readOnly")
    if isinstance(flag, bool):
        return flag
    return name.startswith(_READ_PREFIXES)


def parse_record(rec: Any, source: str) -> TrailEvent | None:
    """A write event, or None for reads and failed calls; :class:`InvalidInput` for an unknown shape."""
    if not isinstance(rec, dict):
        raise InvalidInput(source, f"a CloudTrail record must be an object, got {type(rec).__name__}")
    try:
        event_id, name, event_source, when = rec["eventID"], rec["eventName"], rec["eventSource"], rec["eventTime"]
    except KeyError as exc:
        raise InvalidInput(source, f"not a CloudTrail record: no {exc.args[0]!r}") from None
    if not (isinstance(event_id, str) and isinstance(name, str) and isinstance(event_source, str)
            and isinstance(when, str)):
        raise InvalidInput(source, "eventID, eventName, eventSource and eventTime must be strings")
    if rec.get("errorCode") or is_read_only(rec, name):
        return None
    try:
        ts = datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise InvalidInput(source, f"event {event_id}: bad eventTime {when!r}") from None
    ui = rec.get("userIdentity")
    if not isinstance(ui, dict):
        raise InvalidInput(source, f"event {event_id}: 'userIdentity' must be an object")
    principal, ptype, parn, session = principal_of(ui)
    from_console = str((ui.get("sessionContext") or {}).get("sessionCredentialFromConsole", "")).lower() == "true"
    ua = str(rec.get("userAgent") or "")
    service = event_source.split(".", 1)[0]
    params = rec.get("requestParameters")
    found = writes.targets(service, name, params, rec.get("responseElements"))
    return TrailEvent(
        event_id=event_id, event_name=name, event_source=event_source, event_time=when, ts=ts,
        principal=principal, principal_type=ptype, principal_arn=parn, session=session,
        channel=channel_of(ua, ptype, from_console), user_agent=ua, source_ip=str(rec.get("sourceIPAddress") or ""),
        targets=tuple(found or ()), known=found is not None,
        raw_parameters=params if isinstance(params, dict) else {},
        region=str(rec.get("awsRegion") or ""), account=str(rec.get("recipientAccountId") or ""))


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while building acyclic data: with millions of events kept alive, every
    collection would rescan all of them, which otherwise dominates the time to read a trail."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass
class Trail:
    """Write events de-duplicated by ``eventID`` and ordered by ``eventTime``, plus what could not be read."""

    events: list[TrailEvent] = field(default_factory=list)
    errors: list[InvalidInput] = field(default_factory=list)
    records: int = 0
    s3_stats: list[dict[str, int]] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)

    def add_records(self, records: Any, source: str) -> None:
        if not isinstance(records, list):
            self.errors.append(InvalidInput(source, "expected {\"Records\": [...]}"))
            return
        seen, events = self._seen, self.events
        with gc_paused():
            for i, rec in enumerate(records):
                try:
                    ev = parse_record(rec, source)
                except InvalidInput as exc:
                    self.errors.append(InvalidInput(f"{source}: Records[{i}]", exc.detail))
                    continue
                if ev is not None and ev.event_id not in seen:
                    seen.add(ev.event_id)
                    events.append(ev)
        self.records += len(records)

    def add_log_bytes(self, raw: bytes, source: str) -> None:
        """One delivered log file (``.json.gz`` or plain JSON) holding ``{"Records": [...]}``.

        The file's records are parsed, reduced to write events and freed all while the cyclic GC is
        paused: re-enabling it in between would make the next young collection scan every record of
        the file (they are all young), which cost as much as parsing them."""
        with gc_paused():
            try:
                data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
                doc = orjson.loads(data)
            except (OSError, EOFError, orjson.JSONDecodeError, gzip.BadGzipFile) as exc:
                self.errors.append(InvalidInput(source, f"unreadable CloudTrail log file: {exc}"))
                return
            del data
            if not isinstance(doc, dict) or "Records" not in doc:
                self.errors.append(InvalidInput(source, "not a CloudTrail log file (no \"Records\" list)"))
                return
            self.add_records(doc["Records"], source)
            del doc

    def finish(self) -> Trail:
        self.events.sort(key=attrgetter("ts", "event_id"))
        return self


def _local_files(root: str) -> Iterator[str]:
    if os.path.isfile(root):
        yield root
        return
    for dirpath, _dirs, files in os.walk(root):
        for name in sorted(files):
            if name.endswith((".json.gz", ".json")):
                yield os.path.join(dirpath, name)


def read_folder(trail: Trail, root: str) -> None:
    if not os.path.exists(root):
        trail.errors.append(InvalidInput(root, "no such CloudTrail folder or file"))
        return
    for path in _local_files(root):
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
        except OSError as exc:
            trail.errors.append(InvalidInput(path, f"cannot read: {exc.strerror or exc}"))
            continue
        trail.add_log_bytes(raw, path)


_REGION_ROOT = re.compile(r"(?:^|/)AWSLogs/(?:o-[a-z0-9]+/)?\d{12}/CloudTrail/[a-z0-9-]+/$")
_DATED = re.compile(r"/\d{4}/\d{2}/(?:\d{2}/)?$")


class TrailSeen:
    """What incremental S3 reading remembers between cycles (``<data-dir>/deepdrift-cloudtrail.json``):
    the log objects already read and the write events they held, both only for the current window, so
    a cycle reads only new objects yet still attributes drift to events read in earlier cycles. Memory
    and file size are bounded by the window's write events, never by the bucket."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self.keys: dict[str, float] = {}  # s3://bucket/key -> start of the day folder it was in
        self.events: list[TrailEvent] = []
        if path and os.path.exists(path):
            try:
                with open(path, "rb") as fh:
                    doc = orjson.loads(fh.read())
                self.keys = {str(k): float(v) for k, v in doc.get("keys", {}).items()}
                self.events = [TrailEvent.from_saved(e) for e in doc.get("events", [])]
            except (OSError, orjson.JSONDecodeError, TypeError, ValueError, KeyError, AttributeError) as exc:
                log.warning("ignoring unreadable CloudTrail read state; everything in the window is read again",
                            path=path, error=str(exc))
                self.keys, self.events = {}, []

    def prune(self, since: float) -> None:
        day = _day_start(since)  # day-granular, like the folders read
        self.keys = {k: v for k, v in self.keys.items() if v >= day}
        self.events = [e for e in self.events if e.ts >= day]

    def save(self) -> None:
        if not self.path:
            return
        tmp = self.path + ".tmp"
        with open(tmp, "wb") as fh:
            fh.write(orjson.dumps({"keys": self.keys, "events": [e.to_saved() for e in self.events]}))
        os.replace(tmp, self.path)


def _day_start(ts: float) -> float:
    d = datetime.fromtimestamp(ts, UTC)
    return datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()


def _children(s3: Any, bucket: str, prefix: str, stats: dict[str, int]) -> list[str]:
    out: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        stats["list_calls"] += 1
        out.extend(p["Prefix"] for p in page.get("CommonPrefixes", []))
    return out


def _region_roots(s3: Any, bucket: str, prefix: str, stats: dict[str, int]) -> list[str] | None:
    """``…/AWSLogs/[o-org/]<account>/CloudTrail/<region>/`` prefixes under ``prefix`` (found with
    delimiter listings, never by listing objects), or None when ``prefix`` is not a CloudTrail layout
    level (then everything under it is listed)."""
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    if _REGION_ROOT.search(prefix):
        return [prefix]
    if _DATED.search(prefix):
        return None
    level = [prefix + "AWSLogs/"] if "AWSLogs/" not in prefix else [prefix]
    for _ in range(4):  # AWSLogs/ -> [o-org/] -> account/ -> CloudTrail/ -> region/
        nxt: list[str] = []
        for p in level:
            tail = p.rsplit("AWSLogs/", 1)[-1]
            if tail.endswith("CloudTrail/"):
                nxt.extend(_children(s3, bucket, p, stats))
            elif re.fullmatch(r"(?:o-[a-z0-9]+/)?\d{12}/", tail):
                nxt.append(p + "CloudTrail/")
            else:
                nxt.extend(_children(s3, bucket, p, stats))
        level = nxt
        roots = [p for p in level if _REGION_ROOT.search(p)]
        if roots and len(roots) == len(level):
            return roots
    roots = [p for p in level if _REGION_ROOT.search(p)]
    return roots or None


def _day_prefixes(roots: list[str], since: float, now: float) -> list[str]:
    days = []
    d = datetime.fromtimestamp(_day_start(since), UTC)
    end = datetime.fromtimestamp(now, UTC)
    while d <= end:
        days.append(d.strftime("%Y/%m/%d/"))
        d += timedelta(days=1)
    return [root + day for root in roots for day in days]


def read_s3(trail: Trail, url: str, client: Any = None, since_hours: float | None = None,
            seen: TrailSeen | None = None, now: float | None = None) -> dict[str, int]:
    """The ``.json.gz`` log files under ``s3://bucket/prefix``. Under a CloudTrail layout
    (``AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/``) only the day folders inside the window of
    ``since_hours`` are listed; with ``seen``, objects read in an earlier cycle are skipped and the ones
    read now are remembered. Objects are read one at a time (bounded memory). Returns the counts of
    list calls, objects listed, objects read and objects skipped as already read."""
    import boto3

    bucket, _, prefix = url[len("s3://"):].partition("/")
    s3 = client or boto3.client("s3")
    now = time.time() if now is None else now
    since = now - since_hours * 3600.0 if since_hours is not None else None
    stats = {"list_calls": 0, "listed": 0, "read": 0, "skipped": 0}
    try:
        roots = _region_roots(s3, bucket, prefix, stats) if since is not None else None
        prefixes = _day_prefixes(roots, since, now) if roots and since is not None else [prefix]
        for pfx in prefixes:
            day = _prefix_day(pfx)
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=pfx):
                stats["list_calls"] += 1
                for obj in page.get("Contents", []):
                    key = obj["Key"]
                    if not key.endswith((".json.gz", ".json")):
                        continue
                    stats["listed"] += 1
                    source = f"s3://{bucket}/{key}"
                    if seen is not None and source in seen.keys:
                        stats["skipped"] += 1
                        continue
                    try:
                        raw = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                    except Exception as exc:  # one unreadable object must not stop the others
                        trail.errors.append(InvalidInput(source, f"cannot read: {exc}"))
                        continue
                    stats["read"] += 1
                    trail.add_log_bytes(raw, source)
                    del raw
                    if seen is not None:
                        seen.keys[source] = day if day is not None else now
    except Exception as exc:
        trail.errors.append(InvalidInput(url, f"cannot list the CloudTrail bucket: {exc}"))
    log.info("read CloudTrail from S3", url=url, **stats)
    return stats


def _prefix_day(prefix: str) -> float | None:
    m = re.search(r"(\d{4})/(\d{2})/(\d{2})/$", prefix)
    if not m:
        return None
    return datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)), tzinfo=UTC).timestamp()


class RateLimiter:
    """At most ``rate`` calls per second (LookupEvents allows 2 per second per account and region)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = 1.0 / rate
        self.clock, self.sleep = clock, sleep
        self.next_at = 0.0

    def wait(self) -> None:
        now = self.clock()
        if now < self.next_at:
            self.sleep(self.next_at - now)
            now = self.next_at
        self.next_at = now + self.interval


def read_lookup(trail: Trail, client: Any = None, since_hours: float = 24.0, max_pages: int = 200,
                limiter: RateLimiter | None = None) -> None:
    """Write events of the last ``since_hours`` through LookupEvents, paginated, 2 requests/s."""
    import boto3

    ct = client or boto3.client("cloudtrail")
    limiter = limiter or RateLimiter(2.0)
    kwargs: dict[str, Any] = {
        "LookupAttributes": [{"AttributeKey": "ReadOnly", "AttributeValue": "false"}],
        "StartTime": datetime.now(UTC) - timedelta(hours=since_hours), "MaxResults": 50}
    for page in range(max_pages):
        limiter.wait()
        try:
            resp = ct.lookup_events(**kwargs)
        except Exception as exc:
            trail.errors.append(InvalidInput("cloudtrail:LookupEvents", f"call failed: {exc}"))
            return
        records = []
        for i, ev in enumerate(resp.get("Events", [])):
            try:
                records.append(orjson.loads(ev.get("CloudTrailEvent") or "null"))
            except orjson.JSONDecodeError:
                trail.errors.append(InvalidInput(f"LookupEvents page {page} event {i}", "CloudTrailEvent is not JSON"))
        trail.add_records(records, f"LookupEvents page {page}")
        token = resp.get("NextToken")
        if not token:
            return
        kwargs["NextToken"] = token
    log.warning("LookupEvents stopped at the page limit", pages=max_pages)


def load_trail(specs: list[str], since_hours: float = 24.0, seen: TrailSeen | None = None,
               now: float | None = None) -> Trail:
    """``DIR`` / file, ``s3://bucket/prefix`` or ``lookup``, in any combination. ``since_hours`` bounds
    LookupEvents and the S3 day folders; ``seen`` makes S3 reading incremental across cycles."""
    now = time.time() if now is None else now
    trail = Trail()
    with gc_paused():  # the whole trail is acyclic: no collection need rescan the events read so far
        if seen is not None:
            seen.prune(now - since_hours * 3600.0)
            for ev in seen.events:
                trail._seen.add(ev.event_id)
                trail.events.append(ev)
        for spec in specs:
            if spec == "lookup":
                read_lookup(trail, since_hours=since_hours)
            elif spec.startswith("s3://"):
                trail.s3_stats.append(read_s3(trail, spec, since_hours=since_hours, seen=seen, now=now))
            else:
                read_folder(trail, spec)
    trail.finish()
    if seen is not None:
        day = _day_start(now - since_hours * 3600.0)
        seen.events = [e for e in trail.events if e.ts >= day]
        seen.save()
    return trail
