"""Picklable tasks for the sweep and executor tests (imported by local and Ray workers).

A task that kills its own worker process (SIGKILL to itself) on its first attempt, marked
by a file, or on every attempt; a trial function that does so for chosen trials (once
mid-training, or always) and trains the others; a fake trial that writes a synthetic run
directory from its parameters (for the search tests, where training would only add minutes).
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from coolpilot.training.sweep import TrialSpec, pack_run_dir, run_trial


def die() -> None:
    """Kill this process at once (as the OOM killer or a crash would)."""
    os.kill(os.getpid(), signal.SIGKILL)


@dataclass(frozen=True)
class Flaky:
    """``item * 2``; items in ``die_once`` kill their worker on the first attempt (marker file in
    ``marker_dir``), items in ``die_always`` on every attempt, items in ``raise_once`` raise once."""

    marker_dir: str
    die_once: tuple[int, ...] = ()
    die_always: tuple[int, ...] = ()
    raise_once: tuple[int, ...] = ()

    def __call__(self, item: int) -> int:
        marker = Path(self.marker_dir) / f"attempted-{item}"
        first = not marker.exists()
        marker.touch()
        if item in self.die_always or (item in self.die_once and first):
            die()
        if item in self.raise_once and first:
            raise RuntimeError(f"item {item} fails once")
        return item * 2


@dataclass(frozen=True)
class CrashingTrial:
    """Trains every trial, except that trials whose id starts with one of ``die_once`` kill their
    worker ``die_after_s`` into their first attempt (mid-training: a tiny trial takes seconds),
    and those in ``die_always`` at the start of every attempt."""

    marker_dir: str
    die_once: tuple[str, ...] = ()
    die_always: tuple[str, ...] = ()
    die_after_s: float = 0.3

    def __call__(self, spec: TrialSpec) -> bytes:
        marker = Path(self.marker_dir) / f"attempted-{spec.trial_id}"
        first = not marker.exists()
        marker.touch()
        if spec.trial_id.startswith(self.die_always):
            die()
        if spec.trial_id.startswith(self.die_once) and first:
            threading.Timer(self.die_after_s, die).start()
        return run_trial(spec)


def fake_trial(spec: TrialSpec) -> bytes:
    """A run directory whose held-out saving peaks at learning rate 1e-3 and overheats above 3e-3.

    saving = 10 - (log10(lr) + 3)² %; degree-hours above 27 °C = 1000·(lr - 3e-3) when positive.
    """
    import math

    lr = float(spec.config["ppo"]["learning_rate"])
    saving = 10.0 - (math.log10(lr) + 3.0) ** 2 + 0.01 * spec.config["seed"]
    kh = max(0.0, 1000.0 * (lr - 3e-3))
    row = {"timesteps": 1024, "facility_saving_pct": saving, "cooling_saving_pct": 2 * saving, "pue": 1.2,
           "degree_hours_above_27c": kh, "inlet_temp_max_c": 27.0 + kh, "label": "final"}
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp)
        (run / "metrics.jsonl").write_text(json.dumps(row) + "\n")
        best = row if kh <= spec.config["eval"]["thermal_tolerance_kh"] else None
        (run / "summary.json").write_text(json.dumps({"timesteps": 1024, "best_eval": best, "wall_s": 0.1,
                                                      "env_steps_per_s": 1e4, "learn_s": 0.1}))
        return pack_run_dir(run)
