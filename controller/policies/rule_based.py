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

The plant's levers, where the facility's equipment has them (:func:`plant_lever_law`):

5. **Chillers staged on efficiency.** The next chiller starts at the part-load ratio where
   n + 1 chillers draw less than n (each chiller's DOE-2 part-load curve plus its condenser
   pump, at design conditions), never above 0.9 so a stage-up leaves headroom for a load step
   (ASHRAE Guideline 36 stages on operating part-load ratio the same way).
6. **All tower cells at reduced speed.** The flow is spread over as many cells as their
   minimum wetting flow allows (ASHRAE 90.1-2013 6.5.5.4: fan power ∝ speed³).
7. **Differential-pressure reset.** The DP setpoint is trimmed so the coil valves sit near
   85 % open: ``DP = (flow/0.85)²`` of design (valves fully open pass √DP of design flow), so a
   starved coil (flow at its cap) raises it at once; the thermal guard sets it to design.
8. **Condenser water at design flow.** With centrifugal chillers, cutting condenser flow
   raises lift more than it saves pumping (Taylor, ASHRAE Journal 2012), so flow per chiller
   stays at design; the guard keeps it there too.
9. **Economizer whenever it can help.** Enabled while the towers might make water colder than
   the chilled-water return (wet bulb + tower approach − 1 K < return), locked out when free
   cooling is out of reach. A stricter lock-out (return 1 K above wet bulb + approach) cost
   0.4 % of overhead energy in a Las Vegas July week: partial free cooling pays for the
   towers' and pumps' full flow in this plant, so the margin sits on the permissive side.
