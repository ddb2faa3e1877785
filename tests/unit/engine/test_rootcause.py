"""Root cause on the incident issue 10 reported, built through the real Applier from the pillars' event shapes.

The estate: VPC A (subnet, app security group, host ``i-app`` in an Auto Scaling group, RDS ``orders``);
service ``checkout`` runs on the host and calls the database. At T0 a DBA resizes the database through
the AWS API (CloudTrail, then the drift it explains, then a rescan that sees the new class); from
T0+3 min checkout's calls to it are 60x slower; Alertmanager fires for the host (startsAt T0+5 min). The
question is asked at T0+10 min. Decoys: the subnet reported ``unmanaged`` seconds before the question,
a tag edit on the host itself, a scaling of the host's group, a security-group change after the onset,
a load balancer discovered by the first scan of its scope, and the same resize on a database in VPC B.
Runs on SQLite and MariaDB (the ``store`` fixture).
"""

from __future__ import annotations

import math
from typing import Any

from airdig.backends.interfaces import Record, Store
from airdig.deepdrift.cloudtrail import TrailEvent
from airdig.deepdrift.watch import change_event
from airdig.engine.apply import Applier
from airdig.engine.intel.rootcause import dig
from airdig.model.events import CloudEvent, to_rfc3339
from airdig.model.graph import Edge, Node
from airdig.skygraph.diff import diff_scope
from airdig.skygraph.graph import ScopeGraph
from airdig.skygraph.scan import change_events

ACCT, REGION = "123456789012", "us-east-1"
T0 = 1_790_000_000.0  # the DBA's ModifyDBInstance
ONSET = T0 + 180  # first slow minute of checkout → orders
ALERT = T0 + 300  # Alertmanager startsAt
AT = T0 + 600  # when the question is asked
DBA = "assumed-role/DBA/dana@example.com"


def ec2(kind: str, rid: str) -> str:
    return f"arn:aws:ec2:{REGION}:{ACCT}:{kind}/{rid}"


VPC_A, VPC_B = ec2("vpc", "vpc-a"), ec2("vpc", "vpc-b")
SUBNET_A, SUBNET_B = ec2("subnet", "subnet-a"), ec2("subnet", "subnet-b")
SG_APP, SG_DB = ec2("security-group", "sg-app"), ec2("security-group", "sg-db")
HOST = ec2("instance", "i-app")
ASG = f"arn:aws:autoscaling:{REGION}:{ACCT}:autoScalingGroup:1:autoScalingGroupName/app"
DB = f"arn:aws:rds:{REGION}:{ACCT}:db:orders"
DB_B = f"arn:aws:rds:{REGION}:{ACCT}:db:reports"
LB = f"arn:aws:elasticloadbalancing:{REGION}:{ACCT}:loadbalancer/app/web/1"
CHECKOUT, PAYMENTS = "service://shop/checkout", "service://shop/payments"


def node(nid: str, kind: str, **attrs: Any) -> Node:
    return Node(id=nid, kind=kind, provider="aws", account=ACCT, region=REGION, name=nid.rsplit("/", 1)[-1],
                attrs=attrs, native_ids=(nid.rsplit("/", 1)[-1],))


def scope(nodes: list[Node], edges: list[Edge], observed_at: float | None = None) -> ScopeGraph:
    return ScopeGraph(nodes={n.id: n for n in nodes}, edges={e.key: e for e in edges}, observed_at=observed_at)


def ec2_scope(db_class: str) -> tuple[list[Node], list[Edge]]:
    nodes = [node(VPC_A, "aws.ec2.vpc"), node(VPC_B, "aws.ec2.vpc"), node(SUBNET_A, "aws.ec2.subnet"),
             node(SUBNET_B, "aws.ec2.subnet"), node(SG_APP, "aws.ec2.security-group"),
             node(SG_DB, "aws.ec2.security-group"), node(HOST, "aws.ec2.instance", InstanceType="m5.large"),
             node(ASG, "aws.autoscaling.group", DesiredCapacity=3),
             node(DB, "aws.rds.instance", DBInstanceClass=db_class), node(DB_B, "aws.rds.instance",
                                                                          DBInstanceClass="db.r6g.xlarge")]
    edges = [Edge(VPC_A, SUBNET_A, "contains"), Edge(VPC_B, SUBNET_B, "contains"), Edge(SUBNET_A, HOST, "network"),
             Edge(SG_APP, HOST, "network"), Edge(ASG, HOST, "contains"), Edge(SUBNET_A, DB, "network"),
             Edge(SG_DB, DB, "network"), Edge(SUBNET_B, DB_B, "network")]
    return nodes, edges


