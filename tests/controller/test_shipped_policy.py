"""The shipped default bundles: intact, torch-free, reproducible from their configs, safe and smooth on held-out days.

Each shipped bundle is checked against its card and the committed training config that reproduces it, and
run on held-out days beside the best-practice rule-based controller: no inlet reaches 27 °C, setpoints move
no more than twice as often as rule-based's, and chillers start at most 1.5 times as often (plus one start a
day: two-day windows count starts in ones). Whether it saves energy is what its card claims over the held-out
evaluation; on these windows the test checks the claim's sign.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coolpilot.controller.policies.onnx_policy import OnnxPolicy
from coolpilot.envs.config import load_facility
from coolpilot.envs.contract import contract_from_card
from coolpilot.envs.simulation import simulate
from coolpilot.envs.weather import load_climate
from coolpilot.evaluation.kpis import compute_whatif_kpis
from coolpilot.evaluation.policies import make_policy
from coolpilot.evaluation.scenarios import Carbon, Tariff
from coolpilot.training.config import load_train_config

REPO = Path(__file__).resolve().parents[2]
SHIPPED = {"modern-hall-ppo": "modern-hall", "legacy-hall-ppo": "legacy-hall"}
"""Each shipped bundle and the facility it was trained for."""


@pytest.mark.parametrize(("bundle", "facility"), SHIPPED.items())
def test_shipped_bundle_verifies_and_describes_itself(bundle: str, facility: str) -> None:
    path = REPO / "models" / bundle
    policy = OnnxPolicy(path, load_facility(facility).contract, facility)
    card = policy.card
    assert card["facility"] == facility and card["training"]["algo"] == "ppo"
    assert card["contract_version"] == 2 and contract_from_card(card) == load_facility(facility).contract
    assert card["parity"]["samples"] >= 10_000 and card["parity"]["max_abs_diff"] <= 1e-4
    held_out = set(card["evaluation"]["climates"])
    rand = card["training"]["config"]["env"]["randomization"]
    assert held_out and not held_out & set(rand["climates"])
    assert card["evaluation"]["degree_hours_above_27c"] == 0.0
    assert json.loads((path / "card.json").read_text())["onnx"]["sha256"] == policy.sha256
    # Reproducible: the committed config trains it (every section; the run length the card states).
    committed = load_train_config(REPO / "training" / "configs" / f"{bundle}.yaml").model_dump(mode="json")
    trained = card["training"]["config"]
    for section in ("env", "policy", "ppo", "normalize", "pretrain", "eval"):
        assert trained[section] == committed[section], f"{bundle}: {section} differs from the committed config"
    assert committed["seed"] == trained["seed"] and card["training"]["timesteps"] >= committed["total_timesteps"]
    assert policy.deadband == committed["env"]["action_deadband"]


@pytest.mark.parametrize(("bundle", "facility"), SHIPPED.items())
@pytest.mark.parametrize(("climate", "start_day"), [("las-vegas", 200.0), ("san-francisco", 40.0)])
def test_shipped_policy_is_safe_and_smooth_on_held_out_days(bundle: str, facility: str, climate: str,
                                                            start_day: float) -> None:
    cfg = load_facility(facility)
    weather = load_climate(climate)
    runs = {name: compute_whatif_kpis(simulate(cfg, weather, make_policy(name, cfg), days=2, start_day=start_day),
                                      tariff=Tariff(), carbon=Carbon())
            for name in (bundle, "rule-based")}
    shipped, rule = runs[bundle], runs["rule-based"]
    assert shipped.degree_hours_above_27c == 0.0 and shipped.inlet_temp_max_c < 27.0
    assert shipped.setpoint_changes_per_day <= 2.0 * rule.setpoint_changes_per_day
    assert shipped.chiller_starts_per_day <= 1.5 * rule.chiller_starts_per_day + 1.0
    card_saving = OnnxPolicy(REPO / "models" / bundle).card["evaluation"]["facility_saving_pct"]
    if card_saving > 0.0:
        assert shipped.facility_energy_mwh < rule.facility_energy_mwh
