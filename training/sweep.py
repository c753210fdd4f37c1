"""``coolpilot sweep SWEEP.yaml``: many training runs, ranked by held-out saving within the thermal limit.

A sweep file names a base training config (a file or inline), overrides for every trial,
**grid axes** (any training-config field by dotted path: ``seed``, ``ppo.learning_rate``,
``env.facility``, ``env.climates``, ...; the trials are every combination, in the order
written) and an optional **Optuna search** over hyperparameters (float, log-float, int,
categorical). With a search, each sampled hyperparameter set is trained on every grid cell
(e.g. each seed) and scored by the mean held-out facility saving of those runs, with the
constraint of zero K·h above the thermal tolerance (Optuna's constrained TPE); infeasible
sets rank after every feasible one and are never "best". Search trials are asked
``parallel_trials`` at a time and told in order, so a sweep is deterministic and resumable.

Every trial is a normal run directory (training/train.py) under ``SWEEP_DIR/trials/<id>/``,
id = readable parameters + a digest of the trial's whole resolved training config (stable:
editing the sweep keeps the ids of unchanged trials). Trials run in local processes or on a
Ray cluster (:mod:`coolpilot.evaluation.distributed`); a run trains in a temporary folder on its worker
and comes back packed, so results land in ``SWEEP_DIR`` with no shared filesystem and a
trial directory is either complete or absent. Running the same sweep into the same
directory again resumes it: trials whose directory holds ``summary.json`` are not re-run.

Sweep directory layout::

    sweep.yaml          the validated sweep with its base config inline (run it again to resume)
    sweep.log           the sweep's log (trials started, retried, failed)
    trials/<id>/        a run directory (config.yaml, metrics.jsonl, best/, final/, summary.json, ...)
                        plus trial.json (parameters, attempts, errors, worker)
    summary.csv         one row per trial, ranked
    summary.json        the rows, the ranked search trials and the best trial

Ranking: feasible trials (their best held-out evaluation within the run's
``eval.thermal_tolerance_kh``) by facility saving vs rule-based (%), then infeasible ones
by K·h above the tolerance (their least-violating evaluation), then failed trials.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import io
import json
import logging
import math
import os
import re
import shutil
import tarfile
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import product
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from coolpilot.envs.validation import format_validation_error, read_yaml
from coolpilot.evaluation.distributed import TaskOutcome, TaskRunner, open_runner
from coolpilot.training.config import TrainConfig, TrainConfigError, config_from_mapping, load_train_config

log = logging.getLogger(__name__)

STATUS_ORDER = {"ok": 0, "infeasible": 1, "failed": 2}
"""Ranking classes: feasible runs first, then runs above the thermal tolerance, then failures."""

EXECUTION_KEYS = ("attempts", "error", "errors", "worker", "wall_s", "env_steps_per_s", "learn_s")
"""Row fields about how a trial ran (workers, attempts, errors, timings), not what it learned: they differ
between runs of the same sweep (local vs Ray) and are left out when comparing results."""


class SweepConfigError(ValueError):
    """A sweep file is invalid; the message lists every problem."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _f(default: Any, doc: str, unit: str = "", **bounds: float) -> Any:
    return Field(default, description=doc, json_schema_extra={"unit": unit} if unit else None,
                 **bounds)  # type: ignore[call-overload]