def trail(eid: str, name: str, source: str, ts: float, who: str) -> TrailEvent:
    return TrailEvent(event_id=eid, event_name=name, event_source=source, event_time=to_rfc3339(ts), ts=ts,
                      principal=who, principal_type="AssumedRole", principal_arn=f"arn:aws:sts::{ACCT}:{who}",
                      session=who.rsplit("/", 1)[-1], channel="api", user_agent="aws-cli/2", source_ip="198.51.100.7")


def calls(src: str, dst: str, start: float, p95: float, requests: int = 600, errors: int = 0) -> CloudEvent:
    """One TraceCore statistics window, histogram included, as ``airdig.trace.edge`` carries it."""
    bounds = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000]
    counts = [0] * (len(bounds) + 1)
    i = next(i for i, b in enumerate(bounds) if b >= p95)
    counts[i], counts[max(0, i - 1)] = requests - requests // 10, requests // 10
    return CloudEvent(type="airdig.trace.edge", source="tracecore", subject=src, time=start + 60, data={
        "src": src, "dst": dst, "type": "calls", "window_start": start, "window_seconds": 60,
        "stats": {"request_count": requests, "error_count": errors, "errors": {"5xx": errors},
                  "latency_ms": {"bounds": bounds, "counts": counts}, "p50": p95 / 2, "p95": p95, "p99": p95}})


