"""The site's own control as a what-if baseline: its history's recorded setpoints replayed through the facility.

A scenario with a ``history`` (the files ``coolpilot calibrate`` reads: the simulator's CSV, the
audit's ``decisions.csv`` or a BMS export with its column map) runs over that history's period:
every policy of the scenario sees the recorded weather and does the recorded IT work, and the
policy ``recorded`` replays the setpoints the site's BMS was told, step by step, through the
scenario's facility (the calibrated twin). Its KPIs are the site's own control as the twin
simulates it, so a policy's saving over ``recorded`` is measured against what the site did, on
the days it did it; where the history metered facility power, :func:`metered_comparison` puts
the recorded run beside the meters (the twin's fit on the user's own period).

What is read and how it is filled (all of it stated in the report, never silent):

- parsing, units, time zones, gaps, the setpoints a history lacks: :mod:`coolpilot.envs.calibration`
  (:func:`~coolpilot.envs.calibration.history.read_history`,
  :func:`~coolpilot.envs.calibration.twin.replay_inputs`), exactly as the calibration replayed it.
  A core setpoint not recorded is replayed from its feedback point (what the plant reported holding)
  or, without one, held at the legacy value; a plant lever not recorded runs on the plant's own
  local sequence, as it did when nobody commanded it.
- weather from the history's outdoor points; where they are missing, from the scenario's climate
  when one is given (``History.with_weather``). RH, which policies read as a point, is recovered
  from dry and wet bulb by inverting Stull's formula when the history has no RH column.
- IT load: the recorded IT power is turned into each zone's utilization at the recorded inlet
  temperatures (:func:`~coolpilot.envs.calibration.twin.recorded_utilization`), so a policy that runs
  the servers hotter pays their fans' extra power, as on the real plant.
- gaps in weather or IT power up to :data:`MAX_BRIDGE_S` are bridged linearly (a longer gap is
  refused, naming it); a recorded setpoint missing for a while is held at its last recorded value,
  as a BMS holds the last value written.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from coolpilot.envs.calibration.history import History, HistoryError, read_history
from coolpilot.envs.calibration.metrics import point_fit
from coolpilot.envs.calibration.targets import NON_IT_POWER
from coolpilot.envs.calibration.twin import recorded_utilization, replay_inputs
from coolpilot.envs.config import FacilityConfig
from coolpilot.envs.contract import LEVERS, SETPOINT_SPECS
from coolpilot.envs.facility import build_params
from coolpilot.envs.physics.plant import PlantParams, PlantState
from coolpilot.envs.simulation import ExoSeries, SimResult
from coolpilot.envs.units import SECONDS_PER_DAY, SECONDS_PER_HOUR
from coolpilot.envs.weather import load_climate, wet_bulb_c
from coolpilot.evaluation.scenarios import HistoryRef

MAX_BRIDGE_S = 6.0 * SECONDS_PER_HOUR
"""Longest gap in a history's weather or IT power bridged linearly for a what-if run (s); longer is refused.
Six hours: the outdoor air and a hall's IT load move little over it (a diurnal half-swing takes twelve)."""
RH_BISECTION_STEPS = 40
"""Bisection steps inverting Stull's wet bulb for RH (the 5–99 % bracket shrinks below 1e-10 %)."""


@functools.lru_cache(maxsize=8)
def _read(ref: HistoryRef, facility: str, utc_offset_h: float | None) -> History:
    from coolpilot.envs.config import load_facility

    return read_history(ref.files, load_facility(facility), ref.column_map, ref.format, utc_offset_h)


def load_site_history(ref: HistoryRef, facility: str, climate: str | None) -> History:
    """The history ``ref`` names, read for ``facility`` (preset or file); with ``climate``, weather it lacks filled
    from it and the site's time zone taken from it unless ``ref`` gives one. Read once per process."""
    weather = load_climate(climate) if climate is not None else None
    offset = ref.utc_offset_h if ref.utc_offset_h is not None else (weather.timezone_h if weather else None)
    history = _read(ref, facility, offset)
    if weather is not None:
        sample = weather.sample(history.time_s)
        history = history.with_weather(sample.dry_bulb_c, sample.wet_bulb_c, f"climate {weather.name}")
    return history


