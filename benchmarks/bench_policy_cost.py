"""The cost and carbon objectives: what the planner and the learned policies save on a time-of-use bill with a
demand charge, or in location-based carbon on a solar-heavy grid.

Usage: ``nice -n 10 python benchmarks/bench_policy_cost.py [--cost-policy modern-hall-cost-ppo]
[--energy-policy modern-hall-ppo] [--climates las-vegas san-francisco oklahoma-city] [--days 365]
[--workers 2] [--out benchmarks/results/policy_cost.json]``, or with ``--objective carbon
[--carbon-policy BUNDLE | none] [--solar-share 0.3] [--grid-factor 0.5703]`` (below).

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
day (and as a multiple of rule-based's), the hottest inlet and hours above 27 °C; and the location-based
carbon at the run's grid factor, with the same split.

**The carbon objective** (``--objective carbon``, issue 15: "with a carbon objective on the solar-heavy grid,
location-based carbon ≥ 10 % below rule-based's non-IT carbon"). The grid is a solar-heavy one
(:func:`coolpilot.envs.grid.solar_carbon_profile`: PV supplying ``--solar-share`` of a year's demand, the
factor's year mean ``--grid-factor``; or the carbon policy's card's ``env.carbon``), its hourly profile
derived from each held-out climate's own irradiance, so middays are clean and nights dirty. The
controllers: rule-based with the conventional storage schedule (the reference, as in the cost benchmark:
charge 23–7 h, discharge 12–18 h), the same with its tank idle (how much of a saving is only the
conventional schedule's own carbon undone), the planner minimising carbon (24 h ahead on a tank facility,
perfect knowledge of the profile) and the carbon policy (a bundle trained on the carbon objective, reading
the factor now and 6 h ahead as points). A rule-based schedule keyed to carbon (charge at midday) is no lane:
rule-based resets the chilled water up to 18 °C by day, at or above the tank's top, so such a tank charged
964 MWh of cold a year in Las Vegas and none in San Francisco. Non-IT carbon = location-based
carbon − the IT load's own energy at each hour's factor (:func:`coolpilot.evaluation.kpis.it_load_carbon`);
the saving is on the total. Every run is also priced at the cost policy's (or the carbon card's) tariff.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info

from coolpilot.controller.policies import RuleBasedPolicy, rule_based_settings
from coolpilot.controller.policies.bundles import bundle_path
from coolpilot.controller.policies.onnx_policy import read_card
from coolpilot.envs.config import FacilityConfig, load_facility
from coolpilot.envs.grid import solar_carbon_profile_of_climate
from coolpilot.envs.objectives import DEFAULT_GRID_T_PER_MWH, Objective
from coolpilot.envs.simulation import PlantAwarePolicy, Policy, SimResult, simulate
from coolpilot.envs.weather import load_climate
from coolpilot.evaluation.kpis import (
    compute_whatif_kpis,
    grid_signals,
    it_load_carbon,
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
CARBON_CONTROLLERS = ("rule-based", "rule-based-idle", "planner-carbon", "carbon-policy")
"""Lanes of the carbon objective: the reference, the same with its tank idle, the planner, the carbon policy."""
KEPT = ("facility_energy_mwh", "it_energy_mwh", "non_it_energy_mwh", "energy_cost", "demand_cost", "total_cost",
        "peak_facility_power_kw", "setpoint_changes_per_day", "chiller_starts_per_day", "inlet_temp_max_c",
        "hours_above_limit", "days", "carbon_location_t_co2e")

Job = tuple[str, str, str, float, float, dict[str, Any], dict[str, Any]]
"""(controller, facility name or path, climate, days, start day, tariff and carbon as mappings)."""


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


def carbon_profile(carbon: Carbon, climate: str) -> tuple[float, ...] | None:
    """The hourly grid factor of ``carbon`` in ``climate``: a solar-heavy grid's profile from the climate's own
    irradiance, or None (the constant factor)."""
    if carbon.solar_share is None:
        return None
    return tuple(solar_carbon_profile_of_climate(climate, carbon.grid_t_co2_per_mwh, carbon.solar_share).tolist())


def build(controller: str, cfg: FacilityConfig, spec: str, tariff: Tariff, carbon: Carbon,
          profile: tuple[float, ...] | None) -> Policy | PlantAwarePolicy:
    """The controller of one job."""
    if controller.startswith("planner-"):
        kind = controller.removeprefix("planner-")
        return OraclePolicy(rule_based_settings(cfg), objective=Objective(kind=kind),
                            signals=grid_signals(tariff, carbon, profile), name=controller,
                            horizon_h=planning_horizon_h(cfg.storage.installed))
    if controller == "rule-based-idle":
        s = rule_based_settings(cfg)
        return RuleBasedPolicy(replace(s, levers=tuple(n for n in s.levers if n != "tes_rate_frac")), controller)
    return make_policy("rule-based" if controller == "rule-based" else spec, cfg)


def run_one(job: Job) -> dict[str, Any]:
    """KPIs, the IT load's own cost and carbon, the mean monthly peak and the wall time of one controller over one
    period."""
    controller, spec, climate, days, start_day, tariff_map, carbon_map = job
    tariff, carbon = Tariff.model_validate(tariff_map), Carbon.model_validate(carbon_map)
    profile = carbon_profile(carbon, climate)
    name, _, bundle = spec.partition("|")
    cfg = resolve_facility(name)
    policy = build(controller, cfg, bundle, tariff, carbon, profile)
    t0 = time.perf_counter()
    result = simulate(cfg, load_climate(climate), policy, days=days, start_day=start_day, seed=0,
                      signals=grid_signals(tariff, carbon, profile))
    wall = time.perf_counter() - t0
    k = compute_whatif_kpis(result, tariff=tariff, carbon=carbon, carbon_profile=profile).as_dict()
    peak = mean_monthly_peak_kw(result, len(result_months(k)))
    return {"controller": controller, "climate": climate, "facility": cfg.name, **{key: k[key] for key in KEPT},
            **it_alone_cost(result, tariff), "it_carbon_t_co2e": it_load_carbon(result, carbon, profile),
            "mean_monthly_peak_kw": peak, "wall_s": wall}


def _figures(run: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
    """One controller's bill and wear beside rule-based's (``ref``), savings in % (positive = cheaper)."""
    ref_non_it = ref["total_cost"] - ref["it_total_cost"]
    saved = ref["total_cost"] - run["total_cost"]
    ref_non_it_carbon = ref["carbon_location_t_co2e"] - ref["it_carbon_t_co2e"]
    carbon_saved = ref["carbon_location_t_co2e"] - run["carbon_location_t_co2e"]
    return {
        **{k: run[k] for k in (*KEPT, "it_total_cost", "it_carbon_t_co2e", "mean_monthly_peak_kw")},
        "non_it_cost": run["total_cost"] - run["it_total_cost"],
        "non_it_carbon_t_co2e": run["carbon_location_t_co2e"] - run["it_carbon_t_co2e"],
        "carbon_saved_t_co2e": carbon_saved,
        "carbon_saving_pct_of_rule_based_non_it": 100.0 * carbon_saved / ref_non_it_carbon,
        "setpoint_changes_vs_rule_based": run["setpoint_changes_per_day"] / ref["setpoint_changes_per_day"],
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
        "it_total_cost", "hours_above_limit", "days", "carbon_location_t_co2e", "it_carbon_t_co2e")}
    out["peak_facility_power_kw"] = max(r["peak_facility_power_kw"] for r in rows)
    out["inlet_temp_max_c"] = max(r["inlet_temp_max_c"] for r in rows)
    out["mean_monthly_peak_kw"] = float(np.mean([r["mean_monthly_peak_kw"] for r in rows]))
    for k in ("setpoint_changes_per_day", "chiller_starts_per_day"):
        out[k] = sum(r[k] * r["days"] for r in rows) / total_days
    return out


def summarize(rows: list[dict[str, Any]], climates: list[str]) -> dict[str, Any]:
    """Per climate and over all climates: each controller's figures against rule-based."""
    by = {(r["controller"], r["climate"]): r for r in rows}
    ran = list(dict.fromkeys(r["controller"] for r in sorted(rows, key=lambda r: _lane_order(r["controller"]))))
    per_climate = {c: {ctl: _figures(by[(ctl, c)], by[("rule-based", c)]) for ctl in ran} for c in climates}
    sums = {ctl: _sum([by[(ctl, c)] for c in climates]) for ctl in ran}
    overall = {ctl: _figures(sums[ctl], sums["rule-based"]) for ctl in ran}
    return {"per_climate": per_climate, "all_climates": overall}


