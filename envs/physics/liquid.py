"""Liquid cooling for AI halls: cold plates, CDUs, the facility water system, trim and heat reuse.

A GPU rack cooled direct-to-chip rejects most of its heat (the *liquid-captured fraction* of its
zone, ``PlantParams.liquid_frac``) into cold plates; the rest goes to the air and the CRAHs serve it
as in any hall. The liquid path, per facility:

1. **Cold plates** (:func:`cold_plates`): a module's case temperature is the local coolant
   temperature (the technology-cooling loop's supply plus half the rack's coolant rise, the mean
   along the plate) plus module power times the plate's thermal resistance. The resistance falls
   with coolant flow as a power law fitted to OCP data for a 1 kW accelerator module
   (0.039 → 0.020 K/W as PG25 flow rises from 0.4 to 2.4 L/min: exponent 0.373; PHYSICS.md section
   11). Leakage makes module power rise with case temperature (``leakage_per_k`` per K above the
   temperature the nominal power was rated at), so warm water cannot be gamed any more than warm
   air; above the throttle temperature the GPU sheds power until the case sits at it (reported as
   throttled power: lost compute).
2. **CDUs** (:func:`liquid_loops`): the technology-cooling loop (TCS, coolant of volumetric heat
   capacity ``TCS_RHO_CP``) carries the modules' heat and its pumps' heat to a counterflow heat
   exchanger against the facility water (FWS). The exchanger's UA follows from the design approach
   (TCS supply − FWS supply at design flows and load: Google's Deschutes CDU 3 K, Vertiv XDU1350
   4 K) by ε-NTU, ``NTU = ΔT_design / approach`` for balanced streams, and scales with the TCS flow
   as ``flow^0.8`` (Dittus–Boelter). Its valve holds the TCS supply setpoint when the facility water
   is cold enough; when not, the exchanger moves at most ``ε·C_min·(T_TCS,return − T_FWS)`` and the
   TCS loop warms. CDU pumps follow the affinity law on a fixed system (power ∝ flow³).
3. **Facility water** (:func:`liquid_loops`): variable-speed FWS pumps carry the CDUs' heat at the
   design ΔT (more flow when the CDUs' approach leaves less), power on the same DP-holding system
   curve as the chilled-water pumps. Its return meets, in order: the **heat pump** of a heat-reuse
   connection (it takes what district heating asks for, up to its duty and capacity, at a COP from
   a Carnot fraction: ``COP = η·T_cond / (T_cond − T_evap)`` with ``T_evap`` the FWS return less
   ``HP_APPROACH_K`` and ``T_cond`` the heating supply plus it; η = 0.50 and 8 K reproduce the
   COPs PHYSICS.md section 11 quotes from 45 °C source water, 5.5 / 4.3 / 3.5 at 60 / 70 / 80 °C,
   within 2 %); the **dry coolers** (capacity at full fan speed proportional to entering water
   minus dry bulb, the rating practice of EN 1048 / Eurovent, scaled by ``speed^DRY_EXP`` for part
   airflow; fan power ∝ speed³, fans cycling below their minimum speed; adiabatic units spray the
   entering air, cooling it towards the wet bulb by their effectiveness, only in the hours the dry
   coil cannot carry the load, and evaporate the water that cooling takes); then the **trim**: what
   the dry coolers cannot reject is passed, up to the trim exchanger's capacity, to the chilled-water
   plant (its chillers, economizer and towers, :mod:`coolpilot.envs.physics.plant`), which is how
   a warm-water plant's trim chillers carry the hours the weather does not allow. Heat nobody can
   take warms the facility water.
4. **Heat demand** of the district-heating connection follows outdoor temperature (a degree-hour
   model: design demand at the design outdoor temperature, falling linearly to a base share, hot
   water, at the balance temperature).

Energy is exact by construction as in the rest of the plant: each loop's temperature integrates
heat in minus heat out over its heat capacity, and the plant kernel adds the loops' stored heat to
``stored_heat_change_kj``; the modules' heat, the CDU and FWS pumps' heat leave through the heat
pump's source side, the dry coolers and the trim exchanger (tests/envs/test_liquid.py).

Both functions are scalar loops over facilities (no temporaries): a facility without liquid
cooling (``DESIGN_KW = 0``) costs one comparison per step.
"""

