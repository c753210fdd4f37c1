"""Weather: hourly EPW weather (a bundled TMY3 climate or any user's file) interpolated to the step.

EnergyPlus Weather (EPW) format, per the EPW data dictionary in EnergyPlus "Auxiliary
Programs" (Weather Converter Program): eight header lines (LOCATION, DESIGN CONDITIONS,
TYPICAL/EXTREME PERIODS, GROUND TEMPERATURES, HOLIDAYS/DAYLIGHT SAVINGS, COMMENTS 1,
COMMENTS 2, DATA PERIODS), then one comma-separated row per hour: year, month, day, hour
(1..24), minute, data-source flags, dry bulb (°C, column 7), dew point (°C, column 8),
relative humidity (%, column 9), station pressure (Pa, column 10), ... Those four fields
are read; the wet bulb is computed from dry bulb and humidity with Stull (2011)
(PHYSICS.md section 8). Field limits and "missing" sentinels are the data dictionary's.
For on-site PV (:mod:`coolpilot.envs.pv`) the solar fields are read too where the file has them:
global horizontal, direct normal and diffuse horizontal radiation (columns 14–16, Wh/m² over the
hour ending at the row's time, i.e. the hour's mean W/m²) and wind speed (column 22, m/s). They
are optional: a file without them, or with them missing beyond repair, loads with them None
and the reason in :attr:`Weather.irradiance_note`; only a PV array refuses such weather.

Bundled climates live in ``envs/data/weather/``: ``climates.json`` is the catalogue and
``README.md`` names each file's source (NREL TMY3, public domain). China's stations have no
public-domain hourly year: ``normals_cn.json`` holds their published monthly normals and
:mod:`coolpilot.envs.weathergen` generates a synthetic typical year from them
(:data:`SYNTHETIC_CLIMATES`, flagged ``synthetic``); every bundled name is in
:data:`BUNDLED_CLIMATES`.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import json
import logging
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from coolpilot.envs.units import HOURS_PER_YEAR, SECONDS_PER_HOUR

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

DATA_DIR = Path(__file__).parent / "data" / "weather"
CLIMATE_CLASSES = ("hot-humid", "hot-dry", "temperate", "cold", "marine")

N_HOURS = int(HOURS_PER_YEAR)
"""Rows of every :class:`Weather` field: a 365-day year (29 February is dropped)."""
MAX_MISSING_SHARE = 0.05
"""Largest share of a field's hours that may be missing and still be repaired."""
MAX_MISSING_RUN_H = 24
"""Longest run of consecutive missing hours that is repaired by interpolation (h)."""
DEW_POINT_EXCESS_MAX_K = 0.5
"""How far the dew point may exceed the dry bulb (rounding in the file) before it is refused (K)."""

_HEADER_LINES = 8
_GZIP_MAGIC = b"\x1f\x8b"
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class EPWError(ValueError):
    """A weather file or climate name is invalid; the message names file, line, field, value, unit and range."""


@dataclass(frozen=True)
class ClimateInfo:
    """A bundled climate, as catalogued in ``envs/data/weather/climates.json``."""

    name: str
    """Short name used to select it, e.g. ``"miami"``."""
    city: str
    climate_class: str
    """One of :data:`CLIMATE_CLASSES`."""
    ashrae_zone: str
    """ASHRAE 90.1 / 169 climate zone of the station's county (information only)."""
    wmo: str
    """WMO station number."""
    file: str
    """File name in ``envs/data/weather`` (gzip-compressed EPW)."""
    source_file: str
    """Original EPW file name in the source distribution."""
    sha256: str
    """SHA-256 of the original uncompressed EPW ('' for a synthetic climate)."""
    synthetic: bool = False
    """Generated from published monthly normals by :mod:`coolpilot.envs.weathergen`, not an observed year."""
    source: str = "NREL TMY3"
    """Where the weather comes from, in words, e.g. 'NREL TMY3' or 'CMA 1981–2010 normals'."""

    @property
    def description(self) -> str:
        """How a listing or a report names the climate: synthetic ones say so and name their normals."""
        if self.synthetic:
            return f"{self.name} (synthetic, generated from {self.source})"
        return f"{self.name} ({self.source})"


