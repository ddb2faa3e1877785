"""Fixtures for the deployment tests: a pinned helm (built once from the Go module proxy by
``scripts/tools/helm`` and cached under ``${XDG_CACHE_HOME:-~/.cache}/airdig-test``) and the chart
rendered with ``helm template``.

Nothing here skips: without helm the chart cannot be checked, so the tests fail and say why.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "deploy" / "helm" / "airdig"
CI_VALUES = CHART / "ci" / "test-values.yaml"
COMPOSE = REPO / "deploy" / "compose" / "docker-compose.yml"
KUBE_VERSION = "1.30.0"  # a self-built helm defaults to v1.20 capabilities; the chart needs >= 1.27

Render = Callable[..., list[dict[str, Any]]]


@pytest.fixture(scope="session")
def helm() -> Path:
    tool = REPO / "scripts" / "tools" / "helm"
    try:
        proc = subprocess.run([str(tool), "--ensure"], capture_output=True, text=True, timeout=900, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"cannot run {tool} --ensure to get helm: {exc}")
    if proc.returncode != 0:
        pytest.fail(f"helm is needed to check the chart and could not be built by {tool}:\n{proc.stderr[-3000:]}")
    path = Path(proc.stdout.strip().splitlines()[-1])
    if not path.is_file():
        pytest.fail(f"{tool} --ensure printed {path}, which is not a file")
    return path


def run_helm(helm: Path, args: Sequence[str]) -> str:
    """helm's stdout; a failure raises CalledProcessError whose ``output`` holds stdout + stderr."""
    proc = subprocess.run([str(helm), *args], capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, ["helm", *args], output=proc.stdout + proc.stderr)
    return proc.stdout


@pytest.fixture(scope="session")
def helm_run(helm: Path) -> Callable[[Sequence[str]], str]:
    return lambda args: run_helm(helm, args)


@pytest.fixture(scope="session")
def render(helm: Path) -> Render:
    """``render(*sets, values=[CI_VALUES])`` -> every rendered document (hooks included), parsed."""

    def _render(*sets: str, values: Sequence[Path] = (CI_VALUES,), release: str = "rel") -> list[dict[str, Any]]:
        args = ["template", release, str(CHART), "--namespace", "airdig", "--kube-version", KUBE_VERSION]
        for v in values:
            args += ["-f", str(v)]
        for s in sets:
            args += ["--set", s]
        out = run_helm(helm, args)
        return [d for d in yaml.safe_load_all(out) if d]

    return _render


@pytest.fixture(scope="session")
def docs(render: Render) -> list[dict[str, Any]]:
    return render()

