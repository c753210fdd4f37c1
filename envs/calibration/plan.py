"""Excitation plans: step tests on setpoints that give the data a history could not, run safely.

History under steady control rarely excites what a calibration needs (Lazic et al., NeurIPS 2018:
three hours of deliberate excitation identified a better model than weeks of PID-controlled
history). :func:`make_plan` writes, for the parameters a calibration reported as not
identifiable, the step tests that move them into view:

================================  =======================================  ===============================
parameters                        step test                                why it shows them
================================  =======================================  ===============================
coil approach                     supply air lowered toward chilled water  the coil limit binds: supply air
                                  (or chilled water raised toward the      stays above its setpoint by
                                  supply air) in steps                     chilled water + approach − SAT
recirculation, airflow margin,    CRAH fan speed stepped down              airflow near the servers' demand
CRAH fan power                                                             separates recirculation from
                                                                           margin; fan power moves as n³
zone thermal mass, server fan     supply air stepped down, then up         the inlets' time constant; inlets
slope                             toward the server fans' knee             above the knee show the fans
loop thermal mass, chiller COP    chilled water stepped down and up        the loop's time constant; lift
and capacity                                                               changes the EIR curves' point
tower approach and fan power      condenser water set to its lowest        the towers at full fan show
                                                                           their approach
chiller capacity                  stage-up part-load ratio stepped         the same load on more or fewer
                                                                           chillers
pump power                        DP setpoint / condenser flow stepped     pump power along its curve
================================  =======================================  ===============================

Envelope conductance and the UPS loss coefficients follow the weather and the IT load, which no
setpoint moves: the plan says so and what would inform them (a longer history, a UPS loss meter).

Every level lies inside the contract's bounds and the site's safety limits; each move takes the
time the slower of the contract's slew rate and the site's rate limit allows; tests run in the
night hours with the largest inlet margin in the history, each starting only while the hottest
inlet is at least :data:`START_MARGIN_K` below the guard, and abort (back to the baseline
setpoints) when the hottest inlet reaches the guard or a test's own stop rule fires. The
plan is data (YAML), so the controller service can run it as a policy
(:meth:`ExcitationPlan.setpoints_at`) with every step still through its safety envelope.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from coolpilot.envs.calibration.history import History, HistoryError
from coolpilot.envs.calibration.targets import INPUT_POINTS, METERS, unit_of
from coolpilot.envs.calibration.twin import ReplayInputs, replay, replay_inputs
from coolpilot.envs.config import FacilityConfig
from coolpilot.envs.contract import LEVERS, SETPOINT_SPECS
from coolpilot.envs.facility import ALL_POINTS, build_params
from coolpilot.envs.jsonsafe import json_safe
from coolpilot.envs.units import SECONDS_PER_DAY, SECONDS_PER_HOUR, SECONDS_PER_MINUTE

PLAN_VERSION = 1
"""Version of the plan file's layout."""
DEFAULT_GUARD_C = 26.0
"""Hottest inlet at which a test aborts (°C): the safety envelope's default thermal guard."""
START_MARGIN_K = 2.0
"""A test starts only while the hottest inlet is at least this far below the guard (K)."""
HOLD_MIN = 30.0
"""Time each level is held (min): several time constants of the zones and the chilled-water loop."""
SETTLE_MIN = 30.0
"""Time at the baseline after a test before the next one starts (min)."""
WINDOW_H = 5.0
"""Length of the nightly window tests are packed into (h)."""
COIL_STOP_RISE_K = 1.0
"""The coil test stops climbing once supply air is this far above its setpoint (K): the limit is found."""


@dataclass(frozen=True)
class StopRule:
    """Stop a test (back to its baseline) when ``point`` exceeds the baseline of ``setpoint`` by ``above_k``,
    or exceeds ``above_c`` (°C)."""

    point: str
    above_k: float | None = None
    setpoint: str | None = None
    above_c: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """YAML-ready."""
        return {k: float(v) if isinstance(v, float) else v
                for k, v in (("point", self.point), ("above_k", self.above_k), ("setpoint", self.setpoint),
                             ("above_c", self.above_c)) if v is not None}


