"""The safety envelope (controller/safety.py): properties over garbage inputs, one scenario per reason, the safe
action (more cooling from the current state), limits."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from coolpilot.controller.safety import (
    ECONOMIZER_POINT,
    REASONS,
    Decision,
    EnvelopeState,
    ModelError,
    SafetyConfigError,
    SafetyLimits,
    decide,
    initial_state,
    limits_from_mapping,
)
from coolpilot.controller.site import SiteConfigError, site_from_mapping
from coolpilot.envs.contract import (
    INLET_LIMIT_C,
    POINT_NAMES,
    POINTS,
    POINTS_BY_NAME,
    SETPOINT_NAMES,
    SETPOINTS,
    SETPOINTS_BY_NAME,
)

COOLING_DIRECTION = {s.name: s.cooling_direction for s in SETPOINTS}
"""The core block's cooling directions, as its specs give them (the envelope reads them there)."""
MEASURED_BY = {s.name: s.measured_by for s in SETPOINTS}
DEFAULT_SAFE_SETPOINTS = {s.name: s.safe for s in SETPOINTS}
FREE_COOLING_SETPOINTS = tuple(s.name for s in SETPOINTS if s.ends_free_cooling)

NOW_S = 1_700_000_000.0
PERIOD_S = 300.0
LIMITS = SafetyLimits()
TOL = 1e-9
"""Floating-point slack on bounds and rate limits (in the setpoint's unit)."""

LAST = {"supply_air_temp_c": 20.0, "crah_fan_speed_frac": 0.6, "chw_supply_temp_c": 12.0,
        "condenser_water_temp_c": 24.0}
"""The last written setpoints of most scenarios; the measured points agree with them."""

FALLBACK = {"supply_air_temp_c": 19.0, "crah_fan_speed_frac": 0.7, "chw_supply_temp_c": 11.0,
            "condenser_water_temp_c": 23.0}
"""A fallback proposal toward more cooling, within one period's rate limit of LAST."""

SAFE_HERE = {**DEFAULT_SAFE_SETPOINTS, "condenser_water_temp_c": 24.0}
"""The safe action from the healthy reading and LAST: the configured values where they are colder, condenser
water held at the current 24 °C (the configured 29.4 °C would cool less)."""


def healthy(**changes: object) -> dict[str, object]:
    """A plausible reading of every contract point (a hall at 24 °C hottest inlet)."""
    points: dict[str, object] = {
        "outdoor_drybulb_c": 20.0, "outdoor_wetbulb_c": 14.0, "outdoor_rh_pct": 50.0,
        "time_of_day_sin": 0.5, "time_of_day_cos": 0.866, "it_power_kw": 1000.0, "it_load_frac": 0.7,
        "inlet_temp_max_c": 24.0, "inlet_temp_mean_c": 22.0, "supply_air_temp_c": 20.0,
        "return_air_temp_c": 32.0, "crah_fan_speed_frac": 0.6, "chw_supply_temp_c": 12.0,
        "chw_return_temp_c": 18.0, "condenser_water_temp_c": 24.0, "cooling_load_kw": 1100.0,
        "economizer_load_frac": 0.3, "chillers_running": 2.0, "cooling_power_kw": 200.0,
        "facility_power_kw": 1250.0,
    }
    points.update(changes)
    return points


def state(last: Mapping[str, float] | None = LAST, failures: int = 0,
          history: dict[str, tuple[float, int]] | None = None) -> EnvelopeState:
    return EnvelopeState(dict(last) if last is not None else None, history or {}, failures)


def run(points: Mapping[str, object] | None = None, proposal: object = None, *,
        times: Mapping[str, float] | None = None, envelope: EnvelopeState | None = None,
        limits: SafetyLimits = LIMITS, ranges: Mapping[str, tuple[float, float]] | None = None,
        fallback: Mapping[str, float] | None = None, overrides: Mapping[str, float] | None = None,
        write_safe: bool = False) -> Decision:
    """One decision; by default healthy fresh points, LAST written and LAST proposed again."""
    points = healthy() if points is None else points
    times = dict.fromkeys(points, NOW_S) if times is None else times
    return decide(points, times, NOW_S, dict(LAST) if proposal is None else proposal,
                  state() if envelope is None else envelope, limits, PERIOD_S, ranges, fallback, overrides,
                  write_safe)


def reasons(d: Decision, target: str | None = None) -> list[str]:
    return [i.reason for i in d.interventions if target is None or i.target == target]


def step(name: str, limits: SafetyLimits = LIMITS, period_s: float = PERIOD_S) -> float:
    return limits.rate_per_min[name] * period_s / 60.0


# --- the happy path and purity ---------------------------------------------------------


def test_a_valid_proposal_from_healthy_sensors_passes_unchanged() -> None:
    proposal = {"supply_air_temp_c": 20.8, "crah_fan_speed_frac": 0.63, "chw_supply_temp_c": 12.9,
                "condenser_water_temp_c": 25.5}
    d = run(proposal=proposal)
    assert d.setpoints == proposal
    assert d.interventions == ()
    assert d.source == "policy" and d.sensors_ok
    assert d.state.last_written == proposal and d.state.model_failures == 0


def test_an_array_in_contract_order_is_a_valid_proposal() -> None:
    d = run(proposal=np.array([LAST[n] for n in SETPOINT_NAMES], dtype=np.float32))
    assert d.source == "policy" and d.interventions == ()
    assert d.setpoints == pytest.approx(LAST)


def test_decide_is_pure() -> None:
    points = healthy(return_air_temp_c=math.nan, inlet_temp_max_c=26.5)
    times = dict.fromkeys(points, NOW_S)
    envelope = state(failures=1, history={"it_power_kw": (1000.0, 3)})
    proposal = {"supply_air_temp_c": 25.0, "crah_fan_speed_frac": 0.3, "chw_supply_temp_c": 9.0,
                "condenser_water_temp_c": 30.0}
    ranges = {"outdoor_drybulb_c": (-10.0, 15.0)}
    overrides = {"crah_fan_speed_frac": 0.9}
    args = (points, times, NOW_S, proposal, envelope, LIMITS, PERIOD_S, ranges, FALLBACK, overrides)
    before = repr(args)
    first, second = decide(*args), decide(*args)
    assert first == second
    assert repr(args) == before, "decide must not mutate its inputs"
    assert first.state is not envelope and envelope == state(failures=1, history={"it_power_kw": (1000.0, 3)})


