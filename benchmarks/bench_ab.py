"""Throughput of this checkout against another revision, interleaved on the same machine at the same time.

Usage::

    git worktree add /tmp/baseline <revision>
    python benchmarks/bench_ab.py --baseline /tmp/baseline [--rounds 3] [--out FILE]

A shared VM's speed drifts over a day (this project's 2-core VM measured the same code 1.5× apart
hours apart), so an absolute steps/s figure from a later run cannot show whether a change slowed the
env. This runs the single env (modern-hall, random actions, resets included) and the vector env
(modern-hall, N = 4,096) of both trees in alternating subprocesses, ``--rounds`` times, and reports
each tree's median and the ratio, so a regression shows as a ratio below 1 whatever the host does.
Writes JSON with the machine facts (``benchmarks/results/ab.json``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info

ROOT = Path(__file__).resolve().parent.parent

_PROBE = r'''
import json, sys, time
import numpy as np
root = sys.argv[1]
sys.path.insert(0, root)
import coolpilot.envs.env as envmod
assert envmod.__file__.startswith(root), envmod.__file__
from coolpilot.envs.env import DataCenterEnv
from coolpilot.envs.vector import DataCenterVectorEnv
env = DataCenterEnv(facility="modern-hall", climate="chicago", episode_days=1)
env.reset(seed=0)
env.action_space.seed(0)
actions = np.array([env.action_space.sample() for _ in range(1000)])
def run(n):
    for i in range(n):
        _, _, _, truncated, _ = env.step(actions[i % 1000])
        if truncated:
            env.reset()
run(300)
started = time.perf_counter()
run(20000)
single = 20000 / (time.perf_counter() - started)
vec = DataCenterVectorEnv(4096, facility="modern-hall", climate="chicago", episode_days=1)
vec.reset(seed=0)
batch = np.random.default_rng(0).uniform(-1, 1, (4096, len(vec.contract.setpoints))).astype(np.float32)
for _ in range(5):
    vec.step(batch)
started = time.perf_counter()
for _ in range(60):
    vec.step(batch)
vector = 4096 * 60 / (time.perf_counter() - started)
print(json.dumps({"single_steps_per_s": single, "vector_facility_steps_per_s": vector}))
'''


def _probe(python: str, root: Path) -> dict[str, float]:
    out = subprocess.run([python, "-c", _PROBE, str(root)], capture_output=True, text=True, check=True, timeout=600)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="a checkout of the revision to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "ab.json"))
    args = parser.parse_args()
    baseline = Path(args.baseline).resolve()
    if not (baseline / "coolpilot" / "envs").exists():
        raise SystemExit(f"--baseline {baseline}: not a coolpilot checkout (no coolpilot/envs)")
    runs: dict[str, list[dict[str, float]]] = {"baseline": [], "this": []}
    for _ in range(args.rounds):
        runs["baseline"].append(_probe(sys.executable, baseline))
        runs["this"].append(_probe(sys.executable, ROOT))
    summary = {}
    for key in ("single_steps_per_s", "vector_facility_steps_per_s"):
        base = statistics.median(r[key] for r in runs["baseline"])
        this = statistics.median(r[key] for r in runs["this"])
        summary[key] = {"baseline_median": base, "this_median": this, "ratio": this / base}
    revision = subprocess.run(["git", "-C", str(baseline), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=False).stdout.strip()
    out = {"benchmark": "interleaved A/B of env throughput: this checkout against a baseline revision",
           "command": f"python benchmarks/bench_ab.py --baseline <worktree of {revision}> --rounds {args.rounds}",
           "baseline_revision": revision, "machine": machine_info(), "runs": runs, "summary": summary}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    for key, row in summary.items():
        print(f"{key:<30} baseline {row['baseline_median']:>12,.0f}  this {row['this_median']:>12,.0f}  "
              f"ratio {row['ratio']:.3f}")


if __name__ == "__main__":
    main()
