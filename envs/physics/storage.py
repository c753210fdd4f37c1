"""Chilled-water thermal energy storage: a stratified tank as a two-zone (moving-boundary) model.

The tank is piped in parallel with the chillers on the chilled-water loop. Water in it sits in two
zones separated by a thermocline: a **cold zone** at the bottom (volume ``V_c``, temperature
``T_c``) and a **warm zone** on top (``V_w = V − V_c``, ``T_w``); the state of charge is the cold
zone's share of the volume, ``V_c / V``, in [0, 1] by construction. This is the simplified model
of a stratified store with two perfectly separated bodies of water (oemof.thermal's
``stratified_thermal_storage``), with the two losses a real tank has:

- **charging** (policy rate < 0): the plant (chillers or economizer) makes extra cold: water is
  drawn from the top at ``T_w``, cooled to the chilled-water supply setpoint ``T_s`` and returned
  to the bottom; the cold zone grows and mixes with what arrives. The hall is served first: the
  charge is what the plant delivered beyond the hall's need, up to the command.
- **discharging** (rate > 0): cold water leaves the bottom at ``T_c`` into the loop's supply,
  the loop's return at ``T_ret`` enters the top; the tank covers that share of the loop's load
  and the chillers see the rest. It cannot supply more than the loop needs (it would overcool
  the loop), nor cold it does not hold, nor when its cold zone is no colder than the return.
- **thermocline degradation**: heat conducts from the warm zone into the cold one through the
  thermocline, ``UA_mix·(T_w − T_c)`` (capped so that the zones never cross). Modelica Buildings'
  ``Buildings.Fluid.Storage.Stratified`` conducts heat between its segments through the water;
  here the conductance is an effective one per m² of cross-section (``thermocline_w_per_m2k``,
  default 3 W/(m²·K): five times water's molecular conductivity, 0.6 W/(m·K), across a 1 m
  thermocline, for the mixing that inflow at the diffusers adds; an assumption, stated as such).
- **standing losses** to the ambient air (the outdoor dry bulb: tanks stand outside) through the
  insulation, ``U = k_ins / d_ins`` over the tank's surface (Buildings' default insulation
  conductivity ``kIns`` = 0.04 W/(m·K)); both zones relax towards ambient with the same time
  constant ``ρ·c_p·V / UA`` (each zone's loss area is its share of the surface), solved exactly.

Energy is exact by construction: the tank's heat content ``ρ·c_p·(V_c·T_c + V_w·T_w)`` changes by
the discharge (heat in), minus the charge (heat out), plus the ambient gain, to rounding; the
plant kernel adds the change to ``stored_heat_change_kj`` and the ambient gain to
``envelope_gain_kw`` so that the facility's heat balance closes with a tank too.

Both functions are scalar loops over facilities (no temporaries): a facility without a tank
(``volume_m3 = 0``) costs two comparisons per step.
"""

from __future__ import annotations

import math

import numpy as np

from coolpilot.envs.physics._jit import jit

MIN_TANK_DELTA_T_K = 0.5
"""Smallest temperature difference (K) across which the tank charges (warm zone over the supply
setpoint) or discharges (return over the cold zone): below it the flow needed is unbounded."""

VOLUME, CHARGE_KW, DISCHARGE_KW, MIXING_UA, LOSS_UA, DELTA_T, INITIAL_SOC = range(7)
"""Columns of ``PlantParams.tes`` (N, 7): volume (m³, 0: no tank), rated charge and discharge rates (kW of
cold), thermocline and insulation conductances (kW/K), rated ΔT (K), state of charge at the start."""
N_TANK_PARAMS = 7
COLD_FRAC, COLD_C, WARM_C = range(3)
"""Columns of ``PlantState.tes`` (N, 3): the cold zone's share of the volume (the state of charge), the cold
(bottom) and warm (top) zones' temperatures (°C)."""