def test_a_bad_period_is_a_caller_error() -> None:
    for period in (0.0, -300.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="period_s"):
            decide(healthy(), None, NOW_S, dict(LAST), state(), LIMITS, period)


# --- one minimal scenario per reason code ------------------------------------------------


def _stuck() -> Decision:
    d: Decision | None = None
    envelope = state()
    for _ in range(LIMITS.stuck_after):
        d = run(envelope=envelope)
        envelope = d.state
    assert d is not None
    return d


def _hold_then_fallback_then_relinquish() -> Decision:
    envelope = state()
    for _ in range(LIMITS.hold_cycles + 1):
        envelope = run(proposal=ModelError("x"), envelope=envelope, fallback=FALLBACK).state
    return run(proposal=ModelError("x"), envelope=envelope, fallback=None)


SCENARIOS: dict[str, tuple[Callable[[], Decision], str]] = {
    "sensor_missing": (lambda: run({n: v for n, v in healthy().items() if n != "cooling_load_kw"}),
                       "cooling_load_kw"),
    "sensor_nan": (lambda: run(healthy(cooling_load_kw=math.nan)), "cooling_load_kw"),
    "sensor_out_of_range": (lambda: run(healthy(cooling_load_kw=-5.0)), "cooling_load_kw"),
    "sensor_stale": (lambda: run(times={**dict.fromkeys(POINT_NAMES, NOW_S), "cooling_load_kw": NOW_S - 901.0}),
                     "cooling_load_kw"),
    "sensor_stuck": (_stuck, "it_power_kw"),
    "out_of_distribution": (lambda: run(ranges={"outdoor_drybulb_c": (25.0, 45.0)}), "outdoor_drybulb_c"),
    "model_error": (lambda: run(proposal=ModelError("inference took longer than 1 s")), ""),
    "model_invalid_output": (lambda: run(proposal={"supply_air_temp_c": math.nan}), ""),
    "hold_last_safe": (lambda: run(proposal=ModelError("x")), ""),
    "fallback_policy": (lambda: run(proposal=ModelError("x"), envelope=state(failures=LIMITS.hold_cycles),
                                    fallback=FALLBACK), ""),
    "relinquish": (_hold_then_fallback_then_relinquish, ""),
    "hard_bound": (lambda: run(proposal={**LAST, "chw_supply_temp_c": 2.0},
                               envelope=state({**LAST, "chw_supply_temp_c": 5.5})), "chw_supply_temp_c"),
    "rate_limit": (lambda: run(proposal={**LAST, "supply_air_temp_c": 25.0}), "supply_air_temp_c"),
    "thermal_guard": (lambda: run(healthy(inlet_temp_max_c=26.5), {**LAST, "supply_air_temp_c": 21.0}),
                      "supply_air_temp_c"),
    "thermal_limit": (lambda: run(healthy(inlet_temp_max_c=27.5)), ""),
    "fallback_safe": (lambda: run(write_safe=True), ""),
    "operator_override": (lambda: run(overrides={"crah_fan_speed_frac": 0.65}), "crah_fan_speed_frac"),
}


def test_every_reason_has_a_scenario() -> None:
    assert set(SCENARIOS) == set(REASONS)


@pytest.mark.parametrize("reason", sorted(SCENARIOS))
def test_each_reason_is_produced_by_its_minimal_scenario(reason: str) -> None:
    scenario, target = SCENARIOS[reason]
    d = scenario()
    assert reason in reasons(d, target), d.interventions
    detail = next(i.detail for i in d.interventions if i.reason == reason)
    assert detail, "every intervention says what happened"


# --- sensors ----------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "reason"), [
    (None, "sensor_nan"), ("21.5", "sensor_nan"), (math.inf, "sensor_nan"), (-math.inf, "sensor_nan"),
    (True, "sensor_nan"), ([1.0], "sensor_nan"), (10**400, "sensor_nan"),
    pytest.param(10**5000, "sensor_nan", id="int-too-long-to-print"),
    (1e12, "sensor_out_of_range"),
    (-1.0, "sensor_out_of_range"),
])
def test_a_bad_noncritical_point_is_recorded_and_the_proposal_still_used(value: object, reason: str) -> None:
    d = run(healthy(return_air_temp_c=value))
    assert reasons(d) == [reason] and reasons(d, "return_air_temp_c") == [reason]
    assert not d.sensors_ok
    assert d.source == "policy" and d.setpoints == LAST


@pytest.mark.parametrize("name", ["inlet_temp_max_c", "inlet_temp_mean_c", "supply_air_temp_c"])
def test_a_bad_critical_point_means_the_proposal_is_not_used(name: str) -> None:
    d = run(healthy(**{name: math.nan}), {**LAST, "supply_air_temp_c": 21.0})
    assert reasons(d, name) == ["sensor_nan"]
    assert d.source == "hold" and d.setpoints == LAST
    assert d.state.model_failures == 1
    assert name in next(i.detail for i in d.interventions if i.reason == "hold_last_safe")


@pytest.mark.parametrize(("time_s", "words"), [(NOW_S - 901.0, "901 s old"), (NOW_S + 3600.0, "in the future"),
                                               (math.nan, "no valid timestamp"), (None, "no valid timestamp")])
def test_stale_readings(time_s: object, words: str) -> None:
    times: dict[str, Any] = {**dict.fromkeys(POINT_NAMES, NOW_S), "chw_return_temp_c": time_s}
    d = run(times=times)
    assert reasons(d) == ["sensor_stale"] and words in d.interventions[0].detail


def test_a_point_without_a_timestamp_is_stale_but_no_timestamps_at_all_skips_the_check() -> None:
    times = {n: NOW_S for n in POINT_NAMES if n != "it_load_frac"}
    assert reasons(run(times=times), "it_load_frac") == ["sensor_stale"]
    assert decide(healthy(), None, NOW_S, dict(LAST), state(), LIMITS, PERIOD_S).interventions == ()


def test_a_reading_exactly_at_the_age_limit_is_fresh() -> None:
    times = {**dict.fromkeys(POINT_NAMES, NOW_S), "it_load_frac": NOW_S - LIMITS.stale_after_s}
    assert run(times=times).interventions == ()


