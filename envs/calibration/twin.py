"""The calibrated twin: a site history's setpoints, weather and IT power replayed through the batched physics.

:func:`replay` runs N candidate facilities (one :class:`~coolpilot.envs.physics.plant.PlantParams`
batch) over a history in one call per contiguous segment: each step, every candidate gets the
recorded weather, the recorded setpoints as its command (NaN: the plant's own sequence) and the
recorded IT power, which replaces the load profile. Because a server's power depends on its
inlet temperature (its fans), each candidate's zone utilization is solved every step from its
own inlet temperatures so that its IT power equals the recorded one
(:func:`_utilization_for`, from the physics' own ``it_power_kw``); zones share it as the
history's per-zone IT power says, else as the facility's load profiles do at that hour.

The loop over steps is one compiled kernel (:func:`_replay_kernel`) calling the same
:func:`~coolpilot.envs.physics.plant.step` and point columns as every other caller, so the
twin cannot drift from the simulator; with ``COOLPILOT_JIT=0`` it runs as plain numpy.

:class:`CalibratedTwin` is the same replay one step at a time, for the service's drift monitor:
given the current points and the setpoints just written, it predicts the next points.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from coolpilot.envs.calibration.history import History, HistoryError, Issue, require_inputs
from coolpilot.envs.calibration.targets import CLOCK_POINTS, METERS, NON_IT_POWER, WEATHER_POINTS
from coolpilot.envs.config import FacilityConfig
from coolpilot.envs.contract import CORE_CONTRACT, LEVERS, SETPOINT_SPECS
from coolpilot.envs.facility import ALL_POINTS, LEGACY_SETPOINTS, build_params, initial_state
from coolpilot.envs.load import load_table, synthetic_utilization_batch
from coolpilot.envs.physics._jit import jit
from coolpilot.envs.physics.air import it_power_kw
from coolpilot.envs.physics.plant import N_LEVERS, Exogenous, PlantParams, PlantState, step
from coolpilot.envs.simulation import WARMUP_S
from coolpilot.envs.units import SECONDS_PER_HOUR
from coolpilot.envs.weather import wet_bulb_c

METER_ORDER = ("crah_fan_kw", "chiller_kw", "tower_fan_kw", "chw_pump_kw", "cw_pump_kw", "distribution_loss_kw")
"""Plant outputs the kernel records for the sub-meters, in its column order."""
if tuple(METERS.values()) != METER_ORDER:
    raise RuntimeError("coolpilot.envs.calibration.twin.METER_ORDER is out of step with targets.METERS")

BURN_IN_S = 2.0 * SECONDS_PER_HOUR
"""Time after each segment's start left out of every comparison (s): staging, economizer and loops settle."""
MIN_SEGMENT_S = 3.0 * SECONDS_PER_HOUR
"""Shortest run of complete inputs replayed (s); shorter runs between gaps are skipped."""


@dataclass(frozen=True)
class ReplayInputs:
    """What the replay runs on, on the history's grid: weather, IT power, zone shares and the command."""

    time_s: np.ndarray
    dt_s: float
    drybulb_c: np.ndarray
    wetbulb_c: np.ndarray
    it_kw: np.ndarray
    zone_share: np.ndarray
    """(T, Z) share of the IT power per zone (rows sum to 1)."""
    command: np.ndarray
    """(T, 9) the physics' command: recorded setpoints, NaN where the plant ran its own sequence."""
    segments: tuple[tuple[int, int], ...]
    """Runs ``[start, stop)`` of steps whose inputs are complete, each at least :data:`MIN_SEGMENT_S` long."""
    notes: tuple[Issue, ...] = ()

    @property
    def n_steps(self) -> int:
        """Grid steps."""
        return int(self.time_s.shape[0])

    def scored(self) -> np.ndarray:
        """(T,) True where a replayed step counts in comparisons (inside a segment, past its burn-in)."""
        mask = np.zeros(self.n_steps, dtype=bool)
        burn = round(BURN_IN_S / self.dt_s)
        for a, b in self.segments:
            mask[a + burn:b] = True
        return mask

    def window(self, start: int, stop: int) -> ReplayInputs:
        """Steps ``start:stop``, segments cut to them."""
        segs = tuple((max(a, start) - start, min(b, stop) - start) for a, b in self.segments
                     if min(b, stop) - max(a, start) >= round(MIN_SEGMENT_S / self.dt_s))
        s = slice(start, stop)
        return ReplayInputs(self.time_s[s], self.dt_s, self.drybulb_c[s], self.wetbulb_c[s], self.it_kw[s],
                            self.zone_share[s], self.command[s], segs, self.notes)


