"""The native vector env: N facilities stepped in one call of the batched physics.

Sub-envs may differ in facility (zones are padded), climates, seeds, start days and load
level. Each sub-env draws its episodes from its own generator exactly as a single
:class:`coolpilot.envs.env.DataCenterEnv` seeded alike would, so N copies reproduce N single envs
bit for bit (tested). There is one copy of the physics: both call ``coolpilot.envs.physics.plant.step``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv

from coolpilot.envs.config import FacilityConfig, load_facility
from coolpilot.envs.contract import Contract, ContractError
from coolpilot.envs.env import (
    ActionPricing,
    bounds,
    check_energy_reward,
    check_episode_args,
    resolve_randomization,
    reward_terms,
)
from coolpilot.envs.facility import all_points_array, build_params, command_array, point_columns
from coolpilot.envs.load import load_table
from coolpilot.envs.objectives import GridSignals, Objective
from coolpilot.envs.physics.plant import Exogenous, PlantOutputs, PlantParams, PlantState, step
from coolpilot.envs.randomization import Randomization, apply_factors
from coolpilot.envs.simulation import draw_episodes, start
from coolpilot.envs.units import SECONDS_PER_DAY
from coolpilot.envs.weather import Weather, load_climate

SHARED_PARAMS = ("tower_coefficients",)
PARALLEL_MIN_ENVS = 512
"""Batches at least this large step as two halves on two threads (the machine's two cores)."""
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="coolpilot-physics")
"""PlantParams fields shared by all facilities (no leading facility axis)."""


def take_params(params: PlantParams, idx: np.ndarray | slice) -> PlantParams:
    """The facilities ``idx`` of a batch of parameters (a slice gives views, an index array copies)."""
    return PlantParams(*(v if name in SHARED_PARAMS else v[idx] for name, v in zip(params._fields, params,
                                                                                      strict=True)))


