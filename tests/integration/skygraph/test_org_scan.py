"""Several accounts in one scan against the AWS API emulator: moto emulates AWS Organizations and STS
AssumeRole, and requests made with an assumed role's credentials act in that role's account, so each
member account holds its own VPCs and queues here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from airdig.skygraph.aws import accounts
from airdig.skygraph.graph_state import GraphState
from airdig.skygraph.scan import ScanOptions, run_scan
from tests.integration.skygraph.conftest import ACCOUNT, REGION, ROLE, in_account


def _opts(**kw: Any) -> ScanOptions:
    return ScanOptions(regions=[REGION], services=["ec2", "sqs"], k8s=False, role_name=ROLE, external_id="ext-1", **kw)


def test_org_scan_reads_every_account_through_the_assumed_role(org: dict[str, str], data_dir: Path) -> None:
    report = run_scan(_opts(org=True), GraphState(data_dir))
    assert report.failed == []
    every = sorted([ACCOUNT, *org.values()])
    assert sorted(r.scope for r in report.scopes) == sorted(
        f"{svc}/{acct}/{REGION}" for svc in ("ec2", "sqs") for acct in every)
    queues = {n.account: n for n in report.graph.nodes() if n.kind == "aws.sqs.queue"}
    assert {a: q.name for a, q in queues.items()} == {ACCOUNT: "mgmt-jobs", org["prod"]: "prod-jobs",
                                                     org["staging"]: "staging-jobs"}
    assert queues[org["prod"]].id == f"arn:aws:sqs:{REGION}:{org['prod']}:prod-jobs"
    vpcs = {n.name: n for n in report.graph.nodes() if n.kind == "aws.ec2.vpc"}
    assert vpcs["prod-vpc"].account == org["prod"]
    assert vpcs["prod-vpc"].id.startswith(f"arn:aws:ec2:{REGION}:{org['prod']}:vpc/")
    # what the emulated STS received (it runs in this process): the configured role and external id in
    # each member account, no AssumeRole into the credentials' own account
    from moto.sts.models import sts_backends

    assumed = {(r.role_arn, r.external_id) for acct in every for r in sts_backends[acct]["aws"].assumed_roles
               if r.session_name == accounts.SESSION_NAME}
    assert assumed == {(f"arn:aws:iam::{a}:role/{ROLE}", "ext-1") for a in org.values()}


def test_explicit_accounts_only(org: dict[str, str], data_dir: Path) -> None:
    report = run_scan(_opts(accounts=[org["staging"]]), GraphState(data_dir))
    assert report.failed == []
    assert {n.account for n in report.graph.nodes()} == {org["staging"]}


def test_an_account_whose_role_cannot_be_assumed_fails_alone_and_keeps_its_graph(
        org: dict[str, str], data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = GraphState(data_dir)
    first = run_scan(_opts(org=True), state)
    prod_nodes = {n.id for n in first.graph.nodes() if n.account == org["prod"]}
    assert prod_nodes
    # the prod queue goes away, but prod's role now denies AssumeRole: nothing of prod may be deleted
    in_account(org["prod"], "sqs").delete_queue(QueueUrl=in_account(org["prod"], "sqs").get_queue_url(
        QueueName="prod-jobs")["QueueUrl"])
    real = accounts.assume_session

    def deny_prod(session: Any, config: Any, region: str, account: str, *args: Any) -> Any:
        if account == org["prod"]:  # fault injection: what STS answers when the trust policy refuses
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized to perform sts:AssumeRole"}},
                              "AssumeRole")
        return real(session, config, region, account, *args)

    monkeypatch.setattr(accounts, "assume_session", deny_prod)
    second = run_scan(_opts(org=True), state)
    assert [(r.scope, (r.error or "").split(":")[0]) for r in second.failed] == [
        (f"aws/{org['prod']}/assume-role", "AccessDenied")]
    assert [c for c in second.changes.nodes if c.action == "deleted"] == []
    kept = state.load(f"sqs/{org['prod']}/{REGION}")
    assert kept is not None and {n.name for n in kept.nodes.values()} == {"prod-jobs"}
    assert {r.scope.split("/")[1] for r in second.scopes if r.ok} == {ACCOUNT, org["staging"]}

    monkeypatch.setattr(accounts, "assume_session", real)
    third = run_scan(_opts(org=True), state)
    assert third.failed == []
    assert [(c.action, c.node.name) for c in third.changes.nodes] == [("deleted", "prod-jobs")]


def test_throttling_slows_a_scope_down_instead_of_failing_it(topology, data_dir: Path,  # type: ignore[no-untyped-def]
                                                             throttle_endpoint: Any,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", throttle_endpoint.url)
    report = run_scan(ScanOptions(regions=[REGION], services=["lambda", "sqs"], k8s=False), GraphState(data_dir))
    assert report.failed == []
    assert throttle_endpoint.throttled >= 3  # list functions, tags, mappings: each answered 429 first
    assert topology.arns["fn"] in {n.id for n in report.graph.nodes()}