def incident() -> list[CloudEvent]:
    evs: list[CloudEvent] = []
    # SkyGraph: the first scan (discovery), a quiet rescan, then one that sees the new instance class and
    # the first scan of the load-balancer scope
    nodes, edges = ec2_scope("db.r6g.2xlarge")
    first = scope(nodes, edges)
    evs += change_events(diff_scope(None, first), at=T0 - 3600)
    first.observed_at = T0 - 3600
    evs += change_events(diff_scope(first, scope(nodes, edges)), at=T0 - 1200)
    nodes3, edges3 = ec2_scope("db.t3.small")
    evs += change_events(diff_scope(scope(nodes, edges, T0 - 1200), scope(nodes3, edges3)), at=T0 + 420)
    evs += change_events(diff_scope(None, scope([node(LB, "aws.elbv2.load-balancer")], [Edge(LB, HOST, "network")])),
                         at=T0 + 420)
    # TraceCore: checkout runs on the host and calls the database and payments
    for svc in (CHECKOUT, PAYMENTS):
        evs.append(CloudEvent(type="airdig.trace.service", source="tracecore", subject=svc, time=T0 - 3600,
                              data={"node": {"id": svc, "kind": "service", "name": svc.rsplit("/", 1)[-1],
                                             "provider": "otel"}}))
    evs.append(CloudEvent(type="airdig.trace.edge", source="tracecore", subject=CHECKOUT, time=T0 - 3600,
                          data={"src": CHECKOUT, "dst": HOST, "type": "runs_on"}))
    for minute in range(-30, 10):
        start = T0 + minute * 60
        slow = start >= ONSET
        evs.append(calls(CHECKOUT, DB, start, 300.0 if slow else 5.0 + (minute % 3) * 0.4))
        evs.append(calls(CHECKOUT, PAYMENTS, start, 20.0 + (minute % 2)))
    # DeepDrift: the DBA's write, the drift it explains; the same resize in VPC B
    resize = change_event(trail("ct-resize", "ModifyDBInstance", "rds.amazonaws.com", T0, DBA), DB)
    evs.append(resize)
    evs.append(CloudEvent(type="airdig.drift.detected", source="airdig/deepdrift", subject=DB, time=T0 + 90, data={
        "id": "drift-orders", "resource_id": DB, "resource_type": "aws_db_instance",
        "terraform_address": "aws_db_instance.orders", "kind": "changed", "severity": "high",
        "diffs": [{"path": "instance_class", "expected": "db.r6g.2xlarge", "actual": "db.t3.small"}],
        "cause": {"event_id": "ct-resize", "event_name": "ModifyDBInstance", "event_time": to_rfc3339(T0),
                  "principal": DBA, "channel": "api", "source_ip": "198.51.100.7"},
        "detected_at": to_rfc3339(T0 + 90), "observed_between": [to_rfc3339(T0 + 30), to_rfc3339(T0 + 90)]}))
    evs.append(change_event(trail("ct-other-vpc", "ModifyDBInstance", "rds.amazonaws.com", T0 + 30, DBA), DB_B))
    # decoys
    tag = change_event(trail("ct-tag", "CreateTags", "ec2.amazonaws.com", T0 + 60, "assumed-role/Ops/olga"), HOST)
    tag.data["details"]["attributes"] = ["tags"]  # as DeepDrift reports a mapped write's touched attributes
    evs.append(tag)
    evs.append(CloudEvent(type="airdig.change.recorded", source="airdig/deepdrift", subject=ASG, time=T0 - 300, data={
        "id": "scale-app", "kind": "scaling", "summary": "app desired capacity 3 → 4",
        "actor": "autoscaling.amazonaws.com", "time": to_rfc3339(T0 - 300), "details": {"desired": [3, 4]}}))
    evs.append(change_event(trail("ct-late", "AuthorizeSecurityGroupIngress", "ec2.amazonaws.com", ALERT + 60,
                                  "assumed-role/Ops/olga"), SG_APP))
    evs.append(CloudEvent(type="airdig.drift.detected", source="airdig/deepdrift", subject=SUBNET_A, time=AT - 5,
                          data={"id": "drift-subnet-a", "resource_id": SUBNET_A, "resource_type": "aws_subnet",
                                "kind": "unmanaged", "severity": "medium", "diffs": [],
                                "detected_at": to_rfc3339(AT - 5),
                                "observed_between": [to_rfc3339(AT - 65), to_rfc3339(AT - 5)]}))
    # PulseSight: Alertmanager fires for the host; its startsAt arrives as the health's since
    evs.append(CloudEvent(type="airdig.health.changed", source="pulsesight", subject=HOST, time=ALERT + 30, data={
        "node_id": HOST, "status": "critical", "previous": "healthy", "since": to_rfc3339(ALERT),
        "reasons": [{"rule": "alert:CheckoutLatencyHigh", "since": to_rfc3339(ALERT),
                     "message": "alert CheckoutLatencyHigh (critical): checkout p95 > 250 ms"}]}))
    return evs


def apply_all(store: Store, evs: list[CloudEvent]) -> None:
    result = Applier(store).apply([Record(e.topic, 0, i, e.subject, e.encode(), e.time) for i, e in enumerate(evs)])
    assert not result.dead, result.dead


def test_the_attributed_database_resize_ranks_first_and_the_decoys_where_they_belong(store: Store) -> None:
    apply_all(store, incident())
    dg = dig(store, HOST, AT, 1800.0)
    ids = [c.change.id for c in dg.candidates]
    explain = [(c.change.id, c.score, c.factors, c.after_onset) for c in dg.candidates]
    first = dg.candidates[0]
    assert first.change.id == "ct-resize", explain
    assert first.path == [DB, CHECKOUT, HOST]
    assert first.change_time.earliest == first.change_time.latest == T0
    # the drift and the rescan are the same change seen again, folded in
    assert any(e.startswith("drift from Terraform") for e in first.evidence)
    assert any(e.startswith("seen by skygraph") for e in first.evidence)
    assert any("degraded after the change (on its path)" in e and CHECKOUT in e for e in first.evidence)
    # onset: the step in checkout → orders, not the alert and not the question
    assert dg.onset is not None and dg.onset.time == ONSET and dg.onset.source == "call edge p95"
    # posture and discovery are never candidates
    aside = {c.id: why for c, why in dg.set_aside}
    assert "drift-subnet-a" not in ids and not any(c.change.node_id == SUBNET_A for c in dg.candidates)
    assert aside and any(why.startswith("posture") for why in aside.values())
    assert not any(c.change.node_id == LB for c in dg.candidates)
    assert any(why.startswith("discovery") for why in aside.values())
    assert not any(c.change.kind == "created" for c in dg.candidates)
    # another VPC cannot reach the symptom
    assert "ct-other-vpc" not in ids
    # the decoys that can reach it rank below; the change after the onset last, flagged
    assert {"ct-tag", "scale-app", "ct-late"} <= set(ids)
    assert ids[-1] == "ct-late" and dg.candidates[-1].after_onset and dg.candidates[-1].score == 0
    assert not any(c.after_onset for c in dg.candidates[:-1])
    # why #1 beat #2: the margin and the deciding evidence
    assert dg.margin is not None and dg.margin > 1.5
    assert dg.verdict and "deciding: evidence from the traffic" in dg.verdict and CHECKOUT in dg.verdict
    assert first.deciding and "degraded right after it" in first.deciding
    # one table for the onset's edges: the 60x step is in it
    ba = next(b for b in first.before_after if b["src"] == CHECKOUT and b["dst"] == DB)
    assert ba["after"]["p95"] / ba["before"]["p95"] > 30