@dataclass(frozen=True)
class StepTest:
    """Step one setpoint through ``levels`` (each held ``hold_min``), then back to its baseline."""

    name: str
    setpoint: str
    unit: str
    levels: tuple[float, ...]
    hold_min: float
    rate_per_min: float
    parameters: tuple[str, ...]
    purpose: str
    stop: StopRule | None = None

    def duration_min(self, baseline: float) -> float:
        """Ramps at the rate limit, holds, the way back and the settling time (min)."""
        path = [baseline, *self.levels, baseline]
        ramps = sum(abs(b - a) for a, b in itertools.pairwise(path)) / self.rate_per_min
        return ramps + self.hold_min * len(self.levels) + SETTLE_MIN

    def setpoint_at(self, elapsed_min: float, baseline: float) -> float:
        """The value to command ``elapsed_min`` into the test: ramps at the rate limit, holds, the way back."""
        value, t = baseline, 0.0
        for level, hold in [*((v, self.hold_min) for v in self.levels), (baseline, SETTLE_MIN)]:
            ramp = abs(level - value) / self.rate_per_min
            if elapsed_min < t + ramp:
                return value + math.copysign((elapsed_min - t) * self.rate_per_min, level - value)
            value, t = level, t + ramp + hold
            if elapsed_min < t:
                return value
        return baseline

    def as_dict(self, baseline: float) -> dict[str, Any]:
        """YAML-ready, with its expected duration."""
        out: dict[str, Any] = {
            "name": self.name, "setpoint": self.setpoint, "unit": self.unit,
            "baseline": _round(baseline), "levels": [_round(v) for v in self.levels], "hold_min": float(self.hold_min),
            "rate_per_min": _round(self.rate_per_min), "expected_duration_min": round(self.duration_min(baseline), 1),
            "parameters": list(self.parameters), "purpose": self.purpose,
        }
        if self.stop is not None:
            out["stop"] = self.stop.as_dict()
        return out


@dataclass(frozen=True)
class ScheduledTest:
    """A test placed in a night: ``night`` (0 = first), starting ``start_min`` after the window opens."""

    test: StepTest
    night: int
    start_min: float


@dataclass(frozen=True)
class ExcitationPlan:
    """Step tests for what a history could not pin down, packed into nightly low-risk windows."""

    facility: str
    window_start_h: float
    """Local standard hour the nightly window opens."""
    window_h: float
    guard_c: float
    baseline: dict[str, float]
    """Setpoints held while a test runs (the site's own, at those hours of the history)."""
    schedule: tuple[ScheduledTest, ...]
    not_excitable: dict[str, str] = field(default_factory=dict)
    """Parameter -> why no setpoint test informs it."""

    @property
    def nights(self) -> int:
        """Nights the plan takes."""
        return 1 + max((s.night for s in self.schedule), default=-1)

    @property
    def duration_min(self) -> float:
        """Total time the tests run (min), settling included."""
        return sum(s.test.duration_min(self.baseline[s.test.setpoint]) for s in self.schedule)

    def setpoints_at(self, time_s: float, plan_start_s: float) -> dict[str, float]:
        """Setpoints to command at ``time_s`` for a plan started on the night of ``plan_start_s`` (s since 1
        January, local standard time): the baseline with the running test's setpoint; empty outside the tests."""
        day0 = math.floor(plan_start_s / SECONDS_PER_DAY)
        for s in self.schedule:
            start = (day0 + s.night) * SECONDS_PER_DAY + self.window_start_h * SECONDS_PER_HOUR + \
                s.start_min * SECONDS_PER_MINUTE
            base = self.baseline[s.test.setpoint]
            end = start + s.test.duration_min(base) * SECONDS_PER_MINUTE
            if start <= time_s < end:
                out = dict(self.baseline)
                out[s.test.setpoint] = s.test.setpoint_at((time_s - start) / SECONDS_PER_MINUTE, base)
                return out
        return {}

    def as_dict(self) -> dict[str, Any]:
        """The plan file's content."""
        return {
            "plan_version": PLAN_VERSION, "facility": self.facility,
            "window": {"start_hour": float(self.window_start_h), "hours": float(self.window_h),
                       "start_only_if_hottest_inlet_below_c": round(self.guard_c - START_MARGIN_K, 2),
                       "abort_if_hottest_inlet_at_or_above_c": float(self.guard_c)},
            "baseline_setpoints": {k: _round(v) for k, v in self.baseline.items()},
            "nights": self.nights, "expected_duration_h": round(self.duration_min / 60.0, 2),
            "tests": [{"night": s.night, "start_after_window_opens_min": round(s.start_min, 1),
                       **s.test.as_dict(self.baseline[s.test.setpoint])} for s in self.schedule],
            "not_excitable": dict(self.not_excitable),
        }


