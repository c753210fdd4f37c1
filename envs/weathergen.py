"""Synthetic typical years from published monthly climate normals: a documented, seeded weather generator.

Where no public-domain hourly typical year can be shipped (China's stations: the Chinese Standard
Weather Data are not public domain), coolpilot generates a typical year (8760 h) of dry bulb,
relative humidity (hence dew point and wet bulb, :func:`coolpilot.envs.weather.wet_bulb_c`) and
station pressure from a station's published monthly normals: mean, mean daily maximum and mean
daily minimum dry bulb, mean relative humidity and, when given, the monthly extreme maximum and
minimum. Irradiance is not produced (the normals hold no sunshine or radiation), so its
:class:`~coolpilot.envs.weather.Weather` has none and on-site PV refuses it. Every year made here
is marked synthetic (its ``source`` says so, and the
catalogue's ``synthetic`` flag, :data:`coolpilot.envs.weather.SYNTHETIC_CLIMATES`).

The model, step by step (each step a named function below):

1. **Daily climatology** (:func:`daily_from_monthly`): the twelve monthly normals become
   continuous daily curves, piecewise linear between mid-month nodes whose values are solved so
   that every month's average equals its normal exactly (mean-preserving interpolation): no step
   at a month boundary. (The harmonic form of Epstein 1991, J. Climate 4:365, is exact too but
   rings when applied to the noisy monthly means of step 2.)
2. **Day-to-day weather** (:func:`circular_ar1`, :func:`draw_anomalies`): daily anomalies of the
   mean dry bulb, of the daily range and of the dew point are AR(1) processes (synoptic
   persistence, e.g. Wilks & Wilby 1999, Prog. Phys. Geogr. 23:329), drawn on the circle of the
   year so that 31 December runs into 1 January without a jump. Each month's mean anomaly is
   removed (smoothly, by step 1), so the year reproduces its normals: a *typical* year, as a TMY
   is. The dew-point anomaly is correlated with the dry bulb's, more where the air is humid and
   in winter, less (or inversely) in deserts (:func:`dew_anomaly_sd_and_corr`). The anomalies are
   rescaled until every month of the hourly year shows the modelled day-to-day variability
   (:func:`running_anomaly_sd`): building hours blends neighbouring days into each calendar day.
3. **Diurnal cycle** (:func:`hourly_dry_bulb`): the minimum at sunrise, the maximum at
   :attr:`GeneratorCoefficients.peak_solar_h` local solar time (longitude correction from the
   standard meridian); a half-cosine rise and an exponential fall towards the next sunrise
   (the nocturnal decay of Parton & Logan 1981, Agric. Meteorol. 23:205), whose decay constant is
   chosen each day so that the day's mean sits where the normals put it between minimum and
   maximum. The monthly anchors are moved until the calendar days of the hourly series show the
   normals' mean daily maximum and minimum; hours stay within the monthly record extremes when
   the normals give them, and each month's mean is brought to the normal.
4. **Humidity** (:func:`hourly_humidity`): the dew point changes slowly (interpolated between
   days, with a small swing through the day: up by day in humid months, down in dry ones), so
   relative humidity falls in the afternoon as the air warms; it never exceeds the dry bulb
   (saturation). The monthly dew-point level is solved so that each month's mean hourly relative
   humidity equals the normal.
5. **Pressure**: constant station pressure of the standard atmosphere at the station's
   elevation (ASHRAE Handbook—Fundamentals, ch. 1, eq. 3).

**Coefficients** (:data:`COEFFICIENTS`) were fitted on the eight bundled NREL TMY3 years'
own daily anomalies (anomaly = daily value minus its centred 31-day running mean) by
:func:`fit_coefficients`; ``tests/envs/test_weathergen.py`` refits them and fails if the
shipped numbers drift. They are US stations: the variability of a Chinese continental winter
(an annual range beyond Chicago's) is an extrapolation of the fitted slope.

**Seeded**: the same normals, station and seed give the same year, bit for bit (one
:class:`numpy.random.Generator` per call, draws in a fixed order).

**Validated** on the bundled TMY3 cities: :func:`normals_from_weather` computes each city's
normals from its own file, :func:`synthetic_twin` generates a year from them, and
``benchmarks/bench_weathergen.py`` compares annual cooling energy and free-cooling hours of the
modern hall under rule-based control over the real and the synthetic year (README, "Climates of
China's hubs").
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from coolpilot.envs.validation import format_validation_error
from coolpilot.envs.weather import CLIMATE_CLASSES, DATA_DIR, N_HOURS, Weather, wet_bulb_c

FloatArray = npt.NDArray[np.float64]

NORMALS_FILE = DATA_DIR / "normals_cn.json"
"""The bundled station normals (China), with the source of every station."""
DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
N_DAYS = 365
MONTH_OF_DAY = np.repeat(np.arange(12), DAYS_IN_MONTH)
"""Month index (0 = January) of each day of the 365-day year."""
REGIONS = ("Northeast", "North", "East", "South", "Central", "Southwest", "Northwest")
"""China's seven geographic regions, as the 2023 regional PUE averages group data centres."""

MAGNUS_A = 17.625
MAGNUS_B_C = 243.04
"""Magnus coefficients over water (Alduchov & Eskridge 1996, J. Appl. Meteor. 35:601), −40…50 °C."""
RUNNING_MEAN_DAYS = 31
"""Window (d) of the centred running mean that defines a daily anomaly when fitting coefficients."""
MIN_DAILY_RANGE_K = 1.0
"""Smallest daily range (max − min) the generator makes (K)."""
RH_TOLERANCE_PCT = 0.05
"""The monthly dew-point levels are iterated until every month's mean RH is this close to its normal (%)."""
VARIANCE_ITERATIONS = 6
"""Passes that rescale the dry-bulb anomalies and move the monthly anchors until each month's day-to-day variability
and the mean daily maximum and minimum of the hourly series' calendar days are the modelled and published ones."""
VARIANCE_TOLERANCE = 0.01
"""Relative tolerance on each month's dew-point variability (1)."""


class NormalsError(ValueError):
    """Station normals are invalid; the message names the file, station, field, value, unit and range."""