def test_without_traffic_the_health_transition_is_the_onset_and_detection_time_plays_no_part(store: Store) -> None:
    # no call statistics: the alert's startsAt is the onset; the unmanaged subnet (detected seconds before the
    # question) is still not a candidate, and the resize, made before the onset, still leads
    quiet = [e for e in incident() if e.type != "airdig.trace.edge" or "stats" not in e.data]
    quiet.append(CloudEvent(type="airdig.trace.edge", source="tracecore", subject=CHECKOUT, time=T0 - 3600,
                            data={"src": CHECKOUT, "dst": DB, "type": "calls"}))
    apply_all(store, quiet)
    dg = dig(store, HOST, AT, 1800.0)
    assert dg.onset is not None and dg.onset.source == "health" and dg.onset.time == ALERT
    assert dg.candidates[0].change.id == "ct-resize", [(c.change.id, c.factors) for c in dg.candidates]
    assert all(c.change.node_id != SUBNET_A for c in dg.candidates)
    assert all(math.isfinite(c.score) for c in dg.candidates)


def test_posture_counts_only_with_a_record_of_the_write_and_observers_of_one_change_fold(store: Store) -> None:
    nodes, edges = ec2_scope("db.r6g.2xlarge")
    evs = change_events(diff_scope(None, scope(nodes, edges)), at=T0 - 3600)  # discovery
    extra = node(ec2("instance", "i-new"), "aws.ec2.instance")
    run = node(ec2("instance", "i-run"), "aws.ec2.instance")
    sg_db = node(SG_DB, "aws.ec2.security-group", IpPermissions=[])
    nodes2 = [n for n in nodes if n.id != SG_DB] + [extra, sg_db, run]
    edges2 = [*edges, Edge(extra.id, HOST, "network"), Edge(run.id, HOST, "network")]
    # a rescan sees a new instance appear (and the DB's security group change) since the scan 20 min before
    evs += change_events(diff_scope(scope(nodes, edges, T0 - 1200), scope(nodes2, edges2)), at=T0 + 60)

    def drift(did: str, rid: str, kind: str, at: float, **more: Any) -> CloudEvent:
        return CloudEvent(type="airdig.drift.detected", source="airdig/deepdrift", subject=rid, time=at, data={
            "id": did, "resource_id": rid, "resource_type": "x", "kind": kind, "severity": "medium", "diffs": [],
            "detected_at": to_rfc3339(at), **more})

    evs += [
        drift("d-new", extra.id, "unmanaged", T0 + 90),  # recorded by the scan that saw it appear
        # ... and by the write that made it (one row per node the call changed, as DeepDrift publishes it)
        drift("d-run", run.id, "unmanaged", T0 + 90, cause={"event_id": "ct-run", "event_name": "RunInstances",
                                                              "event_time": to_rfc3339(T0 + 10), "principal": DBA}),
        change_event(trail("ct-run", "RunInstances", "ec2.amazonaws.com", T0 + 10, DBA), run.id,
                     ("attrs.InstanceType",), f"ct-run@{run.id}"),
        drift("d-created", SG_APP, "unmanaged", T0 + 90, cause={  # recorded by CloudTrail (no change row)
            "event_id": "ct-x", "event_name": "CreateSecurityGroup", "event_time": to_rfc3339(T0 - 120),
            "principal": DBA}),
        drift("d-sg-db", SG_DB, "changed", T0 + 30,  # unexplained: between two watch cycles ...
              observed_between=[to_rfc3339(T0 - 270), to_rfc3339(T0 + 30)]),
        change_event(trail("ct-tag2", "CreateTags", "ec2.amazonaws.com", T0, "assumed-role/Ops/olga"), HOST),
        CloudEvent(type="airdig.trace.edge", source="tracecore", subject=CHECKOUT, time=T0 - 3600,
                   data={"src": CHECKOUT, "dst": HOST, "type": "runs_on"}),
        CloudEvent(type="airdig.trace.edge", source="tracecore", subject=CHECKOUT, time=T0 - 3600,
                   data={"src": CHECKOUT, "dst": DB, "type": "calls"}),
        CloudEvent(type="airdig.health.changed", source="pulsesight", subject=HOST, time=ALERT, data={
            "node_id": HOST, "status": "critical", "previous": "healthy", "since": to_rfc3339(ALERT)}),
    ]
    apply_all(store, evs)
    dg = dig(store, HOST, AT, 1800.0)
    by_node = {c.change.node_id: c for c in dg.candidates}
    appeared = by_node[extra.id]
    assert appeared.change.kind == "created" and any(e.startswith("drift from Terraform") for e in appeared.evidence)
    assert (appeared.change_time.earliest, appeared.change_time.latest) == (T0 - 1200, T0 + 60)
    created = by_node[SG_APP]
    assert created.change.kind == "drift" and created.change.actor == DBA
    assert created.change_time.earliest == created.change_time.latest == T0 - 120
    # a resource appearing, however it is recorded, weighs as an appearance, not as a change to one in use
    assert created.factors["kind"] == appeared.factors["kind"] / 0.85 == 0.5
    ran = by_node[run.id]
    assert ran.change.id == f"ct-run@{run.id}" and ran.factors["kind"] == 0.5
    assert {e.split(":")[0] for e in ran.evidence} >= {"drift from Terraform", "seen by skygraph"}
    # ... and the rescan saw the same change: one candidate, on the interval both agree on
    sg_db_rows = [c for c in dg.candidates if c.change.node_id == SG_DB]
    assert len(sg_db_rows) == 1 and sg_db_rows[0].change.kind == "drift"
    assert (sg_db_rows[0].change_time.earliest, sg_db_rows[0].change_time.latest) == (T0 - 270, T0 + 30)
    assert any(e.startswith("seen by skygraph") for e in sg_db_rows[0].evidence)
    # a tagging call without the attributes it touched is still known to be tags only
    assert by_node[HOST].change.id == "ct-tag2" and by_node[HOST].factors["kind"] == 0.1
    assert all(why.startswith("discovery") for _, why in dg.set_aside)