from __future__ import annotations

import math

import numpy as np

from coolpilot.envs.physics._jit import jit

KELVIN = 273.15
"""0 °C in K."""

MAX_HEAT_PUMP_COP = 10.0
"""Highest COP the heat-pump model returns (a small lift does not make an unbounded COP)."""

(DESIGN_KW, TCS_FLOW_M3S, TCS_RHO_CP, CDU_UA_KW_K, CDU_PUMP_KW, TCS_CAP_KJ_K, PLATE_R_K_PER_KW, PLATE_R_EXP,
 MODULE_KW, LEAK_PER_K, CASE_REF_C, THROTTLE_C, CASE_LIMIT_C, FWS_FLOW_M3S, FWS_PUMP_KW, FWS_DP_SHARE, FWS_MIN_FLOW,
 FWS_CAP_KJ_K, FWS_DESIGN_DT_K, DRY_KW_PER_K, DRY_FAN_KW, DRY_MIN_SPEED, DRY_EXP, DRY_ADIABATIC_EFF,
 DRY_AIR_KG_S, TRIM_KW, HP_CAP_KW, HP_SUPPLY_C, HP_ETA, HP_APPROACH_K, HP_MIN_SOURCE_C, HD_DESIGN_KW,
 HD_DESIGN_OUT_C, HD_BALANCE_C, HD_BASE_FRAC) = range(35)
"""Columns of ``PlantParams.liquid`` (N, 35), all zero for a facility without liquid cooling.

Design liquid heat (kW, Σ captured share × zone design IT); TCS design flow (m³/s) and coolant ρ·c_p
(kJ/(m³·K)); CDU UA at design flow (kW/K) and pump power at design flow (kW); TCS loop heat capacity (kJ/K);
the plate's resistance at design flow (K per kW of module power) and its flow exponent; module design power
(kW); leakage (1/K) above the rating case temperature (°C); the throttle and limit case temperatures (°C); FWS design
flow (m³/s), pump power (kW), the DP setpoint's share of pump head, the pumps' minimum flow fraction, loop heat
capacity (kJ/K) and design ΔT (K); dry-cooler capacity per K of entering water over dry bulb at full fan speed
(kW/K), fan power (kW), minimum speed, capacity-speed exponent, adiabatic pre-cooling effectiveness (0: dry
only) and air mass flow at full speed (kg/s); trim exchanger capacity (kW); heat-pump delivered-heat capacity
(kW), heating supply temperature (°C), Carnot fraction, evaporator/condenser approach (K) and lowest source
temperature (°C); heat demand at the design outdoor temperature (kW), that temperature, the balance
temperature (°C) and the base share."""
N_LIQUID_PARAMS = 35

TCS_C, FWS_C = range(2)
"""Columns of ``PlantState.liquid`` (N, 2): TCS and FWS supply temperatures (°C)."""

(L_CDU_KW, L_CDU_PUMP_KW, L_FWS_PUMP_KW, L_TCS_RETURN_C, L_FWS_RETURN_C, L_HP_SOURCE_KW,
 L_HP_KW, L_HP_DELIVERED_KW, L_HEAT_DEMAND_KW, L_HP_COP, L_DRY_KW, L_DRY_FAN_KW, L_DRY_SPEED, L_TRIM_KW,
 L_STORED_KJ, L_DRY_WATER_M3) = range(16)
"""Columns of :func:`liquid_loops`'s output (N, 16): heat the CDUs moved (kW), CDU and FWS pump power (kW), TCS and
FWS return temperatures (°C), heat-pump source heat, electricity and delivered heat (kW), heat demand (kW),
heat-pump COP, dry-cooler heat and fan power (kW), dry-cooler fan speed, trim heat to the chilled-water plant (kW),
heat stored in the two loops (kJ), water the adiabatic pre-coolers evaporated over the step (m³)."""
N_LIQUID_OUTPUTS = 16

WATER_LATENT_KJ_KG = 2450.0
"""Latent heat of evaporation of water near 20 °C (kJ/kg)."""
AIR_CP_KJ_KG_K = 1.006
"""Specific heat of dry air (kJ/(kg·K))."""


