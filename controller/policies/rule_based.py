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

The law is written once, :func:`rule_based_law`, in a small set of elementwise operations
(:class:`LawOps`): :func:`rule_based_batch` runs it on numpy arrays,
:meth:`RuleBasedPolicy.act` is that batch function on a batch of one, and the ONNX graph of
a residual policy's base (``training/export.py``) is generated from the same function.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import numpy as np

from coolpilot.envs.config import FacilityConfig
from coolpilot.envs.contract import POINT_NAMES

RULE_BASED_POINTS = ("inlet_temp_max_c", "supply_air_temp_c", "crah_fan_speed_frac", "outdoor_wetbulb_c",
                     "chw_return_temp_c")
"""The points the law reads; every other point is ignored."""
_INLET_MAX, _SUPPLY, _FAN, _WETBULB, _CHW_RETURN = (POINT_NAMES.index(p) for p in RULE_BASED_POINTS)

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
        """One control period's setpoints from the latest points: :func:`rule_based_batch` on a batch of one.

        The trims start from this policy's own previous supply-air and fan setpoints (its state).
        """
        row = np.full((1, len(POINT_NAMES)), np.nan)  # the law reads only RULE_BASED_POINTS
        for name in RULE_BASED_POINTS:
            row[0, POINT_NAMES.index(name)] = points[name]
        sat, fan, chw, cw = (float(v) for v in
                             rule_based_batch(row, self.settings, np.array([self._sat]), np.array([self._fan]))[0])
        self._sat, self._fan = sat, fan
        return {
            "supply_air_temp_c": sat,
            "crah_fan_speed_frac": fan,
            "chw_supply_temp_c": chw,
            "condenser_water_temp_c": cw,
        }


T = TypeVar("T")


class LawOps(Protocol[T]):
    """The arithmetic the law is written in, elementwise over arrays ``T`` and plain numbers.

    :data:`NUMPY_OPS` computes the law on numpy arrays; ``training/export.py`` implements the
    same operations as ONNX nodes, so the exported graph of a residual policy's base is
    generated from :func:`rule_based_law` itself, operation for operation.
    """

    def add(self, a: T | float, b: T | float) -> T:
        """``a + b``."""
        ...

    def sub(self, a: T | float, b: T | float) -> T:
        """``a − b``."""
        ...

    def mul(self, a: T | float, b: T | float) -> T:
        """``a · b``."""
        ...

    def minimum(self, a: T, b: float) -> T:
        """Elementwise ``min(a, b)``."""
        ...

    def maximum(self, a: T, b: float) -> T:
        """Elementwise ``max(a, b)``."""
        ...

    def greater(self, a: T, b: float) -> T:
        """``a > b`` (a boolean array)."""
        ...

    def less(self, a: T, b: T) -> T:
        """``a < b`` (a boolean array)."""
        ...

    def where(self, condition: T, a: T | float, b: T) -> T:
        """``a`` where ``condition`` holds, else ``b``."""
        ...


class _NumpyOps:
    """:class:`LawOps` on float64 numpy arrays."""

    def add(self, a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
        return np.add(a, b)

    def sub(self, a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
        return np.subtract(a, b)

    def mul(self, a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
        return np.multiply(a, b)

    def minimum(self, a: np.ndarray, b: float) -> np.ndarray:
        return np.minimum(a, b)

    def maximum(self, a: np.ndarray, b: float) -> np.ndarray:
        return np.maximum(a, b)

    def greater(self, a: np.ndarray, b: float) -> np.ndarray:
        return np.greater(a, b)

    def less(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.less(a, b)

    def where(self, condition: np.ndarray, a: np.ndarray | float, b: np.ndarray) -> np.ndarray:
        return np.where(condition, a, b)


NUMPY_OPS: LawOps[np.ndarray] = _NumpyOps()
"""The law's arithmetic on numpy arrays."""


def _clip(ops: LawOps[T], x: T, low: float, high: float) -> T:
    return ops.minimum(ops.maximum(x, low), high)


def rule_based_law(ops: LawOps[T], s: RuleBasedSettings, inlet_max: T, supply: T, sat_prev: T, fan_prev: T,
                   wetbulb: T, chw_return: T) -> tuple[T, T, T, T]:
    """The four loops and the thermal guard: the one definition of the rule-based control law.

    Inputs are the hottest inlet, the measured supply air (°C), the trims' starting points
    ``sat_prev`` (°C) and ``fan_prev`` (fraction), the outdoor wet bulb and the chilled-water
    return (°C). Returns the supply-air, fan-speed, chilled-water and condenser-water setpoints
    in the units of ``coolpilot.envs.contract.SETPOINTS``. Written in ``ops`` so that numpy
    (:func:`rule_based_batch`) and the exported ONNX graph compute it from this one text.
    """
    guard = ops.greater(inlet_max, s.guard_c)
    mix_error = ops.sub(ops.sub(inlet_max, supply), s.mix_target_k)
    fan_trim = _clip(ops, ops.mul(s.fan_gain, mix_error), -0.05, 0.1)
    fan = ops.where(guard, ops.minimum(ops.add(fan_prev, 0.1), 1.0),
                    _clip(ops, ops.add(fan_prev, fan_trim), s.fan_min_frac, 1.0))
    sat_trim = _clip(ops, ops.mul(s.sat_gain, ops.sub(s.inlet_target_c, inlet_max)), -1.0, 0.5)
    sat = ops.where(guard, ops.maximum(ops.sub(sat_prev, 1.0), s.sat_min_c),
                    _clip(ops, ops.add(sat_prev, sat_trim), s.sat_min_c, s.sat_max_c))
    chw = _clip(ops, ops.sub(ops.sub(sat, s.coil_approach_k), s.chw_margin_k), s.chw_min_c, s.chw_max_c)
    cw = _clip(ops, ops.add(wetbulb, s.tower_approach_k), s.min_condenser_c, s.cw_design_c)
    if s.economizer:
        free = ops.less(ops.add(ops.add(wetbulb, s.tower_approach_k), 1.0), chw_return)
        cw = ops.where(free, s.cw_free_cooling_c, cw)
    return sat, fan, chw, cw


def rule_based_batch(points: np.ndarray, settings: RuleBasedSettings, sat_prev: np.ndarray | None = None,
                     fan_prev: np.ndarray | None = None) -> np.ndarray:
    """:func:`rule_based_law` on a batch: setpoints (N, 4) for points (N, 20), in float64.

    Points are in the order of ``coolpilot.envs.contract.POINTS``. The trimmed supply-air and fan
    setpoints start from ``sat_prev``/``fan_prev`` (the policy's integrator state) or, when
    not given, from the measured supply air temperature and fan speed: the *stateless* form
    a residual policy builds on (the actuators follow their setpoints within one control
    period, so the measured values are the last setpoints unless the coil limits the
    supply air).
    """
    p = np.asarray(points, dtype=np.float64)
    supply = p[:, _SUPPLY]
    sat0 = supply if sat_prev is None else np.asarray(sat_prev, dtype=np.float64)
    fan0 = p[:, _FAN] if fan_prev is None else np.asarray(fan_prev, dtype=np.float64)
    out = rule_based_law(NUMPY_OPS, settings, p[:, _INLET_MAX], supply, sat0, fan0, p[:, _WETBULB], p[:, _CHW_RETURN])
    return np.stack(out, axis=1)
