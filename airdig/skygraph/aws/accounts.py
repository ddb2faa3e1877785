"""Which AWS accounts one scan reads, and a boto3 session for each.

Single-account mode (the default) reads the credentials' account. ``--org`` lists the organisation's
ACTIVE accounts through AWS Organizations (the credentials must be allowed ``organizations:ListAccounts``,
normally in the management or a delegated-administrator account); ``--account`` names accounts
explicitly (both may be combined). For every account other than the credentials' own, the scanner
assumes ``arn:<partition>:iam::<account>:role/<role-name>`` (with the external id when given) and reads
with those credentials; they refresh themselves before they expire, so a long scan does not fail half
way. An account whose role cannot be assumed fails alone: its scopes are reported failed and keep their
previous graph.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from airdig.errors import AirDigError

DEFAULT_ROLE_NAME = "OrganizationAccountAccessRole"
SESSION_NAME = "airdig-skygraph"
_ACCOUNT = re.compile(r"^\d{12}$")
_ROLE = re.compile(r"^[\w+=,.@/-]{1,64}$")


class AccountsError(AirDigError):
    """A bad ``--account`` / ``--role-name`` value (the scan does not start)."""


@dataclass(frozen=True)
class Target:
    """One account to read: its id, partition, a boto3 session for it, and the scope infix.

    ``infix`` is ``""`` in single-account mode (scopes stay ``ec2/us-east-1``) and ``"<account>/"`` when
    several accounts are read (``ec2/111122223333/us-east-1``).
    """

    account: str
    partition: str
    session: Any
    infix: str


def check_accounts(accounts: list[str]) -> list[str]:
    bad = [a for a in accounts if not _ACCOUNT.match(a)]
    if bad:
        raise AccountsError(f"not an AWS account id (12 digits): {', '.join(bad)}")
    return list(dict.fromkeys(accounts))


def check_role_name(name: str) -> str:
    if not _ROLE.match(name):
        raise AccountsError(f"not an IAM role name: {name!r}")
    return name


def org_accounts(session: Any, config: Any, region: str) -> list[str]:
    """The organisation's ACTIVE accounts (suspended or closing accounts cannot be read)."""
    org = session.client("organizations", region_name=region, config=config)
    out: list[str] = []
    for page in org.get_paginator("list_accounts").paginate():
        out.extend(str(a["Id"]) for a in page.get("Accounts", []) if a.get("Status", "ACTIVE") == "ACTIVE")
    return sorted(out)


def assume_session(session: Any, config: Any, region: str, account: str, partition: str, role_name: str,
                   external_id: str | None) -> Any:
    """A boto3 session acting in ``account`` through the role, refreshing its credentials when they age.

    The first AssumeRole happens here, so a role that cannot be assumed fails now, for this account only.
    """
    import boto3
    import botocore.session
    from botocore.credentials import RefreshableCredentials

    sts = session.client("sts", region_name=region, config=config)
    params: dict[str, Any] = {"RoleArn": f"arn:{partition}:iam::{account}:role/{role_name}",
                              "RoleSessionName": SESSION_NAME}
    if external_id:
        params["ExternalId"] = external_id

    def refresh() -> dict[str, str]:
        c = sts.assume_role(**params)["Credentials"]
        return {"access_key": c["AccessKeyId"], "secret_key": c["SecretAccessKey"], "token": c["SessionToken"],
                "expiry_time": c["Expiration"].isoformat()}

    creds = RefreshableCredentials.create_from_metadata(refresh(), refresh, "assume-role")
    core = botocore.session.get_session()
    core._credentials = creds  # the documented way to hand botocore refreshable credentials has no public setter
    base = getattr(session, "_session", None)
    if base is not None:  # share the parsed API models: loading the EC2 model again per account costs ~0.5 s
        core.register_component("data_loader", base.get_component("data_loader"))
    core.set_config_variable("region", region)
    return boto3.session.Session(botocore_session=core)


def targets(session: Any, config: Any, home: str, caller: str, partition: str, *, org: bool, accounts: list[str],
            role_name: str, external_id: str | None,
            on_error: Callable[[str, BaseException], None],
            assume: Callable[..., Any] | None = None) -> list[Target]:
    """The accounts to read, each with its session; a failure is reported through ``on_error(scope, exc)``."""
    assume = assume or assume_session
    if not org and not accounts:
        return [Target(caller, partition, session, "")]
    wanted = list(accounts)
    if org:
        try:
            wanted = org_accounts(session, config, home) + wanted
        except Exception as exc:  # not the management account, or denied: explicit accounts still run
            on_error("aws/organizations", exc)
    others = [a for a in dict.fromkeys(wanted) if a != caller]
    # AssumeRole takes a round trip per account: hundreds of accounts are set up a few at a time
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(others))), thread_name_prefix="skygraph-assume") as pool:
        futures = {a: pool.submit(assume, session, config, home, a, partition, role_name, external_id) for a in others}
    out: list[Target] = []
    for account in dict.fromkeys(wanted):
        if account == caller:
            out.append(Target(account, partition, session, f"{account}/"))
            continue
        try:
            out.append(Target(account, partition, futures[account].result(), f"{account}/"))
        except Exception as exc:
            on_error(f"aws/{account}/assume-role", exc)
    return out
