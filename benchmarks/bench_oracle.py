"""What the oracle finds over rule-based control, under the energy and the cost objective, and what it costs to run.

Usage: ``python benchmarks/bench_oracle.py [--days 30] [--start-day 181] [--speed-days 365] [--workers 2]``.

1. **Speed**: one period of ``--speed-days`` (a year by default, from 1 January) of ``modern-hall``
   in Chicago under the oracle, then, for the floor the simulation loop itself sets, under
   rule-based control and legacy setpoints; run one after the other in this process (nothing else
   of the benchmark runs meanwhile): wall and CPU seconds per simulated year, and the oracle's
   convergence summary. The oracle is single-threaded at its default population (64 plans).
2. **Energy**: each preset × Chicago, Miami and Phoenix, ``--days`` from ``--start-day`` (July by
   default): rule-based vs the oracle minimizing energy: facility and overhead (facility − IT)
   energy saved, hottest inlet, convergence.
3. **Cost**: each preset in Phoenix over the same days under a time-of-use tariff with a demand
   charge (:data:`TARIFF`): rule-based, the oracle minimizing energy and the oracle minimizing cost
   with the tariff's signals; cost (energy by the hour plus the month's peak 15-minute power × the
   demand rate) by the what-if KPIs, peak power, energy.

Writes ``benchmarks/results/oracle.json`` with the machine facts; prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info

from coolpilot.controller.policies import rule_based_settings
from coolpilot.envs.config import list_presets, load_facility
from coolpilot.envs.objectives import Objective
from coolpilot.envs.simulation import PlantAwarePolicy, Policy, simulate
from coolpilot.envs.units import SECONDS_PER_DAY
from coolpilot.envs.weather import load_climate
from coolpilot.evaluation.kpis import compute_whatif_kpis, grid_signals
from coolpilot.evaluation.oracle import OraclePolicy
from coolpilot.evaluation.policies import make_policy
from coolpilot.evaluation.scenarios import Carbon, Tariff

CLIMATES = ("chicago", "miami", "phoenix")
COST_CLIMATE = "phoenix"
TARIFF = Tariff.model_validate({
    "currency": "USD", "price_per_mwh": 60.0, "demand_charge_per_kw_month": 15.0,
    "time_of_use": [{"name": "on-peak", "start_hour": 12, "end_hour": 18, "price_per_mwh": 150.0,
                     "weekdays_only": True}],
})
"""A US commercial time-of-use tariff: 150 $/MWh on weekdays 12–18 h, 60 $/MWh otherwise, 15 $/kW-month on the
month's peak 15-minute demand (the shape of e.g. large-commercial TOU schedules; round figures)."""
CARBON = Carbon()
KEPT = ("facility_energy_mwh", "non_it_energy_mwh", "inlet_temp_max_c", "hours_above_limit", "peak_facility_power_kw",
        "energy_cost", "demand_cost", "total_cost", "setpoint_changes_per_day", "chiller_starts_per_day")

Job = tuple[str, str, str, float, float]
"""(facility, climate, policy: legacy | rule-based | oracle | oracle-cost, days, start day)."""


def build(policy: str, facility: str) -> Policy | PlantAwarePolicy:
    """The policy of a job: a registry name, or the oracle minimizing the tariff's cost."""
    cfg = load_facility(facility)
    if policy == "oracle-cost":
        return OraclePolicy(rule_based_settings(cfg), objective=Objective(kind="cost"),
                            signals=grid_signals(TARIFF, CARBON))
    return make_policy(policy, cfg)


def run_one(job: Job) -> dict[str, Any]:
    """KPIs, wall and CPU seconds of one policy over one period (and the oracle's convergence summary)."""
    facility, climate, policy, days, start_day = job
    chosen = build(policy, facility)
    wall, cpu = time.perf_counter(), time.process_time()
    result = simulate(load_facility(facility), load_climate(climate), chosen, days=days, start_day=start_day)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    k = compute_whatif_kpis(result, tariff=TARIFF, carbon=CARBON).as_dict()
    row: dict[str, Any] = {"facility": facility, "climate": climate, "policy": policy, "days": days,
                           "start_day": start_day, **{key: k[key] for key in KEPT}, "wall_s": wall, "cpu_s": cpu,
                           "wall_s_per_year": wall * 365.0 / days, "cpu_s_per_year": cpu * 365.0 / days}
    if isinstance(chosen, OraclePolicy):
        row["convergence"] = chosen.diagnostics.summary()
    return row


def _warm() -> None:
    """Compile (or load) the kernels before anything is timed."""
    run_one(("modern-hall", "chicago", "oracle", 0.25, 0.0))


