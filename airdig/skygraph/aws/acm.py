"""ACM certificates. Edge: every resource ACM reports using the certificate (``InUseBy``: load
balancers, CloudFront distributions, API Gateway domains) ``depends_on`` it — an expiring or revoked
certificate breaks them. Never reads a private key (``ExportCertificate`` is not called)."""

from __future__ import annotations

from typing import Any

from airdig.skygraph.aws.common import Clients, Where, each, jsonable, node, paginate, tag_list, without
from airdig.skygraph.aws.spec import E, KindSpec
from airdig.skygraph.graph import Fragment

CERT = "aws.acm.certificate"
SPECS = (KindSpec(CERT, ("acm:ListCertificates", "acm:DescribeCertificate", "acm:ListTagsForCertificate"),
                  E("aws.elbv2.load-balancer", "depends_on", CERT) + E("aws.cloudfront.distribution", "depends_on", CERT)
                  + E("aws.elb.load-balancer", "depends_on", CERT)),)


def get_acm(clients: Clients, where: Where) -> dict[str, Any]:
    acm = clients.client("acm", where.region)
    certs = []
    for c in paginate(acm, "list_certificates", "CertificateSummaryList"):
        arn = c["CertificateArn"]
        d = jsonable(acm.describe_certificate(CertificateArn=arn).get("Certificate", {}))
        d["Tags"] = jsonable(acm.list_tags_for_certificate(CertificateArn=arn).get("Tags", []))
        certs.append(d)
    return {"Certificates": certs}


def transform_acm(raw: dict[str, Any], where: Where, scope: str) -> Fragment:
    f = Fragment(scope)
    for c in each(raw.get("Certificates")):
        arn = c["CertificateArn"]
        attrs = without(c, "Tags", "InUseBy")
        attrs["InUseBy"] = sorted(c.get("InUseBy") or [])
        f.add(node(CERT, arn, where, c.get("DomainName", arn), attrs, tag_list(c.get("Tags")), []))
        for user in attrs["InUseBy"]:
            f.link(user, "depends_on", arn)
    return f