def test_asked_late_the_onset_still_anchors_the_window(store: Store) -> None:
    # the host is still critical; the question comes 50 minutes after the alert with a 30-minute window:
    # the onset (not the question) anchors the window, so the resize is still found first
    apply_all(store, incident())
    dg = dig(store, HOST, ALERT + 3000, 1800.0)
    assert dg.onset is not None and dg.onset.time == ONSET, dg.onset
    assert dg.candidates[0].change.id == "ct-resize", [(c.change.id, c.factors) for c in dg.candidates]


def test_a_change_detected_after_the_question_but_made_before_it_is_a_candidate(store: Store) -> None:
    """Detection time plays no part: the rescan that sees a rollout may run after the time asked about
    (the next cron run); the rollout's own time places it. What surely happened later is not listed."""
    from airdig.model.events import resource_event

    pod_old = Node(id="k8s://c/shop/pod/checkout-1", kind="k8s.pod", provider="k8s", name="checkout-1")
    pod_new = Node(id="k8s://c/shop/pod/checkout-2", kind="k8s.pod", provider="k8s", name="checkout-2")
    evs = incident()
    found = resource_event("created", pod_old, "skygraph", time=T0 - 3600)
    found.data["discovered"] = True
    rolled = resource_event("created", pod_new, "skygraph", time=AT + 900)  # seen 15 min after the question
    rolled.data["observed_between"] = [to_rfc3339(T0 - 1200), to_rfc3339(AT + 900)]
    rolled.data["changed_at"] = to_rfc3339(T0 - 60)  # its creationTimestamp: the rollout
    later = resource_event("updated", pod_old, "skygraph", changed=["attrs.status"], time=AT + 900)
    later.data["observed_between"] = [to_rfc3339(AT + 300), to_rfc3339(AT + 900)]  # surely after AT
    evs += [found, rolled, later]
    evs += [CloudEvent(type="airdig.trace.edge", source="tracecore", subject=CHECKOUT, time=T0 - 3600,
                       data={"src": CHECKOUT, "dst": p.id, "type": "runs_on"}) for p in (pod_old, pod_new)]
    apply_all(store, evs)
    dg = dig(store, HOST, AT, 1800.0)
    by_id = {c.change.id: c for c in dg.candidates}
    assert rolled.id in by_id and not by_id[rolled.id].after_onset, [(c.change.id, c.factors) for c in dg.candidates]
    assert by_id[rolled.id].change_time.latest == T0 - 60
    assert later.id not in by_id and all(c.id != later.id for c, _ in dg.set_aside)
    assert dg.candidates[0].change.id == "ct-resize"