class SearchParam(_Section):
    """The distribution of one searched training-config field."""

    type: Literal["float", "log-float", "int", "categorical"] = _f(
        ..., "'float' (uniform), 'log-float' (log-uniform), 'int' (uniform integers) or 'categorical' (choices).")
    low: float | None = _f(None, "Lowest value (float, log-float, int), in the field's own unit.")
    high: float | None = _f(None, "Highest value (float, log-float, int), in the field's own unit.")
    step: float | None = _f(None, "Grid step of a float or int search (default: continuous, or 1 for int).",
                            gt=0.0)
    choices: list[Any] | None = _f(None, "The values of a categorical search (any YAML values, e.g. [tanh, relu] "
                                         "or [[64, 64], [128, 128]]).")

    @model_validator(mode="after")
    def _shape(self) -> SearchParam:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("categorical: give choices (a non-empty list)")
            if self.low is not None or self.high is not None or self.step is not None:
                raise ValueError("categorical: give choices, not low/high/step")
            return self
        if self.choices is not None:
            raise ValueError(f"{self.type}: give low and high, not choices")
        if self.low is None or self.high is None:
            raise ValueError(f"{self.type}: give low and high")
        if not self.low < self.high:
            raise ValueError(f"low = {self.low:g} must be < high = {self.high:g}")
        if self.type == "log-float" and self.low <= 0.0:
            raise ValueError(f"log-float: low = {self.low:g} must be > 0")
        if self.type == "log-float" and self.step is not None:
            raise ValueError("log-float: step is not allowed (use float with a step)")
        if self.type == "int" and not all(float(v).is_integer() for v in (self.low, self.high, self.step or 1.0)):
            raise ValueError(f"int: low = {self.low:g}, high = {self.high:g} and step must be whole numbers")
        return self

    def bounds(self) -> list[Any]:
        """The extreme values a trial may get (low and high, or every choice), for validation."""
        if self.type == "categorical":
            return list(self.choices or [])
        low, high = float(self.low or 0.0), float(self.high or 0.0)
        return [int(low), int(high)] if self.type == "int" else [low, high]

    def distribution(self) -> Any:
        """The Optuna distribution (non-scalar choices are passed as JSON text and decoded back)."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.type == "categorical":
            return CategoricalDistribution([_encode(c) for c in self.choices or []])
        low, high = float(self.low or 0.0), float(self.high or 0.0)
        if self.type == "int":
            return IntDistribution(int(low), int(high), step=int(self.step or 1))
        return FloatDistribution(low, high, log=self.type == "log-float", step=self.step)

    def decode(self, value: Any) -> Any:
        """A sampled Optuna value as the training-config value."""
        if self.type == "categorical" and isinstance(value, str) and value.startswith("json:"):
            return json.loads(value[5:])
        return value


def _encode(choice: Any) -> Any:
    return choice if choice is None or isinstance(choice, bool | int | float | str) else "json:" + json.dumps(choice)


class SearchSection(_Section):
    """Hyperparameter search with Optuna (ask/tell, an in-memory study rebuilt on resume)."""

    params: dict[str, SearchParam] = _f(..., "Searched fields: dotted training-config field -> distribution.")
    n_trials: int = _f(16, "Hyperparameter sets to try (each trained on every grid cell).", "1", ge=1, le=100_000)
    sampler: Literal["tpe", "random"] = _f("tpe", "'tpe' (constrained TPE) or 'random'.")
    seed: int = _f(0, "Seed of the sampler.", "1", ge=0, le=2**31 - 1)
    parallel_trials: int = _f(4, "Sets asked before any is told (run together). Fixed here, not by the number of "
                                 "workers, so that the search does not depend on the machine.", "1", ge=1, le=1024)

    @model_validator(mode="after")
    def _some(self) -> SearchSection:
        if not self.params:
            raise ValueError("params: give at least one searched field")
        return self


class ExecutionSection(_Section):
    """Where and how trials run (does not change any result)."""

    max_workers: int = _f(0, "Trials at once: local processes (0 = CPU count ÷ cpus_per_trial) or Ray tasks in "
                             "flight (0 = as many as the cluster fits).", "1", ge=0, le=100_000)
    cpus_per_trial: int = _f(1, "CPU cores per trial: the Ray CPU request, and torch threads of every run whose "
                                "config leaves torch_threads at 0 (results depend on it: fixed, not per machine).",
                             "1", ge=1, le=1024)
    gpus_per_trial: float = _f(0.0, "GPUs per trial requested from Ray (0.25: four trials share a GPU); local "
                                    "runs use the device their config names.", "1", ge=0.0, le=64.0)
    retries: int = _f(1, "Extra attempts for a trial that raises or whose worker dies; after them it is reported "
                         "failed in the summary.", "1", ge=0, le=100)


class SweepConfig(_Section):
    """One sweep file."""

    name: str = _f("sweep", "Sweep name (the default directory is runs/sweeps/<name>).")
    base: str | None = _f(None, "Base training config YAML, relative to the sweep file.")
    base_config: dict[str, Any] | None = _f(None, "The base training config inline (instead of base).")
    overrides: dict[str, Any] = _f({}, "Set in every trial: dotted training-config field -> value.")
    grid: dict[str, list[Any]] = _f({}, "Axes: dotted training-config field -> values; trials are every "
                                        "combination, in the order written.")
    search: SearchSection | None = _f(None, "Optional Optuna hyperparameter search (see SearchSection).")
    execution: ExecutionSection = Field(default_factory=ExecutionSection, description=ExecutionSection.__doc__)

    @model_validator(mode="after")
    def _consistent(self) -> SweepConfig:
        if (self.base is None) == (self.base_config is None):
            raise ValueError("give base (a training config file) or base_config (inline), exactly one")
        empty = [axis for axis, values in self.grid.items() if not values]
        if empty:
            raise ValueError(f"grid axes {empty} have no values")
        both = sorted(set(self.grid) & set(self.search.params if self.search else {}))
        if both:
            raise ValueError(f"fields {both} are both grid axes and searched; choose one")
        return self


@dataclass(frozen=True)
class TrialSpec:
    """One trial: its id, the parameters it sets and its whole validated training config."""

    trial_id: str
    params: dict[str, Any]
    config: dict[str, Any]
    search_trial: int | None = None


@dataclass(frozen=True)
class Sweep:
    """A validated sweep: the file's config, the resolved base training config, where it came from."""

    config: SweepConfig
    base: dict[str, Any]
    source: str
    base_dir: Path

    @property
    def varied_fields(self) -> tuple[str, ...]:
        """The varied fields (grid axes, then searched fields)."""
        return (*self.config.grid, *(self.config.search.params if self.config.search else {}))

    def cells(self) -> list[dict[str, Any]]:
        """Every combination of the grid axes, in the order written (one empty cell without a grid)."""
        axes = list(self.config.grid.items())
        return [dict(zip([a for a, _ in axes], combo, strict=True)) for combo in product(*(v for _, v in axes))]

    def trial(self, params: dict[str, Any], search_trial: int | None = None) -> TrialSpec:
        """The trial setting ``params`` on the base config (TrainConfigError if invalid)."""
        data = copy.deepcopy(self.base)
        sets = {**self.config.overrides, **params}
        for field, value in sets.items():
            _set(data, field, value)
        if "torch_threads" not in sets and not data.get("torch_threads"):
            data["torch_threads"] = self.config.execution.cpus_per_trial
        cfg = config_from_mapping(data, f"{self.source} (trial {_slug(params) or 'base'})", self.base_dir)
        resolved = cfg.model_dump(mode="json")
        typed = {field: _get(resolved, field) for field in params}
        digest = hashlib.sha256(json.dumps(resolved, sort_keys=True).encode()).hexdigest()[:8]
        prefix = f"s{search_trial:03d}," if search_trial is not None else ""
        return TrialSpec(f"{prefix}{_slug(typed) or 'base'}-{digest}", typed, resolved, search_trial)


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    node = data
    parts = dotted.split(".")
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = copy.deepcopy(value)


