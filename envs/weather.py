"""Weather: EPW files (any user's, or a bundled TMY3 climate) interpolated to the control step.

EnergyPlus Weather format (EnergyPlus "Auxiliary Programs", Weather Converter): eight
header lines, then one row per hour. Hourly values are read for dry bulb (°C), dew point
(°C), relative humidity (%) and station pressure (Pa); the wet bulb is computed,
vectorized, with Stull (2011). Bundled climates: ``envs/data/weather/`` (README there
names each source).
"""

from __future__ import annotations

import functools
import gzip
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from envs.units import HOURS_PER_YEAR, SECONDS_PER_HOUR

DATA_DIR = Path(__file__).parent / "data" / "weather"
CLIMATE_CLASSES = ("hot-humid", "hot-dry", "temperate", "cold", "marine")
HOURS = int(HOURS_PER_YEAR)


class EPWError(ValueError):
    """A weather file or climate name is invalid: file, line, field, value, unit and range."""


@dataclass(frozen=True)
class ClimateInfo:
    """A bundled climate (see ``envs/data/weather/climates.json``)."""

    name: str
    city: str
    climate_class: str
    ashrae_zone: str
    wmo: str
    file: str
    source_file: str
    sha256: str


def _load_catalogue() -> dict[str, ClimateInfo]:
    data = json.loads((DATA_DIR / "climates.json").read_text(encoding="utf-8"))
    return {c["name"]: ClimateInfo(**c) for c in data["climates"]}


CLIMATES: dict[str, ClimateInfo] = _load_catalogue()


class WeatherSample(NamedTuple):
    """Weather at given times, arrays of the shape of the times."""

    dry_bulb_c: np.ndarray
    wet_bulb_c: np.ndarray
    dew_point_c: np.ndarray
    rel_humidity_pct: np.ndarray
    pressure_pa: np.ndarray


