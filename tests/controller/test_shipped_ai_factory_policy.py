"""The shipped AI-factory bundle (models/ai-factory-ppo): intact, reproducible from its config, safe on held-out days.

It was trained on the ai-factory with the heat-reuse block left out of its contract
(training/configs/ai-factory-policy.yaml: the heat pump keeps its own sequence, the heat-supply contract), so it
runs where a facility's contract is exactly that. What it saves over a year is measured by
``benchmarks/bench_policy.py --policies ai-factory-ppo``; here the checks are the card, safety (inlets and GPU
cases) and wear.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from coolpilot.controller.policies.onnx_policy import BundleError, OnnxPolicy
from coolpilot.envs.config import load_facility
from coolpilot.envs.contract import contract_from_card
from coolpilot.envs.simulation import simulate
from coolpilot.envs.weather import load_climate
from coolpilot.evaluation.kpis import compute_whatif_kpis
from coolpilot.evaluation.policies import make_policy
from coolpilot.evaluation.scenarios import Carbon, Tariff
from coolpilot.training.config import config_from_mapping, load_train_config

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "models" / "ai-factory-ppo"
CONFIG = REPO / "training" / "configs" / "ai-factory-ppo.yaml"
FACILITY = "training/configs/ai-factory-policy.yaml"


def test_ai_factory_bundle_verifies_and_describes_itself() -> None:
    facility = load_facility(REPO / FACILITY)
    policy = OnnxPolicy(BUNDLE, facility.contract, facility.name)
    card = policy.card
    assert card["facility"] == FACILITY and card["training"]["algo"] == "ppo"
    assert card["contract_version"] == 2 and contract_from_card(card) == facility.contract
    assert "liquid_cooling" in card["contract"]["blocks"] and "heat_reuse" not in card["contract"]["blocks"]
    assert card["parity"]["samples"] >= 10_000 and card["parity"]["max_abs_diff"] <= 1e-4
    rand = card["training"]["config"]["env"]["randomization"]
    assert card["evaluation"]["climates"] and not set(card["evaluation"]["climates"]) & set(rand["climates"])
    assert card["evaluation"]["degree_hours_above_27c"] == 0.0
    committed = load_train_config(CONFIG).model_dump(mode="json")
    trained = config_from_mapping(card["training"]["config"], "card", REPO).model_dump(mode="json")
    for section in ("env", "policy", "ppo", "normalize", "pretrain", "eval"):
        assert trained[section] == committed[section], f"{section} differs from the committed config"
    assert committed["seed"] == trained["seed"]
    assert committed["env"]["objective"]["kind"] == "energy"
    assert policy.deadband == committed["env"]["action_deadband"]


def test_ai_factory_bundle_is_refused_where_the_contract_differs() -> None:
    full = load_facility("ai-factory")  # the preset's contract has the heat pump's duty too
    with pytest.raises(BundleError, match="heat_pump_duty_frac"):
        OnnxPolicy(BUNDLE, full.contract, full.name)


@pytest.mark.parametrize(("climate", "start_day"), [("las-vegas", 200.0), ("oklahoma-city", 15.0)])
def test_ai_factory_policy_is_safe_and_smooth_on_held_out_days(climate: str, start_day: float) -> None:
    cfg = load_facility(REPO / FACILITY)
    runs = {name: compute_whatif_kpis(simulate(cfg, load_climate(climate), make_policy(name, cfg), days=2,
                                               start_day=start_day), tariff=Tariff(), carbon=Carbon(), facility=cfg)
            for name in (str(BUNDLE), "rule-based")}
    shipped, rule = runs[str(BUNDLE)], runs["rule-based"]
    assert shipped.degree_hours_above_27c == 0.0 and shipped.inlet_temp_max_c < 27.0
    assert shipped.liquid is not None and shipped.liquid.hours_above_case_limit == 0.0
    assert shipped.liquid.throttled_gpu_energy_mwh == 0.0
    assert shipped.setpoint_changes_per_day <= 2.0 * rule.setpoint_changes_per_day
    assert shipped.chiller_starts_per_day <= 1.5 * rule.chiller_starts_per_day + 1.0
