"""Safe means more cooling from where the plant is now: a cold-climate excursion in closed loop, and the fallback write.

The excursion (tests/controller/excursion.py): a Chicago winter morning with the waterside
economizer carrying the whole load, then a CRAH unit trips while a batch job drives every
pod to full load, and the hottest inlet crosses the limit. Under the envelope's safe action
the condenser water is never raised, so the economizer keeps carrying part of the load; under
today's absolute safe setpoints (the baseline, reproduced) condenser water goes to 29.4 °C
and free cooling ends. The inlet must come back under the limit no later than with the
baseline. Numbers: ``python benchmarks/bench_safe_cooling.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from coolpilot.controller.adapters.base import Reading, WriteResult
from coolpilot.controller.service import ControllerService
from coolpilot.controller.site import site_from_mapping
from coolpilot.envs.contract import SETPOINTS_BY_NAME
from tests.controller.excursion import CI_EXCURSION, LONGER_EXCURSIONS, Excursion, LoopResult, run_excursion

CW = "condenser_water_temp_c"


def assert_safe_action_keeps_free_cooling(excursion: Excursion) -> tuple[LoopResult, LoopResult]:
    """Both rules on one excursion; the properties of the issue, with numbers in every message."""
    new = run_excursion(excursion, "safe_action")
    old = run_excursion(excursion, "absolute_safe_setpoints")
    for run in (new, old):
        assert run.settled_economizer_share > 0.99 and run.settled_chillers_running == 0.0, (
            f"{run.rule}: before the fault the economizer must carry the load alone (share "
            f"{run.settled_economizer_share:.3f}, {run.settled_chillers_running:g} chillers)")
        assert run.minutes_above_limit > 0.0 and run.limit_actions >= 1, f"{run.rule}: the inlet never hit the limit"
    assert max(old.written[CW]) == pytest.approx(29.4) and old.min_economizer_share == 0.0, (
        "the baseline must show the problem: condenser water raised to 29.4 °C ends free cooling")

    safe = [d for d in new.decisions if d.source == "safe"]
    assert safe, "the thermal-limit action must have run"
    for d in safe:
        assert d.setpoints is not None and d.setpoints[CW] <= new.settled_condenser_setpoint_c, (
            f"safe action raised condenser water to {d.setpoints} from {new.settled_condenser_setpoint_c} °C")
        assert any(i.target == CW and "would cool less than the current state" in i.detail for i in d.interventions)
    assert max(new.written[CW]) <= new.settled_condenser_setpoint_c
    assert new.min_economizer_share > 0.0, (
        f"free cooling ended under the safe action (lowest per-step share {new.min_economizer_share:.3f})")
    assert new.economizer_share > old.economizer_share
    assert new.minutes_above_limit <= old.minutes_above_limit, (
        f"inlet above {new.limit_c} °C for {new.minutes_above_limit} min under the safe action, "
        f"{old.minutes_above_limit} min under the absolute safe setpoints")
    assert new.chiller_energy_kwh < old.chiller_energy_kwh, (new.chiller_energy_kwh, old.chiller_energy_kwh)
    return new, old


def test_the_economizer_keeps_running_through_a_winter_excursion() -> None:
    """Four simulated hours (2 h settling, 1 h fault, 1 h after); well under a second once compiled."""
    assert_safe_action_keeps_free_cooling(CI_EXCURSION)


@pytest.mark.parametrize("excursion", LONGER_EXCURSIONS, ids=lambda e: e.label)
def test_the_economizer_keeps_running_through_longer_excursions(excursion: Excursion) -> None:
    """Two-hour faults in both cold climates and several winter days (seven simulated hours each, still fast)."""
    assert_safe_action_keeps_free_cooling(excursion)


# --- the service's fallback write goes through the same rule ----------------------------------------


FREE_COOLING = {
    "outdoor_drybulb_c": -4.0, "outdoor_wetbulb_c": -5.0, "outdoor_rh_pct": 80.0, "time_of_day_sin": 0.5,
    "time_of_day_cos": 0.866, "it_power_kw": 1050.0, "it_load_frac": 0.7, "inlet_temp_max_c": 24.5,
    "inlet_temp_mean_c": 23.5, "supply_air_temp_c": 23.0, "return_air_temp_c": 35.0, "crah_fan_speed_frac": 0.62,
    "chw_supply_temp_c": 18.0, "chw_return_temp_c": 24.0, "condenser_water_temp_c": 10.2, "cooling_load_kw": 1150.0,
    "economizer_load_frac": 1.0, "chillers_running": 0.0, "cooling_power_kw": 60.0, "facility_power_kw": 1140.0,
}
"""A winter reading: towers at 10.2 °C, the economizer carrying the whole load, no chiller running."""


class MemoryPlant:
    """An adapter over a fixed reading that records every write."""

    name = "memory"

    def __init__(self, points: Mapping[str, float], now_s: float) -> None:
        self.points = dict(points)
        self.now_s = now_s
        self.writes: list[dict[str, float]] = []
        self.relinquished: list[list[str]] = []

    async def connect(self) -> None:
        pass

    async def read_points(self) -> Reading:
        return Reading(dict(self.points), dict.fromkeys(self.points, self.now_s))

    async def write_setpoints(self, setpoints: Mapping[str, float]) -> WriteResult:
        self.writes.append(dict(setpoints))
        return WriteResult(dict.fromkeys(setpoints, True), {})

    async def relinquish(self, names: Sequence[str]) -> WriteResult:
        self.relinquished.append(list(names))
        return WriteResult(dict.fromkeys(names, True), {})

    async def close(self) -> None:
        pass


def test_fallback_safe_setpoints_never_write_warmer_than_the_plant_runs(tmp_path: Path) -> None:
    now_s = 1_800_000_000.0
    site = site_from_mapping({"name": "winter", "mode": "fallback", "fallback_action": "safe_setpoints",
                              "period_s": 300, "adapter": {"kind": "csv", "csv": {"path": "unused.csv"}},
                              "audit": {"path": str(tmp_path / "audit.sqlite")}}, "test")
    plant = MemoryPlant(FREE_COOLING, now_s)
    service = ControllerService(site, plant, clock=lambda: now_s)

    async def two_cycles() -> None:
        try:
            for _ in range(2):
                await service.run_cycle()
        finally:
            await service.shutdown()

    asyncio.run(two_cycles())
    assert len(plant.writes) == 2 and not plant.relinquished
    assert service.last is not None and service.last.decision is not None
    assert plant.writes[-1] == service.last.decision.setpoints, "what is written is what the envelope decided"
    for written in plant.writes:
        assert written == {"supply_air_temp_c": 18.0, "crah_fan_speed_frac": 1.0, "chw_supply_temp_c": 7.0,
                           CW: FREE_COOLING[SETPOINTS_BY_NAME[CW].measured_by]}, \
            "condenser water held at the measured 10.2 °C"
    held = [i for i in service.last.decision.interventions if i.reason == "fallback_safe" and i.target == CW]
    assert len(held) == 1 and "29.4 °C would cool less than the current state 10.2 °C" in held[0].detail
    assert service.last.decision.source == "safe"
