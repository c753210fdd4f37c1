"""From validated facility configs to physics arrays, initial states and BMS points."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

from coolpilot.envs.config import ASHRAE_LIQUID_CLASSES, FacilityConfig
from coolpilot.envs.contract import GRID_SIGNALS, LEVERS, POINT_SPECS, PV, SETPOINT_SPECS, Contract
from coolpilot.envs.physics import liquid, storage
from coolpilot.envs.physics.coefficients import (
    CHILLER_MODELS,
    FAN_CURVES,
    PUMP_CURVE_CONSTANT,
    PUMP_CURVE_VSD,
    TOWER_YORKCALC,
)
from coolpilot.envs.physics.plant import MEASURED_POINTS, N_LEVERS, Exogenous, PlantOutputs, PlantParams, PlantState
from coolpilot.envs.units import SECONDS_PER_DAY, SECONDS_PER_MINUTE, WATER_RHO_CP_KJ_M3_K

LEGACY_SETPOINTS = np.array([18.0, 1.0, 7.0, 29.4])
"""Core setpoints a plant holds before any policy acts (the legacy practice)."""

if len(LEVERS) != N_LEVERS:
    raise RuntimeError("coolpilot.envs.physics.plant.N_LEVERS is out of step with coolpilot.envs.contract.LEVERS")


def command_array(contract: Contract, setpoints: np.ndarray) -> np.ndarray:
    """The physics' command (N, 9) from setpoints (N, K) in ``contract`` order; other levers NaN (local)."""
    values = np.asarray(setpoints, dtype=np.float64)
    out = np.full((values.shape[0], N_LEVERS), np.nan)
    out[:, _lever_columns(contract)] = values
    return out


@functools.lru_cache(maxsize=64)
def _lever_columns(contract: Contract) -> list[int]:
    return list(contract.levers)


def build_params(configs: Sequence[FacilityConfig], n_zones: int | None = None) -> PlantParams:
    """Stack N facility configs into :class:`PlantParams`, padding zones to ``n_zones``."""
    z_max = max(len(c.zones) for c in configs)
    z = z_max if n_zones is None else n_zones
    if z < z_max:
        raise ValueError(f"n_zones = {z} is fewer than the {z_max} zones of a facility")
    rows = [_facility_row(c, z) for c in configs]
    fields = {name: np.stack([r[name] for r in rows]).astype(np.float64) for name in rows[0]}
    fields["tower_coefficients"] = np.array(TOWER_YORKCALC, dtype=np.float64)
    return PlantParams(**fields)


def _padded(values: list[float], z: int, fill: float) -> np.ndarray:
    return np.array(values + [fill] * (z - len(values)), dtype=np.float64)