def test_stuck_after_n_identical_cycles_and_a_change_resets_the_count() -> None:
    envelope = state()
    for cycle in range(1, LIMITS.stuck_after + 1):
        d = run(envelope=envelope)
        envelope = d.state
        assert ("sensor_stuck" in reasons(d, "it_power_kw")) == (cycle == LIMITS.stuck_after), cycle
    stuck = set(POINT_NAMES) & {i.target for i in d.interventions if i.reason == "sensor_stuck"}
    assert stuck == {"inlet_temp_max_c", "inlet_temp_mean_c", "return_air_temp_c", "chw_return_temp_c",
                     "it_power_kw"}, "configured points only; supply air and chilled water track their setpoints"
    assert d.source == "hold", "stuck inlet sensors mean the proposal is not used"
    moved = run(healthy(it_power_kw=1000.5), envelope=envelope)
    assert "it_power_kw" not in {i.target for i in moved.interventions}
    assert moved.state.history["it_power_kw"] == (1000.5, 1)


def test_a_measurement_tracking_its_written_setpoint_is_not_stuck() -> None:
    envelope = state()
    for k in range(3 * LIMITS.stuck_after):
        moving = healthy(inlet_temp_max_c=24.0 + 0.01 * k, inlet_temp_mean_c=22.0 + 0.01 * k,
                         return_air_temp_c=32.0 + 0.01 * k, chw_return_temp_c=18.0 + 0.01 * k, it_power_kw=1000.0 + k)
        d = run(moving, envelope=envelope)
        envelope = d.state
    assert d.interventions == () and d.source == "policy", "supply air and chilled water hold their setpoints"
    with_supply = SafetyLimits(stuck_points=(*LIMITS.stuck_points, "supply_air_temp_c", "chw_supply_temp_c"))
    for k in range(3 * LIMITS.stuck_after):  # configured, they still do not count while they track the setpoint
        moving = healthy(inlet_temp_max_c=24.0 + 0.01 * k, inlet_temp_mean_c=22.0 + 0.01 * k,
                         return_air_temp_c=32.0 + 0.01 * k, chw_return_temp_c=18.0 + 0.01 * k, it_power_kw=1000.0 + k)
        d = run(moving, envelope=envelope, limits=with_supply)
        envelope = d.state
    assert "supply_air_temp_c" not in {i.target for i in d.interventions}
    off_setpoint = state({**LAST, "supply_air_temp_c": 19.0},
                         history={"supply_air_temp_c": (20.0, LIMITS.stuck_after - 1)})
    assert reasons(run(envelope=off_setpoint, limits=with_supply), "supply_air_temp_c") == ["sensor_stuck"]


# --- out of distribution --------------------------------------------------------------------


def test_one_point_out_of_distribution_is_recorded_two_distrust_the_proposal() -> None:
    inside = {"outdoor_drybulb_c": (15.0, 25.0), "it_power_kw": (900.0, 1100.0)}
    assert run(ranges=inside).interventions == ()
    margin = {"outdoor_drybulb_c": (10.0, 19.1)}  # 20 °C is 0.9 K beyond, within 10 % of 9.1 K
    assert run(ranges=margin).interventions == ()
    one = run(ranges={"outdoor_drybulb_c": (-5.0, 15.0)})
    assert reasons(one) == ["out_of_distribution"] and one.source == "policy" and one.sensors_ok
    two = run(ranges={"outdoor_drybulb_c": (-5.0, 15.0), "it_power_kw": (100.0, 500.0)})
    assert reasons(two).count("out_of_distribution") == 2 and two.source == "hold"


def test_garbage_training_ranges_are_ignored() -> None:
    ranges: dict[str, Any] = {"outdoor_drybulb_c": (30.0, 10.0), "it_power_kw": (math.nan, 1.0), "nope": (0.0, 1.0),
                              "it_load_frac": "wide"}
    assert run(ranges=ranges).interventions == ()


# --- model failures: hold, fallback, relinquish ------------------------------------------------


@pytest.mark.parametrize("proposal", [
    None, "20.0", [20.0, 0.6, 12.0, 24.0], {"supply_air_temp_c": 20.0}, {**LAST, "extra_c": 1.0},
    {**LAST, "chw_supply_temp_c": math.inf}, {**LAST, "crah_fan_speed_frac": "0.6"},
    {**LAST, "crah_fan_speed_frac": True}, np.zeros(3), np.zeros((1, 4)), np.array(["a", "b", "c", "d"]),
    np.array([20.0, 0.6, math.nan, 24.0]),
])
def test_invalid_outputs_are_refused(proposal: object) -> None:
    d = decide(healthy(), None, NOW_S, proposal, state(), LIMITS, PERIOD_S)
    assert reasons(d)[:2] == ["model_invalid_output", "hold_last_safe"]
    assert d.source == "hold" and d.setpoints == LAST and d.state.model_failures == 1


def test_hold_then_fallback_then_relinquish_then_recover() -> None:
    envelope = state()
    sources = []
    for _ in range(LIMITS.hold_cycles + 2):
        d = run(proposal=ModelError("onnxruntime exploded"), envelope=envelope, fallback=FALLBACK)
        assert "model_error" in reasons(d)
        sources.append(d.source)
        envelope = d.state
    assert sources == ["hold"] * LIMITS.hold_cycles + ["fallback", "fallback"]
    assert d.setpoints == FALLBACK and envelope.model_failures == LIMITS.hold_cycles + 2
    gone = run(proposal=ModelError("onnxruntime exploded"), envelope=envelope)
    assert gone.setpoints is None and gone.source == "relinquish" and "relinquish" in reasons(gone)
    assert gone.state.last_written is None
    back = run(proposal={**LAST, "supply_air_temp_c": 23.0}, envelope=gone.state)
    assert back.source == "policy" and back.state.model_failures == 0
    measured = healthy()["supply_air_temp_c"]
    assert back.setpoints is not None and back.setpoints["supply_air_temp_c"] == pytest.approx(
        float(measured) + step("supply_air_temp_c")), "after relinquishing, rate limits start from the measurement"


def test_the_fallback_is_rate_limited_and_bounded() -> None:
    wild = {"supply_air_temp_c": 14.0, "crah_fan_speed_frac": 1.5, "chw_supply_temp_c": 5.0,
            "condenser_water_temp_c": 10.0}
    d = run(proposal=ModelError("x"), envelope=state(failures=LIMITS.hold_cycles), fallback=wild)
    assert d.source == "fallback" and d.setpoints is not None
    assert {"hard_bound", "rate_limit"} <= set(reasons(d))
    for name in SETPOINT_NAMES:
        assert abs(d.setpoints[name] - LAST[name]) <= step(name) + TOL