def _round(v: float) -> float:
    return float(f"{v:.4g}")


NOT_EXCITABLE: dict[str, str] = {
    "envelope_ua": "the envelope's heat follows the outdoor temperature, which no setpoint moves: a history "
                   "spanning a season (a wider outdoor range) informs it",
    "ups_loss_no_load": "UPS losses follow the IT load, which no cooling setpoint moves: a UPS loss (or UPS input "
                        "and output) meter, or a history with a wider IT load range, informs them",
    "ups_loss_proportional": "UPS losses follow the IT load, which no cooling setpoint moves: a UPS loss meter, or "
                             "a history with a wider IT load range, informs them",
    "ups_loss_square": "UPS losses follow the IT load, which no cooling setpoint moves: a UPS loss meter, or a "
                       "history with a wider IT load range, informs them",
}
"""Parameters no step test informs, and what would."""


def _family(parameter: str) -> str:
    return parameter.split("[", 1)[0]


def _rate(name: str, rates: Mapping[str, float]) -> float:
    spec = SETPOINT_SPECS[name]
    return min(spec.slew_per_min, rates.get(name, math.inf))


def _bounds(name: str, bounds: Mapping[str, tuple[float, float]]) -> tuple[float, float]:
    spec = SETPOINT_SPECS[name]
    lo, hi = bounds.get(name, (spec.low, spec.high))
    return max(lo, spec.low), min(hi, spec.high)


def _levels(values: Sequence[float], baseline: float, lo: float, hi: float, least_move: float) -> tuple[float, ...]:
    """``values`` clipped to the bounds, dropping repeats and levels too close to the baseline to show anything."""
    out: list[float] = []
    for v in values:
        c = _round(min(max(float(v), lo), hi))
        if abs(c - baseline) >= least_move and all(abs(c - o) >= least_move for o in out):
            out.append(c)
    return tuple(out)


