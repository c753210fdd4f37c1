"""Goodness of fit of a twin against measured series: ASHRAE Guideline 14 statistics, RMSE in kelvin.

ASHRAE Guideline 14-2014 (PHYSICS.md section 12) calls a whole-building model calibrated at

- hourly data: CV(RMSE) ≤ 30 % and |NMBE| ≤ 10 %;
- monthly data: CV(RMSE) ≤ 15 % and |NMBE| ≤ 5 %;

with ``CV(RMSE) = √(Σ(y − ŷ)²/(n − p)) / ȳ`` and ``NMBE = Σ(y − ŷ) / ((n − p)·ȳ)``, ``y``
measured, ``ŷ`` predicted, ``n`` periods and ``p`` the number of fitted parameters. The
thresholds are made for energy use (a power's period mean), so they are judged here for power
quantities only; temperatures are judged by their RMSE and mean bias in kelvin (a CV of a
temperature in °C depends on where its zero is). Where ``n ≤ p`` (a held-out week has one
month) the statistic is undefined and reported as such, never computed with another denominator.

Periods are the local-standard-time hours and calendar months of the history's clock; a period
counts when at least :data:`MIN_COVERAGE` of its steps were both measured and predicted, and
its measured and predicted means are taken over those same steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from coolpilot.envs.calibration.targets import is_power, is_temperature, unit_of
from coolpilot.envs.units import SECONDS_PER_HOUR

MIN_COVERAGE = 0.75
"""Share of a period's steps that must be measured (and predicted) for the period to count."""


@dataclass(frozen=True)
class Thresholds:
    """Guideline 14 limits for one period length (%)."""

    cv_rmse_pct: float
    nmbe_pct: float


G14_HOURLY = Thresholds(30.0, 10.0)
"""ASHRAE Guideline 14-2014, hourly calibration criteria."""
G14_MONTHLY = Thresholds(15.0, 5.0)
"""ASHRAE Guideline 14-2014, monthly calibration criteria."""


def period_means(values: np.ndarray, predicted: np.ndarray, period: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Means of measured and predicted per period over steps where both exist; periods below coverage dropped.

    ``period`` (T,) is each step's period label (integers, non-decreasing). Returns (labels, measured, predicted).
    """
    both = np.isfinite(values) & np.isfinite(predicted)
    labels, index, size = np.unique(period, return_inverse=True, return_counts=True)
    count = np.bincount(index, weights=both.astype(np.float64), minlength=len(labels))
    sum_m = np.bincount(index, weights=np.where(both, values, 0.0), minlength=len(labels))
    sum_p = np.bincount(index, weights=np.where(both, predicted, 0.0), minlength=len(labels))
    keep = (count >= MIN_COVERAGE * size) & (count > 0)
    return labels[keep], sum_m[keep] / count[keep], sum_p[keep] / count[keep]


def cv_rmse_pct(measured: np.ndarray, predicted: np.ndarray, n_params: int) -> float | None:
    """CV(RMSE) in % with the (n − p) denominator; None where n ≤ p or the mean is 0."""
    n = measured.shape[0]
    mean = float(measured.mean()) if n else 0.0
    if n <= n_params or mean == 0.0:
        return None
    return 100.0 * math.sqrt(float(((measured - predicted) ** 2).sum()) / (n - n_params)) / mean


def nmbe_pct(measured: np.ndarray, predicted: np.ndarray, n_params: int) -> float | None:
    """NMBE in % (measured minus predicted) with the (n − p) denominator; None where n ≤ p or the mean is 0."""
    n = measured.shape[0]
    mean = float(measured.mean()) if n else 0.0
    if n <= n_params or mean == 0.0:
        return None
    return 100.0 * float((measured - predicted).sum()) / ((n - n_params) * mean)


def _passes(cv: float | None, nmbe: float | None, limits: Thresholds) -> bool | None:
    if cv is None or nmbe is None:
        return None
    return cv <= limits.cv_rmse_pct and abs(nmbe) <= limits.nmbe_pct


@dataclass(frozen=True)
class PointFit:
    """How well a twin predicts one quantity over a period: Guideline 14 statistics and errors in its unit.

    ``rmse`` and ``bias`` (predicted minus measured, mean) are in the quantity's unit (K for
    temperatures) on hourly means; ``rmse_step`` on the control steps themselves.
    """

    name: str
    unit: str
    n_hours: int
    n_months: int
    cv_rmse_hourly_pct: float | None
    nmbe_hourly_pct: float | None
    cv_rmse_monthly_pct: float | None
    nmbe_monthly_pct: float | None
    rmse: float | None
    bias: float | None
    rmse_step: float | None
    mean_measured: float | None

    @property
    def judged_by_g14(self) -> bool:
        """Guideline 14 judges energy: powers only."""
        return is_power(self.unit)

    @property
    def g14_hourly_pass(self) -> bool | None:
        """Within the hourly limits (None: not a power, or undefined)."""
        return _passes(self.cv_rmse_hourly_pct, self.nmbe_hourly_pct, G14_HOURLY) if self.judged_by_g14 else None

    @property
    def g14_monthly_pass(self) -> bool | None:
        """Within the monthly limits (None: not a power, or undefined with n ≤ p months)."""
        return _passes(self.cv_rmse_monthly_pct, self.nmbe_monthly_pct, G14_MONTHLY) if self.judged_by_g14 else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with the pass/fail verdicts."""
        return {
            "name": self.name, "unit": self.unit, "n_hours": self.n_hours, "n_months": self.n_months,
            "cv_rmse_hourly_pct": self.cv_rmse_hourly_pct, "nmbe_hourly_pct": self.nmbe_hourly_pct,
            "cv_rmse_monthly_pct": self.cv_rmse_monthly_pct, "nmbe_monthly_pct": self.nmbe_monthly_pct,
            "rmse": self.rmse, "bias": self.bias, "rmse_step": self.rmse_step, "mean_measured": self.mean_measured,
            "temperature": is_temperature(self.unit), "g14_hourly_pass": self.g14_hourly_pass,
            "g14_monthly_pass": self.g14_monthly_pass,
        }