def _facility_row(c: FacilityConfig, z: int) -> dict[str, np.ndarray]:
    zones = c.zones
    it_total = c.it_design_kw
    share = [zn.it_design_kw / it_total for zn in zones]
    curves = CHILLER_MODELS[c.chillers.model]
    chw_pump_kw = c.chw_design_flow_m3s * c.chilled_water.pump_head_pa / c.chilled_water.pump_efficiency / 1000.0
    cw_pump_kw = c.cw_unit_flow_m3s * c.towers.pump_head_pa / c.towers.pump_efficiency / 1000.0
    cell_heat_kw = c.chillers.capacity_kw * (1.0 + 1.0 / c.chiller_cop_ref)
    # Cells share the plant's design heat rejection evenly.
    cell_heat_kw *= c.chillers.count / c.tower_cells
    cell_flow = cell_heat_kw / (WATER_RHO_CP_KJ_M3_K * c.towers.design_range_k)
    specs = [SETPOINT_SPECS[name] for name in LEVERS]
    slew = np.array([s.slew_per_min / SECONDS_PER_MINUTE for s in specs])
    nan = float("nan")
    fws_local, tcs_local = _liquid_design_temps(c)
    local = [nan, nan, nan, nan, c.chillers.stage_up_plr, c.towers.sequence_cell_flow_frac,
             c.chilled_water.dp_setpoint_frac, 1.0, 1.0, 0.0,  # a tank left to the plant idles
             fws_local, tcs_local, 1.0, 1.0]  # liquid loops at design, the heat pump meets demand
    low = [s.low for s in specs]
    low[LEVERS.index("cw_flow_frac")] = max(low[LEVERS.index("cw_flow_frac")], c.towers.pump_min_flow_frac)
    high = [s.high for s in specs]
    if c.liquid is not None:  # the facility's ASHRAE liquid-cooling class caps its FWS supply
        fws = LEVERS.index("fws_supply_temp_c")
        high[fws] = min(high[fws], ASHRAE_LIQUID_CLASSES[c.liquid.facility_water.ashrae_class])
    a = np.asarray
    return {
        "zone_mask": _padded([1.0] * len(zones), z, 0.0),
        "it_design_kw": _padded([zn.it_design_kw for zn in zones], z, 0.0),
        "crah_airflow_design_m3s": _padded([c.crah_airflow_design_m3s(zn) for zn in zones], z, 0.0),
        "crah_fan_design_kw": _padded([c.crah_fan_design_kw(zn) for zn in zones], z, 0.0),
        "recirc_frac": _padded([zn.recirculation_frac for zn in zones], z, 0.0),
        "zone_heat_capacity_kj_k": _padded([c.zone_heat_capacity_kj_k(zn) for zn in zones], z, 1.0),
        "zone_envelope_ua_kw_k": _padded([c.envelope_ua_kw_per_k * s for s in share], z, 0.0),
        "zone_lighting_kw": _padded([c.lighting_kw * s for s in share], z, 0.0),
        "server_airflow_m3s_per_kw": a(c.server_airflow_m3s_per_kw),
        "server_effectiveness": a(c.servers.heat_exchange_effectiveness),
        "idle_power_frac": a(c.servers.idle_power_frac),
        "server_fan_power_frac": a(c.servers.fan_power_frac),
        "server_fan_knee_c": a(c.servers.fan_knee_c),
        "server_airflow_slope_per_k": a(c.servers.airflow_slope_per_k),
        "crah_variable_speed": a(float(c.crah.variable_speed)),
        "crah_min_speed_frac": a(c.crah.min_speed_frac),
        "crah_fan_curve": a(FAN_CURVES[c.crah.fan_curve]),
        "coil_approach_k": a(c.crah.coil_approach_k),
        "chw_design_flow_m3s": a(c.chw_design_flow_m3s),
        "chw_design_delta_t_k": a(c.chilled_water.design_delta_t_k),
        "chw_min_flow_frac": a(c.chilled_water.min_flow_frac if c.chilled_water.variable_flow else 1.0),
        "chw_pump_design_kw": a(chw_pump_kw),
        "chw_pump_curve": a(PUMP_CURVE_CONSTANT),
        "chw_variable_flow": a(float(c.chilled_water.variable_flow)),
        "chw_dp_head_share": a(c.chilled_water.dp_head_share),
        "chw_loop_heat_capacity_kj_k": a(c.chw_loop_volume_m3 * WATER_RHO_CP_KJ_M3_K),
        "chillers_available": a(float(c.chillers_available)),
        "chiller_capacity_kw": a(c.chillers.capacity_kw),
        "chiller_cop_ref": a(c.chiller_cop_ref),
        "chiller_capft": a(curves.capft),
        "chiller_eirft": a(curves.eirft),
        "chiller_eirfplr": a(curves.eirfplr),
        "chiller_chws_range_c": a(curves.chws_range_c),
        "chiller_ecw_range_c": a(curves.ecw_range_c),
        "chiller_plr_min": a(curves.plr_min),
        "chiller_plr_max": a(curves.plr_max),
        "chiller_min_unloading": a(curves.min_unloading_ratio),
        "chiller_stage_down_hysteresis": a(c.chillers.stage_down_hysteresis),
        "chiller_min_run_s": a(c.chillers.min_run_min * SECONDS_PER_MINUTE),
        "chiller_min_off_s": a(c.chillers.min_off_min * SECONDS_PER_MINUTE),
        "chiller_soft_load_s": a(c.chillers.soft_load_min * SECONDS_PER_MINUTE),
        "chiller_min_condenser_c": a(c.chillers.min_condenser_temp_c),
        "economizer_enabled": a(float(c.economizer.enabled)),
        "economizer_effectiveness": a(c.economizer.effectiveness),
        "economizer_min_delta_t_k": a(c.economizer.min_delta_t_k),
        "economizer_min_hold_s": a(c.economizer.min_hold_min * SECONDS_PER_MINUTE),
        "cw_unit_flow_m3s": a(c.cw_unit_flow_m3s),
        "cw_pump_unit_kw": a(cw_pump_kw),
        "cw_variable_flow": a(float(c.towers.pump_variable_speed)),
        "cw_pump_curve": a(PUMP_CURVE_VSD if c.towers.pump_variable_speed else PUMP_CURVE_CONSTANT),
        "tower_cells": a(float(c.tower_cells)),
        "tower_cell_flow_m3s": a(cell_flow),
        "tower_cell_fan_kw": a(c.towers.fan_power_kw_per_kw * cell_heat_kw),
        "tower_variable_speed": a(float(c.towers.variable_speed)),
        "tower_design_range_k": a(c.towers.design_range_k),
        "tower_min_air_flow_ratio": a(c.towers.min_air_flow_ratio),
        "tower_cell_min_flow_frac": a(c.towers.cell_min_flow_frac),
        "tower_evap_loss_pct_per_k": a(c.towers.evap_loss_pct_per_k),
        "tower_drift_pct": a(c.towers.drift_pct),
        "tower_concentration_ratio": a(c.towers.concentration_ratio),
        "ups_rated_kw": a(it_total),
        "ups_loss_coefficients": a([
            c.electrical.ups_loss_no_load_frac,
            c.electrical.ups_loss_proportional_frac,
            c.electrical.ups_loss_square_frac,
        ]),
        "tes": a(_tank_row(c)),
        "setpoint_low": a(low),
        "setpoint_high": a(high),
        "slew_per_s": slew,
        "lever_local": a(local),
        "liquid_frac": _padded([zn.liquid_capture_frac for zn in zones], z, 0.0),
        "liquid": a(_liquid_row(c)),
    }