def make_plan(cfg: FacilityConfig, history: History, unidentified: Sequence[str],
              bounds: Mapping[str, tuple[float, float]] | None = None, rates: Mapping[str, float] | None = None,
              guard_c: float = DEFAULT_GUARD_C, server_fan_knee_c: float | None = None) -> ExcitationPlan:
    """Step tests for the ``unidentified`` parameters of facility ``cfg``, within the site's ``bounds`` and
    ``rates`` (its safety limits; default the contract's), in the history's lowest-risk night hours."""
    bounds = dict(bounds or {})
    rates = dict(rates or {})
    contract = cfg.contract
    has = set(contract.setpoint_names)
    window_start = _quiet_window(history)
    baseline = _baseline(history, cfg, window_start)
    families = {_family(p) for p in unidentified}
    knee = cfg.servers.fan_knee_c if server_fan_knee_c is None else server_fan_knee_c
    inlet_now = _window_mean(history, "inlet_temp_max_c", window_start)
    tests: list[StepTest] = []
    not_excitable: dict[str, str] = {}

    def covered(*names: str) -> tuple[str, ...]:
        return tuple(p for p in unidentified if _family(p) in names)

    sat, chw = baseline["supply_air_temp_c"], baseline["chw_supply_temp_c"]
    if "coil_approach" in families:
        coil = _coil_test(sat, chw, bounds, rates, covered("coil_approach"))
        if coil is not None:
            tests.append(coil)
        else:
            not_excitable["coil_approach"] = ("neither can the supply air be lowered nor the chilled water raised "
                                              "near the other within the bounds")
    air = covered("recirculation", "airflow_margin", "crah_fan_pressure")
    if air:
        lo, hi = _bounds("crah_fan_speed_frac", bounds)
        lo = max(lo, cfg.crah.min_speed_frac)
        fan = baseline["crah_fan_speed_frac"]
        levels = _levels([fan - 0.15, fan - 0.3], fan, lo, hi, 0.05) if cfg.crah.variable_speed else ()
        if levels:
            tests.append(StepTest("crah-airflow", "crah_fan_speed_frac", "1", levels, HOLD_MIN,
                                  _rate("crah_fan_speed_frac", rates), air,
                                  "CRAH fans stepped down toward the servers' airflow: recirculation grows as the "
                                  "surplus shrinks, separating the containment's leakage from the airflow margin; "
                                  "fan power moves along its curve",
                                  StopRule("inlet_temp_max_c", above_c=guard_c - 0.5)))
        else:
            not_excitable.update({p: "the CRAH fans cannot be slowed within the bounds (constant speed or at their "
                                     "minimum)" for p in air})
    zone = covered("zone_heat_capacity", "server_fan_slope")
    if zone:
        lo, hi = _bounds("supply_air_temp_c", bounds)
        up = sat + max(knee + 1.0 - inlet_now, 1.0) if math.isfinite(inlet_now) else sat + 1.0
        up = min(up, sat + max(guard_c - START_MARGIN_K - (inlet_now if math.isfinite(inlet_now) else guard_c), 0.0))
        levels = _levels([sat - 1.5, up], sat, lo, hi, 0.5)
        if levels:
            tests.append(StepTest("supply-air", "supply_air_temp_c", "°C", levels, HOLD_MIN,
                                  _rate("supply_air_temp_c", rates), zone,
                                  "supply air stepped down, then up toward the inlet at which server fans speed up: "
                                  "the inlets' response gives the zones' thermal mass, inlets above the knee the "
                                  "fans' slope", StopRule("inlet_temp_max_c", above_c=guard_c - 0.5)))
    plant = covered("chw_loop_volume", "chiller_cop", "chiller_capacity")
    if plant:
        lo, hi = _bounds("chw_supply_temp_c", bounds)
        levels = _levels([chw - 1.5, chw + 1.5], chw, lo, min(hi, sat - cfg.crah.coil_approach_k), 0.3)
        if levels:
            tests.append(StepTest("chilled-water", "chw_supply_temp_c", "°C", levels, HOLD_MIN,
                                  _rate("chw_supply_temp_c", rates), plant,
                                  "chilled water stepped down and up: the loop's response gives its thermal mass, the "
                                  "chillers' lift moves along their EIR curves",
                                  StopRule("inlet_temp_max_c", above_c=guard_c - 0.5)))
    tower = covered("tower_range", "tower_fan_power", "chiller_cop")
    if tower:
        lo, hi = _bounds("condenser_water_temp_c", bounds)
        cw = baseline["condenser_water_temp_c"]
        levels = _levels([lo], cw, lo, hi, 1.0)
        if levels:
            tests.append(StepTest("tower-approach", "condenser_water_temp_c", "°C", levels, HOLD_MIN,
                                  _rate("condenser_water_temp_c", rates), tower,
                                  "condenser water set to its lowest: the towers run at full fan and reach their "
                                  "approach above the wet bulb; the chillers' lift falls"))
    if "chiller_capacity" in families and "chiller_stage_up_plr" in has:
        lo, hi = _bounds("chiller_stage_up_plr", bounds)
        base = baseline["chiller_stage_up_plr"]
        levels = _levels([lo, hi], base, lo, hi, 0.1)
        if levels:
            tests.append(StepTest("chiller-staging", "chiller_stage_up_plr", "1", levels, HOLD_MIN,
                                  _rate("chiller_stage_up_plr", rates), covered("chiller_capacity"),
                                  "stage-up threshold moved: the same load on more, then fewer chillers shows their "
                                  "capacity through their part-load ratio"))
    if "pump_power_scale" in families:
        pump_tests = []
        for name, label in (("chw_dp_setpoint_frac", "chw-pressure"), ("cw_flow_frac", "condenser-flow")):
            if name not in has:
                continue
            lo, hi = _bounds(name, bounds)
            base = baseline[name]
            levels = _levels([base + 0.3, base - 0.3], base, lo, hi, 0.1)
            if levels:
                pump_tests.append(StepTest(label, name, "1", levels, HOLD_MIN, _rate(name, rates),
                                           covered("pump_power_scale"),
                                           "pump setpoint stepped up and down: pump power moves along its curve"))
        if pump_tests:
            tests.extend(pump_tests)
        else:
            not_excitable["pump_power_scale"] = ("constant-speed pumps draw the same power whatever the setpoints: "
                                                 "a pump power meter informs them")
    for p in unidentified:
        if p in NOT_EXCITABLE:
            not_excitable[p] = NOT_EXCITABLE[p]
    return ExcitationPlan(cfg.name, window_start, WINDOW_H, guard_c, baseline, _pack(tests, baseline),
                          not_excitable)