def _per_env(value: Any, n: int, name: str) -> list[Any]:
    """Broadcast one value, or check a sequence has one value per sub-env."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{name}: {len(value)} values given for {n} sub-envs")
        return list(value)
    return [value] * n


class DataCenterVectorEnv(VectorEnv[np.ndarray, np.ndarray, np.ndarray]):
    """``num_envs`` facilities in one batch, with gymnasium's vector API and autoreset.

    Arguments mirror :class:`coolpilot.envs.env.DataCenterEnv`; ``facility``, ``climate``,
    ``start_day`` and ``load_scale`` take one value for all sub-envs or a list with one per
    sub-env. ``climate`` (a name or a list to draw from) applies to every sub-env unless
    ``climate_per_env`` gives each its own. ``episode_days`` and ``dt_s`` are common.
    ``randomization`` (an :class:`coolpilot.envs.randomization.Randomization` or its YAML path) draws
    climate, load level and facility parameters per episode; its ``climates`` replace
    ``climate``. ``autoreset_mode``: ``NEXT_STEP`` (gymnasium's default) or ``SAME_STEP`` (what
    stable-baselines3 expects; the final observation is in ``infos["final_obs"]``).
    """

    metadata: dict[str, Any] = {"autoreset_mode": AutoresetMode.NEXT_STEP}  # noqa: RUF012

    def __init__(
        self,
        num_envs: int,
        facility: str | FacilityConfig | Sequence[str | FacilityConfig] = "modern-hall",
        climate: str | Sequence[str] = "chicago",
        climate_per_env: Sequence[str | Sequence[str]] | None = None,
        episode_days: float = 1.0,
        dt_s: float = 300.0,
        start_day: float | Sequence[float | None] | None = None,
        load_scale: float | Sequence[float] = 1.0,
        thermal_linear: float = 1.0,
        thermal_quadratic: float = 1.0,
        energy_reward: str = "facility",
        autoreset_mode: AutoresetMode = AutoresetMode.NEXT_STEP,
        randomization: Randomization | str | None = None,
        objective: Objective | None = None,
        signals: GridSignals | None = None,
        action_deadband: Mapping[str, float] | None = None,
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs = {num_envs} must be >= 1")
        if autoreset_mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            raise ValueError(f"autoreset_mode {autoreset_mode} is not supported (NEXT_STEP or SAME_STEP)")
        n = num_envs
        self.num_envs = n
        self.metadata = {"autoreset_mode": autoreset_mode}
        self.autoreset_mode = autoreset_mode
        self.start_days = _per_env(start_day, n, "start_day")
        check_episode_args(episode_days, dt_s, self.start_days)
        facilities = _per_env(facility, n, "facility")
        self.cfgs = [f if isinstance(f, FacilityConfig) else load_facility(f) for f in facilities]
        self._liquid = any(c.liquid is not None for c in self.cfgs)
        """Liquid cooling in the batch: the reward counts heat pumps' electricity and the GPU cases' excess."""
        self.contract: Contract = self.cfgs[0].contract
        for cfg in self.cfgs[1:]:
            diff = cfg.contract.differences(self.contract, f"facility {cfg.name}", f"facility {self.cfgs[0].name}")
            if diff:
                raise ContractError("facilities in one vector env must share a contract (one action and observation "
                                    "space): " + "; ".join(diff))
        self.bounds = bounds(self.contract)
        self._columns = point_columns(self.contract)
        self.randomization, climate = resolve_randomization(randomization, climate)
        pools = [climate] * n if climate_per_env is None else _per_env(list(climate_per_env), n, "climate_per_env")
        self.weathers: list[list[Weather]] = []
        for pool in pools:
            names = [pool] if isinstance(pool, str) else list(pool)
            if not names:
                raise ValueError("climate: give at least one climate name or EPW path per sub-env")
            self.weathers.append([load_climate(name) for name in names])
        self.load_scales = np.array([float(x) for x in _per_env(load_scale, n, "load_scale")])
        self.episode_days = episode_days
        self.dt_s = dt_s
        self.thermal_linear = thermal_linear
        self.thermal_quadratic = thermal_quadratic
        self.energy_reward = check_energy_reward(energy_reward)
        self.objective = objective or Objective()
        self.signals = signals or GridSignals.flat()
        self.n_steps = round(episode_days * SECONDS_PER_DAY / dt_s)
        self.n_zones = max(len(c.zones) for c in self.cfgs)
        self._base_params = build_params(self.cfgs, self.n_zones)
        self.params = PlantParams(*(a if f in SHARED_PARAMS else a.copy()
                                    for f, a in zip(self._base_params._fields, self._base_params, strict=True)))
        self._load_table = load_table([[z.load for z in c.zones] for c in self.cfgs], self.n_zones)
        self.it_design_kw = np.array([c.it_design_kw for c in self.cfgs])
        self.single_action_space = gym.spaces.Box(-1.0, 1.0, shape=(len(self.contract.setpoints),), dtype=np.float32)
        self.single_observation_space = gym.spaces.Box(self.bounds.point_low, self.bounds.point_high,
                                                       dtype=np.float32)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, n)
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, n)
        self.rngs: list[np.random.Generator] = [seeding.np_random(None)[0] for _ in range(n)]
        t = self.n_steps + 1
        # Time-major, so that when every sub-env is at the same step (the usual case) a step's
        # inputs are contiguous rows, taken without a copy.
        self._time = np.zeros((t, n))
        self._drybulb = np.zeros((t, n))
        self._wetbulb = np.zeros((t, n))
        self._rh = np.zeros((t, n))
        self._util = np.zeros((t, n, self.n_zones))
        has_pv = [c.pv.installed for c in self.cfgs]
        self._pv = np.zeros((t, n)) if any(has_pv) else None
        """PV output per step and sub-env (kW), time-major like the weather; None when no facility has an array."""
        self._k = np.zeros(n, dtype=np.int64)
        self._state: PlantState | None = None
        self._points = np.zeros((n, len(self.contract.points)))
        self._pricing = ActionPricing(self.contract, self.objective, self.signals, self.it_design_kw, dt_s,
                                      action_deadband,
                                      None if self._pv is None else np.array([c.pv.export_allowed for c in self.cfgs]))
        self.action_deadband = self._pricing.deadband_by_name
        self._needs_reset = np.zeros(n, dtype=bool)
        self.climate_names = [""] * n
        self.episode_start_days = np.zeros(n)

    # -- episodes -------------------------------------------------------------------
    def reset(
        self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset every sub-env; ``seed`` int gives sub-env i the seed ``seed + i`` (gymnasium's rule)."""
        n = self.num_envs
        seeds: list[int | None]
        if seed is None:
            seeds = [None] * n
        elif isinstance(seed, int):
            seeds = [seed + i for i in range(n)]
        else:
            seeds = list(seed)
            if len(seeds) != n:
                raise ValueError(f"seed: {len(seeds)} seeds given for {n} sub-envs")
        for i, s in enumerate(seeds):
            if s is not None or seed is None:
                self.rngs[i] = seeding.np_random(s)[0]
        self._reset_indices(np.arange(n))
        self._needs_reset[:] = False
        return self._observations(), self._reset_info()

    def _reset_indices(self, idx: np.ndarray) -> None:
        """Draw new episodes for sub-envs ``idx`` and warm them up in one batched call."""
        weathers, days, exo, factors = draw_episodes(
            [self.rngs[i] for i in idx], [self.cfgs[i] for i in idx], [self.weathers[i] for i in idx],
            [self.start_days[i] for i in idx], self.n_steps + 1, self.dt_s, self.load_scales[idx],
            self._load_table.take(idx), self.randomization,
        )
        if factors is not None:
            apply_factors(self._base_params, self.params, idx, factors)
        for i, w in zip(idx, weathers, strict=True):
            self.climate_names[i] = w.name
        self.episode_start_days[idx] = days
        self._time[:, idx], self._drybulb[:, idx], self._wetbulb[:, idx], self._rh[:, idx] = (
            exo.time_s.T, exo.drybulb_c.T, exo.wetbulb_c.T, exo.rh_pct.T)
        self._util[:, idx] = exo.utilization.transpose(1, 0, 2)
        if self._pv is not None:
            self._pv[:, idx] = 0.0 if exo.pv_kw is None else exo.pv_kw.T
        exo0 = Exogenous(exo.drybulb_c[:, 0].copy(), exo.wetbulb_c[:, 0].copy(), exo.utilization[:, 0].copy())
        state, points = start(take_params(self.params, idx), exo0, exo.rh_pct[:, 0].copy(), exo.time_s[:, 0].copy(),
                              self.dt_s, self.it_design_kw[idx], step_fn=threaded_step, contract=self.contract)
        if self._state is None or len(idx) == self.num_envs:
            self._state = state
        else:
            for full, part in zip(self._state, state, strict=True):
                full[idx] = part
        self._pricing.reset(idx, exo.time_s[:, 0], state.actuators[:, list(self.contract.levers)])
        self._points[idx] = self._pricing.with_signals(points, exo.time_s[:, 0], idx,
                                                       None if exo.pv_kw is None else exo.pv_kw[:, 0])
        self._k[idx] = 0

    def _reset_info(self) -> dict[str, Any]:
        return {"climate": np.array(self.climate_names), "start_day": self.episode_start_days.copy()}

    # -- stepping -------------------------------------------------------------------
    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every sub-env; sub-envs whose episode ended reset as ``autoreset_mode`` says."""
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        n = self.num_envs
        resetting = self._needs_reset.copy() if self.autoreset_mode == AutoresetMode.NEXT_STEP else np.zeros(n, bool)
        if resetting.any():
            self._reset_indices(np.flatnonzero(resetting))
        acts = np.asarray(actions)
        k_setpoints = len(self.contract.setpoints)
        if acts.size != n * k_setpoints:
            raise ValueError(f"actions of shape {acts.shape}: expected ({n}, {k_setpoints}), one per setpoint of the "
                             f"contract of {self.cfgs[0].name} {list(self.contract.setpoint_names)}")
        setpoints = self.bounds.action_to_setpoints(acts.reshape(n, k_setpoints))
        setpoints = self._pricing.hold(setpoints)
        command = command_array(self.contract, setpoints)
        k = self._k + 1
        if k.min() == k.max():
            at = int(k[0])
            exo = Exogenous(self._drybulb[at], self._wetbulb[at], self._util[at])
            rh, time_s = self._rh[at], self._time[at]
            pv = None if self._pv is None else self._pv[at]
        else:
            rows = np.arange(n)
            exo = Exogenous(self._drybulb[k, rows], self._wetbulb[k, rows], self._util[k, rows])
            rh, time_s = self._rh[k, rows], self._time[k, rows]
            pv = None if self._pv is None else self._pv[k, rows]
        new_state, out, points = self._physics(command, exo, rh, time_s)
        # A heat pump's electricity is bought too; a GPU case over its limit is a thermal excess.
        bought_kw = out.facility_kw + out.heat_pump_kw if self._liquid else out.facility_kw
        energy, thermal = reward_terms(bought_kw, self.it_design_kw, out.inlet_temp_c, self.params.zone_mask,
                                       self.thermal_linear, self.thermal_quadratic,
                                       out.it_nominal_kw if self.energy_reward == "controllable" else 0.0,
                                       out.case_excess_k if self._liquid else None)
        keep = ~resetting
        energy, wear, cost = self._pricing.price(energy, bought_kw, time_s, setpoints, out.chiller_starts, keep,
                                                 pv)
        points = self._pricing.with_signals(points, time_s, pv_kw=pv)
        if resetting.any():
            for full, part in zip(self._state, new_state, strict=True):
                full[keep] = part[keep]
            self._points[keep] = points[keep]
            self._k[keep] = k[keep]
        else:
            self._state, self._points, self._k = new_state, points, k
        rewards = np.where(keep, energy + thermal + wear, 0.0)
        truncated = keep & (self._k >= self.n_steps)
        terminated = np.zeros(n, dtype=bool)
        infos: dict[str, Any] = {
            "reward_energy": np.where(keep, energy, 0.0),
            "reward_thermal": np.where(keep, thermal, 0.0),
            "reward_wear": np.where(keep, wear, 0.0),
            "cost": np.where(keep, cost, np.nan),
            "facility_kw": np.where(keep, out.facility_kw, np.nan),  # NaN: the sub-env reset instead
            "inlet_temp_max_c": np.where(keep, out.inlet_temp_max_c, np.nan),
        }
        if pv is not None:
            infos["pv_kw"] = np.where(keep, pv, np.nan)
        obs = self._observations()
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            self._needs_reset = truncated.copy()
        elif truncated.any():
            done = np.flatnonzero(truncated)
            infos["final_obs"] = obs.copy()
            infos["_final_obs"] = truncated.copy()
            self._reset_indices(done)
            obs = self._observations()
        return obs, rewards, terminated, truncated, infos

    def _physics(
        self, command: np.ndarray, exo: Exogenous, rh: np.ndarray, time_s: np.ndarray
    ) -> tuple[PlantState, StepSummary, np.ndarray]:
        """One physics step of every sub-env; large batches run as two halves on two threads.

        The compiled kernels release the GIL, so halves run in parallel; every facility is
        computed element-wise, so the split changes no result. Of the step's outputs only what the
        vector env reads is kept (:class:`StepSummary`): the halves' other outputs are never copied.
        """
        assert self._state is not None
        n = self.num_envs
        if n < PARALLEL_MIN_ENVS:
            state, out, points = _step_points(self._state, command, exo, self.params, self.dt_s, rh, time_s,
                                              self.it_design_kw, self._columns)
            return state, StepSummary.of(out), points
        futures = [
            _POOL.submit(_step_points, PlantState(*(a[h] for a in self._state)), command[h],
                         Exogenous(*(a[h] for a in exo)), take_params(self.params, h), self.dt_s, rh[h], time_s[h],
                         self.it_design_kw[h], self._columns)
            for h in _halves(n)
        ]
        (s0, o0, p0), (s1, o1, p1) = (f.result() for f in futures)
        state = PlantState(*(np.concatenate(pair) for pair in zip(s0, s1, strict=True)))
        summary = StepSummary(*(np.concatenate(pair) for pair in zip(StepSummary.of(o0), StepSummary.of(o1),
                                                                       strict=True)))
        return state, summary, np.concatenate((p0, p1))

    def _observations(self) -> np.ndarray:
        return self.bounds.observe(self._points)


def _step_points(
    state: PlantState, command: np.ndarray, exo: Exogenous, params: PlantParams, dt_s: float, rh: np.ndarray,
    time_s: np.ndarray, it_design_kw: np.ndarray, columns: np.ndarray,
) -> tuple[PlantState, PlantOutputs, np.ndarray]:
    """Physics step and the points it reports in the contract's order (one unit of work for a thread)."""
    new_state, out = step(state, command, exo, params, dt_s)
    return new_state, out, all_points_array(out, exo, rh, time_s, it_design_kw)[:, columns]


