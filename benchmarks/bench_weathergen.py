"""Validation of the weather generator on the bundled TMY3 cities: the real year against synthetic twins.

Usage: ``python benchmarks/bench_weathergen.py [--seeds 3] [--workers 2] [--step-s 300] [--out FILE]``.

For each bundled NREL TMY3 city, :func:`coolpilot.envs.weathergen.synthetic_twin` generates
years from the city's own monthly normals (means only, no extremes) with seeds 0..N−1; the
modern hall runs a full year under rule-based control on the real year and on each twin, and
the annual cooling energy and free-cooling hours (waterside economizer carrying load) are
compared. Tolerances (the README states them): cooling energy within 3 %, free-cooling hours
within 10 %, each judged on the mean over the seeds. Writes JSON with the machine facts and
prints one line per city.
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
from coolpilot.envs.weather import CLIMATES, load_climate
from coolpilot.envs.weathergen import synthetic_twin
from coolpilot.evaluation.policies import make_policy

FACILITY = "modern-hall"
POLICY = "rule-based"
COOLING_TOLERANCE = 0.03
"""Largest relative difference of the twins' mean annual cooling energy from the real year's (1)."""
FREE_COOLING_TOLERANCE = 0.10
"""Largest relative difference of the twins' mean free-cooling hours from the real year's (1)."""


def run_one(job: tuple[str, int | None, float]) -> dict[str, Any]:
    """KPIs of one year: the real TMY3 year (seed None) or the twin of that seed."""
    city, seed, step_s = job
    cfg = load_facility(FACILITY)
    weather = load_climate(city) if seed is None else synthetic_twin(load_climate(city), seed=seed)
    started = time.perf_counter()
    kpis = compute_kpis(simulate(cfg, weather, make_policy(POLICY, cfg), days=365.0, dt_s=step_s))
    return {"city": city, "seed": seed, "cooling_energy_mwh": kpis.cooling_energy_mwh,
            "free_cooling_hours": kpis.free_cooling_hours, "pue": kpis.pue,
            "wet_bulb_mean_c": float(weather.wet_bulb_c.mean()), "wall_s": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--step-s", type=float, default=300.0)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "weathergen_validation.json"))
    args = parser.parse_args()
    seeds: list[int | None] = [None, *range(args.seeds)]
    jobs = [(city, seed, args.step_s) for city in CLIMATES for seed in seeds]
    started = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        rows = list(pool.map(run_one, jobs))
    cities: list[dict[str, Any]] = []
    for city in CLIMATES:
        real = next(r for r in rows if r["city"] == city and r["seed"] is None)
        twins = [r for r in rows if r["city"] == city and r["seed"] is not None]

        def rel(key: str, twin: dict[str, Any], reference: dict[str, Any] = real) -> float:
            return float(twin[key]) / float(reference[key]) - 1.0

        cool = [rel("cooling_energy_mwh", t) for t in twins]
        free = [rel("free_cooling_hours", t) for t in twins]
        mean_cool, mean_free = sum(cool) / len(cool), sum(free) / len(free)
        cities.append({
            "city": city, "real": real, "twins": twins,
            "cooling_energy_diff_pct": {"mean": 100 * mean_cool, "min": 100 * min(cool), "max": 100 * max(cool)},
            "free_cooling_hours_diff_pct": {"mean": 100 * mean_free, "min": 100 * min(free), "max": 100 * max(free)},
            "within_tolerance": {"cooling_energy": abs(mean_cool) <= COOLING_TOLERANCE,
                                 "free_cooling_hours": abs(mean_free) <= FREE_COOLING_TOLERANCE},
        })
    report = {
        "benchmark": "weather generator validation: TMY3 year vs synthetic twins from its own monthly normals, "
                     f"{FACILITY} under {POLICY}, one year each",
        "command": f"python benchmarks/bench_weathergen.py --seeds {args.seeds} --workers {args.workers} "
                   f"--step-s {args.step_s:g}",
        "tolerances": {"cooling_energy_pct": 100 * COOLING_TOLERANCE,
                       "free_cooling_hours_pct": 100 * FREE_COOLING_TOLERANCE, "judged_on": "mean over the seeds"},
        "machine": machine_info(),
        "wall_s": time.perf_counter() - started,
        "cities": cities,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'city':<14} {'cooling MWh real':>16} {'twins Δ% mean [min, max]':>26} "
          f"{'free-cooling h real':>20} {'twins Δ% mean [min, max]':>26}")
    for c in cities:
        ce, fh = c["cooling_energy_diff_pct"], c["free_cooling_hours_diff_pct"]
        ok = c["within_tolerance"]
        cool_ok = "ok" if ok["cooling_energy"] else "MISS"
        free_ok = "ok" if ok["free_cooling_hours"] else "MISS"
        print(f"{c['city']:<14} {c['real']['cooling_energy_mwh']:>16.1f} "
              f"{ce['mean']:+8.1f} [{ce['min']:+5.1f}, {ce['max']:+5.1f}] {cool_ok:>4} "
              f"{c['real']['free_cooling_hours']:>20.0f} "
              f"{fh['mean']:+8.1f} [{fh['min']:+5.1f}, {fh['max']:+5.1f}] {free_ok:>4}")


if __name__ == "__main__":
    main()
