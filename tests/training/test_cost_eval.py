"""Held-out evaluation of a cost-objective run: the policy reads the training tariff's signals and is priced by it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from coolpilot.controller.policies import RuleBasedPolicy, rule_based_settings
from coolpilot.envs.config import load_facility
from coolpilot.envs.simulation import simulate
from coolpilot.envs.weather import load_climate
from coolpilot.evaluation.kpis import compute_whatif_kpis, grid_signals
from coolpilot.evaluation.scenarios import Carbon, Tariff
from coolpilot.training.callbacks import EvalCase, compare, evaluate_policy

REPO = Path(__file__).resolve().parents[2]
GRID_HALL = REPO / "training" / "configs" / "modern-hall-grid.yaml"
TARIFF = Tariff.model_validate({
    "price_per_mwh": 60.0, "demand_charge_per_kw_month": 15.0,
    "time_of_use": [{"start_hour": 12, "end_hour": 18, "price_per_mwh": 150.0, "weekdays_only": True}],
})


class PriceReader:
    """Rule-based control that records the grid price point it was given each step."""

    name = "price-reader"

    def __init__(self, rule: RuleBasedPolicy) -> None:
        self.rule = rule
        self.prices: list[float] = []

    def reset(self) -> None:
        self.rule.reset()
        self.prices.clear()

    def act(self, points: Mapping[str, float]) -> dict[str, float]:
        self.prices.append(points["grid_price_per_mwh"])
        return self.rule.act(points)


def test_the_grid_hall_is_modern_hall_with_the_grid_signals_block() -> None:
    grid, plain = load_facility(GRID_HALL), load_facility("modern-hall")
    skip = {"name", "description", "blocks"}
    assert {k: v for k, v in grid.model_dump().items() if k not in skip} == \
        {k: v for k, v in plain.model_dump().items() if k not in skip}
    assert grid.contract.blocks == (*plain.contract.blocks, "grid_signals")
    assert grid.contract.setpoints == plain.contract.setpoints


def test_evaluation_feeds_the_tariff_to_the_policy_and_prices_each_case_as_a_billing_month() -> None:
    cfg = load_facility(GRID_HALL)
    signals = grid_signals(TARIFF, Carbon())
    case = EvalCase("las-vegas", 196.0, 1.0)  # day 196: a Thursday, on-peak 12-18 h
    reader = PriceReader(RuleBasedPolicy(rule_based_settings(cfg)))
    priced = evaluate_policy(reader, cfg, [case], seed=0, signals=signals)
    assert set(reader.prices) == {60.0, 150.0}, "the policy must read the training tariff, not the flat default"
    result = simulate(cfg, load_climate("las-vegas"), RuleBasedPolicy(rule_based_settings(cfg)), days=1.0,
                      start_day=196.0, seed=0, signals=signals)
    kpis = compute_whatif_kpis(result, tariff=TARIFF, carbon=Carbon())
    assert priced.cost == pytest.approx(kpis.total_cost, rel=1e-9)
    assert kpis.demand_cost == pytest.approx(15.0 * kpis.peak_facility_power_kw, rel=1e-9)
    plain = evaluate_policy(RuleBasedPolicy(rule_based_settings(cfg)), cfg, [case], seed=0)
    assert plain.cost is None and "cost_saving_pct" not in compare(plain, plain)
    assert compare(priced, priced)["cost_saving_pct"] == 0.0


def test_flat_signals_price_energy_only() -> None:
    cfg = load_facility("modern-hall")
    flat = grid_signals(Tariff(price_per_mwh=100.0), Carbon())
    res = evaluate_policy(RuleBasedPolicy(rule_based_settings(cfg)), cfg, [EvalCase("san-francisco", 40.0, 0.5)],
                          seed=0, signals=flat)
    assert res.cost is not None and res.cost == pytest.approx(res.facility_kwh * 0.1, rel=1e-9)


def test_a_carbon_run_weighs_each_case_by_the_hours_grid_factor_and_selects_on_it() -> None:
    """A carbon-objective run's held-out evaluation: location-based carbon at each hour's factor of the training grid
    (a solar-heavy profile), the saving against rule-based, and that saving picks the best model."""
    from coolpilot.training.train import SELECT_BEST

    cfg = load_facility(GRID_HALL)
    carbon = Carbon(grid_t_co2_per_mwh=0.5703, solar_share=0.3)
    signals = grid_signals(TARIFF, carbon, climate="chicago")
    case = EvalCase("las-vegas", 196.0, 1.0)
    weighed = evaluate_policy(RuleBasedPolicy(rule_based_settings(cfg)), cfg, [case], seed=0, signals=signals)
    result = simulate(cfg, load_climate("las-vegas"), RuleBasedPolicy(rule_based_settings(cfg)), days=1.0,
                      start_day=196.0, seed=0, signals=signals)
    kpis = compute_whatif_kpis(result, tariff=TARIFF, carbon=carbon,
                               carbon_profile=tuple(float(v) for v in signals.carbon_t_per_mwh))
    assert weighed.carbon is not None and weighed.carbon == pytest.approx(kpis.carbon_location_t_co2e, rel=1e-9)
    assert weighed.carbon < kpis.facility_energy_mwh * 0.5703, "a July day's load meets the clean midday hours"
    assert compare(weighed, weighed)["carbon_saving_pct"] == 0.0
    assert SELECT_BEST["carbon"] == "carbon_saving_pct" and SELECT_BEST["cost"] == "cost_saving_pct"


def test_the_carbon_config_trains_on_the_solar_heavy_grid() -> None:
    from coolpilot.training.config import load_train_config
    from coolpilot.training.train import training_signals

    cfg = load_train_config(REPO / "training" / "configs" / "modern-hall-tes-carbon-ppo.yaml")
    assert cfg.env.objective.kind == "carbon" and load_facility(cfg.env.facility).storage.installed
    signals = training_signals(cfg)
    by_hour = signals.carbon_t_per_mwh.reshape(-1, 24).mean(axis=0)
    assert signals.mean_carbon_t_per_mwh == pytest.approx(0.5703, rel=1e-9)
    assert by_hour[12] < 0.4 * by_hour[0], "clean middays, dirty nights"
    assert set(signals.price_per_mwh) == {60.0, 150.0}, "the cost bundle's tariff, so the price points match"
