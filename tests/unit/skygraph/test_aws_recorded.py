"""Transforms of the issue-14 kinds on responses in the documented API shapes, for what the AWS API
emulator (moto 5.2) cannot produce: ``InUseBy`` on ACM certificates, awsvpc ECS tasks (its RunTask fails
on the ENI), CloudFront viewer certificates, Route 53 CNAME / health-check records, nested Step
Functions definitions, HTTP integrations of REST APIs, serverless MSK."""

from __future__ import annotations

import json

from airdig.skygraph.aws import acm, apigateway, cloudfront, cloudwatch, ecs, route53, stepfunctions
from airdig.skygraph.aws.analytics import transform_msk
from airdig.skygraph.aws.common import Where
from airdig.skygraph.graph import Fragment

W = Where("123456789012", "eu-west-1")
ALB = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188"
CERT = "arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"
FN = "arn:aws:lambda:eu-west-1:123456789012:function:worker"


def refs(f: Fragment) -> set[tuple[str, str, str]]:
    return {(e.src, e.type, e.dst) for e in f.edges}


def test_acm_in_use_by_becomes_dependencies_of_the_users() -> None:
    raw = {"Certificates": [{"CertificateArn": CERT, "DomainName": "shop.example.com", "Status": "ISSUED",
                             "InUseBy": [ALB, "arn:aws:cloudfront::123456789012:distribution/E2QWRUHAPOMQZL"],
                             "Tags": [{"Key": "team", "Value": "web"}]}]}
    f = acm.transform_acm(raw, W, "acm/eu-west-1")
    assert refs(f) == {(ALB, "depends_on", CERT),
                       ("arn:aws:cloudfront::123456789012:distribution/E2QWRUHAPOMQZL", "depends_on", CERT)}
    assert f.nodes[0].tags == {"team": "web"} and f.nodes[0].name == "shop.example.com"


def test_awsvpc_task_reaches_its_subnet_and_its_service() -> None:
    svc = "arn:aws:ecs:eu-west-1:123456789012:service/apps/api"
    raw = {"Clusters": [{"clusterArn": "arn:aws:ecs:eu-west-1:123456789012:cluster/apps", "clusterName": "apps",
                         "runningTasksCount": 3}],
           "Services": [{"serviceArn": svc, "serviceName": "api", "clusterArn": "arn:aws:ecs:eu-west-1:123456789012:cluster/apps",
                         "taskDefinition": "arn:aws:ecs:eu-west-1:123456789012:task-definition/api:7", "runningCount": 3,
                         "deployments": [{"id": "ecs-svc/1"}]}],
           "Tasks": [{"taskArn": "arn:aws:ecs:eu-west-1:123456789012:task/apps/0f9a", "group": "service:api",
                      "clusterArn": "arn:aws:ecs:eu-west-1:123456789012:cluster/apps", "lastStatus": "RUNNING",
                      "taskDefinitionArn": "arn:aws:ecs:eu-west-1:123456789012:task-definition/api:7",
                      "attachments": [{"type": "ElasticNetworkInterface", "details": [
                          {"name": "subnetId", "value": "subnet-0a"}, {"name": "networkInterfaceId", "value": "eni-0b"},
                          {"name": "privateIPv4Address", "value": "10.0.1.7"}]}]},
                     {"taskArn": "arn:aws:ecs:eu-west-1:123456789012:task/apps/dead", "lastStatus": "STOPPED"}],
           "TaskDefinitions": [{"taskDefinitionArn": "arn:aws:ecs:eu-west-1:123456789012:task-definition/api:7",
                                "family": "api", "revision": 7, "containerDefinitions": [
                                    {"name": "api", "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/api@sha256:ab12"}]}]}
    f = ecs.transform_ecs(raw, W, "ecs/eu-west-1")
    task = "arn:aws:ecs:eu-west-1:123456789012:task/apps/0f9a"
    assert {(svc, "contains", task), ("subnet-0a", "network", task),
            ("arn:aws:ecs:eu-west-1:123456789012:task-definition/api:7", "depends_on",
             "123456789012.dkr.ecr.eu-west-1.amazonaws.com/api")} <= refs(f)
    kinds = [n.kind for n in f.nodes]
    assert kinds.count("aws.ecs.task") == 1  # the stopped task is gone
    service = next(n for n in f.nodes if n.kind == "aws.ecs.service")
    assert "runningCount" not in service.attrs and "deployments" not in service.attrs
    assert {"eni-0b", "10.0.1.7"} <= set(next(n for n in f.nodes if n.id == task).native_ids)


