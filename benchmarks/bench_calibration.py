"""Calibration: wall time for a month of 5-minute history, and the fit figures of issue 16.

Usage: ``python benchmarks/bench_calibration.py [--out FILE]``. Writes JSON with the machine facts.

Two calibrations of modern-hall (all twenty parameters, default settings, the last week held out):

1. **the example site history** (``examples/site-history/``: a month of BMS trends with °F columns, per-pod
   W meters, jittered timestamps, gaps, duplicates, a stuck point and a biased sensor) read through its
   column map: the wall time a user sees, from reading the export to the fitted facility, against the
   target of 5 minutes on 2 cores; the held-out figures and the hidden parameters against the fitted ones;
2. **the acceptance hall** (``ACCEPTANCE_HALL``, the slow tests' hidden hall): four July weeks in Chicago
   under rule-based control with 0.05 K / 0.2 % sensor noise; held-out week under the history's control and
   under legacy control (control the history never saw), calibrated against the draft, Guideline 14 verdicts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "site-history"))
from machine import machine_info
from make_history import HIDDEN

from coolpilot.envs.calibration.history import read_bms_export
from coolpilot.envs.calibration.metrics import PointFit
from coolpilot.envs.calibration.synthetic import ACCEPTANCE_HALL, history_from_result, perturbed
from coolpilot.envs.config import load_facility
from coolpilot.envs.jsonsafe import json_safe
from coolpilot.envs.simulation import simulate
from coolpilot.envs.weather import load_climate
from coolpilot.evaluation.calibration import Calibration, FitSettings, assess, calibrate
from coolpilot.evaluation.policies import make_policy

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent / "examples" / "site-history"
KEY = ("non_it_power_kw", "cooling_power_kw", "inlet_temp_max_c", "chw_supply_temp_c", "chw_return_temp_c")


def _figures(cal: dict[str, PointFit], draft: dict[str, PointFit]) -> dict[str, Any]:
    out = {}
    for name in KEY:
        if name not in cal:
            continue
        c, d = cal[name], draft[name]
        out[name] = {
            "calibrated": c.as_dict(), "draft": d.as_dict(),
            "rmse_over_draft": None if not (c.rmse and d.rmse) else c.rmse / d.rmse,
            "cv_over_draft": None if not (c.cv_rmse_hourly_pct and d.cv_rmse_hourly_pct)
            else c.cv_rmse_hourly_pct / d.cv_rmse_hourly_pct,
        }
    return out


def _parameters(cal: Calibration, truth: dict[str, float]) -> list[dict[str, Any]]:
    rows = []
    for e in cal.estimates:
        true = truth.get(e.name, e.draft)
        rows.append({**e.as_dict(), "truth": true, "z": (e.value - true) / e.sd if e.sd > 0 else None})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(HERE / "results" / "calibration.json"))
    args = parser.parse_args()
    draft = load_facility("modern-hall")
    calibrate(history_from_result(simulate(draft, load_climate("chicago"), make_policy("legacy", draft), days=2.5,
                                           start_day=180.0)), draft, FitSettings(max_generations=1, popsize=4))
    # (the line above compiles the replay kernel once: its cached compilation is not part of a user's run)

    start = time.perf_counter()
    history = read_bms_export(EXAMPLE / "site-history.csv.gz", EXAMPLE / "column-map.yaml", draft)
    example = calibrate(history, draft, FitSettings())
    example_wall = time.perf_counter() - start

    truth = perturbed(draft, ACCEPTANCE_HALL)
    weather = load_climate("chicago")
    run = simulate(truth, weather, make_policy("rule-based", truth), days=28.0, start_day=180.0, seed=21)
    hist = history_from_result(run, 0.05, 0.002, seed=121)
    start = time.perf_counter()
    acc = calibrate(hist, draft, FitSettings())
    acc_wall = time.perf_counter() - start
    held_day = 180.0 + acc.split_step * hist.dt_s / 86400.0
    legacy_run = simulate(truth, weather, make_policy("legacy", truth), days=28.0 - (held_day - 180.0),
                          start_day=held_day, seed=22)
    legacy = history_from_result(legacy_run, 0.05, 0.002, seed=122)
    n_p = len(acc.space.params)
    legacy_cal, _ = assess(acc.calibrated, legacy, acc.names, n_p)
    legacy_draft, _ = assess(draft, legacy, acc.names, n_p)

    report = {
        "benchmark": "coolpilot calibrate: a month of 5-minute history, 20 parameters, last week held out",
        "command": "python benchmarks/bench_calibration.py",
        "machine": machine_info(("cma",)),
        "target_wall_s": 300.0,
        "example_site_history": {
            "history_days": history.days, "steps": history.n_steps, "wall_s": example_wall,
            "search": {"generations": example.search_log.generations, "replays": example.search_log.evaluations,
                       "search_wall_s": example.search_log.wall_s},
            "heldout": _figures(example.heldout_calibrated, example.heldout_draft),
            "not_identifiable": [e.name for e in example.estimates if not e.identifiable],
            "parameters": _parameters(example, HIDDEN),
        },
        "acceptance_hall": {
            "history_days": hist.days, "wall_s": acc_wall,
            "heldout_history_control": _figures(acc.heldout_calibrated, acc.heldout_draft),
            "heldout_legacy_control": _figures(legacy_cal, legacy_draft),
            "not_identifiable": [e.name for e in acc.estimates if not e.identifiable],
            "parameters": _parameters(acc, ACCEPTANCE_HALL),
        },
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(json_safe(report), indent=1, allow_nan=False) + "\n")
    for label, figures in (("example (history's control)", report["example_site_history"]["heldout"]),
                           ("acceptance, history's control", report["acceptance_hall"]["heldout_history_control"]),
                           ("acceptance, legacy control", report["acceptance_hall"]["heldout_legacy_control"])):
        non_it, inlet = figures["non_it_power_kw"], figures["inlet_temp_max_c"]
        c, d = non_it["calibrated"], non_it["draft"]
        print(f"{label}: non-IT CV(RMSE) {c['cv_rmse_hourly_pct']:.2f} % (draft {d['cv_rmse_hourly_pct']:.2f} %), "
              f"NMBE {c['nmbe_hourly_pct']:.2f} %, hottest inlet RMSE {inlet['calibrated']['rmse']:.3f} K "
              f"(draft {inlet['draft']['rmse']:.3f} K)")
    print(f"wall: example month {example_wall:.0f} s, acceptance month {acc_wall:.0f} s (target 300 s)")


if __name__ == "__main__":
    main()
