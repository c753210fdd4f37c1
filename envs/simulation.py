"""Run a policy on the plant over a period: exogenous series, the loop, recorded series.

The runner is what ``coolpilot simulate`` (and later the what-if evaluation) uses; it calls
the same batched :func:`coolpilot.envs.physics.plant.step` as the gymnasium envs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from coolpilot.envs.config import FacilityConfig
from coolpilot.envs.contract import Contract, ContractError
from coolpilot.envs.facility import build_params, command_array, initial_state, points_array
from coolpilot.envs.load import LoadTable, draw_noise, load_table, load_trace, synthetic_utilization_batch
from coolpilot.envs.objectives import GridSignals, Objective, StepCost
from coolpilot.envs.physics.plant import LIQUID_OUTPUTS, Exogenous, PlantOutputs, PlantParams, PlantState, step
from coolpilot.envs.pv import grid_power_kw, pv_output, pv_power_batch
from coolpilot.envs.randomization import Randomization
from coolpilot.envs.units import SECONDS_PER_DAY
from coolpilot.envs.weather import Weather

WARMUP_S = 3600.0
"""Simulated time run before an episode or a simulation starts, so thermal masses settle."""


class Policy(Protocol):
    """Anything that maps measured points to setpoints (see coolpilot.controller.policies)."""

    name: str

    def reset(self) -> None: ...

    def act(self, points: Mapping[str, float]) -> dict[str, float]: ...


@runtime_checkable
class PlantAwarePolicy(Protocol):
    """A policy that plans on the simulator itself (the oracle): it sees the plant state and the future.

    :func:`simulate` calls ``bind`` once with the plant parameters and the whole exogenous
    series, then ``plan(state, k, points)`` instead of ``act`` before step ``k``.
    """

    name: str

    def reset(self) -> None: ...

    def act(self, points: Mapping[str, float]) -> dict[str, float]: ...

    def bind(self, params: PlantParams, exo: ExoSeries, dt_s: float) -> None: ...

    def plan(self, state: PlantState, k: int, points: Mapping[str, float]) -> dict[str, float]: ...


@dataclass(frozen=True)
class ExoSeries:
    """Exogenous inputs of one facility over an episode: weather (T,), utilization (T, Z) and PV output (T,) or None."""

    time_s: np.ndarray
    drybulb_c: np.ndarray
    wetbulb_c: np.ndarray
    rh_pct: np.ndarray
    utilization: np.ndarray
    pv_kw: np.ndarray | None = None
    """AC output of the facility's on-site PV (kW, coolpilot.envs.pv) at each row's time; None without an array."""

    def at(self, k: int) -> Exogenous:
        """Step ``k`` as a batch of one facility."""
        return Exogenous(self.drybulb_c[k : k + 1], self.wetbulb_c[k : k + 1], self.utilization[k : k + 1])


@dataclass(frozen=True)
class ExoBatch:
    """Exogenous inputs of n facilities over an episode: weather (n, T), utilization (n, T, Z), PV (n, T) or None."""

    time_s: np.ndarray
    drybulb_c: np.ndarray
    wetbulb_c: np.ndarray
    rh_pct: np.ndarray
    utilization: np.ndarray
    pv_kw: np.ndarray | None = None
    """PV output (kW; zeros for a facility without an array); None when no facility of the batch has one."""

    def row(self, i: int) -> ExoSeries:
        """Facility ``i`` as an :class:`ExoSeries`."""
        return ExoSeries(self.time_s[i], self.drybulb_c[i], self.wetbulb_c[i], self.rh_pct[i], self.utilization[i],
                         None if self.pv_kw is None else self.pv_kw[i])


def exogenous_batch(
    cfgs: Sequence[FacilityConfig], weathers: Sequence[Weather], start_s: np.ndarray, dt_s: float, n_steps: int,
    table: LoadTable, shocks: np.ndarray, x0: np.ndarray, load_scale: np.ndarray,
) -> ExoBatch:
    """Weather interpolated to the step, zone utilization and PV output of n facilities, ``n_steps`` from ``start_s``.

    ``shocks`` (n, Z, n_steps) and ``x0`` (n, Z) are the standard-normal draws of
    :func:`coolpilot.envs.load.draw_noise`; ``load_scale`` (n,) multiplies utilization.
    """
    t = start_s[:, None] + dt_s * np.arange(n_steps)[None, :]
    drybulb, wetbulb, rh = np.empty_like(t), np.empty_like(t), np.empty_like(t)
    # Facilities sharing a climate and a start time share their weather series: sample each once.
    by_series: dict[tuple[int, float], list[int]] = {}
    for i, w in enumerate(weathers):
        by_series.setdefault((id(w), float(start_s[i])), []).append(i)
    for rows in by_series.values():
        sample = weathers[rows[0]].sample(t[rows[0]])
        drybulb[rows], wetbulb[rows], rh[rows] = sample.dry_bulb_c, sample.wet_bulb_c, sample.rel_humidity_pct
    util = synthetic_utilization_batch(start_s, dt_s, n_steps, *table[1:], shocks, x0)
    util *= table.synthetic[:, None, :]
    for i, cfg in enumerate(cfgs):
        for j, zone in enumerate(cfg.zones):
            if zone.load.trace_csv is not None:
                trace = load_trace(zone.load.trace_csv)
                util[i, :, j] = trace.utilization(zone.load.trace_column or "", zone.it_design_kw, float(start_s[i]),
                                                  dt_s, n_steps)
    util *= load_scale[:, None, None]
    return ExoBatch(t, drybulb, wetbulb, rh, np.minimum(np.maximum(util, 0.0, out=util), 1.0, out=util),
                    pv_power_batch(cfgs, weathers, t))


def draw_episodes(
    rngs: Sequence[np.random.Generator], cfgs: Sequence[FacilityConfig], weather_pools: Sequence[Sequence[Weather]],
    start_days: Sequence[float | None], n_steps: int, dt_s: float, load_scale: np.ndarray, table: LoadTable,
    randomization: Randomization | None = None,
) -> tuple[list[Weather], np.ndarray, ExoBatch, np.ndarray | None]:
    """New episodes for n facilities: climate, start day, load noise and randomization factors.

    Each facility draws from its own generator, in this order: its climate from its pool,
    its start day (unless fixed), its load noise, then (with ``randomization``) its
    randomization factors; the single and the vector env both call this, so a sub-env
    seeded like a single env draws the same episode. The rest is computed in one batch.
    Returns the factors (n, 6) of :meth:`Randomization.draw`, or None.
    """
    n = len(cfgs)
    z = table.mean.shape[1]
    weathers: list[Weather] = []
    days = np.empty(n)
    shocks = np.empty((n, z, n_steps))
    x0 = np.empty((n, z))
    for i, rng in enumerate(rngs):
        pool = weather_pools[i]
        weathers.append(pool[int(rng.integers(len(pool)))])
        fixed = start_days[i]
        days[i] = float(rng.integers(0, 365)) if fixed is None else fixed
        draw_noise(table, i, rng, shocks[i], x0[i])
    factors = None
    if randomization is not None:
        factors = np.array([randomization.draw(rng) for rng in rngs])
        load_scale = load_scale * factors[:, 0]
    exo = exogenous_batch(cfgs, weathers, days * SECONDS_PER_DAY, dt_s, n_steps, table, shocks, x0, load_scale)
    return weathers, days, exo, factors


@dataclass
class SimResult:
    """Per-step series of one simulation (powers in kW as step means, temperatures in °C).

    A facility with on-site PV adds ``pv_kw`` (the array's AC output), ``grid_kw`` (facility − PV
    through the meter, never below zero unless export is allowed) and ``pv_curtailed_kw``.
    """

    facility: str
    climate: str
    policy: str
    dt_s: float
    start_s: float
    it_design_kw: float
    series: dict[str, np.ndarray] = field(default_factory=dict)
    zone_inlet_c: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    zone_names: tuple[str, ...] = ()
    zone_it_kw: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    """Per-zone IT power (kW, step means), as PDU metering trends it (a site history's per-zone load)."""

    @property
    def n_steps(self) -> int:
        """Number of control steps recorded."""
        return len(self.series["time_s"])


RECORDED_OUTPUTS = (
    "it_power_kw", "facility_kw", "cooling_kw", "crah_fan_kw", "chiller_kw", "tower_fan_kw", "chw_pump_kw",
    "cw_pump_kw", "distribution_loss_kw", "lighting_kw", "inlet_temp_max_c", "inlet_temp_mean_c",
    "supply_air_temp_c", "return_air_temp_c", "crah_fan_speed_frac", "chw_supply_c", "chw_return_c",
    "condenser_water_c", "coil_load_kw", "economizer_kw", "chiller_load_kw", "chillers_running", "chiller_plr",
    "heat_rejected_kw", "envelope_gain_kw", "stored_heat_change_kj", "water_evaporation_m3", "water_drift_m3",
    "water_blowdown_m3", "tower_shortfall_k", "chiller_starts", "tower_cells_running", "chw_flow_frac",
    "cw_flow_frac", "economizer_enabled", "tes_discharge_kw", "tes_soc", "tes_heat_change_kj",
    "tes_ambient_gain_kw", "it_liquid_kw", "case_temp_max_c", "gpu_throttled_kw", "liquid_heat_kw", "cdu_pump_kw",
    "fws_pump_kw", "dry_cooler_kw", "dry_cooler_fan_kw", "trim_kw", "fws_supply_c", "tcs_supply_c", "heat_source_kw",
    "heat_pump_kw", "heat_reused_kw", "heat_demand_kw",
)
"""Plant outputs kept per step by :func:`simulate`."""
_RECORDED_FIELDS = tuple(PlantOutputs._fields.index(name) for name in RECORDED_OUTPUTS if name not in LIQUID_OUTPUTS)
_RECORDED_LIQUID = [LIQUID_OUTPUTS.index(name) for name in RECORDED_OUTPUTS if name in LIQUID_OUTPUTS]
if [n for n in RECORDED_OUTPUTS if n not in LIQUID_OUTPUTS] + [LIQUID_OUTPUTS[i] for i in _RECORDED_LIQUID] != list(
        RECORDED_OUTPUTS):
    raise RuntimeError("RECORDED_OUTPUTS must list the plant's own outputs first, then liquid_out's columns")


StepFn = Callable[[PlantState, np.ndarray, Exogenous, PlantParams, float], tuple[PlantState, PlantOutputs]]


def warm_up(state: PlantState, params: PlantParams, exo: Exogenous, dt_s: float, step_fn: StepFn = step) -> PlantState:
    """Run :data:`WARMUP_S` of simulated time under the actuators' current setpoints."""
    for _ in range(round(WARMUP_S / dt_s)):
        state, _ = step_fn(state, state.actuators, exo, params, dt_s)
    return state


def start(
    params: PlantParams, exo0: Exogenous, rh_pct: np.ndarray, time_s: np.ndarray, dt_s: float,
    it_design_kw: np.ndarray, step_fn: StepFn = step, contract: Contract | None = None,
) -> tuple[PlantState, np.ndarray]:
    """Initial state after warm-up at the first exogenous step, and the points it reports (N, n_points).

    ``step_fn`` is :func:`coolpilot.envs.physics.plant.step` or a wrapper running it in parts;
    the points are ``contract``'s (default the core block's).
    """
    state = warm_up(initial_state(params), params, exo0, dt_s, step_fn)
    state, out = step_fn(state, state.actuators, exo0, params, dt_s)
    return state, points_array(out, exo0, rh_pct, time_s, it_design_kw, contract)


def setpoint_command(contract: Contract, setpoints: Mapping[str, float]) -> np.ndarray:
    """The physics' command (1, 9) for named setpoints of ``contract``; a setpoint not given runs locally.

    A policy may command a subset of the contract's setpoints (a contract-1 bundle commands the
    core block's, the legacy policy the core block's): the plant's own sequence runs the rest.
    Names outside the contract are refused.
    """
    unknown = [n for n in setpoints if n not in contract.setpoints_by_name]
    if unknown:
        raise ContractError(f"setpoints {unknown} are not setpoints of this facility's contract "
                            f"{list(contract.setpoint_names)}")
    row = np.array([[setpoints.get(n, np.nan) for n in contract.setpoint_names]], dtype=np.float64)
    return command_array(contract, row)


def simulate(
    cfg: FacilityConfig,
    weather: Weather,
    policy: Policy | PlantAwarePolicy,
    days: float,
    start_day: float = 0.0,
    dt_s: float = 300.0,
    seed: int = 0,
    load_scale: float = 1.0,
    adjust_params: Callable[[PlantParams], PlantParams] | None = None,
    signals: GridSignals | None = None,
    exogenous: ExoSeries | None = None,
) -> SimResult:
    """Run ``policy`` on facility ``cfg`` for ``days`` from ``start_day`` (0 = 1 January 00:00).

    The policy sees the points of the previous step (what a BMS reports) and its setpoints
    apply to the next step. Seeded: the same arguments give the same result, bit for bit.
    ``adjust_params`` maps the plant arrays built from ``cfg`` to those simulated (the
    what-if evaluation uses it for equipment outages and the site's setpoint bounds, which
    have no facility-file field); a plant-aware policy is bound to the adjusted arrays. ``signals``
    (default flat) feed the grid_signals block's points, for facilities that list it. ``exogenous``
    (``n_steps + 1`` rows from ``start_day``, as :func:`exogenous_batch` makes them) replaces the weather
    sampled from ``weather`` and the facility's load profiles: a site's recorded weather and IT load (a
    facility with PV then takes its output from ``weather``'s irradiance, unless ``exogenous`` carries it).
    Cost, carbon and the demand register read grid power, facility − PV (:func:`coolpilot.envs.pv.grid_power_kw`).
    """
    if days <= 0.0:
        raise ValueError(f"days = {days} must be > 0")
    if not 0.0 <= start_day < 366.0:
        raise ValueError(f"start_day = {start_day} must be in 0..365")
    if not 1.0 <= dt_s <= 3600.0:
        raise ValueError(f"dt_s = {dt_s} s must be in 1..3600 s")
    rng = np.random.default_rng(seed)
    n_steps = round(days * SECONDS_PER_DAY / dt_s)
    start_s = start_day * SECONDS_PER_DAY
    table = load_table([[z.load for z in cfg.zones]], len(cfg.zones))
    shocks, x0 = np.empty((len(cfg.zones), n_steps + 1)), np.empty(len(cfg.zones))
    draw_noise(table, 0, rng, shocks, x0)
    exo = exogenous_batch([cfg], [weather], np.array([start_s]), dt_s, n_steps + 1, table, shocks[None], x0[None],
                          np.array([load_scale])).row(0) if exogenous is None else exogenous
    if exo.utilization.shape != (n_steps + 1, len(cfg.zones)) or abs(exo.time_s[0] - start_s) > 1e-6 * dt_s:
        raise ValueError(f"exogenous series of {exo.utilization.shape} from {exo.time_s[0]:g} s do not fit "
                         f"{n_steps + 1} steps of {len(cfg.zones)} zones from {start_s:g} s")
    if cfg.pv.installed and exo.pv_kw is None:
        exo = replace(exo, pv_kw=pv_output(weather, cfg.pv, exo.time_s).ac_kw)
    pv = exo.pv_kw if cfg.pv.installed else None
    params = build_params([cfg])
    if adjust_params is not None:
        params = adjust_params(params)
    it_design = np.array([cfg.it_design_kw])
    contract = cfg.contract
    state, first = start(params, exo.at(0), exo.rh_pct[0:1], exo.time_s[0:1], dt_s, it_design, contract=contract)
    meter = StepCost(Objective(), signals or GridSignals.flat(), it_design, dt_s)
    meter.reset(np.array([0]), exo.time_s[0:1])
    with_signals = "grid_signals" in contract.blocks
    pv_point = "pv" in contract.blocks

    def observed(physical: np.ndarray, time_s: np.ndarray, k: int) -> np.ndarray:
        parts = [physical[0]]
        if with_signals:
            parts.append(meter.signal_points(time_s)[0])
        if pv_point and pv is not None:
            parts.append(pv[k : k + 1])
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    pts = observed(first, exo.time_s[0:1], 0)
    policy.reset()
    planner = policy if isinstance(policy, PlantAwarePolicy) else None
    if planner is not None:
        planner.bind(params, exo, dt_s)
    rec = np.empty((n_steps, len(RECORDED_OUTPUTS)))
    levers = list(contract.levers)
    sp_rec = np.empty((n_steps, len(levers)))
    zone_inlet = np.empty((n_steps, len(cfg.zones)))
    zone_it = np.empty((n_steps, len(cfg.zones)))
    grid_rec = np.empty((n_steps, 2))
    for k in range(n_steps):
        named = dict(zip(contract.point_names, pts.tolist(), strict=True))
        setpoints = policy.act(named) if planner is None else planner.plan(state, k, named)
        command = setpoint_command(contract, setpoints)
        e = exo.at(k + 1)
        state, out = step(state, command, e, params, dt_s)
        time_s = exo.time_s[k + 1 : k + 2]
        grid_kw = None
        if pv is not None:
            grid_kw, curtailed = grid_power_kw(out.facility_kw + out.heat_pump_kw, pv[k + 1 : k + 2],
                                               cfg.pv.export_allowed)
            grid_rec[k] = grid_kw[0], curtailed[0]
        if with_signals:  # the billing peak is a point only with the grid_signals block
            meter.price(out.facility_kw + out.heat_pump_kw, time_s, np.zeros(1), out.chiller_starts, grid_kw=grid_kw)
        pts = observed(points_array(out, e, exo.rh_pct[k + 1 : k + 2], time_s, it_design, contract), time_s, k + 1)
        rec[k] = [out[i][0] for i in _RECORDED_FIELDS] + out.liquid_out[0, _RECORDED_LIQUID].tolist()
        # What the plant was told: the command, or for a lever left to the plant, the value it holds.
        sp_rec[k] = np.where(np.isnan(command[0, levers]), out.levers[0, levers], command[0, levers])
        zone_inlet[k] = out.inlet_temp_c[0, : len(cfg.zones)]
        zone_it[k] = out.it_power_zone_kw[0, : len(cfg.zones)]
    series: dict[str, np.ndarray] = {
        "time_s": exo.time_s[1:],
        "outdoor_drybulb_c": exo.drybulb_c[1:],
        "outdoor_wetbulb_c": exo.wetbulb_c[1:],
        **{name: rec[:, j].copy() for j, name in enumerate(RECORDED_OUTPUTS)},
    }
    if pv is not None:
        series.update(pv_kw=pv[1:].copy(), grid_kw=grid_rec[:, 0], pv_curtailed_kw=grid_rec[:, 1])
    for j, name in enumerate(contract.setpoint_names):
        series[f"setpoint_{name}"] = sp_rec[:, j]
    return SimResult(
        facility=cfg.name, climate=weather.name, policy=policy.name, dt_s=dt_s, start_s=start_s,
        it_design_kw=cfg.it_design_kw, series=series, zone_inlet_c=zone_inlet, zone_it_kw=zone_it,
        zone_names=tuple(z.name for z in cfg.zones),
    )


def write_csv(result: SimResult, path: str | Path) -> None:
    """Write the per-step series (and per-zone inlet temperatures) as CSV."""
    cols = dict(result.series)
    for j, zone in enumerate(result.zone_names):
        cols[f"inlet_temp_c_{zone}"] = result.zone_inlet_c[:, j]
    for j, zone in enumerate(result.zone_names[: result.zone_it_kw.shape[1]]):
        cols[f"it_power_kw_{zone}"] = result.zone_it_kw[:, j]
    names = list(cols)
    data = np.column_stack([cols[n] for n in names])
    np.savetxt(Path(path), data, delimiter=",", header=",".join(names), comments="", fmt="%.8g")
