"""Every shipped policy bundle against legacy, rule-based and the oracle on climates training never saw.

Usage: ``python benchmarks/bench_policy.py [--policies modern-hall-ppo ...] [--days 365] [--workers 2]
[--no-oracle]``. For each bundle (every shipped one by default) and each held-out climate (the
card's evaluation climates unless ``--climates``): one simulated period (a year by default, from
1 January, load-noise seed 0) of the card's facility under the bundle, legacy, rule-based and
the oracle. Legacy commands the core four setpoints; rule-based is commissioned for every
setpoint of the facility's contract; a contract-1 bundle commands the core four and leaves the
plant's levers to the plant's own sequence; each run is simulated on the facility's contract.

KPIs (one definition, :func:`coolpilot.evaluation.kpis.compute_whatif_kpis`): facility energy,
overhead energy (facility minus IT, as the issue defines "cooling"; the plant-only figure is
kept too), PUE, degree-hours and hours above 27 °C, hottest inlet, setpoint changes per day over
every contract setpoint, chiller starts per day and peak facility power (highest 15-minute
average). Per bundle and climate: savings vs legacy and rule-based, the share of the oracle's
saving over rule-based captured, and the wear and peak against rule-based's (changes and starts
as ratios, peak as a difference in %). Writes JSON with the machine facts; prints Markdown tables.

Bundles trained on another objective than energy (``modern-hall-cost-ppo``) are left out of the default
list: they are measured on their tariff by ``benchmarks/bench_policy_cost.py``.

``--no-oracle`` leaves the oracle out (the share of its saving is then not reported), with the
reason recorded in the JSON: use it while the planner is being reworked, or for a quick check.
Baseline runs shared by several bundles of one facility are simulated once.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info

from coolpilot.controller.policies.bundles import bundle_names, bundle_path
from coolpilot.controller.policies.onnx_policy import read_card
from coolpilot.envs.config import load_facility
from coolpilot.envs.simulation import simulate
from coolpilot.envs.weather import load_climate
from coolpilot.evaluation.kpis import compute_whatif_kpis
from coolpilot.evaluation.policies import make_policy
from coolpilot.evaluation.scenarios import Carbon, Tariff

REPO = Path(__file__).resolve().parents[1]
BASELINES = ("legacy", "rule-based")
KEPT = ("facility_energy_mwh", "overhead_energy_mwh", "cooling_energy_mwh", "it_energy_mwh", "pue",
        "degree_hours_above_27c", "hours_above_27c", "inlet_temp_max_c", "setpoint_changes", "setpoint_changes_per_day",
        "chiller_starts_per_day", "peak_facility_power_kw", "wall_s")
"""The KPIs of each run the summary keeps."""
LIQUID_KEPT = ("case_temp_max_c", "hours_above_case_limit", "throttled_gpu_energy_mwh", "trim_hours",
               "bought_energy_mwh", "erf", "ere", "net_cost", "reused_heat_mwh")
"""Kept too where a facility has them: GPU cases, throttling and trim (liquid cooling); energy bought (facility +
heat pump), ERF, ERE, net cost and reused heat (a heat pump)."""

Job = tuple[str, str, str, float, float]
"""(facility, climate, policy, days, start day)."""


def run_one(job: Job) -> dict[str, Any]:
    """KPIs and wall time of one policy over one period."""
    facility, climate, policy, days, start_day = job
    cfg = load_facility(facility)
    start = time.perf_counter()
    result = simulate(cfg, load_climate(climate), make_policy(policy, cfg), days=days, start_day=start_day, seed=0)
    wall = time.perf_counter() - start
    k = compute_whatif_kpis(result, tariff=Tariff(), carbon=Carbon(), facility=cfg).as_dict()
    k["overhead_energy_mwh"] = k["non_it_energy_mwh"]
    liquid, heat = k.get("liquid"), k.get("heat_reuse")
    if isinstance(liquid, dict):  # a liquid-cooled hall: its GPU cases and what throttling cost
        k.update(case_temp_max_c=liquid["case_temp_max_c"], hours_above_case_limit=liquid["hours_above_case_limit"],
                 throttled_gpu_energy_mwh=liquid["throttled_gpu_energy_mwh"], trim_hours=liquid["trim_hours"])
    if isinstance(heat, dict):  # a heat pump: what the site buys (facility + heat pump) and the reuse metrics
        k.update(bought_energy_mwh=heat["total_energy_mwh"], erf=heat["erf"], ere=heat["ere"],
                 net_cost=heat["net_cost"], reused_heat_mwh=heat["reused_heat_mwh"])
    return {**k, "facility": facility, "policy_arg": policy, "wall_s": wall}


def _pct(new: float, old: float) -> float:
    return 100.0 * (1.0 - new / old)


def _ratio(new: float, old: float) -> float:
    return new / old if old > 0.0 else (1.0 if new == 0.0 else math.inf)


def summarize(rows: list[dict[str, Any]], bundle: str, facility: str, climates: list[str],
              oracle: bool) -> list[dict[str, Any]]:
    """Per climate: each policy's KPIs; the bundle's savings, wear and peak against rule-based; its share of the
    oracle's saving."""
    by = {(r["facility"], r["climate"], r["policy_arg"]): r for r in rows}
    labels = [("legacy", "legacy"), ("rule_based", "rule-based"), ("policy", bundle)]
    if oracle:
        labels.append(("oracle", "oracle"))
    out = []
    for c in climates:
        runs = {label: by[(facility, c, arg)] for label, arg in labels}
        entry: dict[str, Any] = {"climate": c, **{label: {k: r[k] for k in (*KEPT, *LIQUID_KEPT) if k in r}
                                                  for label, r in runs.items()}}
        pol, leg, rb = runs["policy"], runs["legacy"], runs["rule_based"]
        f, o = "facility_energy_mwh", "overhead_energy_mwh"
        entry["policy_vs_legacy"] = {"facility_saving_pct": _pct(pol[f], leg[f]),
                                     "cooling_saving_pct": _pct(pol[o], leg[o])}
        entry["policy_vs_rule_based"] = {
            "facility_saving_pct": _pct(pol[f], rb[f]), "cooling_saving_pct": _pct(pol[o], rb[o]),
            "setpoint_changes_ratio": _ratio(pol["setpoint_changes_per_day"], rb["setpoint_changes_per_day"]),
            "chiller_starts_ratio": _ratio(pol["chiller_starts_per_day"], rb["chiller_starts_per_day"]),
            "peak_power_increase_pct": -_pct(pol["peak_facility_power_kw"], rb["peak_facility_power_kw"]),
            # issue 17's yardstick: facility energy saved as a share of rule-based's overhead (non-IT) energy
            "facility_saving_pct_of_overhead": 100.0 * (rb[f] - pol[f]) / rb[o],
        }
        if "bought_energy_mwh" in pol:
            b = "bought_energy_mwh"
            entry["policy_vs_rule_based"]["bought_saving_pct_of_overhead"] = 100.0 * (rb[b] - pol[b]) / rb[o]
            entry["policy_vs_rule_based"]["net_cost_saving_pct"] = _pct(pol["net_cost"], rb["net_cost"])
        if oracle:
            orc = runs["oracle"]
            entry["policy_vs_oracle"] = {"facility_saving_pct": _pct(pol[f], orc[f]),
                                         "cooling_saving_pct": _pct(pol[o], orc[o])}
            entry["oracle_vs_rule_based"] = {"facility_saving_pct": _pct(orc[f], rb[f]),
                                             "cooling_saving_pct": _pct(orc[o], rb[o])}
            gap = rb[f] - orc[f]
            entry["share_of_oracle_saving_captured_pct"] = 100.0 * (rb[f] - pol[f]) / gap if gap > 0 else math.nan
        out.append(entry)
    return out