def hour_labels(time_s: np.ndarray) -> np.ndarray:
    """Each step's hour (integer hours since 1 January 00:00; a step ending on the hour belongs to the hour before)."""
    return np.floor((time_s - 1e-6) / SECONDS_PER_HOUR).astype(np.int64)


def month_labels(time_s: np.ndarray, year: int) -> np.ndarray:
    """Each step's calendar month (months since January of ``year``), local standard time."""
    stamps = np.datetime64(f"{year:04d}-01-01T00:00:00", "s") + (time_s - 1e-6).astype("timedelta64[s]")
    months = stamps.astype("datetime64[M]").astype(np.int64)
    return months - (year - 1970) * 12


def point_fit(name: str, measured: np.ndarray, predicted: np.ndarray, time_s: np.ndarray, year: int,
              n_params: int) -> PointFit:
    """Statistics of ``predicted`` against ``measured`` (T,) (NaN: not measured or not scored)."""
    unit = unit_of(name)
    both = np.isfinite(measured) & np.isfinite(predicted)
    _, hm, hp = period_means(measured, predicted, hour_labels(time_s))
    _, mm, mp = period_means(measured, predicted, month_labels(time_s, year))
    err = hp - hm
    step_err = (predicted - measured)[both]
    return PointFit(
        name=name, unit=unit, n_hours=int(hm.shape[0]), n_months=int(mm.shape[0]),
        cv_rmse_hourly_pct=cv_rmse_pct(hm, hp, n_params), nmbe_hourly_pct=nmbe_pct(hm, hp, n_params),
        cv_rmse_monthly_pct=cv_rmse_pct(mm, mp, n_params), nmbe_monthly_pct=nmbe_pct(mm, mp, n_params),
        rmse=float(np.sqrt(np.mean(err**2))) if err.size else None,
        bias=float(err.mean()) if err.size else None,
        rmse_step=float(np.sqrt(np.mean(step_err**2))) if step_err.size else None,
        mean_measured=float(hm.mean()) if hm.size else None,
    )