def _load_catalogue() -> dict[str, ClimateInfo]:
    data = json.loads((DATA_DIR / "climates.json").read_text(encoding="utf-8"))
    return {entry["name"]: ClimateInfo(**entry) for entry in data["climates"]}


def _load_synthetic_catalogue() -> dict[str, ClimateInfo]:
    """The stations of ``normals_cn.json`` as catalogue entries (the file is validated in full when a year is made)."""
    data = json.loads((DATA_DIR / "normals_cn.json").read_text(encoding="utf-8"))
    return {
        s["name"]: ClimateInfo(
            name=s["name"], city=s["city"], climate_class=s["climate_class"], ashrae_zone="", wmo=s["wmo"],
            file="normals_cn.json", source_file="", sha256="", synthetic=True,
            source=f"{s['source_short']} {s['period']} normals",
        )
        for s in data["stations"]
    }


CLIMATES: dict[str, ClimateInfo] = _load_catalogue()
"""The bundled observed years (NREL TMY3 EPW files)."""
SYNTHETIC_CLIMATES: dict[str, ClimateInfo] = _load_synthetic_catalogue()
"""The bundled synthetic climates: typical years generated from published normals (China's stations)."""
BUNDLED_CLIMATES: dict[str, ClimateInfo] = {**CLIMATES, **SYNTHETIC_CLIMATES}
"""Every climate selectable by name."""


class IrradianceSample(NamedTuple):
    """Solar fields at given times; float64 arrays of the times' shape (None where the weather lacks the field)."""

    ghi_w_m2: FloatArray
    dni_w_m2: FloatArray | None
    dhi_w_m2: FloatArray | None
    wind_speed_m_s: FloatArray | None


class WeatherSample(NamedTuple):
    """Weather at given times; float64 arrays of the shape of the times."""

    dry_bulb_c: FloatArray
    wet_bulb_c: FloatArray
    dew_point_c: FloatArray
    rel_humidity_pct: FloatArray
    pressure_pa: FloatArray


def wet_bulb_c(dry_bulb_c: npt.ArrayLike, rel_humidity_pct: npt.ArrayLike) -> FloatArray:
    """Wet-bulb temperature (°C) from dry bulb (°C) and relative humidity (%), any broadcastable shapes.

    Stull (2011), "Wet-bulb temperature from relative humidity and air temperature", J. Appl.
    Meteor. Climatol. 50:2267, doi:10.1175/JAMC-D-11-0143.1: fitted at sea-level pressure for
    RH 5–99 % and −20…50 °C (except cold and dry air together), error −1…+0.65 K. RH is
    clipped to 5–99 % before evaluating, and the result is never above the dry bulb.
    """
    t = np.asarray(dry_bulb_c, dtype=np.float64)
    rh = np.clip(np.asarray(rel_humidity_pct, dtype=np.float64), 5.0, 99.0)
    tw = (
        t * np.arctan(0.151977 * np.sqrt(rh + 8.313659))
        + np.arctan(t + rh)
        - np.arctan(rh - 1.676331)
        + 0.00391838 * rh**1.5 * np.arctan(0.023101 * rh)
        - 4.686035
    )
    return np.minimum(tw, t)


