"""The shipped default bundle (models/modern-hall-ppo): intact, torch-free, safe and better than rule-based."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coolpilot.controller.policies.onnx_policy import OnnxPolicy
from coolpilot.envs.config import load_facility
from coolpilot.envs.kpis import compute_kpis
from coolpilot.envs.simulation import simulate
from coolpilot.envs.weather import load_climate
from coolpilot.evaluation.policies import make_policy

BUNDLE = Path(__file__).resolve().parents[2] / "models" / "modern-hall-ppo"


def test_shipped_bundle_verifies_and_describes_itself() -> None:
    policy = OnnxPolicy(BUNDLE)
    card = policy.card
    assert card["facility"] == "modern-hall" and card["training"]["algo"] == "ppo"
    assert card["parity"]["samples"] >= 10_000 and card["parity"]["max_abs_diff"] <= 1e-4
    held_out = set(card["evaluation"]["climates"])
    rand = card["training"]["config"]["env"]["randomization"]
    assert held_out and not held_out & set(rand["climates"])
    assert card["evaluation"]["degree_hours_above_27c"] == 0.0
    config = Path(__file__).resolve().parents[2] / "training" / "configs" / "modern-hall-ppo.yaml"
    assert config.is_file(), "the config that reproduces the shipped policy must ship with it"
    assert json.loads((BUNDLE / "card.json").read_text())["onnx"]["sha256"] == policy.sha256


@pytest.mark.parametrize(("climate", "start_day"), [("las-vegas", 200.0), ("san-francisco", 40.0)])
def test_shipped_policy_beats_rule_based_on_held_out_days_without_overheating(climate: str, start_day: float) -> None:
    cfg = load_facility("modern-hall")
    weather = load_climate(climate)
    shipped = compute_kpis(simulate(cfg, weather, make_policy(str(BUNDLE), cfg), days=2, start_day=start_day))
    rule = compute_kpis(simulate(cfg, weather, make_policy("rule-based", cfg), days=2, start_day=start_day))
    assert shipped.degree_hours_above_27c == 0.0 and shipped.inlet_temp_max_c < 27.0
    assert shipped.facility_energy_mwh < rule.facility_energy_mwh
