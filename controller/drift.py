"""The drift monitor: the site's calibrated twin run beside the plant, one step ahead, every control cycle.

Each cycle the service hands the monitor the points it just read and the setpoints in force
(written in active mode; otherwise the plant's own, read back from their feedback points); the
twin (:class:`coolpilot.envs.calibration.twin.CalibratedTwin`, the calibrated facility replayed one
step at a time) predicts the points of the next read. At the next cycle each watched point's
prediction is paired with what the plant reports, and over the last ``window_cycles`` pairs the
monitor keeps, per point, the statistics of ASHRAE Guideline 14 (PHYSICS.md section 12;
:mod:`coolpilot.envs.calibration.metrics`, with no fitted parameters):

- ``CV(RMSE) = √(Σ(y − ŷ)²/n) / ȳ`` and ``NMBE = Σ(y − ŷ) / (n·ȳ)``, in %, ``y`` measured, ``ŷ`` predicted.

Predictions made while the twin settles after a (re)start (``burn_in_cycles``: its zone, server
and loop states start from a warm-up at the first reading, not from the plant's) are not compared.
A point whose CV(RMSE) or |NMBE| passes its threshold (once ``min_cycles`` pairs are in) is in
*drift*: one drift event is recorded per episode, and the episode ends when both figures are back
under ``clear_frac`` of their thresholds (hysteresis, so a point hovering at its threshold does
not record an event per cycle). With ``on_drift: fallback`` the service then falls back, through
the path an operator's mode change takes: the policy was trained on a twin that no longer
describes the plant.

Watched by default (:data:`DEFAULT_POINTS`): the hottest inlet, the chilled-water supply, non-IT
power (facility minus IT: :data:`~coolpilot.envs.calibration.targets.NON_IT_POWER`) and cooling power.
A chiller's own power is not a contract point (no BMS map reads it); cooling power (chillers,
towers, pumps and CRAH fans, PHYSICS.md) carries the chillers' COP, the usual thing to degrade.

Defaults of the thresholds come from the one-step errors of a healthy plant against its own
facility (``benchmarks/bench_drift.py``, ``benchmarks/results/drift.json``): a calibrated twin
is never perfect, so a site sets them a margin above the one-step errors its own calibration
report shows. Temperatures are judged in % of their mean in °C, as the site file asks; at a
22 °C inlet 1 % is about 0.22 K.

The prediction never stops the control cycle: the twin's kernels are compiled when the monitor
is made (before the first cycle), and a twin error is logged, counted and recorded, the pair of
that cycle dropped and the twin restarted.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from coolpilot.controller.protocols.contract_maps import context_contract
from coolpilot.envs.calibration.metrics import cv_rmse_pct, nmbe_pct
from coolpilot.envs.calibration.targets import CLOCK_POINTS, NON_IT_POWER, WEATHER_POINTS
from coolpilot.envs.config import FacilityConfig
from coolpilot.envs.contract import SETPOINT_SPECS

log = logging.getLogger(__name__)

NOT_WATCHED = (*WEATHER_POINTS, *CLOCK_POINTS, "it_power_kw", "it_load_frac")
"""Points the twin takes as inputs (weather, clock, IT power held over the step): predicting them tests nothing."""

TWIN_INPUTS = ("outdoor_drybulb_c", "it_power_kw")
"""Points the twin needs every cycle (and the outdoor wet bulb or relative humidity)."""

OFF_PERIOD_TOLERANCE = 0.5
"""A prediction is compared only with the read one period later, give or take this share of the period."""


class PointThresholds(BaseModel):
    """When a watched point is in drift: its rolling CV(RMSE) or |NMBE| above these (%)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cv_rmse_pct: float = Field(gt=0.0, le=100.0, json_schema_extra={"unit": "%"},
                               description="Rolling CV(RMSE) of the one-step prediction above which the point drifts.")
    nmbe_pct: float = Field(gt=0.0, le=100.0, json_schema_extra={"unit": "%"},
                            description="Rolling |NMBE| of the one-step prediction above which the point drifts.")


