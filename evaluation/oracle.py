"""The oracle: a receding-horizon planner of setpoint trajectories on the simulator itself.

What it optimizes. Every ``replan_h`` hours it plans time-varying trajectories of every setpoint
of the facility's contract (the rule-based settings name them) over the next ``horizon_h`` hours,
and the plant follows the plan until the next replan. A plan is a set of knots per setpoint
(every ``knot_h`` hours, then every ``tail_knot_h`` hours beyond ``detail_h``), linear in between;
a discrete lever (``economizer_enable``) holds each knot's 0/1 until the next. The plan minimizes
the objective (:class:`coolpilot.envs.objectives.Objective`: energy, cost with the demand charge on
rises of the billing peak, or carbon, each with wear per setpoint move and per chiller start, priced
as :class:`coolpilot.envs.objectives.StepCost` prices them, a billing period's first demand included)
plus a terminal charge for heat left in the plant's thermal masses (a storage tank's cold at the cheapest cost
of making cold over the horizon: a tank recharges in the cheap hours), subject to a hard thermal limit:
a plan whose hottest server inlet exceeds ``27 °C − margin_k`` at any planning step loses to every plan that does not.

The terminal charge prices the heat a plan leaves stored (or the cold it borrows) at what the plant
spends per unit of heat removed (chillers, towers and pumps over the heat they reject) in the last
hour of the rule-based trajectory: near zero on free cooling, about 1/COP on chillers. Without it a
plan could look cheap by borrowing cold from the zones and the chilled-water loop and leaving the
bill to the next plan; a fixed 0.12 kWh/kWh (the previous oracle's) over-rewarded stored cold on
free cooling, where cooling costs almost nothing, and plans over-cooled in winter.

How. Candidates are rolled out from the true plant state with the true future weather and IT load
(perfect knowledge) through :func:`coolpilot.envs.physics.plant.step` itself, the whole population
as one batch, inside one compiled loop over the horizon (:func:`_rollout`). The hours the plant
will follow (``exact_h``, default ``replan_h``) step at the plant's own step, so the plant does
exactly what the rollout predicted and the thermal limit holds on the plant, not just in the model;
beyond, the model steps ``step_min`` (15 min: over two days of rule-based control this coarser
step reproduces the plant's facility energy to 2e-6 and each hour's to 0.7 %), then
``tail_step_min`` beyond ``detail_h``. The search (:class:`OraclePolicy`) is a batched pattern
search over the knots, warm-started from the last plan shifted in time; the first population holds
the rule-based controller's closed-loop trajectory (its law runs inside the rollout step by step,
from the tape :func:`rule_tape` traces from
:func:`coolpilot.controller.policies.rule_based.rule_based_law`), the current setpoints held
constant and the last plan shifted.

Why it is a fair ceiling. It faces the same plant, actuator slew rates, bounds, sequencer timers
and thermal limit as every policy, and it knows what no causal policy can: the model, the weather
and the load. Because rule-based control's own trajectory is always a candidate, each plan is at
least as good as rule-based control over its horizon on the planning model. It is not a proof of
optimality (finite horizon, local search), so its savings are a lower bound on what is
achievable and "share of the oracle's saving captured" is a conservative measure.

Convergence is reported per replan (:class:`PlannerDiagnostics`, the ``diagnostics`` attribute):
the best cost after the seeds and after each iteration, so the relative improvement of the last
iteration shows whether more search would still pay.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from coolpilot.controller.policies import RuleBasedSettings
from coolpilot.controller.policies.rule_based import plant_lever_law, rule_based_law
from coolpilot.envs.contract import INLET_LIMIT_C, LEVERS, SETPOINT_SPECS
from coolpilot.envs.objectives import BILLING_PERIOD_S, DEMAND_WINDOW_S, GridSignals, Objective, StepCost
from coolpilot.envs.physics._jit import jit
from coolpilot.envs.physics.plant import (
    FAN,
    O_CASE_EXCESS_K,
    O_CASE_TEMP_MAX_C,
    O_HEAT_PUMP_KW,
    SAT,
    Exogenous,
    PlantParams,
    PlantState,
    step,
)
from coolpilot.envs.physics.storage import VOLUME as TANK_VOLUME
from coolpilot.envs.simulation import ExoSeries
from coolpilot.envs.units import SECONDS_PER_DAY, SECONDS_PER_HOUR
from coolpilot.envs.vector import PARALLEL_MIN_ENVS, take_params

STORAGE_HORIZON_H = 24.0
"""Planning horizon (h) on a facility with a storage tank: its value shows over a day (valley charge, peak
discharge)."""


def planning_horizon_h(has_storage: bool) -> float:
    """The planner's horizon (h) for a facility: the default, or :data:`STORAGE_HORIZON_H` with a storage tank."""
    return STORAGE_HORIZON_H if has_storage else OraclePolicy.horizon_h


INFEASIBLE = 1.0e12
"""Score of a plan that breaks the thermal limit, times one plus its worst excess (K): it loses to any feasible plan."""

# --- the rule-based law as a tape ----------------------------------------------------------------

_ADD, _SUB, _MUL, _MIN, _MAX, _GT, _LT, _WHERE = range(8)

RULE_INPUTS = ("inlet_temp_max_c", "supply_air_temp_c", "sat_prev", "fan_prev", "outdoor_wetbulb_c",
               "chw_return_temp_c", "chw_flow_frac", "tes_soc", "time_of_day_sin", "time_of_day_cos",
               "case_temp_max_c")
"""Tape input registers, in order: the points the rule-based law reads and its two integrator states."""

RULE_POINT_OUTPUTS = {"inlet_temp_max_c": "inlet_temp_max_c", "supply_air_temp_c": "supply_air_temp_c",
                      "chw_return_temp_c": "chw_return_c", "chw_flow_frac": "chw_flow_frac", "tes_soc": "tes_soc",
                      "case_temp_max_c": "case_temp_max_c"}
