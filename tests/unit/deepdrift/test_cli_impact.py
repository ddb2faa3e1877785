from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from airdig.cli.main import cli

ROOT = Path(__file__).resolve().parents[3]


def test_impact_from_graph_file(tmp_path: Path) -> None:
    graph = tmp_path / "scan.json"
    graph.write_text(json.dumps({"nodes": [{"id": "sg", "kind": "aws.ec2.security-group", "native_ids": ["sg-1"]},
                                           {"id": "i", "kind": "aws.ec2.instance"}],
                                 "edges": [{"src": "sg", "dst": "i", "type": "network"}]}))
    result = CliRunner().invoke(cli, ["deepdrift", "impact", "sg-1", "--graph", str(graph), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["nodes"][0]["id"] == "i"
    both = CliRunner().invoke(cli, ["deepdrift", "impact", "sg-1"])
    assert both.exit_code == 2 and "exactly one of --graph" in both.output
    missing = CliRunner().invoke(cli, ["deepdrift", "impact", "nope", "--graph", str(graph)])
    assert missing.exit_code == 2 and "resource not found: nope" in missing.output


def test_help_names_the_engine_requirement() -> None:
    result = CliRunner().invoke(cli, ["deepdrift", "impact", "--help"])
    assert "/api/v1/impact/" in result.output


def test_bench_quick_prints_figures_and_baseline() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "deepdrift.py"), "--quick"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["state_resources"] == 2000 and doc["cloudtrail_records"] == 40000
    assert doc["seconds_total"] > 0 and doc["baseline_bare_parse_seconds"] > 0
    assert doc["drifts_by_kind"]["unmanaged"] == 10
