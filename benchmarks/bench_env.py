"""Single-env throughput: gymnasium steps per second with a random policy.

Usage: ``python benchmarks/bench_env.py [--steps N] [--out FILE]``. Writes JSON with the
machine facts; the README quotes it. Episodes are one day (288 steps); resets (with their
one-hour warm-up) are included in the time, as in training.
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

from coolpilot.envs.env import DataCenterEnv


def bench_single(preset: str, steps: int, seed: int = 0) -> dict[str, float]:
    """Steps/s of ``DataCenterEnv`` for one preset under uniformly random actions."""
    env = DataCenterEnv(facility=preset, climate="chicago", episode_days=1)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    actions = np.array([env.action_space.sample() for _ in range(1000)])
    for i in range(200):  # warm caches and the compiled kernels
        env.step(actions[i % 1000])
    env.reset(seed=seed)
    start = time.perf_counter()
    for i in range(steps):
        _, _, terminated, truncated, _ = env.step(actions[i % 1000])
        if terminated or truncated:
            env.reset()
    elapsed = time.perf_counter() - start
    return {"steps": steps, "seconds": elapsed, "steps_per_s": steps / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--presets", nargs="+", default=["legacy-hall", "modern-hall", "campus"],
                        help="facilities to measure (ai-factory: the liquid-cooled hall)")
    parser.add_argument("--out", default=None,
                        help="JSON path (default results/env_single.json for the default presets, else "
                             "env_single_<presets>.json)")
    args = parser.parse_args()
    default = args.presets == ["legacy-hall", "modern-hall", "campus"]
    out = Path(args.out) if args.out else Path(__file__).parent / "results" / (
        "env_single.json" if default else f"env_single_{'_'.join(args.presets)}.json")
    results = {preset: bench_single(preset, args.steps) for preset in args.presets}
    report = {
        "benchmark": "single-env steps/s, random policy, 5-minute step, 1-day episodes with resets",
        "command": f"python benchmarks/bench_env.py --steps {args.steps}"
                   + ("" if default else f" --presets {' '.join(args.presets)}"),
        "machine": machine_info(),
        "results": results,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    for preset, r in results.items():
        print(f"{preset:<12} {r['steps_per_s']:>10,.0f} steps/s")


if __name__ == "__main__":
    main()