def test_nothing_to_hold_goes_straight_to_the_fallback_and_a_bad_fallback_relinquishes() -> None:
    d = run(proposal=ModelError("x"), envelope=state(None), fallback=FALLBACK)
    assert d.source == "fallback"
    bad = run(proposal=ModelError("x"), envelope=state(failures=LIMITS.hold_cycles),
              fallback={**FALLBACK, "chw_supply_temp_c": math.nan})
    assert bad.setpoints is None and reasons(bad)[-2:] == ["fallback_policy", "relinquish"]


def test_hold_cycles_zero_uses_the_fallback_at_once() -> None:
    limits = SafetyLimits(hold_cycles=0)
    assert run(proposal=ModelError("x"), limits=limits, fallback=FALLBACK).source == "fallback"


# --- bounds, rate limits, thermal guard and limit ------------------------------------------------


def test_hard_bounds_clip_with_the_original_value_recorded() -> None:
    limits = SafetyLimits(bounds={"supply_air_temp_c": (16.0, 21.0)})
    d = run(proposal={**LAST, "supply_air_temp_c": 1e9}, limits=limits)
    assert d.setpoints is not None and d.setpoints["supply_air_temp_c"] == 21.0
    detail = next(i.detail for i in d.interventions if i.reason == "hard_bound")
    assert "1e+09 °C" in detail and "16 °C..21 °C" in detail


def test_rate_limits_scale_with_the_period() -> None:
    proposal = {"supply_air_temp_c": 26.0, "crah_fan_speed_frac": 0.3, "chw_supply_temp_c": 18.0,
                "condenser_water_temp_c": 10.0}
    for period in (60.0, 120.0, 300.0):
        d = decide(healthy(), None, NOW_S, proposal, state(), LIMITS, period)
        assert d.setpoints is not None and reasons(d) == ["rate_limit"] * 4
        for name in SETPOINT_NAMES:
            assert abs(d.setpoints[name] - LAST[name]) == pytest.approx(step(name, period_s=period))


def test_the_first_write_is_rate_limited_from_measurements_when_there_are_some() -> None:
    proposal = {**LAST, "supply_air_temp_c": 25.0, "chw_supply_temp_c": 16.0}
    d = run(healthy(chw_supply_temp_c=None), proposal, envelope=initial_state())
    assert d.setpoints is not None
    assert d.setpoints["supply_air_temp_c"] == pytest.approx(20.0 + step("supply_air_temp_c"))
    assert d.setpoints["chw_supply_temp_c"] == 16.0, "no measurement, no reference: no rate limit"


def test_the_guard_blocks_moves_toward_less_cooling_only() -> None:
    proposal = {"supply_air_temp_c": 21.0, "crah_fan_speed_frac": 0.5, "chw_supply_temp_c": 11.5,
                "condenser_water_temp_c": 23.0}
    d = run(healthy(inlet_temp_max_c=26.0), proposal)
    assert d.setpoints == {"supply_air_temp_c": 20.0, "crah_fan_speed_frac": 0.6, "chw_supply_temp_c": 11.5,
                           "condenser_water_temp_c": 23.0}
    assert reasons(d) == ["thermal_guard", "thermal_guard"]
    assert "26 °C" in d.interventions[0].detail


def test_an_unknown_hottest_inlet_acts_as_the_guard() -> None:
    less_cooling = {**LAST, "supply_air_temp_c": 21.0}
    d = run(healthy(inlet_temp_max_c=None), ModelError("x"), envelope=state(failures=LIMITS.hold_cycles),
            fallback=less_cooling)
    assert d.source == "fallback" and d.setpoints == LAST and "thermal_guard" in reasons(d, "supply_air_temp_c")


def test_the_guard_without_any_reference_writes_the_safe_value() -> None:
    d = run(healthy(inlet_temp_max_c=26.5, crah_fan_speed_frac="?"), envelope=initial_state())
    assert d.setpoints is not None
    assert d.setpoints["crah_fan_speed_frac"] == LIMITS.safe_setpoints["crah_fan_speed_frac"]


@pytest.mark.parametrize("changes", [{"inlet_temp_max_c": INLET_LIMIT_C}, {"inlet_temp_max_c": 40.0},
                                     {"inlet_temp_max_c": None, "inlet_temp_mean_c": 27.5}])
def test_at_the_limit_the_safe_action_is_written_at_once(changes: dict[str, object]) -> None:
    d = run(healthy(**changes), {**LAST, "supply_air_temp_c": 26.0})
    assert d.setpoints == SAFE_HERE and d.source == "safe"
    assert "thermal_limit" in reasons(d) and "rate_limit" not in reasons(d)
    assert reasons(d, "condenser_water_temp_c") == ["thermal_limit"], "only condenser water is held"
    held = next(i.detail for i in d.interventions if i.target == "condenser_water_temp_c")
    assert "29.4 °C would cool less than the current state 24 °C (measured condenser_water_temp_c)" in held


def test_a_stale_reading_at_the_limit_still_calls_for_the_safe_action() -> None:
    times = {**dict.fromkeys(POINT_NAMES, NOW_S), "inlet_temp_max_c": NOW_S - 3600.0}
    d = run(healthy(inlet_temp_max_c=29.0), times=times)
    assert reasons(d, "inlet_temp_max_c") == ["sensor_stale"] and d.source == "safe"


def test_the_limit_writes_the_safe_action_instead_of_relinquishing() -> None:
    d = run(healthy(inlet_temp_max_c=28.0), ModelError("x"), envelope=state(None))
    assert d.setpoints == SAFE_HERE and d.source == "safe"
    assert reasons(d)[-3:] == ["relinquish", "thermal_limit", "thermal_limit"]


# --- the safe action: more cooling from the current state, never less ----------------------------------


FREE_COOLING = healthy(inlet_temp_max_c=28.0, outdoor_drybulb_c=-5.0, outdoor_wetbulb_c=-6.0, supply_air_temp_c=23.0,
                       crah_fan_speed_frac=0.62, chw_supply_temp_c=18.0, chw_return_temp_c=24.0,
                       condenser_water_temp_c=10.4, economizer_load_frac=1.0, chillers_running=0.0)