def history_period(history: History) -> tuple[float, float]:
    """``(start_day, days)`` of the whole history as a scenario period (its first step starts at start_day)."""
    start_s = float(history.time_s[0]) - history.dt_s
    return start_s / SECONDS_PER_DAY, history.n_steps * history.dt_s / SECONDS_PER_DAY


def check_period(history: History, start_day: float, days: float, step_s: float) -> str | None:
    """Why a scenario period cannot run on ``history`` (its step, its span), or None when it can."""
    if abs(step_s - history.dt_s) > 1e-9:
        return (f"the scenario's step_s = {step_s:g} s differs from the history's {history.dt_s:g} s grid: give "
                f"step_s: {history.dt_s:g}")
    first, last = float(history.time_s[0]), float(history.time_s[-1])
    start_s = start_day * SECONDS_PER_DAY
    end_s = start_s + round(days * SECONDS_PER_DAY / step_s) * step_s
    have = (f"the history {history.source} covers {history.iso(first - history.dt_s)} to {history.iso(last)} (days "
            f"{(first - history.dt_s) / SECONDS_PER_DAY:.2f}–{last / SECONDS_PER_DAY:.2f})")
    offset = (start_s - first) / step_s
    if abs(offset - round(offset)) > 1e-6:
        return f"the period's start day {start_day:g} is not on the history's {step_s:g} s grid; {have}"
    if start_s + step_s < first - 1e-6 or end_s > last + 1e-6:
        return (f"the period days {start_day:g}–{start_day + days:g} is not inside the history: {have}; choose a "
                "period inside it, or leave period out to run the whole history")
    return None


def control_recorded(history: History, cfg: FacilityConfig) -> str | None:
    """Why ``history`` holds nothing of the site's control to replay for facility ``cfg`` (no setpoint of its contract
    and no core setpoint's feedback point), or None when it does."""
    names = cfg.contract.setpoint_names
    if any(n in history.setpoints for n in names):
        return None
    feedback = [SETPOINT_SPECS[n].measured_by for n in names if SETPOINT_SPECS[n].measured_by]
    if any(point in history.points for point in feedback):
        return None
    return (f"{history.source} records no setpoint of facility {cfg.name} ({', '.join(names)}) and none of their "
            f"feedback points ({', '.join(feedback)}): there is no recorded control to replay")


