"""ECS: clusters, services, running tasks, the task definitions they use, container instances.

Edges: cluster ``contains`` its services, tasks and container instances; a service ``contains`` the
tasks it started (``startedBy``/``group``), ``depends_on`` its task definition, the target groups it
registers into and its IAM role; subnets and security groups of the awsvpc configuration
``network`` → service and task; task ``depends_on`` its task definition and ``runs_on`` its container
instance, which ``runs_on`` its EC2 instance; task definition ``depends_on`` its task and execution
roles and the ECR repositories of its images. Volatile counters (running/pending counts, task health,
``lastStatus``) are left out of attrs: they move without a configuration change.
"""

from __future__ import annotations

from typing import Any

from airdig.skygraph.aws.common import Clients, Where, each, jsonable, node, paginate, tag_list, without
from airdig.skygraph.aws.spec import E, KindSpec
from airdig.skygraph.graph import Fragment

CLUSTER, SERVICE, TASK = "aws.ecs.cluster", "aws.ecs.service", "aws.ecs.task"
TASKDEF, CI = "aws.ecs.task-definition", "aws.ecs.container-instance"
SUBNET, SG, ROLE = "aws.ec2.subnet", "aws.ec2.security-group", "aws.iam.role"

SPECS = (
    KindSpec(CLUSTER, ("ecs:ListClusters", "ecs:DescribeClusters"), E(CLUSTER, "contains", SERVICE, TASK, CI),
             natives="cluster name"),
    KindSpec(SERVICE, ("ecs:ListServices", "ecs:DescribeServices"),
             E(SERVICE, "contains", TASK) + E(SERVICE, "depends_on", TASKDEF, "aws.elbv2.target-group", ROLE)
             + E(SUBNET, "network", SERVICE) + E(SG, "network", SERVICE)),
    KindSpec(TASK, ("ecs:ListTasks", "ecs:DescribeTasks"),
             E(TASK, "depends_on", TASKDEF) + E(TASK, "runs_on", CI) + E(SUBNET, "network", TASK),
             natives="task id, private IPs, ENI id"),
    KindSpec(TASKDEF, ("ecs:DescribeTaskDefinition",),
             E(TASKDEF, "depends_on", ROLE, "aws.ecr.repository"), natives="family:revision"),
    KindSpec(CI, ("ecs:ListContainerInstances", "ecs:DescribeContainerInstances"),
             E(CI, "runs_on", "aws.ec2.instance")),
)

# fields that change while nothing was reconfigured: counts, status, health, timestamps of activity
_VOLATILE = ("runningTasksCount", "pendingTasksCount", "activeServicesCount", "registeredContainerInstancesCount",
             "statistics", "events", "deployments", "runningCount", "pendingCount", "tags", "lastStatus",
             "healthStatus", "connectivity", "connectivityAt", "pullStartedAt", "pullStoppedAt", "startedAt",
             "containers", "agentConnected", "remainingResources", "version", "versionInfo", "status",
             "attachments", "taskSets", "stoppingAt", "executionStoppedAt", "capacityProviderName")


def get_ecs(clients: Clients, where: Where) -> dict[str, Any]:
    ecs = clients.client("ecs", where.region)
    arns = paginate(ecs, "list_clusters", "clusterArns")
    clusters: list[Any] = []
    services: list[Any] = []
    tasks: list[Any] = []
    instances: list[Any] = []
    for i in range(0, len(arns), 100):  # DescribeClusters takes at most 100
        clusters.extend(jsonable(ecs.describe_clusters(clusters=arns[i:i + 100], include=["TAGS"]).get("clusters", [])))
    for c in arns:
        svc = paginate(ecs, "list_services", "serviceArns", cluster=c)
        for i in range(0, len(svc), 10):  # DescribeServices takes at most 10
            services.extend(jsonable(ecs.describe_services(cluster=c, services=svc[i:i + 10],
                                                           include=["TAGS"]).get("services", [])))
        ts = paginate(ecs, "list_tasks", "taskArns", cluster=c)
        for i in range(0, len(ts), 100):
            tasks.extend(jsonable(ecs.describe_tasks(cluster=c, tasks=ts[i:i + 100], include=["TAGS"]).get("tasks", [])))
        cis = paginate(ecs, "list_container_instances", "containerInstanceArns", cluster=c)
        for i in range(0, len(cis), 100):
            instances.extend(jsonable(ecs.describe_container_instances(
                cluster=c, containerInstances=cis[i:i + 100]).get("containerInstances", [])))
    used = sorted({s["taskDefinition"] for s in services if s.get("taskDefinition")}
                  | {t["taskDefinitionArn"] for t in tasks if t.get("taskDefinitionArn")})
    defs = []
    for d in used:  # only the definitions in use: an account keeps every revision ever registered
        resp = ecs.describe_task_definition(taskDefinition=d, include=["TAGS"])
        defs.append({**jsonable(resp.get("taskDefinition", {})), "tags": jsonable(resp.get("tags", []))})
    return {"Clusters": clusters, "Services": services, "Tasks": tasks, "ContainerInstances": instances,
            "TaskDefinitions": defs}