"""A winter reading: the towers make 10.4 °C water and the waterside economizer carries the whole load."""

FREE_COOLING_LAST = {"supply_air_temp_c": 23.0, "crah_fan_speed_frac": 0.62, "chw_supply_temp_c": 18.0,
                     "condenser_water_temp_c": 10.0}


def test_in_free_cooling_the_limit_never_raises_condenser_water() -> None:
    d = run(FREE_COOLING, envelope=state(FREE_COOLING_LAST))
    assert d.source == "safe" and d.setpoints is not None
    assert d.setpoints == {"supply_air_temp_c": 18.0, "crah_fan_speed_frac": 1.0, "chw_supply_temp_c": 7.0,
                           "condenser_water_temp_c": 10.0}, "held where the towers are driven, not 29.4 °C"
    held = next(i.detail for i in d.interventions if i.target == "condenser_water_temp_c")
    assert "current state 10 °C (last written)" in held and "10 °C written instead" in held
    measured_only = run(FREE_COOLING, envelope=state(None))
    assert measured_only.setpoints is not None and measured_only.setpoints["condenser_water_temp_c"] == 10.4


def test_a_configured_value_colder_than_the_current_state_is_written() -> None:
    limits = SafetyLimits(safe_setpoints={"condenser_water_temp_c": 12.0, "supply_air_temp_c": 21.0})
    d = run(healthy(inlet_temp_max_c=28.0), limits=limits)
    assert d.setpoints == {"supply_air_temp_c": 20.0, "crah_fan_speed_frac": 1.0, "chw_supply_temp_c": 7.0,
                           "condenser_water_temp_c": 12.0}
    assert reasons(d, "supply_air_temp_c") == ["thermal_limit"], "21 °C configured is warmer than the 20 °C now"
    assert reasons(d, "condenser_water_temp_c") == []


def test_the_current_state_is_the_more_cooling_of_measurement_and_last_write() -> None:
    measured_colder = run(healthy(inlet_temp_max_c=28.0, condenser_water_temp_c=21.0))
    assert measured_colder.setpoints is not None and measured_colder.setpoints["condenser_water_temp_c"] == 21.0
    written_colder = run(healthy(inlet_temp_max_c=28.0, condenser_water_temp_c=26.0))
    assert written_colder.setpoints is not None and written_colder.setpoints["condenser_water_temp_c"] == 24.0
    unmeasured = run(healthy(inlet_temp_max_c=28.0, condenser_water_temp_c=math.nan))
    assert unmeasured.setpoints is not None and unmeasured.setpoints["condenser_water_temp_c"] == 24.0


def test_with_no_current_state_free_cooling_keeps_the_towers_at_their_coldest() -> None:
    blind = {**FREE_COOLING, "condenser_water_temp_c": None}
    d = run(blind, envelope=state(None))
    assert d.setpoints is not None and d.setpoints["condenser_water_temp_c"] == LIMITS.bounds[
        "condenser_water_temp_c"][0]
    assert "economizer carries 100% of the load" in next(
        i.detail for i in d.interventions if i.reason == "thermal_limit" and i.target == "condenser_water_temp_c")
    mechanical = run({**blind, ECONOMIZER_POINT: 0.0}, envelope=state(None))
    assert mechanical.setpoints is not None
    assert mechanical.setpoints["condenser_water_temp_c"] == LIMITS.safe_setpoints["condenser_water_temp_c"]


def test_hard_bounds_win_over_a_current_state_beyond_them() -> None:
    limits = SafetyLimits(bounds={"supply_air_temp_c": (16.0, 24.0)})
    d = run(healthy(inlet_temp_max_c=28.0, supply_air_temp_c=15.0), limits=limits)
    assert d.setpoints is not None and d.setpoints["supply_air_temp_c"] == 16.0
    assert "bounded to 16 °C..24 °C" in next(i.detail for i in d.interventions if i.target == "supply_air_temp_c")


def test_fallback_mode_writes_the_same_safe_action_whatever_the_inlet() -> None:
    d = run(write_safe=True, overrides={"supply_air_temp_c": 21.0})
    assert d.setpoints == SAFE_HERE and d.source == "safe" and d.state.last_written == SAFE_HERE
    assert reasons(d) == ["operator_override", "fallback_safe", "fallback_safe"]
    assert "not applied: fallback mode writes the safe action" in d.interventions[0].detail
    failing = run(proposal=ModelError("timeout"), write_safe=True, envelope=state(failures=7))
    assert failing.setpoints == SAFE_HERE and failing.state.model_failures == 8
    assert reasons(failing) == ["model_error", "fallback_safe", "fallback_safe"], "no hold, fallback or relinquish"
    free = run(FREE_COOLING, write_safe=True, envelope=state(FREE_COOLING_LAST))
    assert free.setpoints is not None and free.setpoints["condenser_water_temp_c"] == 10.0


def test_every_setpoint_is_measured_by_a_contract_point_of_the_same_unit() -> None:
    assert set(MEASURED_BY) == set(SETPOINT_NAMES) == set(COOLING_DIRECTION)
    for setpoint, point in MEASURED_BY.items():
        assert POINTS_BY_NAME[point].unit == SETPOINTS_BY_NAME[setpoint].unit
    assert set(FREE_COOLING_SETPOINTS) <= set(SETPOINT_NAMES) and ECONOMIZER_POINT in POINTS_BY_NAME


# --- operator overrides ----------------------------------------------------------------------------


def test_an_override_replaces_the_proposal_but_not_the_envelope() -> None:
    d = run(overrides={"crah_fan_speed_frac": 0.62})
    assert d.setpoints == {**LAST, "crah_fan_speed_frac": 0.62} and d.source == "override"
    assert "replaces the policy value 0.6" in d.interventions[0].detail
    far = run(overrides={"supply_air_temp_c": 25.0})
    assert far.setpoints is not None and far.setpoints["supply_air_temp_c"] == pytest.approx(21.5)
    assert reasons(far) == ["operator_override", "rate_limit"]
    hot = run(healthy(inlet_temp_max_c=26.5), overrides={"supply_air_temp_c": 21.0})
    assert hot.setpoints == LAST and reasons(hot) == ["operator_override", "thermal_guard"]
    limit = run(healthy(inlet_temp_max_c=27.5), overrides={"supply_air_temp_c": 21.0})
    assert limit.setpoints == SAFE_HERE


