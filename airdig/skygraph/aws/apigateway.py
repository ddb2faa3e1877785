"""API Gateway: REST APIs (v1) with their stages, HTTP/WebSocket APIs (v2) with stages and integrations.

Ids are the documented API Gateway ARNs (the API returns none): ``arn:aws:apigateway:<region>::/restapis/<id>``,
``…/restapis/<id>/stages/<name>``, ``arn:aws:apigateway:<region>::/apis/<id>``, ``…/apis/<id>/stages/<name>``,
``…/apis/<id>/integrations/<id>``. Edges: API ``contains`` its stages (and v2 integrations); a REST API
``depends_on`` the Lambda functions and HTTP back ends (by DNS name: ALB, NLB…) its methods integrate
with; a v2 integration ``depends_on`` its Lambda function, ALB/NLB listener (private integrations) or
HTTP back end. Deployment ids and timestamps on stages are left out (every deployment moves them).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from airdig.skygraph.aws.common import Clients, Where, each, jsonable, node, paginate, without
from airdig.skygraph.aws.route53 import dns_ref
from airdig.skygraph.aws.spec import E, KindSpec
from airdig.skygraph.graph import Fragment

REST, STAGE = "aws.apigateway.rest-api", "aws.apigateway.stage"
API, STAGE2, INTEG = "aws.apigatewayv2.api", "aws.apigatewayv2.stage", "aws.apigatewayv2.integration"
FN, ALB, LISTENER = "aws.lambda.function", "aws.elbv2.load-balancer", "aws.elbv2.listener"
SPECS = (
    KindSpec(REST, ("apigateway:GetRestApis", "apigateway:GetResources", "apigateway:GetIntegration"),
             E(REST, "contains", STAGE) + E(REST, "depends_on", FN, ALB),
             "arn:aws:apigateway:<region>::/restapis/<id>", "API id"),
    KindSpec(STAGE, ("apigateway:GetStages",), (), "arn:aws:apigateway:<region>::/restapis/<id>/stages/<name>"),
    KindSpec(API, ("apigateway:GetApis",), E(API, "contains", STAGE2, INTEG),
             "arn:aws:apigateway:<region>::/apis/<id>", "API id, endpoint host"),
    KindSpec(STAGE2, ("apigateway:GetStages",), (), "arn:aws:apigateway:<region>::/apis/<id>/stages/<name>"),
    KindSpec(INTEG, ("apigateway:GetIntegrations",), E(INTEG, "depends_on", FN, LISTENER, ALB),
             "arn:aws:apigateway:<region>::/apis/<id>/integrations/<id>"),
)

_LAMBDA_URI = re.compile(r"/functions/(?P<fn>arn:[^/]+)/invocations")
_STAGE_VOLATILE = ("deploymentId", "DeploymentId", "lastUpdatedDate", "LastUpdatedDate", "createdDate", "CreatedDate",
                   "LastDeploymentStatusMessage")


def _next_token_pages(call: Any, key: str, **kwargs: Any) -> list[Any]:
    """API Gateway v2 lists page with ``NextToken`` (botocore has no paginator for every one of them)."""
    out: list[Any] = []
    token: str | None = None
    while True:
        resp = call(**kwargs, **({"NextToken": token} if token else {}))
        out.extend(jsonable(resp.get(key) or []))
        token = resp.get("NextToken")
        if not token:
            return out


def get_apigateway(clients: Clients, where: Where) -> dict[str, Any]:
    v1 = clients.client("apigateway", where.region)
    rest = paginate(v1, "get_rest_apis", "items")
    for api in rest:
        api["stages"] = jsonable(v1.get_stages(restApiId=api["id"]).get("item", []))
        integrations = []
        for res in paginate(v1, "get_resources", "items", restApiId=api["id"]):
            for method, m in (res.get("resourceMethods") or {}).items():
                integ = (m or {}).get("methodIntegration")
                if integ is None:
                    try:
                        integ = jsonable(v1.get_integration(restApiId=api["id"], resourceId=res["id"], httpMethod=method))
                    except v1.exceptions.NotFoundException:
                        continue  # a method without an integration yet
                integrations.append({"path": res.get("path"), "httpMethod": method, "type": integ.get("type"),
                                     "uri": integ.get("uri"), "connectionId": integ.get("connectionId")})
        api["integrations"] = sorted(integrations, key=lambda i: (str(i["path"]), str(i["httpMethod"])))
    v2 = clients.client("apigatewayv2", where.region)
    apis = _next_token_pages(v2.get_apis, "Items")
    for api in apis:
        api["Stages"] = _next_token_pages(v2.get_stages, "Items", ApiId=api["ApiId"])
        api["Integrations"] = _next_token_pages(v2.get_integrations, "Items", ApiId=api["ApiId"])
    return {"RestApis": rest, "Apis": apis}


def backend_ref(uri: str | None) -> str | None:
    """What an integration URI names: a Lambda function ARN, a listener/ARN, or an HTTP host."""
    if not uri:
        return None
    m = _LAMBDA_URI.search(uri)
    if m:
        return m.group("fn")
    if uri.startswith("arn:"):
        return uri
    if uri.startswith(("http://", "https://")):
        return dns_ref(urlsplit(uri).hostname)
    return None


def transform_apigateway(raw: dict[str, Any], where: Where, scope: str) -> Fragment:
    f = Fragment(scope)
    base = f"arn:{where.partition}:apigateway:{where.region}::"
    for api in each(raw.get("RestApis")):
        arn = f"{base}/restapis/{api['id']}"
        f.add(node(REST, arn, where, api.get("name", api["id"]), without(api, "tags", "stages"),
                   {str(k): str(v) for k, v in (api.get("tags") or {}).items()}, [api["id"]]))
        for st in each(api.get("stages")):
            sarn = f"{arn}/stages/{st.get('stageName')}"
            f.add(node(STAGE, sarn, where, f"{api.get('name', api['id'])}/{st.get('stageName')}",
                       without(st, "tags", *_STAGE_VOLATILE), {str(k): str(v) for k, v in (st.get("tags") or {}).items()}, []))
            f.link(arn, "contains", sarn)
        for i in each(api.get("integrations")):
            f.link(arn, "depends_on", backend_ref(i.get("uri")))
    for api in each(raw.get("Apis")):
        arn = f"{base}/apis/{api['ApiId']}"
        host = urlsplit(str(api.get("ApiEndpoint") or "")).hostname
        f.add(node(API, arn, where, api.get("Name", api["ApiId"]), without(api, "Tags", "Stages", "Integrations"),
                   {str(k): str(v) for k, v in (api.get("Tags") or {}).items()}, [api["ApiId"], host]))
        for st in each(api.get("Stages")):
            sarn = f"{arn}/stages/{st.get('StageName')}"
            f.add(node(STAGE2, sarn, where, f"{api.get('Name', api['ApiId'])}/{st.get('StageName')}",
                       without(st, "Tags", *_STAGE_VOLATILE), {str(k): str(v) for k, v in (st.get("Tags") or {}).items()}, []))
            f.link(arn, "contains", sarn)
        for i in each(api.get("Integrations")):
            iarn = f"{arn}/integrations/{i.get('IntegrationId')}"
            f.add(node(INTEG, iarn, where, f"{i.get('IntegrationType')} {i.get('IntegrationId')}", without(i), {}, []))
            f.link(arn, "contains", iarn)
            f.link(iarn, "depends_on", backend_ref(i.get("IntegrationUri")))
    return f
