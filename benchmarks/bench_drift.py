"""The drift monitor: how fast it flags a 20 % chiller COP loss, and how often it cries wolf on a healthy plant.

Usage: ``nice -n 10 python benchmarks/bench_drift.py [--seeds 3] [--out benchmarks/results/drift.json]``.

Runs the controller service in lockstep with the simulated ``modern-hall`` plant in plant time
(``tests/controller/twin_loop.py``: the service as ``coolpilot serve`` runs it, in active mode with
the shipped ``modern-hall-ppo`` bundle, its site file's ``drift`` section at its defaults, the
calibrated twin being the plant's own facility file):

- **false alarms**: a healthy plant over a simulated week (2,016 cycles of 300 s) per climate and
  seed (the seed draws the IT load's noise); drift events per simulated week;
- **detection delay**: after a healthy day, every chiller's reference COP drops 20 % (the DOE-2 EIR
  curves' scale) at a given hour; cycles from the fault to the first drift event (any watched
  point), at four hours of the day per climate. Where chillers are off (free cooling) no
  sensor sees their COP: the delay then includes the wait for them to run.

Climates: Phoenix in July (chillers carry the load all day) and Chicago in mid-April (the waterside
economizer carries part of it, chillers stage on and off). Writes JSON with the machine facts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(REPO))
from machine import machine_info  # noqa: E402

from coolpilot.controller.drift import DEFAULT_POINTS, DriftSettings  # noqa: E402
from tests.controller.twin_loop import detection_delay, drift_events, make_loop  # noqa: E402

CYCLES_PER_WEEK = 7 * 288
CLIMATES = {"phoenix": 190.0, "chicago": 105.0}
"""Climate -> day of year the runs start (00:00 local standard time)."""
FAULT_HOURS = (2.0, 8.0, 14.0, 20.0)
"""Hours of the second day at which the COP drops."""
MAX_DELAY_CYCLES = 2 * 288
SITE: dict[str, Any] = {"model": "modern-hall-ppo", "mode": "active", "drift": {}}


def false_alarms(climate: str, start_day: float, seed: int) -> dict[str, Any]:
    """A healthy week: the drift events recorded."""
    with tempfile.TemporaryDirectory() as tmp:
        loop = make_loop(Path(tmp), climate=climate, start_day=start_day, seed=seed, **SITE)
        try:
            outcomes = loop.run(CYCLES_PER_WEEK)
            status = loop.service.snapshot.drift
            assert status is not None
            events = drift_events(outcomes)
            worst: dict[str, dict[str, float]] = {}
            for o in outcomes:
                for p in (o.drift.points if o.drift is not None else ()):
                    if p.state == "warming_up" or p.cv_rmse_pct is None or p.nmbe_pct is None:
                        continue
                    w = worst.setdefault(p.name, {"cv_rmse_pct": 0.0, "abs_nmbe_pct": 0.0})
                    w["cv_rmse_pct"] = round(max(w["cv_rmse_pct"], p.cv_rmse_pct), 3)
                    w["abs_nmbe_pct"] = round(max(w["abs_nmbe_pct"], abs(p.nmbe_pct)), 3)
            return {"climate": climate, "start_day": start_day, "seed": seed, "cycles": len(outcomes),
                    "events": [{"cycle": c, "point": p} for c, p in events],
                    "twin_errors": status.twin_errors, "worst_rolling_figures": worst}
        finally:
            loop.close()


def delay(climate: str, start_day: float, hour: float) -> dict[str, Any]:
    """Cycles from a 20 % COP loss at ``hour`` of the second day to the first drift event."""
    healthy = 288 + round(hour * 12)
    with tempfile.TemporaryDirectory() as tmp:
        cycles, point, alarms = detection_delay(Path(tmp), climate=climate, start_day=start_day,
                                                healthy_cycles=healthy, max_cycles=MAX_DELAY_CYCLES, **SITE)
    return {"climate": climate, "start_day": start_day, "fault_hour": hour, "delay_cycles": cycles,
            "delay_min": None if cycles is None else cycles * 5, "first_point": point,
            "false_alarms_before": alarms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=3, help="seeds of the healthy weeks per climate")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "drift.json"))
    args = parser.parse_args()
    start = time.perf_counter()
    weeks: list[dict[str, Any]] = []
    for climate, day in CLIMATES.items():
        for seed in range(args.seeds):
            row = false_alarms(climate, day, seed)
            weeks.append(row)
            print(f"healthy week {climate} seed {seed}: {len(row['events'])} drift events")
    delays: list[dict[str, Any]] = []
    for climate, day in CLIMATES.items():
        for hour in FAULT_HOURS:
            row = delay(climate, day, hour)
            delays.append(row)
            print(f"COP -20 % {climate} at {hour:g} h: flagged after {row['delay_cycles']} cycles "
                  f"({row['first_point']})")
    flagged = [int(r["delay_cycles"]) for r in delays if r["delay_cycles"] is not None]
    total_events = sum(len(w["events"]) for w in weeks)
    result = {
        "benchmark": "drift",
        "command": f"nice -n 10 .venv/bin/python benchmarks/bench_drift.py --seeds {args.seeds}",
        "settings": DriftSettings().model_dump(),
        "default_thresholds_pct": {n: t.model_dump() for n, t in DEFAULT_POINTS.items()},
        "site": SITE,
        "summary": {
            "healthy_weeks": len(weeks),
            "false_alarms_per_week": total_events / len(weeks),
            "weeks_with_a_false_alarm": sum(1 for w in weeks if w["events"]),
            "faults": len(delays),
            "faults_flagged": len(flagged),
            "delay_cycles_median": statistics.median(flagged) if flagged else None,
            "delay_cycles_max": max(flagged) if flagged else None,
            "cycle_s": 300,
        },
        "healthy_weeks": weeks,
        "cop_loss_20pct": delays,
        "wall_s": round(time.perf_counter() - start, 1),
        "machine": machine_info(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["summary"], indent=2))


if __name__ == "__main__":
    main()