def _lane_order(controller: str) -> int:
    lanes = list(dict.fromkeys((*CONTROLLERS, *CARBON_CONTROLLERS)))
    return lanes.index(controller)


Column = tuple[str, Callable[[dict[str, Any]], str]]
"""A printed table's column: its heading and how a controller's figures fill it."""
COST_COLUMNS: list[Column] = [
    ("total cost", lambda f: f"{f['total_cost']:,.0f}"), ("non-IT cost", lambda f: f"{f['non_it_cost']:,.0f}"),
    ("saved, % of total", lambda f: f"{f['cost_saving_pct_of_total']:+.2f} %"),
    ("saved, % of rule-based non-IT", lambda f: f"{f['cost_saving_pct_of_rule_based_non_it']:+.1f} %"),
    ("facility energy saved", lambda f: f"{f['facility_energy_saving_pct']:+.2f} %"),
    ("peak kW", lambda f: f"{f['peak_facility_power_kw']:.0f}"),
    ("mean monthly peak kW", lambda f: f"{f['mean_monthly_peak_kw']:.0f}"),
    ("changes/d", lambda f: f"{f['setpoint_changes_per_day']:.1f}"),
    ("starts/d", lambda f: f"{f['chiller_starts_per_day']:.2f}"),
]
CARBON_COLUMNS: list[Column] = [
    ("carbon (t CO2e)", lambda f: f"{f['carbon_location_t_co2e']:,.0f}"),
    ("non-IT carbon", lambda f: f"{f['non_it_carbon_t_co2e']:,.0f}"),
    ("saved, % of rule-based non-IT", lambda f: f"{f['carbon_saving_pct_of_rule_based_non_it']:+.1f} %"),
    ("facility energy saved", lambda f: f"{f['facility_energy_saving_pct']:+.2f} %"),
    ("total cost", lambda f: f"{f['total_cost']:,.0f}"),
    ("changes/d (× rule-based)",
     lambda f: f"{f['setpoint_changes_per_day']:.1f} ({f['setpoint_changes_vs_rule_based']:.2f}×)"),
    ("starts/d", lambda f: f"{f['chiller_starts_per_day']:.2f}"),
    ("hottest inlet", lambda f: f"{f['inlet_temp_max_c']:.2f}"), ("h > 27 °C", lambda f: f"{f['hours_above_limit']:g}"),
]


