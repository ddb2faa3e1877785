"""The incident's writes: the cause and the decoys, each made through the emulator's AWS API (or the
simulated Kubernetes API) and, for AWS calls, recorded as CloudTrail records stamped with the time the
plan gives them (``eventTime``), written to the trail folder in the S3 delivery layout.

The truth — which write caused the incident — is returned to the benchmark as the node ids that write
changed; it is never written anywhere the engine reads.
"""

from __future__ import annotations

from typing import Any

from airdig.demo.estate import ACCOUNT, REGION
from airdig.demo.incident import api_record
from airdig.model.ids import k8s_id
from bench.rca.estate import Builder
from bench.rca.kube import CLUSTER, Cluster
from bench.rca.plan import Decoy, Incident

ACTORS = ("dba.kim@example.com", "ops.raj@example.com", "dev.lee@example.com", "sre.ana@example.com")


def _perm(port: int, cidr: str | None = None, group: str | None = None) -> dict[str, Any]:
    """One permission as EC2's API takes it (boto3 shape)."""
    p: dict[str, Any] = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port}
    if cidr:
        p["IpRanges"] = [{"CidrIp": cidr}]
    if group:
        p["UserIdGroupPairs"] = [{"GroupId": group}]
    return p


def _trail_perm(port: int, cidr: str | None = None, group: str | None = None) -> dict[str, Any]:
    """The same permission as CloudTrail records it (``items`` wrappers, camelCase)."""
    return {"ipProtocol": "tcp", "fromPort": port, "toPort": port,
            "ipRanges": {"items": [{"cidrIp": cidr}]} if cidr else {},
            "groups": {"items": [{"groupId": group, "userId": ACCOUNT}]} if group else {},
            "ipv6Ranges": {}, "prefixListIds": {}}


