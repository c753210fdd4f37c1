"""Safe means more cooling from here: recovery, chiller energy and free cooling through winter inlet excursions.

Usage: ``python benchmarks/bench_safe_cooling.py [--out benchmarks/results/safe_cooling.json]``.

Runs the closed-loop excursions of ``tests/controller/excursion.py`` (the CI scenario and
the longer ones: modern-hall, Chicago and Denver winter days, the waterside economizer
carrying the whole load when a CRAH unit trips and a batch job drives every pod to full
load) under two thermal-limit rules:

- ``safe_action``: the envelope as it is: every setpoint the more cooling of its configured
  safe value and the plant's current state (condenser water held where the towers are);
- ``absolute_safe_setpoints``: the envelope before issue 13, as the baseline: the configured
  safe setpoints written as they are (condenser water 29.4 °C).

Per scenario and rule, from the fault's onset to the end of the run: minutes of simulated
time with the hottest inlet at or above the limit (the recovery time), the peak inlet,
chiller electric energy (kWh), the economizer's share of the heat the plant removed (energy
weighted, and its lowest value in any step with load), chillers running at most and the
highest condenser water setpoint written. Writes JSON with the machine facts and the command.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(REPO))
from machine import machine_info  # noqa: E402

from tests.controller.excursion import CI_EXCURSION, LONGER_EXCURSIONS, RULES, Excursion, run_excursion  # noqa: E402

DEFINITIONS = {
    "minutes_above_limit": "simulated minutes with the hottest inlet at or above limit_c (27 °C), fault onset to end",
    "peak_inlet_c": "hottest server inlet reached (°C)",
    "chiller_energy_kwh": "chiller electric energy from the fault's onset to the end (kWh)",
    "economizer_share": "economizer heat / (economizer + chiller heat) removed, energy-weighted (1)",
    "min_economizer_share": "lowest per-step economizer share while the plant removes heat; 0 = free cooling ended",
    "max_chillers_running": "most chillers running at once",
    "max_condenser_setpoint_c": "highest condenser water setpoint written (°C)",
    "limit_actions": "control periods (300 s) in which the thermal-limit action ran",
}


Summary = dict[str, float | int | str]


def compare(excursion: Excursion) -> tuple[dict[str, object], Summary, Summary]:
    """Both rules on one excursion: the report row, and the two summaries (safe action, baseline)."""
    runs = {rule: run_excursion(excursion, rule) for rule in RULES}
    new, old = runs["safe_action"].summary(), runs["absolute_safe_setpoints"].summary()
    row = {
        "ci": excursion == CI_EXCURSION,
        "scenario": excursion.label,
        "excursion": dataclasses.asdict(excursion),
        "settled_economizer_share": round(runs["safe_action"].settled_economizer_share, 4),
        "safe_action": new,
        "absolute_safe_setpoints": old,
        "recovery_minutes_saved": float(old["minutes_above_limit"]) - float(new["minutes_above_limit"]),
        "chiller_energy_saved_kwh": round(float(old["chiller_energy_kwh"]) - float(new["chiller_energy_kwh"]), 3),
    }
    return row, new, old


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "safe_cooling.json"))
    args = parser.parse_args()
    start = time.perf_counter()
    rows = []
    for excursion in (CI_EXCURSION, *LONGER_EXCURSIONS):
        row, new, old = compare(excursion)
        rows.append(row)
        print(f"{excursion.label}\n"
              f"  above limit {new['minutes_above_limit']:g} min (baseline {old['minutes_above_limit']:g}), "
              f"chillers {new['chiller_energy_kwh']:.1f} kWh (baseline {old['chiller_energy_kwh']:.1f}), "
              f"economizer share {new['economizer_share']:.2f} (baseline {old['economizer_share']:.2f}), "
              f"lowest {new['min_economizer_share']:.2f} (baseline {old['min_economizer_share']:.2f})")
    report = {
        "benchmark": "thermal-limit action through winter inlet excursions: safe action vs absolute safe setpoints",
        "command": "python benchmarks/bench_safe_cooling.py",
        "machine": machine_info(),
        "definitions": DEFINITIONS,
        "scenarios": rows,
        "wall_s": round(time.perf_counter() - start, 3),
    }
    Path(args.out).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")

if __name__ == "__main__":
    main()
