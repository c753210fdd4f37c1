"""PPO training throughput: the native vector env vs SubprocVecEnv of single envs.

Usage: ``python benchmarks/bench_training.py [--n-envs 8] [--timesteps 16384]``. Same PPO
settings for both (MlpPolicy, n_steps 256, batch 256, 4 epochs, CPU); env steps per
second over the whole ``learn`` call. Writes JSON with the machine facts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gymnasium.vector import AutoresetMode
from machine import machine_info
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import SubprocVecEnv, VecEnv

from coolpilot.envs.env import DataCenterEnv
from coolpilot.envs.vector import DataCenterVectorEnv
from coolpilot.training.vec_env import SB3VecEnv


def make_single() -> DataCenterEnv:
    """One single-facility env (top-level so subprocesses can build it)."""
    return DataCenterEnv(facility="modern-hall", climate="chicago", episode_days=1)


def learn_rate(env: VecEnv, timesteps: int) -> dict[str, float]:
    """Env steps per second of PPO.learn on ``env``."""
    model = PPO("MlpPolicy", env, n_steps=256, batch_size=256, n_epochs=4, seed=0, device="cpu", verbose=0)
    model.learn(total_timesteps=1024)  # warm up kernels and workers
    start = time.perf_counter()
    model.learn(total_timesteps=timesteps, reset_num_timesteps=False)
    elapsed = time.perf_counter() - start
    env.close()
    return {"timesteps": timesteps, "seconds": elapsed, "env_steps_per_s": timesteps / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-envs", type=int, default=8)
    parser.add_argument("--timesteps", type=int, default=16384)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "training_throughput.json"))
    args = parser.parse_args()
    native = SB3VecEnv(DataCenterVectorEnv(args.n_envs, facility="modern-hall", climate="chicago", episode_days=1,
                                           autoreset_mode=AutoresetMode.SAME_STEP))
    results = {"native_vector_env": learn_rate(native, args.timesteps),
               "subproc_vec_env": learn_rate(SubprocVecEnv([make_single] * args.n_envs), args.timesteps)}
    ratio = results["native_vector_env"]["env_steps_per_s"] / results["subproc_vec_env"]["env_steps_per_s"]
    report = {
        "benchmark": "PPO learn env-steps/s, native vector env vs SubprocVecEnv, equal n_envs",
        "command": f"python benchmarks/bench_training.py --n-envs {args.n_envs} --timesteps {args.timesteps}",
        "machine": machine_info(),
        "n_envs": args.n_envs,
        "results": results,
        "speedup": ratio,
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    for name, r in results.items():
        print(f"{name:<18} {r['env_steps_per_s']:>8,.0f} env-steps/s")
    print(f"speedup {ratio:.2f}x")


if __name__ == "__main__":
    main()
