"""The safety envelope on every preset's contract: every rule holds for every setpoint of every block.

The per-setpoint rules (bounds, rate, cooling direction, safe value, feedback point, whole steps,
free-cooling hold) come from the contract's setpoint specs, so the properties are checked for
the core block alone (contract version 1), legacy-hall, modern-hall, campus, modern-hall-tes, campus-tes and the
liquid-cooled ai-factory and modern-hall-ai-pod (whose hottest GPU case has a guard and a limit beside the inlet's),
on the whole contract and on the part a contract-1 bundle commands. Whatever the model, the fallback and the
operator send, what is written is finite, in bounds, a whole step where discrete, rate-limited
(a discrete setpoint: at most one change per its minimum time), only toward more cooling near
the limit, and the safe action at the limit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from coolpilot.controller.safety import (
    ECONOMIZER_POINT,
    Decision,
    EnvelopeState,
    ModelError,
    SafetyConfigError,
    SafetyLimits,
    decide,
    initial_state,
    limits_from_mapping,
    parse_setpoints,
    sub_contract,
)
from coolpilot.envs.config import load_facility
from coolpilot.envs.contract import CORE_CONTRACT, POINT_SPECS, SETPOINT_NAMES, Contract, SetpointSpec

NOW_S = 1_700_000_000.0
TOL = 1e-9
"""Floating-point slack on bounds and rate limits (in the setpoint's unit)."""

CONTRACTS: dict[str, Contract] = {"core": CORE_CONTRACT, **{name: load_facility(name).contract
                                                            for name in ("legacy-hall", "modern-hall", "campus",
                                                                         "modern-hall-tes", "campus-tes",
                                                                         "ai-factory", "modern-hall-ai-pod")}}
"""Every preset's contract and the core block alone (what a site file without a facility runs)."""

ECONOMIZER_EVERY_20_MIN = {"rate_per_min": {"economizer_enable": 0.05}}
"""A site that wants the envelope to space economizer changes: one whole step per 20 minutes."""


def _limits(contract: Contract, narrow: bool) -> SafetyLimits:
    """The contract's own limits, or narrowed ones (bounds inside, slower rates, a tight thermal band)."""
    if not narrow:
        return SafetyLimits.for_contract(contract)
    bounds: dict[str, tuple[float, float]] = {}
    rates: dict[str, float] = {}
    for s in contract.setpoints:
        if s.discrete:
            rates[s.name] = 0.05
            continue
        span = s.high - s.low
        bounds[s.name] = (s.low + 0.1 * span, s.high - 0.1 * span)
        rates[s.name] = s.slew_per_min / 3.0
    safe = {s.name: min(max(s.safe, bounds[s.name][0]), bounds[s.name][1]) for s in contract.setpoints
            if s.name in bounds}
    return SafetyLimits.for_contract(contract, bounds=bounds, rate_per_min=rates, safe_setpoints=safe,
                                     guard_c=25.0, limit_c=26.5, hold_cycles=0, stuck_after=2)


LIMITS = {(name, narrow): _limits(c, narrow) for name, c in CONTRACTS.items() for narrow in (False, True)}

_MISSING = object()
_GARBAGE = st.one_of(st.none(), st.text(max_size=4), st.booleans(), st.just(math.nan), st.just(math.inf),
                     st.just(-math.inf), st.floats(allow_nan=True, allow_infinity=True),
                     st.integers(-(10**30), 10**30))
_ANY_FLOAT = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(-5.0, 40.0), st.just(0.5))


def _realistic(name: str) -> st.SearchStrategy[float]:
    """A plausible reading: inlets around the guard and the limit, the rest anywhere in their physical range."""
    spec = POINT_SPECS[name]
    if name == "inlet_temp_max_c":
        return st.floats(15.0, 29.0)
    if name == "inlet_temp_mean_c":
        return st.floats(15.0, 25.0)
    if name == "case_temp_max_c":  # around the case guard (75 °C) and limit (80 °C)
        return st.floats(55.0, 90.0)
    if name == "economizer_enable":
        return st.sampled_from([0.0, 1.0])
    return st.floats(spec.low, spec.high)


