"""IT load: per-zone utilization profiles and CSV traces.

A zone's utilization (0–1) drives its IT power (``coolpilot.envs.physics.air.it_power_kw``). It comes
either from a synthetic profile (level, diurnal and weekly shape, trend, AR(1) noise) or
from a CSV trace a user supplies. Time is seconds since 1 January 00:00 of the weather
year; day 0 is taken as a Monday (TMY years mix calendar years, so weekdays are nominal).
"""

from __future__ import annotations

import csv
import functools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from coolpilot.envs.physics._jit import jit
from coolpilot.envs.units import SECONDS_PER_DAY, SECONDS_PER_HOUR, SECONDS_PER_YEAR


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


class LoadTable(NamedTuple):
    """Synthetic-profile parameters of N facilities' zones as (N, Z) arrays (padding zones: zeros).

    ``synthetic`` is 1 where the zone follows a synthetic profile, 0 for traces and padding.
    """

    synthetic: np.ndarray
    mean: np.ndarray
    diurnal_amplitude: np.ndarray
    peak_hour: np.ndarray
    weekend_drop: np.ndarray
    trend_per_year: np.ndarray
    noise_std: np.ndarray
    noise_tau_s: np.ndarray

    def take(self, idx: np.ndarray) -> LoadTable:
        """Rows ``idx``."""
        return LoadTable(*(a[idx] for a in self))


def load_table(zone_profiles: Sequence[Sequence[LoadProfile]], n_zones: int) -> LoadTable:
    """Stack the zones' profiles of N facilities, padded to ``n_zones``."""
    n = len(zone_profiles)
    arrays = {name: np.zeros((n, n_zones)) for name in LoadTable._fields}
    arrays["noise_tau_s"][:] = SECONDS_PER_HOUR
    for i, profiles in enumerate(zone_profiles):
        for j, prof in enumerate(profiles):
            arrays["synthetic"][i, j] = 1.0 if prof.trace_csv is None else 0.0
            arrays["mean"][i, j] = prof.utilization_mean
            arrays["diurnal_amplitude"][i, j] = prof.diurnal_amplitude
            arrays["peak_hour"][i, j] = prof.peak_hour
            arrays["weekend_drop"][i, j] = prof.weekend_drop
            arrays["trend_per_year"][i, j] = prof.trend_per_year
            arrays["noise_std"][i, j] = prof.noise_std
            arrays["noise_tau_s"][i, j] = prof.noise_tau_h * SECONDS_PER_HOUR
    return LoadTable(**arrays)


def draw_noise(
    table: LoadTable, row: int, rng: np.random.Generator, shocks: np.ndarray, x0: np.ndarray
) -> None:
    """Standard-normal draws for one facility's noisy synthetic zones, written in place.

    For each zone with noise, in zone order: ``n_steps`` shocks into ``shocks[j]`` (Z,
    n_steps), then the initial state into ``x0[j]``; other zones get zeros. The order is
    fixed so that single and vector envs seeded alike draw the same episode.
    """
    for j in range(shocks.shape[0]):
        if table.synthetic[row, j] > 0.0 and table.noise_std[row, j] > 0.0:
            rng.standard_normal(out=shocks[j])
            x0[j] = rng.standard_normal()
        else:
            shocks[j] = 0.0
            x0[j] = 0.0


@jit
def synthetic_utilization_batch(
    start_s: np.ndarray, dt_s: float, n_steps: int, mean: np.ndarray, diurnal_amplitude: np.ndarray,
    peak_hour: np.ndarray, weekend_drop: np.ndarray, trend_per_year: np.ndarray, noise_std: np.ndarray,
    noise_tau_s: np.ndarray, shocks: np.ndarray, x0: np.ndarray,
) -> np.ndarray:
    """Utilization (N, n_steps, Z) of synthetic profiles, clipped to 0..1.

    ``u = mean·(1 + A_d·cos(2π(h − h_peak)/24))·(1 − drop·weekend)·(1 + trend·years) + noise``,
    the noise an AR(1) series of standard deviation ``noise_std`` and correlation time
    ``noise_tau_s`` driven by standard-normal ``shocks`` (N, Z, n_steps) from ``x0`` (N, Z).
    Day 0 is a Monday. Parameters are (N, Z) arrays; ``start_s`` is (N,).
    """
    n, z = mean.shape
    out = np.empty((n, n_steps, z))
    x = np.empty(z)
    phi = np.empty(z)
    shock_scale = np.empty(z)
    cos_peak = np.empty(z)
    sin_peak = np.empty(z)
    for i in range(n):
        for j in range(z):
            phi[j] = np.exp(-dt_s / noise_tau_s[i, j])
            shock_scale[j] = noise_std[i, j] * np.sqrt(1.0 - phi[j] * phi[j])
            x[j] = x0[i, j] * noise_std[i, j]
            cos_peak[j] = np.cos(2.0 * np.pi * peak_hour[i, j] / 24.0)
            sin_peak[j] = np.sin(2.0 * np.pi * peak_hour[i, j] / 24.0)
        for k in range(n_steps):
            t = start_s[i] + dt_s * k
            angle = 2.0 * np.pi * (t % SECONDS_PER_DAY) / SECONDS_PER_DAY
            cos_h, sin_h = np.cos(angle), np.sin(angle)  # cos(h − peak) = cos h·cos peak + sin h·sin peak
            weekend = 1.0 if (np.floor(t / SECONDS_PER_DAY) % 7) >= 5 else 0.0
            years = (dt_s * k) / SECONDS_PER_YEAR
            for j in range(z):
                shape = 1.0 + diurnal_amplitude[i, j] * (cos_h * cos_peak[j] + sin_h * sin_peak[j])
                shape *= 1.0 - weekend_drop[i, j] * weekend
                shape *= 1.0 + trend_per_year[i, j] * years
                x[j] = phi[j] * x[j] + shocks[i, j, k] * shock_scale[j]
                u = mean[i, j] * shape + x[j]
                out[i, k, j] = min(max(u, 0.0), 1.0)
    return out


def synthetic_utilization(
    profile: LoadProfile, start_s: float, dt_s: float, n_steps: int, rng: np.random.Generator
) -> np.ndarray:
    """Utilization (n_steps,) of one synthetic profile (see :func:`synthetic_utilization_batch`)."""
    table = load_table([[profile.model_copy(update={"trace_csv": None})]], 1)
    shocks, x0 = np.empty((1, n_steps)), np.empty(1)
    draw_noise(table, 0, rng, shocks, x0)
    return synthetic_utilization_batch(
        np.array([start_s]), dt_s, n_steps, *table[1:], shocks[None], x0[None]
    )[0, :, 0]


@functools.lru_cache(maxsize=64)
def load_trace(path: str) -> LoadTrace:
    """A trace read once per path (traces are immutable inputs)."""
    return LoadTrace(path)


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