def test_bad_overrides_are_ignored_and_recorded() -> None:
    d = run(overrides={"fan": 0.5, "crah_fan_speed_frac": math.nan})
    assert d.setpoints == LAST and d.source == "policy"
    assert reasons(d) == ["operator_override", "operator_override"] and "ignored" in d.interventions[0].detail
    gone = run(proposal=ModelError("x"), envelope=state(failures=9), overrides={"crah_fan_speed_frac": 0.9})
    assert gone.setpoints is None and "not applied" in gone.interventions[-1].detail


# --- limits ---------------------------------------------------------------------------------------


def test_default_limits_are_the_contract() -> None:
    assert SafetyLimits.default() == LIMITS
    assert LIMITS.contract.setpoints == SETPOINTS
    for spec in SETPOINTS:
        assert LIMITS.bounds[spec.name] == (spec.low, spec.high)
        assert LIMITS.rate_per_min[spec.name] == spec.slew_per_min
        assert spec.low <= LIMITS.safe_setpoints[spec.name] <= spec.high
    assert LIMITS.limit_c == INLET_LIMIT_C and set(COOLING_DIRECTION) == set(SETPOINT_NAMES)
    with pytest.raises(ValueError, match="frozen"):
        LIMITS.guard_c = 30.0  # type: ignore[misc]


def test_partial_limits_keep_the_other_defaults() -> None:
    limits = limits_from_mapping({"bounds": {"supply_air_temp_c": [16, 24]}, "rate_per_min": {"chw_supply_temp_c": 0.1},
                                  "safe_setpoints": {"condenser_water_temp_c": 25.0}}, "site.yaml")
    assert limits.bounds["supply_air_temp_c"] == (16.0, 24.0) and limits.bounds["chw_supply_temp_c"] == (5.0, 18.0)
    assert limits.rate_per_min == {**LIMITS.rate_per_min, "chw_supply_temp_c": 0.1}
    assert limits.safe_setpoints == {**LIMITS.safe_setpoints, "condenser_water_temp_c": 25.0}


@pytest.mark.parametrize(("data", "lines"), [
    ({"bounds": {"supply_air_temp_c": [12, 24]}}, ["bounds.supply_air_temp_c", "(12, 24) °C", "14..26 °C"]),
    ({"bounds": {"crah_fan_speed_frac": [0.8, 0.5]}}, ["bounds.crah_fan_speed_frac", "low ≤ high", "0.3..1"]),
    ({"bounds": {"supply_air_temp_c": [20, 24]}}, ["safe_setpoints.supply_air_temp_c", "18 °C", "20..24 °C"]),
    ({"safe_setpoints": {"chw_supply_temp_c": 20}}, ["safe_setpoints.chw_supply_temp_c", "20 °C", "5..18 °C"]),
    ({"bounds": {"fan_speed": [0, 1]}}, ["bounds.fan_speed", "not a setpoint", "crah_fan_speed_frac"]),
    ({"rate_per_min": {"supply_temp": 0.1}}, ["rate_per_min.supply_temp", "not a setpoint"]),
    ({"safe_setpoints": {"chw_temp": 7}}, ["safe_setpoints.chw_temp", "not a setpoint"]),
    ({"rate_per_min": {"supply_air_temp_c": 2.0}}, ["rate_per_min.supply_air_temp_c", "2 °C/min", ">0..0.3 °C/min"]),
    ({"rate_per_min": {"supply_air_temp_c": "fast"}}, ["rate_per_min.supply_air_temp_c", "°C/min",
                                                       ">0..0.3 °C/min"]),
    ({"guard_c": 28.0}, ["guard_c", "28 °C", "limit_c = 27 °C"]),
    ({"limit_c": 50.0}, ["limit_c", "50.0 °C", "10..35 °C"]),
    ({"stale_after_s": -1}, ["stale_after_s", "-1 s", "0..86400 s"]),
    ({"stuck_points": ["it_power_kw", "inlet_temp_c"]}, ["stuck_points[1]", "'inlet_temp_c'", "not a point"]),
    ({"bounds": {"supply_air_temp_c": [math.nan, 24]}}, ["bounds.supply_air_temp_c[0]", "finite", "14..26 °C"]),
    ({"guard": 26.0}, ["'guard'", "Extra inputs"]),
])
def test_bad_limits_are_refused_with_one_clear_line_per_problem(data: dict[str, Any], lines: list[str]) -> None:
    with pytest.raises(SafetyConfigError) as err:
        limits_from_mapping(data, "site.yaml")
    header, *problems = str(err.value).splitlines()
    assert header == f"site.yaml: {len(problems)} problem(s) in the safety limits:"
    assert all(line.startswith("  - field '") for line in problems), problems
    assert any(all(part in line for part in lines) for line in problems), problems


def test_several_problems_give_several_lines() -> None:
    with pytest.raises(SafetyConfigError) as err:
        limits_from_mapping({"bounds": {"supply_air_temp_c": [12, 24], "fan": [0, 1]}, "guard_c": 99}, "s.yaml")
    header, *problems = str(err.value).splitlines()
    assert header == "s.yaml: 3 problem(s) in the safety limits:" and len(problems) == 3
    with pytest.raises(SafetyConfigError, match="must be a mapping"):
        limits_from_mapping([1, 2], "s.yaml")


def test_a_site_file_names_each_safety_problem_by_its_full_path() -> None:
    adapter = {"kind": "csv", "csv": {"path": "plant.csv"}}
    with pytest.raises(SiteConfigError) as err:
        site_from_mapping({"adapter": adapter, "safety": {"bounds": {"supply_air_temp_c": [12, 24], "fan": [0, 1]},
                                                          "rate_per_min": {"chw_supply_temp_c": "fast"}}}, "site.yaml")
    lines = str(err.value).splitlines()
    assert lines[0] == "site.yaml: 3 problem(s) in the site file:", lines
    for expected in ("field 'safety.bounds.supply_air_temp_c' = (12, 24) °C", "field 'safety.bounds.fan' = (0, 1)",
                     "field 'safety.rate_per_min.chw_supply_temp_c' = 'fast' °C/min"):
        assert any(expected in line for line in lines), (expected, lines)
    with pytest.raises(SiteConfigError) as err:  # the whole-model check runs once every field is valid
        site_from_mapping({"adapter": adapter, "safety": {"guard_c": 28.0}}, "site.yaml")
    assert str(err.value).splitlines()[1:] == [
        "  - field 'safety.guard_c' = 28 °C: above limit_c = 27 °C (allowed 10..27 °C)"]