@st.composite
def _points(draw: st.DrawFn, contract: Contract) -> dict[str, object]:
    """Plausible readings of every contract point, with up to six missing or garbage."""
    points: dict[str, object] = {p.name: draw(_realistic(p.name)) for p in contract.points}
    corrupt = draw(st.dictionaries(st.sampled_from(contract.point_names), st.one_of(_GARBAGE, st.just(_MISSING)),
                                   max_size=6))
    points.update(corrupt)
    return {n: v for n, v in points.items() if v is not _MISSING}


def _plausible(specs: tuple[SetpointSpec, ...], partial: bool = False) -> st.SearchStrategy[dict[str, float]]:
    """Setpoints around their bounds (a little outside too); discrete ones anywhere in [-0.5, 1.5]."""
    strategies = {s.name: st.floats(s.low - 0.2 * (s.high - s.low), s.high + 0.2 * (s.high - s.low))
                  for s in specs}
    if partial:
        return st.dictionaries(st.sampled_from([s.name for s in specs]), st.floats(-1.0, 40.0), min_size=1)
    return st.fixed_dictionaries(strategies)


def _proposals(contract: Contract, known: Contract) -> st.SearchStrategy[object]:
    names = [*known.setpoint_names, "extra"]
    return st.one_of(
        _plausible(contract.setpoints),
        st.fixed_dictionaries({n: _ANY_FLOAT for n in contract.setpoint_names}),
        st.dictionaries(st.sampled_from(names), st.one_of(_ANY_FLOAT, _GARBAGE), max_size=len(names)),
        hnp.arrays(np.float64, st.sampled_from([(len(contract.setpoints),), (3,), (1, 4), (0,)]),
                   elements=_ANY_FLOAT),
        st.builds(ModelError, st.text(max_size=10)),
        _GARBAGE,
    )


@st.composite
def _envelope(draw: st.DrawFn, limits: SafetyLimits, contract: Contract) -> EnvelopeState:
    """A previous decision: every setpoint, some of them (a partial fallback) or none, and discrete hold times."""
    last: dict[str, float] | None = {}
    for s in contract.setpoints:
        low, high = limits.bounds[s.name]
        assert last is not None
        last[s.name] = draw(st.sampled_from([low, high]) if s.discrete else st.floats(low, high))
    kind = draw(st.sampled_from(["all", "some", "none"]))
    if kind == "some":
        keep = draw(st.sets(st.sampled_from(contract.setpoint_names), min_size=1))
        last = {n: v for n, v in (last or {}).items() if n in keep}
    elif kind == "none":
        last = None
    held = {s.name: draw(st.floats(0.0, 3600.0)) for s in contract.setpoints if s.discrete and last and s.name in last}
    history = draw(st.dictionaries(st.sampled_from(limits.stuck_points),
                                   st.tuples(st.floats(0.0, 60.0), st.integers(0, 20)), max_size=3))
    return EnvelopeState(last, history, draw(st.integers(0, 5)), held)


