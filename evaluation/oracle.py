"""The oracle: receding-horizon search over setpoint plans on the simulator itself.

What it optimizes: every ``replan_steps`` control steps it searches for the constant
setpoint vector, held over the next ``horizon_h`` hours, that gives the least facility
energy over that horizon with no server inlet above 27 °C (minus ``margin_k``) at any step.
Candidates are evaluated in one batched call of the same physics the policies are judged
on (``coolpilot.envs.physics.plant.step``), starting from the true plant state, with the true
future weather and IT load: perfect knowledge of model, weather and load. The search is
a cross-entropy method: the first population holds the current setpoints, the rule-based
controller's proposal, the previous plan and random draws over the setpoint bounds; the
next populations are drawn around the best feasible plans.

Why it is a fair ceiling: it faces exactly the plant, actuator slew rates, bounds and
thermal limit the other policies face, and knows everything they cannot; no causal policy
seeing only points can be expected to beat it. It is not a proof of optimality (finite
horizon, constant plans, sampled search), so the savings it finds are a lower bound on
what is achievable and "share of the oracle's saving captured" is a conservative measure.
The rule-based controller's closed-loop trajectory over the horizon is always a candidate
(the plan may be "follow rule-based"), so each plan is at least as good as rule-based
control over its horizon.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from coolpilot.controller.policies import RuleBasedPolicy, RuleBasedSettings
from coolpilot.envs.contract import INLET_LIMIT_C, POINT_NAMES, SETPOINT_NAMES, SETPOINTS
from coolpilot.envs.facility import points_array
from coolpilot.envs.physics.plant import Exogenous, PlantParams, PlantState, step
from coolpilot.envs.simulation import ExoSeries
from coolpilot.envs.units import SECONDS_PER_HOUR
from coolpilot.envs.vector import take_params

LOW = np.array([s.low for s in SETPOINTS])
HIGH = np.array([s.high for s in SETPOINTS])


@dataclass
class OraclePolicy:
    """Receding-horizon, perfect-knowledge planner (see the module docstring)."""

    rule_settings: RuleBasedSettings = field(default_factory=RuleBasedSettings)
    horizon_h: float = 2.0
    replan_steps: int = 6
    population: int = 48
    iterations: int = 3
    elite_frac: float = 0.2
    margin_k: float = 0.2
    storage_value_kwh_per_kwh: float = 0.12
    """Electric energy charged per kWh of heat a plan leaves stored in the plant's thermal
    masses at the horizon's end (about 1/COP): without it, a plan could look cheap by
    borrowing cold from the zones and the chilled-water loop and leaving the bill to the
    next plan. 0.12 is below a chiller's 1/COP because much of that heat later leaves
    through the economizer or at better part load; it was chosen by trying 0.12 and 0.25 on
    four facility/climate weeks (0.25 made plans over-cool)."""
    seed: int = 0
    name: str = "oracle"
    _params: PlantParams | None = None
    _exo: ExoSeries | None = None
    _dt_s: float = 300.0
    _plan: np.ndarray | None = None
    _since: int = 0
    _rule: RuleBasedPolicy | None = None
    _rng: np.random.Generator = field(default_factory=np.random.default_rng)

    def reset(self) -> None:
        """Forget the plan; restart the rule-based reference and the search's generator."""
        self._plan = None
        self._since = 0
        self._rule = RuleBasedPolicy(self.rule_settings)
        self._rule.reset()
        self._rng = np.random.default_rng(self.seed)

    def bind(self, params: PlantParams, exo: ExoSeries, dt_s: float) -> None:
        """Perfect knowledge: the plant's parameters and the whole future of weather and load."""
        if params.it_design_kw.shape[0] != 1:
            raise ValueError("the oracle plans one facility at a time")
        self._params, self._exo, self._dt_s = params, exo, dt_s

    def act(self, points: Mapping[str, float]) -> dict[str, float]:
        """The oracle needs the plant: it runs only inside ``coolpilot.envs.simulation.simulate``."""
        raise RuntimeError("the oracle plans on the simulator; run it with coolpilot.envs.simulation.simulate")

    def plan(self, state: PlantState, k: int, points: Mapping[str, float]) -> dict[str, float]:
        """Setpoints for step ``k``: replan every ``replan_steps`` steps, else hold the plan.

        The plan is either a constant setpoint vector or "follow the rule-based controller"
        (its closed-loop trajectory is a candidate too), whichever the search found cheaper.
        """
        assert self._rule is not None, "call reset() first"
        if self._plan is None or self._since >= self.replan_steps:
            self._plan = self._search(state, k, points)
            self._since = 0
        self._since += 1
        rule = self._rule.act(points)
        if np.isnan(self._plan[0]):
            return rule
        return dict(zip(SETPOINT_NAMES, self._plan.tolist(), strict=True))

    def _search(self, state: PlantState, k: int, points: Mapping[str, float]) -> np.ndarray:
        """Best plan: a constant setpoint vector, or NaNs meaning "follow the rule-based controller"."""
        assert self._params is not None and self._exo is not None and self._rule is not None
        rule = np.array([self._rule.clone().act(points)[n] for n in SETPOINT_NAMES])
        n = self.population
        horizon = max(1, round(self.horizon_h * SECONDS_PER_HOUR / self._dt_s))
        last = len(self._exo.time_s) - 1
        steps = np.minimum(np.arange(k + 1, k + 1 + horizon), last)
        params = take_params(self._params, np.zeros(n, dtype=np.int64))
        previous = [self._plan] if self._plan is not None and not np.isnan(self._plan[0]) else []
        seeds = [state.actuators[0], rule, *previous]
        candidates = np.vstack([*seeds, self._rng.uniform(LOW, HIGH, size=(n - len(seeds), 4))])
        best, best_cost = np.full(4, np.nan), self._rule_cost(state, params, steps, points)
        for _ in range(self.iterations):
            energy, excess = self._rollout(state, params, candidates, steps)
            cost = np.where(excess > 0.0, 1e12 * (1.0 + excess), energy)
            order = np.argsort(cost, kind="stable")
            if cost[order[0]] < best_cost:
                best, best_cost = candidates[order[0]].copy(), cost[order[0]]
            elites = candidates[order[: max(2, int(self.elite_frac * n))]]
            mean, std = elites.mean(axis=0), np.maximum(elites.std(axis=0), 0.02 * (HIGH - LOW))
            candidates = np.clip(self._rng.normal(mean, std, size=(n, 4)), LOW, HIGH)
            candidates[0] = best
        return best

    def _rule_cost(
        self, state: PlantState, params: PlantParams, steps: np.ndarray, points: Mapping[str, float]
    ) -> float:
        """Cost of following a copy of the rule-based controller, closed loop, over the horizon."""
        assert self._exo is not None and self._rule is not None
        rule = self._rule.clone()
        one = take_params(params, np.zeros(1, dtype=np.int64))
        s, energy, excess = state, 0.0, 0.0
        named = dict(points)
        it_design = one.it_design_kw.sum(axis=1)
        for t in steps:
            command = np.array([[rule.act(named)[n] for n in SETPOINT_NAMES]])
            e = Exogenous(self._exo.drybulb_c[t : t + 1], self._exo.wetbulb_c[t : t + 1],
                          self._exo.utilization[t : t + 1])
            s, out = step(s, command, e, one, self._dt_s)
            energy += float(out.facility_kw[0]) * self._dt_s / SECONDS_PER_HOUR
            energy += self.storage_value_kwh_per_kwh * float(out.stored_heat_change_kj[0]) / SECONDS_PER_HOUR
            excess = max(excess, float(out.inlet_temp_max_c[0]) - (INLET_LIMIT_C - self.margin_k))
            pts = points_array(out, e, self._exo.rh_pct[t : t + 1], self._exo.time_s[t : t + 1], it_design)[0]
            named = dict(zip(POINT_NAMES, pts.tolist(), strict=True))
        return 1e12 * (1.0 + excess) if excess > 0.0 else energy

    def _rollout(
        self, state: PlantState, params: PlantParams, candidates: np.ndarray, steps: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Facility energy plus stored-heat charge (kWh) and worst inlet excess (K) of each candidate plan."""
        assert self._exo is not None
        n = candidates.shape[0]
        s = PlantState(*(np.repeat(a, n, axis=0) for a in state))
        energy = np.zeros(n)
        excess = np.zeros(n)
        limit = INLET_LIMIT_C - self.margin_k
        for t in steps:
            e = Exogenous(np.full(n, self._exo.drybulb_c[t]), np.full(n, self._exo.wetbulb_c[t]),
                          np.repeat(self._exo.utilization[t : t + 1], n, axis=0))
            s, out = step(s, candidates, e, params, self._dt_s)
            energy += out.facility_kw * self._dt_s / SECONDS_PER_HOUR
            energy += self.storage_value_kwh_per_kwh * out.stored_heat_change_kj / SECONDS_PER_HOUR
            excess = np.maximum(excess, out.inlet_temp_max_c - limit)
        return energy, np.maximum(excess, 0.0)