"""The plant output behind each point the rule-based law reads (``outdoor_wetbulb_c`` is the weather's);
tests check these against :func:`coolpilot.envs.facility.points_array`."""


@dataclass(frozen=True)
class Reg:
    """A register of a :class:`RuleTape` under construction."""

    index: int


class _TapeOps:
    """:class:`coolpilot.controller.policies.rule_based.LawOps` over registers: each operation appends one
    instruction, so running the law once records it (as ``training/export.py`` records it as ONNX nodes)."""

    def __init__(self, n_inputs: int) -> None:
        self.n_registers = n_inputs
        self.constants: dict[float, int] = {}
        self.code: list[tuple[int, int, int, int, int]] = []

    def ref(self, x: Reg | float) -> int:
        """The register holding ``x`` (a number gets a constant register)."""
        if isinstance(x, Reg):
            return x.index
        value = float(x)
        if value not in self.constants:
            self.constants[value] = self.n_registers
            self.n_registers += 1
        return self.constants[value]

    def _emit(self, op: int, a: Reg | float, b: Reg | float, c: Reg | float = 0.0) -> Reg:
        ra, rb, rc = self.ref(a), self.ref(b), self.ref(c)
        out = self.n_registers
        self.code.append((op, ra, rb, rc, out))
        self.n_registers += 1
        return Reg(out)

    def add(self, a: Reg | float, b: Reg | float) -> Reg:
        return self._emit(_ADD, a, b)

    def sub(self, a: Reg | float, b: Reg | float) -> Reg:
        return self._emit(_SUB, a, b)

    def mul(self, a: Reg | float, b: Reg | float) -> Reg:
        return self._emit(_MUL, a, b)

    def minimum(self, a: Reg, b: float) -> Reg:
        return self._emit(_MIN, a, b)

    def maximum(self, a: Reg, b: float) -> Reg:
        return self._emit(_MAX, a, b)

    def greater(self, a: Reg, b: float) -> Reg:
        return self._emit(_GT, a, b)

    def less(self, a: Reg, b: Reg) -> Reg:
        return self._emit(_LT, a, b)

    def where(self, condition: Reg, a: Reg | float, b: Reg) -> Reg:
        return self._emit(_WHERE, condition, a, b)


@dataclass(frozen=True)
class RuleTape:
    """The rule-based law of one set of settings as straight-line code over a register file.

    ``code`` rows are (operation, a, b, c, out); ``registers`` is the initial register file
    (inputs :data:`RULE_INPUTS` first, then constants); ``outputs`` are the registers of the
    setpoints ``setpoint_names`` (the settings' order).
    """

    code: np.ndarray
    registers: np.ndarray
    outputs: np.ndarray
    setpoint_names: tuple[str, ...]


def rule_tape(settings: RuleBasedSettings) -> RuleTape:
    """Trace :func:`rule_based_law` and :func:`plant_lever_law` for ``settings`` into a :class:`RuleTape`.

    The tape computes exactly what :func:`coolpilot.controller.policies.rule_based.rule_based_batch`
    computes (same operations in the same order, tested bit for bit), so the planner can run the
    rule-based controller's closed loop inside its compiled rollout.
    """
    ops = _TapeOps(len(RULE_INPUTS))
    inlet, supply, sat_prev, fan_prev, wetbulb, chw_return, chw_flow, soc, sin, cos, case = (
        Reg(i) for i in range(len(RULE_INPUTS)))
    core = rule_based_law(ops, settings, inlet, supply, sat_prev, fan_prev, wetbulb, chw_return)
    flow = chw_flow if "chw_dp_setpoint_frac" in settings.levers else None
    storage = (soc, sin, cos) if "tes_rate_frac" in settings.levers else None
    warm_water = "fws_supply_temp_c" in settings.levers or "tcs_supply_temp_c" in settings.levers
    levers = plant_lever_law(ops, settings, ops.greater(inlet, settings.guard_c), wetbulb, chw_return, flow, storage,
                             case if warm_water else None)
    outputs = [ops.ref(v) for v in (*core, *levers.values())]
    registers = np.zeros(ops.n_registers)
    for value, index in ops.constants.items():
        registers[index] = value
    code = np.array(ops.code, dtype=np.int64).reshape(-1, 5)
    return RuleTape(code, registers, np.array(outputs, dtype=np.int64), settings.setpoint_names)


@jit
def run_tape(code: np.ndarray, registers: np.ndarray) -> None:
    """Execute a :class:`RuleTape`'s code on ``registers`` in place (numpy's semantics, NaN included)."""
    for i in range(code.shape[0]):
        op, a, b, c, out = code[i, 0], code[i, 1], code[i, 2], code[i, 3], code[i, 4]
        x, y = registers[a], registers[b]
        if op == _ADD:
            r = x + y
        elif op == _SUB:
            r = x - y
        elif op == _MUL:
            r = x * y
        elif op == _MIN:
            r = x if (x < y or x != x) else y
        elif op == _MAX:
            r = x if (x > y or x != x) else y
        elif op == _GT:
            r = 1.0 if x > y else 0.0
        elif op == _LT:
            r = 1.0 if x < y else 0.0
        else:
            r = y if x != 0.0 else registers[c]
        registers[out] = r


def evaluate_tape(tape: RuleTape, inputs: Sequence[float]) -> np.ndarray:
    """The setpoints (in ``tape.setpoint_names`` order) for one set of :data:`RULE_INPUTS` values."""
    registers = tape.registers.copy()
    registers[: len(RULE_INPUTS)] = inputs
    run_tape(tape.code, registers)
    return registers[tape.outputs]


# --- the batched rollout ---------------------------------------------------------------------------

_WEAR_MOVE, _WEAR_START, _DEMAND_RATE, _PEAK0, _FILLED, _LIMIT = range(6)
"""Slots of the rollout's ``coefficients`` vector."""


