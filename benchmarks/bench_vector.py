"""Vector-env throughput: facility-steps per second for N = 1, 16, 256, 4096.

Usage: ``python benchmarks/bench_vector.py [--seconds 5] [--out FILE]``. One-day
episodes with autoreset (resets and their warm-up are in the time), random actions,
``modern-hall`` in Chicago. Writes JSON with the machine facts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info

from coolpilot.envs.vector import DataCenterVectorEnv


def bench(n: int, seconds: float) -> dict[str, float]:
    """Facility-steps/s of an ``n``-facility vector env over about ``seconds`` of stepping."""
    env = DataCenterVectorEnv(n, facility="modern-hall", climate="chicago", episode_days=1)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, size=(16, *env.action_space.shape)).astype(np.float32)
    for i in range(5):
        env.step(actions[i % 16])
    steps = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or steps < 300:
        env.step(actions[steps % 16])
        steps += 1
    elapsed = time.perf_counter() - start
    return {"num_envs": n, "steps": steps, "seconds": elapsed, "facility_steps_per_s": n * steps / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "env_vector.json"))
    args = parser.parse_args()
    results = [bench(n, args.seconds) for n in (1, 16, 256, 4096)]
    report = {
        "benchmark": "vector env facility-steps/s, 1-day episodes with autoreset, random actions",
        "command": f"python benchmarks/bench_vector.py --seconds {args.seconds:g}",
        "machine": machine_info(),
        "results": results,
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    for r in results:
        print(f"N={r['num_envs']:>5}  {r['facility_steps_per_s']:>12,.0f} facility-steps/s")


if __name__ == "__main__":
    main()
