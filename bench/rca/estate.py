"""Each incident's estate, built through the AWS API of the emulator (moto) and described in its own
Terraform state file, as Terraform would have written it.

Every incident lives in its own VPC (``i007`` …) with its own names: a web subnet whose route table
reaches the internet, web and database security groups, the app host (EC2, with an instance profile
whose role has a managed policy attached) and its PostgreSQL database on RDS. Families add what they
need (a Lambda function and KMS key, a load balancer and target group, an Auto Scaling group, a
Kubernetes workload on the app host). A second VPC per incident ("other") holds a security group that
only decoys touch.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from pathlib import Path
from typing import Any

from airdig.demo.estate import ACCOUNT, REGION, _res, _rule
from bench.rca.plan import Incident

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": ["ec2.amazonaws.com", "lambda.amazonaws.com"]},
     "Action": "sts:AssumeRole"}]})
POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "*"}]})
_EGRESS = [_rule(0, ["0.0.0.0/0"], [], protocol="-1", to=0)]


def _tags(**kv: str) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in kv.items()]


def _spec(rtype: str, **kv: str) -> list[dict[str, Any]]:
    return [{"ResourceType": rtype, "Tags": _tags(**kv)}]


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("handler.py", "def handler(event, context):\n    return {'ok': True}\n")
    return buf.getvalue()


class Builder:
    """boto3 clients on the emulator, shared by every incident (one AMI lookup)."""

    def __init__(self) -> None:
        import boto3

        self.ec2 = boto3.client("ec2", region_name=REGION)
        self.rds = boto3.client("rds", region_name=REGION)
        self.iam = boto3.client("iam", region_name=REGION)
        self.lam = boto3.client("lambda", region_name=REGION)
        self.kms = boto3.client("kms", region_name=REGION)
        self.elb = boto3.client("elbv2", region_name=REGION)
        self.asg = boto3.client("autoscaling", region_name=REGION)
        self.s3 = boto3.client("s3", region_name=REGION)
        self.ami = self.ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        self.code = base64.b64encode(_zip())

    def arn(self, kind: str, native: str) -> str:
        return f"arn:aws:ec2:{REGION}:{ACCOUNT}:{kind}/{native}"

    def build(self, inc: Incident, state_dir: Path) -> Path:
        """Create the incident's resources; their ids go into ``inc.ids``; returns its state file."""
        ec2, ns, ids = self.ec2, inc.ns, inc.ids
        net = inc.index % 250
        vpc = ec2.create_vpc(CidrBlock=f"10.{net}.0.0/16", TagSpecifications=_spec("vpc", Name=ns))["Vpc"]["VpcId"]
        sub_a = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.{net}.1.0/24", AvailabilityZone=f"{REGION}a",
                                  TagSpecifications=_spec("subnet", Name=f"{ns}-a"))["Subnet"]["SubnetId"]
        sub_b = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.{net}.2.0/24", AvailabilityZone=f"{REGION}b",
                                  TagSpecifications=_spec("subnet", Name=f"{ns}-b"))["Subnet"]["SubnetId"]
        igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
        rt = ec2.create_route_table(VpcId=vpc, TagSpecifications=_spec("route-table", Name=f"{ns}-web"))
        rt_id = rt["RouteTable"]["RouteTableId"]
        ec2.create_route(RouteTableId=rt_id, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
        ec2.associate_route_table(RouteTableId=rt_id, SubnetId=sub_a)
        sg_web = ec2.create_security_group(GroupName=f"{ns}-web", Description="web tier", VpcId=vpc,
                                           TagSpecifications=_spec("security-group", Name=f"{ns}-web"))["GroupId"]
        sg_db = ec2.create_security_group(GroupName=f"{ns}-db", Description="database", VpcId=vpc,
                                          TagSpecifications=_spec("security-group", Name=f"{ns}-db"))["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=sg_web, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        ec2.authorize_security_group_ingress(GroupId=sg_db, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": sg_web}]}])
        other = ec2.create_vpc(CidrBlock=f"172.{16 + net % 16}.{net}.0/24",
                               TagSpecifications=_spec("vpc", Name=f"{ns}-other"))["Vpc"]["VpcId"]
        sg_other = ec2.create_security_group(GroupName=f"{ns}-other", Description="another team", VpcId=other,
                                             TagSpecifications=_spec("security-group", Name=f"{ns}-other"))["GroupId"]
        role = f"{ns}-app-{inc.suffix}"
        role_arn = self.iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
        policy_arn = self.iam.create_policy(PolicyName=f"{ns}-s3-{inc.suffix}", PolicyDocument=POLICY)["Policy"]["Arn"]
        self.iam.attach_role_policy(RoleName=role, PolicyArn=policy_arn)
        profile = self.iam.create_instance_profile(InstanceProfileName=role)["InstanceProfile"]["Arn"]
        self.iam.add_role_to_instance_profile(InstanceProfileName=role, RoleName=role)
        app = ec2.run_instances(ImageId=self.ami, InstanceType="t3.medium", MinCount=1, MaxCount=1, SubnetId=sub_a,
                                SecurityGroupIds=[sg_web], IamInstanceProfile={"Arn": profile},
                                TagSpecifications=_spec("instance", Name=f"{ns}-app", app=ns)
                                )["Instances"][0]["InstanceId"]
        db_name = f"{ns}-db-{inc.suffix}"
        self.rds.create_db_subnet_group(DBSubnetGroupName=db_name, DBSubnetGroupDescription="db",
                                        SubnetIds=[sub_a, sub_b])
        db = self.rds.create_db_instance(
            DBInstanceIdentifier=db_name, DBInstanceClass="db.r6g.large", Engine="postgres", MasterUsername="app",
            MasterUserPassword="bench-only-password", AllocatedStorage=50, DBSubnetGroupName=db_name,
            VpcSecurityGroupIds=[sg_db], Tags=_tags(app=ns))["DBInstance"]
        endpoint = self.rds.describe_db_instances(DBInstanceIdentifier=db_name)["DBInstances"][0]["Endpoint"]["Address"]
        ids.update(vpc=vpc, sub_a=sub_a, sub_b=sub_b, igw=igw, rt=rt_id, sg_web=sg_web, sg_db=sg_db, other_vpc=other,
                   sg_other=sg_other, role=role, role_arn=role_arn, policy_arn=policy_arn, profile_arn=profile,
                   app=app, host=app, db=db_name, db_arn=db["DBInstanceArn"],
                   db_resource_id=str(db.get("DbiResourceId") or db_name), db_endpoint=str(endpoint))
        if any(d.kind == "scale_event" for d in inc.decoys):
            self._batch_group(inc)
        extra = getattr(self, f"_extra_{inc.family}", None)
        if extra is not None:
            extra(inc)
        path = state_dir / f"{ns}.tfstate"
        path.write_text(json.dumps(self.state(inc), indent=1), encoding="utf-8")
        return path

    # ------------------------------------------------------------------ family extras
    def _function(self, inc: Incident, key_arn: str | None = None) -> None:
        name = f"{inc.ns}-fn-{inc.suffix}"
        kw: dict[str, Any] = {"KMSKeyArn": key_arn} if key_arn else {}
        fn = self.lam.create_function(FunctionName=name, Runtime="python3.11", Role=inc.ids["role_arn"],
                                      Handler="handler.handler", Code={"ZipFile": base64.b64decode(self.code)},
                                      Timeout=30, MemorySize=1024, Description="orders worker",
                                      Environment={"Variables": {"STAGE": "prod"}}, **kw)
        inc.ids.update(fn=name, fn_arn=fn["FunctionArn"])

    def _extra_lambda_config(self, inc: Incident) -> None:
        self._function(inc)

    def _extra_kms_disabled(self, inc: Incident) -> None:
        key = self.kms.create_key(Description=f"{inc.ns} secrets", Tags=[{"TagKey": "app", "TagValue": inc.ns}])
        inc.ids.update(key=key["KeyMetadata"]["KeyId"], key_arn=key["KeyMetadata"]["Arn"])
        self._function(inc, key["KeyMetadata"]["Arn"])

    def _extra_target_deregistered(self, inc: Incident) -> None:
        i = inc.ids
        lb = self.elb.create_load_balancer(Name=f"{inc.ns}-lb-{inc.suffix}", Subnets=[i["sub_a"], i["sub_b"]],
                                           SecurityGroups=[i["sg_web"]], Scheme="internet-facing",
                                           Type="application")["LoadBalancers"][0]
        tg = self.elb.create_target_group(Name=f"{inc.ns}-tg-{inc.suffix}", Protocol="HTTP", Port=8080,
                                          VpcId=i["vpc"], TargetType="instance")["TargetGroups"][0]
        self.elb.register_targets(TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": i["app"], "Port": 8080}])
        self.elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=[
            {"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}])
        i.update(lb=lb["LoadBalancerName"], lb_arn=lb["LoadBalancerArn"], tg=tg["TargetGroupName"],
                 tg_arn=tg["TargetGroupArn"])

    def _group(self, inc: Incident, role: str, subnet: str, desired: int) -> tuple[str, str]:
        lt = self.ec2.create_launch_template(LaunchTemplateName=f"{inc.ns}-{role}", LaunchTemplateData={
            "ImageId": self.ami, "InstanceType": "t3.medium", "SecurityGroupIds": [inc.ids["sg_web"]]})
        name = f"{inc.ns}-{role}-{inc.suffix}"
        self.asg.create_auto_scaling_group(
            AutoScalingGroupName=name, MinSize=1, MaxSize=6, DesiredCapacity=desired, VPCZoneIdentifier=subnet,
            LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplate"]["LaunchTemplateId"], "Version": "$Latest"})
        group = self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
        return name, str(group["AutoScalingGroupARN"])

    def group_instances(self, name: str) -> list[str]:
        group = self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
        return sorted(str(x["InstanceId"]) for x in group.get("Instances", []))

    def _batch_group(self, inc: Incident) -> None:
        """A batch-workers group beside the app (the "scale event" decoy scales it)."""
        name, arn = self._group(inc, "batch", inc.ids["sub_b"], 1)
        inc.ids.update(batch_asg=name, batch_asg_arn=arn)

    def _extra_asg_scaled_down(self, inc: Incident) -> None:
        """The app runs on an Auto Scaling group of four; the cause scales it to one."""
        name, arn = self._group(inc, "workers", inc.ids["sub_a"], 4)
        host = self.group_instances(name)[0]
        # the app's own instance is protected from scale-in: it survives, with a quarter of the capacity
        self.asg.set_instance_protection(AutoScalingGroupName=name, InstanceIds=[host], ProtectedFromScaleIn=True)
        inc.ids.update(asg=name, asg_arn=arn, host=host)

    # ------------------------------------------------------------------ Terraform state
    def state(self, inc: Incident) -> dict[str, Any]:
        """The state as Terraform wrote it when the estate was applied (managed: VPCs, subnets, security
        groups, the app host, the database, the role and its policy attachment, Lambda, KMS, LB/TG;
        route tables, Auto Scaling groups and target registrations are not managed in this estate)."""
        i, ns = inc.ids, inc.ns
        res = [
            _res("aws_vpc", "main", {"id": i["vpc"], "cidr_block": f"10.{inc.index % 250}.0.0/16",
                                     "tags": {"Name": ns}}),
            _res("aws_vpc", "other", {"id": i["other_vpc"], "tags": {"Name": f"{ns}-other"}}),
            _res("aws_subnet", "a", {"id": i["sub_a"], "vpc_id": i["vpc"], "tags": {"Name": f"{ns}-a"}}),
            _res("aws_subnet", "b", {"id": i["sub_b"], "vpc_id": i["vpc"], "tags": {"Name": f"{ns}-b"}}),
            _res("aws_security_group", "web", {
                "id": i["sg_web"], "name": f"{ns}-web", "description": "web tier", "vpc_id": i["vpc"],
                "ingress": [_rule(443, ["0.0.0.0/0"], [])], "egress": _EGRESS, "tags": {"Name": f"{ns}-web"}}),
            _res("aws_security_group", "db", {
                "id": i["sg_db"], "name": f"{ns}-db", "description": "database", "vpc_id": i["vpc"],
                "ingress": [_rule(5432, [], [i["sg_web"]])], "egress": _EGRESS, "tags": {"Name": f"{ns}-db"}}),
            _res("aws_security_group", "other", {
                "id": i["sg_other"], "name": f"{ns}-other", "description": "another team", "vpc_id": i["other_vpc"],
                "ingress": [], "egress": _EGRESS, "tags": {"Name": f"{ns}-other"}}),
            _res("aws_instance", "app", {"id": i["app"], "ami": self.ami, "instance_type": "t3.medium",
                                         "subnet_id": i["sub_a"], "vpc_security_group_ids": [i["sg_web"]],
                                         "tags": {"Name": f"{ns}-app", "app": ns}}),
            _res("aws_db_instance", "db", {
                "id": i["db_resource_id"], "identifier": i["db"], "arn": i["db_arn"], "instance_class": "db.r6g.large",
                "engine": "postgres", "allocated_storage": 50, "username": "app", "password": "bench-only-password",
                "vpc_security_group_ids": [i["sg_db"]], "tags": {"app": ns}},
                sensitive=[[{"type": "get_attr", "value": "password"}]]),
            _res("aws_iam_role", "app", {"id": i["role"], "name": i["role"], "arn": i["role_arn"], "path": "/",
                                         "assume_role_policy": TRUST, "tags": {}}),
            _res("aws_iam_role_policy_attachment", "app_s3", {"id": f"{i['role']}-policy", "role": i["role"],
                                                              "policy_arn": i["policy_arn"]}),
        ]
        if "fn" in i:
            res.append(_res("aws_lambda_function", "worker", {
                "id": i["fn"], "function_name": i["fn"], "arn": i["fn_arn"], "runtime": "python3.11",
                "handler": "handler.handler", "role": i["role_arn"], "memory_size": 1024, "timeout": 30,
                "description": "orders worker", "environment": [{"variables": {"STAGE": "prod"}}]}))
        if "key" in i:
            res.append(_res("aws_kms_key", "secrets", {"id": i["key"], "key_id": i["key"], "arn": i["key_arn"],
                                                       "description": f"{ns} secrets", "is_enabled": True}))
        if "lb" in i:
            res.append(_res("aws_lb", "web", {"id": i["lb_arn"], "arn": i["lb_arn"], "name": i["lb"],
                                              "internal": False, "load_balancer_type": "application"}))
            res.append(_res("aws_lb_target_group", "web", {"id": i["tg_arn"], "arn": i["tg_arn"], "name": i["tg"],
                                                           "port": 8080, "protocol": "HTTP", "vpc_id": i["vpc"]}))
        return {"version": 4, "terraform_version": "1.7.5", "serial": 1, "lineage": f"bench-{ns}-{inc.suffix}",
                "outputs": {}, "resources": res}
