"""The shipped policy against legacy, rule-based and the oracle on climates training never saw.

Usage: ``python benchmarks/bench_policy.py [--policy models/modern-hall-ppo] [--days 365] [--workers 2]``.
For each held-out climate (the bundle card's evaluation climates unless ``--climates``):
one simulated period (a year by default, from 1 January, load-noise seed 0) of the card's
facility under each policy. KPIs: facility energy, cooling energy (facility minus IT, as
the issue defines it; the plant-only figure is kept too), PUE, degree-hours and hours
above 27 °C, max inlet. Savings of the policy vs legacy and vs rule-based, and the share of
the oracle's saving over rule-based that the policy captures. Writes JSON with the
machine facts; prints a Markdown table.
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

from coolpilot.envs.config import load_facility
from coolpilot.envs.kpis import compute_kpis
from coolpilot.envs.simulation import simulate
from coolpilot.envs.weather import load_climate
from coolpilot.evaluation.policies import make_policy

REPO = Path(__file__).resolve().parents[1]
BASELINES = ("legacy", "rule-based", "oracle")


def run_one(job: tuple[str, str, str, float, float]) -> dict[str, Any]:
    """KPIs and wall time of one policy over one period."""
    facility, climate, policy, days, start_day = job
    cfg = load_facility(facility)
    start = time.perf_counter()
    result = simulate(cfg, load_climate(climate), make_policy(policy, cfg), days=days, start_day=start_day, seed=0)
    wall = time.perf_counter() - start
    k = compute_kpis(result).as_dict()
    k["overhead_energy_mwh"] = k["facility_energy_mwh"] - k["it_energy_mwh"]  # type: ignore[operator]
    return {**k, "policy_arg": policy, "wall_s": wall}


def _pct(new: float, old: float) -> float:
    return 100.0 * (1.0 - new / old)


def summarize(rows: list[dict[str, Any]], policy: str, climates: list[str]) -> list[dict[str, Any]]:
    """Per climate: each policy's KPIs and the policy's savings and share of the oracle's."""
    by = {(r["climate"], r["policy_arg"]): r for r in rows}
    out = []
    for c in climates:
        leg, rb, orc, pol = (by[(c, p)] for p in ("legacy", "rule-based", "oracle", policy))
        entry: dict[str, Any] = {"climate": c}
        for label, r in (("legacy", leg), ("rule_based", rb), ("policy", pol), ("oracle", orc)):
            entry[label] = {key: r[key] for key in ("facility_energy_mwh", "overhead_energy_mwh", "cooling_energy_mwh",
                                                    "it_energy_mwh", "pue", "degree_hours_above_27c",
                                                    "hours_above_27c", "inlet_temp_max_c", "wall_s")}
        f, o = "facility_energy_mwh", "overhead_energy_mwh"
        entry["policy_vs_legacy"] = {"facility_saving_pct": _pct(pol[f], leg[f]),
                                     "cooling_saving_pct": _pct(pol[o], leg[o])}
        entry["policy_vs_rule_based"] = {"facility_saving_pct": _pct(pol[f], rb[f]),
                                         "cooling_saving_pct": _pct(pol[o], rb[o])}
        entry["policy_vs_oracle"] = {"facility_saving_pct": _pct(pol[f], orc[f]),
                                     "cooling_saving_pct": _pct(pol[o], orc[o])}
        entry["oracle_vs_rule_based"] = {"facility_saving_pct": _pct(orc[f], rb[f]),
                                         "cooling_saving_pct": _pct(orc[o], rb[o])}
        gap = rb[f] - orc[f]
        entry["share_of_oracle_saving_captured_pct"] = 100.0 * (rb[f] - pol[f]) / gap if gap > 0 else float("nan")
        out.append(entry)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--policy", default="models/modern-hall-ppo", help="policy bundle folder")
    parser.add_argument("--climates", nargs="*", help="climates (default: the card's held-out evaluation climates)")
    parser.add_argument("--days", type=float, default=365.0)
    parser.add_argument("--start-day", type=float, default=0.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "policy_vs_baselines.json"))
    args = parser.parse_args()
    card = json.loads((Path(args.policy) / "card.json").read_text(encoding="utf-8"))
    climates = list(args.climates or card["evaluation"]["climates"])
    training_climates = card["training"]["config"]["env"].get("randomization", {}) or {}
    seen = set(training_climates.get("climates") or card["training"]["config"]["env"]["climates"])
    if seen & set(climates):
        raise SystemExit(f"climates {sorted(seen & set(climates))} were seen in training; pick held-out ones")
    jobs = [(card["facility"], c, p, args.days, args.start_day) for c in climates
            for p in ("oracle", args.policy, "legacy", "rule-based")]  # slowest first
    start = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        rows = list(pool.map(run_one, jobs))
    table = summarize(rows, args.policy, climates)
    report = {
        "benchmark": "policy bundle vs legacy, rule-based and oracle on held-out climates",
        "command": f"python benchmarks/bench_policy.py --policy {args.policy} --days {args.days:g} "
                   f"--start-day {args.start_day:g} --climates {' '.join(climates)}",
        "machine": machine_info(),
        "policy": {"bundle": args.policy, "name": card["name"], "sha256": card["onnx"]["sha256"],
                   "facility": card["facility"], "training_climates": sorted(seen)},
        "days": args.days,
        "wall_s": time.perf_counter() - start,
        "summary": table,
        "results": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print("| climate | policy | facility MWh | cooling (facility − IT) MWh | PUE | K·h > 27 °C | max inlet °C |")
    print("|---|---|---|---|---|---|---|")
    for t in table:
        for label, name in (("legacy", "legacy"), ("rule_based", "rule-based"), ("policy", card["name"]),
                            ("oracle", "oracle")):
            r = t[label]
            print(f"| {t['climate']} | {name} | {r['facility_energy_mwh']:.0f} | {r['overhead_energy_mwh']:.0f} | "
                  f"{r['pue']:.4f} | {r['degree_hours_above_27c']:.2f} | {r['inlet_temp_max_c']:.2f} |")
    print()
    print("| climate | cooling saved vs legacy | cooling saved vs rule-based | facility saved vs rule-based | "
          "cooling saved vs oracle | oracle's cooling saving vs rule-based | share of oracle's saving captured |")
    print("|---|---|---|---|---|---|---|")
    for t in table:
        print(f"| {t['climate']} | {t['policy_vs_legacy']['cooling_saving_pct']:+.1f} % | "
              f"{t['policy_vs_rule_based']['cooling_saving_pct']:+.2f} % | "
              f"{t['policy_vs_rule_based']['facility_saving_pct']:+.2f} % | "
              f"{t['policy_vs_oracle']['cooling_saving_pct']:+.2f} % | "
              f"{t['oracle_vs_rule_based']['cooling_saving_pct']:+.2f} % | "
              f"{t['share_of_oracle_saving_captured_pct']:.0f} % |")


if __name__ == "__main__":
    main()