@jit
def tank_request(
    rate: np.ndarray, tank: np.ndarray, held: np.ndarray, loop_need_kw: np.ndarray, return_c: np.ndarray,
    supply_setpoint_c: np.ndarray, rho_cp: float, dt_s: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The discharge (kW of cold into the loop) and the charge asked of the plant (kW) this step.

    ``rate`` (N,) is the actuator's signed rate, a fraction of the tank's rated charge (< 0) or
    discharge (> 0) rate; ``tank`` the tank parameters (N, 7), ``held`` its state (N, 3). A discharge
    is capped by the cold the tank holds above the loop return, by the loop's need (kW: the coil
    load, pumps and what the loop needs to reach its setpoint) and by the rated rate; a charge by
    the warm water left and the rated rate.
    """
    n = rate.shape[0]
    discharge = np.zeros(n)
    charge = np.zeros(n)
    for i in range(n):
        v = tank[i, VOLUME]
        r = rate[i]
        if v <= 0.0 or r == 0.0:
            continue
        if r > 0.0:
            dt_k = return_c[i] - held[i, COLD_C]
            if dt_k > MIN_TANK_DELTA_T_K:
                cold = rho_cp * v * held[i, COLD_FRAC] * dt_k / dt_s
                discharge[i] = max(min(r * tank[i, DISCHARGE_KW], cold, loop_need_kw[i]), 0.0)
        else:
            dt_k = held[i, WARM_C] - supply_setpoint_c[i]
            if dt_k > MIN_TANK_DELTA_T_K:
                room = rho_cp * v * (1.0 - held[i, COLD_FRAC]) * dt_k / dt_s
                charge[i] = max(min(-r * tank[i, CHARGE_KW], room), 0.0)
    return discharge, charge


@jit
def tank_update(
    tank: np.ndarray, held: np.ndarray, discharge_kw: np.ndarray, charge_asked_kw: np.ndarray,
    delivered_kw: np.ndarray, hall_need_kw: np.ndarray, return_c: np.ndarray, supply_c: np.ndarray,
    ambient_c: np.ndarray, rho_cp: float, dt_s: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The tank after one step: (state (N, 3), net cold to the loop kW, loop kW, heat gained kJ, ambient gain kW).

    The hall is served first: the tank charges with what the plant delivered (``delivered_kw``,
    economizer and chillers) beyond the hall's need, up to what was asked. The loop receives the
    plant's cold less the charge plus the discharge. ``discharge_kw`` left as cold water at the cold
    zone's temperature (the loop's return ``return_c`` replaced it on top); the charge arrived as
    water at ``supply_c`` (drawn from the top). Then the thermocline conducts and both zones lose
    to ``ambient_c``.
    """
    n = tank.shape[0]
    new = held.copy()
    net = np.zeros(n)
    loop_kw = delivered_kw.copy()
    gained = np.zeros(n)
    ambient_kw = np.zeros(n)
    for i in range(n):
        v = tank[i, VOLUME]
        if v <= 0.0:
            continue
        charge_kw = min(max(delivered_kw[i] - hall_need_kw[i], 0.0), charge_asked_kw[i])
        net[i] = discharge_kw[i] - charge_kw
        loop_kw[i] = delivered_kw[i] - charge_kw + discharge_kw[i]
        vc = held[i, COLD_FRAC] * v
        vw = v - vc
        tc = held[i, COLD_C]
        tw = held[i, WARM_C]
        before = rho_cp * (vc * tc + vw * tw)
        if discharge_kw[i] > 0.0:
            moved = min(discharge_kw[i] * dt_s / (rho_cp * (return_c[i] - tc)), vc)
            vc -= moved
            tw = (vw * tw + moved * return_c[i]) / (vw + moved)
            vw += moved
        if charge_kw > 0.0:
            moved = min(charge_kw * dt_s / (rho_cp * (tw - supply_c[i])), vw)
            vw -= moved
            tc = (vc * tc + moved * supply_c[i]) / (vc + moved)
            vc += moved
        cc = rho_cp * vc
        cw = rho_cp * vw
        if cc > 0.0 and cw > 0.0 and tw > tc:
            q = min(tank[i, MIXING_UA] * (tw - tc) * dt_s, (tw - tc) * cc * cw / (cc + cw))
            tc += q / cc
            tw -= q / cw
        decay = math.exp(-tank[i, LOSS_UA] * dt_s / (rho_cp * v))
        ta = ambient_c[i]
        mid = rho_cp * (vc * tc + vw * tw)
        tc = ta + (tc - ta) * decay
        tw = ta + (tw - ta) * decay
        after = rho_cp * (vc * tc + vw * tw)
        new[i, COLD_FRAC] = min(max(vc / v, 0.0), 1.0)
        new[i, COLD_C] = tc
        new[i, WARM_C] = tw
        gained[i] = after - before
        ambient_kw[i] = (after - mid) / dt_s
    return new, net, loop_kw, gained, ambient_kw