def _print(summary: dict[str, Any], columns: list[Column]) -> None:
    """A Markdown table: per climate and over all climates, each controller's figures in ``columns``."""
    print("| climate | controller | " + " | ".join(head for head, _ in columns) + " |")
    print("|---|---|" + "---|" * len(columns))
    for climate, table in [*summary["per_climate"].items(), ("all three", summary["all_climates"])]:
        for ctl, f in table.items():
            print(f"| {climate} | {ctl} | " + " | ".join(cell(f) for _, cell in columns) + " |")


def _card(name: str) -> tuple[Path, dict[str, Any]]:
    path = bundle_path(name, (REPO, Path.cwd()))
    return path, read_card(path)


def _check_held_out(card: dict[str, Any], climates: list[str], name: str) -> None:
    env = card["training"]["config"]["env"]
    seen = set((env.get("randomization") or {}).get("climates") or env["climates"])
    if seen & set(climates):
        raise SystemExit(f"climates {sorted(seen & set(climates))} were seen in training {name}; pick held-out ones")


def _bundle(path: Path, card: dict[str, Any]) -> dict[str, Any]:
    return {"spec": str(path), "sha256": card["onnx"]["sha256"], "facility": card["facility"]}


def _run(jobs: list[Job], workers: int) -> tuple[list[dict[str, Any]], float]:
    jobs.sort(key=lambda j: not j[0].startswith("planner-"))  # the slowest first
    start = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        rows = list(pool.map(run_one, jobs))
    return rows, time.perf_counter() - start


