"""The shipped cost-objective bundles (models/modern-hall-cost-ppo, models/modern-hall-tes-cost-ppo): intact,
reproducible from their configs, safe on held-out days under their tariff.

They were trained on modern-hall and modern-hall-tes with the grid_signals block
(training/configs/modern-hall-grid.yaml, training/configs/modern-hall-tes-grid.yaml): they read the tariff's price
and the billing peak as points, so they run only where a facility's contract has that block, and every run here
feeds them the tariff they were trained on. What they save on the bill is measured by
``benchmarks/bench_policy_cost.py``; here the checks are the card, safety and wear.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from coolpilot.controller.policies.onnx_policy import BundleError, OnnxPolicy
from coolpilot.envs.config import load_facility
from coolpilot.envs.simulation import simulate
from coolpilot.envs.weather import load_climate
from coolpilot.evaluation.kpis import compute_whatif_kpis, grid_signals
from coolpilot.evaluation.policies import make_policy
from coolpilot.evaluation.scenarios import Carbon, Tariff
from coolpilot.training.config import load_train_config
from tests.controller.helpers import check_shipped_card

REPO = Path(__file__).resolve().parents[2]
CASES = [(REPO / "models" / name, REPO / "training" / "configs" / f"{name}.yaml", f"training/configs/{grid}.yaml")
         for name, grid in (("modern-hall-cost-ppo", "modern-hall-grid"), ("modern-hall-tes-cost-ppo",
                                                                          "modern-hall-tes-grid"))]
"""(bundle, its training config, the facility the card names: a path from the repository root)."""
IDS = ["modern-hall", "modern-hall-tes"]


@pytest.mark.parametrize(("BUNDLE", "CONFIG", "FACILITY"), CASES, ids=IDS)
def test_cost_bundle_verifies_and_describes_itself(BUNDLE: Path, CONFIG: Path, FACILITY: str) -> None:
    facility = load_facility(REPO / FACILITY)
    policy = OnnxPolicy(BUNDLE, facility.contract, facility.name)
    card = policy.card
    committed = check_shipped_card(card, CONFIG, FACILITY, facility.contract, REPO)
    assert "grid_signals" in card["contract"]["blocks"]
    assert card["training"]["timesteps"] >= committed["total_timesteps"]
    assert committed["total_timesteps"] <= 1_000_000
    env = committed["env"]
    assert env["objective"]["kind"] == "cost" and env["tariff"]["demand_charge_per_kw_month"] > 0.0
    assert env["tariff"]["time_of_use"], "a time-of-use tariff"
    assert policy.deadband == env["action_deadband"]


@pytest.mark.parametrize(("BUNDLE", "CONFIG", "FACILITY"), CASES, ids=IDS)
def test_cost_bundle_is_refused_on_a_facility_without_grid_signals(BUNDLE: Path, CONFIG: Path, FACILITY: str) -> None:
    plain = load_facility("modern-hall")
    with pytest.raises(BundleError, match="grid_price_per_mwh"):
        OnnxPolicy(BUNDLE, plain.contract, plain.name)


@pytest.mark.parametrize(("BUNDLE", "CONFIG", "FACILITY"), CASES, ids=IDS)
@pytest.mark.parametrize(("climate", "start_day"), [("las-vegas", 200.0), ("oklahoma-city", 105.0)])
def test_cost_policy_is_safe_and_smooth_on_held_out_days_under_its_tariff(climate: str, start_day: float, BUNDLE: Path,
                                                                         CONFIG: Path, FACILITY: str) -> None:
    cfg = load_facility(REPO / FACILITY)
    tariff = Tariff.model_validate(load_train_config(CONFIG).model_dump(mode="json")["env"]["tariff"])
    signals = grid_signals(tariff, Carbon())
    runs = {name: compute_whatif_kpis(simulate(cfg, load_climate(climate), make_policy(name, cfg), days=2,
                                               start_day=start_day, signals=signals), tariff=tariff, carbon=Carbon())
            for name in (str(BUNDLE), "rule-based")}
    shipped, rule = runs[str(BUNDLE)], runs["rule-based"]
    assert shipped.degree_hours_above_27c == 0.0 and shipped.inlet_temp_max_c < 27.0
    assert shipped.setpoint_changes_per_day <= 2.0 * rule.setpoint_changes_per_day
    assert shipped.chiller_starts_per_day <= 1.5 * rule.chiller_starts_per_day + 1.0
