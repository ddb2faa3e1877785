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


def cloudtrail_record(e: Estate, when: float, response: dict[str, Any]) -> dict[str, Any]:
    """The record CloudTrail writes for that call (an SSO user's assumed-role session, console)."""
    rule_id = next((r.get("SecurityGroupRuleId") for r in response.get("SecurityGroupRules", [])), None) \
        or f"sgr-{uuid.uuid4().hex[:17]}"
    stamp = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    request_id = str(uuid.uuid4())
    sg = e.ids["sg_db"]
    return {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole", "principalId": f"AROADEMOSSO5F0E3C2A:{ACTOR}",
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{SSO_ROLE}/{ACTOR}", "accountId": ACCOUNT,
            "accessKeyId": "ASIADEMO5F0E3C2A9B1D",
            "sessionContext": {
                "sessionIssuer": {"type": "Role", "principalId": "AROADEMOSSO5F0E3C2A",
                                  "arn": f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/{SSO_ROLE}",
                                  "accountId": ACCOUNT, "userName": SSO_ROLE},
                "attributes": {"creationDate": stamp, "mfaAuthenticated": "false"}},
            "sessionCredentialFromConsole": "true"},
        "eventTime": stamp, "eventSource": "ec2.amazonaws.com", "eventName": "AuthorizeSecurityGroupIngress",
        "awsRegion": REGION, "sourceIPAddress": SOURCE_IP, "userAgent": "AWS Internal",
        "requestParameters": {"groupId": sg, "ipPermissions": {"items": [{
            "ipProtocol": "tcp", "fromPort": 5432, "toPort": 5432, "groups": {},
            "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0", "description": "temp debug access"}]},
            "ipv6Ranges": {}, "prefixListIds": {}}]}},
        "responseElements": {"requestId": request_id, "_return": True, "securityGroupRuleSet": {"items": [{
            "groupOwnerId": ACCOUNT, "groupId": sg, "securityGroupRuleId": rule_id, "isEgress": False,
            "ipProtocol": "tcp", "fromPort": 5432, "toPort": 5432, "cidrIpv4": "0.0.0.0/0",
            "description": "temp debug access"}]}},
        "requestID": request_id, "eventID": str(uuid.uuid4()), "readOnly": False, "eventType": "AwsApiCall",
        "managementEvent": True, "recipientAccountId": ACCOUNT, "eventCategory": "Management",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                       "clientProvidedHostHeader": f"ec2.{REGION}.amazonaws.com"},
    }


def deliver(trail_root: Path, records: list[dict[str, Any]], when: float | None = None) -> Path:
    """Write one log file as CloudTrail delivers it: ``AWSLogs/<account>/CloudTrail/<region>/yyyy/mm/dd/
    <account>_CloudTrail_<region>_<yyyymmddTHHMMZ>_<unique>.json.gz`` holding ``{"Records": [...]}``."""
    t = datetime.fromtimestamp(time.time() if when is None else when, UTC)
    folder = trail_root / "AWSLogs" / ACCOUNT / "CloudTrail" / REGION / t.strftime("%Y/%m/%d")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{ACCOUNT}_CloudTrail_{REGION}_{t.strftime('%Y%m%dT%H%MZ')}_{uuid.uuid4().hex[:16]}.json.gz"
    path.write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))
    return path
