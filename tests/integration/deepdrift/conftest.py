"""An emulated AWS account (moto server on a free loopback port) built to match a Terraform state
fixture, then changed through the AWS API the way an operator would, with CloudTrail log files
(delivered-to-S3 layout) describing those changes.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

DATA = Path(__file__).resolve().parents[2] / "data" / "deepdrift"
DB_PASSWORD = "Sup3r-S3cret-DB-pw-4711"
API_TOKEN = "tok-9f8e7d6c5b4a-never-print"
INLINE_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:Query"], "Resource": "*"}]}
ENV_KEYS = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION",
            "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION")


@dataclass
class Account:
    endpoint: str
    ids: dict[str, str]
    state: Path
    trail: Path
    env: dict[str, str]


def render(template: str, ids: dict[str, str]) -> str:
    """Fill ``${name}`` placeholders; values are JSON-escaped because they land inside strings."""
    for key, value in ids.items():
        template = template.replace("${" + key + "}", json.dumps(value)[1:-1])
    if "${" in template:
        raise ValueError(f"unfilled placeholder in template near {template[template.index('${'):][:40]}")
    return template


def _build(ids: dict[str, str]) -> None:
    import boto3

    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "main"}]}])["Vpc"]["VpcId"]
    sub_a = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    sub_b = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24", AvailabilityZone="us-east-1b")["Subnet"]["SubnetId"]
    ec2.create_tags(Resources=[sub_a], Tags=[{"Key": "Name", "Value": "app-a"}, {"Key": "Tier", "Value": "web"}])
    ec2.create_tags(Resources=[sub_b], Tags=[{"Key": "Name", "Value": "app-b"}])
    sg = ec2.create_security_group(GroupName="web", Description="web tier", VpcId=vpc)["GroupId"]
    ec2.create_tags(Resources=[sg], Tags=[{"Key": "Name", "Value": "web"}])
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}])
    ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    inst = ec2.run_instances(ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1, SubnetId=sub_a,
                             SecurityGroupIds=[sg], TagSpecifications=[
                                 {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web-0"}]}])
    iid = inst["Instances"][0]["InstanceId"]

    s3 = boto3.client("s3")
    for name in ("acme-app-assets", "acme-app-logs"):
        s3.create_bucket(Bucket=name)
    s3.put_bucket_tagging(Bucket="acme-app-assets", Tagging={"TagSet": [{"Key": "Env", "Value": "prod"}]})

    iam = boto3.client("iam")
    role = iam.create_role(RoleName="app-role", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))["Role"]
    iam.put_role_policy(RoleName="app-role", PolicyName="read-orders", PolicyDocument=json.dumps(INLINE_POLICY))
    policy_arn = iam.create_policy(PolicyName="app-readonly", PolicyDocument=json.dumps(INLINE_POLICY))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="app-role", PolicyArn=policy_arn)

    rds = boto3.client("rds")
    db = rds.create_db_instance(DBInstanceIdentifier="appdb", DBInstanceClass="db.t3.micro", Engine="postgres",
                                MasterUsername="app", MasterUserPassword=DB_PASSWORD, AllocatedStorage=20,
                                Tags=[{"Key": "Env", "Value": "prod"}])["DBInstance"]
    ddb = boto3.client("dynamodb")
    table = ddb.create_table(TableName="orders", BillingMode="PAY_PER_REQUEST",
                             KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                             AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])["TableDescription"]
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    key = boto3.client("kms").create_key(Description="app key", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("index.py", "def handler(event, context):\n    return None\n")
    fn = boto3.client("lambda").create_function(
        FunctionName="worker", Runtime="python3.11", Role=role["Arn"], Handler="index.handler",
        Code={"ZipFile": buf.getvalue()}, Environment={"Variables": {"QUEUE": "jobs", "API_TOKEN": API_TOKEN}})
    elb = boto3.client("elbv2")
    lb = elb.create_load_balancer(Name="web-lb", Subnets=[sub_a, sub_b], SecurityGroups=[sg])["LoadBalancers"][0]
    tg = elb.create_target_group(Name="web-tg", Protocol="HTTP", Port=80, VpcId=vpc,
                                 TargetType="instance")["TargetGroups"][0]
    ids.update(vpc_id=vpc, subnet_a=sub_a, subnet_b=sub_b, sg_id=sg, ami=ami, instance_id=iid,
               role_arn=role["Arn"], policy_arn=policy_arn, inline_policy_json=json.dumps(INLINE_POLICY, separators=(",", ":")),
               db_resource_id=db.get("DbiResourceId", "appdb"), db_arn=db["DBInstanceArn"], db_password=DB_PASSWORD,
               table_arn=table["TableArn"], queue_url=queue_url, queue_arn=queue_arn, key_id=key["KeyId"],
               key_arn=key["Arn"], function_arn=fn["FunctionArn"], api_token=API_TOKEN,
               lb_arn=lb["LoadBalancerArn"], tg_arn=tg["TargetGroupArn"])


def _change(ids: dict[str, str]) -> None:
    """The out-of-band changes the CloudTrail files describe."""
    import boto3

    ec2 = boto3.client("ec2")
    ec2.authorize_security_group_ingress(GroupId=ids["sg_id"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ec2.stop_instances(InstanceIds=[ids["instance_id"]])
    ec2.modify_instance_attribute(InstanceId=ids["instance_id"], InstanceType={"Value": "t3.large"})
    ec2.start_instances(InstanceIds=[ids["instance_id"]])
    ec2.create_tags(Resources=[ids["subnet_a"]], Tags=[{"Key": "Tier", "Value": "db"}])
    boto3.client("s3").delete_bucket(Bucket="acme-app-logs")
    lam = boto3.client("lambda")  # two people on one function: carol cuts the timeout, dave edits the text
    lam.update_function_configuration(FunctionName="worker", Timeout=10)
    lam.update_function_configuration(FunctionName=ids["function_arn"], Description="edited by dave")
    boto3.client("iam").detach_role_policy(RoleName="app-role", PolicyArn=ids["policy_arn"])
    boto3.client("iam").create_role(RoleName="intruder-role", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
                                                "Action": "sts:AssumeRole"}]}))


def write_trail(root: Path, ids: dict[str, str]) -> Path:
    """Two delivered log files, records out of order, one record delivered twice."""
    records: dict[str, list[dict[str, Any]]] = json.loads(render((DATA / "cloudtrail_records.json").read_text(), ids))
    file2 = [*reversed(records["file2"]), records["file1"][0]]  # duplicate delivery
    base = root / "AWSLogs" / "123456789012" / "CloudTrail" / "us-east-1" / "2025" / "06"
    for day, name, recs in (("01", "123456789012_CloudTrail_us-east-1_20250601T0805Z_a1.json.gz", records["file1"]),
                            ("02", "123456789012_CloudTrail_us-east-1_20250602T1305Z_b2.json.gz", file2)):
        folder = base / day
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(gzip.compress(json.dumps({"Records": recs}).encode()))
    return root


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    saved = {k: os.environ.get(k) for k in ENV_KEYS}
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # moto keeps its accounts in process-global state: start every module from an empty account
    httpx.post(f"{endpoint}/moto-api/reset", timeout=30).raise_for_status()
    for k in ENV_KEYS:
        os.environ.pop(k, None)
    os.environ.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                      AWS_DEFAULT_REGION="us-east-1")
    try:
        yield endpoint
    finally:
        httpx.post(f"{endpoint}/moto-api/reset", timeout=30)
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def account(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Account:
    root = tmp_path_factory.mktemp("deepdrift")
    ids: dict[str, str] = {}
    _build(ids)
    state = root / "terraform.tfstate"
    state.write_text(render((DATA / "account.tfstate.tmpl").read_text(), ids))
    (root / "in-sync.tfstate").write_text(state.read_text())
    _change(ids)
    trail = write_trail(root / "trail", ids)
    env = {**{k: v for k, v in os.environ.items() if k not in ENV_KEYS},
           "AWS_ENDPOINT_URL": moto_endpoint, "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AIRDIG_DATA_DIR": str(root / "airdig"), "AIRDIG_LOG_LEVEL": "warning"}
    return Account(endpoint=moto_endpoint, ids=ids, state=state, trail=trail, env=env)