def profile_shares(cfg: FacilityConfig, time_s: np.ndarray) -> np.ndarray:
    """(T, Z) each zone's share of IT power under the facility's load profiles (noise and server fans left out)."""
    z = len(cfg.zones)
    table = load_table([[zn.load for zn in cfg.zones]], z)
    zero = np.zeros((1, z, len(time_s)))
    util = synthetic_utilization_batch(time_s[:1].astype(np.float64), float(time_s[1] - time_s[0]) if len(time_s) > 1
                                       else 300.0, len(time_s), *table[1:], zero, np.zeros((1, z)))[0]
    util = np.where(table.synthetic[0][None, :] > 0.0, util, np.array([zn.load.utilization_mean for zn in cfg.zones]))
    design = np.array([zn.it_design_kw for zn in cfg.zones])
    idle = cfg.servers.idle_power_frac
    nominal = design[None, :] * (idle + (1.0 - idle) * util)
    shares: np.ndarray = nominal / nominal.sum(axis=1, keepdims=True)
    return shares


def replay_inputs(history: History, cfg: FacilityConfig) -> ReplayInputs:
    """The replay's inputs from a history, for facility ``cfg`` (the draft or a calibrated one).

    Setpoints the history does not record: a core setpoint is taken from its feedback point when
    that is recorded (the plant reports what it holds; reported as a note), any other runs on the
    plant's own sequence (NaN). Setpoints recorded for levers the facility does not have are refused.
    """
    require_inputs(history)
    notes: list[Issue] = []
    contract = cfg.contract
    extra = [n for n in history.setpoints if n not in contract.setpoints_by_name]
    if extra:
        raise HistoryError(f"{history.source}: setpoints {extra} are not setpoints of facility {cfg.name} "
                           f"(its contract: {list(contract.setpoint_names)})")
    t = history.n_steps
    command = np.full((t, N_LEVERS), np.nan)
    required = np.ones(t, dtype=bool)
    for name in contract.setpoint_names:
        col = LEVERS.index(name)
        if name in history.setpoints:
            command[:, col] = history.setpoints[name]
            required &= ~np.isnan(command[:, col])
        elif name in CORE_CONTRACT.setpoints_by_name and SETPOINT_SPECS[name].measured_by in history.points:
            feedback = history.points[SETPOINT_SPECS[name].measured_by]
            spec = SETPOINT_SPECS[name]
            command[:, col] = np.clip(feedback, spec.low, spec.high)
            required &= ~np.isnan(feedback)
            notes.append(Issue("feedback_setpoint", name, f"setpoint not recorded: replayed from its feedback point "
                                                          f"{spec.measured_by} (a limit the plant hit there, such as "
                                                          "the coil's, cannot be seen)"))
        elif name in CORE_CONTRACT.setpoints_by_name:
            notes.append(Issue("feedback_setpoint", name, "setpoint not recorded nor its feedback point: held at the "
                                                          "legacy value"))
            command[:, col] = LEGACY_SETPOINTS[CORE_CONTRACT.setpoint_names.index(name)]
    points = history.points
    drybulb = points["outdoor_drybulb_c"]
    rh = points.get("outdoor_rh_pct", np.full(t, np.nan))
    wetbulb = points.get("outdoor_wetbulb_c")
    if wetbulb is None:
        wetbulb = np.where(np.isnan(rh) | np.isnan(drybulb), np.nan, wet_bulb_c(np.nan_to_num(drybulb),
                                                                                 np.nan_to_num(rh)))
    it_kw = points.get("it_power_kw")
    zone_names = [z.name for z in cfg.zones]
    shares = profile_shares(cfg, history.time_s) if len(history.time_s) > 1 else np.full((t, len(zone_names)),
                                                                                          1.0 / len(zone_names))
    if history.zone_it_kw and all(z in history.zone_it_kw for z in zone_names):
        zone_it = np.column_stack([history.zone_it_kw[z] for z in zone_names])
        total = zone_it.sum(axis=1)
        ok = np.isfinite(total) & (total > 0.0)
        shares = np.where(ok[:, None], zone_it / np.where(ok, total, 1.0)[:, None], shares)
        if it_kw is None:
            it_kw = total
    if it_kw is None:
        raise HistoryError(f"{history.source}: IT power is recorded for zones {sorted(history.zone_it_kw)} but "
                           f"facility {cfg.name} has zones {zone_names}: record it_power_kw or every zone's")
    required &= np.isfinite(drybulb) & np.isfinite(wetbulb) & np.isfinite(it_kw)
    segments = _segments(required, round(MIN_SEGMENT_S / history.dt_s))
    if not segments:
        raise HistoryError(f"{history.source}: no run of {MIN_SEGMENT_S / SECONDS_PER_HOUR:g} h with weather, IT "
                           "power and every recorded setpoint present: nothing can be replayed")
    return ReplayInputs(history.time_s, history.dt_s, np.nan_to_num(drybulb), np.nan_to_num(wetbulb),
                        np.nan_to_num(it_kw), shares, command, segments, tuple(notes))


