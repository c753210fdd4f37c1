"""Air side: IT power and server airflow, CRAH fans, recirculation, zone thermal mass.

All functions are pure and batched: arrays have a leading facility axis ``N`` and, for
zone quantities, a zone axis ``Z``. Units are in the names.
"""

from __future__ import annotations

import numpy as np

from coolpilot.envs.physics._jit import jit
from coolpilot.envs.units import AIR_RHO_CP_KJ_M3_K


@jit
def it_power_kw(
    it_design_kw: np.ndarray,
    utilization: np.ndarray,
    inlet_temp_c: np.ndarray,
    idle_power_frac: np.ndarray,
    fan_power_frac: np.ndarray,
    fan_knee_c: np.ndarray,
    airflow_slope_per_k: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """IT power (kW) and server fan flow factor (1) per zone.

    Server power is linear in utilization between idle and design (``idle_power_frac``,
    Barroso & Hölzle's energy-proportionality model). Above ``fan_knee_c`` the server
    fans speed up linearly with inlet temperature (``airflow_slope_per_k``) and their
    power follows the cube law, so with a fan share ``fan_power_frac`` near 6 % and a
    slope near 2.2 %/K total server power rises about 0.4 %/K, the field value of
    0.35–0.5 %/K between 23 and 30 °C (Coroamă 2025, arXiv:2509.26163; PHYSICS.md
    section 4), not the 6.7 %/K of EnergyPlus's toy curves.
    """
    nominal = it_design_kw * (idle_power_frac[:, None] + (1.0 - idle_power_frac[:, None]) * utilization)
    excess = np.maximum(inlet_temp_c - fan_knee_c[:, None], 0.0)
    flow_factor = 1.0 + airflow_slope_per_k[:, None] * excess
    fan = fan_power_frac[:, None]
    power = nominal * (1.0 - fan + fan * flow_factor**3)
    return power, flow_factor


@jit
def fan_power_kw(
    speed_frac: np.ndarray, design_kw: np.ndarray, curve: np.ndarray, min_flow_frac: np.ndarray
) -> np.ndarray:
    """Fan power (kW) from the Fan:VariableVolume part-load quartic (EnergyPlus Fans.cc).

    ``curve`` is (N, 5); the flow fraction is floored at ``min_flow_frac`` as EnergyPlus does.
    """
    f = np.maximum(speed_frac, min_flow_frac[:, None])
    plf = curve[:, 0:1] + f * (curve[:, 1:2] + f * (curve[:, 2:3] + f * (curve[:, 3:4] + f * curve[:, 4:5])))
    return design_kw * np.maximum(plf, 0.0)


@jit
def recirculation_frac(
    crah_airflow_m3s: np.ndarray, server_airflow_m3s: np.ndarray, base_recirc_frac: np.ndarray
) -> np.ndarray:
    """Share of server intake drawn from the hot aisle (1).

    ``base_recirc_frac`` (r0) is the share at balanced airflow: air leaking over and around
    racks (containment quality). Surplus CRAH air pressurizes the cold aisle and pushes the
    leakage back, ``r = r0·V_server/V_crah``; when CRAH airflow falls short of what the
    servers pull, the deficit is drawn from the hot aisle,
    ``r = r0 + (1 − r0)·(1 − V_crah/V_server)``. This is the AdjustedSupply idea of
    EnergyPlus ITE:AirCooled (PHYSICS.md section 4) with the recirculation tied to the
    airflow balance instead of a user curve; it is continuous and falls monotonically as
    airflow rises.
    """
    ratio = crah_airflow_m3s / np.maximum(server_airflow_m3s, 1e-9)
    surplus = base_recirc_frac / np.maximum(ratio, 1.0)
    shortfall = base_recirc_frac + (1.0 - base_recirc_frac) * (1.0 - ratio)
    return np.where(ratio >= 1.0, surplus, shortfall)


@jit
def zone_step(
    zone_temp_c: np.ndarray,
    it_power: np.ndarray,
    server_airflow_m3s: np.ndarray,
    supply_air_temp_c: np.ndarray,
    recirc: np.ndarray,
    effectiveness: np.ndarray,
    heat_capacity_kj_k: np.ndarray,
    dt_s: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Advance the lumped IT-equipment + room-air node of each zone over one step.

    The node (temperature ``T_s``, capacity ``C``: server mass ≈ 12 kJ/K per 2U server
    plus the room air, PHYSICS.md section 7) gains the IT power and gives heat to the air
    the servers pull: ``Q = ṁc_p·ε·(T_s − T_in)``. Server inlet air mixes supply air and
    exhaust, ``T_in = (1 − r)·T_sup + r·T_out`` with ``T_out = T_in + ε(T_s − T_in)``, so
    ``T_in = a + b·T_s`` and the node obeys a linear first-order ODE, integrated exactly
    (exponential update): stable for any step and exact in energy. Air itself is
    quasi-steady (it is replaced every 1–3 minutes, below the control step).

    Returns end-of-step node temperature and inlet temperature (°C), the mean heat the
    servers gave to the air over the step (kW) and the end-of-step exhaust temperature.
    """
    n, z = zone_temp_c.shape
    t_new = np.empty((n, z))
    inlet = np.empty((n, z))
    heat_to_air = np.empty((n, z))
    exhaust = np.empty((n, z))
    for m in range(n):  # an explicit loop: no array temporaries
        eff = effectiveness[m]
        for j in range(z):
            mcp = server_airflow_m3s[m, j] * AIR_RHO_CP_KJ_M3_K
            r = recirc[m, j]
            denom = 1.0 - r + r * eff
            a = (1.0 - r) * supply_air_temp_c[m, j] / denom
            b = r * eff / denom
            g = max(mcp * eff * (1.0 - b), 1e-9)
            t_eq = (it_power[m, j] + mcp * eff * a) / g
            cap = heat_capacity_kj_k[m, j]
            t = t_eq + (zone_temp_c[m, j] - t_eq) * np.exp(-g * dt_s / cap)
            t_new[m, j] = t
            heat_to_air[m, j] = it_power[m, j] - cap * (t - zone_temp_c[m, j]) / dt_s
            inlet[m, j] = a + b * t
            exhaust[m, j] = inlet[m, j] + eff * (t - inlet[m, j])
    return t_new, inlet, heat_to_air, exhaust