10. **Storage on the tariff's clock** (a chilled-water tank): the conventional demand-limiting
    partial-storage schedule. Charge in the valley hours (``tes_charge_hours``: cheap power, and
    cool nights make cold cheaply) until the tank is full, at the rate that fills it over the valley
    (``tes_charge_rate``, with 15 % to spare for losses) rather than at full rate, which would set a
    new demand peak at night; discharge in the peak hours (``tes_discharge_hours``) at the rate that
    spreads the usable cold over the peak (``tes_discharge_rate``: the chillers carry the rest, so
    the afternoon's demand drops evenly), down to a reserve (``tes_reserve_soc``) that it never
    spends: the cold an operator keeps for a chiller trip (0.15 of a 4-hour tank carries the design
    load for 36 minutes); idle otherwise.
    The thermal guard never charges: above ``guard_c`` the tank discharges whatever it holds.
    The windows come from the site's tariff (:func:`storage_windows`) or default to a common
    peak/valley split (peak 12–18 h, valley 23–7 h).
11. **Warm water, as warm as the GPUs allow** (liquid cooling): the facility water is held at its
    design supply (the ASHRAE class's limit less the designer's margin: W32 at 30 °C), the rack
    coolant at that plus the CDUs' design approach, and both are reset down, ``case_gain`` K per K,
    when the hottest GPU case passes ``case_target_c`` (the case limit less 8 K); the trim and the dry
    coolers follow the facility water's own sequence (dry coolers first, trim when they fall short).
12. **CDU pumps at design flow** (the vendors' commissioning default: constant flow to the racks).
13. **Heat pump meets the network's demand** (duty 1: the heat-supply contract), where there is one.

The law is written once, :func:`rule_based_law`, in a small set of elementwise operations
(:class:`LawOps`): :func:`rule_based_batch` runs it on numpy arrays,
:meth:`RuleBasedPolicy.act` is that batch function on a batch of one, and the ONNX graph of
a residual policy's base (``training/export.py``) is generated from the same function.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol, TypeVar

import numpy as np

from coolpilot.envs.config import FacilityConfig
from coolpilot.envs.contract import POINT_NAMES, SETPOINT_NAMES

RULE_BASED_POINTS = ("inlet_temp_max_c", "supply_air_temp_c", "crah_fan_speed_frac", "outdoor_wetbulb_c",
                     "chw_return_temp_c")
"""The points the core law reads; every other point is ignored."""
LEVER_POINTS: dict[str, tuple[str, ...]] = {"chw_dp_setpoint_frac": ("chw_flow_frac",),
                                            "tes_rate_frac": ("tes_soc", "time_of_day_sin", "time_of_day_cos"),
                                            "fws_supply_temp_c": ("case_temp_max_c",),
                                            "tcs_supply_temp_c": ("case_temp_max_c",)}
"""Points the lever law reads beyond :data:`RULE_BASED_POINTS`, per lever."""
LEVERS = ("chiller_stage_up_plr", "tower_cell_flow_min_frac", "chw_dp_setpoint_frac", "cw_flow_frac",
          "economizer_enable", "tes_rate_frac", "fws_supply_temp_c", "tcs_supply_temp_c", "cdu_flow_frac",
          "heat_pump_duty_frac")
"""The plant levers the rule-based controller commands when the facility has them, in contract order."""

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
    levers: tuple[str, ...] = ()
    """The plant levers of the facility's contract this controller commands (a subset of :data:`LEVERS`)."""
    stage_up_plr: float = 0.9
    """Part-load ratio at which the next chiller starts (efficiency crossover, at most 0.9)."""
    tower_cell_flow_min_frac: float = 0.33
    """The towers' minimum water flow per cell: spread down to it."""
    dp_valve_target: float = 0.85
    """Coil valve opening the DP reset aims at (fraction of the flow √DP allows)."""
    dp_min_frac: float = 0.2
    cw_flow_frac: float = 1.0
    """Condenser flow per chiller (design)."""
    economizer_margin_k: float = -1.0
    """The economizer is enabled while wet bulb + tower approach + this margin is below the return (K)."""
    tes_charge_hours: tuple[tuple[float, float], ...] = ((23.0, 7.0),)
    """Hours of the day (start, end; local standard time, may wrap midnight) the tank charges: the valley."""
    tes_discharge_hours: tuple[tuple[float, float], ...] = ((12.0, 18.0),)
    """Hours of the day the tank discharges: the peak."""
    tes_reserve_soc: float = 0.15
    """State of charge the schedule never spends (kept for a chiller trip)."""
    tes_full_soc: float = 0.98
    """State of charge at which charging stops."""
    tes_charge_rate: float = 1.0
    """Charge rate in the valley, fraction of the tank's rated charge rate."""
    tes_discharge_rate: float = 1.0
    """Discharge rate in the peak, fraction of the tank's rated discharge rate."""
    fws_design_c: float = 30.0
    """Facility-water supply held while the GPU cases have margin (°C): the design supply."""
    fws_min_c: float = 20.0
    """Coldest facility-water supply the case reset goes to (°C)."""
    cdu_approach_k: float = 3.0
    """Rack coolant supply over the facility water (K): the CDUs' design approach."""
    case_target_c: float = 72.0
    """Hottest GPU case above which the warm-water setpoints are reset down (°C)."""
    case_gain: float = 1.0
    """Facility-water reset per kelvin of case above the target (K/K)."""

    def __post_init__(self) -> None:
        unknown = [n for n in self.levers if n not in LEVERS]
        if unknown:
            raise ValueError(f"rule-based levers {unknown} are not levers it knows ({list(LEVERS)})")
        for label, windows in (("tes_charge_hours", self.tes_charge_hours),
                               ("tes_discharge_hours", self.tes_discharge_hours)):
            for start, end in windows:
                length = (end - start) % 24.0
                if not (0.0 <= start < 24.0 and 0.0 <= end <= 24.0 and 0.0 < length <= 12.0):
                    raise ValueError(f"{label}: window ({start:g}, {end:g}) h must lie in 0..24 h and last more than "
                                     f"0 and at most 12 hours")
        if not (0.0 < self.tes_charge_rate <= 1.0 and 0.0 < self.tes_discharge_rate <= 1.0):
            raise ValueError(f"tes_charge_rate = {self.tes_charge_rate:g} and tes_discharge_rate = "
                             f"{self.tes_discharge_rate:g} must lie in (0, 1] of the tank's rated rates")
        if not 0.0 <= self.tes_reserve_soc < self.tes_full_soc <= 1.0:
            raise ValueError(f"tes_reserve_soc = {self.tes_reserve_soc:g} and tes_full_soc = {self.tes_full_soc:g} "
                             "must satisfy 0 <= reserve < full <= 1")

    @property
    def setpoint_names(self) -> tuple[str, ...]:
        """The setpoints this controller writes: the core four, then its levers."""
        return (*SETPOINT_NAMES, *(n for n in LEVERS if n in self.levers))

    @property
    def point_names(self) -> tuple[str, ...]:
        """The points it reads."""
        extra = dict.fromkeys(p for n in LEVERS if n in self.levers for p in LEVER_POINTS.get(n, ()))  # each once
        return (*RULE_BASED_POINTS, *extra)


def rule_based_settings(cfg: FacilityConfig) -> RuleBasedSettings:
    """Commissioning settings of the rule-based controller from the facility's design data."""
    worst_recirc = max(z.recirculation_frac for z in cfg.zones)
    contract = cfg.contract
    cell_low = contract.setpoints_by_name.get("tower_cell_flow_min_frac")
    defaults = RuleBasedSettings()
    charge, discharge = storage_rates(cfg, defaults.tes_charge_hours, defaults.tes_discharge_hours,
                                      defaults.tes_reserve_soc)
    settings = RuleBasedSettings(
        coil_approach_k=cfg.crah.coil_approach_k,
        fan_min_frac=cfg.crah.min_speed_frac,
        min_condenser_c=cfg.chillers.min_condenser_temp_c,
        economizer=cfg.economizer.enabled,
        mix_target_k=1.0 + worst_recirc * cfg.servers.delta_t_k / (1.0 - worst_recirc),
        levers=tuple(n for n in LEVERS if n in contract.setpoints_by_name),
        stage_up_plr=staging_crossover_plr(cfg),
        tower_cell_flow_min_frac=max(cfg.towers.cell_min_flow_frac, cell_low.low if cell_low else 0.0),
        cw_flow_frac=1.0,
        tes_charge_rate=charge, tes_discharge_rate=discharge,
    )
    if cfg.liquid is None:
        return settings
    # Sequence 11's commissioning values from the facility's liquid-cooling design.
    fws = cfg.liquid.fws_design_supply_c
    return replace(settings, fws_design_c=fws, fws_min_c=min(20.0, fws), cdu_approach_k=cfg.liquid.cdu.approach_k,
                   case_target_c=cfg.liquid.cold_plates.case_limit_c - 8.0)


def _hours(windows: tuple[tuple[float, float], ...]) -> float:
    return sum((end - start) % 24.0 for start, end in windows)


def storage_rates(cfg: FacilityConfig, charge_hours: tuple[tuple[float, float], ...],
                  discharge_hours: tuple[tuple[float, float], ...], reserve_soc: float) -> tuple[float, float]:
    """The schedule's charge and discharge rates (fractions of the rated ones) for the facility's tank.

    Charge: fill the tank over the valley hours with 15 % to spare; discharge: spread the cold above
    the reserve over the peak hours. Capacity and rated rates from the facility file (a facility
    without a tank gets full rates, unused).
    """
    if not cfg.storage.installed:
        return 1.0, 1.0
    charge_kw, discharge_kw = cfg.tes_rates_kw
    capacity = cfg.tes_capacity_kwh
    charge = 1.15 * capacity / (_hours(charge_hours) * charge_kw)
    discharge = (1.0 - reserve_soc) * capacity / (_hours(discharge_hours) * discharge_kw)
    return min(max(charge, 0.05), 1.0), min(max(discharge, 0.05), 1.0)


def staging_crossover_plr(cfg: FacilityConfig, cap: float = 0.9) -> float:
    """Part-load ratio above which n + 1 chillers draw less than n (capped at ``cap``).

    At the reference conditions: per chiller ``P = Q_ref·EIRFPLR(max(PLR, unload))/COP_ref`` plus
    its constant condenser pump (E+ chillers.tex; the facility's curve set). Taken for the
    first stage (one to two chillers), where staging decisions are most frequent; with a
    curve whose efficiency peaks near full load (the Carrier 19FA set) it is the cap.
    """
    from coolpilot.envs.physics.coefficients import CHILLER_MODELS

    curves = CHILLER_MODELS[cfg.chillers.model]
    a, b, c = curves.eirfplr
    q = cfg.chillers.capacity_kw
    pump_kw = cfg.cw_unit_flow_m3s * cfg.towers.pump_head_pa / cfg.towers.pump_efficiency / 1000.0

    def power(n: int, load: float) -> float:
        x = max(load / (n * q), curves.min_unloading_ratio)
        return n * (q * (a + b * x + c * x * x) / cfg.chiller_cop_ref + pump_kw)

    for plr in np.arange(0.4, cap + 1e-9, 0.01):
        if power(2, plr * q) < power(1, plr * q):
            return float(round(plr, 2))
    return cap


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
        names = self.settings.point_names
        row = np.array([[points[name] for name in names]], dtype=np.float64)
        out = rule_based_batch(row, self.settings, np.array([self._sat]), np.array([self._fan]), point_names=names)[0]
        self._sat, self._fan = float(out[0]), float(out[1])
        return dict(zip(self.settings.setpoint_names, (float(v) for v in out), strict=True))


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


def _in_window(ops: LawOps[T], sin: T, cos: T, start_h: float, end_h: float) -> T:
    """1 where the clock (sin, cos of 2π·hour/24) is in [start, end) hours (a window of at most 12 h), else 0.

    On the clock circle, θ lies in the arc from a to b (shorter than π) when sin(θ − a) ≥ 0 and
    sin(b − θ) > 0; both are linear in (sin θ, cos θ), so the test needs no arctangent. The result
    is a 0/1 number, not a boolean, so that the exported graph selects only between numbers.
    """
    a = 2.0 * np.pi * start_h / 24.0
    b = 2.0 * np.pi * end_h / 24.0
    zero = ops.mul(sin, 0.0)
    after_start = ops.greater(ops.sub(ops.mul(sin, float(np.cos(a))), ops.mul(cos, float(np.sin(a)))), -1e-12)
    before_end = ops.greater(ops.sub(ops.mul(cos, float(np.sin(b))), ops.mul(sin, float(np.cos(b)))), 1e-12)
    return ops.where(after_start, ops.where(before_end, 1.0, zero), zero)


def _in_any(ops: LawOps[T], sin: T, cos: T, windows: tuple[tuple[float, float], ...]) -> T:
    """1 where the clock is in any of ``windows``, else 0."""
    inside = _in_window(ops, sin, cos, *windows[0])
    for start, end in windows[1:]:
        inside = ops.where(ops.greater(inside, 0.5), 1.0, _in_window(ops, sin, cos, start, end))
    return inside


def storage_law(ops: LawOps[T], s: RuleBasedSettings, guard: T, soc: T, sin: T, cos: T) -> T:
    """Sequence 10 of the module docstring: the tank's signed rate (> 0 discharge, < 0 charge)."""
    zero = ops.mul(soc, 0.0)
    charging = ops.greater(_in_any(ops, sin, cos, s.tes_charge_hours), 0.5)
    discharging = ops.greater(_in_any(ops, sin, cos, s.tes_discharge_hours), 0.5)
    charge = ops.where(charging, ops.where(ops.less(soc, ops.add(zero, s.tes_full_soc)), -s.tes_charge_rate, zero),
                       zero)
    rate = ops.where(discharging, ops.where(ops.greater(soc, s.tes_reserve_soc), s.tes_discharge_rate, zero), charge)
    return ops.where(guard, ops.where(ops.greater(soc, 0.0), 1.0, zero), rate)


def plant_lever_law(ops: LawOps[T], s: RuleBasedSettings, guard: T, wetbulb: T, chw_return: T,
                    chw_flow: T | None, storage: tuple[T, T, T] | None = None,
                    case: T | None = None) -> dict[str, T | float]:
    """Sequences 5–13 of the module docstring: the plant levers of ``s.levers``, by name.

    ``guard`` is the thermal guard's condition (hottest inlet above ``guard_c``), ``wetbulb``
    and ``chw_return`` in °C, ``chw_flow`` the measured chilled-water flow fraction (needed
    with ``chw_dp_setpoint_frac``), ``storage`` the tank's state of charge and the clock's sin
    and cos (needed with ``tes_rate_frac``), ``case`` the hottest GPU case (°C, needed with the
    warm-water setpoints). Constant levers come back as plain numbers.
    """
    out: dict[str, T | float] = {}
    if "chiller_stage_up_plr" in s.levers:
        out["chiller_stage_up_plr"] = s.stage_up_plr
    if "tower_cell_flow_min_frac" in s.levers:
        out["tower_cell_flow_min_frac"] = s.tower_cell_flow_min_frac
    if "chw_dp_setpoint_frac" in s.levers:
        if chw_flow is None:
            raise ValueError("the DP reset needs the chw_flow_frac point")
        opening = 1.0 / (s.dp_valve_target * s.dp_valve_target)
        dp = _clip(ops, ops.mul(ops.mul(chw_flow, chw_flow), opening), s.dp_min_frac, 1.0)
        out["chw_dp_setpoint_frac"] = ops.where(guard, 1.0, dp)
    if "cw_flow_frac" in s.levers:
        out["cw_flow_frac"] = s.cw_flow_frac
    if "economizer_enable" in s.levers:
        free = ops.less(ops.add(ops.add(wetbulb, s.tower_approach_k), s.economizer_margin_k), chw_return)
        out["economizer_enable"] = ops.where(free, 1.0, ops.mul(wetbulb, 0.0))
    if "tes_rate_frac" in s.levers:
        if storage is None:
            raise ValueError("the storage schedule needs the tes_soc, time_of_day_sin and time_of_day_cos points")
        out["tes_rate_frac"] = storage_law(ops, s, guard, *storage)
    if "fws_supply_temp_c" in s.levers or "tcs_supply_temp_c" in s.levers:
        if case is None:
            raise ValueError("the warm-water reset needs the case_temp_max_c point")
        over = ops.maximum(ops.sub(case, s.case_target_c), 0.0)
        fws = _clip(ops, ops.sub(s.fws_design_c, ops.mul(over, s.case_gain)), s.fws_min_c, s.fws_design_c)
        if "fws_supply_temp_c" in s.levers:
            out["fws_supply_temp_c"] = fws
        if "tcs_supply_temp_c" in s.levers:
            out["tcs_supply_temp_c"] = ops.add(fws, s.cdu_approach_k)
    if "cdu_flow_frac" in s.levers:
        out["cdu_flow_frac"] = 1.0
    if "heat_pump_duty_frac" in s.levers:
        out["heat_pump_duty_frac"] = 1.0
    return out


def rule_based_batch(points: np.ndarray, settings: RuleBasedSettings, sat_prev: np.ndarray | None = None,
                     fan_prev: np.ndarray | None = None, point_names: tuple[str, ...] = POINT_NAMES) -> np.ndarray:
    """:func:`rule_based_law` and :func:`plant_lever_law` on a batch: setpoints (N, K) for points (N, P), float64.

    ``points`` columns are named by ``point_names`` (default the core block's points); the
    columns out are ``settings.setpoint_names``. The trimmed supply-air and fan
    setpoints start from ``sat_prev``/``fan_prev`` (the policy's integrator state) or, when
    not given, from the measured supply air temperature and fan speed: the *stateless* form
    a residual policy builds on (the actuators follow their setpoints within one control
    period, so the measured values are the last setpoints unless the coil limits the
    supply air).
    """
    p = np.asarray(points, dtype=np.float64)
    col = {name: p[:, point_names.index(name)] for name in settings.point_names}
    supply = col["supply_air_temp_c"]
    sat0 = supply if sat_prev is None else np.asarray(sat_prev, dtype=np.float64)
    fan0 = col["crah_fan_speed_frac"] if fan_prev is None else np.asarray(fan_prev, dtype=np.float64)
    inlet, wetbulb, chw_return = col["inlet_temp_max_c"], col["outdoor_wetbulb_c"], col["chw_return_temp_c"]
    core = rule_based_law(NUMPY_OPS, settings, inlet, supply, sat0, fan0, wetbulb, chw_return)
    storage = (col["tes_soc"], col["time_of_day_sin"], col["time_of_day_cos"]) if "tes_soc" in col else None
    levers = plant_lever_law(NUMPY_OPS, settings, np.greater(inlet, settings.guard_c), wetbulb, chw_return,
                             col.get("chw_flow_frac"), storage, col.get("case_temp_max_c"))
    n = p.shape[0]
    return np.stack([*core, *(np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)) for v in levers.values())],
                    axis=1)