def _segments(ok: np.ndarray, min_len: int) -> tuple[tuple[int, int], ...]:
    edges = np.diff(np.concatenate(([0], ok.astype(np.int8), [0])))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return tuple((int(a), int(b)) for a, b in zip(starts, stops, strict=True) if b - a >= min_len)


# --- the kernel ------------------------------------------------------------------------------------------------------


@jit
def _utilization_for(it_kw: float, share: np.ndarray, inlet_c: np.ndarray, p: PlantParams) -> np.ndarray:
    """(N, Z) utilization that makes each facility's zone ``z`` draw ``share[z]·it_kw`` at its inlet temperatures.

    IT power is linear in utilization at a given inlet (``it_power_kw``): with ``p0``/``p1`` the
    zone powers at utilization 0 and 1 (server fans at the zone's inlet), the utilization is
    ``(target − p0)/(p1 − p0)``, clipped to 0..1.
    """
    design = p.it_design_kw * p.zone_mask
    n, z = design.shape
    zeros = np.zeros((n, z))
    ones = np.ones((n, z))
    p0, _ = it_power_kw(design, zeros, inlet_c, p.idle_power_frac, p.server_fan_power_frac, p.server_fan_knee_c,
                        p.server_airflow_slope_per_k)
    p1, _ = it_power_kw(design, ones, inlet_c, p.idle_power_frac, p.server_fan_power_frac, p.server_fan_knee_c,
                        p.server_airflow_slope_per_k)
    target = it_kw * share[None, :] * p.zone_mask
    span = p1 - p0
    util = np.where(span > 1e-9, (target - p0) / np.maximum(span, 1e-9), 0.0)
    return np.minimum(np.maximum(util, 0.0), 1.0)


def recorded_utilization(params: PlantParams, it_kw: np.ndarray, share: np.ndarray, inlet_c: np.ndarray
                         ) -> np.ndarray:
    """(T, Z) utilization at which facility ``params`` (a batch of one) draws the recorded IT power ``it_kw`` (T,),
    shared as ``share`` (T, Z), at the recorded inlet temperatures ``inlet_c`` (T, Z): the IT work the site did,
    to drive a simulation in which each policy's inlets then set the server fans' power."""
    out = np.empty(share.shape)
    for k in range(share.shape[0]):
        out[k] = _utilization_for(float(it_kw[k]), share[k], inlet_c[k : k + 1], params)[0, : share.shape[1]]
    return out