def _twelve(unit: str, low: float, high: float, doc: str) -> object:
    return Field(description=doc, json_schema_extra={"unit": unit, "range": f"{low:g}..{high:g} {unit}"})


class MonthlyNormals(BaseModel):
    """Twelve monthly values per field, January first (climate normals of one station)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mean_c: tuple[float, ...] = _twelve("°C", -50.0, 45.0, "Monthly mean of the daily mean dry bulb.")  # type: ignore[assignment]
    max_c: tuple[float, ...] = _twelve("°C", -45.0, 50.0, "Monthly mean of the daily maximum dry bulb.")  # type: ignore[assignment]
    min_c: tuple[float, ...] = _twelve("°C", -55.0, 40.0, "Monthly mean of the daily minimum dry bulb.")  # type: ignore[assignment]
    rh_pct: tuple[float, ...] = _twelve("%", 5.0, 100.0, "Monthly mean relative humidity.")  # type: ignore[assignment]
    extreme_max_c: tuple[float, ...] | None = Field(
        None, description="Highest dry bulb observed in each month (°C); daily maxima are capped at it.",
        json_schema_extra={"unit": "°C", "range": "-45..55 °C"})
    extreme_min_c: tuple[float, ...] | None = Field(
        None, description="Lowest dry bulb observed in each month (°C); daily minima are floored at it.",
        json_schema_extra={"unit": "°C", "range": "-60..40 °C"})

    @field_validator("mean_c", "max_c", "min_c", "rh_pct", "extreme_max_c", "extreme_min_c")
    @classmethod
    def _twelve_in_range(cls, values: tuple[float, ...] | None, info: object) -> tuple[float, ...] | None:
        if values is None:
            return None
        if len(values) != 12:
            raise ValueError(f"{len(values)} values, one per month is 12")
        name = str(getattr(info, "field_name", ""))
        low, high = _RANGES[name]
        bad = [(m, v) for m, v in enumerate(values) if not (np.isfinite(v) and low <= v <= high)]
        if bad:
            m, v = bad[0]
            raise ValueError(f"month {m + 1} = {v:g} is outside {low:g}..{high:g} ({len(bad)} month(s) out of range)")
        return tuple(float(v) for v in values)

    @model_validator(mode="after")
    def _ordered(self) -> MonthlyNormals:
        for m in range(12):
            lo, mean, hi = self.min_c[m], self.mean_c[m], self.max_c[m]
            if not lo < mean < hi:
                raise ValueError(f"month {m + 1}: need mean daily minimum < mean < mean daily maximum, got "
                                 f"{lo:g} < {mean:g} < {hi:g} °C")
            if self.extreme_max_c is not None and self.extreme_max_c[m] < hi:
                raise ValueError(f"month {m + 1}: extreme maximum {self.extreme_max_c[m]:g} °C is below the mean "
                                 f"daily maximum {hi:g} °C")
            if self.extreme_min_c is not None and self.extreme_min_c[m] > lo:
                raise ValueError(f"month {m + 1}: extreme minimum {self.extreme_min_c[m]:g} °C is above the mean "
                                 f"daily minimum {lo:g} °C")
        return self

    def array(self, field: str) -> FloatArray:
        """One field as a float64 array of 12."""
        return np.asarray(getattr(self, field), dtype=np.float64)


_RANGES: dict[str, tuple[float, float]] = {
    "mean_c": (-50.0, 45.0), "max_c": (-45.0, 50.0), "min_c": (-55.0, 40.0), "rh_pct": (5.0, 100.0),
    "extreme_max_c": (-45.0, 55.0), "extreme_min_c": (-60.0, 40.0),
}


class Station(BaseModel):
    """A station of the normals catalogue: where it is, what it stands for, its normals and their source."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{1,31}$", description="Short name used to select it, e.g. 'harbin'.")
    city: str = Field(min_length=1, description="City and country as a reader knows them.")
    station: str = Field(min_length=1, description="Observing station (the normals' own station name).")
    province: str = Field(min_length=1, description="Province, autonomous region or municipality.")
    region: Literal["Northeast", "North", "East", "South", "Central", "Southwest", "Northwest"] = Field(
        description="Geographic region of China (the grouping of the 2023 regional PUE averages).")
    hub: str | None = Field(None, description="'East Data, West Computing' national computing hub, if any.")
    climate_class: str = Field(description="coolpilot's coarse climate group (one of CLIMATE_CLASSES).")
    wmo: str = Field(pattern=r"^[0-9]{5}$", description="WMO station index.")
    latitude_deg: float = Field(ge=-90.0, le=90.0, json_schema_extra={"unit": "°"})
    longitude_deg: float = Field(ge=-180.0, le=180.0, json_schema_extra={"unit": "°"})
    elevation_m: float = Field(ge=-500.0, le=5000.0, json_schema_extra={"unit": "m"})
    timezone_h: float = Field(8.0, ge=-12.0, le=14.0, json_schema_extra={"unit": "h"},
                              description="Standard time offset from UTC (China: 8).")
    period: str = Field(pattern=r"^[0-9]{4}[–-][0-9]{4}$", description="Years the normals cover, e.g. '1981–2010'.")
    source: str = Field(min_length=10, description="Who published the normals, as cited.")
    source_short: str = Field(min_length=2, max_length=16, description="The publisher in a few letters, e.g. 'CMA'.")
    source_url: str = Field(min_length=8, description="Where the figures were read.")
    note: str = Field("", description="Anything a reader must know (a substitute station, a missing field).")
    normals: MonthlyNormals

    @field_validator("climate_class")
    @classmethod
    def _known_class(cls, value: str) -> str:
        if value not in CLIMATE_CLASSES:
            raise ValueError(f"{value!r} is not one of {', '.join(CLIMATE_CLASSES)}")
        return value

    @property
    def source_label(self) -> str:
        """'<publisher> <period>' for listings and reports, e.g. 'CMA 1981–2010'."""
        return f"{self.source_short} {self.period}"


class _Catalogue(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    description: str
    stations: list[Station] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> _Catalogue:
        names = [s.name for s in self.stations]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"station names listed twice: {repeated}")
        return self


