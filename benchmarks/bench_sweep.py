"""Training env-steps/s on this machine's CPU (and GPU when one exists), and sweep overhead local vs Ray.

Usage: ``python benchmarks/bench_sweep.py [--rollouts 2] [--repeats 3] [--torch-threads N] [--ray ADDRESS]
[--skip-training] [--skip-sweep]``.

1. **Training throughput** of the shipped recipe (``modern-hall-ppo.yaml``) and of its GPU
   sizing (``modern-hall-ppo-gpu.yaml``) on every device torch sees: PPO ``learn`` over
   ``--rollouts`` rollouts after a one-rollout warm-up (fastest of ``--repeats``), env steps
   per second, split into rollout collection (simulation + policy inference) and the update
   (gradient epochs); beside it the simulator alone (the same vector env, VecNormalize and
   residual wrapper, random actions) at the same ``num_envs``. The machine is shared: the
   load average at the start is recorded.
2. **Sweep overhead**: ``training/configs/sweep-tiny.yaml`` (4 trials, 2 at a time) run by
   ``run_sweep`` in local processes and on Ray; overhead = sweep wall time − (sum of the
   trials' own wall times ÷ 2 workers); plus 40 no-op tasks through the executor on each
   backend (ms per task). Ray: ``--ray ADDRESS``, or a head started on 127.0.0.1 for the run
   (its start-up time reported apart).

Writes ``benchmarks/results/sweep.json`` with the machine facts and the command.
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

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from machine import machine_info

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "training" / "configs"


def noop(x: int) -> int:
    """A task that does nothing (executor overhead)."""
    return x


def _timed(model: Any, name: str, acc: dict[str, float]) -> None:
    """Wrap ``model.<name>`` to add its wall time (s) to ``acc[name]``."""
    inner = getattr(model, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            acc[name] += time.perf_counter() - start

    setattr(model, name, wrapper)


def training_rate(config: str, device: str, rollouts: int, repeats: int, torch_threads: int) -> dict[str, Any]:
    """PPO learn env-steps/s (best of ``repeats``), its rollout/update split, and the simulator alone."""
    import torch as th

    from coolpilot.training.config import load_train_config
    from coolpilot.training.train import make_env, make_model

    cfg = load_train_config(CONFIGS / config, [f"device={device}"])
    if torch_threads:
        th.set_num_threads(torch_threads)
    env, _ = make_env(cfg, 0)
    rollout = cfg.env.num_envs * cfg.ppo.n_steps
    model = make_model(cfg, env, device, None)
    model.learn(total_timesteps=rollout)  # warm-up: JIT, allocations, CUDA context
    best: dict[str, float] = {}
    for _ in range(repeats):
        acc = {"collect_rollouts": 0.0, "train": 0.0}
        _timed(model, "collect_rollouts", acc)
        _timed(model, "train", acc)
        start = time.perf_counter()
        model.learn(total_timesteps=rollout * rollouts, reset_num_timesteps=False)
        acc["learn"] = time.perf_counter() - start
        del model.collect_rollouts, model.train  # back to the class's methods
        if not best or acc["learn"] < best["learn"]:
            best = acc
    rng = np.random.default_rng(0)
    env.reset()
    n_steps = max(1, rollout * rollouts // cfg.env.num_envs)
    start = time.perf_counter()
    for _ in range(n_steps):
        env.step(rng.uniform(-1.0, 1.0, size=(cfg.env.num_envs, env.action_space.shape[0])).astype(np.float32))
    sim_s = time.perf_counter() - start
    env.close()
    steps = rollout * rollouts
    return {"config": config, "device": device, "torch_threads": th.get_num_threads(), "num_envs": cfg.env.num_envs,
            "n_steps": cfg.ppo.n_steps, "batch_size": cfg.ppo.batch_size, "n_epochs": cfg.ppo.n_epochs,
            "timesteps": steps, "learn_s": best["learn"], "env_steps_per_s": steps / best["learn"],
            "rollout_s": best["collect_rollouts"], "update_s": best["train"],
            "update_share": best["train"] / best["learn"],
            "simulator_only_env_steps_per_s": steps / sim_s, "simulation_share": sim_s / best["learn"]}


def sweep_overhead(ray_address: str | None, workers: int) -> dict[str, Any]:
    """Wall time of sweep-tiny and the no-op executor round trip on one backend."""
    from coolpilot.evaluation.distributed import map_tasks
    from coolpilot.training.sweep import load_sweep, result_content, run_sweep

    sweep = load_sweep(CONFIGS / "sweep-tiny.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        summary = run_sweep(sweep, Path(tmp) / "sweep", ray_address=ray_address, max_workers=workers)
        wall = time.perf_counter() - start
    trial_s = sum(float(r["wall_s"]) for r in summary["rows"])
    start = time.perf_counter()
    outs = map_tasks(noop, [(str(i), i) for i in range(40)], ray_address=ray_address, max_workers=workers)
    noop_s = time.perf_counter() - start
    assert all(o.ok for o in outs)
    return {"backend": "ray" if ray_address else "local", "trials": summary["trials"], "failed": summary["failed"],
            "workers": workers, "sweep_wall_s": wall, "sum_trial_wall_s": trial_s,
            "overhead_s": wall - trial_s / workers, "noop_tasks": 40, "noop_wall_s": noop_s,
            "noop_ms_per_task": 1000.0 * noop_s / 40, "content": result_content(summary)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rollouts", type=int, default=2, help="timed PPO rollouts per config (default 2)")
    parser.add_argument("--repeats", type=int, default=3, help="timed learn calls per config; the fastest counts")
    parser.add_argument("--torch-threads", type=int, default=0, help="torch CPU threads (default: torch's)")
    parser.add_argument("--ray", help="Ray address (default: start a head on 127.0.0.1 for the benchmark)")
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--skip-sweep", action="store_true")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "sweep.json"))
    args = parser.parse_args()
    if args.ray is None and not args.skip_sweep:
        from tests.ray_head import loopback_env

        os.environ.update(loopback_env())  # before Ray is imported: the benchmark's head stays on 127.0.0.1
    report: dict[str, Any] = {
        "benchmark": "training env-steps/s per device; sweep overhead local processes vs Ray",
        "command": "python benchmarks/bench_sweep.py " + " ".join(sys.argv[1:]),
        "machine": machine_info(("ray", "optuna")),
        "load_average_at_start": list(os.getloadavg()),
    }
    if not args.skip_training:
        import torch as th

        devices = ["cpu", *(["cuda"] if th.cuda.is_available() else [])]
        report["gpu"] = th.cuda.get_device_name(0) if th.cuda.is_available() else None
        report["training"] = [training_rate(c, d, args.rollouts, args.repeats, args.torch_threads)
                              for d in devices for c in ("modern-hall-ppo.yaml", "modern-hall-ppo-gpu.yaml")]
        for r in report["training"]:
            print(f"{r['config']:<26} {r['device']:<5} {r['env_steps_per_s']:>8,.0f} env-steps/s learning "
                  f"({100 * r['update_share']:.0f} % in the update, {100 * r['simulation_share']:.0f} % simulating); "
                  f"simulator alone {r['simulator_only_env_steps_per_s']:,.0f}")
    if not args.skip_sweep:
        report["sweep"] = _sweeps(args.ray)
        local, ray = report["sweep"]["local"], report["sweep"]["ray"]
        report["sweep"]["identical_content"] = local.pop("content") == ray.pop("content")
        for r in (local, ray):
            print(f"sweep-tiny {r['backend']:<5} {r['sweep_wall_s']:6.1f} s wall, {r['overhead_s']:5.1f} s overhead; "
                  f"no-op task {r['noop_ms_per_task']:.1f} ms")
        print(f"identical results: {report['sweep']['identical_content']}")
    report["load_average_at_end"] = list(os.getloadavg())
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


def _sweeps(address: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"local": sweep_overhead(None, 2)}
    if address is not None:
        out["ray"] = sweep_overhead(address, 2)
        out["ray_head_start_s"] = None
        return out
    from tests.ray_head import local_ray_head

    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        start = time.perf_counter()
        with local_ray_head(Path(tmp), num_cpus=2) as head:
            out["ray_head_start_s"] = time.perf_counter() - start
            out["ray"] = sweep_overhead(head, 2)
    return out


if __name__ == "__main__":
    main()