@jit
def _replay_kernel(
    state: PlantState, p: PlantParams, command: np.ndarray, drybulb: np.ndarray, wetbulb: np.ndarray,
    it_kw: np.ndarray, share: np.ndarray, dt_s: float, warmup_steps: int, point_cols: np.ndarray,
    out_points: np.ndarray, out_meters: np.ndarray, out_inlet: np.ndarray,
) -> PlantState:
    """Step N facilities through T recorded steps, writing points (T, N, K), meters (T, N, 6), inlets (T, N, Z).

    ``warmup_steps`` steps at the first step's inputs come first (not recorded).
    """
    n = p.it_design_kw.shape[0]
    cmd = np.empty((n, command.shape[1]))
    for k in range(-warmup_steps, command.shape[0]):
        j = max(k, 0)
        for i in range(n):
            cmd[i, :] = command[j]
        util = _utilization_for(it_kw[j], share[j], state.inlet_temp_c, p)
        exo = Exogenous(np.full(n, drybulb[j]), np.full(n, wetbulb[j]), util)
        state, out = step(state, cmd, exo, p, dt_s)
        if k < 0:
            continue
        for c in range(point_cols.shape[0]):
            out_points[k, :, c] = out.measured[:, point_cols[c]]
        out_meters[k, :, 0] = out.crah_fan_kw
        out_meters[k, :, 1] = out.chiller_kw
        out_meters[k, :, 2] = out.tower_fan_kw
        out_meters[k, :, 3] = out.chw_pump_kw
        out_meters[k, :, 4] = out.cw_pump_kw
        out_meters[k, :, 5] = out.distribution_loss_kw
        out_inlet[k] = out.inlet_temp_c
    return state


def start_state(params: PlantParams, command_row: np.ndarray) -> PlantState:
    """A plant at rest under the first recorded core setpoints (legacy ones where not commanded)."""
    core = command_row[:4]
    sp = np.where(np.isnan(core), LEGACY_SETPOINTS, core)
    n = params.it_design_kw.shape[0]
    return initial_state(params, np.broadcast_to(sp, (n, 4)))


@dataclass(frozen=True)
class Replay:
    """What a replay predicts: per name, (N, T) series on the history's grid (NaN outside the segments)."""

    series: dict[str, np.ndarray]
    scored: np.ndarray
    """(T,) steps that count in comparisons."""


def replay(params: PlantParams, inputs: ReplayInputs, names: list[str] | tuple[str, ...],
           zone_names: tuple[str, ...] = ()) -> Replay:
    """Predict ``names`` (points, sub-meters, ``inlet_temp_c_<zone>``, ``non_it_power_kw``) for N facilities.

    ``params`` is a batch of N facilities with the same zones (``zone_names`` in order).
    """
    n, z = params.it_design_kw.shape
    t = inputs.n_steps
    point_names = [m for m in names if m in ALL_POINTS]
    if NON_IT_POWER in names:
        point_names += [m for m in ("facility_power_kw", "it_power_kw") if m not in point_names]
    cols = np.array([ALL_POINTS.index(m) for m in point_names], dtype=np.int64)
    out_points = np.full((t, n, len(cols)), np.nan)
    out_meters = np.full((t, n, len(METER_ORDER)), np.nan)
    out_inlet = np.full((t, n, z), np.nan)
    warmup = round(WARMUP_S / inputs.dt_s)
    for a, b in inputs.segments:
        state = start_state(params, inputs.command[a])
        _replay_kernel(state, params, inputs.command[a:b], inputs.drybulb_c[a:b], inputs.wetbulb_c[a:b],
                       inputs.it_kw[a:b], inputs.zone_share[a:b], inputs.dt_s, warmup, cols, out_points[a:b],
                       out_meters[a:b], out_inlet[a:b])
    series: dict[str, np.ndarray] = {}
    for c, m in enumerate(point_names):
        series[m] = out_points[:, :, c].T
    for c, (meter, _) in enumerate(METERS.items()):
        if meter in names:
            series[meter] = out_meters[:, :, c].T
    for j, zone in enumerate(zone_names):
        key = f"inlet_temp_c_{zone}"
        if key in names:
            series[key] = out_inlet[:, :, j].T
    if NON_IT_POWER in names:
        series[NON_IT_POWER] = series["facility_power_kw"] - series["it_power_kw"]
    return Replay({m: series[m] for m in names}, inputs.scored())


def replay_facilities(cfgs: list[FacilityConfig], inputs: ReplayInputs, names: list[str] | tuple[str, ...]) -> Replay:
    """:func:`replay` of facility configs (one batch; they must share their zones)."""
    zones = tuple(z.name for z in cfgs[0].zones)
    return replay(build_params(cfgs), inputs, names, zones)


