"""EFS file systems, their mount targets and access points.

Edges: file system ``contains`` its mount targets and access points and ``depends_on`` its KMS key;
subnet and the mount target's security groups ``network`` → mount target. Size and mount-target counts
are left out of attrs (they move by themselves). Mount target ARN (the API gives none):
``arn:aws:elasticfilesystem:<region>:<account>:file-system/<fs-id>/mount-target/<fsmt-id>``.
"""

from __future__ import annotations

from typing import Any

from airdig.skygraph.aws.common import Clients, Where, each, jsonable, node, paginate, tag_list, without
from airdig.skygraph.aws.spec import E, KindSpec
from airdig.skygraph.graph import Fragment

FS, MT, AP = "aws.efs.file-system", "aws.efs.mount-target", "aws.efs.access-point"
SPECS = (
    KindSpec(FS, ("elasticfilesystem:DescribeFileSystems",), E(FS, "contains", MT, AP) + E(FS, "depends_on", "aws.kms.key"),
             natives="file system id"),
    KindSpec(MT, ("elasticfilesystem:DescribeMountTargets", "elasticfilesystem:DescribeMountTargetSecurityGroups"),
             E("aws.ec2.subnet", "network", MT) + E("aws.ec2.security-group", "network", MT),
             "arn:aws:elasticfilesystem:<region>:<account>:file-system/<fs-id>/mount-target/<fsmt-id>",
             "mount target id, IP address"),
    KindSpec(AP, ("elasticfilesystem:DescribeAccessPoints",), (), natives="access point id"),
)


def get_efs(clients: Clients, where: Where) -> dict[str, Any]:
    efs = clients.client("efs", where.region)
    fss = paginate(efs, "describe_file_systems", "FileSystems")
    mts: list[Any] = []
    aps: list[Any] = []
    for fs in fss:
        for mt in jsonable(efs.describe_mount_targets(FileSystemId=fs["FileSystemId"]).get("MountTargets", [])):
            mt["SecurityGroups"] = sorted(efs.describe_mount_target_security_groups(
                MountTargetId=mt["MountTargetId"]).get("SecurityGroups", []))
            mts.append(mt)
        aps.extend(jsonable(efs.describe_access_points(FileSystemId=fs["FileSystemId"]).get("AccessPoints", [])))
    return {"FileSystems": fss, "MountTargets": mts, "AccessPoints": aps}


def transform_efs(raw: dict[str, Any], where: Where, scope: str) -> Fragment:
    f = Fragment(scope)
    for fs in each(raw.get("FileSystems")):
        arn = fs.get("FileSystemArn") or f"arn:{where.partition}:elasticfilesystem:{where.region}:{where.account}:file-system/{fs['FileSystemId']}"
        f.add(node(FS, arn, where, fs.get("Name") or fs["FileSystemId"],
                   without(fs, "Tags", "SizeInBytes", "NumberOfMountTargets", "LifeCycleState"),
                   tag_list(fs.get("Tags")), [fs["FileSystemId"]]))
        f.link(arn, "depends_on", fs.get("KmsKeyId"))
    for mt in each(raw.get("MountTargets")):
        mid = mt["MountTargetId"]
        arn = f"arn:{where.partition}:elasticfilesystem:{where.region}:{where.account}:file-system/{mt.get('FileSystemId')}/mount-target/{mid}"
        f.add(node(MT, arn, where, mid, without(mt, "LifeCycleState"), {}, [mid, mt.get("IpAddress")]))
        f.link(mt.get("FileSystemId"), "contains", arn)
        f.link(mt.get("SubnetId"), "network", arn)
        for g in mt.get("SecurityGroups") or []:
            f.link(g, "network", arn)
    for ap in each(raw.get("AccessPoints")):
        arn = ap["AccessPointArn"]
        tags = tag_list(ap.get("Tags"))
        f.add(node(AP, arn, where, ap.get("Name") or ap.get("AccessPointId") or arn, without(ap, "Tags", "LifeCycleState"),
                   tags, [ap.get("AccessPointId")]))
        f.link(ap.get("FileSystemId"), "contains", arn)
    return f
