"""The contract between the plant, the policies and the controller service.

One definition of every sensor **point** a policy may read and every **setpoint** it may
write, with units, physical bounds and descriptions. The simulator produces exactly these
points from its state, as a BMS would measure them; observations are built from points
only, so a policy trained in simulation can be fed live data (DESIGN.md section 2).

This module is pure data (standard library only): the controller service imports it
without importing the simulator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

CONTRACT_VERSION = 1
"""Bumped whenever a point or setpoint is added, removed, renamed or re-bounded."""


@dataclass(frozen=True)
class PointSpec:
    """A measured sensor point.

    ``low``/``high`` are the physical range a healthy sensor can report; a reading outside
    it is a sensor fault, not a plant state.
    """

    name: str
    unit: str
    low: float
    high: float
    description: str


@dataclass(frozen=True)
class SetpointSpec:
    """A setpoint a policy writes.

    ``low``/``high`` are hard bounds no policy output may leave. ``slew_per_min`` is how
    fast the plant's actuators (and local loops) follow a change, in unit per minute.
    """

    name: str
    unit: str
    low: float
    high: float
    slew_per_min: float
    description: str


POINTS: tuple[PointSpec, ...] = (
    PointSpec("outdoor_drybulb_c", "°C", -60.0, 60.0, "Outdoor air dry-bulb temperature."),
    PointSpec("outdoor_wetbulb_c", "°C", -60.0, 40.0, "Outdoor air wet-bulb temperature."),
    PointSpec("outdoor_rh_pct", "%", 0.0, 100.0, "Outdoor relative humidity."),
    PointSpec("time_of_day_sin", "1", -1.0, 1.0, "sin(2π·hour/24) of local standard time."),
    PointSpec("time_of_day_cos", "1", -1.0, 1.0, "cos(2π·hour/24) of local standard time."),
    PointSpec("it_power_kw", "kW", 0.0, 1.0e6, "Total IT power at the PDUs, server fans included."),
    PointSpec("it_load_frac", "1", 0.0, 1.5, "IT power over the facility's design IT power."),
    PointSpec("inlet_temp_max_c", "°C", 0.0, 60.0, "Hottest server inlet temperature over all zones."),
    PointSpec("inlet_temp_mean_c", "°C", 0.0, 60.0, "IT-power-weighted mean server inlet temperature."),
    PointSpec("supply_air_temp_c", "°C", 0.0, 50.0, "Measured CRAH supply air temperature (mean)."),
    PointSpec("return_air_temp_c", "°C", 0.0, 70.0, "Measured CRAH return air temperature (mean)."),
    PointSpec("crah_fan_speed_frac", "1", 0.0, 1.0, "Measured CRAH fan speed, fraction of maximum."),
    PointSpec("chw_supply_temp_c", "°C", 0.0, 40.0, "Chilled-water supply temperature to the CRAH coils."),
    PointSpec("chw_return_temp_c", "°C", 0.0, 50.0, "Chilled-water return temperature to the plant."),
    PointSpec("condenser_water_temp_c", "°C", -5.0, 50.0, "Cooling-tower leaving water temperature."),
    PointSpec("cooling_load_kw", "kW", 0.0, 1.0e6, "Heat removed from the chilled-water loop (BTU meter)."),
    PointSpec("economizer_load_frac", "1", 0.0, 1.0, "Share of the cooling load carried by the waterside economizer."),
    PointSpec("chillers_running", "1", 0.0, 64.0, "Number of chillers running."),
    PointSpec("cooling_power_kw", "kW", 0.0, 1.0e6, "Electric power of chillers, towers, pumps and CRAH fans."),
    PointSpec("facility_power_kw", "kW", 0.0, 2.0e6, "Total facility power at the utility meter."),
)

SETPOINTS: tuple[SetpointSpec, ...] = (
    SetpointSpec(
        "supply_air_temp_c", "°C", 14.0, 26.0, 0.3,
        "CRAH supply air temperature setpoint (all CRAHs); the coil cannot deliver air colder "
        "than chilled water plus its approach.",
    ),
    SetpointSpec(
        "crah_fan_speed_frac", "1", 0.3, 1.0, 0.05,
        "CRAH fan speed, fraction of maximum (all CRAHs); ignored by constant-speed fans.",
    ),
    SetpointSpec(
        "chw_supply_temp_c", "°C", 5.0, 18.0, 0.3,
        "Chilled-water supply temperature setpoint of the plant (chillers and economizer).",
    ),
    SetpointSpec(
        "condenser_water_temp_c", "°C", 10.0, 32.0, 0.5,
        "Cooling-tower leaving water temperature setpoint; the towers cannot go below wet bulb "
        "plus their approach.",
    ),
)

POINT_NAMES: tuple[str, ...] = tuple(p.name for p in POINTS)
SETPOINT_NAMES: tuple[str, ...] = tuple(s.name for s in SETPOINTS)
POINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(POINT_NAMES)}
SETPOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(SETPOINT_NAMES)}
POINTS_BY_NAME: dict[str, PointSpec] = {p.name: p for p in POINTS}
SETPOINTS_BY_NAME: dict[str, SetpointSpec] = {s.name: s for s in SETPOINTS}

INLET_LIMIT_C = 27.0
"""ASHRAE TC 9.9 recommended upper server inlet temperature (PHYSICS.md section 6)."""


class ContractError(ValueError):
    """A mapping of points or setpoints does not match the contract."""


def check_setpoints(setpoints: Mapping[str, float]) -> None:
    """Raise :class:`ContractError` naming any missing or unknown setpoint."""
    missing = [n for n in SETPOINT_NAMES if n not in setpoints]
    unknown = [n for n in setpoints if n not in SETPOINTS_BY_NAME]
    if missing or unknown:
        raise ContractError(
            f"setpoints do not match the contract: missing {missing}, unknown {unknown}; "
            f"expected exactly {list(SETPOINT_NAMES)}"
        )


def check_points(points: Mapping[str, float]) -> None:
    """Raise :class:`ContractError` naming any missing point."""
    missing = [n for n in POINT_NAMES if n not in points]
    if missing:
        raise ContractError(f"points missing from the contract: {missing}")
