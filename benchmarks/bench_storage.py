"""What chilled-water storage is worth under the conventional schedule, per climate and tariff.

Usage: ``python benchmarks/bench_storage.py [--days 365] [--workers 2] [--out FILE]``.

For each (climate, tariff): the ``modern-hall-tes`` preset under rule-based best practice with
its storage schedule commissioned to the tariff's valley and peak
(:func:`coolpilot.evaluation.whatif.site_rule_settings`), against the same plant with its tank
idle (rule-based without the storage lever: exactly the ``modern-hall`` plant's power, tested in
``tests/envs/test_storage.py``). Both are priced by the what-if's own KPIs (energy by the hour,
the demand charge on each month's peak 15-minute power). Reported: energy, non-IT energy, cost
(energy, demand, total), the saving in % of the idle run's total and of its **non-IT cost**, peak
power, hours above 27 °C and storage cycling (discharged MWh of cold).

Non-IT cost is the cost the cooling plant and the electrical overheads cause: the total cost minus
the IT energy priced at the same hourly prices and minus the demand charge on the IT power's own
monthly 15-minute peaks. It is what the cooling controller can change; the IT's bill is not.

Writes JSON with the machine facts and the command (``benchmarks/results/storage.json``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info

from coolpilot.controller.policies import RuleBasedPolicy
from coolpilot.envs.config import load_facility
from coolpilot.envs.simulation import simulate
from coolpilot.envs.weather import load_climate
from coolpilot.evaluation.kpis import compute_whatif_kpis, it_load_cost
from coolpilot.evaluation.scenarios import Carbon, Limits, Tariff
from coolpilot.evaluation.whatif import site_rule_settings, tariff_storage_windows

FACILITY = "modern-hall-tes"

TARIFFS: dict[str, dict[str, Any]] = {
    "us-tou-demand": {"currency": "USD", "price_per_mwh": 60.0, "demand_charge_per_kw_month": 15.0,
                      "time_of_use": [{"name": "on-peak", "start_hour": 12, "end_hour": 18, "price_per_mwh": 150.0,
                                       "weekdays_only": True},
                                      {"name": "off-peak", "start_hour": 23, "end_hour": 7, "price_per_mwh": 40.0}]},
    "jiangsu": {"template": "jiangsu", "price_per_mwh": 650.0, "demand_charge_per_kw_month": 40.0},
    "guangdong": {"template": "guangdong", "price_per_mwh": 650.0, "demand_charge_per_kw_month": 40.0},
    "beijing": {"template": "beijing", "price_per_mwh": 650.0, "demand_charge_per_kw_month": 40.0},
}
"""A US-style time-of-use tariff with an all-hours demand charge (the oracle benchmark's prices plus a
valley), and three provincial templates (coolpilot.envs.grid) at an illustrative 650 CNY/MWh flat price
with a 40 CNY/(kW·month) basic charge on maximum demand (the two-part tariff's demand charge)."""

CASES: tuple[tuple[str, str], ...] = (
    ("las-vegas", "us-tou-demand"), ("san-francisco", "us-tou-demand"), ("oklahoma-city", "us-tou-demand"),
    ("yueyang", "jiangsu"), ("hongkong", "guangdong"), ("dazhou", "beijing"),
)
"""Climates held out from the shipped policies' training, each under the tariff of its region (the
Chinese stations' tariffs are their nearest bundled provincial template)."""


def _run(job: tuple[str, str | None, int]) -> dict[str, Any]:
    """One year of rule-based on the tank facility: with the schedule for tariff ``job[1]``, or the tank idle."""
    climate, tariff_name, days = job
    cfg = load_facility(FACILITY)
    tariff = Tariff(**TARIFFS[tariff_name]) if tariff_name else None
    settings = site_rule_settings(cfg, Limits(), tariff)
    if tariff is None:
        settings = replace(settings, levers=tuple(n for n in settings.levers if n != "tes_rate_frac"))
    started = time.perf_counter()
    result = simulate(cfg, load_climate(climate), RuleBasedPolicy(settings), days=days, start_day=0.0)
    wall = time.perf_counter() - started
    s = result.series
    return {"climate": climate, "tariff": tariff_name, "wall_s": wall, "result": result,
            "discharged_mwh": float(np.clip(s["tes_discharge_kw"], 0.0, None).sum() * result.dt_s / 3.6e6),
            "charged_mwh": float(np.clip(-s["tes_discharge_kw"], 0.0, None).sum() * result.dt_s / 3.6e6)}


def _priced(run: dict[str, Any], tariff: Tariff) -> dict[str, float]:
    """The run's what-if KPIs under ``tariff``, with its non-IT cost."""
    result = run["result"]
    k = compute_whatif_kpis(result, tariff=tariff, carbon=Carbon())
    it_cost, it_demand = it_load_cost(result, tariff)
    return {"facility_energy_mwh": k.facility_energy_mwh, "non_it_energy_mwh": k.non_it_energy_mwh, "pue": k.pue,
            "energy_cost": k.energy_cost, "demand_cost": k.demand_cost, "total_cost": k.total_cost,
            "non_it_cost": k.total_cost - it_cost - it_demand, "peak_facility_power_kw": k.peak_facility_power_kw,
            "hours_above_limit": k.hours_above_limit, "setpoint_changes_per_day": k.setpoint_changes_per_day,
            "chiller_starts_per_day": k.chiller_starts_per_day}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "storage.json"))
    args = parser.parse_args()
    climates = sorted({c for c, _ in CASES})
    jobs: list[tuple[str, str | None, int]] = [(c, None, args.days) for c in climates]
    jobs += [(c, t, args.days) for c, t in CASES]
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        runs = list(pool.map(_run, jobs))
    idle = {r["climate"]: r for r in runs if r["tariff"] is None}
    rows = []
    for r in runs:
        if r["tariff"] is None:
            continue
        tariff = Tariff(**TARIFFS[r["tariff"]])
        base = _priced(idle[r["climate"]], tariff)
        tes = _priced(r, tariff)
        charge, discharge = tariff_storage_windows(tariff)
        rows.append({
            "climate": r["climate"], "tariff": r["tariff"], "currency": tariff.currency,
            "schedule": {"charge_hours": charge, "discharge_hours": discharge},
            "tank_idle": base, "rule_based_with_storage": tes,
            "saving_pct_of_total_cost": 100.0 * (base["total_cost"] - tes["total_cost"]) / base["total_cost"],
            "saving_pct_of_non_it_cost": 100.0 * (base["total_cost"] - tes["total_cost"]) / base["non_it_cost"],
            "energy_saving_pct": 100.0 * (base["facility_energy_mwh"] - tes["facility_energy_mwh"])
            / base["facility_energy_mwh"],
            "peak_change_pct": 100.0 * (tes["peak_facility_power_kw"] - base["peak_facility_power_kw"])
            / base["peak_facility_power_kw"],
            "discharged_mwh_cold": r["discharged_mwh"], "charged_mwh_cold": r["charged_mwh"],
            "wall_s": r["wall_s"],
        })
    out = {
        "benchmark": "chilled-water storage under the conventional schedule against the same plant with its tank "
                     "idle, one year, rule-based best practice, per climate and tariff",
        "command": f"python benchmarks/bench_storage.py --days {args.days} --workers {args.workers}",
        "facility": FACILITY, "days": args.days, "tariffs": TARIFFS,
        "non_it_cost": "total cost − IT energy at the same hourly prices − the demand charge on the IT power's own "
                       "monthly peaks",
        "machine": machine_info(), "wall_s": time.perf_counter() - started, "rows": rows,
    }
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"{'climate':<15}{'tariff':<15}{'cost saved %':>13}{'of non-IT %':>12}{'energy %':>10}{'peak %':>8}")
    for row in rows:
        print(f"{row['climate']:<15}{row['tariff']:<15}{row['saving_pct_of_total_cost']:>13.2f}"
              f"{row['saving_pct_of_non_it_cost']:>12.1f}{row['energy_saving_pct']:>10.2f}{row['peak_change_pct']:>8.1f}")


if __name__ == "__main__":
    main()
