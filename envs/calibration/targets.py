"""What a site history may hold and how the calibration reads it: points, meters, setpoints, zones.

A history's columns are named by what they measure:

- a **point** of the contract (``coolpilot.envs.contract.POINT_SPECS``, the grid-signal points
  excepted): its unit and physical range are the contract's;
- a **meter**: a sub-meter a BMS commonly trends that the contract does not list (chiller,
  tower-fan, pump, CRAH-fan and UPS-loss power); each reads one plant output
  (:data:`METERS`), in kW;
- a **setpoint** the plant was told (``coolpilot.envs.contract.SETPOINT_SPECS``): replayed as
  the command of the physics;
- a zone's server **inlet** temperature (°C) or **IT power** (kW), by zone name.

Each compared quantity has a loss scale (:func:`loss_scale`): the error that counts as one unit
of misfit, so temperatures (K), powers (a share of their mean) and fractions weigh alike in
the fit (an error of 0.2 K, 2 % of a power or 0.02 of a fraction each cost one).
"""

from __future__ import annotations

from dataclasses import dataclass

from coolpilot.envs.contract import POINT_SPECS, SETPOINT_SPECS
from coolpilot.envs.facility import SIGNAL_POINTS

WEATHER_POINTS = ("outdoor_drybulb_c", "outdoor_wetbulb_c", "outdoor_rh_pct")
"""Points that are inputs of the replay (weather), never fitted."""

CLOCK_POINTS = ("time_of_day_sin", "time_of_day_cos")
"""Points that are the clock, not the plant."""

INPUT_POINTS = (*WEATHER_POINTS, "it_power_kw")
"""Points the replay takes as given: weather and the recorded IT power (it replaces the load profile)."""

NOT_COMPARED = (
    "time_of_day_sin", "time_of_day_cos", "it_load_frac", "chiller_stage_up_plr", "chiller_stage_timer_min",
    "tower_cell_flow_min_frac", "chw_dp_setpoint_frac", "cw_flow_frac", "economizer_enable", "crah_fan_speed_frac",
)
"""Points read but not fitted: clocks, IT load (an input), and the feedback of a setpoint the history replays
(the plant reports back what it was told; comparing it would only test the replay)."""

METERS: dict[str, str] = {
    "crah_fan_power_kw": "crah_fan_kw",
    "chiller_power_kw": "chiller_kw",
    "tower_fan_power_kw": "tower_fan_kw",
    "chw_pump_power_kw": "chw_pump_kw",
    "cw_pump_power_kw": "cw_pump_kw",
    "distribution_loss_kw": "distribution_loss_kw",
}
"""Sub-meter name -> the plant output (``coolpilot.envs.physics.plant.PlantOutputs`` field) it reads (kW)."""

METER_HIGH_KW = 1.0e6
"""Upper physical range of a sub-meter reading (kW), as the contract's power points."""

NON_IT_POWER = "non_it_power_kw"
"""Facility minus IT power (kW): what cooling and electrical overheads draw, derived when both are recorded."""


@dataclass(frozen=True)
class Quantity:
    """A quantity a history column may hold: its name, unit, physical range and kind."""

    name: str
    unit: str
    low: float
    high: float
    kind: str
    """``point``, ``meter``, ``setpoint``, ``zone_inlet`` or ``zone_it``."""


def point_quantity(name: str) -> Quantity | None:
    """The contract point ``name`` (the grid-signal points are not history points), or None."""
    spec = POINT_SPECS.get(name)
    if spec is None or name in SIGNAL_POINTS:
        return None
    return Quantity(name, spec.unit, spec.low, spec.high, "point")


def meter_quantity(name: str) -> Quantity | None:
    """The sub-meter ``name`` (:data:`METERS`), or None."""
    return Quantity(name, "kW", 0.0, METER_HIGH_KW, "meter") if name in METERS else None


def setpoint_quantity(name: str) -> Quantity | None:
    """The setpoint ``name`` with the contract's hard bounds, or None."""
    spec = SETPOINT_SPECS.get(name)
    return None if spec is None else Quantity(name, spec.unit, spec.low, spec.high, "setpoint")


ZONE_INLET = Quantity("zone inlet temperature", "°C", 0.0, 60.0, "zone_inlet")
"""A zone's hottest (or only) server inlet temperature."""
ZONE_IT = Quantity("zone IT power", "kW", 0.0, 1.0e6, "zone_it")
"""A zone's IT power."""


def compared_points(names: list[str] | tuple[str, ...]) -> list[str]:
    """Of ``names`` (points and meters a history holds), those the twin is checked on, in the order given."""
    return [n for n in names if (n in POINT_SPECS and n not in INPUT_POINTS and n not in NOT_COMPARED
                                 and n not in SIGNAL_POINTS) or n in METERS]


def fitted(name: str) -> bool:
    """Whether the fit's misfit includes ``name``: counts are checked but not fitted (a staging step a candidate
    takes five minutes early is a jump no small parameter change undoes, and it would swamp the finite-difference
    sensitivities with spikes)."""
    return name not in COUNT_POINTS


def is_temperature(unit: str) -> bool:
    """A temperature (°C): its errors are stated in K."""
    return unit == "°C"


def is_power(unit: str) -> bool:
    """A power (kW): its errors are stated as CV(RMSE) and NMBE of its mean."""
    return unit == "kW"


TEMPERATURE_SCALE_K = 0.2
"""Error of a temperature that costs one unit of misfit (K): the issue's acceptance bound on inlet and CHW."""
POWER_SCALE_FRAC = 0.02
"""Error of a power, as a share of its root-mean-square, that costs one unit of misfit."""
POWER_FLOOR_FRAC = 0.002
"""Smallest power misfit unit, as a share of the facility's design IT power: equipment that is mostly off (a
chiller in a free-cooling week) would otherwise weigh its every start and stop out of all proportion."""
FRACTION_SCALE = 0.02
"""Error of a fraction (0–1) that costs one unit of misfit."""
COUNT_SCALE = 0.5
"""Error of a count (chillers, tower cells) that costs one unit of misfit."""
COUNT_POINTS = ("chillers_running", "tower_cells_running")
"""Points that count equipment running."""


def loss_scale(name: str, rms: float, it_design_kw: float) -> float:
    """The misfit unit of quantity ``name`` whose measured root-mean-square is ``rms`` (in its unit)."""
    unit = unit_of(name)
    if is_temperature(unit):
        return TEMPERATURE_SCALE_K
    if is_power(unit):
        return max(POWER_SCALE_FRAC * rms, POWER_FLOOR_FRAC * it_design_kw)
    if name in COUNT_POINTS:
        return COUNT_SCALE
    return FRACTION_SCALE


def unit_of(name: str) -> str:
    """Unit of a point, meter or derived quantity by name."""
    if name in POINT_SPECS:
        return POINT_SPECS[name].unit
    if name in METERS or name == NON_IT_POWER:
        return "kW"
    if name.startswith("inlet_temp_c_"):
        return "°C"
    raise KeyError(name)
