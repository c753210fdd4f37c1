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
from coolpilot.envs.simulation import simulate
from coolpilot.envs.weather import load_climate
from coolpilot.evaluation.kpis import compute_whatif_kpis
from coolpilot.evaluation.policies import make_policy
from coolpilot.evaluation.scenarios import Carbon, Tariff
from tests.controller.helpers import check_shipped_card

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "models" / "ai-factory-ppo"
CONFIG = REPO / "training" / "configs" / "ai-factory-ppo.yaml"
FACILITY = "training/configs/ai-factory-policy.yaml"


def test_ai_factory_bundle_verifies_and_describes_itself() -> None:
    facility = load_facility(REPO / FACILITY)
    policy = OnnxPolicy(BUNDLE, facility.contract, facility.name)
    card = policy.card
    committed = check_shipped_card(card, CONFIG, FACILITY, facility.contract, REPO)
    assert "liquid_cooling" in card["contract"]["blocks"] and "heat_reuse" not in card["contract"]["blocks"]
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