DEFAULT_POINTS: dict[str, PointThresholds] = {
    "inlet_temp_max_c": PointThresholds(cv_rmse_pct=4.0, nmbe_pct=3.0),
    "chw_supply_temp_c": PointThresholds(cv_rmse_pct=3.0, nmbe_pct=2.0),
    NON_IT_POWER: PointThresholds(cv_rmse_pct=6.0, nmbe_pct=4.0),
    "cooling_power_kw": PointThresholds(cv_rmse_pct=8.0, nmbe_pct=5.0),
}
"""Points watched by default and their thresholds (%). A healthy plant against its own facility (six simulated weeks,
``benchmarks/results/drift.json``) peaks at rolling CV(RMSE) / |NMBE| of 2.3 / 2.2 % (hottest inlet), 3.1 / 1.1 %
(non-IT power) and 4.1 / 1.4 % (cooling power); a 20 % chiller COP loss puts non-IT power at about 13 / 13 %.
Chilled-water supply reads 0 while the chillers hold their setpoint (the twin is told it); it drifts when they
cannot (lost capacity)."""


class DriftSettings(BaseModel):
    """The site file's ``drift`` section: the calibrated twin run beside the plant, and when it says drift."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    facility: str | None = Field(
        None, min_length=1,
        description="The calibrated facility YAML the twin is built from (coolpilot calibrate --out), relative to "
                    "the site file, or a preset; default the site's facility. Its contract must be the site's.")
    window_cycles: int = Field(24, ge=4, le=100_000, json_schema_extra={"unit": "cycles"},
                               description="Cycles of the rolling window the statistics are taken over.")
    min_cycles: int = Field(12, ge=2, le=100_000, json_schema_extra={"unit": "cycles"},
                            description="Pairs of prediction and reading a point needs before it is judged.")
    burn_in_cycles: int = Field(
        6, ge=0, le=10_000, json_schema_extra={"unit": "cycles"},
        description="Predictions after the twin (re)starts that are not compared: its unmeasured state (zone air and "
                    "server mass, loop and tower temperatures, staging) converges to the plant's meanwhile.")
    clear_frac: float = Field(0.8, gt=0.0, lt=1.0, json_schema_extra={"unit": "1"},
                              description="A drift episode ends when both figures are under this share of their "
                                          "thresholds.")
    on_drift: Literal["record", "fallback"] = Field(
        "record", description="record: audit the event; fallback: also switch an active service to fallback mode "
                              "(as an operator would), with the event as the reason.")
    points: dict[str, PointThresholds] = Field(
        default_factory=lambda: dict(DEFAULT_POINTS),
        description="Watched points (contract points, or non_it_power_kw = facility minus IT power) and their "
                    "thresholds; default the hottest inlet, chilled-water supply, non-IT and cooling power.")

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> DriftSettings:
        problems = []
        if self.min_cycles > self.window_cycles:
            problems.append(f"min_cycles = {self.min_cycles} exceeds window_cycles = {self.window_cycles} (a point "
                            "could never be judged)")
        if not self.points:
            problems.append("points is empty: watch at least one point")
        contract = context_contract(info)
        known = contract.point_names if contract is not None else None
        for name in self.points:
            if name in NOT_WATCHED:
                problems.append(f"points.{name}: an input of the twin (weather, clock or IT power), not predicted; "
                                f"watch a point the plant's equipment produces")
            elif name != NON_IT_POWER and known is not None and name not in known:
                problems.append(f"points.{name}: not a point of the site's facility contract (its points: "
                                f"{', '.join(n for n in known if n not in NOT_WATCHED)}, or {NON_IT_POWER})")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def needed_points(self) -> tuple[str, ...]:
        """The points the site must read for the monitor: the twin's inputs and the watched points."""
        watched = [n for n in self.points if n != NON_IT_POWER]
        if NON_IT_POWER in self.points:
            watched += ["facility_power_kw", "it_power_kw"]
        return tuple(dict.fromkeys((*TWIN_INPUTS, *watched)))


PointState = Literal["ok", "warming_up", "drift"]


@dataclass(frozen=True)
class PointDrift:
    """One watched point's rolling one-step prediction error."""

    name: str
    cv_rmse_pct: float | None
    """Rolling CV(RMSE) (%); None before two pairs or with a zero mean."""
    nmbe_pct: float | None
    """Rolling NMBE, measured minus predicted (%)."""
    n: int
    """Pairs in the window."""
    threshold: PointThresholds
    state: PointState


