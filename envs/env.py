"""The single-facility gymnasium environment, a thin wrapper over the batched physics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from coolpilot.envs.config import FacilityConfig, load_facility
from coolpilot.envs.contract import CORE_CONTRACT, INLET_LIMIT_C, Contract
from coolpilot.envs.facility import build_params, command_array, point_columns
from coolpilot.envs.load import load_table
from coolpilot.envs.objectives import GridSignals, Objective, StepCost
from coolpilot.envs.physics.plant import PlantParams, PlantState, step
from coolpilot.envs.pv import grid_power_kw
from coolpilot.envs.randomization import Randomization, apply_factors, load_randomization
from coolpilot.envs.simulation import ExoSeries, draw_episodes, start
from coolpilot.envs.units import SECONDS_PER_DAY

if TYPE_CHECKING:
    from collections.abc import Mapping
from coolpilot.envs.weather import Weather, load_climate


class Bounds:
    """A contract's point ranges and setpoint bounds as arrays, and the action scaling they define."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self.setpoint_low = np.array([s.low for s in contract.setpoints])
        self.setpoint_high = np.array([s.high for s in contract.setpoints])
        self.half_span = 0.5 * (self.setpoint_high - self.setpoint_low)
        self.point_low = np.array([p.low for p in contract.points], dtype=np.float32)
        self.point_high = np.array([p.high for p in contract.points], dtype=np.float32)

    def action_to_setpoints(self, action: np.ndarray) -> np.ndarray:
        """Map actions in [-1, 1] to setpoints in physical units (clipped to the contract bounds)."""
        a = np.minimum(np.maximum(np.asarray(action, dtype=np.float64), -1.0), 1.0)  # np.clip costs 2 µs more
        return self.setpoint_low + (a + 1.0) * self.half_span

    def setpoints_to_action(self, setpoints: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`action_to_setpoints`."""
        return 2.0 * (np.asarray(setpoints) - self.setpoint_low) / (self.setpoint_high - self.setpoint_low) - 1.0

    def observe(self, points: np.ndarray) -> np.ndarray:
        """Points clipped to their physical ranges, as float32 observations."""
        return np.minimum(np.maximum(points, self.point_low), self.point_high).astype(np.float32)


_BOUNDS: dict[Contract, Bounds] = {}


def bounds(contract: Contract | None = None) -> Bounds:
    """The (cached) :class:`Bounds` of ``contract`` (default: the core block's)."""
    c = CORE_CONTRACT if contract is None else contract
    b = _BOUNDS.get(c)
    if b is None:
        b = _BOUNDS[c] = Bounds(c)
    return b


POINT_LOW = bounds().point_low
POINT_HIGH = bounds().point_high
"""Ranges of the core block's points (float32)."""


def action_to_setpoints(action: np.ndarray, contract: Contract | None = None) -> np.ndarray:
    """Map actions in [-1, 1] to setpoints in physical units (clipped to ``contract``'s bounds, default core)."""
    return bounds(contract).action_to_setpoints(action)


def setpoints_to_action(setpoints: np.ndarray, contract: Contract | None = None) -> np.ndarray:
    """Inverse of :func:`action_to_setpoints`."""
    return bounds(contract).setpoints_to_action(setpoints)


def check_action_deadband(contract: Contract, deadband: Mapping[str, float] | None) -> dict[str, float]:
    """Validate a per-setpoint action deadband: names of ``contract``'s setpoints, each in [0, span)."""
    out = dict(deadband or {})
    problems = []
    for name, value in out.items():
        spec = contract.setpoints_by_name.get(name)
        if spec is None:
            problems.append(f"{name!r} is not a setpoint of the contract {list(contract.setpoint_names)}")
        elif not 0.0 <= float(value) < spec.high - spec.low:
            problems.append(f"{name} = {value} {spec.unit} must lie in [0, {spec.high - spec.low:g}) {spec.unit}")
    if problems:
        raise ValueError("action_deadband: " + "; ".join(problems))
    return {k: float(v) for k, v in out.items()}


def hold_within_deadband(setpoints: np.ndarray, last: np.ndarray, deadband: np.ndarray) -> np.ndarray:
    """Setpoints (N, K) that move less than ``deadband`` (K,) from ``last`` stay at ``last``.

    A BMS-style write deadband on the policy's output: small moves are not written, so the
    plant's actuators and sequencers see fewer changes (the shipped policies' smoothness).
    The controller service's bundle policy applies the same rule against its own last output.
    """
    return np.where(np.abs(setpoints - last) < deadband, last, setpoints)


class ActionPricing:
    """Between a batch's setpoints and its reward: the write deadband and the objective's pricing.

    Shared by the single and the vector env so that both hold, price and read signals the same
    way (their bit-for-bit equivalence rests on it). ``last`` (N, K) is the setpoints each
    sub-env last wrote: the deadband holds against it and setpoint travel (the wear term) is
    measured from it. Steps are priced only when they must be (``priced``): with the default
    energy objective and no grid_signals block, the cost is the step's facility kWh and wear is
    zero, which skips the billing-peak window (a third of a single step's time).

    With on-site PV (``pv_export``: per facility, whether surplus PV is exported; None without any
    array) price, carbon and the demand register read grid power, facility − PV
    (:func:`coolpilot.envs.pv.grid_power_kw`), and the pv block's point follows the signal points.
    """

    def __init__(self, contract: Contract, objective: Objective, signals: GridSignals, it_design_kw: np.ndarray,
                 dt_s: float, action_deadband: Mapping[str, float] | None,
                 pv_export: np.ndarray | None = None) -> None:
        b = bounds(contract)
        self.objective = objective
        self.dt_s = dt_s
        self.cost = StepCost(objective, signals, it_design_kw, dt_s)
        self.signals_block = "grid_signals" in contract.blocks
        self.pv_block = "pv" in contract.blocks
        self.pv_export = pv_export
        self.appends = self.signals_block or self.pv_block
        self.priced = self.signals_block or not objective.plain_energy
        self.span = b.setpoint_high - b.setpoint_low
        self.deadband_by_name = check_action_deadband(contract, action_deadband)
        self.deadband = np.array([self.deadband_by_name.get(n, 0.0) for n in contract.setpoint_names])
        self.holds = bool(self.deadband.any())
        self.last = np.zeros((len(it_design_kw), len(contract.setpoints)))
        self._no_wear = np.zeros(len(it_design_kw))

    def reset(self, idx: np.ndarray, time_s: np.ndarray, setpoints: np.ndarray) -> None:
        """Start sub-envs ``idx`` at ``time_s`` with ``setpoints`` (their actuators' commands) as last written."""
        self.cost.reset(idx, time_s)
        self.last[idx] = setpoints

    def hold(self, setpoints: np.ndarray) -> np.ndarray:
        """``setpoints`` with moves inside the deadband held at the last written value."""
        return hold_within_deadband(setpoints, self.last, self.deadband) if self.holds else setpoints

    def price(self, energy: np.ndarray, facility_kw: np.ndarray, time_s: np.ndarray, setpoints: np.ndarray,
              starts: np.ndarray, keep: np.ndarray | None = None, pv_kw: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The step's (energy reward, wear reward, cost in the objective's unit); records ``setpoints`` as written.

        ``energy`` is the reward's energy term for the energy objective; cost and carbon replace it
        with their priced term. ``keep`` (vector env) marks the sub-envs that stepped (the others reset).
        ``pv_kw`` the step's PV output, with an array.
        """
        if self.priced:
            travel = (np.abs(setpoints - self.last) / self.span).sum(axis=1)
            grid_kw = None
            if pv_kw is not None and self.pv_export is not None:
                grid_kw = grid_power_kw(facility_kw, pv_kw, self.pv_export)[0]
            priced, wear, cost = self.cost.price(facility_kw, time_s, travel, starts, keep, grid_kw=grid_kw)
            if self.objective.kind != "energy":
                energy = priced
        else:
            wear, cost = self._no_wear, facility_kw * (self.dt_s / 3600.0)
        self.last = setpoints if keep is None else np.where(keep[:, None], setpoints, self.last)
        return energy, wear, cost

    def with_signals(self, physical: np.ndarray, time_s: np.ndarray, idx: np.ndarray | slice = slice(None),
                     pv_kw: np.ndarray | None = None) -> np.ndarray:
        """The physical points of sub-envs ``idx``, then (with the grid_signals block) their signal points, then
        (with the pv block) their PV output ``pv_kw``."""
        if not self.appends:
            return physical
        parts = [physical]
        if self.signals_block:
            parts += [self.cost.signals.sample(time_s), self.cost.peak_kw[idx][:, None]]
        if self.pv_block:
            if pv_kw is None:
                raise ValueError("the pv block's point needs the facility's PV output (pv_kw)")
            parts.append(pv_kw[:, None])
        return np.concatenate(parts, axis=1)


def check_episode_args(episode_days: float, dt_s: float, start_days: Sequence[float | None]) -> None:
    """Refuse episode settings outside their ranges (shared by the single and the vector env)."""
    if not 1.0 <= episode_days <= 365.0:
        raise ValueError(f"episode_days = {episode_days} must be in 1..365 days")
    if not 1.0 <= dt_s <= 3600.0:
        raise ValueError(f"dt_s = {dt_s} s must be in 1..3600 s")
    for day in start_days:
        if day is not None and not 0.0 <= day < 365.0:
            raise ValueError(f"start_day = {day} must be in 0..365")


def check_energy_reward(energy_reward: str) -> str:
    """``facility`` or ``controllable`` (see :func:`reward_terms`)."""
    if energy_reward not in ENERGY_REWARDS:
        raise ValueError(f"energy_reward = {energy_reward!r}: choose one of {', '.join(ENERGY_REWARDS)}")
    return energy_reward


def resolve_randomization(
    randomization: Randomization | str | None, climate: str | Sequence[str]
) -> tuple[Randomization | None, str | Sequence[str]]:
    """Load a randomization given by path; its climates, if any, replace ``climate``."""
    rand = load_randomization(randomization) if isinstance(randomization, str) else randomization
    if rand is not None and rand.climates is not None:
        return rand, rand.climates
    return rand, climate


ENERGY_REWARDS = ("facility", "controllable")


def reward_terms(
    facility_kw: np.ndarray, it_design_kw: np.ndarray, zone_inlet_c: np.ndarray, zone_mask: np.ndarray,
    thermal_linear: float, thermal_quadratic: float, baseline_kw: np.ndarray | float = 0.0,
    case_excess_k: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Energy and thermal reward terms, batched over facilities.

    energy = −(facility power − baseline) / design IT power (the step's facility energy
    normalized by the design IT energy of a step); thermal = −Σ_zones (a·e + b·e²) with
    ``e`` the excess of the zone's server inlet over 27 °C (K). ``baseline_kw`` is zero
    (``energy_reward="facility"``) or the nominal IT power no setpoint can change
    (``"controllable"``): the same optimal policy, far less reward variance from IT load.
    A liquid-cooled hall's hottest GPU case above its limit (``case_excess_k``, K; None for air-cooled halls) is
    penalized as one more zone's excess. ``facility_kw`` is what the site buys: facility power plus a heat pump's.
    """
    energy = -(facility_kw - baseline_kw) / it_design_kw
    excess = np.maximum(zone_inlet_c - INLET_LIMIT_C, 0.0) * zone_mask
    thermal = -(thermal_linear * excess + thermal_quadratic * excess**2).sum(axis=1)
    if case_excess_k is not None:
        thermal = thermal - (thermal_linear * case_excess_k + thermal_quadratic * np.square(case_excess_k))
    return energy, thermal


class DataCenterEnv(gym.Env[np.ndarray, np.ndarray]):
    """Cooling setpoints of one data-center facility, with its chilled-water plant.

    ## Description
    A facility (preset or YAML: zones of servers with CRAHs, chillers, towers, optional
    waterside economizer) runs under a climate's hourly weather interpolated to the
    control step and per-zone IT load. The agent sets four plant setpoints every step;
    actuators follow them at realistic slew rates. Physics: ``coolpilot.envs.physics`` (PHYSICS.md).

    ## Action space
    ``Box(-1, 1, (K,), float32)``, one entry per setpoint of the facility's contract
    (``facility.contract``: the core block's four, then each equipment block's), mapped
    linearly onto the setpoint bounds. The core block:

    | # | setpoint | unit | low | high | slew |
    |---|---|---|---|---|---|
    | 0 | supply_air_temp_c | °C | 14 | 26 | 0.3 K/min |
    | 1 | crah_fan_speed_frac | 1 | 0.3 | 1.0 | 0.05 /min |
    | 2 | chw_supply_temp_c | °C | 5 | 18 | 0.3 K/min |
    | 3 | condenser_water_temp_c | °C | 10 | 32 | 0.5 K/min |

    then, where the equipment has them: ``chiller_stage_up_plr`` (staged chillers),
    ``tower_cell_flow_min_frac`` (multi-cell towers on variable-speed fans),
    ``chw_dp_setpoint_frac`` (variable-flow chilled water), ``cw_flow_frac`` (variable-speed
    condenser pumps), ``economizer_enable`` (waterside economizer). ``modern-hall`` has all
    nine, ``legacy-hall`` five.

    ## Observation space
    ``Box(float32)`` of the contract's points in order, clipped to their physical ranges: the
    core block's 20 (outdoor dry bulb, wet bulb (°C) and RH (%); time of day sin/cos; IT power
    (kW) and load fraction; max and mean server inlet, supply and return air (°C); CRAH fan
    speed (1); chilled-water supply and return, condenser water (°C); cooling load (kW),
    economizer share (1), chillers running; cooling and facility power (kW)), then each
    block's (part-load ratio, stage timer, tower cells running, flows, the levers' held
    values). Only points a BMS measures: no simulator internals.

    ## Reward
    ``energy + thermal``: ``energy = −P_facility/P_IT,design`` (IT power included, and it
    grows with inlet temperature through server fans, so overheating does not pay);
    ``thermal = −Σ_zones (a·e + b·e²)``, ``e`` = inlet excess over 27 °C (K), defaults
    a = 1, b = 1. Both terms are in ``info`` (``reward_energy``, ``reward_thermal``). With
    ``energy_reward="controllable"`` the energy term leaves out the nominal IT power (IT at
    the step's utilization without the inlet-driven fan rise), which no setpoint changes: the
    optimal policy is the same, the reward's variance from IT load is gone.

    With ``objective`` (:class:`coolpilot.envs.objectives.Objective`): ``cost`` or ``carbon``
    replace the energy term by the step's cost (energy by the hour's price plus the demand
    charge on each rise of the billing peak) or carbon, on the same scale; a wear term prices
    setpoint travel and chiller starts (``info["reward_wear"]``, ``info["cost"]`` the step's
    cost in the objective's unit). ``signals`` (:class:`coolpilot.envs.objectives.GridSignals`,
    default flat) give price and carbon; facilities listing the ``grid_signals`` block read
    them, and their billing peak, as points. ``action_deadband`` (setpoint units, by name) holds a
    setpoint where it is when the action would move it less than that: a BMS write deadband
    on the policy's output, which the served bundle applies the same way. A facility with on-site PV
    (``pv:``) pays price, carbon and demand on grid power, facility − PV (``info["pv_kw"]``); its
    facility power, PUE and the energy objective are unchanged; listing the ``pv`` block adds the
    array's output as the last point.

    ## Starting state
    A random day of the year (or ``start_day``) at midnight, the climate drawn from
    ``climate`` if several are given, after one hour of warm-up under legacy setpoints.

    ## Episode end
    Truncated after ``episode_days`` (1 to 365); never terminated.

    ## Arguments
    ``facility`` preset name, YAML path or :class:`FacilityConfig`; ``climate`` bundled
    name, EPW path or a sequence of them; ``episode_days``; ``dt_s`` control step (s,
    default 300); ``start_day``; ``load_scale`` multiplies utilization;
    ``thermal_linear``, ``thermal_quadratic`` penalty weights; ``energy_reward``
    ``facility`` (default) or ``controllable``; ``randomization`` a
    :class:`coolpilot.envs.randomization.Randomization` or the path of its YAML file (climates,
    load level and facility parameters drawn per episode).

    ## Version history
    - v0: initial release (four setpoints, 20 points).
    - v1: the contract follows the equipment (contract version 2): plant levers as setpoints,
      the chiller sequencer's minimum run/off times and soft-loading, tower cells sharing flow,
      the chilled-water DP setpoint and condenser flow, the economizer's enable.
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (gymnasium convention)

    def __init__(
        self,
        facility: str | FacilityConfig = "modern-hall",
        climate: str | Sequence[str] = "chicago",
        episode_days: float = 1.0,
        dt_s: float = 300.0,
        start_day: float | None = None,
        load_scale: float = 1.0,
        thermal_linear: float = 1.0,
        thermal_quadratic: float = 1.0,
        energy_reward: str = "facility",
        randomization: Randomization | str | None = None,
        objective: Objective | None = None,
        signals: GridSignals | None = None,
        action_deadband: Mapping[str, float] | None = None,
    ) -> None:
        check_episode_args(episode_days, dt_s, [start_day])
        self.cfg = facility if isinstance(facility, FacilityConfig) else load_facility(facility)
        self.randomization, climate = resolve_randomization(randomization, climate)
        names = [climate] if isinstance(climate, str) else list(climate)
        if not names:
            raise ValueError("climate: give at least one climate name or EPW path")
        self.weathers: list[Weather] = [load_climate(n) for n in names]
        self.episode_days = episode_days
        self.dt_s = dt_s
        self.start_day = start_day
        self.load_scale = load_scale
        self.thermal_linear = thermal_linear
        self.thermal_quadratic = thermal_quadratic
        self.energy_reward = check_energy_reward(energy_reward)
        self.objective = objective or Objective()
        self.signals = signals or GridSignals.flat()
        self.n_steps = round(episode_days * SECONDS_PER_DAY / dt_s)
        self._base_params = build_params([self.cfg])
        self.params = PlantParams(*(a.copy() for a in self._base_params))
        self._liquid = self.cfg.liquid is not None
        """Liquid cooling: the reward counts a heat pump's electricity and the GPU cases' excess."""
        self._load_table = load_table([[z.load for z in self.cfg.zones]], len(self.cfg.zones))
        self.it_design_kw = np.array([self.cfg.it_design_kw])
        self.contract: Contract = self.cfg.contract
        self.bounds = bounds(self.contract)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(len(self.contract.setpoints),), dtype=np.float32)
        self.observation_space = gym.spaces.Box(self.bounds.point_low, self.bounds.point_high, dtype=np.float32)
        self._state: PlantState | None = None
        self._exo: ExoSeries | None = None
        self._k = 0
        self._points = np.zeros(len(self.contract.points))
        self._columns = point_columns(self.contract)
        self._pricing = ActionPricing(self.contract, self.objective, self.signals, self.it_design_kw, dt_s,
                                      action_deadband,
                                      np.array([self.cfg.pv.export_allowed]) if self.cfg.pv.installed else None)
        self.action_deadband = self._pricing.deadband_by_name
        self.weather = self.weathers[0]

    @property
    def points(self) -> dict[str, float]:
        """The latest points by name (what a rule-based or ONNX policy reads)."""
        return dict(zip(self.contract.point_names, self._points.tolist(), strict=True))

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Draw climate and start day from ``self.np_random``, warm up, return the first points."""
        super().reset(seed=seed)
        weathers, days, batch, factors = draw_episodes(
            [self.np_random], [self.cfg], [self.weathers], [self.start_day], self.n_steps + 1, self.dt_s,
            np.array([self.load_scale]), self._load_table, self.randomization,
        )
        if factors is not None:
            apply_factors(self._base_params, self.params, np.array([0]), factors)
        self.weather, day, self._exo = weathers[0], float(days[0]), batch.row(0)
        angle = (2.0 * np.pi / SECONDS_PER_DAY) * (self._exo.time_s % SECONDS_PER_DAY)
        self._clock = np.stack([self._exo.rh_pct, np.sin(angle), np.cos(angle)], axis=1)
        """Per step: outdoor RH, sin and cos of the time of day (points 2, 3, 4 of every contract)."""
        self._state, first = start(
            self.params, self._exo.at(0), self._exo.rh_pct[0:1], self._exo.time_s[0:1], self.dt_s, self.it_design_kw,
            contract=self.contract,
        )
        self._pricing.reset(np.array([0]), self._exo.time_s[0:1], self._state.actuators[:, list(self.contract.levers)])
        pv = None if self._exo.pv_kw is None else self._exo.pv_kw[0:1]
        self._points = self._pricing.with_signals(first, self._exo.time_s[0:1], pv_kw=pv)[0]
        self._k = 0
        return self._observation(), {"climate": self.weather.name, "start_day": day}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply setpoints for one control step."""
        if self._state is None or self._exo is None:
            raise RuntimeError("call reset() before step()")
        k = self._k + 1
        if k > self.n_steps:
            raise RuntimeError(f"the episode ended after {self.n_steps} steps; call reset()")
        if np.shape(action) != self.action_space.shape:
            raise ValueError(f"action of shape {np.shape(action)}: expected {self.action_space.shape}, one per "
                             f"setpoint of the contract of {self.cfg.name} {list(self.contract.setpoint_names)}")
        setpoints = self.bounds.action_to_setpoints(action)[None, :]
        setpoints = self._pricing.hold(setpoints)
        e = self._exo.at(k)
        self._state, out = step(self._state, command_array(self.contract, setpoints), e, self.params, self.dt_s)
        time_s = self._exo.time_s[k : k + 1]
        # A heat pump's electricity is bought too; a GPU case over its limit is a thermal excess.
        bought_kw = out.facility_kw + out.heat_pump_kw if self._liquid else out.facility_kw
        energy, thermal = reward_terms(
            bought_kw, self.it_design_kw, out.inlet_temp_c, self.params.zone_mask,
            self.thermal_linear, self.thermal_quadratic,
            out.it_nominal_kw if self.energy_reward == "controllable" else 0.0,
            out.case_excess_k if self._liquid else None,
        )
        pv = None if self._exo.pv_kw is None else self._exo.pv_kw[k : k + 1]
        energy, wear, cost = self._pricing.price(energy, bought_kw, time_s, setpoints, out.chiller_starts,
                                                 pv_kw=pv)
        physical = out.measured[:, self._columns]  # the core block leads every contract: RH, sin, cos at 2..4
        physical[0, 2:5] = self._clock[k]
        self._points = self._pricing.with_signals(physical, time_s, pv_kw=pv)[0]
        self._k = k
        info = {
            "reward_energy": float(energy[0]),
            "reward_thermal": float(thermal[0]),
            "reward_wear": float(wear[0]),
            "cost": float(cost[0]),
            "facility_kw": float(out.facility_kw[0]),
            "it_kw": float(out.it_power_kw[0]),
            "cooling_kw": float(out.cooling_kw[0]),
            "inlet_temp_max_c": float(out.inlet_temp_max_c[0]),
            "water_m3": float(out.water_evaporation_m3[0] + out.water_drift_m3[0] + out.water_blowdown_m3[0]),
            "setpoints": dict(zip(self.contract.setpoint_names, setpoints[0].tolist(), strict=True)),
            "chiller_starts": float(out.chiller_starts[0]),
        }
        if pv is not None:
            info["pv_kw"] = float(pv[0])
        return self._observation(), float(energy[0] + thermal[0] + wear[0]), False, k >= self.n_steps, info

    def _observation(self) -> np.ndarray:
        return self.bounds.observe(self._points)
