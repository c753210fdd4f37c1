"""The oracle: its plans respect the inlet limit and it does not lose to rule-based control."""

from __future__ import annotations

import numpy as np
import pytest

from coolpilot.envs.config import load_facility
from coolpilot.envs.kpis import compute_kpis
from coolpilot.envs.simulation import PlantAwarePolicy, simulate
from coolpilot.envs.weather import load_climate
from coolpilot.evaluation.oracle import OraclePolicy
from coolpilot.evaluation.policies import make_policy


def run(preset: str, climate: str, policy: str, days: float, start_day: float) -> tuple[float, float]:
    cfg = load_facility(preset)
    k = compute_kpis(simulate(cfg, load_climate(climate), make_policy(policy, cfg), days=days, start_day=start_day))
    return k.facility_energy_mwh, k.inlet_temp_max_c


@pytest.mark.parametrize(("preset", "climate", "start_day"),
                         [("modern-hall", "chicago", 15), ("legacy-hall", "phoenix", 190), ("campus", "miami", 200)])
def test_oracle_stays_under_the_limit_and_beats_rule_based_over_a_day(preset: str, climate: str,
                                                                       start_day: float) -> None:
    oracle_mwh, oracle_max_inlet = run(preset, climate, "oracle", 1, start_day)
    rule_mwh, _ = run(preset, climate, "rule-based", 1, start_day)
    assert oracle_max_inlet <= 27.0
    assert oracle_mwh <= rule_mwh


def test_oracle_plans_are_within_bounds_and_it_refuses_to_run_without_the_plant() -> None:
    cfg = load_facility("modern-hall")
    oracle = make_policy("oracle", cfg)
    assert isinstance(oracle, PlantAwarePolicy)
    result = simulate(cfg, load_climate("las-vegas"), oracle, days=0.5, start_day=200)
    s = result.series
    assert np.all((s["setpoint_supply_air_temp_c"] >= 14.0) & (s["setpoint_supply_air_temp_c"] <= 26.0))
    assert np.all((s["setpoint_crah_fan_speed_frac"] >= 0.3) & (s["setpoint_crah_fan_speed_frac"] <= 1.0))
    with pytest.raises(RuntimeError, match="plans on the simulator"):
        OraclePolicy().act({})


def test_oracle_is_seeded() -> None:
    a = run("campus", "sterling", "oracle", 0.5, 100)
    b = run("campus", "sterling", "oracle", 0.5, 100)
    assert a == b


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["legacy-hall", "modern-hall", "campus"])
@pytest.mark.parametrize("climate", ["chicago", "miami", "phoenix"])
def test_oracle_beats_rule_based_over_a_month(preset: str, climate: str) -> None:
    oracle_mwh, oracle_max_inlet = run(preset, climate, "oracle", 30, 180)
    rule_mwh, _ = run(preset, climate, "rule-based", 30, 180)
    assert oracle_max_inlet <= 27.0
    assert oracle_mwh <= rule_mwh
