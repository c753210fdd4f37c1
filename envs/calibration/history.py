"""Site histories: the simulator's CSV, the audit trail's ``decisions.csv`` and BMS trend exports, on one grid.

Three readers return one :class:`History`: every column resampled to the control step, on a
time axis of seconds since 1 January 00:00 local standard time (the simulator's), with each
problem of the data stated in :attr:`History.quality`:

- :func:`read_simulate_csv`: what ``coolpilot simulate --csv`` writes (plant outputs, the
  setpoints the plant was told, per-zone inlet temperatures);
- :func:`read_decisions_csv`: what ``coolpilot serve`` audits (``AuditStore.export_csv``):
  ``point_<name>`` columns and, for cycles that wrote, ``written_<setpoint>``;
- :func:`read_bms_export`: one or several BMS trend exports (CSV, plain or gzip) with a column
  map (:class:`ColumnMap`, YAML) naming each column's point, unit, scale and offset and the
  timestamp column (ISO 8601 in any zone, or epoch seconds or milliseconds).

Rules every reader applies (one definition, :func:`_assemble`):

- a value outside its quantity's physical range (the contract's, after unit conversion), a cell
  that is not a number, time that runs backwards, the same timestamp with different values,
  a column with no valid value, an unknown column: refused, naming file, line, column, value,
  expected unit and range (:class:`HistoryError`);
- exact duplicate rows are dropped and counted;
- a measured analog point reading exactly the same value for ``stuck_hours`` or longer is
  stuck: those readings are dropped and reported;
- irregular samples are interpolated linearly to the grid (setpoints and counts held from the
  last sample) only across spans no longer than ``max_gap_s``; a longer gap stays missing and
  is reported, never filled.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from coolpilot.envs.calibration.targets import (
    COUNT_POINTS,
    METERS,
    ZONE_INLET,
    ZONE_IT,
    Quantity,
    meter_quantity,
    point_quantity,
    setpoint_quantity,
)
from coolpilot.envs.config import FacilityConfig
from coolpilot.envs.contract import SETPOINT_SPECS
from coolpilot.envs.units import (
    KELVIN_OFFSET_C,
    SECONDS_PER_DAY,
    SECONDS_PER_HOUR,
    SECONDS_PER_MINUTE,
    W_PER_KW,
    fahrenheit_to_celsius,
)
from coolpilot.envs.validation import format_validation_error, read_yaml

DEFAULT_STEP_S = 300.0
"""Control step the history is resampled to (s): the simulator's default."""
DEFAULT_MAX_GAP_S = 1800.0
"""Longest span between two samples that is interpolated across (s); longer is a gap."""
DEFAULT_STUCK_HOURS = 6.0
"""An analog point reading exactly the same value this long is stuck (h)."""
MIN_USABLE_HOURS = 48.0
"""Shortest usable history (h): at least a day to fit and a day to check."""
MISSING_TOKENS = ("", "nan", "NaN", "NAN", "null", "NULL", "None", "N/A", "n/a", "NA", "#N/A", "---", "--")
"""Cells that mean "no reading" in BMS exports."""

HOLD_KINDS = ("setpoint",)
"""Kinds of quantity resampled by holding the last sample (they change in steps)."""
DISCRETE_POINTS = (*COUNT_POINTS, "economizer_enable")
"""Points resampled by holding the last sample: counts and switches."""
STUCK_CHECKED_UNITS = ("°C", "kW")
"""Units of the analog points checked for being stuck (a temperature or power reading that never moves)."""


class HistoryError(ValueError):
    """A history file or column map is invalid; the message names file, line, column, value, unit and range."""


# --- units -------------------------------------------------------------------------------------------------------

_UNIT_NAMES: dict[str, dict[str, tuple[float, float]]] = {
    "°C": {**dict.fromkeys(("°C", "degC", "C", "celsius"), (1.0, 0.0)),
           **dict.fromkeys(("°F", "degF", "F", "fahrenheit"), (5.0 / 9.0, fahrenheit_to_celsius(0.0))),
           **dict.fromkeys(("K", "kelvin"), (1.0, -KELVIN_OFFSET_C))},
    "kW": {"kW": (1.0, 0.0), "W": (1.0 / W_PER_KW, 0.0), "MW": (W_PER_KW, 0.0)},
    "1": {**dict.fromkeys(("1", "frac", "fraction", "count"), (1.0, 0.0)),
          **dict.fromkeys(("%", "pct", "percent"), (0.01, 0.0))},
    "%": {**dict.fromkeys(("%", "pct", "percent"), (1.0, 0.0)),
          **dict.fromkeys(("1", "frac", "fraction"), (100.0, 0.0))},
    "min": {"min": (1.0, 0.0), "s": (1.0 / SECONDS_PER_MINUTE, 0.0), "h": (SECONDS_PER_HOUR / SECONDS_PER_MINUTE,
                                                                           0.0)},
}
"""Quantity unit -> accepted column unit -> (factor, offset) of the linear conversion ``x·factor + offset``."""


def unit_conversion(column_unit: str, quantity_unit: str) -> tuple[float, float]:
    """``(factor, offset)`` taking a value in ``column_unit`` to ``quantity_unit``; ValueError naming the accepted."""
    table = _UNIT_NAMES.get(quantity_unit, {quantity_unit: (1.0, 0.0)})
    if column_unit not in table:
        raise ValueError(f"unit {column_unit!r} cannot be converted to {quantity_unit!r}; accepted: {sorted(table)}")
    return table[column_unit]


# --- the column map ----------------------------------------------------------------------------------------------


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TimestampSpec(_Frozen):
    """The timestamp column of a BMS export."""

    column: str = Field(description="Header of the timestamp column.")
    format: Literal["iso", "epoch_s", "epoch_ms"] = Field(
        "iso", description="ISO 8601 (any offset, 'Z', or none), or Unix epoch seconds or milliseconds (UTC).")
    utc_offset_h: float | None = Field(
        None, ge=-12.0, le=14.0, json_schema_extra={"unit": "h"},
        description="Offset from UTC of ISO timestamps written without one (default: the site's standard time).")


