"""Kinesis data streams and Firehose delivery streams.

Edges: stream ``depends_on`` its KMS key; delivery stream ``depends_on`` its source Kinesis stream, its
destination bucket / OpenSearch domain, its IAM roles. Shard counts from ``ListShards`` are not read:
``DescribeStreamSummary`` carries the open shard count.
"""

from __future__ import annotations

from typing import Any

from airdig.skygraph.aws.common import Clients, Where, each, jsonable, node, tag_list, without
from airdig.skygraph.aws.spec import E, KindSpec
from airdig.skygraph.graph import Fragment

STREAM, FIREHOSE = "aws.kinesis.stream", "aws.firehose.delivery-stream"
SPECS = (
    KindSpec(STREAM, ("kinesis:ListStreams", "kinesis:DescribeStreamSummary", "kinesis:ListTagsForStream"),
             E(STREAM, "depends_on", "aws.kms.key"), natives="stream name"),
    KindSpec(FIREHOSE, ("firehose:ListDeliveryStreams", "firehose:DescribeDeliveryStream",
                        "firehose:ListTagsForDeliveryStream"),
             E(FIREHOSE, "depends_on", STREAM, "aws.s3.bucket", "aws.iam.role", "aws.opensearch.domain"),
             natives="delivery stream name"),
)


def get_streams(clients: Clients, where: Where) -> dict[str, Any]:
    kin = clients.client("kinesis", where.region)
    streams = []
    names: list[str] = []
    for page in kin.get_paginator("list_streams").paginate():
        names.extend(page.get("StreamNames") or [])
    for name in names:
        s = jsonable(kin.describe_stream_summary(StreamName=name).get("StreamDescriptionSummary", {}))
        s["Tags"] = jsonable(kin.list_tags_for_stream(StreamName=name).get("Tags", []))
        streams.append(s)
    fh = clients.client("firehose", where.region)
    deliveries = []
    start: str | None = None
    while True:  # ListDeliveryStreams has no paginator: it pages by the last name
        resp = fh.list_delivery_streams(**({"ExclusiveStartDeliveryStreamName": start} if start else {}))
        batch = resp.get("DeliveryStreamNames") or []
        for name in batch:
            d = jsonable(fh.describe_delivery_stream(DeliveryStreamName=name).get("DeliveryStreamDescription", {}))
            d["Tags"] = jsonable(fh.list_tags_for_delivery_stream(DeliveryStreamName=name).get("Tags", []))
            deliveries.append(d)
        if not resp.get("HasMoreDeliveryStreams") or not batch:
            break
        start = batch[-1]
    return {"Streams": streams, "DeliveryStreams": deliveries}


def transform_streams(raw: dict[str, Any], where: Where, scope: str) -> Fragment:
    f = Fragment(scope)
    for s in each(raw.get("Streams")):
        arn = s["StreamARN"]
        f.add(node(STREAM, arn, where, s.get("StreamName", arn), without(s, "Tags", "ConsumerCount"),
                   tag_list(s.get("Tags")), [s.get("StreamName")]))
        f.link(arn, "depends_on", s.get("KeyId") if s.get("EncryptionType") == "KMS" else None)
    for d in each(raw.get("DeliveryStreams")):
        arn = d["DeliveryStreamARN"]
        f.add(node(FIREHOSE, arn, where, d.get("DeliveryStreamName", arn),
                   without(d, "Tags", "VersionId", "LastUpdateTimestamp"), tag_list(d.get("Tags")),
                   [d.get("DeliveryStreamName")]))
        src = (d.get("Source") or {}).get("KinesisStreamSourceDescription") or {}
        f.link(arn, "depends_on", src.get("KinesisStreamARN"))
        f.link(arn, "depends_on", src.get("RoleARN"))
        for dest in each(d.get("Destinations")):
            for conf in dest.values():
                if isinstance(conf, dict):
                    f.link(arn, "depends_on", conf.get("BucketARN"))
                    f.link(arn, "depends_on", conf.get("DomainARN"))
                    f.link(arn, "depends_on", conf.get("RoleARN"))
    return f