def _get(data: dict[str, Any], dotted: str) -> Any:
    node: Any = data
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "+".join(_short(v) for v in value)
    if isinstance(value, dict):
        return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:4]
    return Path(value).stem if isinstance(value, str) and "/" in value else str(value)


def _slug(params: dict[str, Any], limit: int = 72) -> str:
    text = ",".join(f"{k.rsplit('.', 1)[-1]}={_short(v)}" for k, v in params.items())
    return re.sub(r"[^A-Za-z0-9._+=,-]", "_", text)[:limit]


def _field_problem(dotted: str) -> str | None:
    """Why ``dotted`` is not a training-config field, or None."""
    model: type[BaseModel] | None = TrainConfig
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        where = ".".join(parts[:i]) or "the training config"
        if model is None:
            return f"'{where}' is not a section"
        if part not in model.model_fields:
            return f"{where} has no field '{part}' (it has: {', '.join(model.model_fields)})"
        ann = model.model_fields[part].annotation
        model = next((a for a in (get_args(ann) or (ann,)) if isinstance(a, type) and issubclass(a, BaseModel)),
                     None)
    return None


def _problems_of(err: TrainConfigError) -> list[str]:
    lines = str(err).splitlines()
    body = [line.strip().removeprefix("- ") for line in lines[1:]] or [lines[0].split(": ", 1)[-1]]
    return body