PG25_RHO_CP_KJ_M3_K = 1025.0 * 3.90
"""25 % propylene glycol near 35 °C: ρ ≈ 1025 kg/m³, c_p ≈ 3.90 kJ/(kg·K) (ASHRAE Handbook Fundamentals, ch. 31)."""


def _liquid_design_temps(c: FacilityConfig) -> tuple[float, float]:
    """FWS and TCS supply temperatures the plant's own sequence holds (°C): the FWS design supply, and the TCS
    that supply plus the CDUs' design approach (without liquid cooling the levers are idle: their lowest bounds)."""
    if c.liquid is None:
        return SETPOINT_SPECS["fws_supply_temp_c"].low, SETPOINT_SPECS["tcs_supply_temp_c"].low
    fws = c.liquid.fws_design_supply_c
    return fws, fws + c.liquid.cdu.approach_k


def _liquid_row(c: FacilityConfig) -> list[float]:
    """Liquid cooling and heat reuse in ``PlantParams.liquid`` column order (all zero without liquid cooling).

    The CDUs' UA follows from their design approach by ε-NTU for a counterflow exchanger at design flows; with
    redundant units running, the area (UA) grows by (n + r)/n and pump power falls by (n/(n + r))² (each pump at
    n/(n + r) of its flow, power ∝ flow³).
    """
    row = [0.0] * liquid.N_LIQUID_PARAMS
    lc = c.liquid
    if lc is None:
        return row
    design = c.liquid_design_kw
    plates, cdu, fws, dry, hr = lc.cold_plates, lc.cdu, lc.facility_water, lc.dry_coolers, c.heat_reuse
    rho_cp_t = PG25_RHO_CP_KJ_M3_K if cdu.coolant == "pg25" else WATER_RHO_CP_KJ_M3_K
    tcs_flow = plates.design_flow_lpm_per_kw * design / 60_000.0
    fws_flow = design / (WATER_RHO_CP_KJ_M3_K * fws.design_delta_t_k)
    c_t, c_f = tcs_flow * rho_cp_t, fws_flow * WATER_RHO_CP_KJ_M3_K
    c_min, c_max = min(c_t, c_f), max(c_t, c_f)
    eff = min(design / (c_min * (design / c_t + cdu.approach_k)), 0.999)
    ratio = c_min / c_max
    ntu = eff / (1.0 - eff) if ratio > 1.0 - 1e-9 else math.log((1.0 - eff * ratio) / (1.0 - eff)) / (1.0 - ratio)
    needed = max(math.ceil(design / cdu.unit_capacity_kw - 1e-9), 1)
    running = needed + cdu.redundant_units
    row[liquid.DESIGN_KW] = design
    row[liquid.TCS_FLOW_M3S] = tcs_flow
    row[liquid.TCS_RHO_CP] = rho_cp_t
    row[liquid.CDU_UA_KW_K] = ntu * c_min * running / needed
    row[liquid.CDU_PUMP_KW] = cdu.pump_kw_per_kw * design * (needed / running) ** 2
    row[liquid.TCS_CAP_KJ_K] = cdu.loop_l_per_kw * design / 1000.0 * rho_cp_t
    row[liquid.PLATE_R_K_PER_KW] = 1000.0 * plates.resistance_k_per_w * (
        plates.design_flow_lpm_per_kw / plates.reference_flow_lpm_per_kw) ** (-plates.flow_exponent)
    row[liquid.PLATE_R_EXP] = plates.flow_exponent
    row[liquid.MODULE_KW] = plates.module_kw
    row[liquid.LEAK_PER_K] = plates.leakage_pct_per_k / 100.0
    row[liquid.CASE_REF_C] = plates.rated_case_c
    row[liquid.THROTTLE_C] = plates.throttle_c
    row[liquid.CASE_LIMIT_C] = plates.case_limit_c
    row[liquid.FWS_FLOW_M3S] = fws_flow
    row[liquid.FWS_PUMP_KW] = fws_flow * fws.pump_head_pa / fws.pump_efficiency / 1000.0
    row[liquid.FWS_DP_SHARE] = fws.dp_head_share
    row[liquid.FWS_MIN_FLOW] = fws.min_flow_frac
    row[liquid.FWS_CAP_KJ_K] = fws.loop_l_per_kw * design / 1000.0 * WATER_RHO_CP_KJ_M3_K
    row[liquid.FWS_DESIGN_DT_K] = fws.design_delta_t_k
    if dry.capacity_kw > 0.0:
        row[liquid.DRY_KW_PER_K] = dry.capacity_kw / (dry.rating_entering_c - dry.rating_drybulb_c)
        row[liquid.DRY_FAN_KW] = dry.fan_kw_per_kw * dry.capacity_kw
    row[liquid.DRY_MIN_SPEED] = dry.min_speed_frac
    row[liquid.DRY_EXP] = dry.capacity_speed_exponent
    row[liquid.DRY_ADIABATIC_EFF] = dry.adiabatic_effectiveness
    row[liquid.DRY_AIR_KG_S] = dry.capacity_kw / (liquid.AIR_CP_KJ_KG_K * dry.rating_air_rise_k)
    row[liquid.TRIM_KW] = lc.trim_capacity_kw
    if hr.installed:
        row[liquid.HP_CAP_KW] = hr.capacity_kw
        row[liquid.HP_SUPPLY_C] = hr.supply_temp_c
        row[liquid.HP_ETA] = hr.carnot_efficiency
        row[liquid.HP_APPROACH_K] = hr.approach_k
        row[liquid.HP_MIN_SOURCE_C] = hr.min_source_c
        row[liquid.HD_DESIGN_KW] = hr.design_demand_kw
        row[liquid.HD_DESIGN_OUT_C] = hr.demand_design_outdoor_c
        row[liquid.HD_BALANCE_C] = hr.demand_balance_c
        row[liquid.HD_BASE_FRAC] = hr.demand_base_frac
    return row


