"""Security-group rules as atoms: one (direction, protocol, ports, source) per string.

AWS groups rules by protocol and ports with many sources; Terraform writes them inline on
``aws_security_group``, as ``aws_security_group_rule`` or as ``aws_vpc_security_group_*_rule``. Reducing
every form to atoms like ``tcp 22-22 0.0.0.0/0`` makes them comparable as plain sets.
"""

from __future__ import annotations

from typing import Any

_PROTOCOLS = {"-1": "all", "all": "all", "6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}


def protocol(value: Any) -> str:
    text = str(value if value is not None else "-1").lower()
    return _PROTOCOLS.get(text, text)


def _ports(proto: str, from_port: Any, to_port: Any) -> str:
    if proto == "all":
        return "0-0"
    lo = -1 if from_port is None else int(from_port)
    hi = -1 if to_port is None else int(to_port)
    return f"{lo}-{hi}"


def _group(value: str, own: str) -> str:
    gid = value.rsplit("/", 1)[-1]  # "123456789012/sg-1" in older states
    return "self" if gid == own else gid


def atom(proto: Any, from_port: Any, to_port: Any, source: str) -> str:
    p = protocol(proto)
    return f"{p} {_ports(p, from_port, to_port)} {source}"


def from_api(permissions: list[dict[str, Any]], own_group: str) -> list[str]:
    """``IpPermissions`` / ``IpPermissionsEgress`` of DescribeSecurityGroups to atoms."""
    out: set[str] = set()
    for perm in permissions or []:
        p, lo, hi = perm.get("IpProtocol"), perm.get("FromPort"), perm.get("ToPort")
        sources = [r.get("CidrIp", "") for r in perm.get("IpRanges", [])]
        sources += [r.get("CidrIpv6", "") for r in perm.get("Ipv6Ranges", [])]
        sources += [r.get("PrefixListId", "") for r in perm.get("PrefixListIds", [])]
        sources += [_group(r.get("GroupId", ""), own_group) for r in perm.get("UserIdGroupPairs", [])]
        out.update(atom(p, lo, hi, s) for s in sources if s)
    return sorted(out)


def _sources(block: dict[str, Any], own_group: str) -> list[str]:
    sources = list(block.get("cidr_blocks") or []) + list(block.get("ipv6_cidr_blocks") or [])
    sources += list(block.get("prefix_list_ids") or [])
    sources += [_group(g, own_group) for g in block.get("security_groups") or []]
    if block.get("source_security_group_id"):
        sources.append(_group(block["source_security_group_id"], own_group))
    if block.get("self"):
        sources.append("self")
    return [s for s in sources if s]


def from_inline(blocks: Any, own_group: str) -> list[str]:
    """``ingress`` / ``egress`` blocks of ``aws_security_group`` to atoms."""
    if not isinstance(blocks, list):
        return []
    out: set[str] = set()
    for b in blocks:
        if isinstance(b, dict):
            out.update(atom(b.get("protocol"), b.get("from_port"), b.get("to_port"), s)
                       for s in _sources(b, own_group))
    return sorted(out)


def from_rule_resource(rtype: str, attrs: dict[str, Any]) -> tuple[str, str, list[str]]:
    """(group id, "ingress"|"egress", atoms) of a standalone rule resource."""
    gid = str(attrs.get("security_group_id") or "")
    if rtype == "aws_security_group_rule":
        direction = str(attrs.get("type") or "ingress")
        atoms = [atom(attrs.get("protocol"), attrs.get("from_port"), attrs.get("to_port"), s)
                 for s in _sources(attrs, gid)]
        return gid, direction, sorted(set(atoms))
    direction = "egress" if rtype.endswith("egress_rule") else "ingress"
    source = (attrs.get("cidr_ipv4") or attrs.get("cidr_ipv6") or attrs.get("prefix_list_id")
              or attrs.get("referenced_security_group_id") or "")
    source = _group(str(source), gid) if str(source).startswith("sg-") else str(source)
    atoms = [atom(attrs.get("ip_protocol"), attrs.get("from_port"), attrs.get("to_port"), source)] if source else []
    return gid, direction, atoms


RULE_TYPES = ("aws_security_group_rule", "aws_vpc_security_group_ingress_rule",
              "aws_vpc_security_group_egress_rule")