def _check(sweep: Sweep) -> list[str]:
    """Every problem of the sweep's fields, values and trial combinations (empty when valid)."""
    c = sweep.config
    problems: list[str] = []
    named = [("overrides", f) for f in c.overrides] + [("grid", f) for f in c.grid] + \
            [("search.params", f) for f in (c.search.params if c.search else {})]
    for section, field in named:
        why = _field_problem(field)
        if why:
            problems.append(f"{section} '{field}': not a training config field: {why}")
    if problems:
        return problems
    singles = [(f"grid '{axis}'[{i}]", {axis: v}) for axis, values in c.grid.items() for i, v in enumerate(values)]
    if c.search:
        singles += [(f"search.params '{field}' {'choice' if p.type == 'categorical' else 'bound'}", {field: v})
                    for field, p in c.search.params.items() for v in p.bounds()]
    singles.append(("overrides", {}))
    valid: list[TrialSpec] = []
    for where, params in singles:  # each value alone on the base: every bad value is named
        try:
            valid.append(sweep.trial(params))
        except TrainConfigError as err:
            problems += [f"{where} = {_short(next(iter(params.values()), ''))}: {p}" if params else f"{where}: {p}"
                         for p in _problems_of(err)]
    problems += _check_names(valid)
    if problems:
        return list(dict.fromkeys(problems))
    specs: list[TrialSpec] = []
    for cell in sweep.cells():
        try:
            specs.append(sweep.trial(cell))
        except TrainConfigError as err:
            problems += [f"grid cell {_slug(cell)}: {p}" for p in _problems_of(err)]
    seen: dict[str, str] = {}
    for spec in specs:
        if spec.trial_id in seen:
            problems.append(f"grid: cells {seen[spec.trial_id]} and {_slug(spec.params)} give the same trial")
        seen[spec.trial_id] = _slug(spec.params)
    rand_climates = [s for s in specs if (s.config["env"].get("randomization") or {}).get("climates")]
    if "env.climates" in c.grid and rand_climates:
        problems.append("grid 'env.climates': ignored because the base config's randomization names climates; "
                        "vary env.randomization.climates instead")
    return list(dict.fromkeys(problems))


def _check_names(specs: list[TrialSpec]) -> list[str]:
    """Facilities and climates that do not exist (found now, not hours into a cluster run)."""
    from coolpilot.envs.config import load_facility
    from coolpilot.envs.weather import BUNDLED_CLIMATES

    problems: list[str] = []
    for facility in sorted({s.config["env"]["facility"] for s in specs}):
        try:
            load_facility(facility)
        except ValueError as err:
            problems.append(f"env.facility = {facility!r}: {str(err).splitlines()[0]}")
    climates: set[str] = set()
    for s in specs:
        rand = s.config["env"].get("randomization") or {}
        climates.update(s.config["env"]["climates"], s.config["eval"]["climates"], rand.get("climates") or [])
    for name in sorted(climates):
        if name not in BUNDLED_CLIMATES and not Path(name).is_file():
            problems.append(f"climate {name!r}: not a bundled climate ({', '.join(sorted(BUNDLED_CLIMATES))}) "
                            "nor an EPW file")
    return problems


def sweep_from_mapping(data: Any, source: str = "<mapping>", base_dir: Path | None = None) -> Sweep:
    """Validate a sweep mapping (base file relative to ``base_dir``); every problem in one error."""
    if not isinstance(data, dict):
        raise SweepConfigError(f"{source}: a sweep file must be a YAML mapping, got {type(data).__name__}")
    try:
        cfg = SweepConfig.model_validate(data)
    except ValidationError as err:
        raise SweepConfigError(format_validation_error(err, SweepConfig, source, "sweep file")) from None
    root = base_dir or Path.cwd()
    try:
        if cfg.base is not None:
            path = Path(cfg.base) if Path(cfg.base).is_absolute() else root / cfg.base
            base = load_train_config(path)
        else:
            base = config_from_mapping(cfg.base_config, f"{source} base_config", root)
    except TrainConfigError as err:
        raise SweepConfigError(f"{source}: the base training config is invalid:\n{err}") from None
    sweep = Sweep(cfg, base.model_dump(mode="json"), source, root)
    problems = _check(sweep)
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise SweepConfigError(f"{source}: {len(problems)} problem(s) in the sweep file:\n{lines}")
    return sweep