# --- one step at a time: the drift monitor's predictor -----------------------------------------------------------


class CalibratedTwin:
    """A site's calibrated twin run beside the plant: predicts the next points from the current ones.

    Each call to :meth:`predict_next` takes the points just read (the weather and IT power are
    held over the next step: a persistence forecast) and the setpoints just written, corrects the
    twin's state with what the points measure (chilled-water supply temperature, chillers running),
    advances one step of ``dt_s`` and returns the points it expects at the next read. The drift
    monitor compares those with the next reading; a plant that no longer behaves like its facility
    file shows as a growing error.
    """

    def __init__(self, facility: FacilityConfig, dt_s: float = 300.0) -> None:
        if not 1.0 <= dt_s <= 3600.0:
            raise ValueError(f"dt_s = {dt_s} s must be in 1..3600 s")
        self.facility = facility
        self.dt_s = dt_s
        self.contract = facility.contract
        self.params = build_params([facility])
        self.names = tuple(n for n in self.contract.point_names if n in ALL_POINTS and n not in WEATHER_POINTS
                           and n not in CLOCK_POINTS)
        self._cols = np.array([ALL_POINTS.index(n) for n in self.names], dtype=np.int64)
        self._state: PlantState | None = None
        self._zone_names = tuple(z.name for z in facility.zones)

    def reset(self) -> None:
        """Forget the state: the next prediction starts with a warm-up."""
        self._state = None

    def predict_next(self, points: Mapping[str, float], setpoints: Mapping[str, float], time_s: float
                     ) -> dict[str, float]:
        """The points expected one step after ``time_s`` (s since 1 January, local standard time).

        ``points`` must hold the weather (outdoor dry bulb and wet bulb or RH) and ``it_power_kw``;
        ``setpoints`` are those written this cycle (a setpoint left out runs on the plant's sequence).
        """
        missing = [n for n in ("outdoor_drybulb_c", "it_power_kw") if not _finite(points.get(n))]
        if missing:
            raise ValueError(f"predict_next needs the points {missing} (finite)")
        drybulb = float(points["outdoor_drybulb_c"])
        wetbulb = points.get("outdoor_wetbulb_c")
        rh = points.get("outdoor_rh_pct")
        if not _finite(wetbulb):
            if not _finite(rh):
                raise ValueError("predict_next needs outdoor_wetbulb_c or outdoor_rh_pct (finite)")
            wetbulb = float(wet_bulb_c(drybulb, float(rh)))  # type: ignore[arg-type]
        unknown = [n for n in setpoints if n not in self.contract.setpoints_by_name]
        if unknown:
            raise ValueError(f"setpoints {unknown} are not setpoints of facility {self.facility.name}")
        command = np.full((1, N_LEVERS), np.nan)
        for name, value in setpoints.items():
            command[0, LEVERS.index(name)] = float(value)
        state = self._state
        warmup = 0
        if state is None:
            state = start_state(self.params, command[0])
            warmup = round(WARMUP_S / self.dt_s)
        state = self._corrected(state, points)
        z = len(self._zone_names)
        share = profile_shares(self.facility, np.array([time_s, time_s + self.dt_s]))[:1]
        out_points = np.empty((1, 1, len(self._cols)))
        out_meters = np.empty((1, 1, len(METER_ORDER)))
        out_inlet = np.empty((1, 1, z))
        self._state = _replay_kernel(
            state, self.params, command, np.array([drybulb]), np.array([float(wetbulb)]),  # type: ignore[arg-type]
            np.array([float(points["it_power_kw"])]), share, self.dt_s, warmup, self._cols, out_points, out_meters,
            out_inlet)
        return dict(zip(self.names, out_points[0, 0].tolist(), strict=True))

    def _corrected(self, state: PlantState, points: Mapping[str, float]) -> PlantState:
        chw = points.get("chw_supply_temp_c")
        running = points.get("chillers_running")
        if _finite(chw):
            state = state._replace(chw_supply_c=np.array([float(chw)]))  # type: ignore[arg-type]
        if _finite(running):
            state = state._replace(chillers_on=np.array([round(float(running))], dtype=np.float64))  # type: ignore[arg-type]
        return state


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(float(value))