@jit
def counterflow_effectiveness(ntu: float, c_ratio: float) -> float:
    """ε of a counterflow heat exchanger (Incropera, Table 11.3) for NTU and C_min/C_max."""
    if ntu <= 0.0:
        return 0.0
    if c_ratio >= 1.0 - 1e-9:
        return ntu / (1.0 + ntu)
    e = math.exp(-ntu * (1.0 - c_ratio))
    return (1.0 - e) / (1.0 - c_ratio * e)


@jit
def heat_pump_cop(source_c: float, supply_c: float, eta: float, approach_k: float) -> float:
    """COP of a heat pump lifting water at ``source_c`` to a heating supply at ``supply_c`` (Carnot fraction).

    ``COP = η·T_cond / (T_cond − T_evap)``, ``T_evap = source − approach``, ``T_cond = supply + approach`` (K),
    capped at :data:`MAX_HEAT_PUMP_COP`.
    """
    t_cond = supply_c + approach_k + KELVIN
    lift = t_cond - (source_c - approach_k + KELVIN)
    if lift <= eta * t_cond / MAX_HEAT_PUMP_COP:
        return MAX_HEAT_PUMP_COP
    return eta * t_cond / lift


@jit
def cold_plates(
    liq: np.ndarray, frac: np.ndarray, it_design_kw: np.ndarray, nominal_kw: np.ndarray, cdu_flow_frac: np.ndarray,
    held: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Liquid-cooled IT power (N, Z, kW), module case temperature (N, Z, °C) and throttled power (N, kW).

    ``frac`` (N, Z) is each zone's liquid-captured share, ``nominal_kw`` (N, Z) its IT power at the step's
    utilization before any temperature effect, ``cdu_flow_frac`` (N,) the TCS flow over design, ``held`` the
    loops' state (N, 2). A zone with no liquid share reports a case temperature of 0.
    """
    n, z = frac.shape
    it_liq = np.zeros((n, z))
    case = np.zeros((n, z))
    throttled = np.zeros(n)
    for i in range(n):
        if liq[i, DESIGN_KW] <= 0.0:
            continue
        f = max(cdu_flow_frac[i], 0.05)
        supply = held[i, TCS_C]
        design_rise = liq[i, DESIGN_KW] / (liq[i, TCS_FLOW_M3S] * liq[i, TCS_RHO_CP])
        r = liq[i, PLATE_R_K_PER_KW] * f ** (-liq[i, PLATE_R_EXP])
        # Case temperature rises linearly with module power x (over design): coolant rise along the plate
        # (half the rack's) plus the plate's resistance.
        per_x = 0.5 * design_rise / f + liq[i, MODULE_KW] * r
        for j in range(z):
            share = frac[i, j]
            if share <= 0.0 or it_design_kw[i, j] <= 0.0:
                continue
            x = nominal_kw[i, j] / it_design_kw[i, j]
            t_case = supply + x * per_x
            leak = min(max(1.0 + liq[i, LEAK_PER_K] * (t_case - liq[i, CASE_REF_C]), 0.8), 1.5)
            x *= leak
            t_case = supply + x * per_x
            limit = liq[i, THROTTLE_C]
            if t_case > limit:
                keep = max(limit - supply, 0.0) / (t_case - supply)
                throttled[i] += x * (1.0 - keep) * share * it_design_kw[i, j]
                x *= keep
                t_case = supply + x * per_x
            it_liq[i, j] = x * share * it_design_kw[i, j]
            case[i, j] = t_case
    return it_liq, case, throttled


@jit
def heat_demand_kw(liq: np.ndarray, drybulb_c: np.ndarray) -> np.ndarray:
    """District-heating demand (N, kW): design demand at the design outdoor temperature, linear to the base share
    at the balance temperature and above (a degree-hour model)."""
    n = liq.shape[0]
    out = np.zeros(n)
    for i in range(n):
        design = liq[i, HD_DESIGN_KW]
        if design <= 0.0:
            continue
        span = liq[i, HD_BALANCE_C] - liq[i, HD_DESIGN_OUT_C]
        share = (liq[i, HD_BALANCE_C] - drybulb_c[i]) / span
        out[i] = design * min(max(share, liq[i, HD_BASE_FRAC]), 1.0)
    return out


@jit
def liquid_loops(
    liq: np.ndarray, held: np.ndarray, modules_kw: np.ndarray, tcs_setpoint_c: np.ndarray,
    fws_setpoint_c: np.ndarray, cdu_flow_frac: np.ndarray, heat_pump_duty: np.ndarray, drybulb_c: np.ndarray,
    wetbulb_c: np.ndarray, demand_kw: np.ndarray, water_rho_cp: float, dt_s: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The TCS and FWS loops after one step: (state (N, 2), outputs (N, 16) in ``L_*`` columns).

    ``modules_kw`` (N,) is the liquid-cooled IT power the cold plates took this step, ``demand_kw`` the
    district-heating demand (kW of delivered heat). Heat the dry coolers and the heat pump cannot take goes to
    the trim exchanger (``L_TRIM_KW``), which the caller adds to the chilled-water loop's load.
    """
    n = liq.shape[0]
    new = held.copy()
    out = np.zeros((n, N_LIQUID_OUTPUTS))
    for i in range(n):
        if liq[i, DESIGN_KW] <= 0.0:
            continue
        # --- TCS loop and CDUs (backward Euler: the loop is small against a 5-minute step) ------------
        f = min(max(cdu_flow_frac[i], 0.05), 1.0)
        c_tcs = f * liq[i, TCS_FLOW_M3S] * liq[i, TCS_RHO_CP]
        cdu_pump = liq[i, CDU_PUMP_KW] * f * f * f
        q_in = modules_kw[i] + cdu_pump
        t_tcs = held[i, TCS_C]
        t_fws = held[i, FWS_C]
        c_fws_full = liq[i, FWS_FLOW_M3S] * water_rho_cp
        c_min = min(c_tcs, c_fws_full)
        eff = counterflow_effectiveness(liq[i, CDU_UA_KW_K] * f**0.8 / c_min, c_min / max(c_tcs, c_fws_full))
        ua = eff * c_min  # heat moved per K of TCS return over FWS supply (kW/K)
        cap_t = liq[i, TCS_CAP_KJ_K]
        k_t = cap_t / dt_s
        wanted_t = max(q_in + k_t * (t_tcs - tcs_setpoint_c[i]), 0.0)
        if wanted_t <= max(ua * (tcs_setpoint_c[i] + q_in / c_tcs - t_fws), 0.0):
            q_cdu = wanted_t  # the CDU valves hold the setpoint
        else:  # the facility water is too warm: the exchanger runs wide open and the loop settles above it
            t_end = (k_t * t_tcs + q_in - ua * (q_in / c_tcs - t_fws)) / (k_t + ua)
            q_cdu = max(ua * (t_end + q_in / c_tcs - t_fws), 0.0)
        new[i, TCS_C] = t_tcs + (q_in - q_cdu) / k_t
        tcs_return = new[i, TCS_C] + q_in / c_tcs
        # --- FWS pumps: design ΔT, more flow when the CDUs leave less, full flow when they are wide open ----
        by_design = q_cdu / (c_fws_full * liq[i, FWS_DESIGN_DT_K])
        by_approach = q_cdu / (c_fws_full * 0.9 * max(tcs_return - t_fws, 0.5))
        ff = min(max(by_design, by_approach, liq[i, FWS_MIN_FLOW]), 1.0)
        s = liq[i, FWS_DP_SHARE]
        fws_pump = liq[i, FWS_PUMP_KW] * ff * (s + (1.0 - s) * ff * ff)
        c_fws = ff * c_fws_full
        q_f = q_cdu + fws_pump
        cap_f = liq[i, FWS_CAP_KJ_K]
        k_f = cap_f / dt_s
        sp_f = fws_setpoint_c[i]
        wanted_f = max(q_f + k_f * (t_fws - sp_f), 0.0)
        # --- heat pump on the FWS return (its source temperature: the return at the supply it can hold) -----
        source = 0.0
        hp_kw = 0.0
        delivered = 0.0
        cop = 0.0
        source_c = max(t_fws, sp_f) + q_f / c_fws
        if liq[i, HP_CAP_KW] > 0.0 and source_c > liq[i, HP_MIN_SOURCE_C]:
            cop = heat_pump_cop(source_c, liq[i, HP_SUPPLY_C], liq[i, HP_ETA], liq[i, HP_APPROACH_K])
            wanted = min(min(max(heat_pump_duty[i], 0.0), 1.0) * liq[i, HP_CAP_KW], demand_kw[i])
            source = wanted * (cop - 1.0) / cop
            # It takes what the network asks for from the heat arriving (or what the loop must shed, if more),
            # whatever the supply setpoint: the dry coolers, not the heat pump, hold the setpoint.
            source = max(min(source, max(wanted_f, q_f), c_fws * (source_c - liq[i, HP_MIN_SOURCE_C])), 0.0)
            delivered = source * cop / (cop - 1.0)
            hp_kw = delivered - source
        # --- dry coolers (adiabatic when short), then trim; backward Euler when even both fall short -------
        rest = max(wanted_f - source, 0.0)
        rise = (q_f - source) / c_fws  # dry-cooler entering water over the FWS supply (K)
        k_dry = min(liq[i, DRY_KW_PER_K], 0.95 * c_fws)  # capacity per K at full fan speed, never below the air
        air_in = drybulb_c[i]
        full = max(k_dry * (sp_f + rise - air_in), 0.0)
        precool = 0.0
        if rest > full and liq[i, DRY_ADIABATIC_EFF] > 0.0:  # spray only when the dry coil falls short
            precool = liq[i, DRY_ADIABATIC_EFF] * max(drybulb_c[i] - wetbulb_c[i], 0.0)
            air_in = drybulb_c[i] - precool
            full = max(k_dry * (sp_f + rise - air_in), 0.0)
        trim_cap = liq[i, TRIM_KW]
        if rest <= full + trim_cap:
            dry = min(rest, full)
            trim = rest - dry
        else:  # short even with the trim: the loop settles where the dry coolers' capacity meets the rest
            t_end = (k_f * t_fws + q_f - source - trim_cap - k_dry * (rise - air_in)) / (k_f + k_dry)
            full = max(k_dry * (t_end + rise - air_in), 0.0)
            dry = full
            trim = trim_cap
        speed = 0.0
        fan = 0.0
        if dry > 0.0 and full > 0.0:
            expo = liq[i, DRY_EXP]
            lowest = liq[i, DRY_MIN_SPEED]
            share = min(dry / full, 1.0)
            knee = lowest**expo  # the capacity share at minimum speed
            if share <= knee:
                speed = lowest
                fan = liq[i, DRY_FAN_KW] * lowest**3 * share / knee  # fans cycle at minimum speed
            else:
                speed = share ** (1.0 / expo)
                fan = liq[i, DRY_FAN_KW] * speed**3
        if precool > 0.0:  # the air the fans move, cooled by precool K, evaporated this much water
            air_kg_s = liq[i, DRY_AIR_KG_S] * speed
            out[i, L_DRY_WATER_M3] = air_kg_s * AIR_CP_KJ_KG_K * precool / WATER_LATENT_KJ_KG * dt_s / 1000.0
        new[i, FWS_C] = t_fws + (q_f - source - dry - trim) / k_f
        fws_return = new[i, FWS_C] + q_f / c_fws
        out[i, L_CDU_KW] = q_cdu
        out[i, L_CDU_PUMP_KW] = cdu_pump
        out[i, L_FWS_PUMP_KW] = fws_pump
        out[i, L_TCS_RETURN_C] = tcs_return
        out[i, L_FWS_RETURN_C] = fws_return
        out[i, L_HP_SOURCE_KW] = source
        out[i, L_HP_KW] = hp_kw
        out[i, L_HP_DELIVERED_KW] = delivered
        out[i, L_HEAT_DEMAND_KW] = demand_kw[i]
        out[i, L_HP_COP] = cop if delivered > 0.0 else 0.0
        out[i, L_DRY_KW] = dry
        out[i, L_DRY_FAN_KW] = fan
        out[i, L_DRY_SPEED] = speed
        out[i, L_TRIM_KW] = trim
        out[i, L_STORED_KJ] = cap_t * (new[i, TCS_C] - t_tcs) + cap_f * (new[i, FWS_C] - t_fws)
    return new, out
