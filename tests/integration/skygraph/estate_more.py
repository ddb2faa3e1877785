"""The second half of the emulated estate: the kinds added for issue 14, wired to the first half
(:func:`conftest.build`) the way a real estate is — an ECS service behind the ALB's target group, a
Route 53 alias to the ALB, CloudFront in front of the bucket and the ALB, API Gateway calling the Lambda
function, alarms on the ALB and the queue, EventBridge delivering to the function, a state machine
invoking it, EFS mounted in the subnets, a Transit Gateway attached to the VPC.
"""

from __future__ import annotations

import json
from typing import Any

import boto3

from tests.integration.skygraph.conftest import ACCOUNT, REGION, Topology


def c(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


def build_more(t: Topology) -> Topology:
    ids, arns = t.ids, t.arns
    ec2 = c("ec2")
    # --- VPC links
    other = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    pcx = ec2.create_vpc_peering_connection(VpcId=ids["vpc"], PeerVpcId=other)["VpcPeeringConnection"]
    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx["VpcPeeringConnectionId"])
    ec2.create_route(RouteTableId=ids["rt"], DestinationCidrBlock="10.1.0.0/16",
                     VpcPeeringConnectionId=pcx["VpcPeeringConnectionId"])
    vpce = ec2.create_vpc_endpoint(VpcId=ids["vpc"], ServiceName=f"com.amazonaws.{REGION}.s3",
                                   RouteTableIds=[ids["rt"]], VpcEndpointType="Gateway")["VpcEndpoint"]
    tgw = ec2.create_transit_gateway(Description="core")["TransitGateway"]
    att = ec2.create_transit_gateway_vpc_attachment(TransitGatewayId=tgw["TransitGatewayId"], VpcId=ids["vpc"],
                                                    SubnetIds=[ids["sub_a"]])["TransitGatewayVpcAttachment"]
    tgw_rt = ec2.create_transit_gateway_route_table(TransitGatewayId=tgw["TransitGatewayId"])["TransitGatewayRouteTable"]
    eigw = ec2.create_egress_only_internet_gateway(VpcId=ids["vpc"])["EgressOnlyInternetGateway"]
    eip = ec2.allocate_address(Domain="vpc")
    ids.update(other_vpc=other, pcx=pcx["VpcPeeringConnectionId"], vpce=vpce["VpcEndpointId"],
               tgw=tgw["TransitGatewayId"], tgw_att=att["TransitGatewayAttachmentId"],
               tgw_rt=tgw_rt["TransitGatewayRouteTableId"], eigw=eigw["EgressOnlyInternetGatewayId"],
               eip=eip["AllocationId"], eip_ip=eip["PublicIp"])
    arns["tgw"] = tgw["TransitGatewayArn"]
    # --- IAM users and customer managed policies (attached to a user and to a role)
    iam = c("iam")
    pol = iam.create_policy(PolicyName="orders-read", PolicyDocument=(
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:ReceiveMessage", '
        '"Resource": "*"}]}'))["Policy"]["Arn"]
    user = iam.create_user(UserName="ci", Tags=[{"Key": "team", "Value": "platform"}])["User"]["Arn"]
    iam.attach_user_policy(UserName="ci", PolicyArn=pol)
    iam.attach_role_policy(RoleName="worker-role", PolicyArn=pol)
    arns.update(policy_orders=pol, user_ci=user)

    # --- listener rule, Classic ELB
    elb = c("elbv2")
    rule = elb.create_rule(ListenerArn=arns["listener"], Priority=10,
                           Conditions=[{"Field": "path-pattern", "Values": ["/api/*"]}],
                           Actions=[{"Type": "forward", "TargetGroupArn": arns["tg"]}])["Rules"][0]
    arns["rule"] = rule["RuleArn"]
    clb = c("elb")
    clb.create_load_balancer(LoadBalancerName="legacy", Listeners=[
        {"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 8080}], Subnets=[ids["sub_a"]],
        SecurityGroups=[ids["sg_lb"]])
    clb.register_instances_with_load_balancer(LoadBalancerName="legacy", Instances=[{"InstanceId": ids["web1"]}])
    arns["clb"] = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/legacy"

    # --- ECR, ECS
    ecr = c("ecr")
    repo = ecr.create_repository(repositoryName="orders-api")["repository"]
    arns["repo"] = repo["repositoryArn"]
    ecs = c("ecs")
    cluster = ecs.create_cluster(clusterName="apps")["cluster"]["clusterArn"]
    td = ecs.register_task_definition(family="orders-api", networkMode="awsvpc", taskRoleArn=arns["fn_role"],
                                      executionRoleArn=arns["role"], requiresCompatibilities=["FARGATE"], cpu="256",
                                      memory="512", containerDefinitions=[{
                                          "name": "api", "image": f"{repo['repositoryUri']}:v1", "memory": 512,
                                          "portMappings": [{"containerPort": 8080}]}])["taskDefinition"]
    svc = ecs.create_service(cluster="apps", serviceName="orders-api", taskDefinition=td["taskDefinitionArn"],
                             desiredCount=1, launchType="FARGATE",
                             loadBalancers=[{"targetGroupArn": arns["tg"], "containerName": "api",
                                             "containerPort": 8080}],
                             networkConfiguration={"awsvpcConfiguration": {
                                 "subnets": [ids["sub_a"]], "securityGroups": [ids["sg_web"]]}})["service"]
    # a worker on EC2 capacity: the emulator cannot start awsvpc tasks (its ENI lacks a DNS name), so the
    # task runs in bridge mode on a registered container instance
    worker = ecs.register_task_definition(family="orders-worker", networkMode="bridge", containerDefinitions=[{
        "name": "worker", "image": "public.ecr.aws/docker/library/busybox:1", "memory": 128}])["taskDefinition"]
    doc = json.dumps({"instanceId": ids["web2"], "region": REGION, "accountId": ACCOUNT,
                      "availabilityZone": f"{REGION}a"})
    ci = ecs.register_container_instance(cluster="apps", instanceIdentityDocument=doc)["containerInstance"]
    task = ecs.run_task(cluster="apps", taskDefinition=worker["taskDefinitionArn"], launchType="EC2")["tasks"][0]
    arns.update(ci=ci["containerInstanceArn"], worker_td=worker["taskDefinitionArn"])
    arns.update(ecs_cluster=cluster, taskdef=td["taskDefinitionArn"], ecs_service=svc["serviceArn"],
                task=task["taskArn"])

    # --- EFS
    efs = c("efs")
    fs = efs.create_file_system(CreationToken="shared", Encrypted=True, KmsKeyId=arns["key"],
                                Tags=[{"Key": "Name", "Value": "shared"}])
    mt = efs.create_mount_target(FileSystemId=fs["FileSystemId"], SubnetId=ids["sub_a"], SecurityGroups=[ids["sg_web"]])
    ap = efs.create_access_point(FileSystemId=fs["FileSystemId"])
    arns.update(fs=fs["FileSystemArn"], ap=ap["AccessPointArn"],
                mt=f"arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}:file-system/{fs['FileSystemId']}/mount-target/{mt['MountTargetId']}")

    # --- secrets (a value that must never reach the graph), ACM
    sm = c("secretsmanager")
    arns["secret"] = sm.create_secret(Name="orders/db", SecretString="hunter2-do-not-leak", KmsKeyId=arns["key"])["ARN"]
    acm = c("acm")
    arns["cert"] = acm.request_certificate(DomainName="orders.example.com")["CertificateArn"]

    # --- CloudWatch alarms, logs
    cw = c("cloudwatch")
    lb_suffix = arns["lb"].split(":loadbalancer/")[1]
    cw.put_metric_alarm(AlarmName="alb-5xx", MetricName="HTTPCode_ELB_5XX_Count", Namespace="AWS/ApplicationELB",
                        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=5,
                        ComparisonOperator="GreaterThanThreshold", Dimensions=[{"Name": "LoadBalancer", "Value": lb_suffix}],
                        AlarmActions=[arns["topic"]])
    cw.put_metric_alarm(AlarmName="queue-depth", MetricName="ApproximateNumberOfMessagesVisible", Namespace="AWS/SQS",
                        Statistic="Maximum", Period=60, EvaluationPeriods=1, Threshold=100,
                        ComparisonOperator="GreaterThanThreshold", Dimensions=[{"Name": "QueueName", "Value": "orders"}])
    arns["alarm_alb"] = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:alb-5xx"
    arns["alarm_queue"] = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:queue-depth"
    logs = c("logs")
    logs.create_log_group(logGroupName="/aws/lambda/worker")
    arns["log_group"] = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/worker"

    # --- EventBridge, Step Functions
    ev = c("events")
    arns["ev_rule"] = ev.put_rule(Name="nightly", ScheduleExpression="rate(1 day)")["RuleArn"]
    ev.put_targets(Rule="nightly", Targets=[{"Id": "fn", "Arn": arns["fn"]}, {"Id": "q", "Arn": arns["queue"]}])
    arns["bus"] = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"
    sfn = c("stepfunctions")
    definition = {"StartAt": "Work", "States": {
        "Work": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                 "Parameters": {"FunctionName": arns["fn"], "Payload.$": "$"}, "Next": "Fan"},
        "Fan": {"Type": "Parallel", "End": True, "Branches": [{"StartAt": "Direct", "States": {
            "Direct": {"Type": "Task", "Resource": arns["fn"], "End": True}}}]}}}
    arns["sm"] = sfn.create_state_machine(name="orders-flow", definition=json.dumps(definition),
                                          roleArn=arns["fn_role"])["stateMachineArn"]
    arns["activity"] = sfn.create_activity(name="approve")["activityArn"]

    # --- Kinesis, Firehose, OpenSearch, MSK
    kin = c("kinesis")
    kin.create_stream(StreamName="clicks", ShardCount=1)
    arns["stream"] = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/clicks"
    fh = c("firehose")
    arns["firehose"] = fh.create_delivery_stream(
        DeliveryStreamName="clicks-archive", DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": arns["stream"], "RoleARN": arns["fn_role"]},
        ExtendedS3DestinationConfiguration={"RoleARN": arns["fn_role"],
                                            "BucketARN": "arn:aws:s3:::orders-archive"})["DeliveryStreamARN"]
    osd = c("opensearch")
    arns["domain"] = osd.create_domain(DomainName="search", VPCOptions={
        "SubnetIds": [ids["sub_a"]], "SecurityGroupIds": [ids["sg_db"]]})["DomainStatus"]["ARN"]
    kafka = c("kafka")
    arns["msk"] = kafka.create_cluster_v2(ClusterName="events", Provisioned={
        "BrokerNodeGroupInfo": {"InstanceType": "kafka.m5.large", "ClientSubnets": [ids["sub_a"], ids["sub_b"]],
                                "SecurityGroups": [ids["sg_db"]]},
        "KafkaVersion": "3.6.0", "NumberOfBrokerNodes": 2})["ClusterArn"]

    # --- Auto Scaling policy
    asg = c("autoscaling")
    asg_name = arns["asg"].rsplit("/", 1)[-1]
    asg.put_scaling_policy(AutoScalingGroupName=asg_name, PolicyName="cpu", PolicyType="TargetTrackingScaling",
                                            TargetTrackingConfiguration={"PredefinedMetricSpecification": {
                                                "PredefinedMetricType": "ASGAverageCPUUtilization"},
                                                "TargetValue": 50.0})
    arns["policy"] = asg.describe_policies(AutoScalingGroupName=asg_name)["ScalingPolicies"][0]["PolicyARN"]

    # --- API Gateway v1 / v2
    apigw = c("apigateway")
    rest = apigw.create_rest_api(name="orders")["id"]
    root = apigw.get_resources(restApiId=rest)["items"][0]["id"]
    res = apigw.create_resource(restApiId=rest, parentId=root, pathPart="orders")["id"]
    apigw.put_method(restApiId=rest, resourceId=res, httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=rest, resourceId=res, httpMethod="GET", type="AWS_PROXY", integrationHttpMethod="POST",
                          uri=f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{arns['fn']}/invocations")
    dep = apigw.create_deployment(restApiId=rest, stageName="prod")["id"]
    assert dep
    arns["rest"] = f"arn:aws:apigateway:{REGION}::/restapis/{rest}"
    v2 = c("apigatewayv2")
    api = v2.create_api(Name="orders-http", ProtocolType="HTTP")["ApiId"]
    integ = v2.create_integration(ApiId=api, IntegrationType="AWS_PROXY", IntegrationUri=arns["fn"],
                                  PayloadFormatVersion="2.0")["IntegrationId"]
    integ_alb = v2.create_integration(ApiId=api, IntegrationType="HTTP_PROXY", IntegrationUri=arns["listener"],
                                      IntegrationMethod="ANY", ConnectionType="VPC_LINK", ConnectionId="vl-1")["IntegrationId"]
    v2.create_stage(ApiId=api, StageName="live")
    arns["api"] = f"arn:aws:apigateway:{REGION}::/apis/{api}"
    arns["integ"] = f"{arns['api']}/integrations/{integ}"
    arns["integ_alb"] = f"{arns['api']}/integrations/{integ_alb}"
    arns["stage2"] = f"{arns['api']}/stages/live"

    # --- CloudFront in front of the bucket and the ALB; Route 53
    cf = c("cloudfront")
    dist = cf.create_distribution(DistributionConfig={
        "CallerReference": "orders", "Comment": "orders", "Enabled": True,
        "Origins": {"Quantity": 2, "Items": [
            {"Id": "s3", "DomainName": "orders-archive.s3.amazonaws.com", "S3OriginConfig": {"OriginAccessIdentity": ""}},
            {"Id": "alb", "DomainName": ids["lb_dns"], "CustomOriginConfig": {
                "HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "http-only"}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "alb", "ViewerProtocolPolicy": "allow-all",
                                 "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
                                 "MinTTL": 0}})["Distribution"]
    arns["dist"] = dist["ARN"]
    ids["dist_domain"] = dist["DomainName"]
    r53 = c("route53")
    zone = r53.create_hosted_zone(Name="example.com", CallerReference="z1")["HostedZone"]["Id"].rsplit("/", 1)[-1]
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": {"Name": "orders.example.com", "Type": "A", "AliasTarget": {
            "HostedZoneId": "Z35SXDOTRQ7X7K", "DNSName": f"dualstack.{ids['lb_dns']}", "EvaluateTargetHealth": False}}},
        {"Action": "CREATE", "ResourceRecordSet": {"Name": "cdn.example.com", "Type": "A", "AliasTarget": {
            "HostedZoneId": "Z2FDTNDATAQYW2", "DNSName": dist["DomainName"], "EvaluateTargetHealth": False}}},
        {"Action": "CREATE", "ResourceRecordSet": {"Name": "vpn.example.com", "Type": "A", "TTL": 300,
                                                   "ResourceRecords": [{"Value": eip["PublicIp"]}]}},
    ]})
    zarn = f"arn:aws:route53:::hostedzone/{zone}"
    arns.update(zone=zarn, rec_alb=f"{zarn}/recordset/orders.example.com/A", rec_cdn=f"{zarn}/recordset/cdn.example.com/A",
                rec_vpn=f"{zarn}/recordset/vpn.example.com/A")
    return t