def _awsvpc(f: Fragment, conf: dict[str, Any] | None, dst: str) -> None:
    vpc = (conf or {}).get("awsvpcConfiguration") or {}
    for s in vpc.get("subnets") or []:
        f.link(s, "network", dst)
    for g in vpc.get("securityGroups") or []:
        f.link(g, "network", dst)


def _ecr_repo(image: str) -> str | None:
    """``<acct>.dkr.ecr.<region>.amazonaws.com/repo:tag`` → the repository URI (an ECR native id)."""
    if ".dkr.ecr." not in image:
        return None
    repo = image.split("@", 1)[0]
    host, _, path = repo.partition("/")
    return f"{host}/{path.rsplit(':', 1)[0]}"

def transform_ecs(raw: dict[str, Any], where: Where, scope: str) -> Fragment:
    f = Fragment(scope)
    for c in each(raw.get("Clusters")):
        arn = c["clusterArn"]
        f.add(node(CLUSTER, arn, where, c.get("clusterName", arn), without(c, *_VOLATILE), tag_list(c.get("tags")),
                   [c.get("clusterName")]))
    for s in each(raw.get("Services")):
        arn = s["serviceArn"]
        f.add(node(SERVICE, arn, where, s.get("serviceName", arn), without(s, *_VOLATILE), tag_list(s.get("tags")),
                   []))
        f.link(s.get("clusterArn"), "contains", arn)
        f.link(arn, "depends_on", s.get("taskDefinition"))
        f.link(arn, "depends_on", s.get("roleArn"))
        for lb in each(s.get("loadBalancers")):
            f.link(arn, "depends_on", lb.get("targetGroupArn"))
        _awsvpc(f, s.get("networkConfiguration"), arn)
    by_group = {f"service:{s.get('serviceName')}|{s.get('clusterArn')}": s["serviceArn"] for s in each(raw.get("Services"))}
    for t in each(raw.get("Tasks")):
        if t.get("lastStatus") == "STOPPED":
            continue  # stopped tasks stay listed for an hour; they are gone
        arn = t["taskArn"]
        attrs = without(t, *_VOLATILE)
        enis = [d for a in each(t.get("attachments")) for d in each(a.get("details"))]
        natives = [arn.rsplit("/", 1)[-1]] + [str(d.get("value")) for d in enis
                                                if d.get("name") in ("privateIPv4Address", "networkInterfaceId")]
        f.add(node(TASK, arn, where, arn.rsplit("/", 1)[-1], attrs, tag_list(t.get("tags")), natives))
        f.link(t.get("clusterArn"), "contains", arn)
        f.link(by_group.get(f"{t.get('group')}|{t.get('clusterArn')}"), "contains", arn)
        f.link(arn, "depends_on", t.get("taskDefinitionArn"))
        f.link(arn, "runs_on", t.get("containerInstanceArn"))
        subnets = [str(d.get("value")) for d in enis if d.get("name") == "subnetId"]
        for sub in subnets:
            f.link(sub, "network", arn)
    for ci in each(raw.get("ContainerInstances")):
        arn = ci["containerInstanceArn"]
        attrs = without(ci, *_VOLATILE, "registeredResources", "attributes", "registeredAt")
        f.add(node(CI, arn, where, ci.get("ec2InstanceId") or arn, attrs, tag_list(ci.get("tags")), []))
        for c in each(raw.get("Clusters")):  # the API does not name the cluster on the instance
            if arn.split("/")[-2:-1] == [c.get("clusterName")]:
                f.link(c["clusterArn"], "contains", arn)
        f.link(arn, "runs_on", ci.get("ec2InstanceId"))
    for d in each(raw.get("TaskDefinitions")):
        arn = d["taskDefinitionArn"]
        family = f"{d.get('family')}:{d.get('revision')}"
        attrs = without(d, "tags", "registeredAt", "registeredBy", "deregisteredAt")
        f.add(node(TASKDEF, arn, where, family, attrs, tag_list(d.get("tags")), [family]))
        f.link(arn, "depends_on", d.get("taskRoleArn"))
        f.link(arn, "depends_on", d.get("executionRoleArn"))
        for cd in each(d.get("containerDefinitions")):
            f.link(arn, "depends_on", _ecr_repo(str(cd.get("image") or "")))
    return f