class ColumnSpec(_Frozen):
    """What one column of a BMS export measures: exactly one of point, setpoint, zone_inlet, zone_it."""

    point: str | None = Field(None, description="A contract point (coolpilot presets --points) or a sub-meter: "
                                                + ", ".join(METERS) + ".")
    setpoint: str | None = Field(None, description="A setpoint the plant was told (the contract's names).")
    zone_inlet: str | None = Field(None, description="Zone name (facility file) whose inlet temperature this is.")
    zone_it: str | None = Field(None, description="Zone name (facility file) whose IT power this is.")
    unit: str = Field(description="Unit of the column's values (after scale and offset), e.g. degF, degC, K, W, "
                                  "kW, MW, %, frac, min, s.")
    scale: float = Field(1.0, description="Raw values are multiplied by this first (e.g. 0.1 for tenths).")
    offset: float = Field(0.0, description="Then this is added, in the column's unit.")

    @model_validator(mode="after")
    def _one_target(self) -> ColumnSpec:
        given = [k for k in ("point", "setpoint", "zone_inlet", "zone_it") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of point, setpoint, zone_inlet, zone_it (got {given or 'none'})")
        return self


class ColumnMap(_Frozen):
    """How to read a BMS trend export: the timestamp, every column's meaning, the resampling rules."""

    timestamp: TimestampSpec
    columns: dict[str, ColumnSpec] = Field(min_length=1, description="Column header -> what it measures.")
    ignore: list[str] = Field(default_factory=list, description="Columns present in the files but not used.")
    site_utc_offset_h: float | None = Field(
        None, ge=-12.0, le=14.0, json_schema_extra={"unit": "h"},
        description="The site's standard time offset from UTC (default: the climate's, else the smallest offset "
                    "the timestamps carry).")
    step_s: float = Field(DEFAULT_STEP_S, ge=60.0, le=3600.0, json_schema_extra={"unit": "s"},
                          description="Control step the history is resampled to.")
    max_gap_min: float = Field(DEFAULT_MAX_GAP_S / SECONDS_PER_MINUTE, gt=0.0, le=240.0,
                               json_schema_extra={"unit": "min"},
                               description="Longest span between samples interpolated across; longer is a gap.")
    stuck_hours: float = Field(DEFAULT_STUCK_HOURS, gt=0.0, le=720.0, json_schema_extra={"unit": "h"},
                               description="An analog point reading exactly the same value this long is stuck.")
    missing_values: list[str] = Field(list(MISSING_TOKENS), description="Cells that mean 'no reading'.")
    delimiter: str = Field(",", min_length=1, max_length=1, description="Field separator of the CSV files.")


def load_column_map(path: str | Path) -> ColumnMap:
    """Read and validate a column-map YAML file (refused with one line per problem)."""
    data = read_yaml(path, "column map", HistoryError)
    if not isinstance(data, dict):
        raise HistoryError(f"{path}: a column map must be a YAML mapping with 'timestamp' and 'columns'")
    try:
        return ColumnMap.model_validate(data)
    except ValidationError as err:
        raise HistoryError(format_validation_error(err, ColumnMap, str(path), "column map")) from None


# --- the result ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Issue:
    """Something about the data the report must say: a gap, a stuck sensor, duplicates, a fill-in."""

    kind: str
    """``gap``, ``stuck``, ``duplicates``, ``sampling``, ``feedback_setpoint``, ``time_zone`` or ``plausibility``."""
    what: str
    """The quantity (point, setpoint or zone) concerned, or ``*``."""
    detail: str
    start_s: float = math.nan
    end_s: float = math.nan
    steps: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"kind": self.kind, "what": self.what, "detail": self.detail,
                "start_s": None if math.isnan(self.start_s) else self.start_s,
                "end_s": None if math.isnan(self.end_s) else self.end_s, "steps": self.steps}


@dataclass(frozen=True)
class History:
    """A site's trend history on the control-step grid; NaN where nothing was recorded.

    ``time_s`` counts seconds since 1 January 00:00 local standard time of ``year`` (the
    simulator's clock, continuing past the year's end). ``points`` holds contract points and
    sub-meters (:data:`coolpilot.envs.calibration.targets.METERS`); ``setpoints`` what the plant was
    told (absent or NaN: not recorded); ``zone_inlet_c`` and ``zone_it_kw`` per-zone readings.
    """

    source: str
    dt_s: float
    time_s: np.ndarray
    year: int
    utc_offset_h: float | None
    points: dict[str, np.ndarray]
    setpoints: dict[str, np.ndarray] = field(default_factory=dict)
    zone_inlet_c: dict[str, np.ndarray] = field(default_factory=dict)
    zone_it_kw: dict[str, np.ndarray] = field(default_factory=dict)
    quality: tuple[Issue, ...] = ()

    @property
    def n_steps(self) -> int:
        """Grid steps."""
        return int(self.time_s.shape[0])

    @property
    def days(self) -> float:
        """Span of the grid (days)."""
        return self.n_steps * self.dt_s / SECONDS_PER_DAY

    def window(self, start: int, stop: int) -> History:
        """Steps ``start:stop`` of the history (issues kept as they are)."""
        s = slice(start, stop)
        return replace(
            self, time_s=self.time_s[s], points={k: v[s] for k, v in self.points.items()},
            setpoints={k: v[s] for k, v in self.setpoints.items()},
            zone_inlet_c={k: v[s] for k, v in self.zone_inlet_c.items()},
            zone_it_kw={k: v[s] for k, v in self.zone_it_kw.items()},
        )

    def iso(self, time_s: float) -> str:
        """A grid time as local-standard ISO 8601 (with its UTC offset when known)."""
        start = datetime(self.year, 1, 1) + timedelta(seconds=float(time_s))
        if self.utc_offset_h is None:
            return start.isoformat(timespec="minutes")
        return start.replace(tzinfo=timezone(timedelta(hours=self.utc_offset_h))).isoformat(timespec="minutes")

    def with_weather(self, drybulb_c: np.ndarray, wetbulb_c: np.ndarray, source: str) -> History:
        """This history with outdoor dry and wet bulb filled where it lacks them (from ``source``, e.g. an EPW)."""
        points = dict(self.points)
        notes = list(self.quality)
        for name, values in (("outdoor_drybulb_c", drybulb_c), ("outdoor_wetbulb_c", wetbulb_c)):
            have = points.get(name)
            missing = np.isnan(have) if have is not None else np.ones(self.n_steps, dtype=bool)
            if missing.any():
                filled = np.where(missing, values, have if have is not None else values)
                points[name] = filled
                notes.append(Issue("weather", name, f"{int(missing.sum())} steps taken from {source}",
                                   steps=int(missing.sum())))
        return replace(self, points=points, quality=tuple(notes))