@jit
def _rollout(
    state: PlantState, params: PlantParams, commands: np.ndarray, dt_s: np.ndarray, drybulb: np.ndarray,
    wetbulb: np.ndarray, utilization: np.ndarray, weight: np.ndarray, new_period: np.ndarray, last_hour: np.ndarray,
    clock: np.ndarray, lever_cols: np.ndarray, span: np.ndarray, last: np.ndarray, code: np.ndarray,
    registers: np.ndarray, outputs: np.ndarray, rule_lane: int, coefficients: np.ndarray, window: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cost, worst inlet excess (K), stored heat (kJ), the last hour's plant energy and heat (kWh), the heat stored
    in a storage tank (kJ, part of the stored heat) and the cheapest cost of removing heat (objective units per
    kWh, the plant's energy × weight over the heat it removed, lowest over the steps; the rule-based lane's
    only, infinite for the others) of P lanes.

    ``commands`` (H, P, 9) are the lanes' lever commands over H planning steps (NaN: the plant's own
    sequence); lane ``rule_lane`` (if ≥ 0) is driven by the rule-based tape instead, closed loop, and
    its commands are written back into ``commands``. Per step: ``dt_s`` (s), the step-mean weather and
    utilization, ``weight`` (objective units per kWh), ``new_period`` (a billing period starts),
    ``last_hour`` (the step is in the horizon's last hour), ``clock`` (H, 2) the sin and cos of the time of
    day at the step's end (what the rule-based lane's storage schedule reads). ``last`` (P, K) are the
    setpoints commanded before the plan (for travel), ``span`` (K,) their spans. The cost is
    :class:`coolpilot.envs.objectives.StepCost`'s: energy × weight, the demand rate on each rise of the
    billing peak (the 15-minute mean power, over the meter's ``window`` of plant-step powers, the last
    ``coefficients[_FILLED]`` of them filled, for steps shorter than 15 minutes), wear per move and per
    start; unlike StepCost, which lets an episode start without paying for the peak it inherits, a
    billing period's first demand is paid too, so no plan sets a high peak for free (the bill charges
    the whole peak). The plant energy (chillers, towers, pumps) and the heat it removed over the last
    hour price the heat a plan leaves stored (the terminal charge).
    """
    n_steps, n_lanes = commands.shape[0], commands.shape[1]
    n_levers = lever_cols.shape[0]
    n_zones = utilization.shape[1]
    cost = np.zeros(n_lanes)
    excess = np.full(n_lanes, -np.inf)
    stored = np.zeros(n_lanes)
    plant_kwh = np.zeros(n_lanes)
    heat_kwh = np.zeros(n_lanes)
    tank = np.zeros(n_lanes)
    cheapest = np.full(n_lanes, np.inf)
    peak = np.full(n_lanes, coefficients[_PEAK0])
    width = window.shape[0]
    windows = np.empty((n_lanes, width))
    for p in range(n_lanes):
        windows[p] = window
    filled = int(coefficients[_FILLED])
    prev = last.copy()
    s = state
    for t in range(n_steps):
        cmd = commands[t]
        if rule_lane >= 0:
            run_tape(code, registers)
            for i in range(n_levers):
                cmd[rule_lane, lever_cols[i]] = registers[outputs[i]]
            registers[2] = registers[outputs[0]]
            registers[3] = registers[outputs[1]]
        util = np.empty((n_lanes, n_zones))
        for p in range(n_lanes):
            util[p] = utilization[t]
        e = Exogenous(np.full(n_lanes, drybulb[t]), np.full(n_lanes, wetbulb[t]), util)
        s, out = step(s, cmd, e, params, dt_s[t])
        if rule_lane >= 0:
            registers[0] = out.inlet_temp_max_c[rule_lane]
            registers[1] = out.supply_air_temp_c[rule_lane]
            registers[4] = wetbulb[t]
            registers[5] = out.chw_return_c[rule_lane]
            registers[6] = out.chw_flow_frac[rule_lane]
            registers[7] = out.tes_soc[rule_lane]
            registers[8] = clock[t, 0]
            registers[9] = clock[t, 1]
            registers[10] = out.liquid_out[rule_lane, O_CASE_TEMP_MAX_C]
        if new_period[t]:
            peak[:] = 0.0
        hours = dt_s[t] / 3600.0
        whole = dt_s[t] * width >= DEMAND_WINDOW_S * (1.0 - 1e-9)
        filled = width if whole else min(filled + 1, width)
        for p in range(n_lanes):
            power = out.facility_kw[p] + out.liquid_out[p, O_HEAT_PUMP_KW]  # a heat pump's electricity is bought too
            if whole:
                windows[p, :] = power
            else:
                windows[p, :-1] = windows[p, 1:].copy()
                windows[p, -1] = power
            demand = windows[p, width - filled :].sum() / filled
            rise = max(demand - peak[p], 0.0)
            peak[p] = max(peak[p], demand)
            travel = 0.0
            for i in range(n_levers):
                travel += abs(cmd[p, lever_cols[i]] - prev[p, i]) / span[i]
                prev[p, i] = cmd[p, lever_cols[i]]
            cost[p] += (power * hours * weight[t] + coefficients[_DEMAND_RATE] * rise
                        + coefficients[_WEAR_MOVE] * travel + coefficients[_WEAR_START] * out.chiller_starts[p])
            stored[p] += out.stored_heat_change_kj[p]
            tank[p] += out.tes_heat_change_kj[p]
            excess[p] = max(excess[p], out.inlet_temp_max_c[p] - coefficients[_LIMIT])
            case_excess = out.liquid_out[p, O_CASE_EXCESS_K]
            if case_excess > 0.0:  # a GPU case over its limit makes the plan infeasible too
                excess[p] = max(excess[p], case_excess)
            if p == rule_lane or last_hour[t]:
                plant_step = (out.chiller_kw[p] + out.tower_fan_kw[p] + out.chw_pump_kw[p]
                              + out.cw_pump_kw[p]) * hours
                heat_step = (out.economizer_kw[p] + out.chiller_load_kw[p]) * hours
                if p == rule_lane and heat_step > 1e-6:
                    cheapest[p] = min(cheapest[p], plant_step * weight[t] / heat_step)
                if last_hour[t]:
                    plant_kwh[p] += plant_step
                    heat_kwh[p] += heat_step
    return cost, excess, stored, plant_kwh, heat_kwh, tank, cheapest


_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    """Two threads for populations of :data:`coolpilot.envs.vector.PARALLEL_MIN_ENVS` lanes or more."""
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="coolpilot-oracle")
    return _POOL


# --- diagnostics -------------------------------------------------------------------------------------

SOURCES = ("rule-based", "hold", "previous", "search")
"""Where a replan's chosen plan came from: the rule-based trajectory, the current setpoints held, the last
plan shifted, or a plan the search drew."""


@dataclass
class PlannerDiagnostics:
    """Per replan: when, the best cost after the seeds and after each iteration, and which plan won.

    Costs are in the objective's unit over the horizon (kWh, currency or t CO2e), terminal charge
    included, on the planning model; an infeasible best counts :data:`INFEASIBLE`.
    """

    step: list[int] = field(default_factory=list)
    best_by_iteration: list[list[float]] = field(default_factory=list)
    rule_cost: list[float] = field(default_factory=list)
    source: list[str] = field(default_factory=list)
    feasible: list[bool] = field(default_factory=list)

    def record(self, k: int, best: list[float], rule: float, source: str, feasible: bool) -> None:
        """Add one replan."""
        self.step.append(k)
        self.best_by_iteration.append(best)
        self.rule_cost.append(rule)
        self.source.append(source)
        self.feasible.append(feasible)

    def last_iteration_gain(self) -> np.ndarray:
        """Relative cost improvement of each replan's last iteration over the best before it (≥ 0)."""
        return np.array([(b[-2] - b[-1]) / max(abs(b[-1]), 1e-12) for b in self.best_by_iteration])

    def summary(self) -> dict[str, Any]:
        """Replans, the last iteration's relative gain (mean, max), gain over the rule-based trajectory, wins."""
        n = len(self.step)
        if n == 0:
            return {"replans": 0}
        last = self.last_iteration_gain()
        best = np.array([b[-1] for b in self.best_by_iteration])
        rule = np.array(self.rule_cost)
        ok = np.array(self.feasible) & (rule < INFEASIBLE)
        gain = (rule[ok] - best[ok]) / np.maximum(np.abs(rule[ok]), 1e-12)
        return {
            "replans": n,
            "iterations": len(self.best_by_iteration[0]) - 1,
            "last_iteration_gain_mean": float(last.mean()),
            "last_iteration_gain_max": float(last.max()),
            "gain_over_rule_based_mean": float(gain.mean()) if gain.size else 0.0,
            "infeasible_replans": int(n - np.count_nonzero(self.feasible)),
            "chosen": {s: int(self.source.count(s)) for s in SOURCES},
        }