def _coil_test(sat: float, chw: float, bounds: Mapping[str, tuple[float, float]], rates: Mapping[str, float],
               parameters: tuple[str, ...]) -> StepTest | None:
    """Bring supply air and chilled water together until the coils cannot make the air: supply air lowered
    toward chilled water (more cooling, preferred) or, where its bounds stop it short, chilled water raised
    toward the supply air; in 1.5 K steps to 0.5 K apart."""
    purpose = ("supply air and chilled water brought together in steps until the coils cannot make the air: its "
               "rise above the supply-air setpoint measures the approach")
    stop = StopRule("supply_air_temp_c", COIL_STOP_RISE_K, "supply_air_temp_c")
    lo, hi = _bounds("supply_air_temp_c", bounds)
    floor = max(lo, chw + 0.5)
    if floor <= sat - 1.0 and floor - chw <= 1.0:
        levels = _levels([*np.arange(sat - 1.5, floor - 1e-9, -1.5), floor], sat, lo, hi, 0.5)
        return StepTest("coil-approach", "supply_air_temp_c", "°C", levels, 20.0, _rate("supply_air_temp_c", rates),
                        parameters, purpose, stop)
    lo, hi = _bounds("chw_supply_temp_c", bounds)
    top = min(sat - 0.5, hi)
    if top - chw < 1.0 or sat - top > 1.0:
        return None
    levels = _levels([*np.arange(max(chw + 1.5, sat - 6.5), top + 1e-9, 1.5), top], chw, lo, hi, 0.5)
    return StepTest("coil-approach", "chw_supply_temp_c", "°C", levels, 20.0, _rate("chw_supply_temp_c", rates),
                    parameters, purpose, stop)


def _pack(tests: Sequence[StepTest], baseline: Mapping[str, float]) -> tuple[ScheduledTest, ...]:
    """Tests in order, each night filled up to the window's length (a test longer than a window gets its own)."""
    out: list[ScheduledTest] = []
    night, used = 0, 0.0
    for test in tests:
        d = test.duration_min(baseline[test.setpoint])
        if used > 0.0 and used + d > WINDOW_H * 60.0:
            night, used = night + 1, 0.0
        out.append(ScheduledTest(test, night, round(used, 1)))
        used += d
    return tuple(out)