def load_sweep(path: str | Path) -> Sweep:
    """Read and validate a sweep YAML file."""
    p = Path(path)
    return sweep_from_mapping(read_yaml(p, "sweep file", SweepConfigError), str(p), p.parent)


def expand_grid(sweep: Sweep) -> list[TrialSpec]:
    """The grid's trials, in order (with a search, the trials of one hyperparameter set are these cells)."""
    return [sweep.trial(cell) for cell in sweep.cells()]


def pack_run_dir(run_dir: Path) -> bytes:
    """A run directory as tar.gz bytes (what a worker sends back)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        tar.add(run_dir, arcname=".")
    return buf.getvalue()


def run_trial(spec: TrialSpec) -> bytes:
    """Worker side: train one trial in a temporary folder; return the packed run directory."""
    from coolpilot.training.train import train

    cfg = config_from_mapping(spec.config, f"trial {spec.trial_id}")
    with tempfile.TemporaryDirectory(prefix="coolpilot-trial-") as tmp:
        run_dir = Path(tmp) / "run"
        train(cfg, run_dir, progress_bar=False)
        return pack_run_dir(run_dir)


def _unpack(data: bytes, trials_dir: Path, trial_id: str, info: dict[str, Any]) -> None:
    """Write a packed run under ``trials/<trial_id>`` atomically (complete or absent)."""
    partial = trials_dir / f".{trial_id}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(partial, filter="data")
    final = trials_dir / trial_id
    summary_path = partial / "summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    summary["run_dir"] = str(final)
    summary_path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (partial / "trial.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(final, ignore_errors=True)
    os.replace(partial, final)


def _complete(run_dir: Path) -> bool:
    try:
        json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
        json.loads((run_dir / "trial.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


def _eval_fields(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("facility_saving_pct", "cooling_saving_pct", "pue", "degree_hours_above_27c", "inlet_temp_max_c")
    return {k: row.get(k) for k in keys} | {"eval_timesteps": row.get("timesteps")}


def trial_row(spec: TrialSpec, run_dir: Path) -> dict[str, Any]:
    """A completed trial's summary row, read from its run directory."""
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    info = json.loads((run_dir / "trial.json").read_text(encoding="utf-8"))
    evals = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
             if line.strip()]
    tolerance = float(spec.config["eval"]["thermal_tolerance_kh"])

    def excess(r: dict[str, Any]) -> float:
        return max(0.0, float(r["degree_hours_above_27c"]) - tolerance)

    best = summary.get("best_eval")
    if best is None:  # no evaluation within the tolerance: report the least violating one
        best = min(evals, key=lambda r: (excess(r), -float(r["facility_saving_pct"])))
    final = evals[-1] if evals else {}
    return {
        "trial_id": spec.trial_id, "status": "ok" if excess(best) == 0.0 else "infeasible",
        **_eval_fields(best), "excess_kh": excess(best),
        "final_facility_saving_pct": final.get("facility_saving_pct"),
        "final_degree_hours_above_27c": final.get("degree_hours_above_27c"),
        "timesteps": summary.get("timesteps"), "search_trial": spec.search_trial, "params": spec.params,
        "attempts": info.get("attempts"), "error": None, "errors": info.get("errors", []),
        "run_dir": str(Path("trials") / spec.trial_id),
        "wall_s": summary.get("wall_s"), "env_steps_per_s": summary.get("env_steps_per_s"),
        "learn_s": summary.get("learn_s"), "worker": info.get("worker"),
    }


def failed_row(spec: TrialSpec, error: str, attempts: int, errors: list[str], worker: str = "") -> dict[str, Any]:
    """The summary row of a trial that failed every attempt (or whose config was invalid)."""
    empty = dict.fromkeys(("facility_saving_pct", "cooling_saving_pct", "pue", "degree_hours_above_27c",
                           "inlet_temp_max_c", "eval_timesteps", "excess_kh", "final_facility_saving_pct",
                           "final_degree_hours_above_27c", "timesteps", "wall_s", "env_steps_per_s", "learn_s"))
    return {"trial_id": spec.trial_id, "status": "failed", **empty, "search_trial": spec.search_trial,
            "params": spec.params, "attempts": attempts, "error": error, "errors": errors, "run_dir": None,
            "worker": worker}


