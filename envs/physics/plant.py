"""The facility step: ``step(state, setpoints, exogenous, params, dt_s) -> (state, outputs)``.

One physics for every caller: the single gymnasium env, the vector env, the simulation
runner and the what-if evaluation all call :func:`step` on arrays with a leading facility
axis ``N`` (and a zone axis ``Z``, padded with empty zones where facilities differ).

Energy is exact by construction: every heat flow is computed from the integrated state
change, so heat removed by the plant equals IT, fan, pump, lighting and envelope heat minus
the change in stored heat, to rounding (checked in tests/envs/test_physics.py).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from coolpilot.envs.physics._jit import jit
from coolpilot.envs.physics.air import fan_power_kw, it_power_kw, recirculation_frac, zone_step
from coolpilot.envs.physics.electrical import distribution_loss_kw
from coolpilot.envs.physics.liquid import (
    CASE_LIMIT_C,
    DESIGN_KW,
    FWS_C,
    L_CDU_KW,
    L_CDU_PUMP_KW,
    L_DRY_FAN_KW,
    L_DRY_KW,
    L_DRY_SPEED,
    L_DRY_WATER_M3,
    L_FWS_PUMP_KW,
    L_FWS_RETURN_C,
    L_HEAT_DEMAND_KW,
    L_HP_COP,
    L_HP_DELIVERED_KW,
    L_HP_KW,
    L_HP_SOURCE_KW,
    L_STORED_KJ,
    L_TCS_RETURN_C,
    L_TRIM_KW,
    N_LIQUID_OUTPUTS,
    TCS_C,
    cold_plates,
    heat_demand_kw,
    liquid_loops,
)
from coolpilot.envs.physics.storage import COLD_C, COLD_FRAC, WARM_C, tank_request, tank_update
from coolpilot.envs.physics.water import (
    chiller_capacity_kw,
    chiller_plant,
    chiller_sequencer,
    economizer_capacity_kw,
    pump_power_kw,
    tower_air_flow_ratio,
    tower_approach_k,
    tower_fan_power_kw,
    tower_water_m3,
)
from coolpilot.envs.units import AIR_RHO_CP_KJ_M3_K, WATER_RHO_CP_KJ_M3_K

SAT, FAN, CHW, CW, STAGE, CELLS, DP, CWF, WSE, TES, FWS, TCS, CDU, HPD = range(14)
"""Column of each lever in command arrays (the order of coolpilot.envs.contract.LEVERS).