# --- the property: whatever comes in, what goes out is safe --------------------------------------------

_MISSING = object()
_GARBAGE = st.one_of(st.none(), st.text(max_size=4), st.booleans(), st.just(math.nan), st.just(math.inf),
                     st.just(-math.inf), st.floats(allow_nan=True, allow_infinity=True),
                     st.integers(-(10**30), 10**30))
_NARROW = SafetyLimits(bounds={"supply_air_temp_c": (16.0, 24.0), "crah_fan_speed_frac": (0.4, 1.0),
                               "chw_supply_temp_c": (6.0, 15.0), "condenser_water_temp_c": (15.0, 30.0)},
                       rate_per_min={"supply_air_temp_c": 0.05, "crah_fan_speed_frac": 0.01},
                       guard_c=25.0, limit_c=26.5, hold_cycles=0, stuck_after=2, ood_margin_frac=0.0)
_NO_BAND = SafetyLimits(guard_c=27.0, limit_c=27.0, hold_cycles=5)


def _realistic(name: str) -> st.SearchStrategy[float]:
    """A plausible reading: inlets around the guard and the limit, the rest anywhere in their physical range."""
    spec = POINTS_BY_NAME[name]
    if name == "inlet_temp_max_c":
        return st.floats(15.0, 29.0)
    if name == "inlet_temp_mean_c":
        return st.floats(15.0, 25.0)
    return st.floats(spec.low, spec.high)


@st.composite
def _points(draw: st.DrawFn) -> dict[str, object]:
    """Plausible readings with up to six points missing or garbage."""
    points: dict[str, object] = {p.name: draw(_realistic(p.name)) for p in POINTS}
    corrupt = draw(st.dictionaries(st.sampled_from(POINT_NAMES), st.one_of(_GARBAGE, st.just(_MISSING)), max_size=6))
    points.update(corrupt)
    return {n: v for n, v in points.items() if v is not _MISSING}


@st.composite
def _times(draw: st.DrawFn, points: Mapping[str, object]) -> dict[str, object] | None:
    """None, or fresh timestamps with up to three stale, in the future, garbage or missing."""
    if draw(st.booleans()):
        return None
    times: dict[str, object] = {n: NOW_S - draw(st.floats(0.0, 600.0)) for n in points}
    bad = st.one_of(st.floats(-5000.0, 5000.0).map(lambda age: NOW_S - age), _GARBAGE, st.just(_MISSING))
    times.update(draw(st.dictionaries(st.sampled_from(POINT_NAMES), bad, max_size=3)))
    return {n: t for n, t in times.items() if t is not _MISSING}


_ANY_FLOAT = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(-5.0, 40.0))
_SETPOINT_MAPPING = st.fixed_dictionaries({n: _ANY_FLOAT for n in SETPOINT_NAMES})
_PLAUSIBLE_SETPOINTS = st.fixed_dictionaries({n: st.floats(SETPOINTS_BY_NAME[n].low - 2.0,
                                                           SETPOINTS_BY_NAME[n].high + 2.0) for n in SETPOINT_NAMES})
_BAD_MAPPINGS = st.one_of(
    _SETPOINT_MAPPING,
    st.dictionaries(st.sampled_from([*SETPOINT_NAMES, "extra"]), st.one_of(_ANY_FLOAT, _GARBAGE), max_size=5),
)
_PROPOSALS = st.one_of(
    _PLAUSIBLE_SETPOINTS,
    st.one_of(
        _BAD_MAPPINGS,
        hnp.arrays(np.float64, st.sampled_from([(4,), (3,), (1, 4), (0,)]), elements=_ANY_FLOAT),
        st.builds(ModelError, st.text(max_size=10)),
        _GARBAGE, st.lists(_ANY_FLOAT, max_size=5),
    ),
)
_FALLBACKS = st.one_of(st.none(), _PLAUSIBLE_SETPOINTS, _BAD_MAPPINGS)
_RANGES = st.one_of(st.none(), st.dictionaries(st.sampled_from([*POINT_NAMES, "unknown"]),
                                               st.tuples(_ANY_FLOAT, _ANY_FLOAT), max_size=8))
_OVERRIDES = st.one_of(st.none(), st.dictionaries(st.sampled_from([*SETPOINT_NAMES, "bogus"]), _ANY_FLOAT, max_size=3))


@st.composite
def _envelopes(draw: st.DrawFn, limits: SafetyLimits) -> EnvelopeState:
    last = {n: draw(st.floats(*limits.bounds[n])) for n in SETPOINT_NAMES}
    history = draw(st.dictionaries(st.sampled_from(limits.stuck_points),
                                   st.tuples(st.floats(0.0, 60.0), st.integers(0, 20)), max_size=4))
    return EnvelopeState(last, history, draw(st.integers(0, 10)))


def _finite_real(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        x = float(value)
    except OverflowError:
        return None
    return x if math.isfinite(x) else None


def _cooler_or_equal(name: str, value: float, than: float) -> bool:
    """``value`` cools at least as much as ``than`` (within TOL)."""
    return COOLING_DIRECTION[name] * (value - than) >= -TOL


def assert_safe_action(setpoints: Mapping[str, float] | None, d: Decision, points: Mapping[str, object],
                       envelope: EnvelopeState, limits: SafetyLimits) -> None:
    """The safe action: every setpoint at least as cooling as the configured value and the current state, bounded.

    The current state is each setpoint's measurement when that point passed validation (no
    sensor intervention names it) and the last written setpoint, both within the bounds
    (bounds win). The value is one of those candidates, never something else.
    """
    assert setpoints is not None and set(setpoints) == set(SETPOINT_NAMES) and d.source == "safe"
    failed = {i.target for i in d.interventions if i.reason.startswith("sensor_")}
    last = envelope.last_written or {}
    for name, value in setpoints.items():
        low, high = limits.bounds[name]
        assert math.isfinite(value) and low <= value <= high, (name, value)
        point = MEASURED_BY[name]
        measured = _finite_real(points.get(point)) if point not in failed else None
        now = [min(max(measured, low), high)] if measured is not None else []
        now += [last[name]] if name in last else []
        for than in (limits.safe_setpoints[name], *now):
            assert _cooler_or_equal(name, value, than), f"{name} = {value} cools less than {than}"
        candidates = (limits.safe_setpoints[name], *now, low, high)
        assert any(math.isclose(value, c, abs_tol=TOL) for c in candidates), (name, value, candidates)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), limits=st.sampled_from([LIMITS, _NARROW, _NO_BAND]), period_s=st.floats(1.0, 3600.0))
