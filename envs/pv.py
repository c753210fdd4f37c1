"""On-site photovoltaics: AC output of a fixed array from the weather file's irradiance, behind the meter.

PV changes no thermal physics: it offsets the facility's power at the grid meter. Its output is
exogenous (weather only), so it is computed here for a whole episode at once, outside the numba
kernel, and the envs, :func:`coolpilot.envs.simulation.simulate` and the what-if KPIs price
*grid* power, ``facility − PV`` (:func:`grid_power_kw`). The facility's own power, and so its
PUE, are unchanged by PV (The Green Grid's PUE counts all facility energy, however supplied).

The chain, each step a named function with its source:

1. **Solar position** (:func:`solar_position`): the equations of NOAA's solar calculator
   spreadsheet (NOAA Global Monitoring Laboratory, after Meeus, *Astronomical Algorithms*, 1991):
   the sun's apparent longitude, the obliquity, declination and equation of time from the Julian
   century, the hour angle from local standard time (the EPW clock) and the longitude, and the
   calculator's refraction correction; accurate to about 0.01° for 1800–2100 against NREL's SPA.
   A typical year has no calendar year: it is read as 2005 (:data:`REFERENCE_YEAR`).
2. **Decomposition** (:func:`erbs_dhi_w_m2`): where the weather has no DNI/DHI, Erbs, Klein &
   Duffie (1982, Solar Energy 28:293) split GHI by the clearness index into diffuse and beam
   (conventions as pvlib's ``irradiance.erbs``: cos z floored at 0.065, beam zero beyond 87°).
3. **Transposition** (:func:`poa_irradiance_w_m2`): beam by the angle of incidence; sky diffuse by
   Hay & Davies (1980; Duffie & Beckman, *Solar Engineering of Thermal Processes*, 4th ed.,
   eq. 2.16.7) or isotropic (Liu & Jordan 1963); ground-reflected isotropic with the albedo.
   Extraterrestrial normal irradiance: 1366.1 W/m² (ASTM E-490, as pvlib) over the squared
   Earth–Sun distance of step 1. Beam is reduced by the ASHRAE incidence-angle modifier
   ``1 − b0·(1/cos θ − 1)`` (Souka & Safwat 1966), as PVWatts reduces beam only.
4. **Cell temperature** (:func:`cell_temperature_c`): Faiman (2008, Prog. Photovolt. 16:307),
   ``T_c = T_a + E/(U0 + U1·v)``, or the NOCT model ``T_c = T_a + (NOCT − 20)·E/800``.
5. **DC and AC power** (:func:`ac_power_kw`): PVWatts v5 (Dobos 2014, NREL/TP-6A20-62641):
   ``P_dc = P_stc·E_eff/1000·(1 + γ(T_c − 25))·(1 − losses)`` and the PVWatts inverter curve
   ``η = η_nom/0.9637·(−0.0162ζ − 0.0059/ζ + 0.9858)``, ``ζ = P_dc/P_dc0``, output clipped at the
   AC rating.

Time: EPW irradiance is the mean over the hour ending at the row's time, so it is placed at the
hour's middle and interpolated linearly from there (:meth:`coolpilot.envs.weather.Weather.sample_irradiance`);
the sun's position is computed at the step's own time, and there is no output with the sun below
the horizon. Checked against PVWatts-style annual yields for the bundled US climates
(``tests/envs/test_pv.py``, README).

Synthetic climates (China's stations, generated from monthly normals by
:mod:`coolpilot.envs.weathergen`) carry no irradiance: their normals hold neither sunshine hours nor
radiation, so PV is refused for them with :class:`PvWeatherError` rather than invented.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import numpy.typing as npt

from coolpilot.envs.units import SECONDS_PER_DAY, SECONDS_PER_HOUR
from coolpilot.envs.weather import SYNTHETIC_CLIMATES, Weather

if TYPE_CHECKING:
    from coolpilot.envs.config import FacilityConfig, PvConfig

FloatArray = npt.NDArray[np.float64]

SOLAR_CONSTANT_W_M2 = 1366.1
"""Solar constant (W/m²), ASTM E-490 (pvlib's default)."""
STC_IRRADIANCE_W_M2 = 1000.0
"""Irradiance of standard test conditions (W/m²): the nameplate's."""
STC_CELL_TEMP_C = 25.0
"""Cell temperature of standard test conditions (°C)."""
PVWATTS_INVERTER_REF_EFF = 0.9637
"""PVWatts v5's reference inverter efficiency (Dobos 2014, eq. 11)."""
ERBS_MIN_COS_ZENITH = 0.065
"""Floor on cos z in the clearness index (pvlib's erbs default, about 86.3°)."""
ERBS_MAX_ZENITH_DEG = 87.0
"""Beyond this zenith the Erbs beam is set to zero (pvlib's default)."""
HAY_DAVIES_MIN_COS_ZENITH = 0.01745
"""Floor on cos z in the beam ratio R_b (cos 89°, pvlib's haydavies)."""


class PvWeatherError(ValueError):
    """The weather cannot drive a PV model (no irradiance, or no wind for the Faiman model); says why and what to do."""


class SolarPosition(NamedTuple):
    """The sun at given times; float64 arrays of the times' shape (degrees)."""

    zenith_deg: FloatArray
    """Apparent zenith angle (refraction included)."""
    azimuth_deg: FloatArray
    """Clockwise from north (180: due south)."""
    declination_deg: FloatArray
    equation_of_time_min: FloatArray
    """Apparent minus mean solar time (min)."""


REFERENCE_YEAR = 2005
"""The calendar year whose sun a typical (365-day) weather year is given (not a leap year)."""


def julian_day_of_new_year(year: int) -> float:
    """Julian day of 1 January 00:00 UTC of a Gregorian ``year`` in 1901..2099 (Meeus 1991, ch. 7)."""
    if not 1901 <= year <= 2099:
        raise ValueError(f"year = {year}: the solar position equations are used for 1901..2099")
    return 367.0 * year - (7 * year) // 4 + 31.0 + 1721013.5


class _Sun(NamedTuple):
    declination_rad: FloatArray
    equation_of_time_min: FloatArray
    distance_au: FloatArray


def _sun(t_s: FloatArray, timezone_h: float, year: int = REFERENCE_YEAR) -> _Sun:
    """Declination, equation of time and Earth–Sun distance at local standard time ``t_s`` (NOAA's spreadsheet).

    A typical year has no calendar year: times fold onto a 365-day year and are read in
    ``year``'s (default :data:`REFERENCE_YEAR`; across the leap cycle the same clock time moves the
    sun by up to about 0.2° in spring and autumn, when the declination changes fastest).
    """
    t_local = np.mod(t_s, 365.0 * SECONDS_PER_DAY)
    jd = julian_day_of_new_year(year) + (t_local - timezone_h * SECONDS_PER_HOUR) / SECONDS_PER_DAY
    jc = (jd - 2451545.0) / 36525.0
    l0 = np.radians(np.mod(280.46646 + jc * (36000.76983 + jc * 0.0003032), 360.0))
    m = np.radians(357.52911 + jc * (35999.05029 - 0.0001537 * jc))
    e = 0.016708634 - jc * (0.000042037 + 0.0000001267 * jc)
    c = np.radians(np.sin(m) * (1.914602 - jc * (0.004817 + 0.000014 * jc)) + np.sin(2 * m) * (0.019993 - 0.000101 * jc)
                   + np.sin(3 * m) * 0.000289)
    omega = np.radians(125.04 - 1934.136 * jc)
    apparent_long = l0 + c - np.radians(0.00569 + 0.00478 * np.sin(omega))
    obliquity = np.radians(23.0 + (26.0 + (21.448 - jc * (46.815 + jc * (0.00059 - jc * 0.001813))) / 60.0) / 60.0
                           + 0.00256 * np.cos(omega))
    decl = np.arcsin(np.sin(obliquity) * np.sin(apparent_long))
    y = np.tan(obliquity / 2.0) ** 2
    eot = 4.0 * np.degrees(y * np.sin(2 * l0) - 2 * e * np.sin(m) + 4 * e * y * np.sin(m) * np.cos(2 * l0)
                           - 0.5 * y * y * np.sin(4 * l0) - 1.25 * e * e * np.sin(2 * m))
    distance = 1.000001018 * (1.0 - e * e) / (1.0 + e * np.cos(m + c))
    return _Sun(decl, eot, distance)


def _refraction_deg(elevation_deg: FloatArray) -> FloatArray:
    """Atmospheric refraction (°) at a true elevation (°), the NOAA solar calculator's piecewise formula."""
    e = elevation_deg
    te = np.tan(np.radians(np.clip(e, -89.0, 89.0)))
    high = 58.1 / te - 0.07 / te**3 + 0.000086 / te**5
    low = 1735.0 + e * (-518.2 + e * (103.4 + e * (-12.79 + e * 0.711)))
    below = -20.774 / te
    arcsec = np.where(e > 85.0, 0.0, np.where(e > 5.0, high, np.where(e > -0.575, low, below)))
    out: FloatArray = arcsec / 3600.0
    return out


def solar_position(t_s: npt.ArrayLike, latitude_deg: float, longitude_deg: float, timezone_h: float,
                   year: int = REFERENCE_YEAR) -> SolarPosition:
    """The sun's apparent zenith and azimuth at ``t_s`` (s since 1 January 00:00 local standard time, any shape).

    NOAA's solar calculator equations (module docstring), longitude east positive, ``timezone_h``
    the standard-time offset from UTC (h, the EPW header's), in calendar ``year`` (a 365-day year's
    day count: 1 January of a leap year to 28 February).
    """
    t = np.asarray(t_s, dtype=np.float64)
    sun = _sun(t, timezone_h, year)
    decl = sun.declination_rad
    minutes = np.mod(t, SECONDS_PER_DAY) / 60.0
    true_solar_min = minutes + sun.equation_of_time_min + 4.0 * longitude_deg - 60.0 * timezone_h
    hour_angle = np.radians(true_solar_min / 4.0 - 180.0)
    lat = np.radians(latitude_deg)
    cos_z = np.clip(np.sin(lat) * np.sin(decl) + np.cos(lat) * np.cos(decl) * np.cos(hour_angle), -1.0, 1.0)
    true_zenith = np.degrees(np.arccos(cos_z))
    zenith = true_zenith - _refraction_deg(90.0 - true_zenith)
    azimuth = np.mod(np.degrees(np.arctan2(np.sin(hour_angle),
                                           np.cos(hour_angle) * np.sin(lat) - np.tan(decl) * np.cos(lat))) + 180.0,
                     360.0)
    return SolarPosition(zenith, azimuth, np.degrees(decl), sun.equation_of_time_min)


def extraterrestrial_normal_w_m2(t_s: npt.ArrayLike, timezone_h: float = 0.0) -> FloatArray:
    """Extraterrestrial irradiance normal to the sun's rays (W/m²): the solar constant over the squared Earth–Sun
    distance (AU) of NOAA's equations."""
    out: FloatArray = SOLAR_CONSTANT_W_M2 / _sun(np.asarray(t_s, dtype=np.float64), timezone_h).distance_au ** 2
    return out


def erbs_dhi_w_m2(ghi_w_m2: npt.ArrayLike, zenith_deg: npt.ArrayLike, dni_extra_w_m2: npt.ArrayLike
                  ) -> tuple[FloatArray, FloatArray]:
    """Diffuse horizontal and direct normal irradiance (W/m²) from global horizontal, by Erbs et al. (1982).

    Clearness index ``kt = GHI/(I0·cos z)`` (cos z floored at :data:`ERBS_MIN_COS_ZENITH`, kt clipped
    to 0..1); diffuse fraction ``1 − 0.09kt`` (kt ≤ 0.22), ``0.9511 − 0.1604kt + 4.388kt² − 16.638kt³ +
    12.336kt⁴`` (≤ 0.80), 0.165 above; DNI = (GHI − DHI)/cos z; beyond :data:`ERBS_MAX_ZENITH_DEG` all is diffuse.
    """
    ghi = np.asarray(ghi_w_m2, dtype=np.float64)
    z = np.asarray(zenith_deg, dtype=np.float64)
    cos_z = np.cos(np.radians(z))
    kt = np.clip(ghi / (np.asarray(dni_extra_w_m2) * np.maximum(cos_z, ERBS_MIN_COS_ZENITH)), 0.0, 1.0)
    frac = np.where(kt <= 0.22, 1.0 - 0.09 * kt,
                    np.where(kt <= 0.8, 0.9511 + kt * (-0.1604 + kt * (4.388 + kt * (-16.638 + kt * 12.336))),
                             0.165))
    dhi = ghi * frac
    beam = (z < ERBS_MAX_ZENITH_DEG) & (ghi >= dhi)
    dni = np.where(beam, (ghi - dhi) / np.maximum(cos_z, ERBS_MIN_COS_ZENITH), 0.0)
    return np.where(beam, dhi, ghi), dni


def cos_incidence(zenith_deg: FloatArray, azimuth_deg: FloatArray, tilt_deg: float, surface_azimuth_deg: float
                  ) -> FloatArray:
    """Cosine of the angle between the sun and the normal of a plane of tilt and azimuth (°), may be negative."""
    z, a = np.radians(zenith_deg), np.radians(azimuth_deg)
    b, s = np.radians(tilt_deg), np.radians(surface_azimuth_deg)
    out: FloatArray = np.cos(z) * np.cos(b) + np.sin(z) * np.sin(b) * np.cos(a - s)
    return out


class PoaIrradiance(NamedTuple):
    """Plane-of-array irradiance (W/m²) by component."""

    beam: FloatArray
    sky_diffuse: FloatArray
    ground: FloatArray

    @property
    def total(self) -> FloatArray:
        """Beam + sky diffuse + ground-reflected (W/m²)."""
        out: FloatArray = self.beam + self.sky_diffuse + self.ground
        return out


def poa_irradiance_w_m2(
    ghi: FloatArray, dni: FloatArray, dhi: FloatArray, sun: SolarPosition, dni_extra: FloatArray, tilt_deg: float,
    surface_azimuth_deg: float, albedo: float, transposition: str = "hay_davies",
) -> PoaIrradiance:
    """Irradiance on the tilted plane (W/m²): beam by incidence, sky diffuse by Hay–Davies or isotropic, ground.

    Hay & Davies: ``DHI·(A·R_b + (1 − A)·(1 + cos β)/2)``, anisotropy index ``A = DNI/I0`` (0..1),
    ``R_b = max(cos θ, 0)/max(cos z, cos 89°)``; isotropic: ``DHI·(1 + cos β)/2``; ground:
    ``GHI·ρ·(1 − cos β)/2``. Zero where the sun is below the horizon.
    """
    cos_t = cos_incidence(sun.zenith_deg, sun.azimuth_deg, tilt_deg, surface_azimuth_deg)
    cos_z = np.cos(np.radians(sun.zenith_deg))
    up = cos_z > 0.0
    beam = np.where(up, dni * np.maximum(cos_t, 0.0), 0.0)
    sky_view = 0.5 * (1.0 + np.cos(np.radians(tilt_deg)))
    if transposition == "hay_davies":
        a = np.clip(dni / dni_extra, 0.0, 1.0)
        rb = np.maximum(cos_t, 0.0) / np.maximum(cos_z, HAY_DAVIES_MIN_COS_ZENITH)
        sky = dhi * (a * rb + (1.0 - a) * sky_view)
    elif transposition == "isotropic":
        sky = dhi * sky_view
    else:
        raise ValueError(f"transposition = {transposition!r}: use hay_davies or isotropic")
    ground = ghi * albedo * (1.0 - sky_view)
    return PoaIrradiance(beam, np.where(up, sky, 0.0), np.where(up, ground, 0.0))


def ashrae_iam(cos_theta: FloatArray, b0: float) -> FloatArray:
    """ASHRAE incidence-angle modifier ``1 − b0·(1/cos θ − 1)`` in 0..1, zero at or beyond 90° (Souka & Safwat 1966)."""
    c = np.maximum(cos_theta, 1e-6)
    out: FloatArray = np.where(cos_theta > 0.0, np.clip(1.0 - b0 * (1.0 / c - 1.0), 0.0, 1.0), 0.0)
    return out


def cell_temperature_c(poa_w_m2: FloatArray, air_c: FloatArray, wind_m_s: FloatArray | None, pv: PvConfig
                       ) -> FloatArray:
    """Cell temperature (°C): Faiman ``T_a + E/(U0 + U1·v)`` or NOCT ``T_a + (NOCT − 20)·E/800``."""
    if pv.cell_temperature_model == "noct":
        out: FloatArray = air_c + (pv.noct_c - 20.0) * poa_w_m2 / 800.0
        return out
    if wind_m_s is None:
        raise PvWeatherError("the Faiman cell-temperature model needs the weather's wind speed (EPW field 22); "
                             "set pv.cell_temperature_model: noct for a weather file without it")
    out = air_c + poa_w_m2 / (pv.faiman_u0_w_m2k + pv.faiman_u1_w_s_m3k * wind_m_s)
    return out


def dc_power_kw(poa_effective_w_m2: FloatArray, cell_c: FloatArray, pv: PvConfig) -> FloatArray:
    """Array DC output (kW): PVWatts v5 ``P_stc·E/1000·(1 + γ(T_c − 25 °C))`` less the system losses, never negative."""
    gamma = pv.temp_coeff_pct_per_k / 100.0
    dc = (pv.dc_capacity_kwp * poa_effective_w_m2 / STC_IRRADIANCE_W_M2 * (1.0 + gamma * (cell_c - STC_CELL_TEMP_C))
          * (1.0 - pv.system_losses_frac))
    out: FloatArray = np.maximum(dc, 0.0)
    return out


def inverter_ac_kw(dc_kw: FloatArray, pv: PvConfig) -> FloatArray:
    """Inverter AC output (kW) of a DC input: the PVWatts v5 part-load curve, clipped at the AC rating."""
    ac_rated = pv.ac_capacity_kw
    dc_rated = ac_rated / pv.inverter_efficiency
    zeta = np.maximum(dc_kw / dc_rated, 1e-9)
    eff = pv.inverter_efficiency / PVWATTS_INVERTER_REF_EFF * (-0.0162 * zeta - 0.0059 / zeta + 0.9858)
    out: FloatArray = np.where(dc_kw > 0.0, np.clip(eff * dc_kw, 0.0, ac_rated), 0.0)
    return out


def ac_power_kw(poa_effective_w_m2: FloatArray, cell_c: FloatArray, pv: PvConfig) -> FloatArray:
    """Array AC output (kW): :func:`dc_power_kw` through :func:`inverter_ac_kw`."""
    return inverter_ac_kw(dc_power_kw(poa_effective_w_m2, cell_c, pv), pv)


class PvSeries(NamedTuple):
    """An array's output at given times, with what produced it (arrays of the times' shape)."""

    ac_kw: FloatArray
    poa_w_m2: FloatArray
    """Plane-of-array irradiance before the incidence modifier (W/m²)."""
    cell_c: FloatArray
    zenith_deg: FloatArray


def check_weather(weather: Weather, pv: PvConfig) -> None:
    """Raise :class:`PvWeatherError` when ``weather`` cannot drive ``pv`` (no irradiance; no wind for Faiman)."""
    if weather.ghi_w_m2 is None:
        if weather.name in SYNTHETIC_CLIMATES:
            why = ("it is a synthetic year generated from monthly climate normals that hold no sunshine or radiation "
                   "(coolpilot.envs.weathergen); give the site's EPW file as the climate")
        else:
            why = weather.irradiance_note or "its file has no global horizontal radiation (EPW field 14)"
        raise PvWeatherError(f"climate {weather.name!r} cannot drive the facility's PV array (pv.dc_capacity_kwp > 0 "
                             f"kWp): {why}")
    if pv.cell_temperature_model == "faiman" and weather.wind_speed_m_s is None:
        raise PvWeatherError(f"climate {weather.name!r} has no wind speed (EPW field 22), which the Faiman cell "
                             f"temperature model of pv.cell_temperature_model needs; set it to noct")


def pv_output(weather: Weather, pv: PvConfig, t_s: npt.ArrayLike) -> PvSeries:
    """AC output of array ``pv`` under ``weather`` at ``t_s`` (s since 1 January 00:00 local standard time)."""
    check_weather(weather, pv)
    t = np.asarray(t_s, dtype=np.float64)
    sun = solar_position(t, weather.latitude_deg, weather.longitude_deg, weather.timezone_h)
    irr = weather.sample_irradiance(t)
    up = sun.zenith_deg < 90.0
    ghi = np.where(up, irr.ghi_w_m2, 0.0)
    i0 = extraterrestrial_normal_w_m2(t, weather.timezone_h)
    if irr.dni_w_m2 is None or irr.dhi_w_m2 is None:
        dhi, dni = erbs_dhi_w_m2(ghi, sun.zenith_deg, i0)
    else:
        dni, dhi = np.where(up, irr.dni_w_m2, 0.0), np.where(up, irr.dhi_w_m2, 0.0)
    poa = poa_irradiance_w_m2(ghi, dni, dhi, sun, i0, pv.tilt_deg, pv.azimuth_deg, pv.albedo, pv.transposition)
    iam = ashrae_iam(cos_incidence(sun.zenith_deg, sun.azimuth_deg, pv.tilt_deg, pv.azimuth_deg), pv.iam_b0)
    effective = poa.beam * iam + poa.sky_diffuse + poa.ground
    total = poa.total
    cell = cell_temperature_c(total, weather.sample(t).dry_bulb_c, irr.wind_speed_m_s, pv)
    return PvSeries(ac_power_kw(effective, cell, pv), total, cell, sun.zenith_deg)


def pv_power_batch(cfgs: Sequence[FacilityConfig], weathers: Sequence[Weather], time_s: FloatArray
                   ) -> FloatArray | None:
    """PV AC output (n, T) of n facilities at their times ``time_s`` (n, T); None when no facility has an array.

    Facilities sharing an array, a climate and a start time share one computation.
    """
    if not any(c.pv.installed for c in cfgs):
        return None
    out = np.zeros(time_s.shape)
    done: dict[tuple[int, int, float], int] = {}
    for i, (cfg, weather) in enumerate(zip(cfgs, weathers, strict=True)):
        if not cfg.pv.installed:
            continue
        key = (id(cfg.pv), id(weather), float(time_s[i, 0]))
        j = done.get(key)
        if j is None:
            out[i] = pv_output(weather, cfg.pv, time_s[i]).ac_kw
            done[key] = i
        else:
            out[i] = out[j]
    return out


def grid_power_kw(facility_kw: FloatArray, pv_kw: FloatArray, export_allowed: bool | npt.NDArray[np.bool_]
                  ) -> tuple[FloatArray, FloatArray]:
    """Power through the grid meter and curtailed PV (kW): ``facility − PV``; without export never below zero.

    Without export the surplus ``max(PV − facility, 0)`` is curtailed; with it the grid power is
    negative (export) and nothing is curtailed. ``export_allowed`` is one flag or one per facility.
    """
    net = facility_kw - pv_kw
    surplus = np.maximum(-net, 0.0)
    export = np.asarray(export_allowed, dtype=bool)
    grid: FloatArray = np.where(export, net, net + surplus)
    curtailed: FloatArray = np.where(export, 0.0, surplus)
    return grid, curtailed


def annual_yield_kwh_per_kwp(weather: Weather, pv: PvConfig, dt_s: float = 900.0) -> float:
    """Specific yield (kWh of AC per kWp of DC per year) of ``pv`` under ``weather``, at steps of ``dt_s``."""
    t = np.arange(0.0, 365.0 * SECONDS_PER_DAY, dt_s) + 0.5 * dt_s
    ac = pv_output(weather, pv, t).ac_kw
    return float(ac.sum() * dt_s / SECONDS_PER_HOUR / pv.dc_capacity_kwp)


__all__ = [
    "REFERENCE_YEAR", "SOLAR_CONSTANT_W_M2", "PoaIrradiance", "PvSeries", "PvWeatherError", "SolarPosition",
    "ac_power_kw", "annual_yield_kwh_per_kwp", "ashrae_iam", "cell_temperature_c", "check_weather", "cos_incidence",
    "dc_power_kw", "erbs_dhi_w_m2", "extraterrestrial_normal_w_m2", "grid_power_kw", "inverter_ac_kw",
    "julian_day_of_new_year", "poa_irradiance_w_m2", "pv_output", "pv_power_batch", "solar_position",
]