def stull_rh_pct(dry_bulb_c: np.ndarray, wet_bulb: np.ndarray) -> np.ndarray:
    """Relative humidity (%) whose Stull (2011) wet bulb (:func:`coolpilot.envs.weather.wet_bulb_c`) at ``dry_bulb_c``
    is ``wet_bulb``: the formula inverted by bisection over its fitted range, 5–99 % (it rises with RH there)."""
    lo = np.full(np.shape(dry_bulb_c), 5.0)
    hi = np.full(np.shape(dry_bulb_c), 99.0)
    for _ in range(RH_BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        below = wet_bulb_c(dry_bulb_c, mid) < wet_bulb
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    out: np.ndarray = 0.5 * (lo + hi)
    return out


def _bridge(values: np.ndarray, dt_s: float, what: str, history: History, required: bool,
            notes: list[str]) -> np.ndarray:
    """``values`` with gaps up to :data:`MAX_BRIDGE_S` filled linearly (held at the ends); a longer gap is refused
    when ``required``, else left NaN."""
    missing = np.isnan(values)
    if not missing.any():
        return values
    if missing.all():
        if required:
            raise HistoryError(f"{history.source}: {what} has no reading in the scenario's period")
        return values
    edges = np.diff(np.concatenate(([0], missing.astype(np.int8), [0])))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    longest = int((stops - starts).max())
    if longest * dt_s > MAX_BRIDGE_S:
        k = int(np.argmax(stops - starts))
        if required:
            raise HistoryError(
                f"{history.source}: {what} is missing for {longest * dt_s / SECONDS_PER_HOUR:.1f} h from "
                f"{history.iso(history.time_s[starts[k]])} to {history.iso(history.time_s[stops[k] - 1])}, longer "
                f"than the {MAX_BRIDGE_S / SECONDS_PER_HOUR:g} h bridged: choose a period without it, or give the "
                "scenario a climate for the weather")
        fill = np.zeros_like(missing)
        for a, b in zip(starts, stops, strict=True):
            fill[a:b] = (b - a) * dt_s <= MAX_BRIDGE_S
    else:
        fill = missing
    idx = np.arange(len(values))
    out = values.copy()
    out[fill] = np.interp(idx[fill], idx[~missing], values[~missing])
    notes.append(f"{what}: {int(fill.sum())} steps ({fill.sum() * dt_s / SECONDS_PER_HOUR:.1f} h) missing, bridged "
                 f"linearly (longest gap {min(longest * dt_s, MAX_BRIDGE_S) / SECONDS_PER_HOUR:.2f} h)")
    return out


def _bridged(history: History, notes: list[str]) -> History:
    """The weather, IT power and inlet readings the run uses with short gaps bridged (required ones refused when a
    gap is too long)."""
    dt = history.dt_s
    points = dict(history.points)
    wet_col = "outdoor_wetbulb_c" if "outdoor_wetbulb_c" in points else "outdoor_rh_pct"
    it_total = "it_power_kw" in points
    for name in ("outdoor_drybulb_c", "outdoor_wetbulb_c", "outdoor_rh_pct", "it_power_kw", "inlet_temp_mean_c"):
        if name in points:
            required = name in ("outdoor_drybulb_c", wet_col) or (name == "it_power_kw")
            points[name] = _bridge(points[name], dt, name, history, required, notes)
    zone_it = {z: _bridge(v, dt, f"IT power of zone {z}", history, not it_total, notes)
               for z, v in history.zone_it_kw.items()}
    zone_inlet = {z: _bridge(v, dt, f"inlet temperature of zone {z}", history, False, notes)
                  for z, v in history.zone_inlet_c.items()}
    return replace(history, points=points, zone_it_kw=zone_it, zone_inlet_c=zone_inlet)


def _held(command: np.ndarray, names: tuple[str, ...], notes: list[str], dt_s: float) -> np.ndarray:
    """Recorded command columns with their missing steps held at the last recorded value (the first one before it);
    a column never recorded stays NaN (the plant's own sequence)."""
    out = command.copy()
    for name in names:
        col = LEVERS.index(name)
        values = out[:, col]
        missing = np.isnan(values)
        if not missing.any() or missing.all():
            continue
        idx = np.where(~missing, np.arange(len(values)), 0)
        np.maximum.accumulate(idx, out=idx)
        first = int(np.argmax(~missing))
        idx[:first] = first
        out[:, col] = values[idx]
        notes.append(f"setpoint {name}: {int(missing.sum())} steps ({missing.sum() * dt_s / SECONDS_PER_HOUR:.1f} h) "
                     "not recorded, held at the last recorded value")
    return out


def _grouped(notes: list[str]) -> list[str]:
    """Notes ``what: detail`` sharing their detail stated once, naming every ``what`` (a logger outage hits all)."""
    by_detail: dict[str, list[str]] = {}
    for line in notes:
        what, sep, detail = line.partition(": ")
        key = detail if sep else line
        by_detail.setdefault(key, []).append(what if sep else "")
    return [f"{', '.join(w for w in whats if w)}: {detail}" if any(whats) else detail
            for detail, whats in by_detail.items()]


@dataclass(frozen=True)
class SiteRecord:
    """A history cut to a scenario's period: what every policy runs on, and what the ``recorded`` policy replays."""

    source: str
    exo: ExoSeries
    """Weather and utilization, ``n + 1`` rows from the period's start (as :func:`coolpilot.envs.simulation.simulate`
    takes them)."""
    command: np.ndarray
    """(n, 9) the recorded command of each step in lever order (:data:`coolpilot.envs.contract.LEVERS`); NaN: the
    plant's own sequence."""
    setpoint_sources: dict[str, dict[str, str]]
    """Each setpoint of the facility's contract: where its replayed value comes from (:func:`_source`)."""
    notes: tuple[str, ...]
    """What was filled or bridged, one line each."""
    metered: dict[str, np.ndarray]
    """(n,) metered facility and IT power (kW) as recorded (NaN: not recorded); absent when never recorded."""
    time_s: np.ndarray
    """(n,) each step's end (s since 1 January, local standard time)."""
    year: int

    def describe(self) -> dict[str, Any]:
        """JSON-ready facts for the report."""
        return {"source": self.source, "setpoint_sources": self.setpoint_sources, "notes": list(self.notes),
                "meters": sorted(self.metered)}


def site_record(history: History, cfg: FacilityConfig, start_day: float, days: float) -> SiteRecord:
    """The period ``days`` from ``start_day`` of ``history`` for facility ``cfg``; :class:`HistoryError` (naming the
    history, the period and what is missing) when it cannot run."""
    why = check_period(history, start_day, days, history.dt_s)
    if why is not None:
        raise HistoryError(why)
    dt = history.dt_s
    n = round(days * SECONDS_PER_DAY / dt)
    j0 = round((start_day * SECONDS_PER_DAY + dt - float(history.time_s[0])) / dt)  # row of the first step's end
    a = max(j0 - 1, 0)
    raw = history.window(a, j0 + n)
    notes: list[str] = []
    win = _bridged(raw, notes)
    inputs = replay_inputs(win, cfg)
    notes.extend(i.detail if i.what == "*" else f"setpoint {i.what}: {i.detail}" for i in inputs.notes)
    recorded = tuple(name for name in cfg.contract.setpoint_names if not np.isnan(inputs.command[:, LEVERS.index(name)]
                                                                                  ).all())
    command = _held(inputs.command, recorded, notes, dt)
    notes = _grouped(notes)
    sources = {name: _source(name, win, name in recorded) for name in cfg.contract.setpoint_names}
    rows = np.arange(win.n_steps) if a < j0 else np.concatenate(([0], np.arange(win.n_steps)))
    params = build_params([cfg])
    inlet = _recorded_inlets(win, cfg, params)
    util = recorded_utilization(params, inputs.it_kw, inputs.zone_share, inlet)
    rh = win.points.get("outdoor_rh_pct")
    if rh is None or np.isnan(rh).any():
        rh = stull_rh_pct(inputs.drybulb_c, inputs.wetbulb_c)
        notes.append("outdoor RH not recorded: recovered from dry and wet bulb (Stull 2011 inverted)")
    start_s = start_day * SECONDS_PER_DAY
    exo = ExoSeries(start_s + dt * np.arange(n + 1), inputs.drybulb_c[rows], inputs.wetbulb_c[rows], rh[rows],
                    util[rows])
    steps = slice(win.n_steps - n, win.n_steps)
    metered: dict[str, np.ndarray] = {name: raw.points[name][steps] for name in ("facility_power_kw", "it_power_kw")
                                      if name in raw.points}
    return SiteRecord(history.source, exo, command[steps], sources, tuple(notes), metered, win.time_s[steps],
                      history.year)


def _source(name: str, history: History, commanded: bool) -> dict[str, str]:
    """Where :func:`~coolpilot.envs.calibration.twin.replay_inputs` took setpoint ``name``'s replayed value from:
    ``recorded``, ``feedback`` (its feedback ``point``), ``legacy`` (held at the legacy value) or ``local`` (the
    plant's own sequence)."""
    if not commanded:
        return {"kind": "local"}
    if name in history.setpoints:
        return {"kind": "recorded"}
    point = SETPOINT_SPECS[name].measured_by
    return {"kind": "feedback", "point": point} if point in history.points else {"kind": "legacy"}


def _recorded_inlets(history: History, cfg: FacilityConfig, params: PlantParams) -> np.ndarray:
    """(T, Z) the inlet temperatures the recorded IT power was drawn at: per zone where recorded, else the hall's
    mean inlet, else the server fans' knee (no fan boost: nominal power)."""
    knee = float(params.server_fan_knee_c[0])
    mean = history.points.get("inlet_temp_mean_c", np.full(history.n_steps, np.nan))
    cols = [history.zone_inlet_c.get(z.name, mean) for z in cfg.zones]
    inlet = np.column_stack(cols)
    return np.where(np.isnan(inlet), np.where(np.isnan(mean), knee, mean)[:, None], inlet)


class RecordedPolicy:
    """The site's recorded setpoints, step by step (a plan fixed in advance: it binds to the run's steps).

    A setpoint the history does not record is left out of its command, so the plant runs it on its own
    sequence. Its ``act`` (without a plan step) is refused: it has no meaning off the history.
    """

    name = "recorded"

    def __init__(self, record: SiteRecord, setpoint_names: tuple[str, ...]) -> None:
        self.record = record
        self._columns = {name: LEVERS.index(name) for name in setpoint_names
                         if not np.isnan(record.command[:, LEVERS.index(name)]).all()}

    def reset(self) -> None:
        """Nothing to forget: the plan is the record."""

    def bind(self, params: PlantParams, exo: ExoSeries, dt_s: float) -> None:
        """Check the run is the record's period."""
        if exo.time_s.shape[0] != self.record.command.shape[0] + 1 or exo.time_s[0] != self.record.exo.time_s[0]:
            raise ValueError(f"the recorded policy replays {self.record.command.shape[0]} steps from "
                             f"{self.record.exo.time_s[0]:g} s; the run has {exo.time_s.shape[0] - 1} from "
                             f"{exo.time_s[0]:g} s")

    def plan(self, state: PlantState, k: int, points: Mapping[str, float]) -> dict[str, float]:
        """The setpoints recorded for step ``k``."""
        row = self.record.command[k]
        return {name: float(row[col]) for name, col in self._columns.items()}

    def act(self, points: Mapping[str, float]) -> dict[str, float]:
        """Refused: the recorded setpoints belong to the history's steps (:meth:`plan`)."""
        raise RuntimeError("the recorded policy replays a history's steps: run it through simulate(), which plans "
                           "each step")


def calibrated_parameters(facility: str) -> int | None:
    """Parameters fitted into ``facility`` by ``coolpilot calibrate`` (its ``.calibration.json`` sidecar), or None
    for a file without one (a preset or a draft)."""
    path = Path(facility)
    sidecar = path.with_name(f"{path.stem}.calibration.json")
    if not path.suffix or not sidecar.is_file():
        return None
    try:
        return len(json.loads(sidecar.read_text(encoding="utf-8"))["parameters"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise HistoryError(f"{sidecar}: not a calibration sidecar ({err})") from None


def metered_comparison(record: SiteRecord, result: SimResult, facility: str) -> dict[str, Any] | None:
    """The recorded run beside the history's meters: facility and non-IT energy (MWh) over the steps the meters
    recorded, their difference, and ASHRAE Guideline 14 hourly and monthly statistics (n − p, p the parameters the
    calibration fitted, 0 for an uncalibrated file); None without a facility meter."""
    fac = record.metered.get("facility_power_kw")
    if fac is None or not np.isfinite(fac).any():
        return None
    h = result.dt_s / SECONDS_PER_HOUR
    p = calibrated_parameters(facility)
    simulated = {"facility_power_kw": result.series["facility_kw"],
                 NON_IT_POWER: result.series["facility_kw"] - result.series["it_power_kw"]}
    measured = {"facility_power_kw": fac}
    it = record.metered.get("it_power_kw")
    if it is not None:
        measured[NON_IT_POWER] = fac - it
    out: dict[str, Any] = {"calibrated_parameters": p, "quantities": {}}
    for name, meas in measured.items():
        ok = np.isfinite(meas)
        m_mwh = float(meas[ok].sum() * h / 1000.0)
        s_mwh = float(simulated[name][ok].sum() * h / 1000.0)
        fit = point_fit(name, np.where(ok, meas, np.nan), simulated[name], record.time_s, record.year, p or 0)
        out["quantities"][name] = {
            "metered_mwh": m_mwh, "simulated_mwh": s_mwh, "difference_mwh": s_mwh - m_mwh,
            "difference_pct": 100.0 * (s_mwh - m_mwh) / m_mwh if m_mwh else math.nan,
            "coverage": float(ok.mean()), "fit": fit.as_dict(),
        }
    return out


__all__ = [
    "MAX_BRIDGE_S", "RecordedPolicy", "SiteRecord", "calibrated_parameters", "check_period", "control_recorded",
    "history_period", "load_site_history", "metered_comparison", "site_record", "stull_rh_pct",
]