# --- the planner -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanGrid:
    """The planning model's time grid from a replan: rollout steps (H) and knots (M).

    The first ``exact_h`` hours step at the plant's own step, so what the plant does under the
    plan is what the rollout predicted, bit for bit; then steps of ``step_min`` up to ``detail_h``,
    then of ``tail_step_min``. Knots every ``knot_h`` hours up to ``detail_h``, then every
    ``tail_knot_h``, and one at the horizon's end.
    """

    dt_s: np.ndarray
    """(H,) rollout step lengths (s)."""
    start_h: np.ndarray
    """(H,) rollout step starts after the replan (h)."""
    fine_start: np.ndarray
    """(H,) first plant step of each rollout step, counted from the replan."""
    fine_count: np.ndarray
    """(H,) plant steps in each rollout step."""
    knots_h: np.ndarray
    """(M,) knot times after the replan (h)."""
    linear: np.ndarray
    """(H, M) linear interpolation weights of continuous setpoints at each step's start."""
    hold: np.ndarray
    """(H, M) zero-order hold of discrete setpoints (each knot's value until the next)."""
    knot_step: np.ndarray
    """(M,) the rollout step in force at each knot time."""
    last_hour: np.ndarray
    """(H,) steps starting in the horizon's last hour (they price the heat left stored)."""


def plan_grid(horizon_h: float, exact_h: float, step_min: float, detail_h: float, tail_step_min: float,
              knot_h: float, tail_knot_h: float, plant_dt_s: float) -> PlanGrid:
    """The :class:`PlanGrid` of these settings for a plant stepping every ``plant_dt_s`` seconds."""
    n_exact = round(exact_h * SECONDS_PER_HOUR / plant_dt_s)
    detail = max(min(horizon_h, detail_h), exact_h)
    n_detail = max(math.ceil((detail - exact_h) * 60.0 / step_min - 1e-9), 0)
    done_h = exact_h + n_detail * step_min / 60.0
    n_tail = max(math.ceil((horizon_h - done_h) * 60.0 / tail_step_min - 1e-9), 0)
    dt = np.array([plant_dt_s] * n_exact + [step_min * 60.0] * n_detail + [tail_step_min * 60.0] * n_tail)
    start = np.concatenate([[0.0], np.cumsum(dt)[:-1]]) / SECONDS_PER_HOUR
    fine_count = np.rint(dt / plant_dt_s).astype(np.int64)
    fine_start = np.concatenate([[0], np.cumsum(fine_count)[:-1]]).astype(np.int64)
    end_h = float(dt.sum()) / SECONDS_PER_HOUR
    knots = list(np.arange(0.0, min(detail, end_h) + 1e-9, knot_h))
    t = knots[-1] + tail_knot_h
    while t < end_h - 1e-9:
        knots.append(t)
        t += tail_knot_h
    if knots[-1] < end_h - 1e-9:
        knots.append(end_h)
    knots_h = np.array(knots)
    m = len(knots_h)
    linear = np.zeros((len(dt), m))
    hold = np.zeros((len(dt), m))
    for j, x in enumerate(start):
        i = min(int(np.searchsorted(knots_h, x + 1e-9, side="right")) - 1, m - 1)
        hold[j, i] = 1.0
        if i == m - 1:
            linear[j, i] = 1.0
        else:
            w = (x - knots_h[i]) / (knots_h[i + 1] - knots_h[i])
            linear[j, i], linear[j, i + 1] = 1.0 - w, w
    knot_step = np.minimum(np.searchsorted(start, knots_h + 1e-9, side="right") - 1, len(dt) - 1)
    return PlanGrid(dt, start, fine_start, fine_count, knots_h, linear, hold, knot_step,
                    start >= end_h - 1.0 - 1e-9)