@dataclass(frozen=True)
class DriftStatus:
    """What the monitor shows: per point, its figures and state; counts of events and twin errors."""

    points: tuple[PointDrift, ...]
    window_cycles: int
    min_cycles: int
    on_drift: str
    facility: str
    events_total: int
    twin_errors: int
    last_twin_error: str

    @property
    def drifting(self) -> tuple[str, ...]:
        """Points in drift now."""
        return tuple(p.name for p in self.points if p.state == "drift")


@dataclass(frozen=True)
class DriftEvent:
    """A drift episode starting (``kind="drift"``) or ending (``"cleared"``) on one point."""

    kind: Literal["drift", "cleared"]
    point: PointDrift
    detail: str
    """For the audit trail: the figures, their thresholds and the window."""

    @property
    def reason(self) -> str:
        """The one-line reason of a fallback: ``drift: <point> CV(RMSE) x % > y %`` (or |NMBE|)."""
        p, t = self.point, self.point.threshold
        if p.cv_rmse_pct is not None and p.cv_rmse_pct > t.cv_rmse_pct:
            return f"drift: {p.name} CV(RMSE) {p.cv_rmse_pct:.1f} % > {t.cv_rmse_pct:g} %"
        nmbe = p.nmbe_pct if p.nmbe_pct is not None else math.nan
        return f"drift: {p.name} |NMBE| {abs(nmbe):.1f} % > {t.nmbe_pct:g} %"


def _finite(values: Mapping[str, object], name: str) -> float | None:
    v = values.get(name)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(float(v)):
        return None
    return float(v)


def _value(values: Mapping[str, object], name: str) -> float | None:
    """A watched quantity from a reading or a prediction (non-IT power derived)."""
    if name == NON_IT_POWER:
        facility, it = _finite(values, "facility_power_kw"), _finite(values, "it_power_kw")
        return None if facility is None or it is None else facility - it
    return _finite(values, name)


def held_setpoints(points: Mapping[str, object], written: Mapping[str, float] | None,
                   setpoints: tuple[str, ...]) -> dict[str, float]:
    """The setpoints in force over the next step: ``written`` where given, else what the plant reports it holds
    (each setpoint's feedback point); a setpoint with neither is left to the twin's own sequence."""
    out: dict[str, float] = {}
    for name in setpoints:
        value = None if written is None else written.get(name)
        if value is None or not math.isfinite(value):
            value = _finite(points, SETPOINT_SPECS[name].measured_by) if SETPOINT_SPECS[name].measured_by else None
        if value is not None:
            spec = SETPOINT_SPECS[name]
            out[name] = min(max(value, spec.low), spec.high)
    return out


