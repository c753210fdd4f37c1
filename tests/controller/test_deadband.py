"""The write deadband on a policy's output."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from coolpilot.controller.policies.deadband import WriteDeadband, with_card_deadband


class Ramp:
    """Proposes a supply air rising 0.2 K per call and a fixed fan speed."""

    name = "ramp"

    def __init__(self) -> None:
        self.k = 0

    def reset(self) -> None:
        self.k = 0

    def act(self, points: Mapping[str, float]) -> dict[str, float]:
        self.k += 1
        return {"supply_air_temp_c": 18.0 + 0.2 * self.k, "crah_fan_speed_frac": 0.8}


def test_small_moves_are_held_and_large_ones_written() -> None:
    policy = WriteDeadband(Ramp(), {"supply_air_temp_c": 0.5})
    written = [policy.act({})["supply_air_temp_c"] for _ in range(8)]
    assert written == pytest.approx([18.2, 18.2, 18.2, 18.8, 18.8, 18.8, 19.4, 19.4])
    policy.reset()
    assert policy.act({})["supply_air_temp_c"] == pytest.approx(18.2)
    assert policy.name == "ramp" and policy.k == 1  # the inner policy's attributes show through


def test_card_deadband_wraps_only_when_recorded() -> None:
    inner = Ramp()
    names = ("supply_air_temp_c", "crah_fan_speed_frac")
    assert with_card_deadband(inner, {"action": {"mode": "residual"}}, names) is inner
    wrapped = with_card_deadband(inner, {"action": {"deadband": {"supply_air_temp_c": 0.3}}}, names)
    assert isinstance(wrapped, WriteDeadband)
    with pytest.raises(ValueError, match="≥ 0"):
        WriteDeadband(inner, {"supply_air_temp_c": -1.0})
    with pytest.raises(ValueError, match=r"names setpoints \['cw_flow_frac'\]"):
        with_card_deadband(inner, {"action": {"deadband": {"cw_flow_frac": 0.1}}}, names)
