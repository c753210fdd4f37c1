"""``coolpilot sweep SWEEP.yaml``: seeds × hyperparameters × facilities × climates, locally or on Ray."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``coolpilot sweep``."""
    parser.add_argument("sweep", help="sweep YAML (see training/configs/sweep-*.yaml and training/sweep.py)")
    parser.add_argument("--sweep-dir", help="sweep directory (default runs/sweeps/<name>); the same directory "
                                            "again resumes the sweep, skipping complete trials")
    parser.add_argument("--ray", metavar="ADDRESS",
                        help="run the trials on a Ray cluster: 'auto' (a cluster started on this machine), "
                             "HOST:PORT of the head, or ray://HOST:10001 (Ray Client); default: local processes")
    parser.add_argument("--max-workers", type=int, help="trials at once (overrides execution.max_workers)")
    parser.add_argument("--retries", type=int, help="extra attempts of a failed trial (overrides execution.retries)")
    parser.add_argument("--dry-run", action="store_true", help="list the grid's trials and stop")
    parser.add_argument("--top", type=int, default=10, help="rows of the ranking to print (default 10)")


def _table(rows: list[dict[str, Any]], varied: list[str], top: int) -> str:
    head = ["rank", "trial", "status", "saving %", "K·h>27°C", "attempts"]
    lines = [head]
    for row in rows[:top]:
        saving = row["facility_saving_pct"]
        kh = row["degree_hours_above_27c"]
        lines.append([str(row["rank"]), row["trial_id"], row["status"],
                      "-" if saving is None else f"{saving:.2f}", "-" if kh is None else f"{kh:.2f}",
                      str(row["attempts"])])
    widths = [max(len(r[i]) for r in lines) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in lines)


def run(args: argparse.Namespace) -> int:
    """Validate the sweep, run or resume it, print the ranking."""
    from coolpilot.training.sweep import default_sweep_dir, expand_grid, load_sweep, run_sweep

    sweep = load_sweep(args.sweep)
    if args.max_workers is not None and args.max_workers < 1:
        raise ValueError(f"--max-workers {args.max_workers}: give 1 or more")
    if args.retries is not None and args.retries < 0:
        raise ValueError(f"--retries {args.retries}: give 0 or more")
    if args.dry_run:
        cells = expand_grid(sweep)
        for spec in cells:
            sys.stdout.write(f"{spec.trial_id}  {spec.params}\n")
        search = sweep.config.search
        extra = f" × {search.n_trials} searched hyperparameter sets = {len(cells) * search.n_trials} runs" \
            if search else ""
        sys.stdout.write(f"{len(cells)} grid trial(s){extra}\n")
        return 0
    sweep_dir = Path(args.sweep_dir) if args.sweep_dir else default_sweep_dir(sweep)
    summary = run_sweep(sweep, sweep_dir, ray_address=args.ray, max_workers=args.max_workers,
                        retries=args.retries)
    sys.stdout.write(_table(summary["rows"], summary["varied"], args.top) + "\n")
    sys.stdout.write(f"{summary['trials']} trial(s): {summary['ok']} ok, {summary['infeasible']} above the thermal "
                     f"tolerance, {summary['failed']} failed; best: {summary['best_trial'] or 'none feasible'}\n"
                     f"summary: {sweep_dir / 'summary.csv'}\n")
    return 1 if summary["failed"] else 0