def test_whatever_comes_in_what_is_written_is_finite_bounded_and_rate_limited(
        data: st.DataObject, limits: SafetyLimits, period_s: float) -> None:
    points = data.draw(_points(), "points")
    times = data.draw(_times(points), "times")
    proposal = data.draw(_PROPOSALS, "proposal")
    envelope = data.draw(_envelopes(limits), "state")
    ranges = data.draw(_RANGES, "training_ranges")
    fallback = data.draw(_FALLBACKS, "fallback")
    overrides = data.draw(_OVERRIDES, "overrides")
    inputs = (points, times, NOW_S, proposal, envelope, limits, period_s, ranges, fallback, overrides)
    before = repr(inputs)

    d = decide(*inputs)
    event(f"source: {d.source}")
    for reason in {i.reason for i in d.interventions}:
        event(f"reason: {reason}")

    assert repr(inputs) == before, "inputs must not be mutated"
    assert decide(*copy.deepcopy(inputs)) == d, "same inputs, same decision"
    assert {i.reason for i in d.interventions} <= set(REASONS)
    assert d.state.last_written == d.setpoints
    assert d.sensors_ok == (not any(i.reason.startswith("sensor_") for i in d.interventions))
    inlet = _finite_real(points.get("inlet_temp_max_c"))
    inlet = inlet if inlet is not None and 0.0 <= inlet <= 60.0 else None
    if inlet is not None and inlet >= limits.limit_c:
        assert d.source == "safe" and "thermal_limit" in [i.reason for i in d.interventions]
    if d.setpoints is None:
        assert d.source == "relinquish"
        return
    # Every setpoint is written or handed back to the plant's own sequence (a fallback may command fewer).
    assert set(d.setpoints) | set(d.relinquished) == set(SETPOINT_NAMES)
    assert not set(d.setpoints) & set(d.relinquished)
    for name, value in d.setpoints.items():
        low, high = limits.bounds[name]
        assert math.isfinite(value) and low <= value <= high, (name, value)
    if any(i.reason == "thermal_limit" for i in d.interventions):
        assert_safe_action(d.setpoints, d, points, envelope, limits)
        return
    last = envelope.last_written
    assert last is not None
    for name, value in d.setpoints.items():
        assert abs(value - last[name]) <= limits.max_step(name, period_s) + TOL, (name, value, last[name])
    if inlet is None or inlet >= limits.guard_c:
        for name, value in d.setpoints.items():
            assert COOLING_DIRECTION[name] * (value - last[name]) >= -TOL, f"{name} moved toward less cooling"


@st.composite
def _site_limits(draw: st.DrawFn) -> SafetyLimits:
    """Limits with any bounds inside the contract's and any configured safe value inside them."""
    bounds: dict[str, tuple[float, float]] = {}
    safe: dict[str, float] = {}
    for name in SETPOINT_NAMES:
        spec = SETPOINTS_BY_NAME[name]
        low, high = sorted((draw(st.floats(spec.low, spec.high)), draw(st.floats(spec.low, spec.high))))
        bounds[name] = (low, high)
        safe[name] = draw(st.floats(low, high))
    return SafetyLimits(bounds=bounds, safe_setpoints=safe)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), limits=_site_limits(), write_safe=st.booleans())
def test_the_safe_action_never_cools_less_than_the_plant_does_now(
        data: st.DataObject, limits: SafetyLimits, write_safe: bool) -> None:
    """Every setpoint of the contract, at the limit and in fallback mode: never warmer than now; bounded; finite."""
    hottest = st.floats(15.0, 60.0) if write_safe else st.floats(limits.limit_c, 60.0)
    economizer = data.draw(st.floats(0.0, 1.0), ECONOMIZER_POINT)
    points = healthy(inlet_temp_max_c=data.draw(hottest, "inlet_temp_max_c"), economizer_load_frac=economizer)
    for point in MEASURED_BY.values():
        spec = POINTS_BY_NAME[point]
        points[point] = data.draw(st.one_of(st.floats(spec.low, spec.high), st.none(), st.just(math.nan)), point)
    last = data.draw(st.one_of(st.none(), st.fixed_dictionaries(
        {n: st.floats(*limits.bounds[n]) for n in SETPOINT_NAMES})), "last_written")
    envelope = state(last)
    d = run(points, data.draw(_PROPOSALS, "proposal"), envelope=envelope, limits=limits, write_safe=write_safe)
    assert_safe_action(d.setpoints, d, points, envelope, limits)
    assert ("fallback_safe" if write_safe else "thermal_limit") in reasons(d, "")
    assert d.setpoints is not None
    for name in FREE_COOLING_SETPOINTS:
        if last is None and _finite_real(points[MEASURED_BY[name]]) is None:
            cooling_bound = limits.bounds[name][0 if COOLING_DIRECTION[name] < 0 else 1]
            expected = cooling_bound if economizer > 0.0 else limits.safe_setpoints[name]
            assert d.setpoints[name] == expected, (name, economizer)


@settings(max_examples=200, deadline=None)
@given(proposals=st.lists(_PROPOSALS, min_size=1, max_size=12), inlets=st.lists(st.floats(20.0, 30.0), min_size=12,
                                                                                 max_size=12))
def test_over_many_cycles_every_write_stays_within_the_rate_of_the_previous_one(
        proposals: list[object], inlets: list[float]) -> None:
    envelope = state()
    for proposal, inlet in zip(proposals, inlets, strict=False):
        d = run(healthy(inlet_temp_max_c=inlet), proposal, envelope=envelope, fallback=FALLBACK)
        previous = envelope.last_written
        if d.setpoints is not None and previous is not None and d.source != "safe":
            for name in SETPOINT_NAMES:
                assert abs(d.setpoints[name] - previous[name]) <= step(name) + TOL
        if d.source == "policy":
            assert d.state.model_failures == 0
        else:
            assert d.state.model_failures in (0, envelope.model_failures + 1)
        envelope = d.state