def _finite_real(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        x = float(value)
    except OverflowError:
        return None
    return x if math.isfinite(x) else None


def _written_is_sane(d: Decision, limits: SafetyLimits, contract: Contract) -> None:
    """Finite, within bounds, whole steps where discrete, only the decision's setpoints; the rest handed back."""
    if d.setpoints is None:
        assert d.source in ("relinquish",) and d.relinquished == contract.setpoint_names
        return
    assert set(d.setpoints) <= set(contract.setpoint_names), d.setpoints
    assert set(d.relinquished) == set(contract.setpoint_names) - set(d.setpoints)
    for name, value in d.setpoints.items():
        low, high = limits.bounds[name]
        assert math.isfinite(value) and low - TOL <= value <= high + TOL, (name, value, (low, high))
        if contract.setpoints_by_name[name].discrete:
            assert value in (0.0, 1.0), (name, value)


def _assert_safe_action(d: Decision, points: Mapping[str, object], envelope: EnvelopeState, limits: SafetyLimits,
                        contract: Contract) -> None:
    """Every setpoint of the contract at least as cooling as its configured value and the current state."""
    assert d.setpoints is not None and set(d.setpoints) == set(contract.setpoint_names) and d.source == "safe"
    failed = {i.target for i in d.interventions if i.reason.startswith("sensor_")}
    last = envelope.last_written or {}
    for spec in contract.setpoints:
        value = d.setpoints[spec.name]
        low, high = limits.bounds[spec.name]
        measured = _finite_real(points.get(spec.measured_by)) if spec.measured_by not in failed else None
        now = [min(max(measured, low), high)] if measured is not None else []
        now += [last[spec.name]] if spec.name in last else []
        for than in (limits.safe_setpoints[spec.name], *now):
            assert spec.cooling_direction * (value - than) >= -TOL, f"{spec.name} = {value} cools less than {than}"


def _check(d: Decision, points: Mapping[str, object], envelope: EnvelopeState, limits: SafetyLimits,
           contract: Contract, period_s: float) -> None:
    """The properties of one decision against the state it started from."""
    _written_is_sane(d, limits, contract)
    inlet = _finite_real(points.get("inlet_temp_max_c"))
    inlet = inlet if inlet is not None and 0.0 <= inlet <= 60.0 else None
    liquid = "case_temp_max_c" in contract.points_by_name
    case = _finite_real(points.get("case_temp_max_c")) if liquid else None
    case = case if case is not None and 0.0 <= case <= 120.0 else None
    if (inlet is not None and inlet >= limits.limit_c) or (case is not None and case >= limits.case_limit_c):
        assert d.source == "safe"
        _assert_safe_action(d, points, envelope, limits, contract)
        return
    hot_case = liquid and (case is None or case >= limits.case_guard_c)
    if d.setpoints is None or d.source == "safe":
        return
    last = envelope.last_written or {}
    for name, value in d.setpoints.items():
        if name not in last:
            continue
        spec = contract.setpoints_by_name[name]
        if spec.discrete:
            if value != last[name] and name in envelope.held_s:
                assert envelope.held_s[name] + period_s >= limits.min_hold_s(name) - TOL, (name, envelope.held_s)
        else:
            assert abs(value - last[name]) <= limits.max_step(name, period_s) + TOL, (name, value, last[name])
        if inlet is None or inlet >= limits.guard_c or hot_case:
            assert spec.cooling_direction * (value - last[name]) >= -TOL, f"{name} moved toward less cooling"


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), which=st.sampled_from(sorted(LIMITS)), commanded=st.sampled_from(["all", "core"]),
       period_s=st.sampled_from([1.0, 60.0, 300.0, 900.0]), write_safe=st.booleans())
