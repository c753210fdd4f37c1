"""A cold-climate inlet excursion in closed loop: plant, rule-based policy and safety envelope in lockstep.

Shared by ``tests/controller/test_safe_cooling.py`` (short, in CI) and
``benchmarks/bench_safe_cooling.py`` (the numbers). No broker, no clock: the simulator's own
step (:func:`coolpilot.envs.physics.plant.step`) on the ``modern-hall`` preset (integrated waterside
economizer, four chillers) advances ``dt_s`` at a time, and every ``period_s`` the
rule-based policy (the site's good practice, every lever of the facility's contract) proposes and
:func:`coolpilot.controller.safety.decide` decides what the plant gets on that contract, as the service would.

The scenario: a winter day, the economizer carrying the whole load, then for ``fault_h``
hours a CRAH unit of the first pod trips (that pod keeps ``crah_airflow_frac`` of its
airflow and fan power) while a batch job drives every pod to ``utilization``. The hottest
inlet crosses the limit and the envelope's thermal-limit action runs. Two rules are compared:

- ``safe_action``: the envelope as it is (more cooling from the current state, never less);
- ``absolute_safe_setpoints``: the envelope before issue 13, reproduced as the baseline: at
  the limit the configured safe setpoints are written as they are, whatever the plant runs
  (condenser water 29.4 °C in free cooling).

Metrics cover the fault and what follows (from the fault's onset to the end).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from coolpilot.controller.policies.rule_based import RuleBasedPolicy, rule_based_settings
from coolpilot.controller.safety import Decision, SafetyLimits, decide, initial_state
from coolpilot.envs.config import load_facility
from coolpilot.envs.facility import build_params, command_array, points_array
from coolpilot.envs.load import draw_noise, load_table
from coolpilot.envs.physics.plant import Exogenous, PlantOutputs, PlantParams, step
from coolpilot.envs.simulation import exogenous_batch, start
from coolpilot.envs.units import SECONDS_PER_DAY, SECONDS_PER_HOUR, SECONDS_PER_MINUTE, kw_to_kwh
from coolpilot.envs.weather import load_climate

FACILITY = "modern-hall"
RULES = ("safe_action", "absolute_safe_setpoints")
"""The envelope as it is, and today's absolute safe setpoints as the comparison baseline."""

LOAD_FLOOR_KW = 1.0
"""Heat the chilled-water plant must be removing (kW) for a step to count in the per-step economizer share."""


@dataclass(frozen=True)
class Excursion:
    """What is forced on the plant, when and for how long (defaults: the CI scenario)."""

    climate: str = "chicago"
    start_day: float = 30.0
    """Day of year at 00:00 (0 = 1 January); in Chicago's TMY 31 January stays between −6 and −1 °C."""
    start_hour: float = 8.0
    """Local hour at which the run (settling included) starts."""
    settle_h: float = 1.0
    """Hours of normal control before the fault (the economizer must carry the load by then)."""
    fault_h: float = 1.0
    after_h: float = 1.0
    """Hours recorded after the fault has cleared."""
    utilization: float = 1.0
    """IT utilization of every pod during the fault (1)."""
    crah_airflow_frac: float = 0.6
    """CRAH airflow and fan power the first pod keeps during the fault (1)."""
    dt_s: float = 60.0
    """Plant step (s); the recorded series have this resolution."""
    period_s: float = 300.0
    """Control period (s): the policy and the envelope run every ``period_s / dt_s`` plant steps."""
    seed: int = 0
    """Seed of the IT load noise."""
    chillers_out: int = 0
    """Chillers out of service for the whole run: winter is when chillers are serviced, because the
    economizer carries the load."""

    @property
    def label(self) -> str:
        """A one-line description for reports."""
        out = f", {self.chillers_out} chillers out for maintenance" if self.chillers_out else ""
        return (f"{self.climate} day {self.start_day:g} from {self.start_hour:g} h: {self.fault_h:g} h fault "
                f"(first pod's CRAH airflow {self.crah_airflow_frac:.0%}, IT utilization {self.utilization:.0%}){out}")


CI_EXCURSION = Excursion(settle_h=2.0, fault_h=1.0, after_h=1.0)
"""Four simulated hours (2 h settling, 1 h fault, 1 h after) on 31 January in Chicago."""

