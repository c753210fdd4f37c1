"""Training callbacks: held-out evaluation against the rule-based controller, point ranges, critic warm-up."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.vec_env import VecEnvWrapper, VecNormalize
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvObs, VecEnvStepReturn

from coolpilot.controller.policies.deadband import WriteDeadband
from coolpilot.envs.config import FacilityConfig
from coolpilot.envs.kpis import Kpis, compute_kpis
from coolpilot.envs.objectives import GridSignals
from coolpilot.envs.simulation import simulate
from coolpilot.envs.units import SECONDS_PER_HOUR
from coolpilot.envs.weather import load_climate
from coolpilot.evaluation.kpis import (
    applied_setpoints,
    monthly_demand_cost,
    peak_demand_kw,
    recorded_setpoints,
    setpoint_changes,
    step_midpoints_s,
)
from coolpilot.training.residual import ResidualBase
from coolpilot.training.sb3_policy import ObsNormalization, SB3Policy

log = logging.getLogger(__name__)


class FixedRunningMeanStd(RunningMeanStd):
    """Running statistics that no longer update (observation statistics fixed after cloning).

    A cloned actor was fitted on inputs normalized with the teacher data's statistics; if
    VecNormalize kept updating them, the same actor would compute a different function.
    """

    def update(self, arr: np.ndarray) -> None:
        """Keep the statistics as they are."""


class PointRangeWrapper(VecEnvWrapper):
    """Records the minimum and maximum of every raw point seen in training (the card's training ranges).

    ``point_names`` name the observation's columns (the facility contract's points, in order).
    """

    def __init__(self, venv: VecEnv, point_names: tuple[str, ...]) -> None:
        super().__init__(venv)
        n = venv.observation_space.shape[0]  # type: ignore[index]
        if n != len(point_names):
            raise ValueError(f"the env observes {n} values but {len(point_names)} point names were given")
        self.point_names = point_names
        self.low = np.full(n, np.inf)
        self.high = np.full(n, -np.inf)

    def _see(self, obs: np.ndarray) -> None:
        np.minimum(self.low, obs.min(axis=0), out=self.low)
        np.maximum(self.high, obs.max(axis=0), out=self.high)

    def reset(self) -> VecEnvObs:
        obs = self.venv.reset()
        self._see(np.asarray(obs))
        return obs

    def step_wait(self) -> VecEnvStepReturn:
        obs, rewards, dones, infos = self.venv.step_wait()
        self._see(np.asarray(obs))
        return obs, rewards, dones, infos

    def ranges(self) -> dict[str, list[float]]:
        """Point name -> [min, max] seen so far."""
        return {n: [float(lo), float(hi)] for n, lo, hi in zip(self.point_names, self.low, self.high, strict=True)}

    def merge(self, ranges: dict[str, list[float]]) -> None:
        """Widen the recorded ranges by ``ranges`` (teacher data seen in pretraining)."""
        for i, n in enumerate(self.point_names):
            self.low[i] = min(self.low[i], ranges[n][0])
            self.high[i] = max(self.high[i], ranges[n][1])


@dataclass
class EvalCase:
    """One held-out evaluation run."""

    climate: str
    start_day: float
    days: float


@dataclass
class EvalResult:
    """Totals of a policy over all evaluation cases."""

    facility_kwh: float
    cooling_kwh: float
    """Facility minus IT energy (cooling plant, fans, pumps, distribution losses, lighting)."""
    it_kwh: float
    degree_hours: float
    inlet_max_c: float
    days: float
    """Simulated days over all cases."""
    setpoint_changes: int
    """Changes of every contract setpoint (coolpilot.evaluation.kpis.setpoint_changes), summed over the cases."""
    chiller_starts: float
    peak_facility_power_kw: float
    """The highest 15-minute average facility power of any case (kW)."""
    per_case: list[dict[str, Any]] = field(default_factory=list)
    cost: float | None = None
    """With grid signals: facility energy at each hour's price plus each case's demand charge on its peak
    15-minute power (a case is its own billing period), summed over the cases (currency)."""
    carbon: float | None = None
    """With grid signals: facility energy at each hour's grid factor, summed over the cases (t CO2e)."""

    @property
    def pue(self) -> float:
        """Facility over IT energy."""
        return self.facility_kwh / self.it_kwh


def _cost(facility_kw: np.ndarray, t_s: np.ndarray, dt_s: float, signals: GridSignals) -> float:
    """Energy at each hour's price plus the demand charge on each calendar month's peak 15-minute power."""
    hour = np.mod(np.floor(t_s / SECONDS_PER_HOUR).astype(np.int64), len(signals.price_per_mwh))
    mwh = facility_kw * dt_s / SECONDS_PER_HOUR / 1000.0
    energy = float(np.sum(mwh * signals.price_per_mwh[hour]))
    return energy + monthly_demand_cost(facility_kw, t_s, dt_s, signals.demand_charge_per_kw_month)


