"""CloudFront distributions (global).

Edges: distribution ``depends_on`` each origin — an S3 bucket (``<bucket>.s3[.<region>|-website…].amazonaws.com``)
or any node whose DNS name the origin names (ALB, Classic ELB, API Gateway…) — and its ACM certificate.
The distribution's domain name (``d…cloudfront.net``) and aliases are native ids, which is how Route 53
alias records reach it.
"""

from __future__ import annotations

import re
from typing import Any

from airdig.skygraph.aws.common import Clients, Where, each, jsonable, node, tag_list, without
from airdig.skygraph.aws.route53 import dns_ref
from airdig.skygraph.aws.spec import E, KindSpec
from airdig.skygraph.graph import Fragment

DIST = "aws.cloudfront.distribution"
SPECS = (KindSpec(DIST, ("cloudfront:ListDistributions", "cloudfront:ListTagsForResource"),
                  E(DIST, "depends_on", "aws.s3.bucket", "aws.elbv2.load-balancer", "aws.elb.load-balancer",
                    "aws.acm.certificate"), natives="distribution id, domain name, aliases"),)

_S3_ORIGIN = re.compile(r"^(?P<bucket>[a-z0-9.\-]+?)\.s3(?:[.-][a-z0-9-]+)*\.amazonaws\.com(?:\.cn)?$")


def get_cloudfront(clients: Clients, where: Where) -> dict[str, Any]:
    cf = clients.client("cloudfront", "us-east-1")
    dists: list[Any] = []
    for page in cf.get_paginator("list_distributions").paginate():
        dists.extend(jsonable((page.get("DistributionList") or {}).get("Items") or []))
    for d in dists:
        d["Tags"] = jsonable(cf.list_tags_for_resource(Resource=d["ARN"]).get("Tags", {}).get("Items", []))
    return {"Distributions": dists}


def origin_ref(domain: str) -> str | None:
    m = _S3_ORIGIN.match(domain.lower())
    return m.group("bucket") if m else dns_ref(domain)


def transform_cloudfront(raw: dict[str, Any], where: Where, scope: str) -> Fragment:
    f = Fragment(scope)
    for d in each(raw.get("Distributions")):
        arn = d["ARN"]
        aliases = list((d.get("Aliases") or {}).get("Items") or [])
        attrs = without(d, "Tags", "Status", "LastModifiedTime")
        f.add(node(DIST, arn, where, d.get("DomainName", arn), attrs, tag_list(d.get("Tags")),
                   [d.get("Id"), d.get("DomainName"), *aliases], region=""))
        for o in each((d.get("Origins") or {}).get("Items")):
            f.link(arn, "depends_on", origin_ref(str(o.get("DomainName") or "")))
        f.link(arn, "depends_on", (d.get("ViewerCertificate") or {}).get("ACMCertificateArn"))
    return f
