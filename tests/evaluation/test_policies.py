"""The policy registry builds each policy for a facility's contract: rule-based commands every setpoint the facility
has, a contract-1 bundle commands the core four on any preset while the plant sequences its levers, and a bundle
for another contract is refused naming the difference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from coolpilot.envs.config import load_facility
from coolpilot.envs.contract import CORE_CONTRACT
from coolpilot.envs.simulation import simulate
from coolpilot.envs.weather import load_climate
from coolpilot.evaluation.policies import make_policy

PRESETS = ("modern-hall", "legacy-hall", "campus")
CONTRACT1_BUNDLE = Path(__file__).resolve().parents[1] / "data" / "bundles" / "contract1-modern-hall-ppo"
"""The contract-1 bundle shipped before contracts followed the equipment (tests/data/bundles/README.md)."""


@pytest.mark.parametrize("preset", PRESETS)
def test_rule_based_commands_every_setpoint_of_the_facility(preset: str) -> None:
    cfg = load_facility(preset)
    policy = make_policy("rule-based", cfg)
    policy.reset()
    result = simulate(cfg, load_climate("chicago"), policy, days=0.25, start_day=120)
    points = dict(zip(cfg.contract.point_names, np.zeros(len(cfg.contract.points)), strict=True))
    points.update({"inlet_temp_max_c": 24.0, "supply_air_temp_c": 18.0, "crah_fan_speed_frac": 0.6,
                   "outdoor_wetbulb_c": 10.0, "chw_return_temp_c": 16.0, "chw_flow_frac": 0.5})
    assert tuple(policy.act(points)) == cfg.contract.setpoint_names
    recorded = [k.removeprefix("setpoint_") for k in result.series if k.startswith("setpoint_")]
    assert tuple(recorded) == cfg.contract.setpoint_names


@pytest.mark.parametrize("preset", PRESETS)
def test_a_contract_1_bundle_runs_on_every_preset_commanding_the_core_four(preset: str) -> None:
    cfg = load_facility(preset)
    policy = make_policy(str(CONTRACT1_BUNDLE), cfg)
    points = {name: 0.5 * (p.low + p.high) for name, p in cfg.contract.points_by_name.items()}
    assert tuple(policy.act(points)) == CORE_CONTRACT.setpoint_names
    result = simulate(cfg, load_climate("denver"), policy, days=0.25, start_day=200)
    if "chiller_stage_up_plr" in cfg.contract.setpoints_by_name:  # left to the plant: its own stage-up threshold
        assert np.all(result.series["setpoint_chiller_stage_up_plr"] == cfg.chillers.stage_up_plr)


def test_a_bundle_of_another_contract_is_refused_naming_the_difference(tiny_bundle: Path) -> None:
    modern = load_facility("modern-hall").contract
    policy = make_policy(str(tiny_bundle), load_facility("modern-hall"))
    assert tuple(policy.act({p.name: 0.5 * (p.low + p.high) for p in modern.points})) == modern.setpoint_names
    with pytest.raises(ValueError, match="does not fit facility legacy-hall") as err:
        make_policy(str(tiny_bundle), load_facility("legacy-hall"))
    assert "'tower_cell_flow_min_frac'" in str(err.value)


def test_an_unknown_policy_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown policy 'magic'; choose one of legacy, rule-based, oracle"):
        make_policy("magic", load_facility("modern-hall"))
