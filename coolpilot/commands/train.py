"""``coolpilot train CONFIG.yaml``: train a setpoint policy (PPO or SAC) into a run directory."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``coolpilot train``."""
    parser.add_argument("config", help="training config YAML (see training/configs/ and training/config.py)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a config field, e.g. --set ppo.learning_rate=1e-4 --set env.num_envs=128 "
                             "(repeatable; values are YAML)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="torch device (overrides the config)")
    parser.add_argument("--seed", type=int, help="seed (overrides the config)")
    parser.add_argument("--timesteps", type=int, help="total environment steps (overrides the config)")
    parser.add_argument("--run-dir", help="run directory (default runs/<name>-<UTC timestamp>)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Validate the config, train, print the summary."""
    from coolpilot.training.config import load_train_config

    overrides = list(args.overrides)
    if args.device:
        overrides.append(f"device={args.device}")
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    if args.timesteps is not None:
        overrides.append(f"total_timesteps={args.timesteps}")
    cfg = load_train_config(args.config, overrides)
    from coolpilot.training.train import default_run_dir, train

    run_dir = Path(args.run_dir) if args.run_dir else default_run_dir(cfg)
    if run_dir.exists() and any(run_dir.iterdir()):
        raise ValueError(f"--run-dir {run_dir} exists and is not empty; choose a new one")
    summary = train(cfg, run_dir, progress_bar=not args.no_progress)
    json.dump(summary, sys.stdout, indent=2)
    sys.stdout.write(f"\nrun directory: {run_dir}\nexport with: coolpilot export {run_dir} --name NAME\n")
    return 0
