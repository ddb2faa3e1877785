"""The CLI group works and the docs do not go stale: every option, metric, route and event is documented."""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner

from airdig.cli.main import cli
from airdig.pulsesight.config import OPTIONS, PulseSightConfig
from airdig.pulsesight.mapping import StaticResolver
from airdig.pulsesight.service import PulseSight
from airdig.pulsesight.webhooks import build_app
from airdig.settings import Settings

DOC = (Path(__file__).parents[3] / "docs" / "pulsesight.md").read_text()


def test_every_option_metric_and_route_is_documented() -> None:
    for name in OPTIONS:
        assert f"AIRDIG_PULSESIGHT_{name.upper()}" in DOC, name
    ps = PulseSight([], {}, StaticResolver({}), None)
    for family in ps.metrics.registry.collect():
        assert family.name in DOC, family.name
    for route in build_app(ps).routes:
        assert getattr(route, "path", "") in DOC
    for event in ("airdig.health.changed", "airdig.security.event"):
        assert event in DOC


def test_config_resolution(tmp_path: Path) -> None:
    cfg_file = tmp_path / "airdig.yaml"
    cfg_file.write_text("pulsesight_interval: 30s\npulsesight_scrape_targets: [http://a/metrics, http://b/metrics]\n")
    settings = Settings.load(cfg_file, {"data_dir": str(tmp_path)}, environ={})
    cfg = PulseSightConfig.load(settings, environ={"AIRDIG_PULSESIGHT_FALCO_HOLD": "0"})
    assert cfg.interval == 30 and cfg.falco_hold == 0
    assert cfg.scrape_targets == ("http://a/metrics", "http://b/metrics")
    assert cfg.resolver_url == "http://127.0.0.1:8080"


def test_serve_check_and_bad_rules(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(cli, ["pulsesight", "serve", "--check", "--data-dir", str(tmp_path)], env={})
    assert ok.exit_code == 0, ok.output
    names = {r["name"] for r in orjson.loads(ok.output)["rules"]}
    assert "host-cpu" in names
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - {name: x, query: up, warning: 9, critical: 1}\n")
    res = runner.invoke(cli, ["pulsesight", "serve", "--check", "--rules", str(bad), "--data-dir", str(tmp_path)],
                        env={})
    assert res.exit_code == 2
    assert "critical (1.0) must not be below warning (9.0)" in res.output
    assert runner.invoke(cli, ["pulsesight", "serve", "--help"]).exit_code == 0
