"""What each plant lever buys the optimisers: the planner and the shipped policy with the lever blocks added in turn.

Usage: ``nice -n 10 python benchmarks/bench_ablation.py [--climates las-vegas san-francisco oklahoma-city]
[--start-days 15 105 196 288] [--days 7] [--policy modern-hall-ppo] [--workers 1]
[--out benchmarks/results/ablation.json]``.

Facility ``modern-hall`` (its whole contract: the core four setpoints and five plant levers). The
reference is rule-based control over every lever (best practice: the core loops, chillers staged at
the efficiency crossover, all tower cells down to the minimum flow, DP reset, design condenser flow,
economizer whenever it helps; :mod:`coolpilot.controller.policies.rule_based`). Six variants add the
lever blocks in contract order to what the optimiser commands: ``core``, ``+chiller_staging``,
``+tower_cells``, ``+chw_dp_reset``, ``+cw_flow``, ``+economizer`` (the last is the full contract).

What the blocks not yet added run (recorded in the JSON as ``not_added``):

- **the policy** (the shipped ``modern-hall-ppo`` bundle, trained on the whole contract): best practice.
  It runs as shipped (its write deadband included) and rule-based control runs beside it on the same
  points; the setpoints of the blocks not yet added are rule-based's values, the others the policy's.
- **the planner** (:class:`coolpilot.evaluation.oracle.OraclePolicy`, the benchmarks' settings: 3 h
  horizon, hourly replans, perfect knowledge, energy objective): the plant's local sequence. The planner
  plans every setpoint its rule-based settings name and simulates the rest as the plant runs them
  (NaN command columns); best practice for the others would need the rule-based law held fixed for
  those columns inside its rollouts, which the planner has no option for (rule-based values written over
  its plan afterwards would break the plan it made and the thermal bound it holds).
- For reading the planner's rows, rule-based control commanding the same blocks (the rest on the
  plant's local sequence, as in ``benchmarks/bench_levers.py``) runs too: ``rule_based_same_blocks``.

Period (to fit two shared cores): four weeks per climate, one per season (``--start-days``: days of
year 15, 105, 196, 288 = mid-January, mid-April, mid-July, mid-October; ``--days`` 7 each), on the three
climates the policy never saw in training. Each week is simulated from the plant's initial state with
load-noise seed 0. KPIs are :func:`coolpilot.evaluation.kpis.compute_whatif_kpis`'s (setpoint changes
over every contract setpoint with the contract's deadbands, the plant's own moves of its local
sequences included; peak = highest 15-minute average facility power). Savings are against full
rule-based over the same weeks: in % of facility energy and in % of rule-based's overhead energy
(facility − IT, the issue's measure that raising IT power cannot game), summed over every week and
climate, and per climate.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info

from coolpilot.controller.policies import RuleBasedPolicy, rule_based_settings
from coolpilot.envs.config import load_facility
from coolpilot.envs.contract import BLOCKS
from coolpilot.envs.simulation import PlantAwarePolicy, Policy, simulate
from coolpilot.envs.weather import load_climate
from coolpilot.evaluation.kpis import compute_whatif_kpis
from coolpilot.evaluation.oracle import OraclePolicy
from coolpilot.evaluation.policies import make_policy
from coolpilot.evaluation.scenarios import Carbon, Tariff

REPO = Path(__file__).resolve().parents[1]
FACILITY = "modern-hall"
KINDS = ("planner", "policy", "rule_based_same_blocks")
NOT_ADDED = {
    "planner": "the plant's local sequence (NaN command columns): the planner has no option to hold rule-based's "
               "law for some columns inside its rollouts",
    "policy": "best practice: rule-based's values for those command columns (rule-based runs beside the policy on "
              "the same points)",
    "rule_based_same_blocks": "the plant's local sequence (bench_levers.py's ablation of rule-based itself)",
}
KEPT = ("facility_energy_mwh", "non_it_energy_mwh", "it_energy_mwh", "setpoint_changes_total", "chiller_starts",
        "days", "peak_facility_power_kw", "inlet_temp_max_c", "degree_hours_above_27c")

Job = tuple[str, float, float, str, int, str]
"""(climate, start day, days, kind: baseline | planner | policy | rule_based_same_blocks, blocks added, policy)."""


class BestPracticeFill:
    """A policy commanding the setpoints ``own``; every other setpoint of the contract takes rule-based's value.

    Rule-based control runs every step on the same points (its trims keep their own state), so the filled
    setpoints are exactly what best-practice control would write there.
    """

    def __init__(self, policy: Policy, rule: RuleBasedPolicy, own: tuple[str, ...]) -> None:
        self.policy = policy
        self.rule = rule
        self.own = frozenset(own)
        self.name = f"{policy.name} ({', '.join(own)}) + rule-based"

    def reset(self) -> None:
        """Reset both policies."""
        self.policy.reset()
        self.rule.reset()

    def act(self, points: Mapping[str, float]) -> dict[str, float]:
        """The policy's setpoints for its own, rule-based's for the rest."""
        mine = self.policy.act(points)
        best = self.rule.act(points)
        return {name: (mine[name] if name in self.own else value) for name, value in best.items()}


def block_order() -> list[str]:
    """The plant lever blocks of modern-hall, in contract order (core first)."""
    return [b for b in load_facility(FACILITY).contract.blocks if BLOCKS[b].setpoints]


def commanded(added: int) -> tuple[str, ...]:
    """Setpoint names of the first ``added`` + 1 blocks (core and the first ``added`` lever blocks)."""
    return tuple(s.name for b in block_order()[: added + 1] for s in BLOCKS[b].setpoints)


def build(kind: str, added: int, policy_name: str) -> Policy | PlantAwarePolicy:
    """The controller of one job."""
    cfg = load_facility(FACILITY)
    full = rule_based_settings(cfg)
    own = commanded(added)
    subset = dataclasses.replace(full, levers=tuple(n for n in full.levers if n in own))
    if kind == "baseline":
        return RuleBasedPolicy(full)
    if kind == "planner":
        return OraclePolicy(subset)
    if kind == "rule_based_same_blocks":
        return RuleBasedPolicy(subset)
    policy = make_policy(policy_name, cfg)
    if isinstance(policy, PlantAwarePolicy):
        raise TypeError(f"--policy {policy_name}: a causal policy bundle is wanted, not a planner")
    return BestPracticeFill(policy, RuleBasedPolicy(full), own)


def run_one(job: Job) -> dict[str, Any]:
    """KPIs of one controller over one week."""
    climate, start_day, days, kind, added, policy_name = job
    cfg = load_facility(FACILITY)
    controller = build(kind, added, policy_name)
    t0 = time.perf_counter()
    result = simulate(cfg, load_climate(climate), controller, days=days, start_day=start_day, seed=0)
    wall = time.perf_counter() - t0
    k = compute_whatif_kpis(result, tariff=Tariff(), carbon=Carbon()).as_dict()
    return {"climate": climate, "start_day": start_day, "kind": kind, "blocks_added": added,
            **{key: k[key] for key in KEPT}, "wall_s": wall}


def _totals(rows: list[dict[str, Any]], base: list[dict[str, Any]]) -> dict[str, Any]:
    """Sums over ``rows`` and their savings against the baseline rows of the same weeks."""
    f = sum(r["facility_energy_mwh"] for r in rows)
    o = sum(r["non_it_energy_mwh"] for r in rows)
    bf = sum(r["facility_energy_mwh"] for r in base)
    bo = sum(r["non_it_energy_mwh"] for r in base)
    days = sum(r["days"] for r in rows)
    return {
        "facility_energy_mwh": f, "overhead_energy_mwh": o,
        "facility_saving_pct": 100.0 * (bf - f) / bf,
        "saving_pct_of_rule_based_overhead": 100.0 * (bf - f) / bo,
        "setpoint_changes_per_day": sum(r["setpoint_changes_total"] for r in rows) / days,
        "chiller_starts_per_day": sum(r["chiller_starts"] for r in rows) / days,
        "peak_facility_power_kw": max(r["peak_facility_power_kw"] for r in rows),
        "inlet_temp_max_c": max(r["inlet_temp_max_c"] for r in rows),
        "degree_hours_above_27c": sum(r["degree_hours_above_27c"] for r in rows),
    }


def summarize(rows: list[dict[str, Any]], climates: list[str], n_variants: int) -> dict[str, Any]:
    """Baseline totals and, per variant and kind, totals over everything and per climate."""
    def pick(kind: str, added: int | None = None, climate: str | None = None) -> list[dict[str, Any]]:
        return [r for r in rows if r["kind"] == kind and (added is None or r["blocks_added"] == added)
                and (climate is None or r["climate"] == climate)]

    base = pick("baseline")
    blocks = block_order()
    base_totals = _totals(base, base)
    variants = []
    for added in range(n_variants):
        entry: dict[str, Any] = {"variant": "core" if added == 0 else f"+{blocks[added]}",
                                 "blocks": blocks[: added + 1], "commanded_setpoints": list(commanded(added))}
        for kind in KINDS:
            entry[kind] = {**_totals(pick(kind, added), base),
                           "per_climate": {c: _totals(pick(kind, added, c), pick("baseline", climate=c))
                                           for c in climates}}
        variants.append(entry)
    return {"rule_based_all_levers": base_totals, "variants": variants}


def _print(summary: dict[str, Any]) -> None:
    b = summary["rule_based_all_levers"]
    print(f"rule-based (all levers): {b['facility_energy_mwh']:.1f} MWh facility, {b['overhead_energy_mwh']:.1f} MWh "
          f"overhead, {b['setpoint_changes_per_day']:.1f} changes/d, {b['chiller_starts_per_day']:.2f} starts/d")
    print("| optimiser commands | planner: facility saved | planner: % of overhead | planner changes/d | "
          "planner starts/d | policy: facility saved | policy: % of overhead | policy changes/d | policy starts/d | "
          "rule-based same blocks: % of overhead |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for v in summary["variants"]:
        p, q, r = v["planner"], v["policy"], v["rule_based_same_blocks"]
        print(f"| {v['variant']} | {p['facility_saving_pct']:+.2f} % | {p['saving_pct_of_rule_based_overhead']:+.1f} % "
              f"| {p['setpoint_changes_per_day']:.1f} | {p['chiller_starts_per_day']:.2f} | "
              f"{q['facility_saving_pct']:+.2f} % | {q['saving_pct_of_rule_based_overhead']:+.1f} % | "
              f"{q['setpoint_changes_per_day']:.1f} | {q['chiller_starts_per_day']:.2f} | "
              f"{r['saving_pct_of_rule_based_overhead']:+.1f} % |")


def main() -> None:
    """Run the ablation and write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--climates", nargs="+", default=["las-vegas", "san-francisco", "oklahoma-city"])
    parser.add_argument("--start-days", nargs="+", type=float, default=[15.0, 105.0, 196.0, 288.0])
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--policy", default="modern-hall-ppo", help="bundle trained on modern-hall's whole contract")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "ablation.json")
    args = parser.parse_args()
    n_variants = len(block_order())
    jobs: list[Job] = []
    for c in args.climates:
        for d in args.start_days:
            jobs.append((c, d, args.days, "baseline", n_variants - 1, args.policy))
            jobs += [(c, d, args.days, kind, added, args.policy) for kind in KINDS for added in range(n_variants)]
    jobs.sort(key=lambda j: j[3] != "planner")  # the slowest first
    start = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        rows = list(pool.map(run_one, jobs))
    summary = summarize(rows, args.climates, n_variants)
    command = (f"nice -n 10 python benchmarks/bench_ablation.py --climates {' '.join(args.climates)} --start-days "
               f"{' '.join(f'{d:g}' for d in args.start_days)} --days {args.days:g} --policy {args.policy} "
               f"--workers {args.workers}")
    report = {
        "benchmark": "lever ablation: the planner and the shipped policy with the lever blocks added in turn, "
                     "against rule-based control of every lever",
        "command": command,
        "machine": machine_info(),
        "facility": FACILITY,
        "policy": args.policy,
        "climates": args.climates,
        "period": {"start_days": args.start_days, "days_each": args.days,
                   "note": "one week per season per climate (mid-January, mid-April, mid-July, mid-October by "
                           "default), each from the plant's initial state, load-noise seed 0"},
        "baseline": "rule-based control of every lever (best practice)",
        "not_added": NOT_ADDED,
        "kpi_definitions": "coolpilot.evaluation.kpis.compute_whatif_kpis; overhead = facility − IT energy; "
                           "saving_pct_of_rule_based_overhead = (rule-based facility − variant facility) / "
                           "rule-based overhead; peak = highest 15-minute average facility power",
        "wall_s": time.perf_counter() - start,
        **summary,
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    _print(summary)


if __name__ == "__main__":
    main()
