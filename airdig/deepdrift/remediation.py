"""Remediation hints: import what is unmanaged, revert or adopt what changed, re-create what is missing.

Revert (``terraform apply``) is recommended for anything above ``low`` severity: the configuration is
the reviewed source of truth. Adopt (write the live values into the configuration) is recommended for
low-impact edits such as tags, which are usually intended. Both options are always given.
"""

from __future__ import annotations

from typing import Any

from airdig.deepdrift.mapping import SPECS


def import_command(resource_type: str, attrs: dict[str, Any], name_hint: str) -> str:
    spec = SPECS[resource_type]
    ident = spec.import_id(attrs) or str(attrs.get("id") or "")
    label = "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in name_hint)[:60] or "imported"
    if label[0].isdigit():
        label = f"r_{label}"
    return f"terraform import {resource_type}.{label} {ident}"


def remediation(kind: str, resource_type: str, address: str, severity: str, diffs: list[dict[str, Any]],
                live_attrs: dict[str, Any] | None = None, name_hint: str = "") -> dict[str, Any]:
    if kind == "unmanaged":
        return {"action": "import", "command": import_command(resource_type, live_attrs or {}, name_hint),
                "detail": "Import it into Terraform (and write its configuration), or delete it if unwanted."}
    if kind == "missing":
        return {"action": "recreate", "command": f"terraform apply -target='{address}'",
                "detail": "Re-create it with Terraform, or remove it from the configuration "
                          f"(terraform state rm '{address}') if the deletion was intended."}
    adopt = {d["path"]: d["actual"] for d in diffs}
    if severity != "low":
        return {"action": "revert", "command": f"terraform apply -target='{address}'", "adopt": adopt,
                "detail": "Restore the configured values with Terraform; to keep the live values instead, "
                          "write the 'adopt' values into the configuration."}
    return {"action": "adopt", "command": f"terraform plan -target='{address}'", "adopt": adopt,
            "detail": "Write the 'adopt' values into the configuration so Terraform stops reverting them; "
                      "or run terraform apply to restore the configured values."}