@dataclass(frozen=True)
class Weather:
    """A year of hourly weather: every array is float64 of shape (8760,), row i at the end of hour i + 1.

    Arrays of a loaded Weather are read-only: bundled climates are cached and shared.
    """

    name: str
    """Short name of a bundled climate, or the file stem."""
    source: str
    """Path of the file read."""
    location: str
    """City, state, country from the LOCATION header."""
    latitude_deg: float
    longitude_deg: float
    elevation_m: float
    timezone_h: float
    """Standard time offset from UTC (h)."""
    dry_bulb_c: FloatArray
    dew_point_c: FloatArray
    rel_humidity_pct: FloatArray
    """Relative humidity (%), capped at 100."""
    pressure_pa: FloatArray
    """Atmospheric station pressure (Pa)."""
    wet_bulb_c: FloatArray
    """Computed with :func:`wet_bulb_c` from dry bulb and relative humidity."""
    ghi_w_m2: FloatArray | None = None
    """Global horizontal irradiance (W/m²), row i the mean over hour [i, i + 1) h (EPW field 14); None: not given."""
    dni_w_m2: FloatArray | None = None
    """Direct normal irradiance (W/m², EPW field 15, hour means as ``ghi_w_m2``); None: not given."""
    dhi_w_m2: FloatArray | None = None
    """Diffuse horizontal irradiance (W/m², EPW field 16, hour means as ``ghi_w_m2``); None: not given."""
    wind_speed_m_s: FloatArray | None = None
    """Wind speed (m/s, EPW field 22, at the row's time like the temperatures); None: not given."""
    irradiance_note: str = ""
    """Why the irradiance is None, for a file that has some solar fields missing or unusable ('' otherwise)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray) and value.shape != (N_HOURS,):
                raise ValueError(f"Weather.{f.name} has shape {value.shape}, expected ({N_HOURS},)")

    def sample(self, t_s: npt.ArrayLike) -> WeatherSample:
        """Values at times ``t_s`` (s since 1 January 00:00, any shape), linearly interpolated.

        The EPW row of hour h (1..24) of day d is the value at the end of that hour,
        t = ((d − 1)·24 + h)·3600 s. Time wraps around the year (modulo 8760 h), so the last
        row (31 December, hour 24) is also the value at t = 0.
        """
        t = np.asarray(t_s, dtype=np.float64)
        if not np.all(np.isfinite(t)):
            raise ValueError("Weather.sample: times t_s must be finite (s)")
        t_h = np.mod(t / SECONDS_PER_HOUR, HOURS_PER_YEAR)
        whole_h = np.floor(t_h)
        frac = t_h - whole_h
        hi = whole_h.astype(np.int64) % N_HOURS  # row at the end of the current hour
        lo = (hi - 1) % N_HOURS  # row at its start; hour 0 wraps to 31 December hour 24

        def interp(values: FloatArray) -> FloatArray:
            interpolated: FloatArray = values[lo] + (values[hi] - values[lo]) * frac
            return interpolated

        return WeatherSample(
            dry_bulb_c=interp(self.dry_bulb_c),
            wet_bulb_c=interp(self.wet_bulb_c),
            dew_point_c=interp(self.dew_point_c),
            rel_humidity_pct=interp(self.rel_humidity_pct),
            pressure_pa=interp(self.pressure_pa),
        )

    def sample_irradiance(self, t_s: npt.ArrayLike) -> IrradianceSample:
        """Irradiance (W/m²) and wind speed (m/s) at times ``t_s`` (s since 1 January 00:00, any shape).

        An EPW row's radiation is the mean over the hour ending at the row's time, so it is placed
        at that hour's middle, ((d − 1)·24 + h − 0.5)·3600 s, and interpolated linearly from there
        (wrapping around the year); the wind speed, a value at the row's time, as :meth:`sample`.
        Raises ValueError when the weather has no global horizontal irradiance.
        """
        if self.ghi_w_m2 is None:
            raise ValueError(f"weather {self.name!r} has no irradiance: {self.irradiance_note or 'not given'}")
        t = np.asarray(t_s, dtype=np.float64)
        if not np.all(np.isfinite(t)):
            raise ValueError("Weather.sample_irradiance: times t_s must be finite (s)")
        t_h = np.mod(t / SECONDS_PER_HOUR - 0.5, HOURS_PER_YEAR)
        whole_h = np.floor(t_h)
        frac = t_h - whole_h
        lo = whole_h.astype(np.int64) % N_HOURS
        hi = (lo + 1) % N_HOURS

        def centred(values: FloatArray | None) -> FloatArray | None:
            return None if values is None else values[lo] + (values[hi] - values[lo]) * frac

        ghi = centred(self.ghi_w_m2)
        assert ghi is not None
        wind = None
        if self.wind_speed_m_s is not None:
            wind = np.interp(np.mod(t / SECONDS_PER_HOUR, HOURS_PER_YEAR),
                             np.arange(N_HOURS + 1, dtype=np.float64),
                             np.concatenate(([self.wind_speed_m_s[-1]], self.wind_speed_m_s)))
        return IrradianceSample(ghi, centred(self.dni_w_m2), centred(self.dhi_w_m2), wind)


@dataclass(frozen=True)
class _Field:
    """An hourly EPW field that is read, with the EPW data dictionary's limits and missing sentinel."""

    name: str
    column: int
    """1-based EPW column."""
    unit: str
    low: float
    high: float
    missing: float


