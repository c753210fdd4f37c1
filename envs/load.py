"""IT load: per-zone utilization profiles and CSV traces.

A zone's utilization (0–1) drives its IT power (``envs.physics.air.it_power_kw``). It comes
either from a synthetic profile (level, diurnal and weekly shape, trend, AR(1) noise) or
from a CSV trace a user supplies. Time is seconds since 1 January 00:00 of the weather
year; day 0 is taken as a Monday (TMY years mix calendar years, so weekdays are nominal).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from envs.physics._jit import jit
from envs.units import SECONDS_PER_DAY, SECONDS_PER_HOUR, SECONDS_PER_YEAR


class LoadTraceError(ValueError):
    """A load trace CSV is invalid; the message names the file, line, column and range."""


class LoadProfile(BaseModel):
    """Synthetic utilization profile of one zone (all fractions of full utilization)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    utilization_mean: float = Field(0.6, ge=0.0, le=1.0, description="Mean utilization.",
                                    json_schema_extra={"unit": "1"})
    diurnal_amplitude: float = Field(0.08, ge=0.0, le=0.5, description="Relative daily swing.",
                                     json_schema_extra={"unit": "1"})
    peak_hour: float = Field(15.0, ge=0.0, lt=24.0, description="Hour of the daily peak.",
                             json_schema_extra={"unit": "h"})
    weekend_drop: float = Field(0.05, ge=0.0, le=0.5, description="Relative drop on Saturdays and Sundays.",
                                json_schema_extra={"unit": "1"})
    trend_per_year: float = Field(0.0, ge=-0.5, le=2.0, description="Relative growth per year.",
                                  json_schema_extra={"unit": "1/yr"})
    noise_std: float = Field(0.02, ge=0.0, le=0.3, description="Std of the AR(1) noise (absolute).",
                             json_schema_extra={"unit": "1"})
    noise_tau_h: float = Field(1.0, gt=0.0, le=48.0, description="Correlation time of the noise.",
                               json_schema_extra={"unit": "h"})
    trace_csv: str | None = Field(None, description="CSV trace replacing the synthetic shape "
                                                    "(path relative to the facility file or absolute).")
    trace_column: str | None = Field(None, description="Column of the trace: '<name>_frac' (0–1) or "
                                                       "'<name>_kw' (divided by the zone's design IT power).")