def rank_key(row: dict[str, Any]) -> tuple[Any, ...]:
    """Feasible by saving (high first), infeasible by K·h above tolerance then saving, failed last; then id."""
    status = row["status"]
    saving = row.get("facility_saving_pct")
    saving = -float(saving) if saving is not None and math.isfinite(float(saving)) else math.inf
    excess = float(row["excess_kh"]) if status == "infeasible" else 0.0
    return (STATUS_ORDER[status], excess, saving if status != "failed" else 0.0, str(row.get("trial_id", "")))


class _Driver:
    """Runs trial specs on a runner, unpacking results and keeping one row per trial."""

    def __init__(self, runner: TaskRunner, sweep_dir: Path, trial_fn: Callable[[TrialSpec], bytes]) -> None:
        self.runner = runner
        self.trials_dir = sweep_dir / "trials"
        self.trial_fn = trial_fn
        self.rows: dict[str, dict[str, Any]] = {}
        self.specs: dict[str, TrialSpec] = {}
        self.resumed = 0

    def run(self, specs: list[TrialSpec]) -> None:
        todo: list[tuple[str, TrialSpec]] = []
        for spec in specs:
            self.specs[spec.trial_id] = spec
            if _complete(self.trials_dir / spec.trial_id):
                self.rows[spec.trial_id] = trial_row(spec, self.trials_dir / spec.trial_id)
                self.resumed += 1
            else:
                todo.append((spec.trial_id, spec))
        if todo:
            log.info("running %d trial(s) (%d already complete)", len(todo), len(specs) - len(todo))
            self.runner.map(self.trial_fn, todo, self._settle)

    def _settle(self, out: TaskOutcome[bytes]) -> None:
        spec = self.specs[out.key]
        info = {"trial_id": spec.trial_id, "params": spec.params, "search_trial": spec.search_trial,
                "attempts": out.attempts, "errors": list(out.errors), "worker": out.worker, "wall_s": out.wall_s}
        if out.ok and isinstance(out.value, bytes):
            try:
                _unpack(out.value, self.trials_dir, spec.trial_id, info)
                self.rows[spec.trial_id] = trial_row(spec, self.trials_dir / spec.trial_id)
            except (OSError, ValueError, KeyError, tarfile.TarError) as err:
                self.rows[spec.trial_id] = failed_row(spec, f"result unreadable: {type(err).__name__}: {err}",
                                                      out.attempts, list(out.errors), out.worker)
        else:
            self.rows[spec.trial_id] = failed_row(spec, out.error or "returned no run directory", out.attempts,
                                                  list(out.errors), out.worker)
        row = self.rows[spec.trial_id]
        log.info("trial %s %s: saving %s %%, %s K·h above 27 °C, %d attempt(s)%s", spec.trial_id, row["status"],
                 _fmt(row["facility_saving_pct"]), _fmt(row["degree_hours_above_27c"]), row["attempts"],
                 f" ({row['error']})" if row["error"] else "")


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{float(value):.3f}"


