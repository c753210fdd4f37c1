"""What each plant lever buys: rule-based control with the levers added one at a time.

Usage: ``python benchmarks/bench_levers.py [--days 365] [--climates las-vegas oklahoma-city san-francisco]
[--out benchmarks/results/levers.json]``.

For each facility and climate it runs legacy control (fixed setpoints, every lever on the
plant's own sequence), then rule-based control commanding the core four setpoints only, then
each plant lever added in turn in contract order (chiller staging, tower cells, DP reset,
condenser flow, economizer enable), and reports facility energy, overhead energy (facility
minus IT), the saving of each step over the one before and over core-only rule-based, chiller
starts and setpoint changes per day, the peak 15-minute facility power and the hottest inlet.
The planner's (oracle's) column of the ablation is ``benchmarks/bench_oracle.py``'s.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info

from coolpilot.controller.policies import LegacyPolicy, Policy, RuleBasedPolicy, rule_based_settings
from coolpilot.envs.config import load_facility
from coolpilot.envs.simulation import SimResult, simulate
from coolpilot.envs.weather import load_climate


def summarize(result: SimResult, deadbands: dict[str, float]) -> dict[str, float]:
    """Energy (MWh), starts and setpoint changes per day, peak 15-minute power (kW), hottest inlet (°C)."""
    s = result.series
    h = result.dt_s / 3600.0
    days = result.n_steps * result.dt_s / 86400.0
    facility = float(s["facility_kw"].sum() * h / 1000.0)
    it = float(s["it_power_kw"].sum() * h / 1000.0)
    changes = 0
    for name, deadband in deadbands.items():  # the contract's deadbands, as the what-if KPIs count
        changes += int((np.abs(np.diff(s[f"setpoint_{name}"])) > deadband).sum())
    window = max(round(900.0 / result.dt_s), 1)
    peak = float(np.convolve(s["facility_kw"], np.ones(window) / window, mode="valid").max())
    return {
        "facility_mwh": facility,
        "overhead_mwh": facility - it,
        "chiller_starts_per_day": float(s["chiller_starts"].sum() / days),
        "setpoint_changes_per_day": changes / days,
        "peak_15min_kw": peak,
        "max_inlet_c": float(s["inlet_temp_max_c"].max()),
    }


def run(facility: str, climate: str, days: float, start_day: float) -> dict[str, object]:
    """The ablation for one facility and climate."""
    cfg = load_facility(facility)
    weather = load_climate(climate)
    deadbands = {sp.name: sp.deadband for sp in cfg.contract.setpoints}
    settings = rule_based_settings(cfg)
    variants: list[tuple[str, Policy]] = [("legacy", LegacyPolicy())]
    for i in range(len(settings.levers) + 1):
        levers = settings.levers[:i]
        label = "rule-based core" if i == 0 else f"+ {levers[-1]}"
        variants.append((label, RuleBasedPolicy(dataclasses.replace(settings, levers=levers))))
    figures: list[dict[str, float]] = []
    for _, policy in variants:
        t0 = time.perf_counter()
        result = simulate(cfg, weather, policy, days=days, start_day=start_day)
        figures.append({**summarize(result, deadbands), "seconds": time.perf_counter() - t0})
    core = figures[1]["overhead_mwh"]
    for before, row in itertools.pairwise(figures[1:]):
        row["saved_vs_previous_mwh"] = before["overhead_mwh"] - row["overhead_mwh"]
    for row in figures:
        row["saved_vs_core_pct_of_overhead"] = 100.0 * (core - row["overhead_mwh"]) / core
    rows = [{"variant": label, **row} for (label, _), row in zip(variants, figures, strict=True)]
    return {"facility": facility, "climate": climate, "days": days, "start_day": start_day, "rows": rows}


def main() -> None:
    """Run the ablation and write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facilities", nargs="+", default=["modern-hall", "legacy-hall"])
    parser.add_argument("--climates", nargs="+", default=["las-vegas", "oklahoma-city", "san-francisco"])
    parser.add_argument("--days", type=float, default=365.0)
    parser.add_argument("--start-day", type=float, default=0.0)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "levers.json")
    args = parser.parse_args()
    results = []
    for facility in args.facilities:
        for climate in args.climates:
            res = run(facility, climate, args.days, args.start_day)
            results.append(res)
            for row in res["rows"]:  # type: ignore[attr-defined]
                print(f"{facility:12s} {climate:14s} {row['variant']:30s} overhead {row['overhead_mwh']:9.1f} MWh "
                      f"({row['saved_vs_core_pct_of_overhead']:+6.2f} %)  starts/day "
                      f"{row['chiller_starts_per_day']:5.2f}  changes/day {row['setpoint_changes_per_day']:6.1f}  "
                      f"peak {row['peak_15min_kw']:7.1f} kW  max inlet {row['max_inlet_c']:5.2f} °C")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/bench_levers.py " + " ".join(sys.argv[1:])
    args.out.write_text(json.dumps({"machine": machine_info(), "command": command.strip(), "results": results},
                                   indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
