"""Remediation commands are pasted into a shell: every argument must survive quoting exactly.

Terraform addresses of ``for_each`` resources carry their key verbatim, and keys are user data: quotes,
spaces, ``$``, backticks, ``;``, newlines. Each command is checked two ways: ``shlex.split`` gives back
the intended argv, and a real ``sh`` running it (with ``terraform`` replaced by a shell function that
prints its arguments) receives exactly that argv, so nothing is expanded or executed.
"""

from __future__ import annotations

import shlex
import subprocess

import pytest

from airdig.deepdrift.remediation import import_command, remediation

NASTY_KEYS = [
    "it's", 'say "hi"', "a b", "$HOME", "`touch /tmp/airdig-pwned`", "$(id)", "x; rm -rf /", "line\nbreak",
    "back\\slash", "-rf", "'", "", "ünïcode ✓", "*", "a'\"b`$c",
]


def _sh_argv(command: str) -> list[str]:
    """The argv a POSIX shell passes to ``terraform`` when it runs ``command``."""
    script = 'terraform() { for a in "$@"; do printf "%s\\0" "$a"; done; }\n' + command
    out = subprocess.run(["sh", "-c", script], capture_output=True, check=True, timeout=10).stdout
    return out.decode().split("\0")[:-1]


@pytest.mark.parametrize("key", NASTY_KEYS)
@pytest.mark.parametrize(("kind", "severity", "verb"), [("missing", "high", "apply"), ("changed", "high", "apply"),
                                                         ("changed", "low", "plan")])
def test_target_commands_parse_back_to_the_address(key: str, kind: str, severity: str, verb: str) -> None:
    address = f'aws_s3_bucket.b["{key}"]'
    rem = remediation(kind, "aws_s3_bucket", address, severity, [])
    argv = ["terraform", verb, f"-target={address}"]
    assert shlex.split(rem["command"]) == argv
    assert _sh_argv(rem["command"]) == argv[1:]


@pytest.mark.parametrize("key", NASTY_KEYS)
def test_state_rm_hint_is_quoted(key: str) -> None:
    address = f'module.m["{key}"].aws_sqs_queue.q'
    detail = remediation("missing", "aws_sqs_queue", address, "high", [])["detail"]
    command = detail.split("(", 1)[1].rsplit(")", 1)[0]
    assert shlex.split(command) == ["terraform", "state", "rm", address]


@pytest.mark.parametrize("ident", ["bucket with space", "it's", "$(id)", "`id`"])
def test_import_command_quotes_the_import_id(ident: str) -> None:
    command = import_command("aws_s3_bucket", {"id": ident, "bucket": ident}, ident)
    argv = shlex.split(command)
    assert argv[:2] == ["terraform", "import"] and argv[3] == ident
    assert _sh_argv(command) == argv[1:]


def test_plain_addresses_stay_unquoted() -> None:
    assert remediation("missing", "aws_sqs_queue", "aws_sqs_queue.jobs", "high", [])["command"] == \
        "terraform apply -target=aws_sqs_queue.jobs"
