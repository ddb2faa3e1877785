"""Ignore rules, ``.driftignore`` style: one pattern per line, ``#`` comments, shell wildcards.

A pattern names a resource (``aws_s3_bucket.logs``, ``module.net.*``, ``aws_iam_role.*`` by address, or
``aws_iam_role.ci-role`` by type and id) to ignore it entirely, or a resource followed by an attribute
path (``aws_instance.*.tags.LastScanned``) to ignore that difference only. ``!pattern`` re-includes.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from airdig.errors import InvalidInput


class IgnoreRules:
    def __init__(self, patterns: list[str] | None = None) -> None:
        self.rules: list[tuple[bool, str]] = []
        for p in patterns or []:
            self.add(p)

    def add(self, line: str) -> None:
        text = line.strip()
        if not text or text.startswith("#"):
            return
        negate = text.startswith("!")
        self.rules.append((negate, text[1:].strip() if negate else text))

    @classmethod
    def from_file(cls, path: str) -> IgnoreRules:
        try:
            with open(path, encoding="utf-8") as fh:
                lines = fh.read().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(path, f"cannot read the ignore file: {exc}") from None
        return cls(lines)

    def _match(self, names: list[str]) -> bool:
        ignored = False
        for negate, pattern in self.rules:
            if any(fnmatchcase(n, pattern) for n in names):
                ignored = not negate
        return ignored

    def filter(self, drift: dict[str, Any], native_id: str) -> dict[str, Any] | None:
        """The drift without ignored differences; None when the whole drift is ignored."""
        if not self.rules:
            return drift
        heads = [h for h in (drift.get("terraform_address"), f"{drift['resource_type']}.{native_id}",
                             drift.get("resource_id")) if h]
        if self._match(heads):
            return None
        if drift["kind"] != "changed":
            return drift
        kept = [d for d in drift["diffs"] if not self._match([f"{h}.{d['path']}" for h in heads])]
        if not kept:
            return None
        return drift if len(kept) == len(drift["diffs"]) else {**drift, "diffs": kept}
