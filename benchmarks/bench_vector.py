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


def bench(n: int, seconds: float, facility: str = "modern-hall") -> dict[str, float]:
    """Facility-steps/s of an ``n``-facility vector env of ``facility`` over about ``seconds`` of stepping."""
    env = DataCenterVectorEnv(n, facility=facility, climate="chicago", episode_days=1)
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
    parser.add_argument("--facility", default="modern-hall", help="preset (ai-factory: the liquid-cooled hall)")
    parser.add_argument("--out", default=None,
                        help="JSON path (default results/env_vector.json, or env_vector_<facility>.json)")
    args = parser.parse_args()
    name = "env_vector.json" if args.facility == "modern-hall" else f"env_vector_{args.facility}.json"
    out = Path(args.out) if args.out else Path(__file__).parent / "results" / name
    results = [bench(n, args.seconds, args.facility) for n in (1, 16, 256, 4096)]
    report = {
        "benchmark": f"vector env facility-steps/s, {args.facility}, 1-day episodes with autoreset, random actions",
        "command": f"python benchmarks/bench_vector.py --seconds {args.seconds:g} --facility {args.facility}",
        "machine": machine_info(),
        "results": results,
    }
    out.write_text(json.dumps(report, indent=2) + "\n")
    for r in results:
        print(f"N={r['num_envs']:>5}  {r['facility_steps_per_s']:>12,.0f} facility-steps/s")


if __name__ == "__main__":
    main()