LONGER_EXCURSIONS: tuple[Excursion, ...] = (
    *(Excursion(climate=climate, start_day=day, settle_h=3.0, fault_h=2.0, after_h=2.0, crah_airflow_frac=airflow)
      for climate, day, airflow in (("chicago", 30.0, 0.6), ("chicago", 30.0, 1.0), ("chicago", 35.0, 0.6),
                                    ("chicago", 10.0, 0.8), ("denver", 35.0, 0.6), ("denver", 15.0, 0.8))),
    Excursion(settle_h=3.0, fault_h=2.0, after_h=2.0, crah_airflow_frac=0.8, chillers_out=2),
)
"""Two-hour faults in both cold climates, on several winter days, with and without the CRAH trip, and
during winter chiller maintenance (two of the four chillers out of service)."""


@dataclass(frozen=True)
class LoopResult:
    """Series from the fault's onset to the end (one row per plant step) and what the envelope did."""

    rule: str
    excursion: Excursion
    limit_c: float
    inlet_temp_max_c: np.ndarray
    economizer_kw: np.ndarray
    chiller_load_kw: np.ndarray
    chiller_kw: np.ndarray
    chillers_running: np.ndarray
    condenser_water_c: np.ndarray
    """Measured tower leaving water (°C)."""
    written: dict[str, np.ndarray]
    """Setpoints the plant was given, per setpoint (physical units)."""
    settled_economizer_share: float
    """Share of the plant's heat the economizer carried over the last control period before the fault (1)."""
    settled_chillers_running: float
    """Chillers running at the end of settling."""
    settled_condenser_setpoint_c: float
    """Condenser water setpoint written in the last control period before the fault (°C)."""
    decisions: tuple[Decision, ...]
    """Every decision from the fault's onset on."""

    @property
    def minutes_above_limit(self) -> float:
        """Simulated minutes with the hottest inlet at or above the limit (the recovery time)."""
        return float(np.count_nonzero(self.inlet_temp_max_c >= self.limit_c)) * self.excursion.dt_s / SECONDS_PER_MINUTE

    @property
    def peak_inlet_c(self) -> float:
        """Hottest inlet reached (°C)."""
        return float(self.inlet_temp_max_c.max())

    @property
    def chiller_energy_kwh(self) -> float:
        """Electric energy of the chillers (kWh)."""
        return kw_to_kwh(float(self.chiller_kw.sum()), self.excursion.dt_s)

    @property
    def economizer_share(self) -> float:
        """Share of the heat the plant removed that the economizer carried, energy-weighted (1)."""
        total = float((self.economizer_kw + self.chiller_load_kw).sum())
        return float(self.economizer_kw.sum()) / total if total > 0.0 else 0.0

    @property
    def min_economizer_share(self) -> float:
        """Lowest per-step economizer share while the plant removes heat (1); 0 means free cooling ended."""
        load = self.economizer_kw + self.chiller_load_kw
        loaded = load > LOAD_FLOOR_KW
        return float((self.economizer_kw[loaded] / load[loaded]).min()) if loaded.any() else 0.0

    @property
    def limit_actions(self) -> int:
        """Control periods in which the thermal-limit action ran."""
        return sum(any(i.reason == "thermal_limit" for i in d.interventions) for d in self.decisions)

    def summary(self) -> dict[str, float | int | str]:
        """The numbers, named with their units."""
        return {
            "rule": self.rule,
            "minutes_above_limit": self.minutes_above_limit,
            "peak_inlet_c": round(self.peak_inlet_c, 3),
            "chiller_energy_kwh": round(self.chiller_energy_kwh, 3),
            "economizer_share": round(self.economizer_share, 4),
            "min_economizer_share": round(self.min_economizer_share, 4),
            "max_chillers_running": float(self.chillers_running.max()),
            "max_condenser_setpoint_c": float(self.written["condenser_water_temp_c"].max()),
            "limit_actions": self.limit_actions,
        }


def absolute_safe_setpoints(decision: Decision, limits: SafetyLimits) -> Decision:
    """Today's thermal-limit action (before issue 13), the comparison baseline.

    Where the envelope's thermal-limit action ran, the configured safe setpoints are written
    as they are, whatever the plant runs, and remembered as the last written ones.
    """
    if not any(i.reason == "thermal_limit" for i in decision.interventions):
        return decision
    written = dict(limits.safe_setpoints)
    return dataclasses.replace(decision, setpoints=written,
                               state=dataclasses.replace(decision.state, last_written=dict(written)))


def _faulted(params: PlantParams, airflow_frac: float) -> PlantParams:
    """The plant with the first zone's CRAH airflow and fan power scaled by ``airflow_frac`` (a unit tripped)."""
    scale = np.ones_like(params.crah_airflow_design_m3s)
    scale[:, 0] = airflow_frac
    return params._replace(crah_airflow_design_m3s=params.crah_airflow_design_m3s * scale,
                           crah_fan_design_kw=params.crah_fan_design_kw * scale)