def _carbon(facility_kw: np.ndarray, t_s: np.ndarray, dt_s: float, signals: GridSignals) -> float:
    """Location-based carbon: energy at each hour's grid factor (t CO2e)."""
    hour = np.mod(np.floor(t_s / SECONDS_PER_HOUR).astype(np.int64), len(signals.carbon_t_per_mwh))
    return float(np.sum(facility_kw * dt_s / SECONDS_PER_HOUR / 1000.0 * signals.carbon_t_per_mwh[hour]))


def evaluate_policy(policy: Any, cfg: FacilityConfig, cases: list[EvalCase], seed: int,
                    signals: GridSignals | None = None) -> EvalResult:
    """Run ``policy`` over every case with ``simulate`` and total the KPIs, wear (setpoint changes of every contract
    setpoint, chiller starts) and peak demand included. ``signals`` (the training tariff's) feed the grid_signals
    points of facilities that read them, price the runs (:attr:`EvalResult.cost`) and weigh their carbon
    (:attr:`EvalResult.carbon`)."""
    kpis: list[tuple[EvalCase, Kpis]] = []
    wear: list[tuple[int, float, float]] = []
    costs: list[float] = []
    carbons: list[float] = []
    for case in cases:
        result = simulate(cfg, load_climate(case.climate), policy, days=case.days, start_day=case.start_day,
                          seed=seed, signals=signals)
        if signals is not None:
            costs.append(_cost(result.series["facility_kw"], step_midpoints_s(result), result.dt_s, signals))
            carbons.append(_carbon(result.series["facility_kw"], step_midpoints_s(result), result.dt_s, signals))
        kpis.append((case, compute_kpis(result)))
        names = recorded_setpoints(result)
        changes = sum(setpoint_changes(applied_setpoints(result, {}, names), names).values())
        wear.append((changes, float(result.series["chiller_starts"].sum()),
                     peak_demand_kw(result.series["facility_kw"], result.dt_s)))
    return EvalResult(
        facility_kwh=sum(k.facility_energy_mwh for _, k in kpis) * 1000.0,
        cooling_kwh=sum(k.facility_energy_mwh - k.it_energy_mwh for _, k in kpis) * 1000.0,
        it_kwh=sum(k.it_energy_mwh for _, k in kpis) * 1000.0,
        degree_hours=sum(k.degree_hours_above_27c for _, k in kpis),
        inlet_max_c=max(k.inlet_temp_max_c for _, k in kpis),
        days=sum(k.days for _, k in kpis),
        setpoint_changes=sum(w[0] for w in wear),
        chiller_starts=sum(w[1] for w in wear),
        peak_facility_power_kw=max(w[2] for w in wear),
        per_case=[{"climate": c.climate, "start_day": c.start_day, "days": c.days, "pue": k.pue,
                   "facility_mwh": k.facility_energy_mwh, "cooling_mwh": k.cooling_energy_mwh,
                   "degree_hours_above_27c": k.degree_hours_above_27c, "inlet_temp_max_c": k.inlet_temp_max_c,
                   "setpoint_changes_per_day": w[0] / k.days, "chiller_starts_per_day": w[1] / k.days,
                   "peak_facility_power_kw": w[2]}
                  for (c, k), w in zip(kpis, wear, strict=True)],
        cost=sum(costs) if signals is not None else None,
        carbon=sum(carbons) if signals is not None else None,
    )


def compare(policy: EvalResult, baseline: EvalResult) -> dict[str, float]:
    """Savings of ``policy`` against ``baseline`` (percent), its thermal KPIs, and its wear and peak beside the
    baseline's (setpoint changes and chiller starts per day, peak 15-minute facility power in kW)."""
    costs = ({"cost_saving_pct": 100.0 * (1.0 - policy.cost / baseline.cost)}
             if policy.cost is not None and baseline.cost is not None else {})
    carbons = ({"carbon_saving_pct": 100.0 * (1.0 - policy.carbon / baseline.carbon)}
               if policy.carbon is not None and baseline.carbon else {})
    return {
        **costs,
        **carbons,
        "facility_saving_pct": 100.0 * (1.0 - policy.facility_kwh / baseline.facility_kwh),
        "cooling_saving_pct": 100.0 * (1.0 - policy.cooling_kwh / baseline.cooling_kwh),
        "pue": policy.pue,
        "baseline_pue": baseline.pue,
        "degree_hours_above_27c": policy.degree_hours,
        "inlet_temp_max_c": policy.inlet_max_c,
        "setpoint_changes_per_day": policy.setpoint_changes / policy.days,
        "baseline_setpoint_changes_per_day": baseline.setpoint_changes / baseline.days,
        "chiller_starts_per_day": policy.chiller_starts / policy.days,
        "baseline_chiller_starts_per_day": baseline.chiller_starts / baseline.days,
        "peak_facility_power_kw": policy.peak_facility_power_kw,
        "baseline_peak_facility_power_kw": baseline.peak_facility_power_kw,
    }