def wet_bulb_c(dry_bulb_c: np.ndarray, rel_humidity_pct: np.ndarray) -> np.ndarray:
    """Wet-bulb temperature (°C), Stull (2011) JAMC 50:2267, doi:10.1175/JAMC-D-11-0143.1.

    Valid for RH 5–99 % and −20…50 °C at sea-level pressure, error −1…+0.65 K; RH is
    clipped to 5–99 % first and the result is never above the dry bulb.
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
    """A year of hourly weather (8760 values per field)."""

    name: str
    source: str
    location: str
    latitude_deg: float
    longitude_deg: float
    elevation_m: float
    timezone_h: float
    dry_bulb_c: np.ndarray
    dew_point_c: np.ndarray
    rel_humidity_pct: np.ndarray
    pressure_pa: np.ndarray
    wet_bulb_c: np.ndarray

    def sample(self, t_s: np.ndarray) -> WeatherSample:
        """Values at times ``t_s`` (s since 1 January 00:00, any shape), linearly interpolated.

        The row of hour h of day d is the value at the end of that hour, ``((d−1)·24 + h)·3600 s``;
        time wraps around the year, so the last row (31 December, hour 24) is also t = 0.
        """
        t_h = np.mod(np.asarray(t_s, dtype=np.float64) / SECONDS_PER_HOUR, HOURS_PER_YEAR)
        i0 = np.floor(t_h).astype(np.int64)
        frac = t_h - i0
        lo = (i0 - 1) % HOURS
        hi = i0 % HOURS

        def interp(values: np.ndarray) -> np.ndarray:
            return values[lo] + (values[hi] - values[lo]) * frac

        return WeatherSample(
            interp(self.dry_bulb_c), interp(self.wet_bulb_c), interp(self.dew_point_c),
            interp(self.rel_humidity_pct), interp(self.pressure_pa),
        )


_FIELDS: tuple[tuple[str, int, str, float, float, float], ...] = (
    # name, column, unit, low, high, missing sentinel
    ("dry_bulb_c", 6, "°C", -70.0, 70.0, 99.9),
    ("dew_point_c", 7, "°C", -90.0, 70.0, 99.9),
    ("rel_humidity_pct", 8, "%", 0.0, 110.0, 999.0),
    ("pressure_pa", 9, "Pa", 31_000.0, 120_000.0, 999_999.0),
)
MAX_MISSING_SHARE = 0.05
MAX_MISSING_RUN_H = 24


def _read_lines(path: Path) -> list[str]:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="latin-1") as fh:
                return fh.read().splitlines()
        return path.read_text(encoding="latin-1").splitlines()
    except FileNotFoundError:
        raise EPWError(f"{path}: weather file not found") from None
    except (OSError, EOFError) as err:
        raise EPWError(f"{path}: cannot read weather file: {err}") from None


def load_epw(path: str | os.PathLike[str], name: str | None = None) -> Weather:
    """Read an EPW file (plain or ``.gz``) into a validated :class:`Weather`.

    Leap-year files (8784 rows) drop 29 February. Missing values (EPW sentinels) are
    repaired by linear interpolation when isolated; a field with more than 5 % missing or
    a gap longer than 24 hours is refused.
    """
    p = Path(path)
    lines = _read_lines(p)
    if not lines or not lines[0].startswith("LOCATION"):
        raise EPWError(f"{p} line 1: expected the 'LOCATION' header of an EPW file")
    loc = lines[0].split(",")
    if len(loc) < 10:
        raise EPWError(f"{p} line 1: LOCATION needs 10 fields (city, state, country, source, WMO, lat, lon, tz, "
                       f"elevation), found {len(loc)}")
    geo = []
    for label, position, lowest, highest in (("latitude", 6, -90, 90), ("longitude", 7, -180, 180),
                                             ("timezone", 8, -12, 14), ("elevation", 9, -1000, 9000)):
        try:
            v = float(loc[position])
        except ValueError:
            raise EPWError(f"{p} line 1: LOCATION field '{label}' = {loc[position]!r} is not a number") from None
        if not lowest <= v <= highest:
            raise EPWError(f"{p} line 1: LOCATION field '{label}' = {v} is outside {lowest}..{highest}")
        geo.append(v)
    header = 8
    if len(lines) > header - 1 and not lines[header - 1].startswith("DATA PERIODS"):
        raise EPWError(f"{p} line {header}: expected the 'DATA PERIODS' header")
    rows = [ln for ln in lines[header:] if ln.strip()]
    if len(rows) not in (HOURS, HOURS + 24):
        raise EPWError(f"{p}: expected {HOURS} hourly rows (or {HOURS + 24} in a leap year), found {len(rows)}")
    values = np.empty((len(rows), len(_FIELDS)))
    months = np.empty(len(rows), dtype=np.int64)
    days = np.empty(len(rows), dtype=np.int64)
    for i, row in enumerate(rows):
        line = header + 1 + i
        parts = row.split(",")
        if len(parts) < 10:
            raise EPWError(f"{p} line {line}: {len(parts)} fields, an EPW data row has at least 10")
        try:
            months[i], days[i], hour = int(parts[1]), int(parts[2]), int(parts[3])
        except ValueError:
            raise EPWError(f"{p} line {line}: month/day/hour {parts[1:4]} are not integers") from None
        expected_hour = i % 24 + 1
        if hour != expected_hour:
            raise EPWError(f"{p} line {line}: field 'hour' = {hour}, expected {expected_hour} (hours 1..24 in order)")
        for j, (field, col, unit, _, _, _) in enumerate(_FIELDS):
            try:
                values[i, j] = float(parts[col])
            except ValueError:
                raise EPWError(f"{p} line {line}: field '{field}' = {parts[col]!r} is not a number ({unit})") from None
    if len(rows) == HOURS + 24:
        keep = ~((months == 2) & (days == 29))
        values, months, days = values[keep], months[keep], days[keep]
        if len(values) != HOURS:
            raise EPWError(f"{p}: {HOURS + 24} rows but no 29 February to drop")
    cols: dict[str, np.ndarray] = {}
    for j, (field, _, unit, low, high, missing) in enumerate(_FIELDS):
        series = values[:, j]
        is_missing = np.isclose(series, missing)
        _check_missing(p, field, is_missing, header)
        bad = ~is_missing & ((series < low) | (series > high))
        if bad.any():
            first = int(np.argmax(bad))
            raise EPWError(f"{p} line {_line_of(first, len(rows), months, header)}: field '{field}' = "
                           f"{series[first]:g} "
                           f"{unit} is outside the allowed range {low:g}..{high:g} {unit}")
        if is_missing.any():
            hours = np.arange(HOURS)
            series = np.interp(hours, hours[~is_missing], series[~is_missing])
        cols[field] = series
    above = cols["dew_point_c"] > cols["dry_bulb_c"] + 0.5
    if above.any():
        i = int(np.argmax(above))
        raise EPWError(f"{p} line {_line_of(i, len(rows), months, header)}: field 'dew_point_c' = "
                       f"{cols['dew_point_c'][i]:g} °C is above dry bulb {cols['dry_bulb_c'][i]:g} °C")
    rh = np.minimum(cols["rel_humidity_pct"], 100.0)
    stem = p.name.removesuffix(".gz").removesuffix(".epw")
    return Weather(
        name=name or stem,
        source=str(p),
        location=", ".join(s.strip() for s in loc[1:4] if s.strip()),
        latitude_deg=geo[0], longitude_deg=geo[1], timezone_h=geo[2], elevation_m=geo[3],
        dry_bulb_c=cols["dry_bulb_c"], dew_point_c=cols["dew_point_c"], rel_humidity_pct=rh,
        pressure_pa=cols["pressure_pa"], wet_bulb_c=wet_bulb_c(cols["dry_bulb_c"], rh),
    )


def _line_of(i: int, n_rows: int, months: np.ndarray, header: int) -> int:
    """File line of kept row ``i``: rows after a dropped 29 February sit 24 lines further."""
    shift = 24 if n_rows > HOURS and months[i] > 2 else 0
    return header + 1 + i + shift


def _check_missing(path: Path, field: str, missing: np.ndarray, header: int) -> None:
    share = float(missing.mean())
    if share > MAX_MISSING_SHARE:
        raise EPWError(f"{path}: field '{field}' is missing in {share:.1%} of hours (at most "
                       f"{MAX_MISSING_SHARE:.0%} can be repaired)")
    if missing.any():
        padded = np.concatenate(([0], missing.astype(np.int8), [0]))
        edges = np.flatnonzero(np.diff(padded))
        starts, ends = edges[0::2], edges[1::2]
        longest = int(np.argmax(ends - starts))
        if ends[longest] - starts[longest] > MAX_MISSING_RUN_H:
            raise EPWError(f"{path} line {header + 1 + int(starts[longest])}: field '{field}' is missing for "
                           f"{int(ends[longest] - starts[longest])} consecutive hours (at most "
                           f"{MAX_MISSING_RUN_H} can be repaired)")


@functools.lru_cache(maxsize=32)
def _bundled(name: str) -> Weather:
    return load_epw(DATA_DIR / CLIMATES[name].file, name=name)


def load_climate(name_or_path: str | os.PathLike[str]) -> Weather:
    """A bundled climate by short name (see :data:`CLIMATES`) or any EPW file by path."""
    text = str(name_or_path)
    if text in CLIMATES:
        return _bundled(text)
    path = Path(text)
    if path.suffix.lower() in (".epw", ".gz") or path.exists():
        return load_epw(path)
    raise EPWError(f"unknown climate {text!r}: not a bundled climate ({', '.join(sorted(CLIMATES))}) "
                   f"nor an EPW file path")


__all__ = [
    "CLIMATES", "CLIMATE_CLASSES", "ClimateInfo", "EPWError", "Weather", "WeatherSample",
    "load_climate", "load_epw", "wet_bulb_c",
]
