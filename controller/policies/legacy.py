"""Legacy fixed setpoints: what many existing halls still run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass
class LegacyPolicy:
    """Fixed 18 °C supply air, 7 °C chilled water, fans at 100 %, condenser water at 29.4 °C (85 °F).

    The conservative settings of the era of open aisles and 1990s chiller design
    conditions (ARI 550/590 rating: 6.7 °C leaving chilled water, 29.4 °C entering
    condenser water).
    """

    supply_air_temp_c: float = 18.0
    crah_fan_speed_frac: float = 1.0
    chw_supply_temp_c: float = 7.0
    condenser_water_temp_c: float = 29.4
    name: str = "legacy"

    def reset(self) -> None:
        """Nothing to reset: the policy has no state."""

    def act(self, points: Mapping[str, float]) -> dict[str, float]:
        """The same setpoints whatever the points say."""
        return {
            "supply_air_temp_c": self.supply_air_temp_c,
            "crah_fan_speed_frac": self.crah_fan_speed_frac,
            "chw_supply_temp_c": self.chw_supply_temp_c,
            "condenser_water_temp_c": self.condenser_water_temp_c,
        }