def test_every_setpoint_of_every_contract_is_written_finite_bounded_rate_limited_and_cooling_when_hot(
        data: st.DataObject, which: tuple[str, bool], commanded: str, period_s: float, write_safe: bool) -> None:
    """Whatever comes in (NaN, inf, garbage, out of bounds), on every preset's contract and the part a
    contract-1 bundle commands, the written setpoints keep every rule."""
    limits = LIMITS[which]
    contract = limits.contract if commanded == "all" else sub_contract(limits.contract,
                                                                        setpoints=SETPOINT_NAMES)
    points = data.draw(_points(limits.contract), "points")
    proposal = data.draw(_proposals(contract, limits.contract), "proposal")
    fallback = data.draw(st.one_of(st.none(), _plausible(limits.contract.setpoints),
                                   _plausible(limits.contract.setpoints, partial=True),
                                   st.dictionaries(st.sampled_from([*limits.contract.setpoint_names, "bogus"]),
                                                   st.one_of(_ANY_FLOAT, _GARBAGE), max_size=4)), "fallback")
    overrides = data.draw(st.one_of(st.none(), st.dictionaries(
        st.sampled_from([*limits.contract.setpoint_names, "bogus"]), _ANY_FLOAT, max_size=3)), "overrides")
    envelope = data.draw(_envelope(limits, contract), "state")
    d = decide(points, None, NOW_S, proposal, envelope, limits, period_s, None, fallback, overrides,
               write_safe=write_safe, contract=contract)
    event(f"{which[0]} source {d.source}")
    if write_safe:
        _assert_safe_action(d, points, envelope, limits, contract)
        assert "fallback_safe" in [i.reason for i in d.interventions]
    else:
        _check(d, points, envelope, limits, contract, period_s)
    assert d.state.last_written == d.setpoints


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(which=st.sampled_from(sorted(LIMITS)), data=st.data())
def test_over_many_cycles_every_rule_holds_against_the_previous_write(which: tuple[str, bool],
                                                                       data: st.DataObject) -> None:
    """A run of decisions: each write keeps the rate of the one before, discrete changes stay spaced."""
    limits = LIMITS[which]
    contract = limits.contract
    envelope = initial_state()
    for k in range(12):
        points = data.draw(_points(contract), f"points {k}")
        proposal = data.draw(_proposals(contract, contract), f"proposal {k}")
        fallback = data.draw(st.one_of(st.none(), _plausible(contract.setpoints, partial=True)), f"fallback {k}")
        d = decide(points, None, NOW_S + 300.0 * k, proposal, envelope, limits, 300.0, None, fallback)
        _check(d, points, envelope, limits, contract, 300.0)
        envelope = d.state


def _healthy(contract: Contract, **changes: float) -> dict[str, object]:
    """Mid-range readings of every point, inlets at 24 °C, the economizer enabled."""
    points: dict[str, object] = {p.name: (p.low + p.high) / 2.0 for p in contract.points}
    points.update({"inlet_temp_max_c": 24.0, "inlet_temp_mean_c": 22.0, "economizer_enable": 1.0,
                   "outdoor_drybulb_c": 20.0, "outdoor_wetbulb_c": 14.0, "supply_air_temp_c": 20.0})
    points.update(changes)
    return points


def _start(contract: Contract) -> dict[str, float]:
    """Setpoints in the middle of their bounds (discrete ones on)."""
    return {s.name: (1.0 if s.discrete else (s.low + s.high) / 2.0) for s in contract.setpoints}


def test_a_discrete_setpoint_is_written_in_whole_steps_and_changes_at_most_once_per_its_minimum_time() -> None:
    contract = CONTRACTS["modern-hall"]
    limits = limits_from_mapping(ECONOMIZER_EVERY_20_MIN, "site.yaml", contract)
    last = _start(contract)
    envelope = EnvelopeState(last, {}, 0, {"economizer_enable": 3600.0})
    written: list[float] = []
    for k, proposed in enumerate([0.3, 0.9, 0.7, 0.8, 0.6, 0.1, 0.49, 0.2]):
        d = decide(_healthy(contract, economizer_enable=last["economizer_enable"]), None, NOW_S + 300.0 * k,
                   {**last, "economizer_enable": proposed}, envelope, limits, 300.0)
        assert d.setpoints is not None
        written.append(d.setpoints["economizer_enable"])
        envelope = d.state
        last = {**last, "economizer_enable": written[-1]}
    assert set(written) <= {0.0, 1.0}
    assert written == [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0], "off at once (it had held an hour), back on " \
        "only 20 minutes (four 300 s periods) later, then held on for 20 minutes again"
    free = decide(_healthy(contract), None, NOW_S, {**_start(contract), "economizer_enable": 0.7}, initial_state(),
                  SafetyLimits.for_contract(contract), 300.0)
    assert free.setpoints is not None and free.setpoints["economizer_enable"] == 1.0, "0.7 is on (≥ 0.5)"