def test_cloudfront_certificate_and_website_origin() -> None:
    raw = {"Distributions": [{"ARN": "arn:aws:cloudfront::123456789012:distribution/E1", "Id": "E1",
                              "DomainName": "d111111abcdef8.cloudfront.net", "Status": "InProgress",
                              "Aliases": {"Quantity": 1, "Items": ["www.example.com"]},
                              "Origins": {"Items": [{"DomainName": "site.s3-website-eu-west-1.amazonaws.com"},
                                                    {"DomainName": "assets.s3.eu-west-1.amazonaws.com"}]},
                              "ViewerCertificate": {"ACMCertificateArn": CERT}}]}
    f = cloudfront.transform_cloudfront(raw, W, "cloudfront/global")
    d = "arn:aws:cloudfront::123456789012:distribution/E1"
    assert refs(f) == {(d, "depends_on", "site"), (d, "depends_on", "assets"), (d, "depends_on", CERT)}
    assert "Status" not in f.nodes[0].attrs and f.nodes[0].region == ""


def test_route53_cname_health_check_and_weighted_sets() -> None:
    raw = {"HostedZones": [{"Id": "/hostedzone/Z1", "Name": "example.com.", "VPCs": [{"VPCId": "vpc-1"}],
                            "RecordSets": [
                                {"Name": "api.example.com.", "Type": "CNAME", "SetIdentifier": "blue", "Weight": 90,
                                 "HealthCheckId": "hc-1", "ResourceRecords": [{"Value": "Web-1.eu-west-1.elb.amazonaws.com."}]},
                                {"Name": "api.example.com.", "Type": "CNAME", "SetIdentifier": "green", "Weight": 10,
                                 "ResourceRecords": [{"Value": "web-2.eu-west-1.elb.amazonaws.com"}]}]}],
           "HealthChecks": [{"Id": "hc-1", "HealthCheckVersion": 3, "HealthCheckConfig": {"Type": "HTTPS"}}]}
    f = route53.transform_route53(raw, W, "route53/global")
    zone = "arn:aws:route53:::hostedzone/Z1"
    blue = f"{zone}/recordset/api.example.com/CNAME/blue"
    assert {(zone, "contains", blue), (blue, "depends_on", "hc-1"),
            (blue, "depends_on", "web-1.eu-west-1.elb.amazonaws.com"), (zone, "depends_on", "vpc-1")} <= refs(f)
    assert len([n for n in f.nodes if n.kind == "aws.route53.record-set"]) == 2
    check = next(n for n in f.nodes if n.kind == "aws.route53.health-check")
    assert check.id == "arn:aws:route53:::healthcheck/hc-1" and "HealthCheckVersion" not in check.attrs


def test_step_functions_definition_refs_walk_parallel_and_map_states() -> None:
    definition = {"StartAt": "A", "States": {
        "A": {"Type": "Map", "ItemProcessor": {"StartAt": "B", "States": {
            "B": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
                  "Parameters": {"QueueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/jobs", "MessageBody.$": "$"}}}},
              "Next": "C"},
        "C": {"Type": "Parallel", "End": True, "Branches": [{"StartAt": "D", "States": {
            "D": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": f"{FN}:$LATEST"}},
        }}]}}}
    assert stepfunctions.definition_refs(json.dumps(definition)) == [
        "https://sqs.eu-west-1.amazonaws.com/123456789012/jobs", FN]
    assert stepfunctions.definition_refs("not json") == []


def test_rest_api_http_integration_reaches_the_load_balancer_by_dns_name() -> None:
    raw = {"RestApis": [{"id": "a1", "name": "shop", "stages": [{"stageName": "prod", "deploymentId": "d9"}],
                         "integrations": [{"path": "/", "httpMethod": "ANY", "type": "HTTP_PROXY",
                                           "uri": "http://Web-1.eu-west-1.elb.amazonaws.com/{proxy}"}]}]}
    f = apigateway.transform_apigateway(raw, W, "apigateway/eu-west-1")
    api = "arn:aws:apigateway:eu-west-1::/restapis/a1"
    assert refs(f) == {(api, "contains", f"{api}/stages/prod"), (api, "depends_on", "web-1.eu-west-1.elb.amazonaws.com")}
    assert "deploymentId" not in next(n for n in f.nodes if n.kind == "aws.apigateway.stage").attrs


def test_serverless_msk_and_alarm_dimensions() -> None:
    msk = "arn:aws:kafka:eu-west-1:123456789012:cluster/events/abc-1"
    raw = {"ClusterInfoList": [{"ClusterArn": msk, "ClusterName": "events", "State": "ACTIVE", "Serverless": {
        "VpcConfigs": [{"SubnetIds": ["subnet-1"], "SecurityGroupIds": ["sg-1"]}]}}]}
    assert refs(transform_msk(raw, W, "kafka/eu-west-1")) == {("subnet-1", "network", msk), ("sg-1", "network", msk)}
    assert cloudwatch.dimension_refs({"ClusterName": "apps", "ServiceName": "api"}, W) == [
        "arn:aws:ecs:eu-west-1:123456789012:service/apps/api"]
    assert cloudwatch.dimension_refs({"TargetGroup": "targetgroup/web/73e2d6bc24d8a067",
                                      "LoadBalancer": "app/web/50dc6c495c0c9188"}, W) == [
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/73e2d6bc24d8a067", ALB]