# --- shared pipeline -----------------------------------------------------------------------------------------------


@dataclass
class _Column:
    """One source column: what it measures and its samples (local-standard epoch seconds, converted values)."""

    quantity: Quantity
    target: str
    """Point, setpoint or zone name."""
    file: str
    header: str
    times: np.ndarray
    values: np.ndarray
    lines: np.ndarray


@dataclass(frozen=True)
class _Rules:
    step_s: float = DEFAULT_STEP_S
    max_gap_s: float = DEFAULT_MAX_GAP_S
    stuck_s: float = DEFAULT_STUCK_HOURS * SECONDS_PER_HOUR


def _open_text(path: Path) -> io.TextIOBase:
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise HistoryError(f"{path}: cannot read history file: {err.strerror}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise HistoryError(f"{path}: not a valid gzip file: {err}") from None
    try:
        return io.StringIO(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as err:
        raise HistoryError(f"{path}: not UTF-8 text (byte {err.start}): export the trend as UTF-8 CSV") from None


def _read_rows(path: Path, delimiter: str = ",") -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(_open_text(path), delimiter=delimiter))
    if not rows:
        raise HistoryError(f"{path}: empty file; expected a header row")
    header = [h.strip() for h in rows[0]]
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise HistoryError(f"{path} line 1: columns {repeated} appear more than once in the header")
    body = [r for r in rows[1:] if any(c.strip() for c in r)]
    for i, r in enumerate(rows[1:], start=2):
        if any(c.strip() for c in r) and len(r) != len(header):
            raise HistoryError(f"{path} line {i}: {len(r)} fields, the header has {len(header)}")
    if len(body) < 2:
        raise HistoryError(f"{path}: {len(body)} data row(s); a history needs many (at least {MIN_USABLE_HOURS:g} h)")
    return header, rows[1:]


def _numbers(path: Path, header: str, cells: Sequence[str], lines: np.ndarray, quantity: Quantity,
             factor: float, offset: float, scale: float, raw_offset: float, unit_text: str,
             missing: frozenset[str], plausible_high: float | None) -> np.ndarray:
    """Parse, convert and range-check a column's cells (NaN for missing ones)."""
    out = np.full(len(cells), np.nan)
    for i, cell in enumerate(cells):
        text = cell.strip()
        if text in missing:
            continue
        try:
            raw = float(text)
        except ValueError:
            raise HistoryError(f"{path} line {lines[i]}: column {header!r} = {text!r} is not a number "
                               f"(expected {quantity.name} in {unit_text})") from None
        if not math.isfinite(raw):
            continue
        out[i] = ((raw * scale + raw_offset) * factor) + offset
    tolerance = 1e-6 * (quantity.high - quantity.low)  # a bound written in another unit comes back off by rounding
    out = np.where(np.abs(out - quantity.low) <= tolerance, quantity.low, out)
    out = np.where(np.abs(out - quantity.high) <= tolerance, quantity.high, out)
    bad = ~np.isnan(out) & ((out < quantity.low) | (out > quantity.high))
    if bad.any():
        i = int(np.argmax(bad))
        raise HistoryError(
            f"{path} line {lines[i]}: column {header!r} = {cells[i].strip()} {unit_text} is {out[i]:.6g} "
            f"{quantity.unit}, outside the physical range {quantity.low:g}..{quantity.high:g} {quantity.unit} of "
            f"{quantity.kind} {quantity.name} (is the column's unit right?)")
    if plausible_high is not None:
        bad = ~np.isnan(out) & (out > plausible_high)
        if bad.any():
            i = int(np.argmax(bad))
            raise HistoryError(
                f"{path} line {lines[i]}: column {header!r} = {cells[i].strip()} {unit_text} is {out[i]:.6g} "
                f"{quantity.unit}, above {plausible_high:.6g} {quantity.unit}, the most {quantity.name} this "
                f"facility can draw (allowed 0..{plausible_high:.6g} {quantity.unit}; is the column's unit right?)")
    return out


def _plausible_high(quantity: Quantity, target: str, facility: FacilityConfig | None) -> float | None:
    """The largest credible reading for the draft facility (catches kW given as W), or None without one."""
    if facility is None or quantity.unit != "kW":
        return None
    it = facility.it_design_kw
    if quantity.kind == "zone_it":
        zone = next((z for z in facility.zones if z.name == target), None)
        return None if zone is None else 1.5 * zone.it_design_kw
    if target == "it_power_kw":
        return 1.5 * it
    if target in ("facility_power_kw",):
        return 4.0 * it
    return 3.0 * it


def _check_times(path: Path, times: np.ndarray, lines: np.ndarray, header: str) -> None:
    back = np.diff(times) < 0.0
    if back.any():
        i = int(np.argmax(back)) + 1
        raise HistoryError(f"{path} line {lines[i]}: column {header!r}: time runs backwards "
                           f"({_stamp(times[i])} after {_stamp(times[i - 1])} on line {lines[i - 1]}); "
                           "sort the export by time or give each file one period")


def _stamp(local_s: float) -> str:
    return (datetime(1970, 1, 1) + timedelta(seconds=float(local_s))).isoformat(timespec="seconds")


def _merge_duplicates(col: _Column, issues: list[Issue]) -> _Column:
    """Drop repeated timestamps carrying the same value; refuse the same timestamp with two values."""
    order = np.argsort(col.times, kind="stable")
    t, v, ln = col.times[order], col.values[order], col.lines[order]
    same = np.diff(t) == 0.0
    if not same.any():
        return col
    keep = np.ones(len(t), dtype=bool)
    for i in np.flatnonzero(same) + 1:
        a, b = v[i - 1], v[i]
        if np.isnan(a) or np.isnan(b) or a == b:
            keep[i] = False
            if np.isnan(v[i - 1]):
                v[i - 1] = b
            continue
        raise HistoryError(
            f"{col.file} lines {ln[i - 1]} and {ln[i]}: column {col.header!r} has two values ({a:.6g} and {b:.6g} "
            f"{col.quantity.unit}) at the same time {_stamp(t[i])}; remove one (a daylight-saving repeat? give "
            "timestamps with their UTC offset)")
    dropped = int((~keep).sum())
    issues.append(Issue("duplicates", col.file, f"{dropped} repeated samples dropped", steps=dropped))
    return _Column(col.quantity, col.target, col.file, col.header, t[keep], v[keep], ln[keep])


def _drop_stuck(col: _Column, stuck_s: float, issues: list[Issue], year_start: float) -> _Column:
    """Readings of an analog point that stay exactly equal (and not 0) for ``stuck_s`` or longer are dropped."""
    if col.quantity.kind not in ("point", "meter", "zone_inlet", "zone_it") or col.quantity.unit not in \
            STUCK_CHECKED_UNITS or col.target in DISCRETE_POINTS:
        return col
    valid = np.flatnonzero(~np.isnan(col.values))
    if len(valid) < 2:
        return col
    v = col.values[valid]
    t = col.times[valid]
    change = np.flatnonzero(np.diff(v) != 0.0) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change, [len(v)]))
    values = col.values.copy()
    for a, b in zip(starts, ends, strict=True):
        if v[a] != 0.0 and b - a >= 3 and t[b - 1] - t[a] >= stuck_s:  # exactly 0: equipment off, not a sensor
            values[valid[a:b]] = np.nan
            issues.append(Issue("stuck", col.target, f"column {col.header!r} read {v[a]:.6g} {col.quantity.unit} "
                                f"unchanged for {(t[b - 1] - t[a]) / SECONDS_PER_HOUR:.1f} h ({b - a} samples); "
                                "those readings are left out", t[a] - year_start, t[b - 1] - year_start, b - a))
    return replace(col, values=values)