_FIELDS = (
    _Field("dry_bulb_c", 7, "°C", -70.0, 70.0, 99.9),
    _Field("dew_point_c", 8, "°C", -90.0, 70.0, 99.9),
    _Field("rel_humidity_pct", 9, "%", 0.0, 110.0, 999.0),
    _Field("pressure_pa", 10, "Pa", 31_000.0, 120_000.0, 999_999.0),
)
_SOLAR_FIELDS = (
    _Field("ghi_w_m2", 14, "Wh/m²", 0.0, 1500.0, 9999.0),
    _Field("dni_w_m2", 15, "Wh/m²", 0.0, 1400.0, 9999.0),
    _Field("dhi_w_m2", 16, "Wh/m²", 0.0, 1000.0, 9999.0),
    _Field("wind_speed_m_s", 22, "m/s", 0.0, 40.0, 999.0),
)
"""Optional fields (PV): limits of the EPW data dictionary where it gives them (wind 0..40 m/s), else physical
(GHI ≤ 1500, DNI ≤ 1400, DHI ≤ 1000 Wh/m² in an hour; the solar constant is about 1366 W/m²)."""
_CALENDAR = (("month", 2), ("day", 3), ("hour", 4))
"""Calendar columns (name, 1-based EPW column)."""
_MIN_COLUMNS = max(f.column for f in _FIELDS)


class _Location(NamedTuple):
    place: str
    latitude_deg: float
    longitude_deg: float
    timezone_h: float
    elevation_m: float


def _read_lines(path: Path) -> list[str]:
    """Lines of a plain or gzip-compressed text file, trailing blank lines removed."""
    try:
        raw = path.read_bytes()
        if raw.startswith(_GZIP_MAGIC):
            raw = gzip.decompress(raw)
    except FileNotFoundError:
        raise EPWError(f"{path}: weather file not found") from None
    except (OSError, EOFError) as err:
        raise EPWError(f"{path}: cannot read weather file: {err}") from None
    lines = raw.decode("latin-1").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def _parse_location(path: Path, lines: list[str]) -> _Location:
    """LOCATION,city,state,country,source,WMO,latitude,longitude,timezone,elevation (line 1)."""
    if not lines or not lines[0].startswith("LOCATION"):
        raise EPWError(f"{path} line 1: expected the 'LOCATION' header of an EPW file")
    parts = [p.strip() for p in lines[0].split(",")]
    if len(parts) < 10:
        raise EPWError(f"{path} line 1: LOCATION has {len(parts)} fields, expected 10 "
                       f"(LOCATION,city,state,country,source,WMO,latitude,longitude,timezone,elevation)")
    numbers = []
    for label, position, unit, low, high in (
        ("latitude", 6, "°", -90.0, 90.0), ("longitude", 7, "°", -180.0, 180.0),
        ("timezone", 8, "h", -12.0, 14.0), ("elevation", 9, "m", -1000.0, 9999.9),
    ):
        try:
            value = float(parts[position])
        except ValueError:
            raise EPWError(f"{path} line 1: LOCATION field '{label}' = {parts[position]!r} is not a number "
                           f"({unit})") from None
        if not low <= value <= high:
            raise EPWError(f"{path} line 1: LOCATION field '{label}' = {value} {unit} is outside the allowed range "
                           f"{low:g}..{high:g} {unit}")
        numbers.append(value)
    latitude, longitude, timezone, elevation = numbers
    return _Location(", ".join(p for p in parts[1:4] if p), latitude, longitude, timezone, elevation)