def _hours_of_day(history: History) -> np.ndarray:
    return np.floor(np.mod(history.time_s, SECONDS_PER_DAY) / SECONDS_PER_HOUR).astype(np.int64)


def _quiet_window(history: History) -> float:
    """Start hour (local standard time) of the :data:`WINDOW_H` hours with the largest mean inlet margin (the
    lowest IT power where the inlets are not recorded), among windows starting between 20:00 and 03:00."""
    key = "inlet_temp_max_c" if "inlet_temp_max_c" in history.points else "it_power_kw"
    values = history.points.get(key)
    if values is None or not np.isfinite(values).any():
        return 1.0
    hours = _hours_of_day(history)
    by_hour = np.array([np.nanmean(np.where(hours == h, values, np.nan)) if (hours == h).any() else np.inf
                        for h in range(24)])
    by_hour = np.where(np.isfinite(by_hour), by_hour, np.inf)
    width = int(WINDOW_H)
    starts = [20, 21, 22, 23, 0, 1, 2, 3]
    scores = [np.mean([by_hour[(s + k) % 24] for k in range(width)]) for s in starts]
    return float(starts[int(np.argmin(scores))])


def _window_mean(history: History, name: str, start_h: float) -> float:
    values = history.points.get(name)
    if values is None:
        return math.nan
    hours = _hours_of_day(history)
    inside = np.mod(hours - start_h, 24) < WINDOW_H
    sel = values[inside]
    return float(np.nanmean(sel)) if np.isfinite(sel).any() else math.nan


def _baseline(history: History, cfg: FacilityConfig, start_h: float) -> dict[str, float]:
    """The site's own setpoints in the window's hours (medians), each contract setpoint; the facility's own
    sequence's value (or the contract's safe value) where the history holds none."""
    hours = _hours_of_day(history)
    inside = np.mod(hours - start_h, 24) < WINDOW_H
    local = {"chiller_stage_up_plr": cfg.chillers.stage_up_plr,
             "tower_cell_flow_min_frac": cfg.towers.sequence_cell_flow_frac,
             "chw_dp_setpoint_frac": cfg.chilled_water.dp_setpoint_frac, "cw_flow_frac": 1.0, "economizer_enable": 1.0}
    out: dict[str, float] = {}
    for name in cfg.contract.setpoint_names:
        spec = SETPOINT_SPECS[name]
        series = history.setpoints.get(name)
        if series is None and spec.measured_by in history.points and name in ("supply_air_temp_c",
                                                                              "crah_fan_speed_frac",
                                                                              "chw_supply_temp_c",
                                                                              "condenser_water_temp_c"):
            series = history.points[spec.measured_by]
        if series is not None and np.isfinite(series[inside]).any():
            out[name] = _round(float(np.nanmedian(series[inside])))
        else:
            out[name] = _round(float(local.get(name, spec.safe)))
    return out


