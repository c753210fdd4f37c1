"""The oracle: it beats rule-based control, keeps the thermal limit, prices any objective, reports its
convergence, is seeded, and its rollout is the plant (the rule-based law it runs is the law itself)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import numpy as np
import pytest

from coolpilot.controller.policies import RuleBasedPolicy, rule_based_settings
from coolpilot.controller.policies.rule_based import rule_based_batch
from coolpilot.envs.config import list_presets, load_facility
from coolpilot.envs.contract import INLET_LIMIT_C
from coolpilot.envs.facility import build_params, initial_state, points_array
from coolpilot.envs.kpis import compute_kpis
from coolpilot.envs.objectives import GridSignals, Objective
from coolpilot.envs.physics.plant import Exogenous, PlantParams, PlantState, step
from coolpilot.envs.simulation import ExoSeries, PlantAwarePolicy, SimResult, simulate
from coolpilot.envs.weather import load_climate
from coolpilot.evaluation import oracle as oracle_module
from coolpilot.evaluation.oracle import (
    RULE_INPUTS,
    RULE_POINT_OUTPUTS,
    OraclePolicy,
    evaluate_tape,
    plan_grid,
    rule_tape,
)
from coolpilot.evaluation.policies import make_policy


def run(preset: str, climate: str, policy: str | OraclePolicy, days: float, start_day: float) -> SimResult:
    cfg = load_facility(preset)
    chosen = make_policy(policy, cfg) if isinstance(policy, str) else policy
    return simulate(cfg, load_climate(climate), chosen, days=days, start_day=start_day)


@pytest.mark.parametrize("preset", ["modern-hall", "legacy-hall"])
@pytest.mark.parametrize(("climate", "start_day"), [("phoenix", 190), ("chicago", 15)], ids=["hot-day", "cold-day"])
def test_oracle_beats_rule_based_over_a_day_under_the_limit(preset: str, climate: str, start_day: float) -> None:
    oracle = compute_kpis(run(preset, climate, "oracle", 1, start_day))
    rule = compute_kpis(run(preset, climate, "rule-based", 1, start_day))
    assert oracle.facility_energy_mwh < rule.facility_energy_mwh
    assert oracle.inlet_temp_max_c <= INLET_LIMIT_C - 0.2


def test_oracle_keeps_every_inlet_under_its_bound_on_the_hottest_days() -> None:
    """The hours the plant follows are planned at the plant's own step, so the bound holds on the plant."""
    for preset, margin in (("modern-hall", 0.2), ("campus", 1.0)):
        cfg = load_facility(preset)
        oracle = OraclePolicy(rule_based_settings(cfg), margin_k=margin)
        result = simulate(cfg, load_climate("phoenix"), oracle, days=1, start_day=195)
        assert result.zone_inlet_c.max() <= INLET_LIMIT_C - margin, preset
        assert all(oracle.diagnostics.feasible)


def test_oracle_plans_are_within_bounds_and_it_refuses_to_run_without_the_plant() -> None:
    cfg = load_facility("modern-hall")
    oracle = make_policy("oracle", cfg)
    assert isinstance(oracle, PlantAwarePolicy) and isinstance(oracle, OraclePolicy)
    s = run("modern-hall", "las-vegas", oracle, 0.5, 200).series
    for spec in cfg.contract.setpoints:
        values = s[f"setpoint_{spec.name}"]
        assert np.all((values >= spec.low) & (values <= spec.high)), spec.name
    assert set(np.unique(s["setpoint_economizer_enable"])) <= {0.0, 1.0}
    with pytest.raises(RuntimeError, match="plans on the simulator"):
        OraclePolicy().act({})
    with pytest.raises(ValueError, match=r"OraclePolicy.horizon_h = 30.0 h: must be in \[0.5, 24\] h"):
        OraclePolicy(horizon_h=30.0)
    with pytest.raises(ValueError, match=r"OraclePolicy\.population"):
        OraclePolicy(rule_based_settings(cfg), population=20)


def test_oracle_is_seeded() -> None:
    a = run("campus", "sterling", OraclePolicy(rule_based_settings(load_facility("campus")), seed=3), 0.5, 100)
    b = run("campus", "sterling", OraclePolicy(rule_based_settings(load_facility("campus")), seed=3), 0.5, 100)
    for name, values in a.series.items():
        assert np.array_equal(values, b.series[name]), name