def _check_data_periods(path: Path, lines: list[str]) -> None:
    """Line 8 is DATA PERIODS with one record per hour (sub-hourly files are not supported)."""
    line = lines[_HEADER_LINES - 1] if len(lines) >= _HEADER_LINES else ""
    if not line.startswith("DATA PERIODS"):
        raise EPWError(f"{path} line {_HEADER_LINES}: expected the 'DATA PERIODS' header (EPW files have "
                       f"{_HEADER_LINES} header lines)")
    parts = line.split(",")
    if len(parts) > 2 and parts[2].strip() not in ("", "1"):
        raise EPWError(f"{path} line {_HEADER_LINES}: DATA PERIODS field 'records per hour' = {parts[2].strip()!r}, "
                       f"only hourly files (1) are supported")


def _parse_rows(path: Path, rows: list[str]) -> tuple[npt.NDArray[np.int64], FloatArray, FloatArray]:
    """Calendar (n, 3: month, day, hour), field values (n, 4, :data:`_FIELDS` order) and the optional solar fields
    (n, 4, :data:`_SOLAR_FIELDS` order; NaN where a row lacks the column or it is not a number) of the data rows."""
    calendar = np.empty((len(rows), len(_CALENDAR)), dtype=np.int64)
    values = np.empty((len(rows), len(_FIELDS)))
    solar = np.full((len(rows), len(_SOLAR_FIELDS)), np.nan)
    for i, row in enumerate(rows):
        line = _HEADER_LINES + 1 + i
        parts = row.split(",")
        if len(parts) < _MIN_COLUMNS:
            raise EPWError(f"{path} line {line}: {len(parts)} comma-separated fields, an EPW data row has at least "
                           f"{_MIN_COLUMNS}")
        for j, (name, column) in enumerate(_CALENDAR):
            try:
                calendar[i, j] = int(parts[column - 1])
            except ValueError:
                raise EPWError(f"{path} line {line}: field '{name}' = {parts[column - 1]!r} is not an "
                               f"integer") from None
        for j, field in enumerate(_FIELDS):
            try:
                values[i, j] = float(parts[field.column - 1])
            except ValueError:
                raise EPWError(f"{path} line {line}: field '{field.name}' = {parts[field.column - 1]!r} is not a "
                               f"number ({field.unit})") from None
        for j, field in enumerate(_SOLAR_FIELDS):
            if len(parts) >= field.column:
                with contextlib.suppress(ValueError):  # not a number: NaN, reported as unusable
                    solar[i, j] = float(parts[field.column - 1])
    return calendar, values, solar


def _expected_calendar(leap: bool) -> npt.NDArray[np.int64]:
    """(month, day, hour) of every hourly row of a year from 1 January hour 1."""
    days_in_month = list(_DAYS_IN_MONTH)
    days_in_month[1] += int(leap)
    month = np.repeat(np.arange(1, 13), np.array(days_in_month) * 24)
    day = np.concatenate([np.repeat(np.arange(1, n + 1), 24) for n in days_in_month])
    hour = np.tile(np.arange(1, 25), sum(days_in_month))
    return np.stack([month, day, hour], axis=1)


