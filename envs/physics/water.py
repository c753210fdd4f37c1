"""Water side: chilled-water pumps, waterside economizer, electric chillers, cooling towers.

Pure batched functions over arrays with a leading facility axis ``N``; units in names.
Sources are in each docstring (see also PHYSICS.md sections 1, 2, 3 and 5).
"""

from __future__ import annotations

import numpy as np

from coolpilot.envs.physics._jit import jit


@jit
def pump_power_kw(flow_frac: np.ndarray, design_kw: np.ndarray, curve: np.ndarray) -> np.ndarray:
    """Pump:VariableSpeed power, ``P_des·(C1 + C2·PLR + C3·PLR² + C4·PLR³)`` (pumps.tex)."""
    f = flow_frac
    return design_kw * (curve[:, 0] + f * (curve[:, 1] + f * (curve[:, 2] + f * curve[:, 3])))


@jit
def economizer_capacity_kw(
    chw_return_c: np.ndarray,
    tower_water_c: np.ndarray,
    chw_flow_m3s: np.ndarray,
    effectiveness: np.ndarray,
    min_delta_t_k: np.ndarray,
    enabled: np.ndarray,
    rho_cp_kj_m3_k: float,
) -> np.ndarray:
    """Most heat (kW) the waterside economizer can take from the chilled-water return.

    Integrated (series, upstream of the chillers) plate heat exchanger, reduced-order form
    of PHYSICS.md section 5: ``T_after = T_CHWR − ε(T_CHWR − T_CW)``. It runs whenever the
    tower water is at least ``min_delta_t_k`` colder than the return water, giving full or
    partial free cooling.
    """
    dt = chw_return_c - tower_water_c
    active = (enabled > 0.5) & (dt > min_delta_t_k)
    return np.where(active, effectiveness * dt * chw_flow_m3s * rho_cp_kj_m3_k, 0.0)


@jit
def chiller_capacity_kw(
    chw_supply_c: np.ndarray, entering_condenser_c: np.ndarray, capacity_kw: np.ndarray, capft: np.ndarray,
    chws_range_c: np.ndarray, ecw_range_c: np.ndarray,
) -> np.ndarray:
    """Available capacity of one chiller, ``Q_ref·CAPFT(T_chws, T_ecw)`` (kW; inputs clamped to the fit range)."""
    n = chw_supply_c.shape[0]
    out = np.empty(n)
    for m in range(n):
        x = min(max(chw_supply_c[m], chws_range_c[m, 0]), chws_range_c[m, 1])
        y = min(max(entering_condenser_c[m], ecw_range_c[m, 0]), ecw_range_c[m, 1])
        c = capft[m]
        out[m] = capacity_kw[m] * max(c[0] + x * (c[1] + c[2] * x) + y * (c[3] + c[4] * y) + c[5] * x * y, 0.05)
    return out


@jit
def chiller_sequencer(
    load_kw: np.ndarray,
    q_avail_kw: np.ndarray,
    n_on: np.ndarray,
    since_start_s: np.ndarray,
    since_stop_s: np.ndarray,
    n_available: np.ndarray,
    stage_up_plr: np.ndarray,
    hysteresis: np.ndarray,
    plr_max: np.ndarray,
    min_run_s: np.ndarray,
    min_off_s: np.ndarray,
) -> np.ndarray:
    """Chillers to run this step: the plant's staging sequence with minimum run and off times.

    Stage up when the running chillers would carry the load above ``stage_up_plr`` (to as many
    as that needs at once, so the loop is never left short by a slow sequence), stage down one
    chiller per step when the rest would run below ``stage_up_plr − hysteresis`` (all off with
    no load). A chiller stops only after ``min_run_s`` since the last start; a start is refused
    within ``min_off_s`` of the last stop when the just-stopped chiller is the only one off
    (anti-recycle timers; identical chillers rotate, so any other off chiller may start).
    Chillers lost to an outage stop at once. Returns the count (float).
    """
    n = load_kw.shape[0]
    out = np.empty(n)
    for m in range(n):
        avail = n_available[m]
        cur = min(n_on[m], avail)
        q1 = max(q_avail_kw[m], 1e-9)
        load = load_kw[m]
        up_to = min(max(np.ceil(load / (stage_up_plr[m] * q1) - 1e-9), 1.0), avail) if load > 1e-6 else 0.0
        if up_to > cur:
            recycling = since_stop_s[m] < min_off_s[m] and avail - cur <= 1.0
            # A plant short of capacity (the running chillers past their maximum) starts one anyway:
            # anti-recycle timers yield to keeping the loop cold.
            short = load > cur * q1 * plr_max[m]
            if not recycling:
                out[m] = up_to
            elif short:
                out[m] = min(cur + 1.0, avail)
            else:
                out[m] = cur
        elif since_start_s[m] >= min_run_s[m] and cur > 0.0:
            rest = cur - 1.0
            if load <= 1e-6 or (rest >= 1.0 and load < (stage_up_plr[m] - hysteresis[m]) * rest * q1):
                out[m] = rest
            else:
                out[m] = cur
        else:
            out[m] = cur
    return out


