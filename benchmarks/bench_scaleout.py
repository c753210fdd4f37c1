"""What-if throughput in simulated facility-years per hour: 1 and 2 local workers, and Ray with 2 workers.

Usage: ``python benchmarks/bench_scaleout.py [--days 91]``. One scenario set (the eight
bundled climates, ``days`` each from 1 April; policies rule-based and the shipped bundle, no
oracle, so the number measures the fan-out and not one expensive policy) is run through
:func:`coolpilot.evaluation.whatif.run_whatif` three ways in this process: one worker, two local
worker processes, and a real Ray head on 127.0.0.1 with 2 CPUs (started and stopped here,
the head's start-up time reported apart). Results must be identical across the three; the
script fails otherwise. Writes ``benchmarks/results/scaleout.json`` with the machine facts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(REPO))
from machine import machine_info  # noqa: E402

CLIMATES = ("miami", "phoenix", "las-vegas", "sterling", "oklahoma-city", "chicago", "denver", "san-francisco")


def content(results: dict[str, Any]) -> str:
    """The results without what depends on how they were run."""
    return json.dumps({k: v for k, v in results.items() if k not in ("timing", "generated_at")}, sort_keys=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=float, default=91.0, help="simulated days per run (default 91)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "scaleout.json"))
    args = parser.parse_args()

    from tests.ray_head import local_ray_head, loopback_env

    os.environ.update(loopback_env())  # before Ray is imported
    from coolpilot.evaluation.scenarios import scenario_set_from_mapping
    from coolpilot.evaluation.whatif import run_whatif

    bundle = str(REPO / "models" / "modern-hall-ppo")

    def scenario_set(climates: tuple[str, ...], days: float) -> Any:
        return scenario_set_from_mapping({
            "title": "scale-out benchmark", "policies": ["rule-based", bundle], "baseline": "rule-based",
            "proposed": bundle, "scenarios": [{"name": c, "climate": c, "period": {"start_day": 90, "days": days}}
                                              for c in climates]}, "bench_scaleout")

    sc = scenario_set(CLIMATES, args.days)
    facility_years = len(CLIMATES) * 2 * args.days / 365.0
    run_whatif(scenario_set(CLIMATES[:1], 1.0), workers=1, progress=False)  # compile and cache the kernels

    rows: dict[str, dict[str, float]] = {}
    reference = None

    def timed(label: str, **kwargs: Any) -> None:
        nonlocal reference
        start = time.perf_counter()
        results = run_whatif(sc, progress=False, **kwargs)
        wall = time.perf_counter() - start
        if reference is None:
            reference = content(results)
        elif content(results) != reference:
            raise SystemExit(f"{label}: results differ from the one-worker run")
        rows[label] = {"wall_s": wall, "facility_years_per_hour": facility_years / wall * 3600.0}
        print(f"{label:<16} {wall:7.1f} s  {rows[label]['facility_years_per_hour']:8.1f} facility-years/h")

    timed("local, 1 worker", workers=1)
    timed("local, 2 workers", workers=2)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        with local_ray_head(Path(tmp), num_cpus=2) as address:
            head_s = time.perf_counter() - started
            timed("ray, 2 workers", ray_address=address)
    out = {
        "benchmark": "what-if throughput: 1 and 2 local workers, Ray head on 127.0.0.1 with 2 CPUs",
        "command": "python benchmarks/bench_scaleout.py" + (f" --days {args.days:g}" if args.days != 91 else ""),
        "machine": {**machine_info(("ray",)), "load_avg_1min": os.getloadavg()[0]},
        "runs": len(CLIMATES) * 2, "facility_years": facility_years, "ray_head_start_s": head_s,
        "results_identical": True, "modes": rows,
    }
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