def test_a_write_to_a_resource_first_scanned_after_it_is_not_an_appearance(store: Store) -> None:
    """What a write did decides its kind, not when a scan first saw the node: the first scan of the
    database's security group ran after the DBA revoked a rule (discovery), yet the revoke changed an
    existing group — a full-weight write, above a tag edit on the host. A write the writes table marks
    ``(created)`` is an appearance."""
    from airdig.model.events import resource_event

    nodes, edges = ec2_scope("db.r6g.2xlarge")
    evs = change_events(diff_scope(None, scope(nodes, edges)), at=T0 + 400)  # the first scan: after the writes
    revoke = change_event(trail("ct-revoke", "RevokeSecurityGroupIngress", "ec2.amazonaws.com", T0, DBA), SG_DB,
                          ("ingress",))
    tag = change_event(trail("ct-tag", "CreateTags", "ec2.amazonaws.com", T0 + 60, DBA), HOST, ("tags.Owner",))
    bucket = Node(id="arn:aws:s3:::scratch", kind="aws.s3.bucket", provider="aws", account=ACCT, name="scratch")
    made = change_event(trail("ct-bucket", "CreateBucket", "s3.amazonaws.com", T0 + 30, DBA), bucket.id,
                        ("(created)",))
    found = resource_event("created", bucket, "skygraph", time=T0 + 400)
    found.data["discovered"] = True
    evs += [found, revoke, tag, made,
            CloudEvent(type="airdig.edge.observed", source="skygraph", subject=bucket.id, time=T0 + 400,
                       data={"edge": {"src": bucket.id, "dst": HOST, "type": "network"}}),
            CloudEvent(type="airdig.trace.edge", source="tracecore", subject=CHECKOUT, time=T0 - 3600,
                       data={"src": CHECKOUT, "dst": HOST, "type": "runs_on"}),
            CloudEvent(type="airdig.trace.edge", source="tracecore", subject=CHECKOUT, time=T0 - 3600,
                       data={"src": CHECKOUT, "dst": DB, "type": "calls"}),
            CloudEvent(type="airdig.health.changed", source="pulsesight", subject=HOST, time=ALERT, data={
                "node_id": HOST, "status": "critical", "previous": "healthy", "since": to_rfc3339(ALERT)})]
    apply_all(store, evs)
    dg = dig(store, HOST, AT, 1800.0)
    by_id = {c.change.id: c for c in dg.candidates}
    assert by_id["ct-revoke"].factors["kind"] == 1.0, [(c.change.id, c.factors) for c in dg.candidates]
    assert by_id["ct-bucket"].factors["kind"] == 0.5 and by_id["ct-tag"].factors["kind"] == 0.1
    order = [c.change.id for c in dg.candidates]
    assert order.index("ct-revoke") < order.index("ct-tag"), order