@jit
def chiller_plant(
    load_kw: np.ndarray,
    chw_supply_c: np.ndarray,
    entering_condenser_c: np.ndarray,
    n_on: np.ndarray,
    soft_load_frac: np.ndarray,
    capacity_kw: np.ndarray,
    cop_ref: np.ndarray,
    capft: np.ndarray,
    eirft: np.ndarray,
    eirfplr: np.ndarray,
    chws_range_c: np.ndarray,
    ecw_range_c: np.ndarray,
    plr_min: np.ndarray,
    plr_max: np.ndarray,
    min_unloading: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n_on`` identical electric chillers on DOE-2 EIR curves (EnergyPlus chillers.tex), sharing the load.

    The newest chiller may still be soft-loading: the plant's capacity is
    ``(n_on − 1 + soft_load_frac)·Q_avail``. Per chiller: ``Q_avail = Q_ref·CAPFT``,
    ``PLR = Q/Q_avail``, ``P = Q_avail·EIRFT·EIRFPLR(max(PLR, PLR_unload))·min(PLR/PLR_min, 1)/COP_ref``
    (false loading below the minimum unloading ratio, cycling below PLR_min). Curve inputs are
    clamped to their fit ranges. Heat to the condenser is ``Q + P`` (hermetic compressor,
    energy conserved).

    Returns heat removed (kW, at most the running chillers' capacity), electric power (kW) and
    the part-load ratio (1).
    """
    n = load_kw.shape[0]
    q = np.empty(n)
    power = np.empty(n)
    plr = np.empty(n)
    for m in range(n):  # an explicit loop over facilities: no array temporaries
        x = min(max(chw_supply_c[m], chws_range_c[m, 0]), chws_range_c[m, 1])
        y = min(max(entering_condenser_c[m], ecw_range_c[m, 0]), ecw_range_c[m, 1])
        c, e = capft[m], eirft[m]
        q_avail = capacity_kw[m] * max(c[0] + x * (c[1] + c[2] * x) + y * (c[3] + c[4] * y) + c[5] * x * y, 0.05)
        eir_t = max(e[0] + x * (e[1] + e[2] * x) + y * (e[3] + e[4] * y) + e[5] * x * y, 0.05)
        running = n_on[m]
        effective = max(running - 1.0 + soft_load_frac[m], 0.0) if running > 0.0 else 0.0
        q_m = min(max(load_kw[m], 0.0), effective * q_avail * plr_max[m])
        plr_m = q_m / max(running * q_avail, 1e-9) if running > 0.0 else 0.0
        plr_eff = max(plr_m, min_unloading[m])
        eir_plr = eirfplr[m, 0] + plr_eff * (eirfplr[m, 1] + plr_eff * eirfplr[m, 2])
        cycling = min(plr_m / plr_min[m], 1.0)
        q[m], plr[m] = q_m, plr_m
        power[m] = running * q_avail * eir_t * eir_plr * cycling / cop_ref[m]
    return q, power, plr


@jit
def yorkcalc_terms(
    coeffs: np.ndarray, wetbulb_c: np.ndarray, range_k: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """YorkCalc approach as a quadratic in LG: returns (A0, A1, A2) with approach = A0 + A1·LG + A2·LG².

    Inputs clamped to the model's limits (wet bulb −34.4…26.7 °C, range 1.1…22.2 K).
    """
    n = wetbulb_c.shape[0]
    a0 = np.empty(n)
    a1 = np.empty(n)
    a2 = np.empty(n)
    for m in range(n):  # an explicit loop: the 27-term sum as array expressions made ~100 temporaries
        t = min(max(wetbulb_c[m], -34.4), 26.7)
        r = min(max(range_k[m], 1.1), 22.2)
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        rj = 1.0
        for j in range(3):
            ti_rj = rj
            for i in range(3):
                s0 += coeffs[3 * j + i] * ti_rj
                s1 += coeffs[9 + 3 * j + i] * ti_rj
                s2 += coeffs[18 + 3 * j + i] * ti_rj
                ti_rj *= t
            rj *= r
        a0[m], a1[m], a2[m] = s0, s1, s2
    return a0, a1, a2


@jit
def tower_approach_k(
    coeffs: np.ndarray, wetbulb_c: np.ndarray, range_k: np.ndarray, liquid_gas_ratio: np.ndarray
) -> np.ndarray:
    """YorkCalc approach (K) = tower leaving water − wet bulb, clamped to 1.1…40 K."""
    a0, a1, a2 = yorkcalc_terms(coeffs, wetbulb_c, range_k)
    lg = np.minimum(liquid_gas_ratio, 8.0)
    return np.minimum(np.maximum(a0 + lg * (a1 + lg * a2), 1.1), 40.0)


@jit
def tower_air_flow_ratio(
    coeffs: np.ndarray,
    wetbulb_c: np.ndarray,
    range_k: np.ndarray,
    water_flow_ratio: np.ndarray,
    approach_needed_k: np.ndarray,
) -> np.ndarray:
    """Air flow ratio FR_air (1, may exceed 1 when unreachable) giving ``approach_needed_k``.

    Solves YorkCalc, quadratic in LG = FR_water/FR_air, in closed form on its increasing
    branch: ``LG = 2(app − A0)/(A1 + sqrt(A1² + 4·A2·(app − A0)))``. A needed approach
    above the curve's maximum means the tower needs (almost) no fan.
    """
    a0, a1, a2 = yorkcalc_terms(coeffs, wetbulb_c, range_k)
    d = approach_needed_k - a0
    disc = a1 * a1 + 4.0 * a2 * d
    root = a1 + np.sqrt(np.maximum(disc, 0.0))
    lg = np.where((disc > 0.0) & (d > 0.0), 2.0 * d / np.maximum(root, 1e-9), 0.0)
    lg = np.where(disc <= 0.0, 8.0, lg)
    lg = np.minimum(lg, 8.0)
    return np.where(lg > 1e-9, water_flow_ratio / np.maximum(lg, 1e-9), 10.0)


@jit
def tower_fan_power_kw(
    air_flow_ratio: np.ndarray, design_kw: np.ndarray, min_air_flow_ratio: np.ndarray, variable_speed: np.ndarray
) -> np.ndarray:
    """Tower fan power (kW): cube law above the minimum air ratio, on/off cycling below it.

    Variable speed: ``P_des·FR³`` (EnergyPlus default FanPLR), cycling at the minimum ratio
    below it. Single speed: the fan cycles at full speed, ``P_des·FR``.
    """
    fr = np.minimum(np.maximum(air_flow_ratio, 0.0), 1.0)
    fr_min = min_air_flow_ratio
    vs = design_kw * np.where(fr >= fr_min, fr**3, fr_min**2 * fr)
    return np.where(variable_speed > 0.5, vs, design_kw * fr)


@jit
def tower_water_m3(
    heat_rejected_kw: np.ndarray,
    air_flow_ratio: np.ndarray,
    design_flow_m3s: np.ndarray,
    evap_loss_pct_per_k: np.ndarray,
    drift_pct: np.ndarray,
    concentration_ratio: np.ndarray,
    dt_s: float,
    rho_cp_kj_m3_k: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Make-up water over the step (m³): evaporation, drift, blowdown (cooling-towers.tex).

    Evaporation, LossFactor mode: ``V̇ = LF/100·V̇_w·ΔT_w``; since ``V̇_w·ΔT_w = Q/(ρc_p)``
    this is ``LF/100·Q/(ρc_p)`` ≈ 1.7 L per kWh rejected at the default 0.2 %/K.
    Drift ``V̇_w,des·pct/100·FR_air``; blowdown ``V̇_evap/(CR − 1) − V̇_drift``, not negative.
    """
    evap = evap_loss_pct_per_k / 100.0 * heat_rejected_kw / rho_cp_kj_m3_k * dt_s
    drift = design_flow_m3s * drift_pct / 100.0 * np.minimum(np.maximum(air_flow_ratio, 0.0), 1.0) * dt_s
    drift = np.where(heat_rejected_kw > 0.0, drift, 0.0)
    blowdown = np.maximum(evap / (concentration_ratio - 1.0) - drift, 0.0)
    return evap, drift, blowdown
