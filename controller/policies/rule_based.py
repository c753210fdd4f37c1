"""Rule-based control: the good practice a competent facility engineer runs today.

Four coordinated loops, each a well-known practice (ASHRAE Guideline 36 style trim and
respond; ASHRAE TC 9.9 inlet-based control):

1. **Fan speed on demand.** CRAH fans are trimmed on the mixing at the hottest rack,
   ``inlet_max − supply``: when CRAH airflow falls short of what the servers pull, hot
   exhaust is drawn into the inlets and this difference grows. Fans run just fast enough
   to keep it near what the containment alone gives (``mix_target_k``, set at
   commissioning), instead of 100 %.
2. **Supply-air reset on measured inlet.** The supply air setpoint is trimmed so the
   hottest inlet sits at ``inlet_target_c`` (25 °C: 2 K of margin under ASHRAE's 27 °C
   recommended limit for sensor spread and load steps), never above ``sat_max_c``.
3. **Chilled-water reset.** Chilled water is the warmest that still lets the coils make
   the supply air (``SAT − coil approach − margin``): every kelvin raises chiller
   efficiency and economizer hours.
4. **Condenser water on wet bulb; economizer whenever it helps.** When the towers can
   make water colder than the chilled-water return (wet bulb + tower approach + 1 K below
   the return), the towers are driven to their coldest so the waterside economizer
   carries as much load as it can. Otherwise condenser water follows wet bulb + tower
   approach (the near-optimal tower/chiller trade-off), no lower than the chillers'
   minimum condenser temperature and no higher than the 29.4 °C design.

A thermal guard overrides the trims: above ``guard_c`` at any inlet, fans step up and
supply air steps down at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from envs.config import FacilityConfig
from envs.contract import POINT_NAMES

_INLET_MAX = POINT_NAMES.index("inlet_temp_max_c")
_SUPPLY = POINT_NAMES.index("supply_air_temp_c")
_FAN = POINT_NAMES.index("crah_fan_speed_frac")
_WETBULB = POINT_NAMES.index("outdoor_wetbulb_c")
_CHW_RETURN = POINT_NAMES.index("chw_return_temp_c")


@dataclass(frozen=True)
class RuleBasedSettings:
    """Commissioning parameters of the rule-based controller (site facts an engineer knows)."""

    inlet_target_c: float = 25.0
    """Hottest server inlet the supply-air loop aims at (°C)."""
    guard_c: float = 26.0
    """Hottest inlet above which the thermal guard acts (°C)."""
    sat_min_c: float = 16.0
    sat_max_c: float = 24.0
    sat_gain: float = 0.5
    """Supply-air trim per kelvin of inlet error per step (K/K)."""
    mix_target_k: float = 2.0
    """``inlet_max − supply`` the fans aim at (K); base recirculation plus about 1 K."""
    fan_gain: float = 0.04
    """Fan trim per kelvin of mixing error per step (1/K)."""
    fan_min_frac: float = 0.3
    coil_approach_k: float = 3.0
    """The coils' supply-air minus chilled-water approach (K)."""
    chw_margin_k: float = 1.0
    chw_min_c: float = 7.0
    chw_max_c: float = 18.0
    tower_approach_k: float = 4.0
    """Approach the towers reach at moderate fan speed (K)."""
    min_condenser_c: float = 15.5
    """Lowest condenser water the chillers accept (°C)."""
    cw_design_c: float = 29.4
    cw_free_cooling_c: float = 10.0
    """Condenser water setpoint while economizing: the towers' coldest (°C)."""
    economizer: bool = True
    """The plant has a waterside economizer."""


def rule_based_settings(cfg: FacilityConfig) -> RuleBasedSettings:
    """Commissioning settings of the rule-based controller from the facility's design data."""
    worst_recirc = max(z.recirculation_frac for z in cfg.zones)
    return RuleBasedSettings(
        coil_approach_k=cfg.crah.coil_approach_k,
        fan_min_frac=cfg.crah.min_speed_frac,
        min_condenser_c=cfg.chillers.min_condenser_temp_c,
        economizer=cfg.economizer.enabled,
        mix_target_k=1.0 + worst_recirc * cfg.servers.delta_t_k / (1.0 - worst_recirc),
    )