def _check_calendar(path: Path, calendar: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Rows must run 1 January hour 1 to 31 December hour 24; returns the rows to keep (29 February dropped)."""
    n = len(calendar)
    if n not in (N_HOURS, N_HOURS + 24):
        raise EPWError(f"{path} line {_HEADER_LINES + n}: the file ends after {n} hourly data rows, expected "
                       f"{N_HOURS} (or {N_HOURS + 24} in a leap year)")
    expected = _expected_calendar(leap=n > N_HOURS)
    wrong = calendar != expected
    if wrong.any():
        i = int(np.argmax(wrong.any(axis=1)))
        j = int(np.argmax(wrong[i]))
        month, day, hour = expected[i]
        raise EPWError(f"{path} line {_HEADER_LINES + 1 + i}: field '{_CALENDAR[j][0]}' = {calendar[i, j]}, "
                       f"expected {expected[i, j]} (month {month}, day {day}, hour {hour}: rows run from 1 January "
                       f"hour 1 to 31 December hour 24, hours 1..24 in order)")
    keep: npt.NDArray[np.bool_] = ~((expected[:, 0] == 2) & (expected[:, 1] == 29))
    if not keep.all():
        logger.info("%s: leap-year file, 29 February dropped to keep %d hourly rows", path, N_HOURS)
    return keep


def _missing_runs(missing: npt.NDArray[np.bool_]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Start indices and lengths of the runs of consecutive missing hours."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], missing.astype(np.int8), [0]))))
    starts, ends = edges[0::2], edges[1::2]
    return starts, ends - starts


def _clean_field(path: Path, field: _Field, series: FloatArray, line_no: npt.NDArray[np.int64]) -> FloatArray:
    """Checks a field's range and repairs isolated missing values by linear interpolation in time."""
    missing = np.isclose(series, field.missing)
    out_of_range = ~missing & ((series < field.low) | (series > field.high))
    if out_of_range.any():
        i = int(np.argmax(out_of_range))
        raise EPWError(f"{path} line {line_no[i]}: field '{field.name}' = {float(series[i])} {field.unit} is outside "
                       f"the allowed range {field.low:g}..{field.high:g} {field.unit}")
    if not missing.any():
        return series
    share = float(missing.mean())
    if share > MAX_MISSING_SHARE:
        raise EPWError(f"{path} line {line_no[int(np.argmax(missing))]}: field '{field.name}' is missing "
                       f"({field.missing:g} {field.unit}) in {share:.1%} of hours (the first at this line), at "
                       f"most {MAX_MISSING_SHARE:.0%} can be repaired")
    starts, lengths = _missing_runs(missing)
    longest = int(np.argmax(lengths))
    if lengths[longest] > MAX_MISSING_RUN_H:
        raise EPWError(f"{path} line {line_no[starts[longest]]}: field '{field.name}' is missing "
                       f"({field.missing:g} {field.unit}) for {lengths[longest]} consecutive hours, at most "
                       f"{MAX_MISSING_RUN_H} can be repaired")
    logger.warning("%s: %d missing hourly values of '%s' repaired by linear interpolation",
                   path, int(missing.sum()), field.name)
    hours = np.arange(len(series), dtype=np.float64)
    repaired: FloatArray = np.interp(hours, hours[~missing], series[~missing], period=len(series))
    return repaired


def _solar_columns(path: Path, solar: FloatArray, line_no: npt.NDArray[np.int64]
                   ) -> tuple[dict[str, FloatArray | None], str]:
    """The optional solar fields, checked and repaired like the others; a field that cannot be is None.

    Returns the fields by name and why the irradiance is unusable ('' when GHI is usable). A missing
    direct normal or diffuse field leaves both None (PV then splits GHI itself).
    """
    out: dict[str, FloatArray | None] = {}
    notes = []
    for j, field in enumerate(_SOLAR_FIELDS):
        series = solar[:, j]
        if np.isnan(series).all():
            out[field.name] = None
            notes.append(f"field '{field.name}' (column {field.column}) is absent")
            continue
        try:
            out[field.name] = _readonly(_clean_field(path, field, np.where(np.isnan(series), field.missing, series),
                                                     line_no))
        except EPWError as err:
            out[field.name] = None
            notes.append(str(err))
    if out["dni_w_m2"] is None or out["dhi_w_m2"] is None:
        out["dni_w_m2"] = out["dhi_w_m2"] = None
    note = "; ".join(notes) if out["ghi_w_m2"] is None else ""
    if notes:
        logger.info("%s: solar fields not usable (PV needs them): %s", path, "; ".join(notes))
    return out, note


def _readonly(values: FloatArray) -> FloatArray:
    values.flags.writeable = False
    return values


def load_epw(path: str | os.PathLike[str], name: str | None = None) -> Weather:
    """Read and validate an hourly EPW file, plain or gzip-compressed (any file name).

    The result always has 8760 hourly rows: a leap-year file (8784 rows) drops 29 February.
    Missing values (the EPW sentinels 99.9 °C, 999 %, 999999 Pa) are repaired by linear
    interpolation in time; a field with more than 5 % of its hours missing, or a gap longer
    than 24 hours, is refused. Raises :class:`EPWError` naming file, line, field, value,
    unit and allowed range. ``name`` defaults to the file stem.
    """
    p = Path(path)
    lines = _read_lines(p)
    location = _parse_location(p, lines)
    _check_data_periods(p, lines)
    calendar, values, solar = _parse_rows(p, lines[_HEADER_LINES:])
    keep = _check_calendar(p, calendar)
    line_no = (_HEADER_LINES + 1 + np.arange(len(calendar)))[keep]
    columns = {f.name: _clean_field(p, f, values[keep, j], line_no) for j, f in enumerate(_FIELDS)}
    dry_bulb, dew_point = columns["dry_bulb_c"], columns["dew_point_c"]
    above = dew_point > dry_bulb + DEW_POINT_EXCESS_MAX_K
    if above.any():
        i = int(np.argmax(above))
        raise EPWError(f"{p} line {line_no[i]}: field 'dew_point_c' = {float(dew_point[i])} °C is above the dry "
                       f"bulb {float(dry_bulb[i])} °C by more than the allowed {DEW_POINT_EXCESS_MAX_K} K")
    rel_humidity = np.minimum(columns["rel_humidity_pct"], 100.0)
    solar_columns, irradiance_note = _solar_columns(p, solar[keep], line_no)
    logger.debug("%s: loaded %s, %d hourly rows", p, location.place, N_HOURS)
    return Weather(
        name=name or p.name.removesuffix(".gz").removesuffix(".epw"),
        source=str(p),
        location=location.place,
        latitude_deg=location.latitude_deg,
        longitude_deg=location.longitude_deg,
        elevation_m=location.elevation_m,
        timezone_h=location.timezone_h,
        dry_bulb_c=_readonly(dry_bulb),
        dew_point_c=_readonly(dew_point),
        rel_humidity_pct=_readonly(rel_humidity),
        pressure_pa=_readonly(columns["pressure_pa"]),
        wet_bulb_c=_readonly(wet_bulb_c(dry_bulb, rel_humidity)),
        **solar_columns,
        irradiance_note=irradiance_note,
    )


@functools.lru_cache(maxsize=len(BUNDLED_CLIMATES))
def _bundled(name: str) -> Weather:
    if name in SYNTHETIC_CLIMATES:
        from coolpilot.envs.weathergen import load_stations, station_year  # imports this module: load lazily

        return station_year(load_stations()[name])
    return load_epw(DATA_DIR / CLIMATES[name].file, name=name)


def load_climate(name_or_path: str | os.PathLike[str]) -> Weather:
    """A bundled climate by short name (:data:`BUNDLED_CLIMATES`; cached) or any EPW file by path.

    A synthetic climate's year is generated from its station's normals with the station's own
    seed (the same year every time). A string that is neither a bundled name nor a path ending
    in ``.epw``/``.gz`` nor an existing file raises :class:`EPWError` listing the bundled names.
    """
    text = os.fspath(name_or_path)
    if text in BUNDLED_CLIMATES:
        return _bundled(text)
    path = Path(text)
    if path.suffix.lower() in (".epw", ".gz") or path.exists():
        return load_epw(path)
    raise EPWError(f"unknown climate {text!r}: neither a bundled climate ({', '.join(sorted(BUNDLED_CLIMATES))}) "
                   f"nor an EPW file path")


def climate_description(name_or_path: str) -> str:
    """How a report names a climate: a bundled one with its source ('synthetic, generated from …' when it is)."""
    info = BUNDLED_CLIMATES.get(name_or_path)
    return info.description if info is not None else name_or_path


__all__ = [
    "BUNDLED_CLIMATES", "CLIMATES", "CLIMATE_CLASSES", "DATA_DIR", "SYNTHETIC_CLIMATES", "ClimateInfo", "EPWError",
    "IrradianceSample", "Weather", "WeatherSample", "climate_description", "load_climate", "load_epw", "wet_bulb_c",
]