def _tank_row(c: FacilityConfig) -> list[float]:
    """The storage tank's parameters in ``PlantParams.tes`` column order (all zero without a tank)."""
    row = [0.0] * storage.N_TANK_PARAMS
    if c.storage.installed:
        row[storage.VOLUME] = c.storage.volume_m3
        row[storage.CHARGE_KW], row[storage.DISCHARGE_KW] = c.tes_rates_kw
        row[storage.MIXING_UA] = c.storage.mixing_ua_kw_k()
        row[storage.LOSS_UA] = c.storage.loss_ua_kw_k()
        row[storage.DELTA_T] = c.tes_delta_t_k
        row[storage.INITIAL_SOC] = c.storage.initial_soc
    return row


def initial_state(params: PlantParams, setpoints: np.ndarray | None = None) -> PlantState:
    """A plant at rest under core ``setpoints`` (N, 4) (default the legacy ones), its levers on local sequence.

    Zone nodes start near their loaded steady state for supply air at the setpoint; a
    warm-up of a few steps settles the rest (the env runs one hour of warm-up). One chiller
    runs, with its timers long expired, and the economizer is enabled. A storage tank starts at
    its configured state of charge, its cold zone at the chilled-water setpoint and its warm zone
    its rated ΔT above.
    """
    n, z = params.it_design_kw.shape
    sp = np.broadcast_to(LEGACY_SETPOINTS if setpoints is None else setpoints, (n, 4)).astype(np.float64).copy()
    act = params.lever_local.copy()
    act[:, :4] = sp
    inlet = np.repeat(sp[:, 0:1] + 1.0, z, axis=1)
    zone = inlet + 20.0
    long_ago = np.full(n, 1.0e6)
    tank = params.tes
    has_tank = tank[:, storage.VOLUME] > 0.0
    tes = np.zeros((n, 3))  # a facility without a tank reports zeros
    tes[:, storage.COLD_FRAC] = tank[:, storage.INITIAL_SOC]
    tes[:, storage.COLD_C] = np.where(has_tank, sp[:, 2], 0.0)
    tes[:, storage.WARM_C] = np.where(has_tank, sp[:, 2] + tank[:, storage.DELTA_T], 0.0)
    loops = np.zeros((n, 2))  # a facility without liquid cooling reports zeros
    has_liquid = params.liquid[:, liquid.DESIGN_KW] > 0.0
    loops[:, liquid.TCS_C] = np.where(has_liquid, act[:, LEVERS.index("tcs_supply_temp_c")], 0.0)
    loops[:, liquid.FWS_C] = np.where(has_liquid, act[:, LEVERS.index("fws_supply_temp_c")], 0.0)
    return PlantState(zone, inlet, sp[:, 2].copy(), act, np.ones(n), long_ago, long_ago.copy(), np.ones(n),
                      long_ago.copy(), tes, loops)