class Writer:
    """Makes one incident's writes; collects their CloudTrail records."""

    def __init__(self, b: Builder, kube: Cluster, inc: Incident, actor_pick: int) -> None:
        self.b, self.kube, self.inc = b, kube, inc
        self.actor = ACTORS[actor_pick % len(ACTORS)]
        self.records: list[dict[str, Any]] = []

    def _record(self, source: str, name: str, at: float, request: dict[str, Any],
                response: dict[str, Any] | None = None, actor: str | None = None) -> None:
        region = "us-east-1" if source == "iam.amazonaws.com" else REGION
        self.records.append(api_record(source, name, at, request, response, actor=actor or self.actor,
                                       region=region, console=len(self.records) % 2 == 0))

    # ------------------------------------------------------------------ the cause, per family
    def truth(self) -> set[str]:
        """Make the incident's cause; returns the node ids it changed (what a right answer names)."""
        inc, i, b = self.inc, self.inc.ids, self.b
        at = inc.truth_at
        f = inc.family
        if f == "db_resize":
            b.rds.modify_db_instance(DBInstanceIdentifier=i["db"], DBInstanceClass="db.t3.micro", ApplyImmediately=True)
            self._record("rds.amazonaws.com", "ModifyDBInstance", at, {
                "dBInstanceIdentifier": i["db"], "dBInstanceClass": "db.t3.micro", "applyImmediately": True})
            return {i["db_arn"]}
        if f == "sg_revoked":
            b.ec2.revoke_security_group_ingress(GroupId=i["sg_db"], IpPermissions=[_perm(5432, group=i["sg_web"])])
            self._record("ec2.amazonaws.com", "RevokeSecurityGroupIngress", at, {
                "groupId": i["sg_db"], "ipPermissions": {"items": [_trail_perm(5432, group=i["sg_web"])]}},
                {"_return": True})
            return {b.arn("security-group", i["sg_db"])}
        if f == "sg_opened":
            b.ec2.authorize_security_group_ingress(GroupId=i["sg_db"], IpPermissions=[_perm(5432, cidr="0.0.0.0/0")])
            self._record("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", at, {
                "groupId": i["sg_db"], "ipPermissions": {"items": [_trail_perm(5432, cidr="0.0.0.0/0")]}},
                {"_return": True})
            return {b.arn("security-group", i["sg_db"])}
        if f == "iam_detached":
            b.iam.detach_role_policy(RoleName=i["role"], PolicyArn=i["policy_arn"])
            self._record("iam.amazonaws.com", "DetachRolePolicy", at, {"roleName": i["role"],
                                                                       "policyArn": i["policy_arn"]})
            return {i["role_arn"]}
        if f in ("image_deploy", "env_change"):
            new_rs, new_pod = self.kube.rollout(inc, at, image=f == "image_deploy")
            return {k8s_id(CLUSTER, inc.ns, "deployment", "api"), new_rs, new_pod}
        if f == "asg_scaled_down":
            b.asg.set_desired_capacity(AutoScalingGroupName=i["asg"], DesiredCapacity=1, HonorCooldown=False)
            self._record("autoscaling.amazonaws.com", "SetDesiredCapacity", at, {
                "autoScalingGroupName": i["asg"], "desiredCapacity": 1, "honorCooldown": False})
            return {i["asg_arn"]}
        if f == "lambda_config":
            b.lam.update_function_configuration(FunctionName=i["fn"], MemorySize=128, Timeout=3)
            self._record("lambda.amazonaws.com", "UpdateFunctionConfiguration20150331v2", at, {
                "functionName": i["fn"], "memorySize": 128, "timeout": 3})
            return {i["fn_arn"]}
        if f == "target_deregistered":
            b.elb.deregister_targets(TargetGroupArn=i["tg_arn"], Targets=[{"Id": i["app"], "Port": 8080}])
            self._record("elasticloadbalancing.amazonaws.com", "DeregisterTargets", at, {
                "targetGroupArn": i["tg_arn"], "targets": [{"id": i["app"], "port": 8080}]})
            return {i["tg_arn"]}
        if f == "kms_disabled":
            b.kms.disable_key(KeyId=i["key"])
            self._record("kms.amazonaws.com", "DisableKey", at, {"keyId": i["key"]})
            return {i["key_arn"]}
        if f == "route_changed":
            b.ec2.delete_route(RouteTableId=i["rt"], DestinationCidrBlock="0.0.0.0/0")
            self._record("ec2.amazonaws.com", "DeleteRoute", at, {"routeTableId": i["rt"],
                                                                  "destinationCidrBlock": "0.0.0.0/0"})
            return {b.arn("route-table", i["rt"])}
        raise ValueError(f"unknown family {f!r}")

    # ------------------------------------------------------------------ decoys
    def decoy(self, d: Decoy, truth: set[str]) -> tuple[str, set[str]]:
        """Make one decoy write (never on a node the cause changed); returns a line saying what it was and
        the node ids it touched (so the report can say which decoy outranked the cause)."""
        inc, i, b = self.inc, self.inc.ids, self.b
        at = inc.onset + d.at
        other = ACTORS[(ACTORS.index(self.actor) + 1 + d.variant) % len(ACTORS)]
        if d.kind == "tag_edit":
            targets = [("instance", i["app"]), ("security-group", i["sg_web"]), ("db", i["db"])]
            kind, native = targets[d.variant]
            if kind == "db" and i["db_arn"] in truth:
                kind, native = targets[0]
            if kind == "db":
                b.rds.add_tags_to_resource(ResourceName=i["db_arn"], Tags=[{"Key": "cost-center", "Value": "cc-42"}])
                self._record("rds.amazonaws.com", "AddTagsToResource", at, {
                    "resourceName": i["db_arn"], "tags": [{"key": "cost-center", "value": "cc-42"}]},
                    actor=other)
            else:
                b.ec2.create_tags(Resources=[native], Tags=[{"Key": "owner", "Value": "team-orders"}])
                self._record("ec2.amazonaws.com", "CreateTags", at, {
                    "resourcesSet": {"items": [{"resourceId": native}]},
                    "tagSet": {"items": [{"key": "owner", "value": "team-orders"}]}}, actor=other)
            return f"tag edit on {native}", {i["db_arn"] if kind == "db" else b.arn(kind, native)}
        if d.kind == "unmanaged_created":
            if d.variant == 0:
                iid = b.ec2.run_instances(ImageId=b.ami, InstanceType="t3.micro", MinCount=1, MaxCount=1,
                                          SubnetId=i["sub_b"])["Instances"][0]["InstanceId"]
                self._record("ec2.amazonaws.com", "RunInstances", at, {
                    "instancesSet": {"items": [{"imageId": b.ami, "minCount": 1, "maxCount": 1}]},
                    "instanceType": "t3.micro", "subnetId": i["sub_b"]},
                    {"instancesSet": {"items": [{"instanceId": iid}]}}, actor=other)
                return f"unmanaged instance {iid} launched", {b.arn("instance", iid)}
            name = f"{inc.ns}-scratch-{inc.suffix}"
            if d.variant == 1:
                gid = b.ec2.create_security_group(GroupName=name, Description="scratch", VpcId=i["vpc"])["GroupId"]
                self._record("ec2.amazonaws.com", "CreateSecurityGroup", at, {
                    "groupName": name, "groupDescription": "scratch", "vpcId": i["vpc"]},
                    {"_return": True, "groupId": gid}, actor=other)
                return f"unmanaged security group {gid} created", {b.arn("security-group", gid)}
            b.s3.create_bucket(Bucket=name)
            self._record("s3.amazonaws.com", "CreateBucket", at, {"bucketName": name, "Host": f"{name}.s3.amazonaws.com"},
                         actor=other)
            return f"unmanaged bucket {name} created", {f"arn:aws:s3:::{name}"}
        if d.kind == "other_vpc_change":
            b.ec2.authorize_security_group_ingress(GroupId=i["sg_other"], IpPermissions=[_perm(5432, cidr="0.0.0.0/0")])
            self._record("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", at, {
                "groupId": i["sg_other"], "ipPermissions": {"items": [_trail_perm(5432, cidr="0.0.0.0/0")]}},
                {"_return": True}, actor=other)
            return (f"security group {i['sg_other']} opened in the other VPC {i['other_vpc']}",
                    {b.arn("security-group", i["sg_other"])})
        if d.kind == "after_onset_change":
            port = (22, 8443, 9090)[d.variant]
            b.ec2.authorize_security_group_ingress(GroupId=i["sg_web"], IpPermissions=[_perm(port, cidr="10.0.0.0/8")])
            self._record("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", at, {
                "groupId": i["sg_web"], "ipPermissions": {"items": [_trail_perm(port, cidr="10.0.0.0/8")]}},
                {"_return": True}, actor=other)
            return f"web security group {i['sg_web']} opened on {port} after the onset", {b.arn("security-group", i["sg_web"])}
        if d.kind == "scale_event":
            b.asg.set_desired_capacity(AutoScalingGroupName=i["batch_asg"], DesiredCapacity=2, HonorCooldown=False)
            self._record("autoscaling.amazonaws.com", "SetDesiredCapacity", at, {
                "autoScalingGroupName": i["batch_asg"], "desiredCapacity": 2, "honorCooldown": False}, actor=other)
            return f"batch Auto Scaling group {i['batch_asg']} scaled 1 → 2", {i["batch_asg_arn"]}
        if d.kind == "first_scan":
            # resources that appear without a record in this trail (made in another account's session):
            # the next scan is the first to see them
            name = f"{inc.ns}-new-{inc.suffix}"
            gid = b.ec2.create_security_group(GroupName=name, Description="new", VpcId=i["vpc"])["GroupId"]
            b.s3.create_bucket(Bucket=name)
            return (f"new security group {gid} and bucket {name}, first seen by a scan",
                    {b.arn("security-group", gid), f"arn:aws:s3:::{name}"})
        raise ValueError(f"unknown decoy {d.kind!r}")