class HeldOutEvalCallback(BaseCallback):
    """Every ``every`` steps: evaluate the deterministic policy on held-out climates vs ``rule-based``.

    Logs the savings and degree-hours to TensorBoard and ``metrics.jsonl``; keeps the model
    with the largest facility-energy saving (the reward's objective; IT fan power rises
    with inlet temperature, so facility energy is what counts) among those within the
    thermal tolerance in
    ``best/`` (model and VecNormalize statistics), with ``best/eval.json``. With ``signals``
    (the training tariff's) the runs read and are priced by them, and with ``select="cost_saving_pct"``
    (a cost objective) the largest cost saving makes the best model, with ``select="carbon_saving_pct"`` (a
    carbon objective) the largest carbon saving.
    """

    def __init__(self, cfg: FacilityConfig, cases: list[EvalCase], baseline: EvalResult, run_dir: Path,
                 every: int, thermal_tolerance_kh: float, seed: int, vecnormalize: VecNormalize | None,
                 residual: ResidualBase | None = None, deadband: dict[str, float] | None = None,
                 signals: GridSignals | None = None, select: str = "facility_saving_pct") -> None:
        super().__init__()
        self.signals = signals
        self.select = select
        self.deadband = dict(deadband or {})
        self.cfg = cfg
        self.cases = cases
        self.baseline = baseline
        self.run_dir = run_dir
        self.every = every
        self.tolerance = thermal_tolerance_kh
        self.seed = seed
        self.vecnormalize = vecnormalize
        self.residual = residual
        self.best: dict[str, Any] | None = None
        self._last = 0
        self._created = time.perf_counter()
        self.history: list[dict[str, Any]] = []

    def _on_step(self) -> bool:
        if self.every > 0 and self.num_timesteps - self._last >= self.every:
            self._last = self.num_timesteps
            self.evaluate()
        return True

    def _on_training_end(self) -> None:
        if self._last != self.num_timesteps or not self.history:
            self.evaluate()

    def evaluate(self, label: str = "") -> dict[str, Any]:
        """Evaluate the current model now; save it as best if it is."""
        vn = self.vecnormalize
        rms: Any = vn.obs_rms if vn is not None else None
        contract = self.cfg.contract
        norm = (ObsNormalization(rms.mean.copy(), rms.var.copy(), vn.epsilon, vn.clip_obs, vn.norm_obs)
                if vn is not None else ObsNormalization.identity(len(contract.points)))
        start = time.perf_counter()
        policy: Any = SB3Policy(self.model, norm, contract, residual=self.residual)
        if self.deadband:  # judged as it will run: with the write deadband it trains under
            policy = WriteDeadband(policy, self.deadband)
        result = evaluate_policy(policy, self.cfg, self.cases, self.seed, self.signals)
        row: dict[str, Any] = {"timesteps": int(self.num_timesteps), **compare(result, self.baseline),
                               "eval_s": time.perf_counter() - start, "elapsed_s": start - self._created}
        if label:
            row["label"] = label
        ok = row["degree_hours_above_27c"] <= self.tolerance
        if ok and (self.best is None or row[self.select] > self.best[self.select]):
            self.best = row
            best_dir = self.run_dir / "best"
            best_dir.mkdir(exist_ok=True)
            self.model.save(best_dir / "model.zip")
            if vn is not None:
                vn.save(str(best_dir / "vecnormalize.pkl"))
            (best_dir / "eval.json").write_text(json.dumps({**row, "per_case": result.per_case}, indent=2) + "\n")
        row["is_best"] = self.best is row
        self.history.append(row)
        with open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
        for key in ("facility_saving_pct", "cooling_saving_pct", "pue", "degree_hours_above_27c", "inlet_temp_max_c",
                    "setpoint_changes_per_day", "chiller_starts_per_day", "peak_facility_power_kw"):
            self.logger.record(f"eval/{key}", row[key])
        log.info("eval at %d steps: cooling %+.2f %%, facility %+.2f %% vs rule-based, PUE %.4f, %.2f K·h >27 °C, "
                 "%.0f setpoint changes/d (rule-based %.0f), %.1f chiller starts/d (rule-based %.1f)%s",
                 row["timesteps"], row["cooling_saving_pct"], row["facility_saving_pct"], row["pue"],
                 row["degree_hours_above_27c"], row["setpoint_changes_per_day"],
                 row["baseline_setpoint_changes_per_day"], row["chiller_starts_per_day"],
                 row["baseline_chiller_starts_per_day"], " (best)" if row["is_best"] else "")
        return row


class FreezeActorCallback(BaseCallback):
    """Keep a cloned PPO actor fixed while the critic learns its values (the first ``steps`` steps)."""

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = steps
        self._frozen = False

    def _params(self) -> list[Any]:
        p: Any = self.model.policy
        return [*p.mlp_extractor.policy_net.parameters(), *p.action_net.parameters(), p.log_std]

    def _on_training_start(self) -> None:
        if self.steps > 0:
            for param in self._params():
                param.requires_grad_(False)
            self._frozen = True

    def _on_step(self) -> bool:
        if self._frozen and self.num_timesteps >= self.steps:
            for param in self._params():
                param.requires_grad_(True)
            self._frozen = False
            log.info("critic warm-up done at %d steps: the actor learns from now on", self.num_timesteps)
        return True