def synthetic_utilization(
    profile: LoadProfile, start_s: float, dt_s: float, n_steps: int, rng: np.random.Generator
) -> np.ndarray:
    """Utilization (n_steps,) from a synthetic profile, clipped to 0..1.

    ``u = mean·(1 + A_d·cos(2π(h − h_peak)/24))·(1 − drop·weekend)·(1 + trend·years) + noise``
    with AR(1) noise of correlation time ``noise_tau_h`` drawn from ``rng``.
    """
    t = start_s + dt_s * np.arange(n_steps)
    hour = (t % SECONDS_PER_DAY) / SECONDS_PER_HOUR
    weekday = (t // SECONDS_PER_DAY).astype(np.int64) % 7
    shape = 1.0 + profile.diurnal_amplitude * np.cos(2.0 * math.pi * (hour - profile.peak_hour) / 24.0)
    shape *= 1.0 - profile.weekend_drop * (weekday >= 5)
    shape *= 1.0 + profile.trend_per_year * (t - start_s) / SECONDS_PER_YEAR
    u = profile.utilization_mean * shape
    if profile.noise_std > 0.0:
        u = u + ar1_noise(n_steps, profile.noise_std, profile.noise_tau_h * SECONDS_PER_HOUR, dt_s, rng)
    return np.clip(u, 0.0, 1.0)


def ar1_noise(n: int, std: float, tau_s: float, dt_s: float, rng: np.random.Generator) -> np.ndarray:
    """Stationary AR(1) series with standard deviation ``std`` and correlation time ``tau_s``."""
    phi = math.exp(-dt_s / tau_s)
    shocks = rng.standard_normal(n) * std * math.sqrt(1.0 - phi * phi)
    return _ar1_filter(phi, rng.standard_normal() * std, shocks)


@jit
def _ar1_filter(phi: float, x0: float, shocks: np.ndarray) -> np.ndarray:
    """``x[i] = phi·x[i−1] + shocks[i]`` from ``x[−1] = x0`` (compiled: a Python loop is slow)."""
    out = np.empty(shocks.shape[0])
    x = x0
    for i in range(shocks.shape[0]):
        x = phi * x + shocks[i]
        out[i] = x
    return out


class LoadTrace:
    """A CSV trace of utilization or IT power, interpolated linearly and repeated cyclically.

    Format: a header row; the first column is ``hour`` (hours since 1 January 00:00) or
    ``timestamp`` (ISO 8601, measured from the first row's 1 January 00:00); further
    columns are ``<name>_frac`` (0–1) or ``<name>_kw`` (kW, at most 5x the design power).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.hours, self.columns = _read_trace(self.path)

    def utilization(self, column: str, design_kw: float, start_s: float, dt_s: float, n_steps: int) -> np.ndarray:
        """Utilization (n_steps,) of ``column``, kW columns divided by ``design_kw``, clipped 0..1."""
        if column not in self.columns:
            raise LoadTraceError(
                f"{self.path}: column {column!r} not found; columns are {sorted(self.columns)}"
            )
        values = self.columns[column]
        if column.endswith("_kw"):
            values = values / design_kw
        t_h = (start_s + dt_s * np.arange(n_steps)) / SECONDS_PER_HOUR
        span = self.hours[-1] - self.hours[0]
        t_rel = self.hours[0] + np.mod(t_h - self.hours[0], span) if span > 0 else t_h
        return np.clip(np.interp(t_rel, self.hours, values), 0.0, 1.0)


def _read_trace(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    if not path.is_file():
        raise LoadTraceError(f"{path}: load trace not found")
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise LoadTraceError(f"{path}: empty file; expected a header row")
    header = [h.strip() for h in rows[0]]
    if len(header) < 2 or header[0] not in ("hour", "timestamp"):
        raise LoadTraceError(
            f"{path} line 1: the first column must be 'hour' or 'timestamp', then at least one "
            f"'<name>_frac' or '<name>_kw' column; got {header}"
        )
    for name in header[1:]:
        if not (name.endswith("_frac") or name.endswith("_kw")):
            raise LoadTraceError(f"{path} line 1: column {name!r} must end in '_frac' (0–1) or '_kw' (kW)")
    data = rows[1:]
    if len(data) < 2:
        raise LoadTraceError(f"{path}: at least two data rows are needed, found {len(data)}")
    times = np.empty(len(data))
    values = np.empty((len(data), len(header) - 1))
    origin: np.datetime64 | None = None
    for i, row in enumerate(data):
        line = i + 2
        if len(row) != len(header):
            raise LoadTraceError(f"{path} line {line}: {len(row)} fields, the header has {len(header)}")
        if header[0] == "hour":
            times[i] = _number(path, line, "hour", row[0], "h")
        else:
            try:
                stamp = np.datetime64(row[0].strip(), "s")
            except ValueError:
                raise LoadTraceError(f"{path} line {line}: column 'timestamp' = {row[0]!r} is not ISO 8601") from None
            if origin is None:
                origin = np.datetime64(str(stamp.astype("datetime64[Y]")) + "-01-01T00:00:00", "s")
            times[i] = (stamp - origin).astype(np.int64) / SECONDS_PER_HOUR
        for j, name in enumerate(header[1:]):
            unit = "1" if name.endswith("_frac") else "kW"
            v = _number(path, line, name, row[j + 1], unit)
            high = 1.0 if unit == "1" else math.inf
            if not 0.0 <= v <= high:
                raise LoadTraceError(
                    f"{path} line {line}: column {name!r} = {v:g} {unit} is outside the allowed range "
                    f"0..{'1' if unit == '1' else '∞'} {unit}"
                )
            values[i, j] = v
    if np.any(np.diff(times) <= 0.0):
        bad = int(np.argmax(np.diff(times) <= 0.0)) + 3
        raise LoadTraceError(f"{path} line {bad}: time does not increase (column {header[0]!r})")
    return times, {name: values[:, j] for j, name in enumerate(header[1:])}


def _number(path: Path, line: int, column: str, text: str, unit: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise LoadTraceError(f"{path} line {line}: column {column!r} = {text!r} is not a number ({unit})") from None
    if not math.isfinite(v):
        raise LoadTraceError(f"{path} line {line}: column {column!r} = {text!r} is not finite ({unit})")
    return v
