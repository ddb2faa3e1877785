"""The scripted incident: "alice", signed in through AWS SSO, opens the orders database's security group
to the whole internet on 5432 — through the AWS API (the emulator) — and CloudTrail delivers the record
of that call as a log file in the S3 delivery layout, which DeepDrift reads like any trail folder.
"""

from __future__ import annotations

import gzip
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airdig.demo.estate import ACCOUNT, REGION, Estate

ACTOR = "alice@example.com"
SSO_ROLE = "AWSReservedSSO_AdministratorAccess_5f0e3c2a9b1d7e64"
SOURCE_IP = "203.0.113.42"


def open_database_to_the_world(e: Estate) -> dict[str, Any]:
    """The change itself, made through the AWS API; returns the API's answer (with the new rule id)."""
    import boto3

    ec2 = boto3.client("ec2", region_name=REGION)
    resp: dict[str, Any] = ec2.authorize_security_group_ingress(GroupId=e.ids["sg_db"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
         "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "temp debug access"}]}])
    return resp


def api_record(event_source: str, event_name: str, when: float, request: dict[str, Any],
               response: dict[str, Any] | None = None, actor: str = ACTOR, account: str = ACCOUNT,
               region: str = REGION, source_ip: str = SOURCE_IP, console: bool = True) -> dict[str, Any]:
    """The record CloudTrail writes for one write call by an SSO user's assumed-role session (``actor``)
    made at ``when`` (its ``eventTime``): from the console, or from the CLI when ``console`` is false."""
    stamp = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    request_id = str(uuid.uuid4())
    service = event_source.split(".", 1)[0]
    identity: dict[str, Any] = {
        "type": "AssumedRole", "principalId": f"AROADEMOSSO5F0E3C2A:{actor}",
        "arn": f"arn:aws:sts::{account}:assumed-role/{SSO_ROLE}/{actor}", "accountId": account,
        "accessKeyId": "ASIADEMO5F0E3C2A9B1D",
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "principalId": "AROADEMOSSO5F0E3C2A",
                              "arn": f"arn:aws:iam::{account}:role/aws-reserved/sso.amazonaws.com/{SSO_ROLE}",
                              "accountId": account, "userName": SSO_ROLE},
            "attributes": {"creationDate": stamp, "mfaAuthenticated": "false"}}}
    if console:
        identity["sessionCredentialFromConsole"] = "true"
    return {
        "eventVersion": "1.09", "userIdentity": identity,
        "eventTime": stamp, "eventSource": event_source, "eventName": event_name,
        "awsRegion": region, "sourceIPAddress": source_ip,
        "userAgent": "AWS Internal" if console else "aws-cli/2.15.30 Python/3.11.8 Linux/6.5 exe/x86_64",
        "requestParameters": request, "responseElements": {"requestId": request_id, **(response or {})},
        "requestID": request_id, "eventID": str(uuid.uuid4()), "readOnly": False, "eventType": "AwsApiCall",
        "managementEvent": True, "recipientAccountId": account, "eventCategory": "Management",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                       "clientProvidedHostHeader": f"{service}.{region}.amazonaws.com"},
    }


def cloudtrail_record(e: Estate, when: float, response: dict[str, Any]) -> dict[str, Any]:
    """The record CloudTrail writes for that call (an SSO user's assumed-role session, console)."""
    rule_id = next((r.get("SecurityGroupRuleId") for r in response.get("SecurityGroupRules", [])), None) \
        or f"sgr-{uuid.uuid4().hex[:17]}"
    sg = e.ids["sg_db"]
    return api_record("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", when, request={
        "groupId": sg, "ipPermissions": {"items": [{
            "ipProtocol": "tcp", "fromPort": 5432, "toPort": 5432, "groups": {},
            "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0", "description": "temp debug access"}]},
            "ipv6Ranges": {}, "prefixListIds": {}}]}},
        response={"_return": True, "securityGroupRuleSet": {"items": [{
            "groupOwnerId": ACCOUNT, "groupId": sg, "securityGroupRuleId": rule_id, "isEgress": False,
            "ipProtocol": "tcp", "fromPort": 5432, "toPort": 5432, "cidrIpv4": "0.0.0.0/0",
            "description": "temp debug access"}]}})


def deliver(trail_root: Path, records: list[dict[str, Any]], when: float | None = None, account: str = ACCOUNT,
            region: str = REGION) -> Path:
    """Write one log file as CloudTrail delivers it: ``AWSLogs/<account>/CloudTrail/<region>/yyyy/mm/dd/
    <account>_CloudTrail_<region>_<yyyymmddTHHMMZ>_<unique>.json.gz`` holding ``{"Records": [...]}``."""
    t = datetime.fromtimestamp(time.time() if when is None else when, UTC)
    folder = trail_root / "AWSLogs" / account / "CloudTrail" / region / t.strftime("%Y/%m/%d")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{account}_CloudTrail_{region}_{t.strftime('%Y%m%dT%H%MZ')}_{uuid.uuid4().hex[:16]}.json.gz"
    path.write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))
    return path
