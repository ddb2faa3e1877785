"""SkyGraph benchmark.

1. Graph build for N synthetic resources (default 100,000) made from recorded-shape API responses
   (DescribeVpcs/Subnets/SecurityGroups/Instances/NetworkInterfaces/Volumes and a Kubernetes PodList,
   cloned from tests/data/skygraph): transform → edge inference (reference resolution) → diff against
   the previous graph (1% of nodes changed, 1% gone). Baseline in the same run: decoding the same
   responses from JSON (the least any reader must spend on them). Aim: under 5 s on one core.
2. 1,000 EC2 instances in the AWS API emulator (moto server): a full ``ec2`` scope scan (fetch +
   transform + resolve + diff + state save) next to the bare paginated describe calls it makes.

    .venv/bin/python bench/skygraph.py [--quick]
"""

from __future__ import annotations

import argparse
import copy
import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from airdig.model.graph import Node  # noqa: E402
from airdig.skygraph.aws.common import Where  # noqa: E402
from airdig.skygraph.aws.ec2 import transform_ec2  # noqa: E402
from airdig.skygraph.diff import diff  # noqa: E402
from airdig.skygraph.gcpause import gc_paused  # noqa: E402
from airdig.skygraph.graph import Fragment, resolve  # noqa: E402
from airdig.skygraph.k8s.transform import KIND_BY_API, transform_kind  # noqa: E402

DATA = ROOT / "tests" / "data" / "skygraph"
W = Where("123456789012", "us-east-1")


def synthetic(total: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """EC2 responses and a PodList holding ``total`` resources, cloned from the recorded ones."""
    rec = orjson.loads((DATA / "aws" / "ec2.json").read_bytes())
    inst_t = rec["Reservations"][0]["Instances"][0]
    vol_t = rec["Volumes"][0]
    pod_t = orjson.loads((DATA / "k8s" / "pods.json").read_bytes())["items"][0]
    n_vpc, n_sub, n_sg = max(1, total // 500), max(1, total // 50), max(1, total // 20)
    n_pod = total // 35
    n_inst = (total - n_vpc - n_sub - n_sg - n_pod) // 3  # instance + its ENI + its volume
    vpcs = [{"VpcId": f"vpc-{i:017x}", "CidrBlock": "10.0.0.0/16", "State": "available",
             "Tags": [{"Key": "Name", "Value": f"vpc-{i}"}]} for i in range(n_vpc)]
    subnets = [{"SubnetId": f"subnet-{i:017x}", "VpcId": vpcs[i % n_vpc]["VpcId"], "CidrBlock": f"10.{i % 250}.0.0/24",
                "AvailabilityZone": "us-east-1a", "AvailableIpAddressCount": 250} for i in range(n_sub)]
    sgs = [{"GroupId": f"sg-{i:017x}", "GroupName": f"g{i}", "VpcId": vpcs[i % n_vpc]["VpcId"], "Description": "",
            "IpPermissions": [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [],
                               "UserIdGroupPairs": [{"GroupId": f"sg-{(i + 1) % n_sg:017x}"}]}],
            "IpPermissionsEgress": []} for i in range(n_sg)]
    instances, enis, volumes = [], [], []
    for i in range(n_inst):
        iid, sub, sg = f"i-{i:017x}", subnets[i % n_sub]["SubnetId"], sgs[i % n_sg]["GroupId"]
        inst = copy.deepcopy(inst_t)
        inst.update(InstanceId=iid, SubnetId=sub, PrivateIpAddress=f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}",
                    PrivateDnsName=f"ip-{i}.ec2.internal", SecurityGroups=[{"GroupId": sg, "GroupName": "g"}])
        inst["BlockDeviceMappings"][0]["Ebs"]["VolumeId"] = f"vol-{i:017x}"
        instances.append(inst)
        enis.append({"NetworkInterfaceId": f"eni-{i:017x}", "SubnetId": sub, "Groups": [{"GroupId": sg}],
                     "PrivateIpAddress": inst["PrivateIpAddress"], "Status": "in-use",
                     "Attachment": {"InstanceId": iid, "DeviceIndex": 0, "Status": "attached"}})
        vol = copy.deepcopy(vol_t)
        vol.update(VolumeId=f"vol-{i:017x}")
        vol["Attachments"][0].update(InstanceId=iid, VolumeId=vol["VolumeId"])
        volumes.append(vol)
    pods = []
    for i in range(n_pod):
        p = copy.deepcopy(pod_t)
        p["metadata"].update(name=f"web-{i}", uid=f"uid-{i}")
        pods.append(p)
    ec2 = {"Vpcs": vpcs, "Subnets": subnets, "SecurityGroups": sgs, "NetworkInterfaces": enis,
           "Reservations": [{"ReservationId": "r-1", "Instances": instances}], "Volumes": volumes}
    return ec2, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": pods}