def _pct(new: float, old: float) -> float:
    return 100.0 * (1.0 - new / old)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--start-day", type=float, default=181.0, help="0 = 1 January; 181 = 1 July")
    parser.add_argument("--speed-days", type=float, default=365.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "oracle.json"))
    args = parser.parse_args()

    _warm()
    speed = [run_one(("modern-hall", "chicago", p, args.speed_days, 0.0)) for p in ("oracle", "rule-based", "legacy")]

    presets = list_presets()
    energy_jobs = [(p, c, pol, args.days, args.start_day) for p in presets for c in CLIMATES
                   for pol in ("oracle", "rule-based")]
    cost_jobs = [(p, COST_CLIMATE, "oracle-cost", args.days, args.start_day) for p in presets]
    with ProcessPoolExecutor(args.workers, initializer=_warm) as pool:
        rows = list(pool.map(run_one, energy_jobs + cost_jobs))
    by = {(r["facility"], r["climate"], r["policy"]): r for r in rows}

    energy = []
    for p in presets:
        for c in CLIMATES:
            rb, orc = by[(p, c, "rule-based")], by[(p, c, "oracle")]
            energy.append({
                "facility": p, "climate": c,
                "rule_based_facility_mwh": rb["facility_energy_mwh"], "oracle_facility_mwh": orc["facility_energy_mwh"],
                "facility_saving_pct": _pct(orc["facility_energy_mwh"], rb["facility_energy_mwh"]),
                "overhead_saving_pct": _pct(orc["non_it_energy_mwh"], rb["non_it_energy_mwh"]),
                "oracle_inlet_max_c": orc["inlet_temp_max_c"], "oracle_hours_above_27c": orc["hours_above_limit"],
                "oracle_cpu_s_per_year": orc["cpu_s_per_year"], "convergence": orc["convergence"],
            })
    cost = []
    for p in presets:
        rb, orc, oc = (by[(p, COST_CLIMATE, k)] for k in ("rule-based", "oracle", "oracle-cost"))
        rb_non_it = rb["total_cost"] * rb["non_it_energy_mwh"] / rb["facility_energy_mwh"]
        cost.append({
            "facility": p, "climate": COST_CLIMATE,
            "rule_based_cost": rb["total_cost"], "oracle_energy_cost": orc["total_cost"],
            "oracle_cost_cost": oc["total_cost"],
            "cost_saving_pct": _pct(oc["total_cost"], rb["total_cost"]),
            "cost_saving_vs_energy_oracle_pct": _pct(oc["total_cost"], orc["total_cost"]),
            "cost_saving_share_of_non_it_pct": 100.0 * (rb["total_cost"] - oc["total_cost"]) / rb_non_it,
            "peak_kw": {"rule_based": rb["peak_facility_power_kw"], "oracle_energy": orc["peak_facility_power_kw"],
                        "oracle_cost": oc["peak_facility_power_kw"]},
            "facility_mwh": {"rule_based": rb["facility_energy_mwh"], "oracle_energy": orc["facility_energy_mwh"],
                             "oracle_cost": oc["facility_energy_mwh"]},
            "oracle_cost_inlet_max_c": oc["inlet_temp_max_c"], "convergence": oc["convergence"],
        })
    report = {
        "benchmark": "oracle: seconds per simulated year; savings over rule-based under the energy and cost objectives",
        "command": f"python benchmarks/bench_oracle.py --days {args.days:g} --start-day {args.start_day:g} "
                   f"--speed-days {args.speed_days:g} --workers {args.workers}",
        "machine": machine_info(),
        "tariff": TARIFF.model_dump(mode="json"),
        "period": {"start_day": args.start_day, "days": args.days,
                   "start_s": args.start_day * SECONDS_PER_DAY},
        "speed": speed,
        "energy": energy,
        "cost": cost,
        "results": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")

    print("| policy | wall s per simulated year | CPU s per simulated year |")
    print("|---|---|---|")
    for r in speed:
        print(f"| {r['policy']} | {r['wall_s_per_year']:.1f} | {r['cpu_s_per_year']:.1f} |")
    print()
    print("| preset | climate | rule-based MWh | oracle MWh | facility saved | overhead saved | oracle max inlet | "
          "last-iteration gain (mean) |")
    print("|---|---|---|---|---|---|---|---|")
    for t in energy:
        print(f"| {t['facility']} | {t['climate']} | {t['rule_based_facility_mwh']:.1f} | "
              f"{t['oracle_facility_mwh']:.1f} | {t['facility_saving_pct']:.2f} % | {t['overhead_saving_pct']:.1f} % | "
              f"{t['oracle_inlet_max_c']:.2f} °C | {t['convergence']['last_iteration_gain_mean']:.1e} |")
    print()
    print("| preset | rule-based $ | oracle (energy) $ | oracle (cost) $ | cost saved | share of non-IT cost | "
          "peak kW rule-based / energy / cost |")
    print("|---|---|---|---|---|---|---|")
    for t in cost:
        pk = t["peak_kw"]
        print(f"| {t['facility']} | {t['rule_based_cost']:.0f} | {t['oracle_energy_cost']:.0f} | "
              f"{t['oracle_cost_cost']:.0f} | {t['cost_saving_pct']:.2f} % | "
              f"{t['cost_saving_share_of_non_it_pct']:.1f} % | "
              f"{pk['rule_based']:.0f} / {pk['oracle_energy']:.0f} / {pk['oracle_cost']:.0f} |")


if __name__ == "__main__":
    main()