SIGNAL_POINTS: tuple[str, ...] = tuple(p.name for b in (GRID_SIGNALS, PV) for p in b.points)
"""Points of the grid_signals and pv blocks: appended by the envs from exogenous series, not computed by the
physics."""
ALL_POINTS: tuple[str, ...] = tuple(name for name in POINT_SPECS if name not in SIGNAL_POINTS)
"""Every point the physics measures, in block order: the columns :func:`all_points_array` computes."""

_POINT_COLUMNS = MEASURED_POINTS
"""Column order of ``PlantOutputs.measured`` and :func:`all_points_array` (the physics computes them)."""

if _POINT_COLUMNS != ALL_POINTS:
    raise RuntimeError("coolpilot.envs.physics.plant.MEASURED_POINTS is out of step with the blocks' points")


def _points_columns(
    out: PlantOutputs, exo: Exogenous, rh_pct: np.ndarray, time_s: np.ndarray, it_design_total_kw: np.ndarray
) -> np.ndarray:
    """Every measured point (N, 30): the step's ``measured`` with outdoor RH and the time of day filled in.

    ``it_design_total_kw`` is accepted for callers written against the earlier signature; the
    load fraction is computed in the step from the facility's own design IT power.
    """
    pts = out.measured.copy()
    angle = (2.0 * np.pi / SECONDS_PER_DAY) * (np.asarray(time_s) % SECONDS_PER_DAY)
    pts[:, 2] = rh_pct
    pts[:, 3] = np.sin(angle)
    pts[:, 4] = np.cos(angle)
    return pts


@functools.lru_cache(maxsize=64)
def point_columns(contract: Contract) -> np.ndarray:
    """Columns of ``contract``'s physical points in :func:`all_points_array`'s output (cached, read-only).

    The grid_signals and pv blocks' points (last in any contract) are left out: the envs append them.
    """
    cols = np.array([_POINT_COLUMNS.index(name) for name in contract.point_names if name not in SIGNAL_POINTS])
    cols.setflags(write=False)
    return cols


def all_points_array(
    out: PlantOutputs, exo: Exogenous, rh_pct: np.ndarray, time_s: np.ndarray, it_design_total_kw: np.ndarray
) -> np.ndarray:
    """Every point any block defines (N, 30), in :data:`_POINT_COLUMNS` order (select with :func:`point_columns`)."""
    return _points_columns(out, exo, rh_pct, time_s, it_design_total_kw)


def points_array(
    out: PlantOutputs, exo: Exogenous, rh_pct: np.ndarray, time_s: np.ndarray, it_design_total_kw: np.ndarray,
    contract: Contract | None = None,
) -> np.ndarray:
    """BMS points (N, n_points) in the order of ``contract`` (default the core block's points), signals left out.

    ``rh_pct`` outdoor relative humidity (%), ``time_s`` seconds since 1 January 00:00 (N,).
    """
    cols = _CORE_COLUMNS if contract is None else point_columns(contract)
    return _points_columns(out, exo, rh_pct, time_s, it_design_total_kw)[:, cols]


_CORE_COLUMNS = np.arange(20)
