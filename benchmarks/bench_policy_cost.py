"""The cost objective: what the planner and the learned policies save on a time-of-use bill with a demand charge.

Usage: ``nice -n 10 python benchmarks/bench_policy_cost.py [--cost-policy modern-hall-cost-ppo]
[--energy-policy modern-hall-ppo] [--climates las-vegas san-francisco oklahoma-city] [--days 365]
[--workers 2] [--out benchmarks/results/policy_cost.json]``.

One simulated year (from 1 January, load-noise seed 0) per held-out climate of the modern-hall
equipment under four controllers: rule-based control of every lever (best practice, the reference),
the planner minimising the bill (:class:`coolpilot.evaluation.oracle.OraclePolicy` with
``Objective(kind="cost")`` and the tariff's grid signals: perfect knowledge, the benchmarks' 3 h
horizon), the shipped energy policy (``modern-hall-ppo``) and the cost policy (``modern-hall-cost-ppo``,
trained on the cost objective; it runs on its card's facility, modern-hall with the grid_signals block, and
reads the tariff's price and the billing peak so far as points). The tariff is the one the cost policy
was trained on (its card's ``env.tariff``); every run is priced by it with
:func:`coolpilot.evaluation.kpis.compute_whatif_kpis`: each step's facility energy at that hour's price,
plus each calendar month's demand charge on the month's peak 15-minute average facility power.

Non-IT cost (the denominator of the issue's target, "cost saved ≥ 10 % of rule-based's non-IT cost"):
rule-based's total cost minus what the IT load alone would cost at the same tariff, i.e. the IT energy
at each hour's price plus each month's demand charge on the IT load's own peak 15-minute power. The
demand charge thus splits into the IT load's own peak and the increment the cooling plant and losses
add on top of it (facility peak − IT peak, never negative since the facility power is IT power plus
non-negative overhead); the non-IT energy is priced hour by hour. The saving in the numerator is on the
total bill (rule-based's total − the controller's total), so a controller cannot gain by moving power
into the IT meter (server fans speeding up on warmer inlets count against it).

Reported per climate and summed over the climates: total, energy and demand cost, non-IT cost, the saving
as % of rule-based's total and of its non-IT cost, facility energy, peak 15-minute power (highest month)
and the mean of the monthly peaks (what the demand charge bills), setpoint changes and chiller starts per
day, the hottest inlet and hours above 27 °C.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info

from coolpilot.controller.policies import rule_based_settings
from coolpilot.controller.policies.bundles import bundle_path
from coolpilot.controller.policies.onnx_policy import read_card
from coolpilot.envs.config import FacilityConfig, load_facility
from coolpilot.envs.objectives import Objective
from coolpilot.envs.simulation import PlantAwarePolicy, Policy, SimResult, simulate
from coolpilot.envs.weather import load_climate
from coolpilot.evaluation.kpis import (
    compute_whatif_kpis,
    grid_signals,
    it_load_cost,
    monthly_demand_cost,
    step_midpoints_s,
)
from coolpilot.evaluation.oracle import OraclePolicy, planning_horizon_h
from coolpilot.evaluation.policies import make_policy
from coolpilot.evaluation.scenarios import Carbon, Tariff

REPO = Path(__file__).resolve().parents[1]
CARBON = Carbon()
CONTROLLERS = ("rule-based", "planner-cost", "energy-policy", "cost-policy")
KEPT = ("facility_energy_mwh", "it_energy_mwh", "non_it_energy_mwh", "energy_cost", "demand_cost", "total_cost",
        "peak_facility_power_kw", "setpoint_changes_per_day", "chiller_starts_per_day", "inlet_temp_max_c",
        "hours_above_limit", "days")

Job = tuple[str, str, str, float, float, dict[str, Any]]
"""(controller, facility name or path, climate, days, start day, tariff as a mapping)."""


def resolve_facility(name: str) -> FacilityConfig:
    """A preset by name, or a facility file named by its path from the repository root (as a card records it)."""
    path = REPO / name
    return load_facility(path if path.suffix in (".yaml", ".yml") and path.is_file() else name)


def it_alone_cost(result: SimResult, tariff: Tariff) -> dict[str, float]:
    """What the IT load alone would cost at ``tariff``: its energy at each hour's price plus each month's demand
    charge on its own peak 15-minute power (:func:`coolpilot.evaluation.kpis.it_load_cost`)."""
    energy, demand = it_load_cost(result, tariff)
    return {"it_energy_cost": energy, "it_demand_cost": demand, "it_total_cost": energy + demand}


def mean_monthly_peak_kw(result: SimResult, months: int) -> float:
    """The mean over the run's ``months`` calendar months of each month's peak 15-minute facility power (kW):
    what the demand charge bills, per month."""
    power = np.asarray(result.series["facility_kw"], dtype=np.float64)
    return monthly_demand_cost(power, step_midpoints_s(result), result.dt_s, 1.0) / months


def result_months(kpis: dict[str, Any]) -> list[Any]:
    """The calendar months a run's KPIs cover (its monthly slices)."""
    months = kpis["monthly"]
    if not isinstance(months, list):
        raise TypeError("compute_whatif_kpis(...).as_dict()['monthly'] is not a list")
    return months


