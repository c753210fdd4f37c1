"""Unit conversions and physical constants, in one place.

Names carry units (``_c``, ``_k``, ``_kw``, ``_kwh``, ``_s``, ``_m3s``, ``_l``). Values
are SI-ish as the names say; every conversion the project needs lives here so no module
writes a bare ``* 2.77778e-7``.
"""

from __future__ import annotations

SECONDS_PER_MINUTE = 60.0
SECONDS_PER_HOUR = 3600.0
SECONDS_PER_DAY = 86_400.0
HOURS_PER_YEAR = 8760.0
SECONDS_PER_YEAR = HOURS_PER_YEAR * SECONDS_PER_HOUR

AIR_DENSITY_KG_M3 = 1.2
"""Dry air near 20 °C and sea level (ASHRAE Fundamentals)."""
AIR_CP_KJ_KG_K = 1.006
"""Specific heat of dry air, kJ/(kg K)."""
AIR_RHO_CP_KJ_M3_K = AIR_DENSITY_KG_M3 * AIR_CP_KJ_KG_K
"""Volumetric heat capacity of air, kJ/(m³ K) (PHYSICS.md section 7: about 1.2)."""
WATER_DENSITY_KG_M3 = 998.0
WATER_CP_KJ_KG_K = 4.186
WATER_RHO_CP_KJ_M3_K = WATER_DENSITY_KG_M3 * WATER_CP_KJ_KG_K
"""Volumetric heat capacity of water, kJ/(m³ K)."""


def kw_to_kwh(power_kw: float, dt_s: float) -> float:
    """Energy in kWh of a constant power over ``dt_s`` seconds."""
    return power_kw * dt_s / SECONDS_PER_HOUR


def kwh_per_kw_step(dt_s: float) -> float:
    """Hours per step: multiply a power in kW by this to get kWh."""
    return dt_s / SECONDS_PER_HOUR


def m3_to_l(volume_m3: float) -> float:
    """Cubic metres to litres."""
    return volume_m3 * 1000.0


def kwh_to_mwh(energy_kwh: float) -> float:
    """kWh to MWh."""
    return energy_kwh / 1000.0


KELVIN_OFFSET_C = 273.15
"""0 °C in kelvin."""
W_PER_KW = 1000.0
"""Watts per kilowatt."""


def fahrenheit_to_celsius(temp_f: float) -> float:
    """Degrees Fahrenheit to degrees Celsius."""
    return (temp_f - 32.0) * 5.0 / 9.0