A command is (N, 14): every lever any block defines. NaN in a column means "not commanded":
the plant's own local sequence runs that lever (``PlantParams.lever_local``), and a core
setpoint not commanded holds where its actuator is."""
N_LEVERS = 14

LIQUID_OUTPUTS = ("it_liquid_kw", "case_temp_max_c", "case_excess_k", "gpu_throttled_kw", "liquid_heat_kw",
                  "cdu_pump_kw", "fws_pump_kw", "dry_cooler_kw", "dry_cooler_fan_kw", "trim_kw", "fws_supply_c",
                  "tcs_supply_c", "heat_source_kw", "heat_pump_kw", "heat_reused_kw", "heat_demand_kw")
"""Columns of ``PlantOutputs.liquid_out`` (each also a property of :class:`PlantOutputs`)."""
O_CASE_TEMP_MAX_C, O_CASE_EXCESS_K, O_HEAT_PUMP_KW = 1, 2, 13
"""Columns of ``liquid_out`` that compiled code reads (the planner's rollout)."""

MEASURED_POINTS = (
    "outdoor_drybulb_c", "outdoor_wetbulb_c", "outdoor_rh_pct", "time_of_day_sin", "time_of_day_cos",
    "it_power_kw", "it_load_frac", "inlet_temp_max_c", "inlet_temp_mean_c", "supply_air_temp_c",
    "return_air_temp_c", "crah_fan_speed_frac", "chw_supply_temp_c", "chw_return_temp_c",
    "condenser_water_temp_c", "cooling_load_kw", "economizer_load_frac", "chillers_running",
    "cooling_power_kw", "facility_power_kw",
    "chiller_plr", "chiller_stage_up_plr", "chiller_stage_timer_min",
    "tower_cells_running", "tower_cell_flow_min_frac", "tower_fan_speed_frac",
    "chw_flow_frac", "chw_dp_setpoint_frac", "cw_flow_frac", "economizer_enable",
    "tes_soc", "tes_cold_temp_c", "tes_warm_temp_c", "tes_discharge_kw", "tes_rate_frac",
    "fws_supply_temp_c", "fws_return_temp_c", "tcs_supply_temp_c", "tcs_return_temp_c", "cdu_flow_frac",
    "case_temp_max_c", "liquid_heat_kw", "dry_cooler_fan_speed_frac", "trim_load_kw", "gpu_throttled_kw",
    "heat_demand_kw", "reused_heat_kw", "heat_pump_cop", "heat_pump_power_kw", "heat_pump_duty_frac",
)
"""Columns of ``PlantOutputs.measured``: the BMS points of every block (the grid_signals block aside)."""


class PlantParams(NamedTuple):
    """Facility parameters as arrays, (N,) per facility or (N, Z) per zone.

    Built from validated :class:`coolpilot.envs.config.FacilityConfig` objects by
    :func:`coolpilot.envs.facility.build_params`; flags are 0.0/1.0 floats.
    """

    zone_mask: np.ndarray  # (N, Z) 1 for a real zone, 0 for padding
    it_design_kw: np.ndarray  # (N, Z)
    crah_airflow_design_m3s: np.ndarray  # (N, Z)
    crah_fan_design_kw: np.ndarray  # (N, Z)
    recirc_frac: np.ndarray  # (N, Z) base recirculation share
    zone_heat_capacity_kj_k: np.ndarray  # (N, Z)
    zone_envelope_ua_kw_k: np.ndarray  # (N, Z)
    zone_lighting_kw: np.ndarray  # (N, Z)
    server_airflow_m3s_per_kw: np.ndarray  # (N,)
    server_effectiveness: np.ndarray  # (N,)
    idle_power_frac: np.ndarray  # (N,)
    server_fan_power_frac: np.ndarray  # (N,)
    server_fan_knee_c: np.ndarray  # (N,)
    server_airflow_slope_per_k: np.ndarray  # (N,)
    crah_variable_speed: np.ndarray  # (N,)
    crah_min_speed_frac: np.ndarray  # (N,)
    crah_fan_curve: np.ndarray  # (N, 5)
    coil_approach_k: np.ndarray  # (N,)
    chw_design_flow_m3s: np.ndarray  # (N,)
    chw_design_delta_t_k: np.ndarray  # (N,)
    chw_min_flow_frac: np.ndarray  # (N,)
    chw_pump_design_kw: np.ndarray  # (N,)
    chw_pump_curve: np.ndarray  # (N, 4) constant-speed pumps' curve (variable-flow plants use the DP model)
    chw_variable_flow: np.ndarray  # (N,) 1: variable-speed pumps holding a differential-pressure setpoint
    chw_dp_head_share: np.ndarray  # (N,) share of design head that is the DP setpoint
    chw_loop_heat_capacity_kj_k: np.ndarray  # (N,)
    chillers_available: np.ndarray  # (N,)
    chiller_capacity_kw: np.ndarray  # (N,)
    chiller_cop_ref: np.ndarray  # (N,)
    chiller_capft: np.ndarray  # (N, 6)
    chiller_eirft: np.ndarray  # (N, 6)
    chiller_eirfplr: np.ndarray  # (N, 3)
    chiller_chws_range_c: np.ndarray  # (N, 2)
    chiller_ecw_range_c: np.ndarray  # (N, 2)
    chiller_plr_min: np.ndarray  # (N,)
    chiller_plr_max: np.ndarray  # (N,)
    chiller_min_unloading: np.ndarray  # (N,)
    chiller_stage_down_hysteresis: np.ndarray  # (N,)
    chiller_min_run_s: np.ndarray  # (N,)
    chiller_min_off_s: np.ndarray  # (N,)
    chiller_soft_load_s: np.ndarray  # (N,)
    chiller_min_condenser_c: np.ndarray  # (N,)
    economizer_enabled: np.ndarray  # (N,)
    economizer_effectiveness: np.ndarray  # (N,)
    economizer_min_delta_t_k: np.ndarray  # (N,)
    economizer_min_hold_s: np.ndarray  # (N,)
    cw_unit_flow_m3s: np.ndarray  # (N,) condenser flow per running chiller or economizer
    cw_pump_unit_kw: np.ndarray  # (N,) condenser pump design power per unit
    cw_variable_flow: np.ndarray  # (N,) 1: variable-speed condenser pumps
    cw_pump_curve: np.ndarray  # (N, 4) condenser pump part-load curve
    tower_cells: np.ndarray  # (N,) cells available
    tower_cell_flow_m3s: np.ndarray  # (N,) design water flow per cell
    tower_cell_fan_kw: np.ndarray  # (N,) design fan power per cell
    tower_variable_speed: np.ndarray  # (N,)
    tower_design_range_k: np.ndarray  # (N,) first guess of the range before the refinement pass
    tower_min_air_flow_ratio: np.ndarray  # (N,)
    tower_cell_min_flow_frac: np.ndarray  # (N,) lowest water flow per cell (wetting)
    tower_evap_loss_pct_per_k: np.ndarray  # (N,)
    tower_drift_pct: np.ndarray  # (N,)
    tower_concentration_ratio: np.ndarray  # (N,)
    tower_coefficients: np.ndarray  # (27,) YorkCalc, shared
    ups_rated_kw: np.ndarray  # (N,)
    ups_loss_coefficients: np.ndarray  # (N, 3)
    tes: np.ndarray  # (N, 7) chilled-water storage tank, columns in coolpilot.envs.physics.storage (volume 0: none)
    setpoint_low: np.ndarray  # (N, 14) every lever's bounds
    setpoint_high: np.ndarray  # (N, 14)
    slew_per_s: np.ndarray  # (N, 14)
    lever_local: np.ndarray  # (N, 14) each lever's value under the plant's own sequence (NaN: hold)
    liquid_frac: np.ndarray  # (N, Z) share of each zone's IT heat captured by cold plates (0: air-cooled)
    liquid: np.ndarray  # (N, 35) liquid cooling and heat reuse, columns in coolpilot.envs.physics.liquid


class PlantState(NamedTuple):
    """Dynamic state: the thermal masses and the actuators."""

    zone_temp_c: np.ndarray  # (N, Z) lumped IT equipment + room air node
    inlet_temp_c: np.ndarray  # (N, Z) server inlet at the end of the last step
    chw_supply_c: np.ndarray  # (N,) chilled-water loop (supply) temperature
    actuators: np.ndarray  # (N, 14) every lever as the plant holds it now
    chillers_on: np.ndarray  # (N,) chillers running
    since_start_s: np.ndarray  # (N,) time since the last chiller start
    since_stop_s: np.ndarray  # (N,) time since the last chiller stop
    economizer_on: np.ndarray  # (N,) 1: economizer enabled, 0: locked out
    economizer_hold_s: np.ndarray  # (N,) time since the enable last changed
    tes: np.ndarray  # (N, 3) storage tank: state of charge, cold and warm zone temperatures (storage.COLD_FRAC...)
    liquid: np.ndarray  # (N, 2) TCS and FWS supply temperatures (liquid.TCS_C, liquid.FWS_C; zeros without)


class Exogenous(NamedTuple):
    """What the controller does not choose: weather and IT utilization for one step."""

    drybulb_c: np.ndarray  # (N,)
    wetbulb_c: np.ndarray  # (N,)
    utilization: np.ndarray  # (N, Z) 0..1


class PlantOutputs(NamedTuple):
    """Everything one step produces: powers (kW, step means), temperatures (°C, end of step)."""

    inlet_temp_c: np.ndarray  # (N, Z)
    it_power_zone_kw: np.ndarray  # (N, Z)
    it_power_kw: np.ndarray
    it_nominal_kw: np.ndarray
    """IT power at the step's utilization without the inlet-driven server fan rise (kW): what no
    cooling setpoint can change."""
    inlet_temp_max_c: np.ndarray
    inlet_temp_mean_c: np.ndarray
    supply_air_temp_c: np.ndarray
    return_air_temp_c: np.ndarray
    crah_fan_speed_frac: np.ndarray
    chw_supply_c: np.ndarray
    chw_return_c: np.ndarray
    condenser_water_c: np.ndarray
    chw_flow_m3s: np.ndarray
    coil_load_kw: np.ndarray
    economizer_kw: np.ndarray
    chiller_load_kw: np.ndarray
    chillers_running: np.ndarray
    chiller_plr: np.ndarray
    chiller_starts: np.ndarray
    """Chillers started during the step (count)."""
    tower_cells_running: np.ndarray
    chw_flow_frac: np.ndarray
    cw_flow_frac: np.ndarray
    economizer_enabled: np.ndarray
    levers: np.ndarray
    """(N, 14) every lever as the plant holds it at the end of the step (commanded or its own)."""
    stage_timer_s: np.ndarray
    """Time since the last chiller start or stop, at the end of the step (s)."""
    measured: np.ndarray
    """(N, 50) every point the physics measures, in :data:`MEASURED_POINTS` order; the outdoor RH and
    time-of-day columns (2, 3, 4) are left zero for the caller, who knows the clock and the humidity."""
    heat_rejected_kw: np.ndarray
    crah_fan_kw: np.ndarray
    chiller_kw: np.ndarray
    tower_fan_kw: np.ndarray
    chw_pump_kw: np.ndarray
    cw_pump_kw: np.ndarray
    distribution_loss_kw: np.ndarray
    lighting_kw: np.ndarray
    cooling_kw: np.ndarray
    facility_kw: np.ndarray
    envelope_gain_kw: np.ndarray
    stored_heat_change_kj: np.ndarray
    water_evaporation_m3: np.ndarray
    water_drift_m3: np.ndarray
    water_blowdown_m3: np.ndarray
    tower_air_flow_ratio: np.ndarray
    tower_shortfall_k: np.ndarray
    tes_discharge_kw: np.ndarray
    """Cold the storage tank gave the loop (> 0) or took from the plant to charge (< 0), step mean (kW)."""
    tes_soc: np.ndarray
    """The tank's state of charge at the end of the step: its cold zone's share of the volume (0–1)."""
    tes_heat_change_kj: np.ndarray
    """Heat the tank's water gained over the step (kJ; part of ``stored_heat_change_kj``)."""
    tes_ambient_gain_kw: np.ndarray
    """Heat the tank gained from the outdoor air (kW; part of ``envelope_gain_kw``)."""
    liquid_out: np.ndarray
    """(N, 16) liquid cooling and heat reuse, columns :data:`LIQUID_OUTPUTS` (zeros without): one array rather than
    sixteen fields, because every field of a step's outputs is boxed on return and an air-cooled hall would pay for
    all of them (read them by name through the properties below)."""

    @property
    def it_liquid_kw(self) -> np.ndarray:
        """IT power taken by cold plates (kW; part of ``it_power_kw``)."""
        return self.liquid_out[:, 0]

    @property
    def case_temp_max_c(self) -> np.ndarray:
        """Hottest liquid-cooled module case temperature (°C; 0 without liquid cooling)."""
        return self.liquid_out[:, 1]

    @property
    def case_excess_k(self) -> np.ndarray:
        """Hottest case above the facility's case limit (K; 0 at or below it, and without liquid cooling)."""
        return self.liquid_out[:, 2]

    @property
    def gpu_throttled_kw(self) -> np.ndarray:
        """Module power shed by thermal throttling (kW): compute lost to a too-warm coolant."""
        return self.liquid_out[:, 3]

    @property
    def liquid_heat_kw(self) -> np.ndarray:
        """Heat the CDUs moved from the technology-cooling loop to the facility water (kW)."""
        return self.liquid_out[:, 4]

    @property
    def cdu_pump_kw(self) -> np.ndarray:
        """CDU pump power (kW)."""
        return self.liquid_out[:, 5]

    @property
    def fws_pump_kw(self) -> np.ndarray:
        """Facility-water pump power (kW)."""
        return self.liquid_out[:, 6]

    @property
    def dry_cooler_kw(self) -> np.ndarray:
        """Heat the dry coolers rejected to the outdoor air (kW)."""
        return self.liquid_out[:, 7]

    @property
    def dry_cooler_fan_kw(self) -> np.ndarray:
        """Dry-cooler fan power (kW)."""
        return self.liquid_out[:, 8]

    @property
    def trim_kw(self) -> np.ndarray:
        """Facility-water heat passed to the chilled-water plant by the trim exchanger (kW; in its load)."""
        return self.liquid_out[:, 9]

    @property
    def fws_supply_c(self) -> np.ndarray:
        """Facility-water supply temperature (°C; 0 without liquid cooling)."""
        return self.liquid_out[:, 10]

    @property
    def tcs_supply_c(self) -> np.ndarray:
        """Rack-coolant supply temperature (°C; 0 without liquid cooling)."""
        return self.liquid_out[:, 11]

    @property
    def heat_source_kw(self) -> np.ndarray:
        """Heat the heat pump took from the facility water (kW)."""
        return self.liquid_out[:, 12]

    @property
    def heat_pump_kw(self) -> np.ndarray:
        """Heat-pump electricity (kW): outside ``facility_kw`` (heat-export plant), inside ERE's total energy."""
        return self.liquid_out[:, 13]

    @property
    def heat_reused_kw(self) -> np.ndarray:
        """Heat delivered to the district-heating network (kW): source heat plus the heat pump's electricity."""
        return self.liquid_out[:, 14]

    @property
    def heat_demand_kw(self) -> np.ndarray:
        """Heat the district-heating network asks for (kW)."""
        return self.liquid_out[:, 15]


@jit
def has_liquid(liquid: np.ndarray) -> bool:
    """Whether any facility of the batch has liquid cooling (``PlantParams.liquid`` design heat above zero)."""
    return bool(np.any(liquid[:, DESIGN_KW] > 0.0))


@jit
def row_max(x: np.ndarray) -> np.ndarray:
    """Maximum over the last axis of an (N, Z) array (numba lacks ``max(axis=1)``)."""
    out = x[:, 0].copy()
    for j in range(1, x.shape[1]):
        out = np.maximum(out, x[:, j])
    return out


@jit
def move_actuators(
    actuators: np.ndarray, command: np.ndarray, low: np.ndarray, high: np.ndarray, slew_per_s: np.ndarray,
    dt_s: float, local: np.ndarray,
) -> np.ndarray:
    """Actuators follow the (bounded) command at their slew rates.

    A lever not commanded (NaN) follows the plant's own sequence (``local``); a core setpoint
    not commanded (``local`` NaN too) holds where it is.
    """
    wanted = np.where(np.isnan(command), local, command)
    wanted = np.where(np.isnan(wanted), actuators, wanted)
    target = np.minimum(np.maximum(wanted, low), high)
    max_move = slew_per_s * dt_s
    return actuators + np.minimum(np.maximum(target - actuators, -max_move), max_move)


@jit
def economizer_latch(
    on: np.ndarray, hold_s: np.ndarray, command: np.ndarray, min_hold_s: np.ndarray, dt_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """The economizer's enable after a command (≥ 0.5: enable), held at least ``min_hold_s`` per change.

    Not commanded (NaN): the plant's own sequence keeps it enabled (it then runs whenever the
    tower water is cold enough, as the integrated control of PHYSICS.md section 5 does).
    """
    wanted = np.where(np.isnan(command), 1.0, np.where(command >= 0.5, 1.0, 0.0))
    change = (wanted != on) & (hold_s >= min_hold_s)
    return np.where(change, wanted, on), np.where(change, 0.0, hold_s + dt_s)


@jit
def step(
    state: PlantState, command: np.ndarray, exo: Exogenous, p: PlantParams, dt_s: float
) -> tuple[PlantState, PlantOutputs]:
    """Advance N facilities by ``dt_s`` seconds under the lever ``command`` (N, 10; NaN: local sequence).

    Order within a step: actuators move (and the economizer's enable latches); IT power and
    server airflow (fans react to the last inlet temperature); chilled-water flow from the
    coils' demand, capped by the differential-pressure setpoint (valves fully open pass
    √(DP setpoint) of design flow); CRAH airflow, supply air (coil limit: no colder than chilled
    water + coil approach + fan heat, the approach widening when the coils run short of water),
    recirculation and the zone nodes; coil load; the loop and its pumps; the chiller sequencer
    (stage-up threshold, minimum run and off times, soft-loading); economizer and chillers
    sharing the load needed to bring the loop to its setpoint (capacity-limited: a short plant
    lets the loop warm); towers (cells sharing the flow, fan affinity), their fans and water;
    distribution losses and lighting. A chilled-water storage tank (``coolpilot.envs.physics.storage``)
    discharges before the plant is sequenced (the chillers see the rest of the loop's need) and
    charges from what the plant delivers beyond the hall's need.
    """
    act = move_actuators(state.actuators, command, p.setpoint_low, p.setpoint_high, p.slew_per_s, dt_s,
                         p.lever_local)
    wse_on, wse_hold = economizer_latch(state.economizer_on, state.economizer_hold_s, command[:, WSE],
                                        p.economizer_min_hold_s, dt_s)
    act[:, WSE] = wse_on
    mask = p.zone_mask

    # A batch without liquid cooling skips its arithmetic: the same numbers (every liquid term is zero), at the
    # air-cooled halls' speed.
    any_liquid = has_liquid(p.liquid)

    # --- air side (the share cold plates do not capture) ----------------------------
    air_share = 1.0 - p.liquid_frac
    air_design_kw = p.it_design_kw * mask * air_share if any_liquid else p.it_design_kw * mask
    it_kw, flow_factor = it_power_kw(
        air_design_kw, exo.utilization, state.inlet_temp_c, p.idle_power_frac,
        p.server_fan_power_frac, p.server_fan_knee_c, p.server_airflow_slope_per_k,
    )
    nominal_kw = p.it_design_kw * mask * (
        p.idle_power_frac[:, None] + (1.0 - p.idle_power_frac[:, None]) * exo.utilization
    )
    server_flow = nominal_kw * p.server_airflow_m3s_per_kw[:, None] * flow_factor
    if any_liquid:
        server_flow = server_flow * air_share
    speed = np.where(p.crah_variable_speed > 0.5, np.maximum(act[:, FAN], p.crah_min_speed_frac), 1.0)
    crah_flow = p.crah_airflow_design_m3s * speed[:, None]
    fan_kw = fan_power_kw(
        speed[:, None] * np.ones_like(crah_flow), p.crah_fan_design_kw, p.crah_fan_curve, p.crah_min_speed_frac
    )

    # --- liquid path: cold plates, CDUs, facility water, heat pump, dry coolers, trim ----
    n_fac = mask.shape[0]
    if any_liquid:
        it_liq, case_c, throttled = cold_plates(p.liquid, p.liquid_frac, p.it_design_kw * mask, nominal_kw,
                                                act[:, CDU], state.liquid)
        liq_it_total = it_liq.sum(axis=1)
        demand_heat = heat_demand_kw(p.liquid, exo.drybulb_c)
        liquid_new, lq = liquid_loops(p.liquid, state.liquid, liq_it_total, act[:, TCS], act[:, FWS],
                                      act[:, CDU], act[:, HPD], exo.drybulb_c, exo.wetbulb_c, demand_heat,
                                      WATER_RHO_CP_KJ_M3_K, dt_s)
    else:
        it_liq = np.zeros_like(nominal_kw)
        case_c = np.zeros_like(nominal_kw)
        throttled = np.zeros(n_fac)
        liq_it_total = np.zeros(n_fac)
        liquid_new = state.liquid.copy()
        lq = np.zeros((n_fac, N_LIQUID_OUTPUTS))
    trim_kw = lq[:, L_TRIM_KW]

    # --- chilled-water flow: the coils' (and the trim exchanger's) demand, capped by the DP setpoint --------
    design_flow = p.chw_design_flow_m3s
    demand_kw = ((it_kw + fan_kw) * mask).sum(axis=1) + p.zone_lighting_kw.sum(axis=1)
    if any_liquid:
        demand_kw = demand_kw + trim_kw
    needed_frac = demand_kw / (WATER_RHO_CP_KJ_M3_K * p.chw_design_delta_t_k * design_flow)
    dp = act[:, DP]
    variable = p.chw_variable_flow > 0.5
    flow_frac = np.where(
        variable,
        np.maximum(np.minimum(np.minimum(needed_frac, 1.0), np.sqrt(np.maximum(dp, 0.0))), p.chw_min_flow_frac),
        1.0,
    )
    chw_flow = flow_frac * design_flow
    # Coils short of water run a wider water range: their mean water temperature, and with it the
    # coldest supply air they can make, rises by half the range beyond design.
    coil_range = demand_kw / (chw_flow * WATER_RHO_CP_KJ_M3_K)
    starved_k = 0.5 * np.maximum(coil_range - p.chw_design_delta_t_k, 0.0)

    crah_mcp = np.maximum(crah_flow * AIR_RHO_CP_KJ_M3_K, 1e-9)
    fan_rise = fan_kw / crah_mcp
    coil_floor = state.chw_supply_c[:, None] + (p.coil_approach_k + starved_k)[:, None] + fan_rise
    supply = np.maximum(act[:, SAT][:, None], coil_floor)
    recirc = recirculation_frac(crah_flow, server_flow, p.recirc_frac)
    zone_new, inlet, heat_to_air, _ = zone_step(
        state.zone_temp_c, it_kw, server_flow, supply, recirc, p.server_effectiveness,
        p.zone_heat_capacity_kj_k, dt_s,
    )
    envelope = p.zone_envelope_ua_kw_k * (exo.drybulb_c[:, None] - state.inlet_temp_c) * mask
    gains = heat_to_air + envelope + p.zone_lighting_kw
    return_air = supply + gains / crah_mcp
    coil_kw = np.maximum(gains + fan_kw, 0.0) * mask
    coil_total = coil_kw.sum(axis=1)

    # --- chilled-water loop ---------------------------------------------------
    # Variable-speed pumps: affinity laws on a system curve whose static part is the DP setpoint,
    # P = P_des·f·(s·DP + (1 − s)·f²); constant-speed pumps: their curve (full power).
    share = p.chw_dp_head_share
    chw_pump_kw = np.where(
        variable,
        p.chw_pump_design_kw * flow_frac * (share * dp + (1.0 - share) * flow_frac * flow_frac),
        pump_power_kw(flow_frac, p.chw_pump_design_kw, p.chw_pump_curve),
    )
    chw_in = coil_total + chw_pump_kw + trim_kw if any_liquid else coil_total + chw_pump_kw
    chw_return = state.chw_supply_c + chw_in / (chw_flow * WATER_RHO_CP_KJ_M3_K)
    loop_cap = p.chw_loop_heat_capacity_kj_k
    plant_need = np.maximum(chw_in + loop_cap * (state.chw_supply_c - act[:, CHW]) / dt_s, 0.0)
    tes_out, tes_in_asked = tank_request(act[:, TES], p.tes, state.tes, plant_need, chw_return, act[:, CHW],
                                         WATER_RHO_CP_KJ_M3_K, dt_s)
    hall_need = plant_need - tes_out
    plant_asked = hall_need + tes_in_asked

    # --- economizer, chillers, towers (one refinement pass on the tower range) --------
    cells_units = p.tower_cells * p.tower_cell_flow_m3s / p.cw_unit_flow_m3s
    cw_frac = np.where(p.cw_variable_flow > 0.5, act[:, CWF], 1.0)
    wse_enabled = p.economizer_enabled * wse_on
    range_k = p.tower_design_range_k.copy()
    zero = plant_need * 0.0
    q_wse = zero.copy()
    q_ch = zero.copy()
    p_ch = zero.copy()
    n_on = state.chillers_on.copy()
    plr = zero.copy()
    cw_temp = zero.copy()
    cw_flow = zero.copy()
    units = zero.copy()
    cells_on = zero + 1.0
    cw_pump_kw = zero.copy()
    heat_rej = zero.copy()
    fr_water = zero + 1.0
    ramp = zero + 1.0
    for _ in range(2):
        full_fan_approach = tower_approach_k(p.tower_coefficients, exo.wetbulb_c, range_k, fr_water)
        cw_temp = np.maximum(act[:, CW], exo.wetbulb_c + full_fan_approach)
        wse_cap = economizer_capacity_kw(
            chw_return, cw_temp, chw_flow, p.economizer_effectiveness, p.economizer_min_delta_t_k,
            wse_enabled, WATER_RHO_CP_KJ_M3_K,
        )
        q_wse = np.minimum(wse_cap, plant_asked)
        ecw = np.maximum(cw_temp, p.chiller_min_condenser_c)
        q_avail = chiller_capacity_kw(act[:, CHW], ecw, p.chiller_capacity_kw, p.chiller_capft,
                                      p.chiller_chws_range_c, p.chiller_ecw_range_c)
        n_on = chiller_sequencer(
            plant_asked - q_wse, q_avail, state.chillers_on, state.since_start_s, state.since_stop_s,
            p.chillers_available, act[:, STAGE], p.chiller_stage_down_hysteresis, p.chiller_plr_max,
            p.chiller_min_run_s, p.chiller_min_off_s,
        )
        started = n_on > state.chillers_on
        since_start = np.where(started, 0.0, state.since_start_s)
        ramp = np.where(p.chiller_soft_load_s > 0.0,
                        np.minimum((since_start + dt_s) / np.maximum(p.chiller_soft_load_s, 1e-9), 1.0), 1.0)
        # Less condenser flow widens the range: the chillers condense against the leaving water, so the
        # curve (fitted at design flow on entering water) sees entering water raised by the extra range.
        ecw_lift = ecw + (1.0 - cw_frac) * range_k
        q_ch, p_ch, plr = chiller_plant(
            plant_asked - q_wse, act[:, CHW], ecw_lift, n_on, ramp, p.chiller_capacity_kw,
            p.chiller_cop_ref, p.chiller_capft, p.chiller_eirft, p.chiller_eirfplr,
            p.chiller_chws_range_c, p.chiller_ecw_range_c, p.chiller_plr_min, p.chiller_plr_max,
            p.chiller_min_unloading,
        )
        chiller_units = n_on * cw_frac
        units = np.maximum(chiller_units, np.where(q_wse > 0.0, cells_units, 0.0))
        cw_flow = units * p.cw_unit_flow_m3s
        cell_flows = cw_flow / p.tower_cell_flow_m3s
        spread = np.maximum(act[:, CELLS], p.tower_cell_min_flow_frac)
        cells_on = np.minimum(np.maximum(np.floor(cell_flows / spread + 1e-9), np.ceil(cell_flows / 1.25 - 1e-9)),
                              p.tower_cells)
        cells_on = np.maximum(cells_on, 1.0)
        fr_water = np.minimum(np.maximum(cell_flows / cells_on, p.tower_cell_min_flow_frac), 1.25)
        pump_units = np.maximum(n_on, np.where(q_wse > 0.0, cells_units, 0.0))
        pump_frac = np.where(q_wse > 0.0, 1.0, cw_frac)
        cw_pump_kw = pump_units * pump_power_kw(pump_frac, p.cw_pump_unit_kw, p.cw_pump_curve)
        heat_rej = q_wse + q_ch + p_ch + cw_pump_kw
        range_k = np.where(
            cw_flow > 0.0, heat_rej / np.maximum(cw_flow * WATER_RHO_CP_KJ_M3_K, 1e-9), p.tower_design_range_k
        )

    running = units > 0.0
    fr_air_needed = tower_air_flow_ratio(
        p.tower_coefficients, exo.wetbulb_c, range_k, fr_water, cw_temp - exo.wetbulb_c
    )
    fr_air = np.where(running, np.minimum(fr_air_needed, 1.0), 0.0)
    shortfall = np.where(
        running & (fr_air_needed > 1.0),
        exo.wetbulb_c + tower_approach_k(p.tower_coefficients, exo.wetbulb_c, range_k, fr_water) - cw_temp,
        0.0,
    )
    tower_kw = cells_on * tower_fan_power_kw(
        fr_air, p.tower_cell_fan_kw, p.tower_min_air_flow_ratio, p.tower_variable_speed
    )
    tower_kw = np.where(running, tower_kw, 0.0)
    cells_running = np.where(running, cells_on, 0.0)
    evap, drift, blowdown = tower_water_m3(
        heat_rej, fr_air, cells_running * p.tower_cell_flow_m3s, p.tower_evap_loss_pct_per_k, p.tower_drift_pct,
        p.tower_concentration_ratio, dt_s, WATER_RHO_CP_KJ_M3_K,
    )

    # The hall is served first: the tank charges with what the plant delivered beyond the hall's need.
    tes_new, tes_net, plant_kw, tes_gained, tes_ambient = tank_update(
        p.tes, state.tes, tes_out, tes_in_asked, q_wse + q_ch, hall_need, chw_return, act[:, CHW], exo.drybulb_c,
        WATER_RHO_CP_KJ_M3_K, dt_s,
    )
    chw_new = state.chw_supply_c + (chw_in - plant_kw) * dt_s / loop_cap

    # --- sequencer timers ---------------------------------------------------------
    starts = np.maximum(n_on - state.chillers_on, 0.0)
    stopped = n_on < state.chillers_on
    since_start_new = np.where(starts > 0.0, 0.0, state.since_start_s + dt_s)
    since_stop_new = np.where(stopped, 0.0, state.since_stop_s + dt_s)

    # --- electrical -------------------------------------------------------------
    it_total = (it_kw * mask).sum(axis=1)
    if any_liquid:
        it_total = it_total + liq_it_total
    dist_kw = distribution_loss_kw(it_total, p.ups_rated_kw, p.ups_loss_coefficients)
    lighting = p.zone_lighting_kw.sum(axis=1)
    crah_total = (fan_kw * mask).sum(axis=1)
    cooling = crah_total + chw_pump_kw + cw_pump_kw + p_ch + tower_kw
    if any_liquid:
        cooling = cooling + (lq[:, L_CDU_PUMP_KW] + lq[:, L_FWS_PUMP_KW] + lq[:, L_DRY_FAN_KW])
    facility = it_total + dist_kw + lighting + cooling

    stored = (p.zone_heat_capacity_kj_k * (zone_new - state.zone_temp_c) * mask).sum(axis=1) + loop_cap * (
        chw_new - state.chw_supply_c
    ) + tes_gained
    if any_liquid:
        stored = stored + lq[:, L_STORED_KJ]
    masked_inlet = np.where(mask > 0.5, inlet, -np.inf)
    weights = it_kw * mask
    case_max = row_max(case_c) if any_liquid else np.zeros(n_fac)
    crah_weights = crah_mcp * mask
    # --- the BMS points ------------------------------------------------------------
    load = coil_total + chw_pump_kw
    inlet_max = row_max(masked_inlet)
    inlet_mean = (inlet * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
    supply_mean = (supply * crah_weights).sum(axis=1) / crah_weights.sum(axis=1)
    return_mean = (return_air * crah_weights).sum(axis=1) / crah_weights.sum(axis=1)
    stage_timer = np.minimum(since_start_new, since_stop_new)
    measured = np.zeros((it_total.shape[0], 50))
    measured[:, 0] = exo.drybulb_c
    measured[:, 1] = exo.wetbulb_c
    measured[:, 5] = it_total
    measured[:, 6] = it_total / (p.it_design_kw * mask).sum(axis=1)
    measured[:, 7] = inlet_max
    measured[:, 8] = inlet_mean
    measured[:, 9] = supply_mean
    measured[:, 10] = return_mean
    measured[:, 11] = speed
    measured[:, 12] = chw_new
    measured[:, 13] = chw_return
    measured[:, 14] = cw_temp
    measured[:, 15] = q_wse + q_ch
    measured[:, 16] = np.where(load > 1e-9, np.minimum(q_wse / np.maximum(load, 1e-9), 1.0), 0.0)
    measured[:, 17] = n_on
    measured[:, 18] = cooling
    measured[:, 19] = facility
    measured[:, 20] = plr
    measured[:, 21] = act[:, STAGE]
    measured[:, 22] = stage_timer / 60.0
    measured[:, 23] = cells_running
    measured[:, 24] = act[:, CELLS]
    measured[:, 25] = fr_air
    measured[:, 26] = flow_frac
    measured[:, 27] = act[:, DP]
    measured[:, 28] = act[:, CWF]
    measured[:, 29] = wse_enabled
    measured[:, 30] = tes_new[:, COLD_FRAC]
    measured[:, 31] = tes_new[:, COLD_C]
    measured[:, 32] = tes_new[:, WARM_C]
    measured[:, 33] = tes_net
    measured[:, 34] = act[:, TES]
    if any_liquid:
        measured[:, 35] = liquid_new[:, FWS_C]
        measured[:, 36] = lq[:, L_FWS_RETURN_C]
        measured[:, 37] = liquid_new[:, TCS_C]
        measured[:, 38] = lq[:, L_TCS_RETURN_C]
        measured[:, 39] = act[:, CDU]
        measured[:, 40] = case_max
        measured[:, 41] = lq[:, L_CDU_KW]
        measured[:, 42] = lq[:, L_DRY_SPEED]
        measured[:, 43] = trim_kw
        measured[:, 44] = throttled
        measured[:, 45] = lq[:, L_HEAT_DEMAND_KW]
        measured[:, 46] = lq[:, L_HP_DELIVERED_KW]
        measured[:, 47] = lq[:, L_HP_COP]
        measured[:, 48] = lq[:, L_HP_KW]
        measured[:, 49] = act[:, HPD]

    lout = np.zeros((it_total.shape[0], 16))
    if any_liquid:
        lout[:, 0] = liq_it_total
        lout[:, 1] = case_max
        lout[:, 2] = np.where(p.liquid[:, DESIGN_KW] > 0.0, np.maximum(case_max - p.liquid[:, CASE_LIMIT_C], 0.0), 0.0)
        lout[:, 3] = throttled
        lout[:, 4] = lq[:, L_CDU_KW]
        lout[:, 5] = lq[:, L_CDU_PUMP_KW]
        lout[:, 6] = lq[:, L_FWS_PUMP_KW]
        lout[:, 7] = lq[:, L_DRY_KW]
        lout[:, 8] = lq[:, L_DRY_FAN_KW]
        lout[:, 9] = trim_kw
        lout[:, 10] = liquid_new[:, FWS_C]
        lout[:, 11] = liquid_new[:, TCS_C]
        lout[:, 12] = lq[:, L_HP_SOURCE_KW]
        lout[:, 13] = lq[:, L_HP_KW]
        lout[:, 14] = lq[:, L_HP_DELIVERED_KW]
        lout[:, 15] = lq[:, L_HEAT_DEMAND_KW]
    it_zone = it_kw * mask
    water_evap = evap
    if any_liquid:
        it_zone = it_zone + it_liq
        water_evap = evap + lq[:, L_DRY_WATER_M3]
    new_state = PlantState(
        zone_new, np.where(mask > 0.5, inlet, state.inlet_temp_c), chw_new, act, n_on, since_start_new,
        since_stop_new, wse_on, wse_hold, tes_new, liquid_new,
    )
    outputs = PlantOutputs(
        inlet_temp_c=inlet,
        it_power_zone_kw=it_zone,
        it_power_kw=it_total,
        it_nominal_kw=(nominal_kw * mask).sum(axis=1),
        inlet_temp_max_c=inlet_max,
        inlet_temp_mean_c=inlet_mean,
        supply_air_temp_c=supply_mean,
        return_air_temp_c=return_mean,
        crah_fan_speed_frac=speed,
        chw_supply_c=chw_new,
        chw_return_c=chw_return,
        condenser_water_c=cw_temp,
        chw_flow_m3s=chw_flow,
        coil_load_kw=coil_total,
        economizer_kw=q_wse,
        chiller_load_kw=q_ch,
        chillers_running=n_on,
        chiller_plr=plr,
        chiller_starts=starts,
        tower_cells_running=cells_running,
        chw_flow_frac=flow_frac,
        cw_flow_frac=np.where(n_on > 0.0, cw_frac, 0.0),
        economizer_enabled=wse_enabled,
        levers=act,
        stage_timer_s=stage_timer,
        measured=measured,
        heat_rejected_kw=heat_rej,
        crah_fan_kw=crah_total,
        chiller_kw=p_ch,
        tower_fan_kw=tower_kw,
        chw_pump_kw=chw_pump_kw,
        cw_pump_kw=cw_pump_kw,
        distribution_loss_kw=dist_kw,
        lighting_kw=lighting,
        cooling_kw=cooling,
        facility_kw=facility,
        envelope_gain_kw=(envelope).sum(axis=1) + tes_ambient,
        stored_heat_change_kj=stored,
        water_evaporation_m3=water_evap,
        water_drift_m3=drift,
        water_blowdown_m3=blowdown,
        tower_air_flow_ratio=fr_air,
        tower_shortfall_k=shortfall,
        tes_discharge_kw=tes_net,
        tes_soc=tes_new[:, COLD_FRAC],
        tes_heat_change_kj=tes_gained,
        tes_ambient_gain_kw=tes_ambient,
        liquid_out=lout,
    )
    return new_state, outputs