def run_excursion(excursion: Excursion, rule: str, limits: SafetyLimits | None = None) -> LoopResult:
    """Run the scenario under ``rule`` (one of :data:`RULES`); see the module docstring."""
    if rule not in RULES:
        raise ValueError(f"rule {rule!r}: expected one of {RULES}")
    cfg = load_facility(FACILITY)
    contract = cfg.contract
    limits = SafetyLimits.for_contract(contract) if limits is None else limits
    adjust: Callable[[Decision, SafetyLimits], Decision] = (
        absolute_safe_setpoints if rule == "absolute_safe_setpoints" else (lambda d, _: d))
    dt = excursion.dt_s
    every = round(excursion.period_s / dt)
    settle = round(excursion.settle_h * SECONDS_PER_HOUR / dt)
    fault_end = settle + round(excursion.fault_h * SECONDS_PER_HOUR / dt)
    n = fault_end + round(excursion.after_h * SECONDS_PER_HOUR / dt)

    table = load_table([[z.load for z in cfg.zones]], len(cfg.zones))
    shocks, x0 = np.empty((len(cfg.zones), n + 1)), np.empty(len(cfg.zones))
    draw_noise(table, 0, np.random.default_rng(excursion.seed), shocks, x0)
    start_s = excursion.start_day * SECONDS_PER_DAY + excursion.start_hour * SECONDS_PER_HOUR
    exo = exogenous_batch([cfg], [load_climate(excursion.climate)], np.array([start_s]), dt, n + 1, table,
                          shocks[None], x0[None], np.array([1.0])).row(0)
    params = build_params([cfg])
    if not 0 <= excursion.chillers_out < int(params.chillers_available[0]):
        raise ValueError(f"chillers_out = {excursion.chillers_out}: {FACILITY} has "
                         f"{int(params.chillers_available[0])} chillers; at least one must stay in service")
    params = params._replace(chillers_available=params.chillers_available - excursion.chillers_out)
    faulted = _faulted(params, excursion.crah_airflow_frac)
    it_design = np.array([cfg.it_design_kw])
    state, first = start(params, exo.at(0), exo.rh_pct[0:1], exo.time_s[0:1], dt, it_design, contract=contract)
    names = contract.setpoint_names
    points = dict(zip(contract.point_names, first[0].tolist(), strict=True))

    policy = RuleBasedPolicy(rule_based_settings(cfg))
    policy.reset()
    envelope = initial_state()
    outputs: list[PlantOutputs] = []
    written = np.empty((n, len(names)))
    decisions: list[Decision] = []
    values = np.empty((1, len(names)))
    for k in range(n):
        if k % every == 0:
            decision = adjust(decide(points, None, float(exo.time_s[k]), policy.act(points), envelope, limits,
                                     excursion.period_s), limits)
            if decision.setpoints is None:
                raise RuntimeError(f"step {k}: the envelope relinquished ({decision.interventions}); "
                                   "the scenario needs the controller in charge throughout")
            envelope = decision.state
            values = np.array([[decision.setpoints[s] for s in names]])
            if k >= settle:
                decisions.append(decision)
        e = exo.at(k + 1)
        plant = params
        if settle <= k < fault_end:
            e = Exogenous(e.drybulb_c, e.wetbulb_c, np.full_like(e.utilization, excursion.utilization))
            plant = faulted
        state, out = step(state, command_array(contract, values), e, plant, dt)
        reading = points_array(out, e, exo.rh_pct[k + 1 : k + 2], exo.time_s[k + 1 : k + 2], it_design, contract)
        points = dict(zip(contract.point_names, reading[0].tolist(), strict=True))
        outputs.append(out)
        written[k] = values[0]

    def series(name: str) -> np.ndarray:
        return np.array([getattr(o, name)[0] for o in outputs[settle:]])

    before = outputs[settle - every : settle]
    economizer = sum(float(o.economizer_kw[0]) for o in before)
    removed = economizer + sum(float(o.chiller_load_kw[0]) for o in before)
    return LoopResult(
        rule=rule, excursion=excursion, limit_c=limits.limit_c,
        inlet_temp_max_c=series("inlet_temp_max_c"), economizer_kw=series("economizer_kw"),
        chiller_load_kw=series("chiller_load_kw"), chiller_kw=series("chiller_kw"),
        chillers_running=series("chillers_running"), condenser_water_c=series("condenser_water_c"),
        written={name: written[settle:, j] for j, name in enumerate(names)},
        settled_economizer_share=economizer / removed if removed > 0.0 else 0.0,
        settled_chillers_running=float(outputs[settle - 1].chillers_running[0]),
        settled_condenser_setpoint_c=float(written[settle - 1, names.index("condenser_water_temp_c")]),
        decisions=tuple(decisions),
    )
