"""Legacy and rule-based policies: contract, behaviour of each loop."""

from __future__ import annotations

import pytest

from coolpilot.controller.policies import LegacyPolicy, Policy, RuleBasedPolicy, RuleBasedSettings
from coolpilot.envs.contract import SETPOINTS_BY_NAME, check_setpoints


def points(**overrides: float) -> dict[str, float]:
    base = {
        "outdoor_drybulb_c": 20.0, "outdoor_wetbulb_c": 15.0, "outdoor_rh_pct": 60.0,
        "time_of_day_sin": 0.0, "time_of_day_cos": 1.0, "it_power_kw": 800.0, "it_load_frac": 0.7,
        "inlet_temp_max_c": 22.0, "inlet_temp_mean_c": 21.0, "supply_air_temp_c": 20.0,
        "return_air_temp_c": 32.0, "crah_fan_speed_frac": 0.8, "chw_supply_temp_c": 12.0,
        "chw_return_temp_c": 18.0, "condenser_water_temp_c": 20.0, "cooling_load_kw": 900.0,
        "economizer_load_frac": 0.0, "chillers_running": 1.0, "cooling_power_kw": 150.0,
        "facility_power_kw": 1000.0,
    }
    base.update(overrides)
    return base


@pytest.mark.parametrize("policy", [LegacyPolicy(), RuleBasedPolicy()])
def test_policies_meet_the_contract(policy: Policy) -> None:
    assert isinstance(policy, Policy)
    policy.reset()
    for inlet in (15.0, 22.0, 25.0, 26.5, 30.0):
        sp = policy.act(points(inlet_temp_max_c=inlet))
        check_setpoints(sp)
        for name, value in sp.items():
            spec = SETPOINTS_BY_NAME[name]
            assert spec.low <= value <= spec.high, (name, value)


def test_legacy_is_fixed() -> None:
    sp = LegacyPolicy().act(points())
    assert sp == {"supply_air_temp_c": 18.0, "crah_fan_speed_frac": 1.0, "chw_supply_temp_c": 7.0,
                  "condenser_water_temp_c": 29.4}


def test_rule_based_raises_supply_air_when_inlets_are_cool_and_cuts_it_when_hot() -> None:
    policy = RuleBasedPolicy()
    policy.reset()
    cool = [policy.act(points(inlet_temp_max_c=21.0))["supply_air_temp_c"] for _ in range(5)]
    assert cool == sorted(cool) and cool[-1] > cool[0]
    before = policy.act(points(inlet_temp_max_c=25.0))["supply_air_temp_c"]
    hot = policy.act(points(inlet_temp_max_c=26.5))
    assert hot["supply_air_temp_c"] == pytest.approx(before - 1.0)


def test_rule_based_fans_follow_mixing_at_the_hottest_rack() -> None:
    policy = RuleBasedPolicy(RuleBasedSettings(mix_target_k=2.0))
    policy.reset()
    low_mix = [policy.act(points(inlet_temp_max_c=21.0, supply_air_temp_c=20.5))["crah_fan_speed_frac"]
               for _ in range(5)]
    assert low_mix[-1] < low_mix[0]
    high = policy.act(points(inlet_temp_max_c=24.0, supply_air_temp_c=19.0))["crah_fan_speed_frac"]
    assert high > low_mix[-1]


def test_rule_based_chilled_water_tracks_supply_air() -> None:
    policy = RuleBasedPolicy(RuleBasedSettings(coil_approach_k=3.0, chw_margin_k=1.0))
    policy.reset()
    sp = policy.act(points(inlet_temp_max_c=25.0))
    assert sp["chw_supply_temp_c"] == pytest.approx(sp["supply_air_temp_c"] - 4.0)


def test_rule_based_condenser_water_free_cooling_and_wetbulb_reset() -> None:
    policy = RuleBasedPolicy(RuleBasedSettings(economizer=True, min_condenser_c=15.5))
    free = policy.act(points(outdoor_wetbulb_c=5.0, chw_return_temp_c=18.0))
    assert free["condenser_water_temp_c"] == 10.0
    summer = policy.act(points(outdoor_wetbulb_c=22.0, chw_return_temp_c=18.0))
    assert summer["condenser_water_temp_c"] == pytest.approx(26.0)
    no_wse = RuleBasedPolicy(RuleBasedSettings(economizer=False, min_condenser_c=18.0))
    assert no_wse.act(points(outdoor_wetbulb_c=5.0))["condenser_water_temp_c"] == 18.0


def test_batched_rule_based_is_the_policy_arithmetic() -> None:
    """rule_based_batch with the policy's integrator state gives exactly what act() gives, over a simulated day."""
    import numpy as np

    from coolpilot.controller.policies.rule_based import rule_based_batch, rule_based_settings
    from coolpilot.envs.config import load_facility
    from coolpilot.envs.simulation import simulate
    from coolpilot.envs.weather import load_climate

    cfg = load_facility("modern-hall")
    settings = rule_based_settings(cfg)
    inner = RuleBasedPolicy(settings)
    names = cfg.contract.point_names

    class Checked:
        name = "checked"
        worst = 0.0
        steps = 0

        def reset(self) -> None:
            inner.reset()

        def act(self, points: dict[str, float]) -> dict[str, float]:
            row = np.array([[points[n] for n in names]])
            batch = rule_based_batch(row, settings, np.array([inner._sat]), np.array([inner._fan]), names)[0]
            out = inner.act(points)
            Checked.worst = max(Checked.worst, *(abs(out[n] - b) for n, b in zip(settings.setpoint_names, batch,
                                                                                 strict=True)))
            Checked.steps += 1
            return out

    simulate(cfg, load_climate("phoenix"), Checked(), days=1, start_day=190)
    assert Checked.steps == 288 and Checked.worst == 0.0
