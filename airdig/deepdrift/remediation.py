"""Remediation hints: import what is unmanaged, revert or adopt what changed, re-create what is missing.

Revert (``terraform apply``) is recommended for anything above ``low`` severity: the configuration is
the reviewed source of truth. Adopt (write the live values into the configuration) is recommended for
low-impact edits such as tags, which are usually intended. Both options are always given.

Commands are meant to be pasted into a shell, and resource addresses are not shell-safe: a ``for_each``
key may hold quotes, spaces, ``$`` or backticks (``aws_s3_bucket.b["it's $HOME"]``). Every argument is
therefore quoted with :func:`shlex.quote`, so ``shlex.split(command)`` gives back the intended argv.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

from airdig.deepdrift.mapping import SPECS


def shell_command(argv: Sequence[str]) -> str:
    """One shell line that runs exactly ``argv`` (each argument quoted only when it needs to be)."""
    return " ".join(shlex.quote(a) for a in argv)


def import_command(resource_type: str, attrs: dict[str, Any], name_hint: str) -> str:
    spec = SPECS[resource_type]
    ident = spec.import_id(attrs) or str(attrs.get("id") or "")
    label = "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in name_hint)[:60] or "imported"
    if label[0].isdigit():
        label = f"r_{label}"
    return shell_command(["terraform", "import", f"{resource_type}.{label}", ident])


def remediation(kind: str, resource_type: str, address: str, severity: str, diffs: list[dict[str, Any]],
                live_attrs: dict[str, Any] | None = None, name_hint: str = "") -> dict[str, Any]:
    if kind == "unmanaged":
        return {"action": "import", "command": import_command(resource_type, live_attrs or {}, name_hint),
                "detail": "Import it into Terraform (and write its configuration), or delete it if unwanted."}
    if kind == "missing":
        return {"action": "recreate", "command": shell_command(["terraform", "apply", f"-target={address}"]),
                "detail": "Re-create it with Terraform, or remove it from the configuration "
                          f"({shell_command(['terraform', 'state', 'rm', address])}) if the deletion was intended."}
    adopt = {d["path"]: d["actual"] for d in diffs}
    if severity != "low":
        return {"action": "revert", "command": shell_command(["terraform", "apply", f"-target={address}"]),
                "adopt": adopt,
                "detail": "Restore the configured values with Terraform; to keep the live values instead, "
                          "write the 'adopt' values into the configuration."}
    return {"action": "adopt", "command": shell_command(["terraform", "plan", f"-target={address}"]), "adopt": adopt,
            "detail": "Write the 'adopt' values into the configuration so Terraform stops reverting them; "
                      "or run terraform apply to restore the configured values."}