def load_stations(path: str | Path = NORMALS_FILE) -> dict[str, Station]:
    """The stations of a normals file (JSON, the format of ``envs/data/weather/normals_cn.json``), by name.

    Raises :class:`NormalsError` listing every problem: file, field, value, unit, allowed range.
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as err:
        raise NormalsError(f"{p}: cannot read the station normals: {err.strerror}") from None
    except json.JSONDecodeError as err:
        raise NormalsError(f"{p}: not valid JSON: {err}") from None
    try:
        catalogue = _Catalogue.model_validate(data)
    except ValidationError as err:
        raise NormalsError(format_validation_error(err, _Catalogue, str(p), kind="station normals file")) from None
    return {s.name: s for s in catalogue.stations}


@dataclass(frozen=True)
class GeneratorCoefficients:
    """The generator's statistical coefficients (fitted on the bundled TMY3 years by :func:`fit_coefficients`).

    Anomalies are daily values minus their centred 31-day running mean. The standard deviation
    of the daily-mean dry-bulb anomaly in a month is
    ``sd_const_k + sd_per_range · R + sd_per_range_cold · R · z`` with R the annual range of
    the monthly means (K) and z = (warmest monthly mean − this month's) / R (0 in the warmest
    month, 1 in the coldest): variability grows with continentality and towards winter.
    """

    temp_ar1: float
    """Lag-1 autocorrelation of daily-mean dry-bulb anomalies (1)."""
    dew_ar1: float
    """Lag-1 autocorrelation of daily-mean dew-point anomalies (1)."""
    range_ar1: float
    """Lag-1 autocorrelation of daily-range anomalies (1)."""
    sd_const_k: float
    """Intercept of the anomaly standard deviation (K)."""
    sd_per_range: float
    """Its slope on the annual range of monthly means (K/K)."""
    sd_per_range_cold: float
    """Its extra slope on R·z, larger towards the coldest month (K/K)."""
    dew_sd_const_k: float
    """Standard deviation of the daily dew-point anomaly: const + per_cold · z + per_dew_range · R_d +
    per_depression · (T − T_d) (K), with R_d the annual range of the monthly mean dew points and T − T_d the
    month's mean dew-point depression (both K; dew points by Magnus from the monthly mean dry bulb and RH)."""
    dew_sd_per_cold: float
    """Its slope on the month's coldness z (K)."""
    dew_sd_per_dew_range: float
    """Its slope on the annual range of monthly mean dew points (K/K)."""
    dew_sd_per_depression: float
    """Its slope on the month's mean dew-point depression (K/K)."""
    dew_corr_const: float
    """Correlation of daily dew-point and dry-bulb anomalies: const + per_rh · RH + per_cold · z + per_range · R
    (1), clipped to −0.5…0.95: in humid continental climates and in winter air masses move both together; in
    deserts and on marine coasts much less (hot desert days are drier)."""
    dew_corr_per_rh: float
    """Its slope on the mean relative humidity (1/%)."""
    dew_corr_per_cold: float
    """Its slope on z, the month's coldness as in the dry-bulb standard deviation (1)."""
    dew_corr_per_range: float
    """Its slope on the annual range of monthly means (1/K)."""
    range_sd_frac: float
    """Standard deviation of the daily-range anomaly as a share of the month's mean daily range (1)."""
    dew_diurnal_const_k: float
    """Diurnal dew-point swing: the hour's dew point moves by k · (f − mean f) within a day, f the hour's place
    between the day's minimum and maximum dry bulb, k = const + per_rh · RH (K): positive in humid months
    (evaporation by day), negative in dry ones (afternoon mixing brings drier air down)."""
    dew_diurnal_per_rh: float
    """Its slope on the month's mean relative humidity (K/%)."""
    peak_solar_h: float
    """Local solar time of the daily maximum dry bulb (h)."""
    max_annual_range_k: float
    """Largest annual range of monthly means in the fitting set (K): a larger one is clamped to it, so a
    Chinese continental winter gets the variability of the most continental fitted climate, not an extrapolation."""
    max_dew_range_k: float
    """Largest annual range of monthly mean dew points in the fitting set (K), clamped likewise."""


COEFFICIENTS = GeneratorCoefficients(
    temp_ar1=0.6517,
    dew_ar1=0.6624,
    range_ar1=0.3675,
    sd_const_k=0.966,
    sd_per_range=0.05914,
    sd_per_range_cold=0.09859,
    dew_sd_const_k=-0.2704,
    dew_sd_per_cold=2.907,
    dew_sd_per_dew_range=0.1102,
    dew_sd_per_depression=0.1031,
    dew_corr_const=-0.907,
    dew_corr_per_rh=0.01469,
    dew_corr_per_cold=0.3882,
    dew_corr_per_range=0.01425,
    range_sd_frac=0.3155,
    dew_diurnal_const_k=-3.617,
    dew_diurnal_per_rh=0.07287,
    peak_solar_h=14.47,
    max_annual_range_k=28.78,
    max_dew_range_k=28.28,
)
"""Fitted by :func:`fit_coefficients` on the eight bundled NREL TMY3 years (4 significant digits)."""


# --- 1. daily climatology ----------------------------------------------------------------------------


def _interpolation_basis() -> tuple[FloatArray, FloatArray]:
    """Weights (365, 12) of the periodic linear interpolation between mid-month nodes at day centres, and the
    inverse (12, 12) of their monthly averages (diagonally dominant: condition number 2)."""
    t = np.arange(N_DAYS, dtype=np.float64) + 0.5
    starts = np.concatenate([[0.0], np.cumsum(DAYS_IN_MONTH)[:-1]])
    mid = starts + np.asarray(DAYS_IN_MONTH) / 2.0
    weights = np.stack([np.interp(t, mid, np.eye(12)[j], period=N_DAYS) for j in range(12)], axis=1)
    averaging = np.zeros((12, N_DAYS))
    for m in range(12):
        averaging[m, m == MONTH_OF_DAY] = 1.0 / DAYS_IN_MONTH[m]
    inverse: FloatArray = np.linalg.inv(averaging @ weights)
    return weights, inverse


_WEIGHTS, _MONTHLY_TO_NODES = _interpolation_basis()


def monthly_means(daily: npt.ArrayLike) -> FloatArray:
    """Means over each month of a (365, ...) daily series: shape (12, ...)."""
    x = np.asarray(daily, dtype=np.float64)
    bounds = np.cumsum((0, *DAYS_IN_MONTH))
    out: FloatArray = np.stack([x[bounds[m]:bounds[m + 1]].mean(axis=0) for m in range(12)])
    return out