@dataclass
class RuleBasedPolicy:
    """The four loops above; state is the trimmed supply-air and fan setpoints."""

    settings: RuleBasedSettings = field(default_factory=RuleBasedSettings)
    name: str = "rule-based"
    _sat: float = 18.0
    _fan: float = 1.0

    def clone(self) -> RuleBasedPolicy:
        """An independent copy, integrator state included (for look-ahead by a planner)."""
        return RuleBasedPolicy(self.settings, self.name, self._sat, self._fan)

    def reset(self) -> None:
        """Start from the conservative legacy settings and trim from there."""
        self._sat = 18.0
        self._fan = 1.0

    def act(self, points: Mapping[str, float]) -> dict[str, float]:
        """One control period's setpoints from the latest points."""
        s = self.settings
        inlet_max = points["inlet_temp_max_c"]
        mixing = inlet_max - points["supply_air_temp_c"]
        if inlet_max > s.guard_c:
            self._fan = min(self._fan + 0.1, 1.0)
            self._sat = max(self._sat - 1.0, s.sat_min_c)
        else:
            fan_trim = min(max(s.fan_gain * (mixing - s.mix_target_k), -0.05), 0.1)
            self._fan = min(max(self._fan + fan_trim, s.fan_min_frac), 1.0)
            sat_trim = min(max(s.sat_gain * (s.inlet_target_c - inlet_max), -1.0), 0.5)
            self._sat = min(max(self._sat + sat_trim, s.sat_min_c), s.sat_max_c)
        chw = min(max(self._sat - s.coil_approach_k - s.chw_margin_k, s.chw_min_c), s.chw_max_c)
        wetbulb = points["outdoor_wetbulb_c"]
        free_cooling = s.economizer and wetbulb + s.tower_approach_k + 1.0 < points["chw_return_temp_c"]
        if free_cooling:
            cw = s.cw_free_cooling_c
        else:
            cw = min(max(wetbulb + s.tower_approach_k, s.min_condenser_c), s.cw_design_c)
        return {
            "supply_air_temp_c": self._sat,
            "crah_fan_speed_frac": self._fan,
            "chw_supply_temp_c": chw,
            "condenser_water_temp_c": cw,
        }


def rule_based_batch(points: np.ndarray, settings: RuleBasedSettings, sat_prev: np.ndarray | None = None,
                     fan_prev: np.ndarray | None = None) -> np.ndarray:
    """The four loops of :class:`RuleBasedPolicy`, batched: setpoints (N, 4) for points (N, 20).

    Points are in the order of ``envs.contract.POINTS``. The trimmed supply-air and fan
    setpoints start from ``sat_prev``/``fan_prev`` (the policy's integrator state) or, when
    not given, from the measured supply air temperature and fan speed: the *stateless* form
    a residual policy builds on (the actuators follow their setpoints within one control
    period, so the measured values are the last setpoints unless the coil limits the
    supply air). Same arithmetic as :meth:`RuleBasedPolicy.act` (tested).
    """
    s = settings
    p = np.asarray(points, dtype=np.float64)
    inlet_max = p[:, _INLET_MAX]
    supply = p[:, _SUPPLY]
    sat0 = supply if sat_prev is None else np.asarray(sat_prev, dtype=np.float64)
    fan0 = p[:, _FAN] if fan_prev is None else np.asarray(fan_prev, dtype=np.float64)
    guard = inlet_max > s.guard_c
    fan_trim = np.minimum(np.maximum(s.fan_gain * ((inlet_max - supply) - s.mix_target_k), -0.05), 0.1)
    fan = np.where(guard, np.minimum(fan0 + 0.1, 1.0),
                   np.minimum(np.maximum(fan0 + fan_trim, s.fan_min_frac), 1.0))
    sat_trim = np.minimum(np.maximum(s.sat_gain * (s.inlet_target_c - inlet_max), -1.0), 0.5)
    sat = np.where(guard, np.maximum(sat0 - 1.0, s.sat_min_c),
                   np.minimum(np.maximum(sat0 + sat_trim, s.sat_min_c), s.sat_max_c))
    chw = np.minimum(np.maximum(sat - s.coil_approach_k - s.chw_margin_k, s.chw_min_c), s.chw_max_c)
    wetbulb = p[:, _WETBULB]
    free = (wetbulb + s.tower_approach_k + 1.0 < p[:, _CHW_RETURN]) & s.economizer
    cw = np.where(free, s.cw_free_cooling_c, np.minimum(np.maximum(wetbulb + s.tower_approach_k, s.min_condenser_c),
                                                         s.cw_design_c))
    return np.stack([sat, fan, chw, cw], axis=1)
