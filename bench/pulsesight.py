"""PulseSight benchmark: health-state throughput and Falco webhook parsing, each beside a baseline.

    .venv/bin/python bench/pulsesight.py [--quick]

Prints one JSON object. Baselines, measured in the same run: a bare dict update per observation (the
floor any state machine pays) and ``orjson.loads`` alone for the webhook body.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airdig.pulsesight.falco import parse_falco
from airdig.pulsesight.mapping import Mapper, StaticResolver
from airdig.pulsesight.state import HealthState, Observation

FALCO = (Path(__file__).resolve().parents[1] / "tests/data/pulsesight/falco_pod_event.json").read_bytes()


def _rate(n: int, fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return n / max(time.perf_counter() - start, 1e-9)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    nodes, rounds = (2_000, 5) if args.quick else (20_000, 10)
    n = nodes * rounds

    state = HealthState()
    values = [50.0, 85.0, 97.0, 60.0, 82.0, 10.0, 99.0, 40.0, 88.0, 20.0]

    def run_state() -> None:
        for r in range(rounds):
            v = values[r % len(values)]
            state.observe([Observation(f"n{i}", "cpu", "cpu", v + (i % 7), 80, 95, band_warning=5,
                                       band_critical=5) for i in range(nodes)], float(r))

    plain: dict[str, float] = {}

    def run_plain() -> None:
        for r in range(rounds):
            v = values[r % len(values)]
            for i in range(nodes):
                plain[f"n{i}"] = v + (i % 7)

    mapper = Mapper(StaticResolver({f"i-{i:08x}": f"arn:aws:ec2:r:1:instance/i-{i:08x}" for i in range(nodes)}))

    def run_map() -> None:
        for i in range(nodes):
            mapper.map("prometheus", "cpu", {"instance_id": f"i-{i:08x}", "instance": f"10.0.{i % 250}.1:9100"})

    events = 2_000 if args.quick else 20_000
    out = {
        "observations": n,
        "state_observations_per_s": round(_rate(n, run_state)),
        "baseline_dict_updates_per_s": round(_rate(n, run_plain)),
        "transitions": state.transitions,
        "mapping_lookups_per_s": round(_rate(nodes, run_map)),
        "falco_parse_per_s": round(_rate(events, lambda: [parse_falco(orjson.loads(FALCO)) for _ in range(events)])),
        "baseline_orjson_loads_per_s": round(_rate(events, lambda: [orjson.loads(FALCO) for _ in range(events)])),
    }
    print(orjson.dumps(out).decode())


if __name__ == "__main__":
    main()