def build(controller: str, cfg: FacilityConfig, spec: str, tariff: Tariff) -> Policy | PlantAwarePolicy:
    """The controller of one job."""
    if controller == "planner-cost":
        return OraclePolicy(rule_based_settings(cfg), objective=Objective(kind="cost"),
                            signals=grid_signals(tariff, CARBON), name="planner-cost",
                            horizon_h=planning_horizon_h(cfg.storage.installed))
    return make_policy("rule-based" if controller == "rule-based" else spec, cfg)


def run_one(job: Job) -> dict[str, Any]:
    """KPIs, the IT load's own cost, the mean monthly peak and the wall time of one controller over one period."""
    controller, spec, climate, days, start_day, tariff_map = job
    tariff = Tariff.model_validate(tariff_map)
    name, _, bundle = spec.partition("|")
    cfg = resolve_facility(name)
    policy = build(controller, cfg, bundle, tariff)
    t0 = time.perf_counter()
    result = simulate(cfg, load_climate(climate), policy, days=days, start_day=start_day, seed=0,
                      signals=grid_signals(tariff, CARBON))
    wall = time.perf_counter() - t0
    k = compute_whatif_kpis(result, tariff=tariff, carbon=CARBON).as_dict()
    peak = mean_monthly_peak_kw(result, len(result_months(k)))
    return {"controller": controller, "climate": climate, "facility": cfg.name, **{key: k[key] for key in KEPT},
            **it_alone_cost(result, tariff), "mean_monthly_peak_kw": peak, "wall_s": wall}