class StepSummary(NamedTuple):
    """The outputs of a physics step the vector env reads (rewards, pricing, infos)."""

    facility_kw: np.ndarray
    heat_pump_kw: np.ndarray
    inlet_temp_c: np.ndarray
    inlet_temp_max_c: np.ndarray
    it_nominal_kw: np.ndarray
    case_excess_k: np.ndarray
    chiller_starts: np.ndarray

    @classmethod
    def of(cls, out: PlantOutputs) -> StepSummary:
        """The summary of a step's full outputs."""
        return cls(out.facility_kw, out.heat_pump_kw, out.inlet_temp_c, out.inlet_temp_max_c, out.it_nominal_kw,
                   out.case_excess_k, out.chiller_starts)


def _halves(n: int) -> tuple[slice, slice]:
    return slice(0, n // 2), slice(n // 2, n)


def threaded_step(
    state: PlantState, command: np.ndarray, exo: Exogenous, params: PlantParams, dt_s: float
) -> tuple[PlantState, PlantOutputs]:
    """:func:`coolpilot.envs.physics.plant.step`, as two halves on two threads for large batches (same results)."""
    n = command.shape[0]
    if n < PARALLEL_MIN_ENVS:
        return step(state, command, exo, params, dt_s)
    futures = [
        _POOL.submit(step, PlantState(*(a[h] for a in state)), command[h], Exogenous(*(a[h] for a in exo)),
                     take_params(params, h), dt_s)
        for h in _halves(n)
    ]
    (s0, o0), (s1, o1) = (f.result() for f in futures)
    return (PlantState(*(np.concatenate(p) for p in zip(s0, s1, strict=True))),
            PlantOutputs(*(np.concatenate(p) for p in zip(o0, o1, strict=True))))