def _resample(t: np.ndarray, v: np.ndarray, grid: np.ndarray, step_s: float, max_gap_s: float, hold: bool
              ) -> np.ndarray:
    """Values at ``grid`` from samples (t, v) (NaN samples ignored), never across a gap longer than ``max_gap_s``.

    A sample within half a step of a grid time is that slot's reading (a logger late or early by seconds):
    it is taken as it is, so jitter adds no smoothing. Between samples further off, values are interpolated
    linearly, or held from the last sample (``hold``: setpoints and counts change in steps).
    """
    ok = ~np.isnan(v)
    t, v = t[ok], v[ok]
    out = np.full(grid.shape, np.nan)
    m = len(t)
    if m == 0:
        return out
    right = np.searchsorted(t, grid, side="left")
    left = right - 1
    has_l, has_r = left >= 0, right < m
    li, ri = np.maximum(left, 0), np.minimum(right, m - 1)
    dl = np.where(has_l, grid - t[li], np.inf)
    dr = np.where(has_r, t[ri] - grid, np.inf)
    near = np.minimum(dl, dr) <= 0.5 * step_s
    out[near] = np.where(dr <= dl, v[ri], v[li])[near]
    far = ~near & has_l
    if hold:
        ok_hold = far & (dl <= max_gap_s)
        out[ok_hold] = v[li][ok_hold]
    else:
        inner = far & has_r & (t[ri] - t[li] <= max_gap_s)
        a, b = li[inner], ri[inner]
        out[inner] = v[a] + (grid[inner] - t[a]) / np.maximum(t[b] - t[a], 1e-9) * (v[b] - v[a])
    return out