def test_near_the_limit_the_new_levers_only_move_toward_more_cooling() -> None:
    contract = CONTRACTS["modern-hall"]
    last = _start(contract)
    warmer = {s.name: (last[s.name] - s.cooling_direction * min(s.slew_per_min, 0.05 * (s.high - s.low)))
              for s in contract.setpoints}
    warmer["economizer_enable"] = 0.0
    d = decide(_healthy(contract, inlet_temp_max_c=26.5), None, NOW_S, warmer, EnvelopeState(last, {}, 0),
               SafetyLimits.for_contract(contract), 300.0)
    assert d.setpoints == last, "every move toward less cooling blocked"
    assert {i.target for i in d.interventions if i.reason == "thermal_guard"} == set(contract.setpoint_names)


def test_at_the_limit_each_lever_gets_the_more_cooling_of_its_safe_value_and_where_it_is() -> None:
    contract = CONTRACTS["modern-hall"]
    last = {**_start(contract), "chiller_stage_up_plr": 0.5, "tower_cell_flow_min_frac": 0.8,
            "chw_dp_setpoint_frac": 0.6, "cw_flow_frac": 0.7, "economizer_enable": 0.0}
    points = _healthy(contract, inlet_temp_max_c=27.5, chiller_stage_up_plr=0.5, tower_cell_flow_min_frac=0.8,
                      chw_dp_setpoint_frac=0.6, cw_flow_frac=0.7, economizer_enable=0.0)
    d = decide(points, None, NOW_S, last, EnvelopeState(last, {}, 0), SafetyLimits.for_contract(contract), 300.0)
    assert d.source == "safe" and d.setpoints is not None
    assert d.setpoints["chiller_stage_up_plr"] == 0.5, "0.6 configured would run fewer chillers than now"
    assert d.setpoints["tower_cell_flow_min_frac"] == 0.33, "all cells"
    assert d.setpoints["chw_dp_setpoint_frac"] == 1.0 and d.setpoints["cw_flow_frac"] == 1.0, "full flow"
    assert d.setpoints["economizer_enable"] == 1.0, "free cooling enabled"


def test_the_thermal_guard_may_discharge_the_tank_never_charge_it() -> None:
    """A discharging tank is more cooling: near the limit a charge is blocked, at the limit the tank discharges."""
    contract = CONTRACTS["modern-hall-tes"]
    charging = {**_start(contract), "tes_rate_frac": -0.6}
    limits = SafetyLimits.for_contract(contract)
    near = decide(_healthy(contract, inlet_temp_max_c=26.5, tes_rate_frac=-0.6), None, NOW_S,
                  {**charging, "tes_rate_frac": -1.0}, EnvelopeState(charging, {}, 0), limits, 300.0)
    assert near.setpoints is not None and near.setpoints["tes_rate_frac"] >= -0.6, "no deeper charge when hot"
    hot = decide(_healthy(contract, inlet_temp_max_c=27.5, tes_rate_frac=-0.6), None, NOW_S, charging,
                 EnvelopeState(charging, {}, 0), limits, 300.0)
    assert hot.source == "safe" and hot.setpoints is not None
    assert hot.setpoints["tes_rate_frac"] > 0.0, "at the limit the tank discharges (its safe value)"


def test_a_decision_on_a_sub_contract_never_writes_the_other_setpoints() -> None:
    modern = CONTRACTS["modern-hall"]
    core = sub_contract(modern, setpoints=SETPOINT_NAMES)
    limits = SafetyLimits.for_contract(modern)
    full = _start(modern)
    d = decide(_healthy(modern), None, NOW_S, full, initial_state(), limits, 300.0, contract=core)
    assert d.setpoints is not None and set(d.setpoints) == set(SETPOINT_NAMES), "extra setpoints are not commanded"
    assert d.relinquished == ()
    hot = decide(_healthy(modern, inlet_temp_max_c=30.0), None, NOW_S, ModelError("x"), initial_state(), limits,
                 300.0, contract=core)
    assert hot.setpoints is not None and set(hot.setpoints) == set(SETPOINT_NAMES)
    ov = decide(_healthy(modern), None, NOW_S, full, initial_state(), limits, 300.0,
                overrides={"cw_flow_frac": 0.8}, contract=core)
    assert "not commanded here" in ov.interventions[0].detail and ov.setpoints is not None
    assert "cw_flow_frac" not in ov.setpoints
    with pytest.raises(ValueError, match="not in the safety limits' contract"):
        decide(_healthy(modern), None, NOW_S, full, initial_state(), SafetyLimits(), 300.0, contract=modern)


