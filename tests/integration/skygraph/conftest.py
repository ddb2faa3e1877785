"""The AWS API emulator (moto server on a free loopback port), the fake-credential environment and a
realistic AWS estate built through boto3 against it.

The estate: a VPC with two subnets, an internet gateway and a route table; three security groups where
the web group admits the load balancer's group and the database group admits the web group; two web
instances with an instance profile behind an ALB; PostgreSQL on RDS in a DB subnet group encrypted with a
KMS key; a Lambda function reading an SQS queue and a DynamoDB stream (event source mappings); an SNS
topic delivering to the queue; an EKS cluster with a managed node group and its Auto Scaling group; an
encrypted EBS volume; an S3 bucket.
"""

from __future__ import annotations

import io
import socket
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws_env(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Fake credentials and AWS_ENDPOINT_URL pointing at a freshly reset emulator."""
    import urllib.request

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                       "AWS_ENDPOINT_URL": moto_server}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")).read()
    yield moto_server


@pytest.fixture
def topology(aws_env: str) -> Topology:
    return build()


REGION = "us-east-1"
ACCOUNT = "123456789012"

_TRUST = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"%s"},'
          '"Action":"sts:AssumeRole"}]}')


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return buf.getvalue()


@dataclass
class Topology:
    ids: dict[str, str] = field(default_factory=dict)
    arns: dict[str, str] = field(default_factory=dict)

    def ec2_arn(self, kind: str, native: str) -> str:
        return f"arn:aws:ec2:{REGION}:{ACCOUNT}:{kind}/{native}"


def build(region: str = REGION) -> Topology:
    t = Topology()
    ec2 = boto3.client("ec2", region_name=region)
    iam = boto3.client("iam", region_name=region)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "prod"}]}])["Vpc"]["VpcId"]
    sub_a = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone=f"{region}a")["Subnet"]["SubnetId"]
    sub_b = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24", AvailabilityZone=f"{region}b")["Subnet"]["SubnetId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    rt = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=rt, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    ec2.associate_route_table(RouteTableId=rt, SubnetId=sub_a)
    t.ids.update(vpc=vpc, sub_a=sub_a, sub_b=sub_b, igw=igw, rt=rt)

    sg_lb = ec2.create_security_group(GroupName="lb", Description="lb", VpcId=vpc)["GroupId"]
    sg_web = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
    sg_db = ec2.create_security_group(GroupName="db", Description="db", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=sg_lb, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ec2.authorize_security_group_ingress(GroupId=sg_web, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "UserIdGroupPairs": [{"GroupId": sg_lb}]}])
    ec2.authorize_security_group_ingress(GroupId=sg_db, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": sg_web}]}])
    t.ids.update(sg_lb=sg_lb, sg_web=sg_web, sg_db=sg_db)

    role = iam.create_role(RoleName="web-role", AssumeRolePolicyDocument=_TRUST % "ec2.amazonaws.com")["Role"]["Arn"]
    profile = iam.create_instance_profile(InstanceProfileName="web-profile")["InstanceProfile"]["Arn"]
    iam.add_role_to_instance_profile(InstanceProfileName="web-profile", RoleName="web-role")
    fn_role = iam.create_role(RoleName="worker-role",
                              AssumeRolePolicyDocument=_TRUST % "lambda.amazonaws.com")["Role"]["Arn"]
    t.arns.update(role=role, profile=profile, fn_role=fn_role)

    kms = boto3.client("kms", region_name=region)
    key = kms.create_key(Description="data")["KeyMetadata"]
    kms.create_alias(AliasName="alias/data", TargetKeyId=key["KeyId"])
    t.arns["key"] = key["Arn"]
    t.ids["key"] = key["KeyId"]
    vol = ec2.create_volume(AvailabilityZone=f"{region}a", Size=10, Encrypted=True, KmsKeyId=key["Arn"])
    t.ids["vol"] = vol["VolumeId"]

    web = ec2.run_instances(ImageId="ami-12c6146b", InstanceType="t3.micro", MinCount=2, MaxCount=2,
                            SubnetId=sub_a, SecurityGroupIds=[sg_web], IamInstanceProfile={"Arn": profile},
                            TagSpecifications=[{"ResourceType": "instance",
                                                "Tags": [{"Key": "Name", "Value": "web"}]}])["Instances"]
    t.ids["web1"], t.ids["web2"] = web[0]["InstanceId"], web[1]["InstanceId"]

    elb = boto3.client("elbv2", region_name=region)
    lb = elb.create_load_balancer(Name="web-alb", Subnets=[sub_a, sub_b], SecurityGroups=[sg_lb],
                                  Type="application")["LoadBalancers"][0]
    tg = elb.create_target_group(Name="web-tg", Protocol="HTTP", Port=8080, VpcId=vpc,
                                 TargetType="instance")["TargetGroups"][0]
    elb.register_targets(TargetGroupArn=tg["TargetGroupArn"],
                         Targets=[{"Id": t.ids["web1"], "Port": 8080}, {"Id": t.ids["web2"], "Port": 8080}])
    listener = elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                                   DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}])
    t.arns.update(lb=lb["LoadBalancerArn"], tg=tg["TargetGroupArn"], listener=listener["Listeners"][0]["ListenerArn"])
    t.ids["lb_dns"] = lb["DNSName"]

    rds = boto3.client("rds", region_name=region)
    rds.create_db_subnet_group(DBSubnetGroupName="db-subnets", DBSubnetGroupDescription="db",
                               SubnetIds=[sub_a, sub_b])
    db = rds.create_db_instance(DBInstanceIdentifier="orders-db", DBInstanceClass="db.t3.micro", Engine="postgres",
                                MasterUsername="app", MasterUserPassword="secret123", AllocatedStorage=20,
                                DBSubnetGroupName="db-subnets", VpcSecurityGroupIds=[sg_db],
                                StorageEncrypted=True, KmsKeyId=key["Arn"])["DBInstance"]
    t.arns["db"] = db["DBInstanceArn"]
    t.arns["db_subnets"] = f"arn:aws:rds:{region}:{ACCOUNT}:subgrp:db-subnets"

    sqs = boto3.client("sqs", region_name=region)
    q = sqs.create_queue(QueueName="orders")["QueueUrl"]
    t.arns["queue"] = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    ddb = boto3.client("dynamodb", region_name=region)
    table = ddb.create_table(TableName="orders", BillingMode="PAY_PER_REQUEST",
                             KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                             AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                             StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})["TableDescription"]
    t.arns["table"] = table["TableArn"]
    lam = boto3.client("lambda", region_name=region)
    fn = lam.create_function(FunctionName="worker", Runtime="python3.12", Role=fn_role, Handler="handler.handler",
                             Code={"ZipFile": _zip()}, Tags={"team": "orders"},
                             VpcConfig={"SubnetIds": [sub_b], "SecurityGroupIds": [sg_web]})
    t.arns["fn"] = fn["FunctionArn"]
    lam.create_event_source_mapping(EventSourceArn=t.arns["queue"], FunctionName="worker", BatchSize=10)
    lam.create_event_source_mapping(EventSourceArn=table["LatestStreamArn"], FunctionName="worker",
                                    StartingPosition="LATEST")
    sns = boto3.client("sns", region_name=region)
    topic = sns.create_topic(Name="order-events")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=t.arns["queue"])
    t.arns["topic"] = topic

    eks = boto3.client("eks", region_name=region)
    cluster = eks.create_cluster(name="prod", roleArn=role, resourcesVpcConfig={
        "subnetIds": [sub_a, sub_b], "securityGroupIds": [sg_web]})["cluster"]
    ng = eks.create_nodegroup(clusterName="prod", nodegroupName="general", nodeRole=role,
                              subnets=[sub_a, sub_b])["nodegroup"]
    t.arns.update(cluster=cluster["arn"], nodegroup=ng["nodegroupArn"])
    asg_name = ng["resources"]["autoScalingGroups"][0]["name"]
    lt = ec2.create_launch_template(LaunchTemplateName="eks-general", LaunchTemplateData={
        "ImageId": "ami-12c6146b", "InstanceType": "t3.large"})["LaunchTemplate"]
    asg = boto3.client("autoscaling", region_name=region)
    asg.create_auto_scaling_group(AutoScalingGroupName=asg_name, MinSize=1, MaxSize=3, DesiredCapacity=1,
                                  LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"]},
                                  VPCZoneIdentifier=f"{sub_a},{sub_b}")
    groups = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[asg_name])["AutoScalingGroups"]
    t.arns["asg"] = groups[0]["AutoScalingGroupARN"]
    t.ids["asg_instance"] = groups[0]["Instances"][0]["InstanceId"]
    t.ids["lt"] = lt["LaunchTemplateId"]

    s3 = boto3.client("s3", region_name=region)
    s3.create_bucket(Bucket="orders-archive")
    s3.put_bucket_tagging(Bucket="orders-archive", Tagging={"TagSet": [{"Key": "team", "Value": "orders"}]})
    s3.put_bucket_encryption(Bucket="orders-archive", ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key["Arn"]}}]})
    return t


ROLE = "AirDigScanner"


def in_account(account: str, service: str) -> Any:
    creds = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{ROLE}", RoleSessionName="setup")["Credentials"]
    return boto3.client(service, region_name=REGION, aws_access_key_id=creds["AccessKeyId"],
                        aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])


@pytest.fixture
def org(aws_env: str) -> dict[str, str]:
    """A management account (the credentials') with two member accounts, each with a VPC and a queue."""
    o = boto3.client("organizations", region_name=REGION)
    o.create_organization(FeatureSet="ALL")
    members = {}
    for name in ("prod", "staging"):
        status = o.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]
        members[name] = status["AccountId"]
        ec2 = in_account(status["AccountId"], "ec2")
        ec2.create_vpc(CidrBlock="10.9.0.0/16", TagSpecifications=[
            {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": f"{name}-vpc"}]}])
        in_account(status["AccountId"], "sqs").create_queue(QueueName=f"{name}-jobs")
    boto3.client("sqs", region_name=REGION).create_queue(QueueName="mgmt-jobs")
    return members


def client(service: str, region: str = REGION) -> Any:
    return boto3.client(service, region_name=region)


class _Deny(BaseHTTPRequestHandler):
    """Answers every AWS call the way AWS does when IAM denies it (REST-JSON services such as Lambda)."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _deny(self) -> None:
        body = b'{"Message": "User: arn:aws:iam::123456789012:user/scanner is not authorized to perform this action"}'
        self.send_response(403)
        self.send_header("x-amzn-ErrorType", "AccessDeniedException")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _deny


@pytest.fixture
def deny_endpoint() -> Iterator[str]:
    """An endpoint that denies everything; point ``AWS_ENDPOINT_URL_<SERVICE>`` at it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Deny)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _Throttle(BaseHTTPRequestHandler):
    """Forwards to the emulator, but answers every other request the way AWS throttles (HTTP 429,
    ``TooManyRequestsException``, REST-JSON services such as Lambda)."""

    upstream = ""
    throttled = 0
    forwarded = 0
    lock = threading.Lock()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _handle(self) -> None:
        import urllib.error
        import urllib.request

        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        cls = type(self)
        with cls.lock:
            throttle = (cls.throttled + cls.forwarded) % 2 == 0
            if throttle:
                cls.throttled += 1
            else:
                cls.forwarded += 1
        if throttle:
            msg = b'{"message": "Rate exceeded", "Type": "User"}'
            self.send_response(429)
            self.send_header("x-amzn-ErrorType", "TooManyRequestsException")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(msg)))
            self.end_headers()
            self.wfile.write(msg)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        req = urllib.request.Request(cls.upstream + self.path, data=body if body else None, method=self.command,
                                     headers=headers)
        try:
            with urllib.request.urlopen(req) as resp:
                status, rheaders, data = resp.status, resp.headers.items(), resp.read()
        except urllib.error.HTTPError as err:
            status, rheaders, data = err.code, err.headers.items(), err.read()
        self.send_response(status)
        for k, v in rheaders:
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _handle


@pytest.fixture
def throttle_endpoint(moto_server: str) -> Iterator[type[_Throttle]]:
    """A proxy to the emulator that throttles half the requests; point ``AWS_ENDPOINT_URL_<SERVICE>`` at
    ``handler.url``."""
    handler = type("Throttle", (_Throttle,), {"upstream": moto_server, "throttled": 0, "forwarded": 0,
                                              "lock": threading.Lock()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler
    server.shutdown()
    server.server_close()