class _Horizon(NamedTuple):
    """The known future over one plan's rollout steps (H,): step means of the plant's exogenous inputs."""

    drybulb_c: np.ndarray
    wetbulb_c: np.ndarray
    utilization: np.ndarray  # (H, Z)
    weight: np.ndarray
    """Objective units per kWh (1 for energy, the price or grid factor per kWh otherwise)."""
    new_period: np.ndarray
    """A billing period starts with the step."""
    last_hour: np.ndarray
    """The step starts in the horizon's last hour."""
    clock: np.ndarray
    """(H, 2) sin and cos of the time of day at the step's end (2π·hour/24)."""


def _check(name: str, value: float, low: float, high: float, unit: str) -> None:
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"OraclePolicy.{name} = {value} {unit}: must be in [{low:g}, {high:g}] {unit}".rstrip())


@dataclass
class OraclePolicy:
    """Receding-horizon, perfect-knowledge trajectory planner (see the module docstring).

    Runs only inside :func:`coolpilot.envs.simulation.simulate` (it needs the plant: ``bind`` then
    ``plan``). Seeded: the same arguments and seed give the same plans, bit for bit.

    The search per replan is a batched pattern search over the knots, warm-started: around the
    incumbent (the last plan shifted in time), each continuous setpoint moves up and down by its
    step over the whole horizon, over the hours the plant will follow, and over the rest; a discrete
    setpoint flips over the same three spans; the sum of the last replan's improving moves is tried
    too, and the rest of the population are draws around the incumbent. Every move of one replan is
    one lane of one batched rollout. A setpoint's step grows (× 1.3) when one of its moves improved
    and shrinks (× 0.7) when none did; steps carry over from replan to replan.
    """

    rule_settings: RuleBasedSettings = field(default_factory=RuleBasedSettings)
    objective: Objective = field(default_factory=Objective)
    """What a plan costs: energy (default), cost (with ``signals``' tariff and demand charge) or carbon."""
    signals: GridSignals | None = None
    """Hourly price and grid factor for the cost and carbon objectives (default flat)."""
    horizon_h: float = 3.0
    """How far each plan looks ahead (h, 0.5–24)."""
    replan_h: float = 1.0
    """Hours between replans (h, at most the horizon): the plant follows each plan this long."""
    exact_h: float | None = None
    """Hours planned at the plant's own step (default ``replan_h``: the plant does what the plan predicted)."""
    step_min: float = 15.0
    """The planning model's step after ``exact_h`` up to ``detail_h`` (min, a multiple of the plant's step)."""
    detail_h: float = 6.0
    """Hours planned at ``step_min`` with knots every ``knot_h``; beyond, ``tail_step_min`` and ``tail_knot_h``."""
    tail_step_min: float = 60.0
    knot_h: float = 1.0
    tail_knot_h: float = 3.0
    population: int | None = None
    """Plans per iteration, rolled out in one batch (at least the seeds and moves: 6 per continuous setpoint);
    default 64 (every hall up to the storage hall's 10 levers), or the seeds and moves plus 8 draws for a contract
    with more (an AI factory's 12)."""
    iterations: int = 1
    """Pattern-search iterations per replan (each one batched rollout of the population)."""
    step_frac: float = 0.05
    """Initial move of each continuous setpoint, as a fraction of its span (moves stay in 0.5–25 % of it)."""
    margin_k: float = 0.2
    """Plans keep every inlet at or below ``27 °C − margin_k`` at every planning step (K)."""
    seed: int = 0
    name: str = "oracle"
    diagnostics: PlannerDiagnostics = field(default_factory=PlannerDiagnostics)
    """Convergence per replan (reset with the policy)."""

    def __post_init__(self) -> None:
        _check("horizon_h", self.horizon_h, 0.5, 24.0, "h")
        _check("replan_h", self.replan_h, 1.0 / 60.0, self.horizon_h, "h")
        exact = self.replan_h if self.exact_h is None else self.exact_h
        _check("exact_h", exact, 0.0, self.horizon_h, "h")
        _check("step_min", self.step_min, 1.0, 60.0, "min")
        _check("detail_h", self.detail_h, 0.25, 24.0, "h")
        _check("tail_step_min", self.tail_step_min, self.step_min, 240.0, "min")
        _check("knot_h", self.knot_h, self.step_min / 60.0, 24.0, "h")
        _check("tail_knot_h", self.tail_knot_h, self.knot_h, 24.0, "h")
        _check("iterations", self.iterations, 1, 50, "")
        _check("step_frac", self.step_frac, 0.005, 0.25, "")
        _check("margin_k", self.margin_k, -10.0, 10.0, "K")
        self._names = self.rule_settings.setpoint_names
        self._cols = np.array([LEVERS.index(n) for n in self._names], dtype=np.int64)
        self._discrete = np.array([SETPOINT_SPECS[n].discrete for n in self._names])
        n_moves = 6 * int((~self._discrete).sum()) + 3 * int(self._discrete.sum())
        least = n_moves + 6
        self._population = (64 if least <= 64 else least + 8) if self.population is None else self.population
        _check("population", self._population, n_moves + 6, 8192, "plans")
        self._exact_h = exact
        self._tape = rule_tape(self.rule_settings)
        self._bound_c = INLET_LIMIT_C - self.margin_k
        self.reset()

    # --- the PlantAwarePolicy protocol -----------------------------------------------------------

    def reset(self) -> None:
        """Forget the plan, the steps, the diagnostics and the billing peak; restart the generator."""
        self._plan: np.ndarray | None = None
        self._combined: np.ndarray | None = None
        self._k0 = 0
        self._last: np.ndarray | None = None
        self._steps: np.ndarray | None = None
        self._meter: StepCost | None = None
        self._rng = np.random.default_rng(self.seed)
        self.diagnostics = PlannerDiagnostics()
        self._bound: tuple[PlantParams, PlantParams, ExoSeries, float, PlanGrid] | None = None

    def bind(self, params: PlantParams, exo: ExoSeries, dt_s: float) -> None:
        """Perfect knowledge: the plant's parameters and the whole future of weather and load."""
        if params.it_design_kw.shape[0] != 1:
            raise ValueError("the oracle plans one facility at a time")
        if (params.tes[:, TANK_VOLUME] > 0.0).any() and self.horizon_h < STORAGE_HORIZON_H:
            logging.getLogger(__name__).warning(
                "the oracle plans %g h ahead on a facility with a storage tank: a tank's value shows over a day "
                "(charge in the valley, discharge at the peak); plan 24 h ahead (horizon_h=24) for a ceiling",
                self.horizon_h)
        for name, seconds in (("exact_h", self._exact_h * SECONDS_PER_HOUR), ("step_min", self.step_min * 60.0),
                              ("tail_step_min", self.tail_step_min * 60.0)):
            ratio = seconds / dt_s
            if abs(ratio - round(ratio)) > 1e-9:
                raise ValueError(f"OraclePolicy.{name} must be a multiple of the plant's step ({dt_s:g} s)")
        grid = plan_grid(self.horizon_h, self._exact_h, self.step_min, self.detail_h, self.tail_step_min,
                         self.knot_h, self.tail_knot_h, dt_s)
        lanes = take_params(params, np.zeros(self._population, dtype=np.int64))
        self._bound = (params, lanes, exo, dt_s, grid)
        self._low = params.setpoint_low[0, self._cols]
        self._high = params.setpoint_high[0, self._cols]
        self._lower = np.where(self._discrete, 0.0, self._low)
        self._upper = np.where(self._discrete, 1.0, self._high)
        head = (grid.knots_h <= self.replan_h + 1e-9).astype(np.float64)
        shapes = [x for x in (np.ones_like(head), head, 1.0 - head) if x.any()]
        table = [(j, x, sign) for j in range(len(self._names)) for x in shapes
                 for sign in ((0.0,) if self._discrete[j] else (1.0, -1.0))]
        self._move_owner = np.array([t[0] for t in table], dtype=np.int64)
        self._move_shape = np.array([t[1] for t in table])
        self._move_sign = np.array([t[2] for t in table])
        self._move_groups = [np.flatnonzero(self._move_owner == j) for j in range(len(self._names))]
        self._span = np.array([SETPOINT_SPECS[n].high - SETPOINT_SPECS[n].low for n in self._names])
        signals = self.signals or GridSignals.flat()
        self._meter = StepCost(self.objective, signals, params.it_design_kw.sum(axis=1), dt_s)
        self._meter.reset(np.array([0]), exo.time_s[0:1])
        kind = self.objective.kind
        hourly = signals.sample(exo.time_s)
        self._weight = {"energy": np.ones(len(exo.time_s)), "cost": hourly[:, 0] / 1000.0,
                        "carbon": hourly[:, 2] / 1000.0}[kind]
        unit = self._meter.unit_per_kwh
        self._unit_per_kwh = unit
        rate = signals.demand_charge_per_kw_month if kind == "cost" and self.objective.demand_charge else 0.0
        self._priced_demand = rate > 0.0
        self._coefficients = np.array([self.objective.wear_kwh_per_move * unit,
                                       self.objective.wear_kwh_per_start * unit, rate, 0.0, 0.0, self._bound_c])

    def act(self, points: Mapping[str, float]) -> dict[str, float]:
        """The oracle needs the plant: it runs only inside ``coolpilot.envs.simulation.simulate``."""
        raise RuntimeError("the oracle plans on the simulator; run it with coolpilot.envs.simulation.simulate")

    def plan(self, state: PlantState, k: int, points: Mapping[str, float]) -> dict[str, float]:
        """Setpoints for step ``k``: replan every ``replan_h`` hours, else follow the plan."""
        if self._bound is None or self._meter is None:
            raise RuntimeError("call bind() before plan()")
        _, _, exo, dt_s, grid = self._bound
        if k >= 1 and self._priced_demand:
            self._meter.price(np.array([points["facility_power_kw"]]), exo.time_s[k : k + 1], np.zeros(1),
                              np.zeros(1))
        offset = k - self._k0
        if self._plan is None or offset * dt_s >= self.replan_h * SECONDS_PER_HOUR - 1e-6:
            self._replan(state, k, points)
            offset = 0
        assert self._plan is not None
        j = min(int(np.searchsorted(grid.fine_start, offset, side="right")) - 1, len(self._plan) - 1)
        values = self._plan[j]
        self._last = values
        return dict(zip(self._names, values.tolist(), strict=True))

    # --- the search ------------------------------------------------------------------------------

    def _exogenous(self, k: int) -> _Horizon:
        """Step-mean dry bulb, wet bulb, utilization and price weight of each rollout step from plant step k + 1,
        and where a billing period starts (a single plant step's values are taken as they are, not averaged)."""
        assert self._bound is not None and self._meter is not None
        _, _, exo, _, g = self._bound
        n = len(exo.time_s)
        total = int(g.fine_start[-1] + g.fine_count[-1])
        idx = np.minimum(k + 1 + np.arange(total), n - 1)
        count = g.fine_count.astype(np.float64)

        def mean(x: np.ndarray) -> np.ndarray:
            sums = np.add.reduceat(x[idx], g.fine_start, axis=0)
            return sums / (count if sums.ndim == 1 else count[:, None])

        first = idx[g.fine_start]
        crossing = exo.time_s[first] - self._meter.period_start_s[0] >= BILLING_PERIOD_S
        new_period = crossing & ~np.concatenate([[False], crossing[:-1]])
        angle = (2.0 * np.pi / SECONDS_PER_DAY) * (exo.time_s[idx[g.fine_start + g.fine_count - 1]] % SECONDS_PER_DAY)
        return _Horizon(mean(exo.drybulb_c), mean(exo.wetbulb_c), mean(exo.utilization), mean(self._weight),
                        new_period, g.last_hour, np.stack([np.sin(angle), np.cos(angle)], axis=1))

    def _commands(self, knots: np.ndarray) -> np.ndarray:
        """Commands (n, H, K) of plans given by knots (n, M, K)."""
        assert self._bound is not None
        g = self._bound[4]
        linear = np.einsum("hm,nmk->nhk", g.linear, knots)
        held = np.einsum("hm,nmk->nhk", g.hold, knots)
        # Interpolating between knots at a bound can round just past it: clip.
        return np.where(self._discrete, np.where(held >= 0.5, 1.0, 0.0), np.clip(linear, self._lower, self._upper))

    def _evaluate(self, state: PlantState, lanes: np.ndarray, exo: _Horizon, rule: bool,
                  points: Mapping[str, float]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, np.ndarray, float]:
        """Cost (P,), worst excess (P,), stored heat (P,, kJ), commands (P, H, K) of plans (P, H, K), the plant's
        energy per unit heat over the last hour, the heat stored in a storage tank (P,, kJ) and the cheapest cost
        of removing heat over the horizon (objective units per kWh).

        With ``rule``, lane 0 follows the rule-based tape closed loop instead of its commands, and the two
        prices are lane 0's (the plant's energy per unit heat in kWh/kWh); else they are NaN.
        """
        assert self._bound is not None and self._last is not None and self._meter is not None
        _, params, _, _, _ = self._bound
        n, h, _ = lanes.shape
        commands = np.full((h, n, len(LEVERS)), np.nan)
        commands[:, :, self._cols] = lanes.transpose(1, 0, 2)
        starts = PlantState(*(np.repeat(a, n, axis=0) for a in state))
        last = np.repeat(self._last[None, :], n, axis=0)
        registers = self._tape.registers.copy()
        registers[: len(RULE_INPUTS)] = [points["inlet_temp_max_c"], points["supply_air_temp_c"],
                                         float(state.actuators[0, SAT]), float(state.actuators[0, FAN]),
                                         points["outdoor_wetbulb_c"], points["chw_return_temp_c"],
                                         points.get("chw_flow_frac", 1.0), points.get("tes_soc", 0.0),
                                         points["time_of_day_sin"], points["time_of_day_cos"],
                                         points.get("case_temp_max_c", 0.0)]
        coefficients = self._coefficients.copy()
        coefficients[_PEAK0] = self._meter.peak_kw[0]
        coefficients[_FILLED] = self._meter.filled[0]
        window = self._meter.window[0].copy()
        common = (self._bound[4].dt_s, exo.drybulb_c, exo.wetbulb_c, exo.utilization, exo.weight, exo.new_period,
                  exo.last_hour, exo.clock, self._cols, self._span)
        tape = (self._tape.code, registers, self._tape.outputs)
        if n < PARALLEL_MIN_ENVS:
            cost, excess, stored, plant, heat, tank, cheapest = _rollout(starts, params, commands, *common, last, *tape,
                                                         0 if rule else -1, coefficients, window)
        else:
            # Two halves on two threads (the compiled loop releases the GIL); lane 0, the rule-based one, is in
            # the first half, whose commands are copied back for its closed-loop trajectory.
            halves = (slice(0, n // 2), slice(n // 2, n))
            split = [np.ascontiguousarray(commands[:, s]) for s in halves]
            futures = [_pool().submit(_rollout, PlantState(*(a[s] for a in starts)), take_params(params, s),
                                      split[i], *common, last[s], *tape, 0 if (rule and i == 0) else -1, coefficients,
                                      window)
                       for i, s in enumerate(halves)]
            parts = [f.result() for f in futures]
            cost, excess, stored, plant, heat, tank, cheapest = (np.concatenate([p[i] for p in parts])
                                                                 for i in range(7))
            commands[:, halves[0]] = split[0]
        per_heat = float(plant[0] / heat[0]) if rule and heat[0] > 0.0 else (0.0 if rule else math.nan)
        tank_price = (float(cheapest[0]) if np.isfinite(cheapest[0]) else 0.0) if rule else math.nan
        return (cost, excess, stored, commands[:, :, self._cols].transpose(1, 0, 2), per_heat, tank, tank_price)

    def evaluate(self, state: PlantState, k: int, points: Mapping[str, float],
                 plans: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Roll plans out from ``state`` before plant step ``k + 1`` as a replan would, lane 0 being rule-based.

        ``plans`` (population, H, K) are setpoints on :attr:`grid` (``K`` = the rule-based settings'
        setpoints; lane 0's are ignored: it runs the rule-based law closed loop). Returns each plan's
        cost over the horizon in the objective's unit (terminal charge excluded), its worst inlet
        excess over the plans' bound (K) and the commands it ran (population, H, K).
        """
        if self._bound is None:
            raise RuntimeError("call bind() before evaluate()")
        if self._last is None:
            self._last = state.actuators[0, self._cols].copy()
        cost, excess, _, commands, _, _, _ = self._evaluate(state, plans, self._exogenous(k), True, points)
        return cost, excess, commands

    @property
    def grid(self) -> PlanGrid:
        """The planning grid of the bound plant (after :meth:`bind`)."""
        if self._bound is None:
            raise RuntimeError("call bind() first")
        return self._bound[4]

    def _shifted(self, plan: np.ndarray, shift_h: float) -> np.ndarray:
        """A plan (H, K) made ``shift_h`` hours ago, on the grid from now (its last step held beyond its end)."""
        assert self._bound is not None
        g = self._bound[4]
        idx = np.searchsorted(g.start_h, g.start_h + shift_h + 1e-9, side="right") - 1
        return plan[np.minimum(idx, len(g.start_h) - 1)]

    def _moves(self, knots: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """Pattern moves (n, M, K) around ``knots`` (M, K): each setpoint up and down by its step (a discrete
        one flipped) over the horizon, over the hours the plant follows, and over the rest."""
        owner, shape, sign = self._move_owner, self._move_shape, self._move_sign
        amount = np.where(sign[:, None] == 0.0, shape * (1.0 - 2.0 * knots[:, owner].T),
                          sign[:, None] * steps[owner][:, None] * shape)
        moved = np.repeat(knots[None], len(owner), axis=0)
        moved[np.arange(len(owner)), :, owner] += amount
        return np.clip(moved, self._lower, self._upper)

    def _replan(self, state: PlantState, k: int, points: Mapping[str, float]) -> None:
        """Search a plan from plant state ``state`` before step ``k + 1``; it replaces the current one."""
        assert self._bound is not None
        _, _, _, dt_s, g = self._bound
        n, kk = self._population, len(self._names)
        held = state.actuators[0, self._cols]
        if self._last is None:
            self._last = held.copy()
        if self._steps is None:
            self._steps = self.step_frac * self._span
        exo = self._exogenous(k)
        hold_plan = np.repeat(held[None, :], len(g.dt_s), axis=0)
        seeds, labels = [np.zeros_like(hold_plan), hold_plan], ["rule-based", "hold"]
        shift_h = (k - self._k0) * dt_s / SECONDS_PER_HOUR
        if self._plan is not None:
            seeds.append(self._shifted(self._plan, shift_h))
            labels.append("previous")
        if self._combined is not None:
            seeds.append(self._combined)
            labels.append("search")
        incumbent = seeds[2][g.knot_step] if self._plan is not None else hold_plan[g.knot_step]
        best_score, best_plan, best_source = math.inf, hold_plan, "hold"
        history: list[float] = []
        rule_score = math.inf
        per_heat = 0.0
        tank_price = 0.0
        combined: np.ndarray | None = None
        for it in range(self.iterations):
            fixed = [np.stack(seeds)] if it == 0 else []
            if it > 0 and combined is not None:
                fixed.append(self._commands(combined[None]))
            center = self._commands(incumbent[None])
            moved = self._moves(incumbent, self._steps)
            n_fixed = sum(len(f) for f in fixed)
            n_draw = n - n_fixed - 1 - len(moved)
            spread = 2.0 * np.where(self._discrete, 0.0, self._steps)
            draws = incumbent + spread * (0.7 * self._rng.standard_normal((n_draw, 1, kk))
                                          + 0.71 * self._rng.standard_normal((n_draw, len(g.knots_h), kk)))
            draws = np.clip(draws, self._lower, self._upper)
            lanes = np.concatenate([*fixed, center, self._commands(moved), self._commands(draws)])
            cost, excess, stored, evaluated, heat_price, tank, cheapest = self._evaluate(state, lanes, exo, it == 0,
                                                                                       points)
            if it == 0:
                per_heat, tank_price = heat_price, cheapest
            # Heat left in the zones and the loop is removed next at the horizon's last-hour cost; cold taken
            # from (or left in) a storage tank is remade when cold is cheapest over the horizon: a tank
            # recharges in the cheap hours, so pricing its cold at the last hour's cost (an evening peak)
            # would make every discharge look dear and the planner never use the tank.
            score = (cost + per_heat * self._unit_per_kwh * (stored - tank) / SECONDS_PER_HOUR
                     + tank_price * tank / SECONDS_PER_HOUR)
            score = np.where(excess > 0.0, INFEASIBLE * (1.0 + excess), score)
            if it == 0:
                rule_score = float(score[0])
                first = int(np.argmin(score[:n_fixed]))
                history.append(float(score[first]))
                best_score, best_plan, best_source = float(score[first]), evaluated[first], labels[first]
            order = int(np.argmin(score))
            if score[order] < best_score:
                best_score, best_plan = float(score[order]), evaluated[order]
                best_source = labels[order] if it == 0 and order < n_fixed else "search"
            history.append(best_score)
            base = float(score[n_fixed])
            move_scores = score[n_fixed + 1 : n_fixed + 1 + len(moved)]
            combined, incumbent = self._learn(incumbent, base, moved, move_scores, evaluated[order], score[order])
        self._combined = None if combined is None else self._commands(combined[None])[0]
        self.diagnostics.record(k, history, rule_score, best_source, best_score < INFEASIBLE)
        self._plan = best_plan.copy()
        self._k0 = k

    def _learn(self, incumbent: np.ndarray, base: float, moved: np.ndarray, scores: np.ndarray,
               best_plan: np.ndarray, best_score: float) -> tuple[np.ndarray | None, np.ndarray]:
        """Adapt the steps; the sum of each setpoint's best improving move; the next incumbent's knots.

        ``base`` is the incumbent's score, ``moved`` (n, M, K) and ``scores`` (n,) its moves'.
        """
        assert self._steps is not None and self._bound is not None
        g = self._bound[4]
        total = np.zeros_like(incumbent)
        improved = np.zeros(len(self._names), dtype=bool)
        flat = np.zeros(len(self._names), dtype=bool)
        tolerance = 1e-9 * max(abs(base), 1.0)
        for j in range(len(self._names)):
            mine = self._move_groups[j]
            i = mine[int(np.argmin(scores[mine]))]
            if scores[i] < base - tolerance:
                improved[j] = True
                total += moved[i] - incumbent
            flat[j] = bool(np.all(np.abs(scores[mine] - base) <= tolerance))
        # A setpoint whose moves changed nothing sits on a plateau (a tower that cannot reach its setpoint, a
        # threshold no load crosses): its step grows until a move reaches the edge.
        grow = np.where(improved | flat, 1.3, 0.7)
        self._steps = np.clip(self._steps * grow, 0.005 * self._span, 0.25 * self._span)
        combined = np.clip(incumbent + total, self._lower, self._upper) if improved.sum() > 1 else None
        nxt = best_plan[g.knot_step] if best_score < base else incumbent
        return combined, nxt
