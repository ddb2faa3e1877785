"""Severity, security-aware: what a difference opens up matters more than how many attributes moved.

``critical``: a rule opening an admin or database port (or everything) to the internet, a KMS key
disabled, IAM allowing ``*`` on ``*``, a database made public. ``high``: deletions, other internet-open
rules, IAM policy widening, encryption or key rotation turned off, identities created outside Terraform.
``low``: tag-only changes. Everything else ``medium``. A large blast radius raises one level.
"""

from __future__ import annotations

from typing import Any

LEVELS = ("low", "medium", "high", "critical")
ADMIN_DB_PORTS = frozenset({22, 23, 3389, 5985, 5986, 3306, 5432, 1433, 1521, 27017, 6379, 9200, 9300,
                            5439, 11211, 2379, 8080})
WORLD = ("0.0.0.0/0", "::/0")
BLAST_RADIUS_ESCALATE = 10


def _raise(level: str, to: str) -> str:
    return to if LEVELS.index(to) > LEVELS.index(level) else level


def _opened_rules(diff: dict[str, Any]) -> list[str]:
    expected = set(diff.get("expected") or [])
    return [r for r in diff.get("actual") or [] if r not in expected]


def rule_severity(rule: str) -> str:
    """An ingress atom ``proto lo-hi source`` → its severity."""
    parts = rule.split(" ")
    if len(parts) != 3 or parts[2] not in WORLD:
        return "medium"
    proto, ports = parts[0], parts[1]
    if proto == "all":
        return "critical"
    try:
        lo, hi = (int(p) for p in ports.split("-", 1)) if not ports.startswith("-") else (-1, -1)
    except ValueError:
        return "high"
    if (lo <= 0 and hi >= 65535) or any(lo <= p <= hi for p in ADMIN_DB_PORTS):
        return "critical"
    return "high"


def _wildcards(doc: Any) -> tuple[bool, bool]:
    """(allows any action, allows it on any resource) in a normalised policy value."""
    text = str(doc)
    return ("'*'" in text or ":*'" in text), "'Resource': ['*']" in text


def diff_severity(resource_type: str, diff: dict[str, Any]) -> str:
    path, expected, actual = str(diff["path"]), diff.get("expected"), diff.get("actual")
    if path.startswith("tags"):
        return "low"
    if path == "ingress":
        opened = _opened_rules(diff)
        if not opened:
            return "medium"
        worst = "medium"
        for r in opened:
            worst = _raise(worst, rule_severity(r))
        return worst
    if path == "egress":
        return "medium"
    if path == "is_enabled" and actual is False:
        return "critical"
    if path in ("publicly_accessible",) and actual is True:
        return "critical"
    if path in ("enable_key_rotation", "storage_encrypted", "deletion_protection") and actual is False:
        return "high"
    if "polic" in path or path.startswith(("assume_role_policy", "policy")):
        any_action, any_resource = _wildcards(actual)
        if any_action and any_resource:
            return "critical"
        return "high" if actual is not None and actual != expected else "medium"
    if path == "internal" and actual is False:
        return "high"
    return "medium"


def severity(kind: str, resource_type: str, diffs: list[dict[str, Any]], blast_radius: int = 0) -> str:
    if kind == "missing":
        level = "critical" if resource_type in ("aws_kms_key", "aws_db_instance", "aws_dynamodb_table") else "high"
    elif kind == "unmanaged":
        level = "high" if resource_type.startswith("aws_iam") or resource_type == "aws_security_group" else "medium"
    else:
        level = "low"
        for d in diffs:
            level = _raise(level, diff_severity(resource_type, d))
    if blast_radius >= BLAST_RADIUS_ESCALATE and level != "critical":
        level = LEVELS[LEVELS.index(level) + 1]
    return level
