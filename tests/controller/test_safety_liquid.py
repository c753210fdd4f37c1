"""The safety envelope on a liquid-cooled hall: a GPU-case limit beside the inlet limit, and the warm-water setpoints'
cooling directions (colder facility water and rack coolant, more coolant flow, more heat-pump duty cool more)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coolpilot.controller.safety import EnvelopeState, SafetyConfigError, SafetyLimits, decide, limits_from_mapping
from coolpilot.envs.config import load_facility
from coolpilot.envs.contract import Contract

NOW_S = 1_700_000_000.0
AI = load_facility("ai-factory").contract
LIQUID = ("fws_supply_temp_c", "tcs_supply_temp_c", "cdu_flow_frac", "heat_pump_duty_frac")


def _healthy(contract: Contract, **changes: float) -> dict[str, object]:
    """Mid-range readings, inlets at 24 °C, GPU cases at 60 °C, the economizer enabled."""
    points: dict[str, object] = {p.name: (p.low + p.high) / 2.0 for p in contract.points}
    points.update({"inlet_temp_max_c": 24.0, "inlet_temp_mean_c": 22.0, "economizer_enable": 1.0,
                   "outdoor_drybulb_c": 20.0, "outdoor_wetbulb_c": 14.0, "supply_air_temp_c": 20.0,
                   "case_temp_max_c": 60.0, "fws_supply_temp_c": 30.0, "tcs_supply_temp_c": 33.0,
                   "cdu_flow_frac": 0.8, "heat_pump_duty_frac": 0.5})
    points.update(changes)
    return points


def _start(contract: Contract) -> dict[str, float]:
    out = {s.name: (1.0 if s.discrete else (s.low + s.high) / 2.0) for s in contract.setpoints}
    out.update(fws_supply_temp_c=30.0, tcs_supply_temp_c=33.0, cdu_flow_frac=0.8, heat_pump_duty_frac=0.5)
    return out


def _warmer(contract: Contract, last: dict[str, float]) -> dict[str, float]:
    """Every setpoint one small step toward less cooling."""
    return {s.name: last[s.name] - s.cooling_direction * min(s.slew_per_min, 0.05 * (s.high - s.low))
            for s in contract.setpoints}


def test_the_liquid_setpoints_cooling_directions() -> None:
    specs = AI.setpoints_by_name
    assert specs["fws_supply_temp_c"].cooling_direction == -1
    assert specs["tcs_supply_temp_c"].cooling_direction == -1
    assert specs["cdu_flow_frac"].cooling_direction == +1
    assert specs["heat_pump_duty_frac"].cooling_direction == +1


def test_cases_near_their_limit_block_every_move_toward_less_cooling() -> None:
    last = _start(AI)
    d = decide(_healthy(AI, case_temp_max_c=76.0), None, NOW_S, _warmer(AI, last), EnvelopeState(last, {}, 0),
               SafetyLimits.for_contract(AI), 300.0)
    assert d.setpoints is not None
    for name in LIQUID:
        assert d.setpoints[name] == last[name], name
    assert any(i.reason == "thermal_guard" and i.target == "fws_supply_temp_c" for i in d.interventions)
    cool = decide(_healthy(AI, case_temp_max_c=60.0), None, NOW_S, _warmer(AI, last), EnvelopeState(last, {}, 0),
                  SafetyLimits.for_contract(AI), 300.0)
    assert cool.setpoints is not None and cool.setpoints["fws_supply_temp_c"] > last["fws_supply_temp_c"]


def test_a_case_at_its_limit_writes_the_safe_action_at_once() -> None:
    last = _start(AI)
    d = decide(_healthy(AI, case_temp_max_c=81.0), None, NOW_S, _warmer(AI, last), EnvelopeState(last, {}, 0),
               SafetyLimits.for_contract(AI), 300.0)
    assert d.source == "safe" and d.setpoints is not None
    assert d.setpoints["fws_supply_temp_c"] == 20.0 and d.setpoints["tcs_supply_temp_c"] == 25.0  # safe values
    assert d.setpoints["cdu_flow_frac"] == 1.0 and d.setpoints["heat_pump_duty_frac"] == 1.0
    assert any("case limit" in i.detail for i in d.interventions if i.reason == "thermal_limit")


def test_an_unknown_case_temperature_holds_the_guard() -> None:
    last = _start(AI)
    points = _healthy(AI)
    del points["case_temp_max_c"]
    d = decide(points, None, NOW_S, _warmer(AI, last), EnvelopeState(last, {}, 0), SafetyLimits.for_contract(AI),
               300.0)
    assert d.setpoints is not None and d.setpoints["fws_supply_temp_c"] <= last["fws_supply_temp_c"]


def test_an_air_cooled_contract_ignores_case_readings() -> None:
    modern = load_facility("modern-hall").contract
    last = {s.name: (1.0 if s.discrete else (s.low + s.high) / 2.0) for s in modern.setpoints}
    points = {p.name: (p.low + p.high) / 2.0 for p in modern.points}
    points.update({"inlet_temp_max_c": 24.0, "inlet_temp_mean_c": 22.0, "case_temp_max_c": 99.0})
    d = decide(points, None, NOW_S, last, EnvelopeState(last, {}, 0), SafetyLimits.for_contract(modern), 300.0)
    assert d.source != "safe"


def test_case_limits_are_validated() -> None:
    with pytest.raises(SafetyConfigError, match="case_guard_c"):
        limits_from_mapping({"case_guard_c": 85.0, "case_limit_c": 80.0}, "site.yaml", AI)
    assert limits_from_mapping({"case_limit_c": 75.0, "case_guard_c": 70.0}, "site.yaml", AI).case_limit_c == 75.0


@settings(max_examples=150, deadline=None, derandomize=True)
@given(case=st.floats(30.0, 110.0), fws=st.floats(10.0, 50.0), tcs=st.floats(10.0, 55.0), flow=st.floats(0.0, 1.5),
       duty=st.floats(-0.5, 1.5))
def test_whatever_is_proposed_hot_cases_only_get_more_cooling(case: float, fws: float, tcs: float, flow: float,
                                                              duty: float) -> None:
    limits = SafetyLimits.for_contract(AI)
    last = _start(AI)
    proposal = {**last, "fws_supply_temp_c": fws, "tcs_supply_temp_c": tcs, "cdu_flow_frac": flow,
                "heat_pump_duty_frac": duty}
    d = decide(_healthy(AI, case_temp_max_c=case), None, NOW_S, proposal, EnvelopeState(last, {}, 0), limits, 300.0)
    assert d.setpoints is not None
    for name in LIQUID:
        spec = AI.setpoints_by_name[name]
        low, high = limits.bounds[name]
        assert low <= d.setpoints[name] <= high
        if case >= limits.case_guard_c:
            assert spec.cooling_direction * (d.setpoints[name] - last[name]) >= -1e-9, (name, case)
    if case >= limits.case_limit_c:
        assert d.source == "safe"