def bench_graph(total: int) -> dict[str, Any]:
    ec2_raw, pods_raw = synthetic(total)
    blob_ec2, blob_pods = orjson.dumps(ec2_raw), orjson.dumps(pods_raw)
    t0 = time.perf_counter()
    ec2_raw, pods_raw = orjson.loads(blob_ec2), orjson.loads(blob_pods)
    t_decode = time.perf_counter() - t0

    c0 = time.process_time()
    t0 = time.perf_counter()
    with gc_paused():  # as the scan does (airdig.skygraph.gcpause)
        frags = [transform_ec2(ec2_raw, W, "ec2/us-east-1"), transform_kind(KIND_BY_API["Pod"], pods_raw, "prod")]
    t_transform = time.perf_counter() - t0
    resources = sum(len(f.nodes) for f in frags)

    c_transform = time.process_time() - c0
    c0 = time.process_time()
    t0 = time.perf_counter()
    with gc_paused():
        graph = resolve(frags)
    t_resolve = time.perf_counter() - t0
    c_rest = time.process_time() - c0

    # the previous graph: the same estate with 1% of nodes changed and 1% more that are now gone
    previous = resolve(frags)
    sg = previous.scopes["ec2/us-east-1"]
    for i, (nid, n) in enumerate(list(sg.nodes.items())):
        if i % 100 == 0:
            sg.nodes[nid] = Node(**{**n.__dict__, "attrs": {**n.attrs, "State": {"Name": "stopped"}}})
    gone = Fragment("ec2/us-east-1")
    for i in range(resources // 100):
        gone.add(Node(id=f"arn:aws:ec2:us-east-1:123456789012:instance/i-gone{i}", kind="aws.ec2.instance"))
    for n in gone.nodes:
        sg.nodes[n.id] = n
    c0 = time.process_time()
    t0 = time.perf_counter()
    with gc_paused():
        changes = diff(previous.scopes, graph)
    t_diff = time.perf_counter() - t0
    c_rest += time.process_time() - c0
    total_s = t_transform + t_resolve + t_diff
    return {"resources": resources, "edges": sum(1 for _ in graph.edges()),
            "transform_s": round(t_transform, 3), "edge_inference_s": round(t_resolve, 3),
            "diff_s": round(t_diff, 3), "total_s": round(total_s, 3),
            "cpu_s": round(c_transform + c_rest, 3), "transform_cpu_s": round(c_transform, 3),
            "resources_per_s": round(resources / total_s),
            "updated": changes.count("updated"), "deleted": changes.count("deleted"),
            "baseline_json_decode_s": round(t_decode, 3)}


def bench_emulator(count: int) -> dict[str, Any]:
    import boto3
    from moto.server import ThreadedMotoServer

    from airdig.skygraph.aws.ec2 import _CALLS
    from airdig.skygraph.graph_state import GraphState
    from airdig.skygraph.scan import ScanOptions, run_scan

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
                      AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}")
    try:
        ec2 = boto3.client("ec2", region_name="us-east-1")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        sub = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/18")["Subnet"]["SubnetId"]
        for start in range(0, count, 250):
            ec2.run_instances(ImageId="ami-12c6146b", InstanceType="t3.micro", SubnetId=sub,
                              MinCount=min(250, count - start), MaxCount=min(250, count - start))
        t0 = time.perf_counter()
        for op, key in _CALLS:
            for page in ec2.get_paginator(op).paginate():
                page.get(key)
        t_bare = time.perf_counter() - t0
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            report = run_scan(ScanOptions(regions=["us-east-1"], services=["ec2"], k8s=False), GraphState(d))
            t_scan = time.perf_counter() - t0
        nodes = sum(1 for _ in report.graph.nodes())
    finally:
        server.stop()
    return {"instances": count, "nodes": nodes, "scan_s": round(t_scan, 3),
            "baseline_bare_describe_calls_s": round(t_bare, 3), "overhead_ratio": round(t_scan / t_bare, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (finishes in seconds)")
    ap.add_argument("--resources", type=int, default=None)
    ap.add_argument("--instances", type=int, default=None)
    ap.add_argument("--scaling", default=None, metavar="N,N,...",
                    help="graph build only, at each of these sizes (e.g. 100000,300000,1000000), with the "
                         "process's peak RSS after each; reports the per-resource cost as the size grows")
    args = ap.parse_args()
    if args.scaling:
        import gc
        import resource

        runs = []
        for n in (int(x) for x in args.scaling.split(",")):
            gc.collect()
            r = bench_graph(n)
            r["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
            r["us_per_resource"] = round(r["total_s"] / r["resources"] * 1e6, 2)
            runs.append(r)
            print(orjson.dumps({"partial": r}).decode(), file=sys.stderr, flush=True)
        print(orjson.dumps({"benchmark": "skygraph_scaling", "load_avg": os.getloadavg(), "runs": runs}).decode())
        return
    total = args.resources or (5_000 if args.quick else 100_000)
    instances = args.instances or (100 if args.quick else 1_000)
    out = {"benchmark": "skygraph", "quick": args.quick, "graph_build": bench_graph(total),
           "emulator_ec2_scan": bench_emulator(instances)}
    print(orjson.dumps(out).decode())


if __name__ == "__main__":
    main()
