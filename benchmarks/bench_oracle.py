"""How much the oracle beats rule-based control, and what it costs to run.

Usage: ``python benchmarks/bench_oracle.py [--days 30] [--start-day 180] [--workers 2]``.
For each preset and three climates: one period under ``rule-based`` and under ``oracle``;
facility and cooling energy, savings, max inlet, and the oracle's wall time per simulated
day. Writes JSON with the machine facts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info

from coolpilot.envs.config import list_presets, load_facility
from coolpilot.envs.kpis import compute_kpis
from coolpilot.envs.simulation import simulate
from coolpilot.envs.weather import load_climate
from coolpilot.evaluation.policies import make_policy

CLIMATES = ("chicago", "miami", "phoenix")


def run_one(job: tuple[str, str, str, float, float]) -> dict[str, object]:
    """KPIs and wall time of one policy over one period."""
    preset, climate, policy, days, start_day = job
    cfg = load_facility(preset)
    start = time.perf_counter()
    result = simulate(cfg, load_climate(climate), make_policy(policy, cfg), days=days, start_day=start_day)
    wall = time.perf_counter() - start
    return {**compute_kpis(result).as_dict(), "wall_s": wall, "wall_s_per_day": wall / days}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--start-day", type=float, default=180.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "oracle.json"))
    args = parser.parse_args()
    jobs = [(p, c, pol, args.days, args.start_day) for p in list_presets() for c in CLIMATES
            for pol in ("rule-based", "oracle")]
    with ProcessPoolExecutor(args.workers) as pool:
        rows = list(pool.map(run_one, jobs))
    by = {(r["facility"], r["climate"], r["policy"]): r for r in rows}
    table = []
    for p in list_presets():
        for c in CLIMATES:
            rule, oracle = by[(p, c, "rule-based")], by[(p, c, "oracle")]
            fr, fo = float(rule["facility_energy_mwh"]), float(oracle["facility_energy_mwh"])  # type: ignore[arg-type]
            cr, co = float(rule["cooling_energy_mwh"]), float(oracle["cooling_energy_mwh"])  # type: ignore[arg-type]
            table.append({"facility": p, "climate": c, "rule_based_facility_mwh": fr, "oracle_facility_mwh": fo,
                          "facility_saving_pct": 100 * (1 - fo / fr), "rule_based_cooling_mwh": cr,
                          "oracle_cooling_mwh": co, "cooling_saving_pct": 100 * (1 - co / cr),
                          "oracle_max_inlet_c": oracle["inlet_temp_max_c"],
                          "oracle_wall_s_per_day": oracle["wall_s_per_day"]})
    report = {
        "benchmark": "oracle vs rule-based, facility and cooling energy, one period per preset x climate",
        "command": f"python benchmarks/bench_oracle.py --days {args.days:g} --start-day {args.start_day:g}",
        "machine": machine_info(),
        "summary": table,
        "results": rows,
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    for t in table:
        print(f"{t['facility']:<12} {t['climate']:<8} facility -{t['facility_saving_pct']:.2f} %  "
              f"cooling -{t['cooling_saving_pct']:.1f} %  max inlet {t['oracle_max_inlet_c']:.2f} °C  "
              f"{t['oracle_wall_s_per_day']:.2f} s/day")


if __name__ == "__main__":
    main()
