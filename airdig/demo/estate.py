"""The demo's AWS account: a moto server on a free loopback port, built through boto3, and the Terraform
state (v4) that describes it as Terraform would have written it.

Everything here goes through the AWS API the emulator speaks, so SkyGraph and DeepDrift read it exactly
as they would read a real account (``AWS_ENDPOINT_URL`` points them at the emulator).
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airdig.errors import ConfigError

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
AWS_ENV_KEYS = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE")
_PROVIDER = 'provider["registry.terraform.io/hashicorp/aws"]'


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct free ports: all sockets are held until every port is known, so none repeats."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            socks.append(s)
            s.bind((host, 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


class AwsEmulator:
    """moto's threaded server plus the process environment that points boto3 at it.

    The environment is changed for this process (and the children it starts); :meth:`stop` puts back
    what was there before."""

    def __init__(self) -> None:
        try:
            from moto.server import ThreadedMotoServer
        except ImportError as exc:
            raise ConfigError("demo", "the AWS emulator is not installed: pip install 'airdig[demo]' "
                                      f"(moto[server]) ({exc})") from exc
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._saved: dict[str, str | None] = {}

    def start(self) -> None:
        self._server.start()
        self._saved = {k: os.environ.get(k) for k in AWS_ENV_KEYS}
        for k in AWS_ENV_KEYS:
            os.environ.pop(k, None)
        # fake credentials: the emulator accepts any, and nothing can reach a real account by mistake
        os.environ.update(AWS_ENDPOINT_URL=self.endpoint, AWS_ACCESS_KEY_ID="demo", AWS_SECRET_ACCESS_KEY="demo",
                          AWS_DEFAULT_REGION=REGION)

    def stop(self) -> None:
        self._server.stop()
        for k, v in self._saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass
class Estate:
    """Native ids of what was built (the rest of the demo names things through these)."""

    ids: dict[str, str] = field(default_factory=dict)

    def arn(self, kind: str, native: str) -> str:
        return f"arn:aws:ec2:{REGION}:{ACCOUNT}:{kind}/{native}"

    @property
    def checkout_arn(self) -> str:
        return self.arn("instance", self.ids["checkout_instance"])

    @property
    def db_sg_arn(self) -> str:
        return self.arn("security-group", self.ids["sg_db"])


def _tags(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in pairs]


def build() -> Estate:
    """Create the estate in the emulator: VPC, two subnets, web and db security groups (db admits web on
    5432), the checkout and cart instances, PostgreSQL ``orders-db`` on RDS, an S3 bucket, an IAM role."""
    import boto3

    e = Estate()
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": _tags(("Name", "shop"))}])["Vpc"]["VpcId"]
    sub_a = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone=f"{REGION}a", TagSpecifications=[
        {"ResourceType": "subnet", "Tags": _tags(("Name", "shop-a"))}])["Subnet"]["SubnetId"]
    sub_b = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24", AvailabilityZone=f"{REGION}b", TagSpecifications=[
        {"ResourceType": "subnet", "Tags": _tags(("Name", "shop-b"))}])["Subnet"]["SubnetId"]
    sg_web = ec2.create_security_group(GroupName="shop-web", Description="web tier", VpcId=vpc, TagSpecifications=[
        {"ResourceType": "security-group", "Tags": _tags(("Name", "shop-web"))}])["GroupId"]
    sg_db = ec2.create_security_group(GroupName="shop-db", Description="orders database", VpcId=vpc,
                                      TagSpecifications=[{"ResourceType": "security-group",
                                                          "Tags": _tags(("Name", "shop-db"))}])["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=sg_web, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ec2.authorize_security_group_ingress(GroupId=sg_db, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": sg_web}]}])
    ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    iids = {}
    for name, subnet in (("checkout", sub_a), ("cart", sub_b)):  # Name tags: checkout-web, cart-web
        inst = ec2.run_instances(ImageId=ami, InstanceType="t3.medium", MinCount=1, MaxCount=1, SubnetId=subnet,
                                 SecurityGroupIds=[sg_web], TagSpecifications=[
                                     {"ResourceType": "instance", "Tags": _tags(("Name", f"{name}-web"), ("app", "shop"))}])
        iids[name] = inst["Instances"][0]["InstanceId"]

    rds = boto3.client("rds", region_name=REGION)
    rds.create_db_subnet_group(DBSubnetGroupName="shop-db", DBSubnetGroupDescription="orders database",
                               SubnetIds=[sub_a, sub_b])
    db = rds.create_db_instance(DBInstanceIdentifier="orders-db", DBInstanceClass="db.t3.medium", Engine="postgres",
                                MasterUsername="orders", MasterUserPassword="demo-only-password",
                                AllocatedStorage=20, DBSubnetGroupName="shop-db", VpcSecurityGroupIds=[sg_db],
                                Tags=_tags(("app", "shop")))["DBInstance"]
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="shop-order-archive")
    s3.put_bucket_tagging(Bucket="shop-order-archive", Tagging={"TagSet": _tags(("app", "shop"))})
    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(RoleName="shop-app", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))["Role"]
    endpoint = rds.describe_db_instances(DBInstanceIdentifier="orders-db")["DBInstances"][0]["Endpoint"]["Address"]
    e.ids.update(vpc=vpc, sub_a=sub_a, sub_b=sub_b, sg_web=sg_web, sg_db=sg_db, ami=ami,
                 checkout_instance=iids["checkout"], cart_instance=iids["cart"], db_arn=db["DBInstanceArn"],
                 db_resource_id=str(db.get("DbiResourceId") or "orders-db"), db_endpoint=str(endpoint),
                 role_arn=role["Arn"])
    return e


def _res(rtype: str, name: str, attrs: dict[str, Any], sensitive: list[Any] | None = None) -> dict[str, Any]:
    return {"mode": "managed", "type": rtype, "name": name, "provider": _PROVIDER,
            "instances": [{"schema_version": 1, "attributes": attrs, "sensitive_attributes": sensitive or []}]}


def _rule(port: int, cidrs: list[str], groups: list[str], protocol: str = "tcp", to: int | None = None
          ) -> dict[str, Any]:
    return {"cidr_blocks": cidrs, "description": "", "from_port": port, "ipv6_cidr_blocks": [],
            "prefix_list_ids": [], "protocol": protocol, "security_groups": groups, "self": False,
            "to_port": port if to is None else to}


def terraform_state(e: Estate) -> dict[str, Any]:
    """The Terraform state (format v4) of the estate as built: in sync until someone changes it."""
    i = e.ids
    egress = [_rule(0, ["0.0.0.0/0"], [], protocol="-1", to=0)]
    resources = [
        _res("aws_vpc", "shop", {"id": i["vpc"], "arn": e.arn("vpc", i["vpc"]), "cidr_block": "10.0.0.0/16",
                                 "instance_tenancy": "default", "tags": {"Name": "shop"},
                                 "tags_all": {"Name": "shop"}}),
        *(_res("aws_subnet", name, {"id": i[key], "vpc_id": i["vpc"], "cidr_block": cidr,
                                    "availability_zone": f"{REGION}{az}", "map_public_ip_on_launch": False,
                                    "tags": {"Name": f"shop-{az}"}, "tags_all": {"Name": f"shop-{az}"}})
          for name, key, cidr, az in (("a", "sub_a", "10.0.1.0/24", "a"), ("b", "sub_b", "10.0.2.0/24", "b"))),
        _res("aws_security_group", "web", {
            "id": i["sg_web"], "name": "shop-web", "description": "web tier", "vpc_id": i["vpc"],
            "ingress": [_rule(443, ["0.0.0.0/0"], [])], "egress": egress,
            "tags": {"Name": "shop-web"}, "tags_all": {"Name": "shop-web"}}),
        _res("aws_security_group", "db", {
            "id": i["sg_db"], "name": "shop-db", "description": "orders database", "vpc_id": i["vpc"],
            "ingress": [_rule(5432, [], [i["sg_web"]])], "egress": egress,
            "tags": {"Name": "shop-db"}, "tags_all": {"Name": "shop-db"}}),
        *(_res("aws_instance", name, {
            "id": i[f"{name}_instance"], "ami": i["ami"], "instance_type": "t3.medium",
            "subnet_id": i[subnet], "vpc_security_group_ids": [i["sg_web"]], "key_name": "",
            "tags": {"Name": f"{name}-web", "app": "shop"},
            "tags_all": {"Name": f"{name}-web", "app": "shop"}})
          for name, subnet in (("checkout", "sub_a"), ("cart", "sub_b"))),
        _res("aws_db_instance", "orders", {
            "id": i["db_resource_id"], "identifier": "orders-db", "arn": i["db_arn"], "instance_class": "db.t3.medium",
            "engine": "postgres", "allocated_storage": 20, "username": "orders", "password": "demo-only-password",
            "publicly_accessible": False, "storage_encrypted": False, "multi_az": False,
            "deletion_protection": False, "vpc_security_group_ids": [i["sg_db"]], "db_subnet_group_name": "shop-db",
            "tags": {"app": "shop"}, "tags_all": {"app": "shop"}},
            sensitive=[[{"type": "get_attr", "value": "password"}]]),
        _res("aws_s3_bucket", "archive", {"id": "shop-order-archive", "bucket": "shop-order-archive",
                                          "arn": "arn:aws:s3:::shop-order-archive", "tags": {"app": "shop"},
                                          "tags_all": {"app": "shop"}}),
        _res("aws_iam_role", "app", {
            "id": "shop-app", "name": "shop-app", "arn": i["role_arn"], "path": "/", "description": "",
            "max_session_duration": 3600,
            "assume_role_policy": json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
            "inline_policy": [], "managed_policy_arns": [], "tags": {}, "tags_all": {}}),
    ]
    return {"version": 4, "terraform_version": "1.7.5", "serial": 1, "lineage": "a1rd16-dem0-shop",
            "outputs": {}, "resources": resources}


def write_state(e: Estate, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(terraform_state(e), indent=1), encoding="utf-8")
    return path
