"""Annual KPIs of the baseline policies on every preset and bundled climate.

Usage: ``python benchmarks/bench_baselines.py [--days 365] [--workers 2] [--out FILE]``.
One simulated year per (preset, climate, policy), run in local processes; writes JSON
with the machine facts. The README's plausibility table is this file.
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
from coolpilot.envs.weather import CLIMATES, load_climate
from coolpilot.evaluation.policies import make_policy

POLICIES = ("legacy", "rule-based")


def run_one(job: tuple[str, str, str, float]) -> dict[str, object]:
    """KPIs of one simulated period."""
    preset, climate, policy, days = job
    cfg = load_facility(preset)
    start = time.perf_counter()
    result = simulate(cfg, load_climate(climate), make_policy(policy, cfg), days=days)
    return {**compute_kpis(result).as_dict(), "wall_s": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=float, default=365.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "baselines_annual.json"))
    args = parser.parse_args()
    jobs = [(p, c, pol, args.days) for p in list_presets() for c in CLIMATES for pol in POLICIES]
    start = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        rows = list(pool.map(run_one, jobs))
    report = {
        "benchmark": "annual KPIs of legacy and rule-based policies, every preset x climate",
        "command": f"python benchmarks/bench_baselines.py --days {args.days:g} --workers {args.workers}",
        "machine": machine_info(),
        "wall_s": time.perf_counter() - start,
        "results": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    by = {(r["facility"], r["climate"], r["policy"]): r for r in rows}
    print(f"{'preset':<12} {'climate':<14} {'PUE legacy':>10} {'PUE rule':>9} {'saved':>6} {'K·h>27':>7}")
    for p in list_presets():
        for c in CLIMATES:
            leg, rule = by[(p, c, "legacy")], by[(p, c, "rule-based")]
            saved = 1.0 - float(rule["facility_energy_mwh"]) / float(leg["facility_energy_mwh"])  # type: ignore[arg-type]
            print(f"{p:<12} {c:<14} {leg['pue']:>10.3f} {rule['pue']:>9.3f} {saved:>6.1%} "
                  f"{rule['degree_hours_above_27c']:>7.1f}")


if __name__ == "__main__":
    main()