def write_plan(plan: ExcitationPlan, path: str | Path, header: str = "") -> Path:
    """Write the plan as YAML (``header`` as leading comment lines)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"# {line}".rstrip() for line in header.splitlines()] if header else []
    text = yaml.safe_dump(json_safe(plan.as_dict()), sort_keys=False, allow_unicode=True, width=110)
    p.write_text("\n".join([*lines, text]), encoding="utf-8")
    return p


def load_plan(path: str | Path) -> ExcitationPlan:
    """Read a plan file written by :func:`write_plan` (refused naming the field when malformed)."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise HistoryError(f"{p}: cannot read the plan: {err}") from None
    try:
        if data["plan_version"] != PLAN_VERSION:
            raise HistoryError(f"{p}: field 'plan_version' = {data['plan_version']!r}: this coolpilot reads "
                               f"{PLAN_VERSION}")
        window = data["window"]
        schedule = []
        for i, t in enumerate(data["tests"]):
            if t["setpoint"] not in SETPOINT_SPECS:
                raise HistoryError(f"{p}: field 'tests[{i}].setpoint' = {t['setpoint']!r} is not a setpoint")
            stop = t.get("stop")
            rule = None if stop is None else StopRule(str(stop["point"]), stop.get("above_k"), stop.get("setpoint"),
                                                      stop.get("above_c"))
            test = StepTest(str(t["name"]), str(t["setpoint"]), str(t["unit"]), tuple(float(v) for v in t["levels"]),
                            float(t["hold_min"]), float(t["rate_per_min"]), tuple(t["parameters"]), str(t["purpose"]),
                            rule)
            schedule.append(ScheduledTest(test, int(t["night"]), float(t["start_after_window_opens_min"])))
        return ExcitationPlan(str(data["facility"]), float(window["start_hour"]), float(window["hours"]),
                              float(window["abort_if_hottest_inlet_at_or_above_c"]),
                              {k: float(v) for k, v in data["baseline_setpoints"].items()}, tuple(schedule),
                              {k: str(v) for k, v in (data.get("not_excitable") or {}).items()})
    except (KeyError, TypeError, ValueError) as err:
        raise HistoryError(f"{p}: not a coolpilot excitation plan ({err!r} missing or malformed)") from None


def plan_inputs(inputs: ReplayInputs, plan: ExcitationPlan, start_s: float) -> ReplayInputs:
    """``inputs`` with the plan's setpoints commanded from the night of ``start_s``: what a site running the plan
    would command (the stop rules are not applied: the twin's expectation of a plan that runs to its end)."""
    command = inputs.command.copy()
    for i, t in enumerate(inputs.time_s):
        for name, value in plan.setpoints_at(float(t), start_s).items():
            command[i, LEVERS.index(name)] = value
    return replace(inputs, command=command)


def expected_history(cfg: FacilityConfig, history: History, plan: ExcitationPlan, start_s: float,
                     noise: Mapping[str, float] | None = None, seed: int = 0) -> History:
    """The history ``cfg`` (the calibrated twin) would record if the site ran ``plan`` from ``start_s``.

    Every recorded point, sub-meter and zone inlet is replaced by the twin's replay under the plan's
    commands (weather and IT power stay as recorded), with Gaussian noise of ``noise[unit]`` (°C, kW as
    a share of the value, 1) added; the setpoints are the plan's.
    """
    base = replay_inputs(history, cfg)
    inputs = plan_inputs(base, plan, start_s)
    zones = tuple(z.name for z in cfg.zones)
    names = [n for n in history.points if n in ALL_POINTS or n in METERS]
    names += [f"inlet_temp_c_{z}" for z in zones if z in history.zone_inlet_c]
    pred = replay(build_params([cfg]), inputs, names, zones).series
    rng = np.random.default_rng(seed)
    sigma = dict(noise or {})
    points = dict(history.points)
    inlets = dict(history.zone_inlet_c)
    for name, series in pred.items():
        values = series[0].copy()
        unit = unit_of(name)
        if unit == "kW":
            values *= 1.0 + rng.normal(0.0, sigma.get("kW", 0.0), values.shape)
        else:
            values += rng.normal(0.0, sigma.get(unit, 0.0), values.shape)
        if name.startswith("inlet_temp_c_"):
            inlets[name.removeprefix("inlet_temp_c_")] = values
        elif name not in INPUT_POINTS:
            points[name] = values
    setpoints = {n: inputs.command[:, LEVERS.index(n)].copy() for n in cfg.contract.setpoint_names}
    return replace(history, points=points, zone_inlet_c=inlets, setpoints=setpoints,
                   source=f"{history.source} with plan ({cfg.name} twin)")