def _write(out: Path, report: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def _relative(path: Path) -> str:
    resolved = path.resolve()
    return str(resolved.relative_to(REPO)) if resolved.is_relative_to(REPO) else str(path)


def main() -> None:
    """Run the controllers of the objective on each climate, write JSON, print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objective", choices=("cost", "carbon"), default="cost")
    parser.add_argument("--cost-policy", default="modern-hall-cost-ppo",
                        help="with --objective carbon and no carbon policy: the card that names the facility, the "
                             "tariff and the held-out climates")
    parser.add_argument("--energy-policy", default="modern-hall-ppo",
                        help="an energy-objective bundle on the same equipment, or 'none' (no such bundle yet: the "
                             "storage hall)")
    parser.add_argument("--carbon-policy", default="none",
                        help="with --objective carbon: a bundle trained on the carbon objective on a solar-heavy grid, "
                             "or 'none' (the rule-based lanes and the planner only)")
    parser.add_argument("--solar-share", type=float, default=0.3,
                        help="with --objective carbon and no carbon policy: the grid's PV share of a year's demand "
                             "(default: examples/scenarios/grid.yaml's solar-heavy grid)")
    parser.add_argument("--grid-factor", type=float, default=DEFAULT_GRID_T_PER_MWH,
                        help="with --objective carbon and no carbon policy: the grid factor's year mean, t CO2/MWh")
    parser.add_argument("--climates", nargs="+", help="default: the cost policy's held-out evaluation climates")
    parser.add_argument("--days", type=float, default=365.0)
    parser.add_argument("--start-day", type=float, default=0.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, help="default benchmarks/results/policy_<objective>.json")
    args = parser.parse_args()
    out = args.out or REPO / "benchmarks" / "results" / f"policy_{args.objective}.json"
    period = f"--days {args.days:g} --start-day {args.start_day:g} --workers {args.workers} --out {_relative(out)}"
    if args.objective == "carbon":
        carbon_main(args, out, period)
        return
    cost_path, cost_card = _card(args.cost_policy)
    with_energy = args.energy_policy != "none"
    energy_path, energy_card = _card(args.energy_policy) if with_energy else (cost_path, cost_card)
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
    _check_held_out(cost_card, climates, f"of {args.cost_policy}")
    specs = {"rule-based": energy_card["facility"], "planner-cost": energy_card["facility"],
             "energy-policy": f"{energy_card['facility']}|{energy_path}",
             "cost-policy": f"{cost_card['facility']}|{cost_path}"}
    tariff_map, carbon_map = tariff.model_dump(mode="json"), CARBON.model_dump(mode="json")
    controllers = [c for c in CONTROLLERS if with_energy or c != "energy-policy"]
    rows, wall = _run([(ctl, specs[ctl], c, args.days, args.start_day, tariff_map, carbon_map)
                       for ctl in controllers for c in climates], args.workers)
    summary = summarize(rows, climates)
    _write(out, {
        "benchmark": "cost objective under a time-of-use tariff with a demand charge: rule-based, the planner on "
                     "the cost objective, the energy policy and the cost policy on held-out climates",
        "command": f"nice -n 10 python benchmarks/bench_policy_cost.py --cost-policy {args.cost_policy} "
                   f"--energy-policy {args.energy_policy} --climates {' '.join(climates)} {period}",
        "machine": machine_info(),
        "tariff": tariff_map,
        "tariff_source": f"{args.cost_policy}'s card (training config env.tariff)",
        "carbon": carbon_map,
        "bundles": {"cost-policy": _bundle(cost_path, cost_card), "energy-policy": _bundle(energy_path, energy_card)},
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
        "wall_s": wall,
        **summary,
        "results": rows,
    })
    _print(summary, [(f"total cost ({tariff.currency})", COST_COLUMNS[0][1]), *COST_COLUMNS[1:]])


def carbon_main(args: argparse.Namespace, out: Path, period: str) -> None:
    """The carbon objective on a solar-heavy grid: the rule-based lanes, the planner and the carbon policy."""
    with_policy = args.carbon_policy != "none"
    ref_name = args.carbon_policy if with_policy else args.cost_policy
    ref_path, ref_card = _card(ref_name)
    env = ref_card["training"]["config"]["env"]
    if with_policy:
        if env["objective"]["kind"] != "carbon" or not (env.get("carbon") or {}).get("solar_share"):
            raise SystemExit(f"{ref_name}: its card's training objective is {env['objective']['kind']!r} with carbon "
                             f"{env.get('carbon')!r}; a policy trained on the carbon objective on a solar-heavy grid "
                             "(carbon.solar_share) is wanted")
        carbon = Carbon.model_validate(env["carbon"])
        carbon_source = f"{ref_name}'s card (training config env.carbon)"
    else:
        carbon = Carbon(grid_t_co2_per_mwh=args.grid_factor, solar_share=args.solar_share)
        carbon_source = f"--solar-share {args.solar_share:g} --grid-factor {args.grid_factor:g}"
    tariff_card = ref_card if env.get("tariff") else _card(args.cost_policy)[1]
    tariff_env = tariff_card["training"]["config"]["env"]
    if not tariff_env.get("tariff"):
        raise SystemExit(f"neither {ref_name}'s nor {args.cost_policy}'s card names a tariff to price the runs at")
    tariff = Tariff.model_validate(tariff_env["tariff"])
    facility = ref_card["facility"]
    if not resolve_facility(facility).storage.installed:
        raise SystemExit(f"{ref_name}'s facility {facility} has no storage tank: the carbon lanes compare storage "
                         "schedules")
    climates = list(args.climates or ref_card["evaluation"]["climates"])
    _check_held_out(ref_card, climates, f"of {ref_name}")
    controllers = [c for c in CARBON_CONTROLLERS if with_policy or c != "carbon-policy"]
    specs = {ctl: facility for ctl in controllers} | {"carbon-policy": f"{facility}|{ref_path}"}
    tariff_map, carbon_map = tariff.model_dump(mode="json"), carbon.model_dump(mode="json")
    rows, wall = _run([(ctl, specs[ctl], c, args.days, args.start_day, tariff_map, carbon_map)
                       for ctl in controllers for c in climates], args.workers)
    summary = summarize(rows, climates)
    policy_args = f"--carbon-policy {args.carbon_policy}" + ("" if with_policy else
                                                             f" --cost-policy {args.cost_policy} {carbon_source}")
    _write(out, {
        "benchmark": "carbon objective on a solar-heavy grid: rule-based with the conventional storage schedule, "
                     "the same with its tank idle, the planner on the carbon objective and the carbon policy on "
                     "held-out climates",
        "command": f"nice -n 10 python benchmarks/bench_policy_cost.py --objective carbon {policy_args} "
                   f"--climates {' '.join(climates)} {period}",
        "machine": machine_info(),
        "carbon": carbon_map,
        "carbon_source": carbon_source,
        "carbon_profile": "coolpilot.envs.grid.solar_carbon_profile on each climate's own irradiance (clean middays)",
        "tariff": tariff_map,
        "tariff_source": f"{tariff_card['name']}'s card (training config env.tariff): the cost columns only",
        "bundles": {"carbon-policy": _bundle(ref_path, ref_card)} if with_policy else {},
        "climates": climates,
        "period": {"start_day": args.start_day, "days": args.days},
        "definitions": {
            "carbon_location_t_co2e": "Σ grid energy per step × the hour's grid factor (GHG Protocol Scope 2, "
                                      "location-based)",
            "non_it_carbon_t_co2e": "carbon − the IT load's own energy at each hour's factor",
            "carbon_saving_pct_of_rule_based_non_it": "(rule-based carbon − controller carbon) / rule-based non-IT "
                                                      "carbon",
            "setpoint_changes_vs_rule_based": "setpoint changes per day / rule-based's",
            "target": "issue 15: location-based carbon ≥ 10 % below rule-based's non-IT carbon; zero hours above "
                      "27 °C; setpoint changes per day ≤ 2× rule-based's",
        },
        "wall_s": wall,
        **summary,
        "results": rows,
    })
    _print(summary, CARBON_COLUMNS)


if __name__ == "__main__":
    main()