def _figures(run: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
    """One controller's bill and wear beside rule-based's (``ref``), savings in % (positive = cheaper)."""
    ref_non_it = ref["total_cost"] - ref["it_total_cost"]
    saved = ref["total_cost"] - run["total_cost"]
    return {
        **{k: run[k] for k in (*KEPT, "it_total_cost", "mean_monthly_peak_kw")},
        "non_it_cost": run["total_cost"] - run["it_total_cost"],
        "cost_saved": saved,
        "cost_saving_pct_of_total": 100.0 * saved / ref["total_cost"],
        "cost_saving_pct_of_rule_based_non_it": 100.0 * saved / ref_non_it,
        "energy_cost_saved": ref["energy_cost"] - run["energy_cost"],
        "demand_cost_saved": ref["demand_cost"] - run["demand_cost"],
        "facility_energy_saving_pct": 100.0 * (1.0 - run["facility_energy_mwh"] / ref["facility_energy_mwh"]),
        "peak_change_pct": 100.0 * (run["peak_facility_power_kw"] / ref["peak_facility_power_kw"] - 1.0),
    }


def _sum(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals over climates (sums of money and energy, the highest peak, mean of the monthly peaks and rates)."""
    total_days = sum(r["days"] for r in rows)
    out: dict[str, Any] = {k: sum(r[k] for r in rows) for k in (
        "facility_energy_mwh", "it_energy_mwh", "non_it_energy_mwh", "energy_cost", "demand_cost", "total_cost",
        "it_total_cost", "hours_above_limit", "days")}
    out["peak_facility_power_kw"] = max(r["peak_facility_power_kw"] for r in rows)
    out["inlet_temp_max_c"] = max(r["inlet_temp_max_c"] for r in rows)
    out["mean_monthly_peak_kw"] = float(np.mean([r["mean_monthly_peak_kw"] for r in rows]))
    for k in ("setpoint_changes_per_day", "chiller_starts_per_day"):
        out[k] = sum(r[k] * r["days"] for r in rows) / total_days
    return out


def summarize(rows: list[dict[str, Any]], climates: list[str]) -> dict[str, Any]:
    """Per climate and over all climates: each controller's figures against rule-based."""
    by = {(r["controller"], r["climate"]): r for r in rows}
    ran = [ctl for ctl in CONTROLLERS if any(r["controller"] == ctl for r in rows)]
    per_climate = {c: {ctl: _figures(by[(ctl, c)], by[("rule-based", c)]) for ctl in ran} for c in climates}
    sums = {ctl: _sum([by[(ctl, c)] for c in climates]) for ctl in ran}
    overall = {ctl: _figures(sums[ctl], sums["rule-based"]) for ctl in ran}
    return {"per_climate": per_climate, "all_climates": overall}


def _print(summary: dict[str, Any], currency: str) -> None:
    print(f"| climate | controller | total cost ({currency}) | non-IT cost | saved, % of total | "
          "saved, % of rule-based non-IT | facility energy saved | peak kW | mean monthly peak kW | changes/d | "
          "starts/d |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for climate, table in [*summary["per_climate"].items(), ("all three", summary["all_climates"])]:
        for ctl, f in table.items():
            print(f"| {climate} | {ctl} | {f['total_cost']:,.0f} | {f['non_it_cost']:,.0f} | "
                  f"{f['cost_saving_pct_of_total']:+.2f} % | {f['cost_saving_pct_of_rule_based_non_it']:+.1f} % | "
                  f"{f['facility_energy_saving_pct']:+.2f} % | {f['peak_facility_power_kw']:.0f} | "
                  f"{f['mean_monthly_peak_kw']:.0f} | {f['setpoint_changes_per_day']:.1f} | "
                  f"{f['chiller_starts_per_day']:.2f} |")


def main() -> None:
    """Run the four controllers on each climate, write JSON, print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cost-policy", default="modern-hall-cost-ppo")
    parser.add_argument("--energy-policy", default="modern-hall-ppo",
                        help="an energy-objective bundle on the same equipment, or 'none' (no such bundle yet: the "
                             "storage hall)")
    parser.add_argument("--climates", nargs="+", help="default: the cost policy's held-out evaluation climates")
    parser.add_argument("--days", type=float, default=365.0)
    parser.add_argument("--start-day", type=float, default=0.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "policy_cost.json")
    args = parser.parse_args()
    cost_path = bundle_path(args.cost_policy, (REPO, Path.cwd()))
    cost_card = read_card(cost_path)
    with_energy = args.energy_policy != "none"
    energy_path = bundle_path(args.energy_policy, (REPO, Path.cwd())) if with_energy else cost_path
    energy_card = read_card(energy_path) if with_energy else cost_card
    env = cost_card["training"]["config"]["env"]
    if env["objective"]["kind"] != "cost" or not env.get("tariff"):
        raise SystemExit(f"{args.cost_policy}: its card's training objective is {env['objective']['kind']!r} with "
                         f"tariff {env.get('tariff')!r}; a policy trained on the cost objective under a tariff is "
                         "wanted")
    tariff = Tariff.model_validate(env["tariff"])
    grid_cfg, plain_cfg = resolve_facility(cost_card["facility"]), resolve_facility(energy_card["facility"])
    skip = {"name", "description", "blocks"}
    if ({k: v for k, v in grid_cfg.model_dump().items() if k not in skip}
            != {k: v for k, v in plain_cfg.model_dump().items() if k not in skip}):
        raise SystemExit(f"the cost policy's facility {cost_card['facility']} and the energy policy's "
                         f"{energy_card['facility']} differ in equipment: they would not be compared on one plant")
    climates = list(args.climates or cost_card["evaluation"]["climates"])
    seen = set((env.get("randomization") or {}).get("climates") or env["climates"])
    if seen & set(climates):
        raise SystemExit(f"climates {sorted(seen & set(climates))} were seen in training; pick held-out ones")
    specs = {"rule-based": energy_card["facility"], "planner-cost": energy_card["facility"],
             "energy-policy": f"{energy_card['facility']}|{energy_path}",
             "cost-policy": f"{cost_card['facility']}|{cost_path}"}
    tariff_map = tariff.model_dump(mode="json")
    controllers = [c for c in CONTROLLERS if with_energy or c != "energy-policy"]
    jobs: list[Job] = [(ctl, specs[ctl], c, args.days, args.start_day, tariff_map) for ctl in controllers
                       for c in climates]
    jobs.sort(key=lambda j: j[0] != "planner-cost")  # the slowest first
    start = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        rows = list(pool.map(run_one, jobs))
    summary = summarize(rows, climates)
    report = {
        "benchmark": "cost objective under a time-of-use tariff with a demand charge: rule-based, the planner on "
                     "the cost objective, the energy policy and the cost policy on held-out climates",
        "command": f"nice -n 10 python benchmarks/bench_policy_cost.py --cost-policy {args.cost_policy} "
                   f"--energy-policy {args.energy_policy} --climates {' '.join(climates)} --days {args.days:g} "
                   f"--start-day {args.start_day:g} --workers {args.workers}",
        "machine": machine_info(),
        "tariff": tariff_map,
        "tariff_source": f"{args.cost_policy}'s card (training config env.tariff)",
        "bundles": {"cost-policy": {"spec": str(cost_path), "sha256": cost_card["onnx"]["sha256"],
                                    "facility": cost_card["facility"]},
                    "energy-policy": {"spec": str(energy_path), "sha256": energy_card["onnx"]["sha256"],
                                      "facility": energy_card["facility"]}},
        "climates": climates,
        "period": {"start_day": args.start_day, "days": args.days},
        "definitions": {
            "total_cost": "facility energy at each hour's time-of-use price + each calendar month's demand charge "
                          "on the month's peak 15-minute average facility power",
            "non_it_cost": "total cost − the IT load alone at the same tariff (IT energy at each hour's price + each "
                           "month's demand charge on the IT load's own peak 15-minute power)",
            "cost_saving_pct_of_rule_based_non_it": "(rule-based total − controller total) / rule-based non-IT cost",
            "target": "issue 14: cost saved ≥ 10 % of rule-based's non-IT cost",
        },
        "wall_s": time.perf_counter() - start,
        **summary,
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    _print(summary, tariff.currency)


if __name__ == "__main__":
    main()