def daily_from_monthly(monthly: npt.ArrayLike) -> FloatArray:
    """Continuous daily curve (365, ...) whose monthly means equal ``monthly`` (12, ...) exactly.

    Piecewise linear between one node per mid-month, periodic over the year; the node values
    are solved so that each month's average of the curve is its value (a 12 × 12 linear system).
    """
    m = np.asarray(monthly, dtype=np.float64)
    if m.shape[0] != 12:
        raise ValueError(f"daily_from_monthly: {m.shape[0]} monthly values, expected 12")
    out: FloatArray = _WEIGHTS @ (_MONTHLY_TO_NODES @ m)
    return out


def remove_monthly_means(daily: FloatArray) -> FloatArray:
    """``daily`` minus the smooth curve of its own monthly means: every month then averages 0."""
    out: FloatArray = daily - daily_from_monthly(monthly_means(daily))
    return out


# --- 2. day-to-day weather ---------------------------------------------------------------------------


def circular_ar1(rng: np.random.Generator, phi: float, n: int = N_DAYS) -> FloatArray:
    """A unit-variance AR(1) series of lag-1 autocorrelation ``phi`` on a circle of ``n`` days.

    White noise filtered by the AR(1) transfer function in the frequency domain (circular
    convolution), so the series is stationary and the last day runs into the first.
    """
    if not 0.0 <= phi < 1.0:
        raise ValueError(f"circular_ar1: phi = {phi} must be in [0, 1)")
    eps = rng.standard_normal(n)
    k = np.arange(n // 2 + 1)
    transfer = np.sqrt(1.0 - phi**2) / (1.0 - phi * np.exp(-2j * np.pi * k / n))
    z: FloatArray = np.fft.irfft(np.fft.rfft(eps) * transfer, n)
    return z


def _range_and_coldness(normals: MonthlyNormals) -> tuple[float, FloatArray]:
    """Annual range R of the monthly means (K) and each month's coldness z = (warmest − month) / R (1)."""
    mean = normals.array("mean_c")
    annual_range = float(mean.max() - mean.min())
    coldness: FloatArray = (mean.max() - mean) / max(annual_range, 1e-9)
    return annual_range, coldness


def _clamped(normals: MonthlyNormals, c: GeneratorCoefficients) -> tuple[float, FloatArray, float, FloatArray]:
    """Annual range, coldness, dew-point range and depression, the ranges clamped to the fitted domain."""
    annual_range, coldness = _range_and_coldness(normals)
    dew_range, depression = _dew_range_and_depression(normals)
    return min(annual_range, c.max_annual_range_k), coldness, min(dew_range, c.max_dew_range_k), depression


def _dew_range_and_depression(normals: MonthlyNormals) -> tuple[float, FloatArray]:
    """Annual range of the monthly mean dew points (K) and each month's mean dew-point depression (K)."""
    mean = normals.array("mean_c")
    dew = magnus_dew_point_c(mean, normals.array("rh_pct"))
    depression: FloatArray = mean - dew
    return float(dew.max() - dew.min()), depression


def anomaly_sd_k(normals: MonthlyNormals, c: GeneratorCoefficients = COEFFICIENTS) -> FloatArray:
    """Standard deviation (K) of the daily-mean dry-bulb anomaly in each month (12,)."""
    annual_range, coldness, _, _ = _clamped(normals, c)
    out: FloatArray = c.sd_const_k + c.sd_per_range * annual_range + c.sd_per_range_cold * annual_range * coldness
    return out


def dew_anomaly_sd_and_corr(normals: MonthlyNormals,
                            c: GeneratorCoefficients = COEFFICIENTS) -> tuple[FloatArray, FloatArray]:
    """Standard deviation (K) of the daily dew-point anomaly and its correlation with the dry bulb's, per month."""
    annual_range, coldness, dew_range, depression = _clamped(normals, c)
    rh = normals.array("rh_pct")
    sd = np.maximum(c.dew_sd_const_k + c.dew_sd_per_cold * coldness + c.dew_sd_per_dew_range * dew_range
                    + c.dew_sd_per_depression * depression, 0.3)
    corr = np.clip(c.dew_corr_const + c.dew_corr_per_rh * rh + c.dew_corr_per_cold * coldness
                   + c.dew_corr_per_range * annual_range, -0.5, 0.95)
    return sd, corr


@dataclass(frozen=True)
class Anomalies:
    """The standardized day-to-day weather of a year (365,): unit-variance series with zero monthly means."""

    temp: FloatArray
    """Daily-mean dry-bulb anomaly (scaled to K by the month's standard deviation)."""
    range: FloatArray
    """Daily-range anomaly."""
    dew: FloatArray
    """Daily dew-point anomaly, correlated with ``temp`` as :func:`dew_anomaly_sd_and_corr` says."""


def draw_anomalies(normals: MonthlyNormals, rng: np.random.Generator,
                   c: GeneratorCoefficients = COEFFICIENTS) -> Anomalies:
    """Three circular AR(1) series (dry bulb, daily range, dew point) with each month's mean removed."""
    z_temp = circular_ar1(rng, c.temp_ar1)
    z_range = circular_ar1(rng, c.range_ar1)
    z_dew = circular_ar1(rng, c.dew_ar1)
    _, dew_corr = dew_anomaly_sd_and_corr(normals, c)
    corr = np.clip(daily_from_monthly(dew_corr), -0.5, 0.95)
    return Anomalies(temp=remove_monthly_means(z_temp), range=remove_monthly_means(z_range),
                     dew=remove_monthly_means(corr * z_temp + np.sqrt(1.0 - corr**2) * z_dew))


@dataclass(frozen=True)
class DailyExtremes:
    """A year's daily dry-bulb maxima and minima (365,) and where each day's mean sits between them."""

    max_c: FloatArray
    min_c: FloatArray
    mean_fraction: FloatArray
    """(daily mean − minimum) / (maximum − minimum) the diurnal cycle must reproduce (1)."""


def daily_extremes(normals: MonthlyNormals, temp_anomaly_k: FloatArray, range_anomaly_k: FloatArray,
                   max_shift_k: FloatArray | None = None, min_shift_k: FloatArray | None = None) -> DailyExtremes:
    """Daily maxima and minima: the smooth climatology of the normals plus the day's mean and range anomalies (K).

    A range anomaly moves maximum and minimum apart about the day's mean; days beyond a
    month's extreme maximum or minimum (when the normals give them) are capped there.
    ``max_shift_k`` and ``min_shift_k`` (12,) move the monthly anchors so that the calendar
    days of the hourly series, not the anchors, show the normals (see :func:`synthetic_year`).
    """
    no_shift = np.zeros(12)
    clim_mean = daily_from_monthly(normals.array("mean_c"))
    clim_max = daily_from_monthly(normals.array("max_c") + (no_shift if max_shift_k is None else max_shift_k))
    clim_min = daily_from_monthly(normals.array("min_c") + (no_shift if min_shift_k is None else min_shift_k))
    clim_range = np.maximum(clim_max - clim_min, MIN_DAILY_RANGE_K)
    fraction = np.clip((clim_mean - clim_min) / clim_range, 0.25, 0.75)
    day_range = np.maximum(clim_range + range_anomaly_k, MIN_DAILY_RANGE_K)
    day_mean = clim_mean + temp_anomaly_k
    day_max = day_mean + (1.0 - fraction) * day_range
    day_min = day_mean - fraction * day_range
    if normals.extreme_max_c is not None:
        day_max = np.minimum(day_max, normals.array("extreme_max_c")[MONTH_OF_DAY])
    if normals.extreme_min_c is not None:
        day_min = np.maximum(day_min, normals.array("extreme_min_c")[MONTH_OF_DAY])
    day_min = np.minimum(day_min, day_max - MIN_DAILY_RANGE_K)
    return DailyExtremes(max_c=day_max, min_c=day_min, mean_fraction=fraction)


def running_anomaly_sd(hourly: FloatArray) -> FloatArray:
    """Each month's standard deviation (12,) of the calendar-day means of ``hourly`` about their 31-day running mean.

    The statistic the coefficients were fitted on; the generator scales its anomalies until its
    year shows the modelled value in every month (the hourly construction averages neighbouring
    days into each calendar day, which alone would take about 15 % off).
    """
    anomaly = _running_anomaly(hourly.reshape(N_DAYS, 24).mean(axis=1))
    out: FloatArray = np.sqrt(monthly_means(anomaly**2) - monthly_means(anomaly) ** 2)
    return out


# --- 3. diurnal cycle --------------------------------------------------------------------------------


def sunrise_solar_h(latitude_deg: float) -> FloatArray:
    """Local solar time of sunrise (h) on each day (365,): declination of Cooper (1969), clipped at the poles."""
    day = np.arange(1, N_DAYS + 1, dtype=np.float64)
    declination = np.radians(23.45) * np.sin(2.0 * np.pi * (284.0 + day) / 365.0)
    cos_ws = np.clip(-np.tan(np.radians(latitude_deg)) * np.tan(declination), -1.0, 1.0)
    out: FloatArray = 12.0 - np.degrees(np.arccos(cos_ws)) / 15.0
    return out


def _decay_mean(kappa: FloatArray) -> FloatArray:
    """Mean over x in [0, 1] of the falling shape (e^(−κx) − e^(−κ)) / (1 − e^(−κ)); 1/2 at κ = 0."""
    small = np.abs(kappa) < 1e-6
    k = np.where(small, 1.0, kappa)
    out: FloatArray = np.where(small, 0.5 - kappa / 12.0, 1.0 / k + 1.0 / np.expm1(-k) + 1.0)
    return out


def _decay_shape(x: FloatArray, kappa: FloatArray) -> FloatArray:
    """Falling shape from 1 at x = 0 to 0 at x = 1 (exponential decay; linear at κ = 0)."""
    small = np.abs(kappa) < 1e-6
    k = np.where(small, 1.0, kappa)
    shape = (np.expm1(-k * x) - np.expm1(-k)) / (-np.expm1(-k))
    out: FloatArray = np.where(small, 1.0 - x, shape)
    return out


def _solve_decay(target: FloatArray) -> FloatArray:
    """κ (per day) whose falling shape has mean ``target`` (bisection; mean decreases with κ)."""
    lo = np.full_like(target, -40.0)
    hi = np.full_like(target, 40.0)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        above = _decay_mean(mid) > target
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
    out: FloatArray = 0.5 * (lo + hi)
    return out


def hourly_dry_bulb(days: DailyExtremes, latitude_deg: float, longitude_deg: float, timezone_h: float,
                    c: GeneratorCoefficients = COEFFICIENTS) -> FloatArray:
    """Hourly dry bulb (8760,), row i at the end of hour i + 1 local standard time.

    Anchors: each day's minimum at sunrise and maximum at ``peak_solar_h`` (local solar time);
    a half-cosine rise between them and an exponential fall to the next day's minimum whose
    constant makes the day's mean fraction ``days.mean_fraction``. The year is a circle: the
    last night falls to the first day's minimum.
    """
    sunrise = sunrise_solar_h(latitude_deg)
    rise_h = c.peak_solar_h - sunrise
    fall_h = 24.0 - rise_h
    target = np.clip((24.0 * days.mean_fraction - 0.5 * rise_h) / fall_h, 0.05, 0.95)
    kappa = _solve_decay(target)
    # anchors for days -1..365 (circular), alternating minimum (sunrise) and maximum (peak)
    idx = np.arange(-1, N_DAYS + 1) % N_DAYS
    base = 24.0 * np.arange(-1, N_DAYS + 1, dtype=np.float64)
    t_min, t_max = base + sunrise[idx], base + c.peak_solar_h
    anchor_t = np.stack([t_min, t_max], axis=1).ravel()
    anchor_v = np.stack([days.min_c[idx], days.max_c[idx]], axis=1).ravel()
    anchor_k = np.repeat(kappa[idx], 2)  # the fall after day d's maximum uses day d's κ
    solar_offset_h = (longitude_deg - 15.0 * timezone_h) / 15.0
    s = np.arange(1, N_HOURS + 1, dtype=np.float64) + solar_offset_h
    j = np.searchsorted(anchor_t, s, side="right") - 1
    x = (s - anchor_t[j]) / (anchor_t[j + 1] - anchor_t[j])
    lo_v, hi_v = anchor_v[j], anchor_v[j + 1]
    rising = (j % 2) == 0  # from a minimum to the day's maximum
    rise = lo_v + (hi_v - lo_v) * (0.5 - 0.5 * np.cos(np.pi * x))
    fall = hi_v + (lo_v - hi_v) * _decay_shape(x, anchor_k[j])
    out: FloatArray = np.where(rising, rise, fall)
    return out


def _correct_monthly_means(hourly: FloatArray, target_monthly: FloatArray) -> FloatArray:
    """Adds the smooth curve (interpolated from day centres to hours) that brings each month's hourly mean to target."""
    error = target_monthly - monthly_means(hourly.reshape(N_DAYS, 24).mean(axis=1))
    per_day = daily_from_monthly(error)
    centres = 24.0 * np.arange(N_DAYS) + 12.0
    hours = np.arange(1, N_HOURS + 1, dtype=np.float64)
    out: FloatArray = hourly + np.interp(hours, centres, per_day, period=float(N_HOURS))
    return out


def _cap_at_records(hourly: FloatArray, normals: MonthlyNormals) -> FloatArray:
    """Hourly dry bulb kept within each month's extreme maximum and minimum, when the normals give them."""
    month = np.repeat(MONTH_OF_DAY, 24)
    out = hourly
    if normals.extreme_max_c is not None:
        out = np.minimum(out, normals.array("extreme_max_c")[month])
    if normals.extreme_min_c is not None:
        out = np.maximum(out, normals.array("extreme_min_c")[month])
    return out


# --- 4. humidity -------------------------------------------------------------------------------------


def saturation_ratio_pct(dew_point_c: FloatArray, dry_bulb_c: FloatArray) -> FloatArray:
    """Relative humidity (%) of air at ``dry_bulb_c`` with dew point ``dew_point_c`` (Magnus, over water)."""
    out: FloatArray = 100.0 * np.exp(MAGNUS_A * dew_point_c / (MAGNUS_B_C + dew_point_c)
                                     - MAGNUS_A * dry_bulb_c / (MAGNUS_B_C + dry_bulb_c))
    return out


def magnus_dew_point_c(dry_bulb_c: npt.ArrayLike, rel_humidity_pct: npt.ArrayLike) -> FloatArray:
    """Dew point (°C) of air at ``dry_bulb_c`` and ``rel_humidity_pct`` (Magnus, over water)."""
    t = np.asarray(dry_bulb_c, dtype=np.float64)
    rh = np.clip(np.asarray(rel_humidity_pct, dtype=np.float64), 1.0, 100.0)
    gamma = np.log(rh / 100.0) + MAGNUS_A * t / (MAGNUS_B_C + t)
    out: FloatArray = MAGNUS_B_C * gamma / (MAGNUS_A - gamma)
    return out


def diurnal_place(dry_bulb_c: FloatArray) -> FloatArray:
    """Each hour's place between its calendar day's minimum (0) and maximum (1) dry bulb, minus the day's mean place."""
    t = dry_bulb_c.reshape(N_DAYS, 24)
    low = t.min(axis=1, keepdims=True)
    place = (t - low) / np.maximum(t.max(axis=1, keepdims=True) - low, 1e-6)
    out: FloatArray = (place - place.mean(axis=1, keepdims=True)).ravel()
    return out


def hourly_humidity(dry_bulb_c: FloatArray, normals: MonthlyNormals, dew_unit: FloatArray,
                    c: GeneratorCoefficients = COEFFICIENTS,
                    iterations: int = VARIANCE_ITERATIONS) -> tuple[FloatArray, FloatArray]:
    """Hourly dew point and relative humidity (8760,) with each month's mean RH and dew-point variability as modelled.

    The daily dew point (monthly level, interpolated, plus ``dew_unit`` scaled to K) is
    interpolated linearly between day centres, swings through the day with the dry bulb's
    place in its daily range (:attr:`GeneratorCoefficients.dew_diurnal_const_k`) and is capped
    at the dry bulb. The monthly levels start at the Magnus dew point of the monthly mean dry
    bulb and RH; the levels and the anomaly scale are corrected together until every month's
    mean hourly RH is within :data:`RH_TOLERANCE_PCT` of its normal and its dew-point
    variability is the modelled one (saturation can stop short of a very high normal; the last
    iterate is kept).
    """
    target = normals.array("rh_pct")
    target_sd, _ = dew_anomaly_sd_and_corr(normals, c)
    month_mean_t = monthly_means(dry_bulb_c.reshape(N_DAYS, 24).mean(axis=1))
    level = magnus_dew_point_c(month_mean_t, target)
    scale = target_sd.copy()
    centres = 24.0 * np.arange(N_DAYS) + 12.0
    hours = np.arange(1, N_HOURS + 1, dtype=np.float64)
    swing_k = np.repeat(daily_from_monthly(c.dew_diurnal_const_k + c.dew_diurnal_per_rh * target), 24)
    swing = swing_k * diurnal_place(dry_bulb_c)
    dew = rh = dry_bulb_c
    for _ in range(max(iterations, 1) * 10):
        daily = daily_from_monthly(level) + daily_from_monthly(scale) * dew_unit
        dew = np.minimum(np.interp(hours, centres, daily, period=float(N_HOURS)) + swing, dry_bulb_c)
        rh = saturation_ratio_pct(dew, dry_bulb_c)
        achieved = monthly_means(rh.reshape(N_DAYS, 24).mean(axis=1))
        realized_sd = running_anomaly_sd(dew)
        if (np.max(np.abs(achieved - target)) < RH_TOLERANCE_PCT
                and np.max(np.abs(realized_sd / target_sd - 1.0)) < VARIANCE_TOLERANCE):
            break
        level = level + magnus_dew_point_c(month_mean_t, target) - magnus_dew_point_c(month_mean_t, achieved)
        scale = scale * target_sd / np.maximum(realized_sd, 1e-6)
    return dew, rh


# --- 5. the year -------------------------------------------------------------------------------------


def station_pressure_pa(elevation_m: float) -> float:
    """Standard-atmosphere pressure (Pa) at ``elevation_m`` (ASHRAE Handbook—Fundamentals, ch. 1, eq. 3)."""
    return 101_325.0 * (1.0 - 2.25577e-5 * elevation_m) ** 5.2559


def _readonly(values: FloatArray) -> FloatArray:
    out = np.ascontiguousarray(values, dtype=np.float64)
    out.flags.writeable = False
    return out


def synthetic_year(normals: MonthlyNormals, *, latitude_deg: float, longitude_deg: float, elevation_m: float,
                   timezone_h: float, seed: int, name: str, location: str, source: str,
                   coefficients: GeneratorCoefficients = COEFFICIENTS) -> Weather:
    """A synthetic typical year (8760 h) generated from monthly ``normals``; seeded, bit for bit.

    ``source`` names the normals; the Weather's ``source`` reads ``synthetic (seed N) from
    <source>``. Arrays are read-only, as a loaded EPW's.
    """
    if not 0 <= seed < 2**63:
        raise ValueError(f"synthetic_year: seed = {seed} must be in 0..2**63 - 1")
    c = coefficients
    rng = np.random.default_rng(seed)
    unit = draw_anomalies(normals, rng, c)
    target_sd = anomaly_sd_k(normals, c)
    clim_range = np.maximum(daily_from_monthly(normals.array("max_c") - normals.array("min_c")), MIN_DAILY_RANGE_K)
    range_anomaly = c.range_sd_frac * clim_range * unit.range
    scale = target_sd.copy()
    max_shift, min_shift = np.zeros(12), np.zeros(12)
    dry = np.empty(N_HOURS)
    for _ in range(VARIANCE_ITERATIONS):
        days = daily_extremes(normals, daily_from_monthly(scale) * unit.temp, range_anomaly, max_shift, min_shift)
        dry = hourly_dry_bulb(days, latitude_deg, longitude_deg, timezone_h, c)
        for _ in range(3):  # capping at the records moves the mean a little: correct and cap again
            dry = _cap_at_records(_correct_monthly_means(dry, normals.array("mean_c")), normals)
        scale = scale * target_sd / np.maximum(running_anomaly_sd(dry), 1e-6)
        by_day = dry.reshape(N_DAYS, 24)
        max_shift = max_shift + normals.array("max_c") - monthly_means(by_day.max(axis=1))
        min_shift = min_shift + normals.array("min_c") - monthly_means(by_day.min(axis=1))
    dew, rh = hourly_humidity(dry, normals, unit.dew, c)
    rh = np.clip(rh, 0.0, 100.0)
    return Weather(
        name=name, source=f"synthetic (seed {seed}) from {source}", location=location,
        latitude_deg=latitude_deg, longitude_deg=longitude_deg, elevation_m=elevation_m, timezone_h=timezone_h,
        dry_bulb_c=_readonly(dry), dew_point_c=_readonly(dew), rel_humidity_pct=_readonly(rh),
        pressure_pa=_readonly(np.full(N_HOURS, station_pressure_pa(elevation_m))),
        wet_bulb_c=_readonly(wet_bulb_c(dry, rh)),
    )


def default_seed(name: str) -> int:
    """The seed a bundled station's year is generated with: CRC-32 of its name (stable across platforms)."""
    return zlib.crc32(name.encode("utf-8"))


def station_year(station: Station, seed: int | None = None) -> Weather:
    """The synthetic year of a catalogued station (``seed`` defaults to :func:`default_seed` of its name)."""
    return synthetic_year(
        station.normals, latitude_deg=station.latitude_deg, longitude_deg=station.longitude_deg,
        elevation_m=station.elevation_m, timezone_h=station.timezone_h,
        seed=default_seed(station.name) if seed is None else seed, name=station.name,
        location=f"{station.city} ({station.station}, WMO {station.wmo}; synthetic)",
        source=f"{station.source_label} normals ({station.source})",
    )


# --- validation and fitting on real years ------------------------------------------------------------


def _daily(weather: Weather) -> tuple[FloatArray, FloatArray, FloatArray]:
    t = np.asarray(weather.dry_bulb_c, dtype=np.float64).reshape(N_DAYS, 24)
    return t.mean(axis=1), t.max(axis=1), t.min(axis=1)


def normals_from_weather(weather: Weather) -> MonthlyNormals:
    """A year's own monthly normals: mean hourly dry bulb, mean daily maximum and minimum, mean RH, extremes."""
    mean, high, low = _daily(weather)
    rh = np.asarray(weather.rel_humidity_pct, dtype=np.float64).reshape(N_DAYS, 24).mean(axis=1)
    hourly = np.asarray(weather.dry_bulb_c, dtype=np.float64).reshape(N_DAYS, 24)
    bounds = np.cumsum((0, *DAYS_IN_MONTH))
    return MonthlyNormals(
        mean_c=tuple(monthly_means(mean).round(3)), max_c=tuple(monthly_means(high).round(3)),
        min_c=tuple(monthly_means(low).round(3)), rh_pct=tuple(np.clip(monthly_means(rh), 5.0, 100.0).round(3)),
        extreme_max_c=tuple(float(hourly[bounds[m]:bounds[m + 1]].max()) for m in range(12)),
        extreme_min_c=tuple(float(hourly[bounds[m]:bounds[m + 1]].min()) for m in range(12)),
    )


def synthetic_twin(weather: Weather, seed: int = 0, coefficients: GeneratorCoefficients = COEFFICIENTS) -> Weather:
    """A synthetic year generated from ``weather``'s own normals at its own location (validation).

    The normals are the year's monthly means only: a single year's monthly extremes are not the
    decades-long record extremes published normals give, and capping at them would trim its tails.
    """
    normals = normals_from_weather(weather).model_copy(update={"extreme_max_c": None, "extreme_min_c": None})
    return synthetic_year(
        normals, latitude_deg=weather.latitude_deg, longitude_deg=weather.longitude_deg,
        elevation_m=weather.elevation_m, timezone_h=weather.timezone_h, seed=seed,
        name=f"{weather.name}-synthetic", location=f"{weather.location} (synthetic)",
        source=f"the monthly normals of {weather.source}", coefficients=coefficients,
    )


def _running_anomaly(daily: FloatArray) -> FloatArray:
    k = RUNNING_MEAN_DAYS
    padded = np.concatenate([daily[-k:], daily, daily[:k]])
    smooth = np.convolve(padded, np.ones(k) / k, mode="same")[k:-k]
    out: FloatArray = daily - smooth
    return out


def _lag1(x: FloatArray) -> float:
    return float(np.corrcoef(x[:-1], x[1:])[0, 1])


def _least_squares(columns: Sequence[FloatArray], y: FloatArray) -> FloatArray:
    solution = np.linalg.lstsq(np.stack(columns, axis=1), y, rcond=None)[0]
    return np.asarray(solution, dtype=np.float64)


def _peak_solar_h(weathers: Sequence[Weather]) -> float:
    """Mean over years of the peak time of the mean normalized diurnal profile, in local solar time (h)."""
    peaks = []
    fine = np.arange(0.0, 24.0, 0.05)
    for w in weathers:
        _, high, low = _daily(w)
        t = np.asarray(w.dry_bulb_c, dtype=np.float64).reshape(N_DAYS, 24)
        profile = ((t - low[:, None]) / np.maximum(high - low, 0.1)[:, None]).mean(axis=0)
        solar = (np.arange(1, 25) + (w.longitude_deg - 15.0 * w.timezone_h) / 15.0) % 24.0
        order = np.argsort(solar)
        smooth = np.interp(fine, solar[order], profile[order], period=24.0)
        peaks.append(float(fine[np.argmax(smooth)]))
    return float(np.mean(peaks))


def fit_coefficients(weathers: Sequence[Weather]) -> GeneratorCoefficients:
    """Fit :class:`GeneratorCoefficients` on real hourly years (the bundled TMY3 years give :data:`COEFFICIENTS`).

    Per year: daily mean, range and mean dew point; anomalies from centred 31-day running means;
    lag-1 autocorrelations averaged over years; per month: the dry-bulb and dew-point anomaly
    standard deviations and their correlation, regressed by least squares over all
    station-months on the predictors of :class:`GeneratorCoefficients`.
    """
    ar_t, ar_d, ar_r = [], [], []
    sd, dew_sd, corr, ann_range, cold, rh_m, range_sd, dew_rng, dep, swing = [], [], [], [], [], [], [], [], [], []
    for w in weathers:
        mean, high, low = _daily(w)
        dew = np.asarray(w.dew_point_c, dtype=np.float64).reshape(N_DAYS, 24).mean(axis=1)
        a, b, r = _running_anomaly(mean), _running_anomaly(dew), _running_anomaly(high - low)
        place = diurnal_place(np.asarray(w.dry_bulb_c, dtype=np.float64)).reshape(N_DAYS, 24)
        hourly_dew = np.asarray(w.dew_point_c, dtype=np.float64).reshape(N_DAYS, 24)
        dew_dev = hourly_dew - hourly_dew.mean(axis=1, keepdims=True)
        ar_t.append(_lag1(a))
        ar_d.append(_lag1(b))
        ar_r.append(_lag1(r))
        n = normals_from_weather(w)
        span, coldness = _range_and_coldness(n)
        dew_range, depression = _dew_range_and_depression(n)
        for m in range(12):
            s = m == MONTH_OF_DAY
            sd.append(float(a[s].std()))
            dew_sd.append(float(b[s].std()))
            corr.append(float(np.corrcoef(a[s], b[s])[0, 1]))
            ann_range.append(span)
            cold.append(float(coldness[m]))
            rh_m.append(float(n.rh_pct[m]))
            dew_rng.append(dew_range)
            dep.append(float(depression[m]))
            range_sd.append(float(r[s].std() / (high - low)[s].mean()))
            swing.append(float(np.polyfit(place[s].ravel(), dew_dev[s].ravel(), 1)[0]))
    sd_a, rng_a, cold_a, rh_a = (np.array(v) for v in (sd, ann_range, cold, rh_m))
    one = np.ones_like(sd_a)
    sd_fit = _least_squares([one, rng_a, rng_a * cold_a], sd_a)
    dew_sd_fit = _least_squares([one, cold_a, np.array(dew_rng), np.array(dep)], np.array(dew_sd))
    corr_fit = _least_squares([one, rh_a, cold_a, rng_a], np.array(corr))
    swing_fit = _least_squares([one, rh_a], np.array(swing))
    return GeneratorCoefficients(
        temp_ar1=float(np.mean(ar_t)), dew_ar1=float(np.mean(ar_d)), range_ar1=float(np.mean(ar_r)),
        sd_const_k=float(sd_fit[0]), sd_per_range=float(sd_fit[1]), sd_per_range_cold=float(sd_fit[2]),
        dew_sd_const_k=float(dew_sd_fit[0]), dew_sd_per_cold=float(dew_sd_fit[1]),
        dew_sd_per_dew_range=float(dew_sd_fit[2]), dew_sd_per_depression=float(dew_sd_fit[3]),
        dew_corr_const=float(corr_fit[0]), dew_corr_per_rh=float(corr_fit[1]), dew_corr_per_cold=float(corr_fit[2]),
        dew_corr_per_range=float(corr_fit[3]), range_sd_frac=float(np.mean(range_sd)),
        dew_diurnal_const_k=float(swing_fit[0]), dew_diurnal_per_rh=float(swing_fit[1]),
        peak_solar_h=_peak_solar_h(weathers), max_annual_range_k=float(np.max(rng_a)),
        max_dew_range_k=float(np.max(dew_rng)),
    )


__all__ = [
    "COEFFICIENTS", "DAYS_IN_MONTH", "NORMALS_FILE", "REGIONS", "Anomalies", "DailyExtremes", "GeneratorCoefficients",
    "MonthlyNormals", "NormalsError", "Station", "anomaly_sd_k", "circular_ar1", "daily_extremes",
    "daily_from_monthly", "default_seed", "dew_anomaly_sd_and_corr", "diurnal_place", "draw_anomalies",
    "fit_coefficients", "hourly_dry_bulb", "hourly_humidity", "load_stations", "magnus_dew_point_c", "monthly_means",
    "normals_from_weather", "remove_monthly_means", "running_anomaly_sd", "saturation_ratio_pct",
    "station_pressure_pa", "station_year", "sunrise_solar_h", "synthetic_twin", "synthetic_year",
]