def test_a_large_population_runs_as_two_halves_on_two_threads_with_the_same_plans(
        monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_facility("legacy-hall")

    def plans() -> dict[str, np.ndarray]:
        oracle = OraclePolicy(rule_based_settings(cfg), population=512, horizon_h=1.0)
        return run("legacy-hall", "miami", oracle, 0.25, 200).series

    threaded = plans()
    monkeypatch.setattr(oracle_module, "PARALLEL_MIN_ENVS", 10**9)
    single = plans()
    for name, values in threaded.items():
        assert np.array_equal(values, single[name]), name


def test_convergence_report_is_present_and_sane() -> None:
    cfg = load_facility("modern-hall")
    oracle = OraclePolicy(rule_based_settings(cfg), iterations=2)
    run("modern-hall", "san-francisco", oracle, 0.5, 100)
    d = oracle.diagnostics
    summary = d.summary()
    assert summary["replans"] == 12 and summary["iterations"] == 2
    assert sum(summary["chosen"].values()) == 12
    for history in d.best_by_iteration:
        assert len(history) == 3
        assert all(later <= earlier for earlier, later in itertools.pairwise(history))
    gains = d.last_iteration_gain()
    assert np.all(gains >= 0.0) and summary["last_iteration_gain_max"] == pytest.approx(gains.max())
    assert 0.0 <= summary["last_iteration_gain_mean"] < 0.01  # warm-started: the last iteration adds little
    assert summary["gain_over_rule_based_mean"] > 0.0  # the plans beat the rule-based trajectory they started from
    assert summary["infeasible_replans"] == 0
    oracle.reset()
    assert oracle.diagnostics.summary() == {"replans": 0}


def test_cost_objective_under_time_of_use_shifts_energy_out_of_the_peak() -> None:
    """Priced by the hour, the oracle pre-cools before the 14–18 h peak and coasts through it: it pays less
    while using more energy, and draws less power in the peak, than the same oracle minimizing energy."""
    cfg = load_facility("legacy-hall")
    hour = np.arange(8760) % 24
    peak_hours = (hour >= 14) & (hour < 18)
    signals = GridSignals(np.where(peak_hours, 400.0, 40.0), np.full(8760, 0.5))
    out = {}
    for kind in ("energy", "cost"):
        oracle = OraclePolicy(rule_based_settings(cfg), objective=Objective(kind=kind, demand_charge=False),
                              signals=signals)
        s = run("legacy-hall", "phoenix", oracle, 1, 190).series
        h = (s["time_s"] // 3600).astype(int)
        in_peak = peak_hours[h % 8760]
        out[kind] = (s["facility_kw"].sum() / 12, (s["facility_kw"] * signals.price_per_mwh[h % 8760]).sum() / 12e3,
                     s["facility_kw"][in_peak].mean())
    (energy_kwh, energy_cost, energy_peak_kw), (cost_kwh, cost_cost, cost_peak_kw) = out["energy"], out["cost"]
    assert cost_cost < energy_cost
    assert cost_kwh > energy_kwh
    assert cost_peak_kw < energy_peak_kw - 10.0


@pytest.mark.parametrize("preset", list_presets())
def test_the_rule_tape_is_the_rule_based_law_bit_for_bit(preset: str) -> None:
    settings = rule_based_settings(load_facility(preset))
    tape = rule_tape(settings)
    assert tape.setpoint_names == settings.setpoint_names
    rng = np.random.default_rng(0)
    names = settings.point_names
    for _ in range(300):
        row = {"inlet_temp_max_c": rng.uniform(18.0, 30.0), "supply_air_temp_c": rng.uniform(14.0, 26.0),
               "crah_fan_speed_frac": rng.uniform(0.3, 1.0), "outdoor_wetbulb_c": rng.uniform(-20.0, 30.0),
               "chw_return_temp_c": rng.uniform(8.0, 24.0), "chw_flow_frac": rng.uniform(0.2, 1.2),
               "tes_soc": rng.uniform(0.0, 1.0), "case_temp_max_c": rng.uniform(40.0, 90.0)}
        hour = rng.choice([rng.uniform(0.0, 24.0), float(rng.integers(0, 24))])  # window edges included
        row["time_of_day_sin"], row["time_of_day_cos"] = np.sin(np.pi * hour / 12.0), np.cos(np.pi * hour / 12.0)
        sat, fan = rng.uniform(14.0, 26.0), rng.uniform(0.3, 1.0)
        expected = rule_based_batch(np.array([[row[n] for n in names]]), settings, np.array([sat]), np.array([fan]),
                                    point_names=names)[0]
        inputs = {**row, "sat_prev": sat, "fan_prev": fan}
        assert np.array_equal(evaluate_tape(tape, [inputs[n] for n in RULE_INPUTS]), expected)


@pytest.mark.parametrize("preset", ["modern-hall-tes", "ai-factory"])
def test_the_points_the_rule_lane_reads_are_the_plant_points(preset: str) -> None:
    cfg = load_facility(preset)
    params = build_params([cfg])
    state = initial_state(params)
    exo = Exogenous(np.array([31.0]), np.array([19.0]), np.full((1, len(cfg.zones)), 0.7))
    for _ in range(3):
        state, out = step(state, state.actuators, exo, params, 300.0)
    pts = dict(zip(cfg.contract.point_names,
                   points_array(out, exo, np.array([40.0]), np.array([3600.0]), np.array([cfg.it_design_kw]),
                                cfg.contract)[0], strict=False))
    read = [p for p in RULE_POINT_OUTPUTS if p in pts]
    assert ("tes_soc" in read) == cfg.storage.installed and ("case_temp_max_c" in read) == (cfg.liquid is not None)
    for point in read:
        assert pts[point] == getattr(out, RULE_POINT_OUTPUTS[point])[0], point
    assert pts["outdoor_wetbulb_c"] == exo.wetbulb_c[0]


class _Capture:
    """Rule-based control that hands the oracle the plant at step 0 (the state, the points, the future)."""

    name = "capture"

    def __init__(self, oracle: OraclePolicy, rule: RuleBasedPolicy) -> None:
        self.oracle, self.rule = oracle, rule
        self.start: tuple[PlantState, dict[str, float]] | None = None

    def reset(self) -> None:
        self.rule.reset()
        self.oracle.reset()

    def act(self, points: Mapping[str, float]) -> dict[str, float]:
        return self.rule.act(points)

    def bind(self, params: PlantParams, exo: ExoSeries, dt_s: float) -> None:
        self.oracle.bind(params, exo, dt_s)

    def plan(self, state: PlantState, k: int, points: Mapping[str, float]) -> dict[str, float]:
        if k == 0:
            self.start = (state, dict(points))
        return self.rule.act(points)


@pytest.mark.parametrize("preset", ["modern-hall", "legacy-hall"])
def test_the_rollout_is_the_plant(preset: str) -> None:
    """Over the hours planned at the plant's step, the rollout's rule-based lane is rule-based control on the
    plant, bit for bit, and a held plan costs what the plant spends under it."""
    cfg = load_facility(preset)
    settings = rule_based_settings(cfg)
    oracle = OraclePolicy(settings, objective=Objective(), horizon_h=1.0)
    capture = _Capture(oracle, RuleBasedPolicy(settings))
    s = simulate(cfg, load_climate("miami"), capture, days=1 / 24, start_day=200).series
    assert capture.start is not None
    state, points = capture.start
    h = len(oracle.grid.dt_s)
    assert h == 12 and np.all(oracle.grid.dt_s == 300.0)
    plans = np.repeat(state.actuators[0, oracle._cols][None, None, :], oracle._population, axis=0).repeat(h, axis=1)
    cost, excess, commands = oracle.evaluate(state, 0, points, plans)
    assert cost[0] == pytest.approx(float((s["facility_kw"] * (300.0 / 3600.0)).sum()), rel=1e-12)
    told = np.stack([s[f"setpoint_{n}"] for n in settings.setpoint_names], axis=1)
    assert np.array_equal(commands[0], told)
    assert excess[0] == pytest.approx(s["inlet_temp_max_c"].max() - (INLET_LIMIT_C - oracle.margin_k), abs=1e-12)
    assert np.all(cost[1:] == cost[1])  # the held lanes are one plan


def test_plan_grid_steps_exactly_then_coarser() -> None:
    g = plan_grid(24.0, 1.0, 15.0, 6.0, 60.0, 1.0, 3.0, 300.0)
    assert g.dt_s.sum() == 24 * 3600.0
    assert list(g.dt_s[:12]) == [300.0] * 12 and list(g.dt_s[12:32]) == [900.0] * 20
    assert list(g.dt_s[32:]) == [3600.0] * 18
    assert list(g.knots_h) == [0, 1, 2, 3, 4, 5, 6, 9, 12, 15, 18, 21, 24]
    assert np.allclose(g.linear.sum(axis=1), 1.0) and np.allclose(g.hold.sum(axis=1), 1.0)
    assert g.last_hour.sum() == 1 and g.last_hour[-1]


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["legacy-hall", "modern-hall", "campus"])
@pytest.mark.parametrize("climate", ["chicago", "miami", "phoenix"])
def test_oracle_beats_rule_based_over_a_month(preset: str, climate: str) -> None:
    oracle = compute_kpis(run(preset, climate, "oracle", 30, 180))
    rule = compute_kpis(run(preset, climate, "rule-based", 30, 180))
    assert oracle.inlet_temp_max_c <= 27.0
    assert oracle.facility_energy_mwh < rule.facility_energy_mwh