def _objective(spec: str) -> str:
    """The objective kind a bundle was trained on (its card's training config; energy when the card names none)."""
    card = read_card(bundle_path(spec, (REPO, Path.cwd())))
    return str(card["training"]["config"]["env"].get("objective", {}).get("kind", "energy"))


def _bundle_setup(spec: str, climates: list[str] | None) -> dict[str, Any]:
    """A bundle's card facts and its held-out climates (refusing climates it was trained on)."""
    path = bundle_path(spec, (REPO, Path.cwd()))
    card = read_card(path)
    env = card["training"]["config"]["env"]
    seen = set((env.get("randomization") or {}).get("climates") or env["climates"])
    chosen = list(climates or card["evaluation"]["climates"])
    if seen & set(chosen):
        raise SystemExit(f"{card['name']}: climates {sorted(seen & set(chosen))} were seen in training; pick held-out "
                         "ones")
    return {"spec": str(path), "name": card["name"], "sha256": card["onnx"]["sha256"], "facility": card["facility"],
            "contract_version": card.get("contract_version", 1),
            "setpoints": [s["name"] for s in card["setpoints"]], "training_climates": sorted(seen),
            "climates": chosen}


def _print_tables(report: dict[str, Any]) -> None:
    print("| bundle | climate | policy | facility MWh | overhead MWh | PUE | K·h > 27 °C | max inlet °C | "
          "setpoint changes/d | chiller starts/d | peak kW |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for b in report["bundles"]:
        for t in b["summary"]:
            for label in ("legacy", "rule_based", "policy", "oracle"):
                if label not in t:
                    continue
                r = t[label]
                name = {"rule_based": "rule-based", "policy": b["name"]}.get(label, label)
                print(f"| {b['name']} | {t['climate']} | {name} | {r['facility_energy_mwh']:.0f} | "
                      f"{r['overhead_energy_mwh']:.0f} | {r['pue']:.4f} | {r['degree_hours_above_27c']:.2f} | "
                      f"{r['inlet_temp_max_c']:.2f} | {r['setpoint_changes_per_day']:.1f} | "
                      f"{r['chiller_starts_per_day']:.2f} | {r['peak_facility_power_kw']:.0f} |")
    print()
    print("| bundle | climate | overhead saved vs legacy | overhead saved vs rule-based | "
          "facility saved vs rule-based | setpoint changes × rule-based | chiller starts × rule-based | "
          "peak vs rule-based | share of oracle's saving captured |")
    print("|---|---|---|---|---|---|---|---|---|")
    for b in report["bundles"]:
        for t in b["summary"]:
            vs = t["policy_vs_rule_based"]
            share = t.get("share_of_oracle_saving_captured_pct")
            print(f"| {b['name']} | {t['climate']} | {t['policy_vs_legacy']['cooling_saving_pct']:+.1f} % | "
                  f"{vs['cooling_saving_pct']:+.2f} % | {vs['facility_saving_pct']:+.2f} % | "
                  f"{vs['setpoint_changes_ratio']:.2f} | {vs['chiller_starts_ratio']:.2f} | "
                  f"{vs['peak_power_increase_pct']:+.1f} % | "
                  f"{'—' if share is None else f'{share:.0f} %'} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--policies", nargs="*", help="bundles by name or folder (default: every shipped bundle)")
    parser.add_argument("--climates", nargs="*", help="climates (default: each card's held-out evaluation climates)")
    parser.add_argument("--days", type=float, default=365.0)
    parser.add_argument("--start-day", type=float, default=0.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-oracle", action="store_true",
                        help="leave the oracle out (no share of its saving is reported)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "policy_vs_baselines.json"))
    args = parser.parse_args()
    specs = list(args.policies or [name for name in bundle_names() if _objective(name) == "energy"])
    if not specs:
        raise SystemExit("no bundle to benchmark: none is shipped in models/ and --policies names none")
    bundles = [_bundle_setup(spec, args.climates) for spec in specs]
    oracle = not args.no_oracle
    baselines = (("oracle",) if oracle else ()) + BASELINES
    jobs: list[Job] = []
    for b in bundles:
        for c in b["climates"]:
            for p in (*baselines, b["spec"]):
                job = (b["facility"], c, p, args.days, args.start_day)
                if job not in jobs:
                    jobs.append(job)
    jobs.sort(key=lambda j: j[2] != "oracle")  # the slowest first
    start = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        rows = list(pool.map(run_one, jobs))
    climates_arg = f" --climates {' '.join(args.climates)}" if args.climates else ""
    report = {
        "benchmark": "shipped policy bundles vs legacy, rule-based and the oracle on held-out climates",
        "command": f"python benchmarks/bench_policy.py --policies {' '.join(specs)} --days {args.days:g} "
                   f"--start-day {args.start_day:g}{climates_arg}{' --no-oracle' if not oracle else ''}",
        "machine": machine_info(),
        "days": args.days,
        "oracle": "included" if oracle else "left out (--no-oracle): no share of the oracle's saving is reported",
        "kpi_definitions": "coolpilot.evaluation.kpis (setpoint changes over every contract setpoint with the "
                           "contract's deadbands; peak = highest 15-minute average facility power)",
        "wall_s": time.perf_counter() - start,
        "bundles": [{**b, "summary": summarize(rows, b["spec"], b["facility"], b["climates"], oracle)}
                    for b in bundles],
        "results": [{k: v for k, v in r.items() if k not in ("monthly", "daily")} for r in rows],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    _print_tables(report)


if __name__ == "__main__":
    main()