def _gap_issues(name: str, values: np.ndarray, time_s: np.ndarray, dt_s: float) -> list[Issue]:
    """Runs of missing grid steps of one quantity, largest first (at most five listed, the rest counted)."""
    missing = np.isnan(values)
    if not missing.any():
        return []
    edges = np.diff(np.concatenate(([0], missing.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    runs = sorted(zip(starts, ends, strict=True), key=lambda r: r[0] - r[1])
    out = [Issue("gap", name, f"no reading for {(b - a) * dt_s / SECONDS_PER_HOUR:.2f} h ({b - a} steps)",
                 float(time_s[a]), float(time_s[b - 1]), int(b - a)) for a, b in runs[:5]]
    if len(runs) > 5:
        rest = sum(int(b - a) for a, b in runs[5:])
        out.append(Issue("gap", name, f"{len(runs) - 5} shorter gaps, {rest} steps in all", steps=rest))
    return out


def _assemble(columns: list[_Column], source: str, rules: _Rules, utc_offset_h: float | None,
              issues: list[Issue]) -> History:
    """Merge duplicates, drop stuck readings and resample every column onto one grid."""
    by_target: dict[tuple[str, str], list[_Column]] = {}
    for col in columns:
        if np.isnan(col.values).all():
            raise HistoryError(f"{col.file}: column {col.header!r} ({col.quantity.kind} {col.target}) has no valid "
                               "value (every cell empty or missing)")
        by_target.setdefault((col.quantity.kind, col.target), []).append(col)
    first = min(float(c.times[0]) for c in columns)
    year = (datetime(1970, 1, 1) + timedelta(seconds=first)).year
    year_start = (datetime(year, 1, 1) - datetime(1970, 1, 1)).total_seconds()
    merged: dict[tuple[str, str], _Column] = {}
    for key, cols in by_target.items():
        joined = _Column(cols[0].quantity, cols[0].target, cols[0].file, cols[0].header,
                         np.concatenate([c.times for c in cols]), np.concatenate([c.values for c in cols]),
                         np.concatenate([c.lines for c in cols]))
        if len(cols) > 1:
            joined.file = " + ".join(sorted({c.file for c in cols}))
        joined = _merge_duplicates(joined, issues)
        merged[key] = _drop_stuck(joined, rules.stuck_s, issues, year_start)
    dt = rules.step_s
    lo = min(float(c.times[0]) for c in merged.values()) - year_start
    hi = max(float(c.times[-1]) for c in merged.values()) - year_start
    grid = np.arange(math.ceil(lo / dt) * dt, math.floor(hi / dt) * dt + 0.5 * dt, dt)
    if len(grid) * dt < MIN_USABLE_HOURS * SECONDS_PER_HOUR:
        raise HistoryError(f"{source}: the history spans {len(grid) * dt / SECONDS_PER_HOUR:.1f} h; at least "
                           f"{MIN_USABLE_HOURS:g} h are needed (a period to fit and a held-out period to check)")
    out: dict[str, dict[str, np.ndarray]] = {"point": {}, "meter": {}, "setpoint": {}, "zone_inlet": {},
                                             "zone_it": {}}
    gaps: list[Issue] = []
    for (kind, target), col in merged.items():
        hold = kind in HOLD_KINDS or target in DISCRETE_POINTS
        values = _resample(col.times - year_start, col.values, grid, dt, rules.max_gap_s, hold)
        out[kind][target] = values
        label = target if kind in ("point", "meter") else f"{kind} {target}"
        gaps.extend(_gap_issues(label, values, grid, dt))
    issues = _grouped(issues, gaps)
    return History(
        source=source, dt_s=dt, time_s=grid, year=year, utc_offset_h=utc_offset_h,
        points={**out["point"], **out["meter"]}, setpoints=out["setpoint"], zone_inlet_c=out["zone_inlet"],
        zone_it_kw=out["zone_it"], quality=tuple(issues),
    )


def _grouped(issues: list[Issue], gaps: list[Issue]) -> list[Issue]:
    """Issues with the same cause stated once: duplicates per file, a gap shared by several quantities as one."""
    out = [i for i in issues if i.kind != "duplicates"]
    by_file: dict[str, list[Issue]] = {}
    for i in issues:
        if i.kind == "duplicates":
            by_file.setdefault(i.what, []).append(i)
    for file, found in by_file.items():
        most = max(i.steps for i in found)
        out.append(Issue("duplicates", file, f"{most} repeated rows dropped (in {len(found)} columns)", steps=most))
    spans: dict[tuple[float, float, int, str], list[str]] = {}
    for g in gaps:
        spans.setdefault((g.start_s, g.end_s, g.steps, g.detail), []).append(g.what)
    for (start, end, steps, detail), names in spans.items():
        what = ", ".join(names) if len(names) <= 4 else f"{len(names)} quantities ({', '.join(names[:3])}, ...)"
        out.append(Issue("gap", what, detail, start, end, steps))
    return out


def _column(path: Path, header: str, cells: Sequence[str], times: np.ndarray, lines: np.ndarray,
            quantity: Quantity, target: str, unit_text: str, facility: FacilityConfig | None,
            missing: frozenset[str] = frozenset(MISSING_TOKENS), scale: float = 1.0, raw_offset: float = 0.0
            ) -> _Column:
    try:
        factor, offset = unit_conversion(unit_text, quantity.unit)
    except ValueError as err:
        raise HistoryError(f"{path}: column {header!r} ({quantity.kind} {target}): {err}") from None
    values = _numbers(path, header, cells, lines, quantity, factor, offset, scale, raw_offset, unit_text, missing,
                      _plausible_high(quantity, target, facility))
    return _Column(quantity, target, str(path), header, times, values, lines)


def _check_zones(path: Path, header: str, zone: str, facility: FacilityConfig | None) -> None:
    if facility is not None and zone not in {z.name for z in facility.zones}:
        raise HistoryError(f"{path}: column {header!r} names zone {zone!r}, which facility {facility.name} does not "
                           f"have (zones: {[z.name for z in facility.zones]})")


# --- coolpilot simulate --csv -------------------------------------------------------------------------------------

SIMULATE_COLUMNS: dict[str, str | None] = {
    "time_s": None,
    "outdoor_drybulb_c": "outdoor_drybulb_c", "outdoor_wetbulb_c": "outdoor_wetbulb_c",
    "it_power_kw": "it_power_kw", "facility_kw": "facility_power_kw", "cooling_kw": "cooling_power_kw",
    "crah_fan_kw": "crah_fan_power_kw", "chiller_kw": "chiller_power_kw", "tower_fan_kw": "tower_fan_power_kw",
    "chw_pump_kw": "chw_pump_power_kw", "cw_pump_kw": "cw_pump_power_kw",
    "distribution_loss_kw": "distribution_loss_kw",
    "inlet_temp_max_c": "inlet_temp_max_c", "inlet_temp_mean_c": "inlet_temp_mean_c",
    "supply_air_temp_c": "supply_air_temp_c", "return_air_temp_c": "return_air_temp_c",
    "crah_fan_speed_frac": "crah_fan_speed_frac", "chw_supply_c": "chw_supply_temp_c",
    "chw_return_c": "chw_return_temp_c", "condenser_water_c": "condenser_water_temp_c",
    "chillers_running": "chillers_running", "chiller_plr": "chiller_plr", "tower_cells_running": "tower_cells_running",
    "chw_flow_frac": "chw_flow_frac", "cw_flow_frac": "cw_flow_frac", "economizer_enabled": "economizer_enable",
    # Outputs no BMS meters as such (or that are sums of the above): read past, not used.
    "lighting_kw": None, "coil_load_kw": None, "economizer_kw": None, "chiller_load_kw": None,
    "heat_rejected_kw": None, "envelope_gain_kw": None, "stored_heat_change_kj": None,
    "water_evaporation_m3": None, "water_drift_m3": None, "water_blowdown_m3": None, "tower_shortfall_k": None,
    "chiller_starts": None, "tes_heat_change_kj": None, "tes_ambient_gain_kw": None,
    "tes_soc": "tes_soc", "tes_discharge_kw": "tes_discharge_kw",
    "case_temp_max_c": "case_temp_max_c", "fws_supply_c": "fws_supply_temp_c", "tcs_supply_c": "tcs_supply_temp_c",
    "liquid_heat_kw": "liquid_heat_kw", "trim_kw": "trim_load_kw", "gpu_throttled_kw": "gpu_throttled_kw",
    "heat_demand_kw": "heat_demand_kw", "heat_reused_kw": "reused_heat_kw", "heat_pump_kw": "heat_pump_power_kw",
    "it_liquid_kw": None, "cdu_pump_kw": None, "fws_pump_kw": None, "dry_cooler_kw": None, "dry_cooler_fan_kw": None,
    "heat_source_kw": None,
}
"""Column of ``coolpilot simulate --csv`` -> the point or meter it is (None: not used)."""


def read_simulate_csv(path: str | Path, facility: FacilityConfig | None = None,
                      max_gap_s: float = DEFAULT_MAX_GAP_S) -> History:
    """A history from the CSV ``coolpilot simulate --csv`` writes (its ``time_s`` is already local standard time)."""
    p = Path(path)
    header, rows = _read_rows(p)
    if header[0] != "time_s":
        raise HistoryError(f"{p} line 1: the first column must be 'time_s' (a coolpilot simulate CSV); got "
                           f"{header[0]!r}")
    lines = np.arange(2, len(rows) + 2)
    cells = list(zip(*rows, strict=True)) if rows else []
    times = _numbers(p, "time_s", cells[0], lines, Quantity("time", "s", 0.0, 1.0e10, "point"), 1.0, 0.0, 1.0, 0.0,
                     "s", frozenset(), None)
    if np.isnan(times).any():
        raise HistoryError(f"{p} line {lines[int(np.argmax(np.isnan(times)))]}: column 'time_s' is empty")
    _check_times(p, times, lines, "time_s")
    step = float(np.median(np.diff(times)))
    cols: list[_Column] = []
    for j, name in enumerate(header[1:], start=1):
        qty, target, unit = _simulate_target(p, name, facility)
        if qty is None:
            continue
        cols.append(_column(p, name, cells[j], times, lines, qty, target, unit, facility))
    issues: list[Issue] = []
    # The simulator's clock counts from 1 January 00:00 of an unnamed year: read as 1970, its times stay as they are.
    # Its values are model outputs, not sensors: a value held exactly (a chiller off, a loop at its setpoint) is real.
    rules = _Rules(step_s=step, max_gap_s=max(max_gap_s, step), stuck_s=math.inf)
    return _assemble(cols, str(p), rules, None, issues)


def _simulate_target(path: Path, name: str, facility: FacilityConfig | None) -> tuple[Quantity | None, str, str]:
    if name.startswith("setpoint_"):
        sp = name.removeprefix("setpoint_")
        q = setpoint_quantity(sp)
        if q is None:
            raise HistoryError(f"{path} line 1: column {name!r} names no setpoint of any equipment block "
                               f"(known: {sorted(SETPOINT_SPECS)})")
        return q, sp, q.unit
    if name.startswith("inlet_temp_c_"):
        zone = name.removeprefix("inlet_temp_c_")
        _check_zones(path, name, zone, facility)
        return ZONE_INLET, zone, "°C"
    if name.startswith("it_power_kw_"):
        zone = name.removeprefix("it_power_kw_")
        _check_zones(path, name, zone, facility)
        return ZONE_IT, zone, "kW"
    if name not in SIMULATE_COLUMNS:
        raise HistoryError(f"{path} line 1: unknown column {name!r}: not a column coolpilot simulate writes "
                           f"(known: {sorted(SIMULATE_COLUMNS)}, setpoint_<name>, inlet_temp_c_<zone>)")
    target = SIMULATE_COLUMNS[name]
    if target is None:
        return None, "", ""
    q = point_quantity(target) or meter_quantity(target)
    assert q is not None, target
    return q, target, q.unit


# --- the audit trail's decisions.csv -----------------------------------------------------------------------------

DECISION_META = ("time_s", "run_id", "cycle", "mode", "source", "wrote", "model_sha256", "latency_ms", "raw_error",
                 "interventions")
"""Columns of ``AuditStore.export_csv`` that are not points or setpoints."""


def read_decisions_csv(path: str | Path, facility: FacilityConfig | None = None, utc_offset_h: float | None = None,
                       max_gap_s: float = DEFAULT_MAX_GAP_S, step_s: float | None = None) -> History:
    """A history from the audit trail's ``decisions.csv`` (``coolpilot serve``'s ``AuditStore.export_csv``).

    ``time_s`` there is Unix time (UTC). The site's standard-time offset is ``utc_offset_h``, else
    read from the ``time_of_day`` points the service recorded (they are local standard time),
    else 0 (reported). Setpoints are the ``written_*`` values of cycles that wrote; a cycle that
    did not write (shadow mode) leaves them unrecorded.
    """
    p = Path(path)
    header, rows = _read_rows(p)
    for need in ("time_s", "wrote"):
        if need not in header:
            raise HistoryError(f"{p} line 1: column {need!r} missing: not an audit decisions.csv "
                               "(coolpilot serve's export)")
    lines = np.arange(2, len(rows) + 2)
    cells = list(zip(*rows, strict=True))
    col = {h: cells[j] for j, h in enumerate(header)}
    unix = _numbers(p, "time_s", col["time_s"], lines, Quantity("time", "s", 0.0, 1.0e11, "point"), 1.0, 0.0, 1.0,
                    0.0, "s", frozenset(), None)
    _check_times(p, unix, lines, "time_s")
    issues: list[Issue] = []
    offset = utc_offset_h
    if offset is None:
        offset = _offset_from_clock(unix, col.get("point_time_of_day_sin"), col.get("point_time_of_day_cos"))
        if offset is None:
            offset = 0.0
            issues.append(Issue("time_zone", "*", "no UTC offset given or recorded: times taken as UTC"))
        else:
            issues.append(Issue("time_zone", "*", f"site standard time UTC{offset:+g} h, read from the recorded "
                                                  "time_of_day points"))
    local = unix + offset * SECONDS_PER_HOUR
    wrote = np.array([c.strip().lower() == "true" for c in col["wrote"]])
    cols: list[_Column] = []
    for name in header:
        if name in DECISION_META or name.startswith("raw_"):
            continue
        if not any(c.strip() for c in col[name]):
            continue  # the export lists every contract point and setpoint, recorded or not
        if name.startswith("point_"):
            target = name.removeprefix("point_")
            q = point_quantity(target)
            if q is None:
                if target in ("grid_price_per_mwh", "grid_price_ahead_per_mwh", "grid_carbon_t_per_mwh",
                              "grid_carbon_ahead_t_per_mwh", "facility_peak_kw"):
                    continue
                raise HistoryError(f"{p} line 1: column {name!r} names no point of any equipment block")
            cols.append(_column(p, name, col[name], local, lines, q, target, q.unit, facility))
        elif name.startswith("written_"):
            target = name.removeprefix("written_")
            q = setpoint_quantity(target)
            if q is None:
                raise HistoryError(f"{p} line 1: column {name!r} names no setpoint of any equipment block")
            cells_written = [c if w else "" for c, w in zip(col[name], wrote, strict=True)]
            if not any(c.strip() for c in cells_written):
                continue  # never written (shadow mode): the plant ran its own setpoints
            cols.append(_column(p, name, cells_written, local, lines, q, target, q.unit, facility))
        else:
            raise HistoryError(f"{p} line 1: unknown column {name!r}: not a column of an audit decisions.csv")
    step = step_s or float(np.median(np.diff(local)))
    return _assemble(cols, str(p), _Rules(step_s=step, max_gap_s=max(max_gap_s, step)), offset, issues)


def _offset_from_clock(unix: np.ndarray, sin_cells: Sequence[str] | None, cos_cells: Sequence[str] | None
                       ) -> float | None:
    """The UTC offset (h, to the quarter hour) the recorded time-of-day points imply, or None."""
    if sin_cells is None or cos_cells is None:
        return None
    s = np.array([float(c) if c.strip() else np.nan for c in sin_cells])
    c = np.array([float(x) if x.strip() else np.nan for x in cos_cells])
    ok = ~(np.isnan(s) | np.isnan(c))
    if not ok.any():
        return None
    local_h = np.mod(np.arctan2(s[ok], c[ok]) * 24.0 / (2.0 * np.pi), 24.0)
    utc_h = np.mod(unix[ok] / SECONDS_PER_HOUR, 24.0)
    diff = np.mod(local_h - utc_h + 12.0, 24.0) - 12.0
    return float(np.round(np.median(diff) * 4.0) / 4.0)


# --- BMS exports --------------------------------------------------------------------------------------------------


def _parse_timestamps(path: Path, cells: Sequence[str], lines: np.ndarray, spec: TimestampSpec,
                      missing: frozenset[str]) -> tuple[np.ndarray, np.ndarray]:
    """UTC-epoch seconds (NaN for naive ISO stamps) and each stamp's own offset (h; NaN: naive or epoch)."""
    utc = np.empty(len(cells))
    offsets = np.full(len(cells), np.nan)
    naive_local = np.full(len(cells), np.nan)
    for i, cell in enumerate(cells):
        text = cell.strip()
        if text in missing:
            raise HistoryError(f"{path} line {lines[i]}: column {spec.column!r} (timestamp) is empty")
        if spec.format != "iso":
            try:
                value = float(text)
            except ValueError:
                raise HistoryError(f"{path} line {lines[i]}: column {spec.column!r} = {text!r} is not an epoch "
                                   f"time in {'seconds' if spec.format == 'epoch_s' else 'milliseconds'}") from None
            utc[i] = value / (1000.0 if spec.format == "epoch_ms" else 1.0)
            continue
        try:
            stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise HistoryError(f"{path} line {lines[i]}: column {spec.column!r} = {text!r} is not an ISO 8601 "
                               "timestamp (e.g. 2025-05-01T00:05:00-06:00)") from None
        if stamp.tzinfo is None:
            naive_local[i] = (stamp - datetime(1970, 1, 1)).total_seconds()
            utc[i] = np.nan
        else:
            delta = stamp.utcoffset()
            assert delta is not None
            offsets[i] = delta.total_seconds() / SECONDS_PER_HOUR
            utc[i] = (stamp - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()
    utc = np.where(np.isnan(utc), naive_local, utc)
    return utc, offsets


def read_bms_export(paths: str | Path | Sequence[str | Path], column_map: ColumnMap | str | Path,
                    facility: FacilityConfig | None = None, site_utc_offset_h: float | None = None) -> History:
    """A history from one or several BMS trend exports (CSV, plain or gzip) read through ``column_map``.

    Every column of every file must be mapped or listed under ``ignore``. Time becomes the site's
    local standard time: the map's ``site_utc_offset_h``, else ``site_utc_offset_h`` given here
    (the climate's), else the smallest UTC offset the timestamps carry (daylight-saving time only
    ever adds), else naive timestamps are taken as local standard time as they are.
    """
    cmap = column_map if isinstance(column_map, ColumnMap) else load_column_map(column_map)
    files = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    if not files:
        raise HistoryError("no history file given")
    missing = frozenset(cmap.missing_values)
    parsed: list[tuple[Path, list[str], list[list[str]], np.ndarray, np.ndarray, np.ndarray]] = []
    for path in files:
        header, rows = _read_rows(path, cmap.delimiter)
        if cmap.timestamp.column not in header:
            raise HistoryError(f"{path} line 1: timestamp column {cmap.timestamp.column!r} (column map) not found; "
                               f"columns: {header}")
        known = {cmap.timestamp.column, *cmap.columns, *cmap.ignore}
        unknown = [h for h in header if h not in known]
        if unknown:
            raise HistoryError(f"{path} line 1: unknown columns {unknown}: map each in the column map's 'columns' "
                               "(point, unit) or list it under 'ignore'")
        lines = np.arange(2, len(rows) + 2)
        stamps = [r[header.index(cmap.timestamp.column)] for r in rows]
        epoch, offsets = _parse_timestamps(path, stamps, lines, cmap.timestamp, missing)
        parsed.append((path, header, rows, lines, epoch, offsets))
    issues: list[Issue] = []
    seen_offsets = np.concatenate([o[~np.isnan(o)] for *_, o in parsed])
    offset = cmap.site_utc_offset_h if cmap.site_utc_offset_h is not None else site_utc_offset_h
    if offset is None and seen_offsets.size:
        offset = float(seen_offsets.min())
        issues.append(Issue("time_zone", "*", f"site standard time taken as UTC{offset:+g} h, the smallest offset "
                                              "the timestamps carry"))
    naive_offset = cmap.timestamp.utc_offset_h
    cols: list[_Column] = []
    for path, header, rows, lines, epoch, offsets in parsed:
        aware = ~np.isnan(offsets) | (cmap.timestamp.format != "iso")
        if offset is None and aware.any():
            offset = 0.0
            issues.append(Issue("time_zone", "*", "epoch timestamps and no site UTC offset: times taken as UTC"))
        site = offset or 0.0
        local = np.where(aware, epoch + site * SECONDS_PER_HOUR,
                         epoch + (site - (naive_offset if naive_offset is not None else site)) * SECONDS_PER_HOUR)
        _check_times(path, local, lines, cmap.timestamp.column)
        steps = np.diff(local)
        steps = steps[steps > 0]
        if steps.size and (np.ptp(steps) > 0.0):
            issues.append(Issue("sampling", "*", f"{path.name}: irregular sampling, intervals "
                                f"{steps.min():.0f}..{steps.max():.0f} s (median {np.median(steps):.0f} s), "
                                f"resampled to {cmap.step_s:g} s"))
        cells = list(zip(*rows, strict=True))
        for j, name in enumerate(header):
            spec = cmap.columns.get(name)
            if spec is None:
                continue
            qty, target = _bms_target(path, name, spec, facility)
            cols.append(_column(path, name, cells[j], local, lines, qty, target, spec.unit, facility, missing,
                                spec.scale, spec.offset))
    rules = _Rules(cmap.step_s, cmap.max_gap_min * SECONDS_PER_MINUTE, cmap.stuck_hours * SECONDS_PER_HOUR)
    source = " + ".join(str(p) for p in files)
    return _assemble(cols, source, rules, offset, issues)


def _bms_target(path: Path, header: str, spec: ColumnSpec, facility: FacilityConfig | None) -> tuple[Quantity, str]:
    if spec.point is not None:
        q = point_quantity(spec.point) or meter_quantity(spec.point)
        if q is None:
            raise HistoryError(f"{path}: column {header!r} maps to point {spec.point!r}, which is neither a contract "
                               f"point nor a sub-meter ({', '.join(METERS)})")
        return q, spec.point
    if spec.setpoint is not None:
        q = setpoint_quantity(spec.setpoint)
        if q is None:
            raise HistoryError(f"{path}: column {header!r} maps to setpoint {spec.setpoint!r}, not a setpoint of any "
                               f"equipment block (known: {sorted(SETPOINT_SPECS)})")
        return q, spec.setpoint
    zone = spec.zone_inlet if spec.zone_inlet is not None else spec.zone_it
    assert zone is not None
    _check_zones(path, header, zone, facility)
    return (ZONE_INLET if spec.zone_inlet is not None else ZONE_IT), zone


# --- what a calibration needs ----------------------------------------------------------------------------------


def require_inputs(history: History) -> None:
    """Refuse a history the replay cannot run on: IT power is needed, and outdoor dry and wet bulb (or RH)."""
    if "it_power_kw" not in history.points and not history.zone_it_kw:
        raise HistoryError(f"{history.source}: no IT power (point it_power_kw or per-zone zone_it columns): the "
                           "recorded IT power replaces the load profile, so it is needed")
    for name in ("outdoor_drybulb_c",):
        if name not in history.points:
            raise HistoryError(f"{history.source}: no outdoor dry bulb (point {name}); record it or give --climate "
                               "(an EPW or a bundled climate)")
    if "outdoor_wetbulb_c" not in history.points and "outdoor_rh_pct" not in history.points:
        raise HistoryError(f"{history.source}: no outdoor wet bulb or relative humidity (points outdoor_wetbulb_c, "
                           "outdoor_rh_pct); record one or give --climate")


# --- any of the three, by name ---------------------------------------------------------------------------------

HISTORY_FORMATS = ("auto", "simulate", "decisions", "bms")
"""Formats :func:`read_history` takes: ``auto`` (bms with a column map, else read from the header) or one named."""


def history_format(path: str | Path) -> str:
    """``simulate`` or ``decisions`` from a file's header; a BMS export (or gzip) is refused: it needs a column map."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            head = fh.read(2)
        if head == b"\x1f\x8b":
            raise HistoryError(f"{p}: a gzip file is read as a BMS export: give --column-map (in a what-if "
                               "scenario: history.column_map)")
        with p.open(encoding="utf-8-sig") as fh:
            header = fh.readline().strip().split(",")
    except OSError as err:
        raise HistoryError(f"{p}: cannot read the history: {err.strerror}") from None
    if header and header[0] == "time_s" and "facility_kw" in header:
        return "simulate"
    if "wrote" in header and any(h.startswith("point_") for h in header):
        return "decisions"
    raise HistoryError(f"{p} line 1: neither a coolpilot simulate CSV (time_s, facility_kw, ...) nor an audit "
                       "decisions.csv (time_s, wrote, point_*): for a BMS export give --column-map (in a what-if "
                       "scenario: history.column_map)")


def read_history(paths: Sequence[str | Path], facility: FacilityConfig | None = None,
                 column_map: str | Path | ColumnMap | None = None, fmt: str = "auto",
                 utc_offset_h: float | None = None) -> History:
    """A history from ``paths`` in format ``fmt`` (:data:`HISTORY_FORMATS`): what ``coolpilot calibrate`` and a
    what-if scenario's ``history`` read. Several files are read as one BMS export (with ``column_map``)."""
    if fmt not in HISTORY_FORMATS:
        raise HistoryError(f"history format {fmt!r} is not one of {', '.join(HISTORY_FORMATS)}")
    files = [Path(p) for p in paths]
    if not files:
        raise HistoryError("no history file given")
    if fmt == "auto":
        fmt = "bms" if column_map is not None else history_format(files[0])
    if fmt == "bms":
        if column_map is None:
            raise HistoryError("a BMS export needs --column-map (in a what-if scenario: history.column_map)")
        return read_bms_export(files, column_map, facility, utc_offset_h)
    if len(files) > 1:
        raise HistoryError(f"give one {fmt} file (got {len(files)}); several files are read as BMS exports")
    if fmt == "simulate":
        return read_simulate_csv(files[0], facility)
    return read_decisions_csv(files[0], facility, utc_offset_h)