def test_a_fallback_that_commands_only_the_core_hands_the_other_levers_back() -> None:
    modern = CONTRACTS["modern-hall"]
    limits = SafetyLimits.for_contract(modern, hold_cycles=0)
    legacy = {"supply_air_temp_c": 18.0, "crah_fan_speed_frac": 1.0, "chw_supply_temp_c": 7.0,
              "condenser_water_temp_c": 29.4}
    d = decide(_healthy(modern, **legacy), None, NOW_S, ModelError("x"), initial_state(), limits, 300.0,
               fallback=legacy)
    assert d.source == "fallback" and d.setpoints == legacy
    assert d.relinquished == tuple(n for n in modern.setpoint_names if n not in legacy)
    assert "handed back to the plant's own sequence" in d.interventions[-1].detail
    held = decide(_healthy(modern, **legacy), None, NOW_S, ModelError("x"), EnvelopeState(legacy, {}, 0),
                  SafetyLimits.for_contract(modern), 300.0)
    assert held.source == "hold" and held.setpoints == legacy and held.relinquished == d.relinquished


def test_proposals_name_the_contracts_setpoints() -> None:
    modern = CONTRACTS["modern-hall"]
    values, problem = parse_setpoints({n: 0.5 for n in SETPOINT_NAMES}, modern)
    assert values is None and "chiller_stage_up_plr" in problem
    array, _ = parse_setpoints(np.array([_start(modern)[n] for n in modern.setpoint_names]), modern)
    assert array == pytest.approx(_start(modern))


@pytest.mark.parametrize(("facility", "data", "parts"), [
    ("legacy-hall", {"bounds": {"cw_flow_frac": [0.7, 1.0]}},
     ["bounds.cw_flow_frac", "another equipment block's setpoint", "chiller_stage_up_plr"]),
    ("core", {"safe_setpoints": {"economizer_enable": 1}}, ["safe_setpoints.economizer_enable", "blocks core"]),
    ("modern-hall", {"bounds": {"economizer_enable": [0.5, 1.0]}}, ["bounds.economizer_enable", "whole steps"]),
    ("modern-hall", {"safe_setpoints": {"economizer_enable": 0.5}}, ["safe_setpoints.economizer_enable", "whole"]),
    ("modern-hall", {"rate_per_min": {"cw_flow_frac": 0.5}}, ["rate_per_min.cw_flow_frac", ">0..0.1 1/min"]),
    ("campus", {"stuck_points": ["cw_flow_frac"]}, ["stuck_points[0]", "not a point of the contract"]),
])
def test_a_safety_section_names_only_its_facilitys_setpoints(facility: str, data: dict[str, Any],
                                                              parts: list[str]) -> None:
    with pytest.raises(SafetyConfigError) as err:
        limits_from_mapping(data, "site.yaml", CONTRACTS[facility])
    assert any(all(p in line for p in parts) for line in str(err.value).splitlines()[1:]), str(err.value)


def test_limits_of_a_contract_start_from_its_specs() -> None:
    for contract in CONTRACTS.values():
        limits = SafetyLimits.for_contract(contract)
        assert limits.contract == contract
        for s in contract.setpoints:
            assert limits.bounds[s.name] == (s.low, s.high) and limits.rate_per_min[s.name] == s.slew_per_min
            assert limits.safe_setpoints[s.name] == s.safe
    assert ECONOMIZER_POINT in CORE_CONTRACT.points_by_name
    for s in CONTRACTS["modern-hall"].setpoints:
        assert CONTRACTS["modern-hall"].points_by_name[s.measured_by].unit == s.unit