class DriftMonitor:
    """Rolling one-step prediction errors of the calibrated twin against the plant (module docstring).

    ``dt_s`` is the plant time one cycle stands for (the site's ``rate_period_s`` or ``period_s``).
    Making the monitor compiles the twin's kernels (seconds, once per machine with numba's cache).
    """

    def __init__(self, settings: DriftSettings, facility: FacilityConfig, dt_s: float) -> None:
        from coolpilot.envs.calibration.twin import CalibratedTwin  # the simulator, only for a site watching drift

        self.settings = settings
        self.facility = facility
        self.twin = CalibratedTwin(facility, dt_s)
        self.dt_s = dt_s
        self._pairs: dict[str, deque[tuple[float, float]]] = {
            n: deque(maxlen=settings.window_cycles) for n in settings.points}
        self._drifting: set[str] = set()
        self._pending: dict[str, float] | None = None
        self._pending_s = math.nan
        self._since_reset = 0
        """Predictions made since the twin last (re)started."""
        self.events_total = 0
        self.twin_errors = 0
        self.last_twin_error = ""
        self._warm_up()

    def _warm_up(self) -> None:
        """One prediction at the facility's design point, so the kernels compile now and not in a cycle."""
        points = {"outdoor_drybulb_c": 20.0, "outdoor_wetbulb_c": 14.0, "it_power_kw": 0.5 * self.facility.it_design_kw}
        self.twin.predict_next(points, {}, 0.0)
        self.twin.reset()

    def observe(self, points: Mapping[str, object], now_s: float, period_s: float) -> list[DriftEvent]:
        """Pair the last prediction with this reading (unix time ``now_s``), update the windows, judge.

        A prediction made more than :data:`OFF_PERIOD_TOLERANCE` of a period away from one period
        before ``now_s`` (a missed cycle) is dropped, and the twin restarts from this reading.
        Returns the episodes that start or end with this reading.
        """
        pending, self._pending = self._pending, None
        if pending is None:
            return []
        if abs(now_s - self._pending_s - period_s) > OFF_PERIOD_TOLERANCE * period_s:
            self._reset()
            return []
        if self._since_reset <= self.settings.burn_in_cycles:
            return []
        for name, pairs in self._pairs.items():
            measured, predicted = _value(points, name), _value(pending, name)
            if measured is not None and predicted is not None:
                pairs.append((measured, predicted))
        return self._judge()

    def predict(self, points: Mapping[str, object], setpoints: Mapping[str, float], now_s: float,
                local_time_s: float) -> str:
        """Predict the next reading from this one and the setpoints in force; returns a twin error ("" if none).

        ``local_time_s`` is the plant's local standard time (s since 1 January), ``now_s`` the unix
        time the prediction is made at.
        """
        finite = {n: v for n in points if (v := _finite(points, n)) is not None}
        try:
            self._pending = self.twin.predict_next(finite, setpoints, local_time_s)
        except Exception as err:  # a twin that cannot predict costs its cycle's pair, never the cycle
            self.twin_errors += 1
            self.last_twin_error = f"{type(err).__name__}: {err}"
            log.warning("drift monitor: twin error (%d so far): %s", self.twin_errors, self.last_twin_error)
            self._reset()
            return self.last_twin_error
        self._pending_s = now_s
        self._since_reset += 1
        return ""

    def forget_prediction(self) -> None:
        """Drop the pending prediction (a cycle that read nothing or is off): the next reading starts afresh."""
        self._reset()

    def _reset(self) -> None:
        self._pending = None
        self._since_reset = 0
        self.twin.reset()

    def _point(self, name: str) -> PointDrift:
        pairs = self._pairs[name]
        threshold = self.settings.points[name]
        n = len(pairs)
        cv = nmbe = None
        if n >= 2:
            arr = np.array(pairs)
            cv, nmbe = cv_rmse_pct(arr[:, 0], arr[:, 1], 0), nmbe_pct(arr[:, 0], arr[:, 1], 0)
        if n < self.settings.min_cycles or cv is None or nmbe is None:
            state: PointState = "warming_up"
        elif name in self._drifting:
            clear = self.settings.clear_frac
            back = cv <= clear * threshold.cv_rmse_pct and abs(nmbe) <= clear * threshold.nmbe_pct
            state = "ok" if back else "drift"
        else:
            state = "drift" if cv > threshold.cv_rmse_pct or abs(nmbe) > threshold.nmbe_pct else "ok"
        return PointDrift(name, cv, nmbe, n, threshold, state)

    def _judge(self) -> list[DriftEvent]:
        events = []
        for name in self._pairs:
            p = self._point(name)
            t = p.threshold
            figures = (f"CV(RMSE) {_pct(p.cv_rmse_pct)} (threshold {t.cv_rmse_pct:g} %), NMBE {_pct(p.nmbe_pct)} "
                       f"(threshold ±{t.nmbe_pct:g} %) over the last {p.n} cycles")
            if p.state == "drift" and name not in self._drifting:
                self._drifting.add(name)
                self.events_total += 1
                events.append(DriftEvent("drift", p, f"{name}: the calibrated twin's one-step prediction drifts: "
                                                     f"{figures}"))
            elif p.state == "ok" and name in self._drifting:
                self._drifting.discard(name)
                events.append(DriftEvent("cleared", p, f"{name}: back under {self.settings.clear_frac:g} of the "
                                                       f"thresholds: {figures}"))
        for e in events:
            log.log(logging.WARNING if e.kind == "drift" else logging.INFO, "drift monitor: %s", e.detail)
        return events

    def status(self) -> DriftStatus:
        """The monitor's state now (immutable)."""
        return DriftStatus(tuple(self._point(n) for n in self._pairs), self.settings.window_cycles,
                           self.settings.min_cycles, self.settings.on_drift, self.facility.name, self.events_total,
                           self.twin_errors, self.last_twin_error)


def _pct(x: float | None) -> str:
    return "undefined" if x is None else f"{x:.2f} %"