def _aggregate(number: int, params: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One search trial over its grid cells: mean saving, summed K·h above tolerance, failed if any failed."""
    failed = [r for r in rows if r["status"] == "failed"]
    status = "failed" if failed else ("ok" if all(r["status"] == "ok" for r in rows) else "infeasible")
    savings = [float(r["facility_saving_pct"]) for r in rows if r["facility_saving_pct"] is not None]
    return {"search_trial": number, "status": status, "params": params,
            "facility_saving_pct": sum(savings) / len(savings) if savings and not failed else None,
            "excess_kh": sum(float(r["excess_kh"]) for r in rows if r["excess_kh"] is not None),
            "trial_ids": [r["trial_id"] for r in rows]}


def _constraint(trial: Any) -> list[float]:
    """Optuna < 5 ``constraints_func``: K·h above the thermal tolerance (feasible when ≤ 0)."""
    return [float(trial.user_attrs.get("excess_kh", 0.0))]


def _search(sweep: Sweep, driver: _Driver) -> list[dict[str, Any]]:
    """Ask/tell Optuna in batches of ``parallel_trials``; each set trained on every grid cell."""
    try:
        import optuna
    except ImportError:
        raise SweepConfigError(f"{sweep.source}: search needs Optuna: pip install 'coolpilot[cluster]'") from None

    search = sweep.config.search
    assert search is not None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    by_trial = hasattr(optuna.trial.Trial, "set_constraint")  # Optuna ≥ 5; before, a sampler's constraints_func
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler: optuna.samplers.BaseSampler = (
            optuna.samplers.RandomSampler(seed=search.seed) if search.sampler == "random"
            else optuna.samplers.TPESampler(seed=search.seed) if by_trial
            else optuna.samplers.TPESampler(seed=search.seed, constraints_func=_constraint))
    study = optuna.create_study(direction="maximize", sampler=sampler, study_name=sweep.config.name)
    dists = {field: p.distribution() for field, p in search.params.items()}
    cells = sweep.cells()
    results: list[dict[str, Any]] = []
    while len(results) < search.n_trials:
        batch = [study.ask(dists) for _ in range(min(search.parallel_trials, search.n_trials - len(results)))]
        plans: list[tuple[Any, dict[str, Any], list[TrialSpec], str | None]] = []
        for trial in batch:
            params = {f: search.params[f].decode(trial.params[f]) for f in search.params}
            try:
                specs, error = [sweep.trial({**cell, **params}, trial.number) for cell in cells], None
            except TrainConfigError as err:
                specs, error = [], f"invalid sampled config: {'; '.join(_problems_of(err))}"
            plans.append((trial, params, specs, error))
        driver.run([s for _, _, specs, _ in plans for s in specs])
        for trial, params, specs, error in plans:
            if error is not None:
                log.error("search trial %d: %s", trial.number, error)
                agg = {"search_trial": trial.number, "status": "failed", "params": params,
                       "facility_saving_pct": None, "excess_kh": None, "trial_ids": [], "error": error}
            else:
                agg = _aggregate(trial.number, params, [driver.rows[s.trial_id] for s in specs])
            if agg["status"] == "failed":
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                if by_trial:
                    trial.set_constraint("excess_kh", agg["excess_kh"])
                else:
                    trial.set_user_attr("excess_kh", agg["excess_kh"])
                study.tell(trial, agg["facility_saving_pct"])
            results.append(agg)
    return sorted(results, key=lambda r: rank_key({**r, "trial_id": f"{r['search_trial']:06d}"}))


@contextmanager
def _sweep_log(sweep_dir: Path) -> Iterator[None]:
    handler = logging.FileHandler(sweep_dir / "sweep.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    loggers = [logging.getLogger(n) for n in (__name__, "coolpilot.evaluation.distributed")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        if lg.getEffectiveLevel() > logging.INFO:
            lg.setLevel(logging.INFO)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)
        handler.close()


def _prepare(sweep: Sweep, sweep_dir: Path) -> None:
    """Create the sweep directory, or check that it holds this sweep (to resume it)."""
    record = sweep.config.model_dump(mode="json") | {"base": None, "base_config": sweep.base}
    path = sweep_dir / "sweep.yaml"
    if path.exists():
        old = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if {k: v for k, v in old.items() if k != "execution"} != {k: v for k, v in record.items()
                                                                   if k != "execution"}:
            raise SweepConfigError(f"{sweep_dir} holds a different sweep (see its sweep.yaml); choose another "
                                   "sweep directory, or run its sweep.yaml to resume it")
    (sweep_dir / "trials").mkdir(parents=True, exist_ok=True)
    for stale in (sweep_dir / "trials").glob(".*.partial"):
        shutil.rmtree(stale, ignore_errors=True)
    path.write_text(yaml.safe_dump(record, sort_keys=False), encoding="utf-8")


def run_sweep(sweep: Sweep, sweep_dir: Path, *, ray_address: str | None = None, max_workers: int | None = None,
              retries: int | None = None,
              trial_fn: Callable[[TrialSpec], bytes] = run_trial) -> dict[str, Any]:
    """Run (or resume) every trial of ``sweep`` into ``sweep_dir``; write and return the summary.

    ``ray_address`` None runs trials in local processes; ``auto``, ``HOST:PORT`` or
    ``ray://HOST:PORT`` on a Ray cluster. ``max_workers`` and ``retries`` override the sweep's
    execution section. ``trial_fn`` (module-level, picklable) turns a :class:`TrialSpec` into a
    packed run directory; the default trains it.
    """
    ex = sweep.config.execution
    workers = max_workers if max_workers is not None else ex.max_workers
    if not workers and ray_address is None:
        workers = max(1, (os.cpu_count() or 1) // ex.cpus_per_trial)
    start = time.perf_counter()
    sweep_dir.mkdir(parents=True, exist_ok=True)
    _prepare(sweep, sweep_dir)
    with _sweep_log(sweep_dir):
        log.info("sweep %s: %s, %s", sweep.config.name, sweep_dir,
                 f"Ray at {ray_address}" if ray_address else f"{workers} local process(es)")
        with open_runner(ray_address, max_workers=workers or None,
                         retries=ex.retries if retries is None else retries, num_cpus=ex.cpus_per_trial,
                         num_gpus=ex.gpus_per_trial) as runner:
            driver = _Driver(runner, sweep_dir, trial_fn)
            searched = _search(sweep, driver) if sweep.config.search else None
            if searched is None:
                driver.run(expand_grid(sweep))
        summary = summarize(sweep, driver.rows, searched, ray_address, time.perf_counter() - start,
                            driver.resumed)
        write_summary(summary, sweep_dir)
        log.info("sweep %s done: %d ok, %d infeasible, %d failed; best %s", sweep.config.name, summary["ok"],
                 summary["infeasible"], summary["failed"], summary["best_trial"])
    return summary


def summarize(sweep: Sweep, rows: dict[str, dict[str, Any]], searched: list[dict[str, Any]] | None,
              ray_address: str | None, wall_s: float, resumed: int) -> dict[str, Any]:
    """The ranked summary: rows, counts, the best feasible trial (never an infeasible or failed one)."""
    ranked = sorted(rows.values(), key=rank_key)
    for i, row in enumerate(ranked, 1):
        row["rank"] = i
    counts = {s: sum(r["status"] == s for r in ranked) for s in STATUS_ORDER}
    best = ranked[0]["trial_id"] if ranked and ranked[0]["status"] == "ok" else None
    best_search = searched[0] if searched and searched[0]["status"] == "ok" else None
    return {
        "sweep": sweep.config.name, "backend": f"ray {ray_address}" if ray_address else "local processes",
        "trials": len(ranked), **counts, "resumed": resumed,
        "ranking": "feasible (0 K·h above each run's eval.thermal_tolerance_kh) by held-out facility saving vs "
                   "rule-based; then infeasible by K·h above the tolerance; then failed",
        "best_trial": best, "best_search_trial": best_search, "search_trials": searched,
        "varied": list(sweep.varied_fields), "rows": ranked, "wall_s": wall_s,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def result_content(summary: dict[str, Any]) -> dict[str, Any]:
    """A summary without how it ran (backend, wall times, workers, attempts, errors): equal for equal results."""
    rows = [{k: v for k, v in r.items() if k not in EXECUTION_KEYS} for r in summary["rows"]]
    return {k: v for k, v in summary.items() if k not in ("backend", "wall_s", "finished_at", "resumed")} | {
        "rows": rows}


CSV_COLUMNS = ("rank", "trial_id", "status", "facility_saving_pct", "cooling_saving_pct", "pue",
               "degree_hours_above_27c", "excess_kh", "inlet_temp_max_c", "eval_timesteps",
               "final_facility_saving_pct", "final_degree_hours_above_27c", "timesteps", "search_trial")
CSV_TAIL = ("attempts", "error", "env_steps_per_s", "wall_s", "worker", "run_dir")


def write_summary(summary: dict[str, Any], sweep_dir: Path) -> None:
    """``summary.json`` and ``summary.csv`` (one column per varied field) in the sweep directory."""
    (sweep_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    varied = list(summary["varied"])
    with (sweep_dir / "summary.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([*CSV_COLUMNS, *varied, *CSV_TAIL])
        for row in summary["rows"]:
            params = [json.dumps(row["params"].get(f)) if isinstance(row["params"].get(f), list | dict)
                      else row["params"].get(f) for f in varied]
            writer.writerow([row.get(c) for c in CSV_COLUMNS] + params + [row.get(c) for c in CSV_TAIL])


def default_sweep_dir(sweep: Sweep, root: Path = Path("runs") / "sweeps") -> Path:
    """runs/sweeps/<name>."""
    return root / sweep.config.name
