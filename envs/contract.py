"""The contract between the plant, the policies and the controller service (contract version 2).

One definition of every sensor **point** a policy may read and every **setpoint** it may
write, with units, physical bounds, slew rates, the direction that cools more and how the
plant measures it. The simulator produces exactly these points from its state, as a BMS
would measure them; observations are built from points only, so a policy trained in
simulation can be fed live data (DESIGN.md section 2).

**The contract follows the equipment.** Each equipment block contributes its points and
setpoints (:data:`BLOCKS`): the ``core`` block every air-cooled hall with a chilled-water
plant has (20 points, 4 setpoints: contract version 1 was exactly this block), then
``chiller_staging`` (the sequencer's stage-up threshold, with minimum run and off times),
``tower_cells`` (how far the flow is spread over tower cells), ``chw_dp_reset`` (the
chilled-water differential-pressure setpoint of variable-flow pumps), ``cw_flow`` (the
condenser-water flow of variable-speed condenser pumps), ``economizer`` (the waterside
economizer's enable) and ``thermal_storage`` (a chilled-water tank's signed charge or discharge
rate), ``liquid_cooling`` (cold plates, CDUs and a warm facility-water loop: its supply temperature, the rack
coolant's supply temperature and flow) and ``heat_reuse`` (a heat pump's duty); ``grid_signals`` and ``pv`` are
points only (the tariff and grid factor, the on-site array's
output). A facility's contract is the ordered union of its blocks
(``coolpilot.envs.config.FacilityConfig.contract``); two contracts that differ are never
silently matched (:meth:`Contract.differences` names what differs). A setpoint no policy
commands runs on the plant's own local sequence.

This module is pure data (standard library only): the controller service imports it
without importing the simulator.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

CONTRACT_VERSION = 2
"""Bumped whenever the way contracts are built changes (version 1: the core block only, fixed)."""


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
    """A setpoint a policy writes, with the rules the safety envelope applies to it.

    ``low``/``high`` are hard bounds no policy output may leave. ``slew_per_min`` is how
    fast the plant's actuators (and local loops) follow a change, in unit per minute.
    ``cooling_direction`` is the sign of a change that gives more cooling (+1: raising it
    cools more, −1: lowering it cools more). ``safe`` is the default configured safe value
    (written at the thermal limit where it cools at least as much as the current state).
    ``measured_by`` names the point that reports the value the plant holds now (its
    feedback). ``discrete`` setpoints act on whole steps (``economizer_enable`` is on at
    ≥ 0.5). ``ends_free_cooling`` marks a setpoint whose warm-side value would end free
    cooling, so in free cooling the safe action holds it where it is. ``deadband`` is the
    smallest move counted as a change (what a BMS's write deadband ignores): the one
    definition of "setpoint changes per day".
    """

    name: str
    unit: str
    low: float
    high: float
    slew_per_min: float
    description: str
    cooling_direction: int = -1
    safe: float = 0.0
    measured_by: str = ""
    discrete: bool = False
    ends_free_cooling: bool = False
    deadband: float = 0.01


@dataclass(frozen=True)
class Block:
    """An equipment block: the points and setpoints a piece of equipment adds to a contract."""

    name: str
    description: str
    points: tuple[PointSpec, ...]
    setpoints: tuple[SetpointSpec, ...] = ()


CORE = Block(
    "core",
    "The air-cooled hall and its chilled-water plant: weather, IT load, inlet temperatures, CRAHs, the "
    "chilled-water and condenser-water temperatures, plant and facility power.",
    points=(
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
        PointSpec("economizer_load_frac", "1", 0.0, 1.0,
                  "Share of the cooling load carried by the waterside economizer."),
        PointSpec("chillers_running", "1", 0.0, 64.0, "Number of chillers running."),
        PointSpec("cooling_power_kw", "kW", 0.0, 1.0e6, "Electric power of chillers, towers, pumps and CRAH fans."),
        PointSpec("facility_power_kw", "kW", 0.0, 2.0e6, "Total facility power at the utility meter."),
    ),
    setpoints=(
        SetpointSpec(
            "supply_air_temp_c", "°C", 14.0, 26.0, 0.3,
            "CRAH supply air temperature setpoint (all CRAHs); the coil cannot deliver air colder "
            "than chilled water plus its approach.",
            cooling_direction=-1, safe=18.0, measured_by="supply_air_temp_c", deadband=0.1,
        ),
        SetpointSpec(
            "crah_fan_speed_frac", "1", 0.3, 1.0, 0.05,
            "CRAH fan speed, fraction of maximum (all CRAHs); ignored by constant-speed fans.",
            cooling_direction=+1, safe=1.0, measured_by="crah_fan_speed_frac",
        ),
        SetpointSpec(
            "chw_supply_temp_c", "°C", 5.0, 18.0, 0.3,
            "Chilled-water supply temperature setpoint of the plant (chillers and economizer).",
            cooling_direction=-1, safe=7.0, measured_by="chw_supply_temp_c", deadband=0.1,
        ),
        SetpointSpec(
            "condenser_water_temp_c", "°C", 10.0, 32.0, 0.5,
            "Cooling-tower leaving water temperature setpoint; the towers cannot go below wet bulb "
            "plus their approach.",
            cooling_direction=-1, safe=29.4, measured_by="condenser_water_temp_c", ends_free_cooling=True,
            deadband=0.1,
        ),
    ),
)

CHILLER_STAGING = Block(
    "chiller_staging",
    "Two or more chillers staged by the plant's sequencer: the policy sets the part-load ratio at which "
    "the next chiller starts; the sequencer keeps minimum run and off times and counts starts.",
    points=(
        PointSpec("chiller_plr", "1", 0.0, 1.2, "Mean part-load ratio of the running chillers."),
        PointSpec("chiller_stage_up_plr", "1", 0.0, 1.2,
                  "Stage-up part-load ratio the sequencer uses now (commanded or its own)."),
        PointSpec("chiller_stage_timer_min", "min", 0.0, 1.0e6, "Minutes since the last chiller start or stop."),
    ),
    setpoints=(
        SetpointSpec(
            "chiller_stage_up_plr", "1", 0.4, 1.0, 60.0,
            "Part-load ratio of the running chillers above which the sequencer starts another (it stops one "
            "when the rest would run below this minus the facility's hysteresis). Lower runs more chillers at "
            "lighter load: better part-load efficiency and headroom, more condenser pumping and more starts.",
            cooling_direction=-1, safe=0.6, measured_by="chiller_stage_up_plr",
        ),
    ),
)

TOWER_CELLS = Block(
    "tower_cells",
    "Several cooling-tower cells with variable-speed fans: the policy sets how thinly the condenser flow may "
    "be spread over cells (ASHRAE 90.1: all cells at reduced speed down to each cell's minimum flow).",
    points=(
        PointSpec("tower_cells_running", "1", 0.0, 256.0, "Tower cells with water and fans running."),
        PointSpec("tower_cell_flow_min_frac", "1", 0.0, 2.0,
                  "Lowest water flow per cell the sequencer spreads to now (commanded or its own)."),
        PointSpec("tower_fan_speed_frac", "1", 0.0, 1.0, "Tower fan speed (air-flow ratio) of the running cells."),
    ),
    setpoints=(
        SetpointSpec(
            "tower_cell_flow_min_frac", "1", 0.33, 1.0, 60.0,
            "Water flow per running tower cell, fraction of a cell's design flow, below which the sequencer "
            "runs fewer cells: low spreads the flow over more cells at slower fans (fan power ∝ speed³), "
            "bounded by the cells' minimum wetting flow (0.33, EnergyPlus default).",
            cooling_direction=-1, safe=0.33, measured_by="tower_cell_flow_min_frac",
        ),
    ),
)

CHW_DP_RESET = Block(
    "chw_dp_reset",
    "Variable-flow chilled-water pumps held at a differential-pressure setpoint at the remote coils.",
    points=(
        PointSpec("chw_flow_frac", "1", 0.0, 1.5, "Chilled-water flow, fraction of the plant's design flow."),
        PointSpec("chw_dp_setpoint_frac", "1", 0.0, 1.5,
                  "Differential-pressure setpoint the pumps hold now, fraction of design (commanded or own)."),
    ),
    setpoints=(
        SetpointSpec(
            "chw_dp_setpoint_frac", "1", 0.2, 1.0, 0.1,
            "Chilled-water differential-pressure setpoint at the remote coils, fraction of design: the coil "
            "valves can pass at most √(setpoint) of design flow, so a low setpoint saves pump power until the "
            "coils run short of water (wider water ΔT, warmer coil, warmer supply air).",
            cooling_direction=+1, safe=1.0, measured_by="chw_dp_setpoint_frac",
        ),
    ),
)

CW_FLOW = Block(
    "cw_flow",
    "Variable-speed condenser-water pumps: the policy sets the condenser flow per running chiller.",
    points=(
        PointSpec("cw_flow_frac", "1", 0.0, 1.5,
                  "Condenser-water flow per running unit, fraction of its design flow (commanded or own)."),
    ),
    setpoints=(
        SetpointSpec(
            "cw_flow_frac", "1", 0.6, 1.0, 0.1,
            "Condenser-water flow per running chiller, fraction of design: less flow saves pump power (∝ flow³) "
            "but widens the range, raising the condensing temperature and the chillers' lift.",
            cooling_direction=+1, safe=1.0, measured_by="cw_flow_frac",
        ),
    ),
)

ECONOMIZER = Block(
    "economizer",
    "An integrated waterside economizer that the policy may enable or lock out.",
    points=(
        PointSpec("economizer_enable", "1", 0.0, 1.0, "Economizer enabled (1) or locked out (0) now."),
    ),
    setpoints=(
        SetpointSpec(
            "economizer_enable", "1", 0.0, 1.0, 1.0e6,
            "Waterside economizer enable (on at ≥ 0.5); it runs only while the tower water is colder than the "
            "chilled-water return, and while it runs the towers and condenser pumps run at full flow. The plant "
            "holds each change at least 20 minutes (modelica-buildings WSEControl).",
            cooling_direction=+1, safe=1.0, measured_by="economizer_enable", discrete=True, deadband=0.5,
        ),
    ),
)

THERMAL_STORAGE = Block(
    "thermal_storage",
    "A stratified chilled-water storage tank piped in parallel with the chillers: the policy sets its signed "
    "charge or discharge rate, so the plant can make cold when power is cheap or clean and spend it at the peak.",
    points=(
        PointSpec("tes_soc", "1", 0.0, 1.0, "Storage state of charge: the cold zone's share of the tank volume."),
        PointSpec("tes_cold_temp_c", "°C", 0.0, 60.0, "Storage tank bottom (cold zone) temperature."),
        PointSpec("tes_warm_temp_c", "°C", 0.0, 60.0, "Storage tank top (warm zone) temperature."),
        PointSpec("tes_discharge_kw", "kW", -1.0e6, 1.0e6,
                  "Cold the tank gives the loop (> 0) or takes from the plant to charge (< 0), kW of cold."),
        PointSpec("tes_rate_frac", "1", -1.0, 1.0, "Storage rate the tank's valves and pump hold now (commanded "
                  "or its own), fraction of the rated discharge (> 0) or charge (< 0) rate."),
    ),
    setpoints=(
        SetpointSpec(
            "tes_rate_frac", "1", -1.0, 1.0, 1.0,
            "Signed storage rate, fraction of the tank's rated rate: > 0 discharges (the tank covers that much of "
            "the loop's load and the chillers the rest), < 0 charges (the plant makes that much extra cold into "
            "the tank, after the hall's need), 0 idles. Charging and discharging are never simultaneous. At the "
            "thermal limit the envelope may discharge, never charge (a discharging tank is more cooling).",
            cooling_direction=+1, safe=1.0, measured_by="tes_rate_frac", deadband=0.05,
        ),
    ),
)

LIQUID_COOLING = Block(
    "liquid_cooling",
    "Direct-to-chip liquid cooling: cold plates on the GPU modules, CDUs exchanging the technology-cooling loop "
    "(TCS) against a warm facility-water system (FWS) rejected by dry coolers, with trim through the chilled-water "
    "plant for the hours the weather does not allow (coolpilot.envs.physics.liquid).",
    points=(
        PointSpec("fws_supply_temp_c", "°C", 0.0, 70.0, "Facility-water supply temperature to the CDUs."),
        PointSpec("fws_return_temp_c", "°C", 0.0, 80.0, "Facility-water return temperature from the CDUs."),
        PointSpec("tcs_supply_temp_c", "°C", 0.0, 75.0, "Technology-cooling (rack coolant) supply temperature."),
        PointSpec("tcs_return_temp_c", "°C", 0.0, 90.0, "Technology-cooling (rack coolant) return temperature."),
        PointSpec("cdu_flow_frac", "1", 0.0, 1.0,
                  "Rack coolant flow the CDU pumps hold now, fraction of design (commanded or their own)."),
        PointSpec("case_temp_max_c", "°C", 0.0, 120.0, "Hottest liquid-cooled GPU module case temperature."),
        PointSpec("liquid_heat_kw", "kW", 0.0, 1.0e6, "Heat the CDUs move into the facility water (BTU meter)."),
        PointSpec("dry_cooler_fan_speed_frac", "1", 0.0, 1.0, "Dry-cooler fan speed, fraction of maximum."),
        PointSpec("trim_load_kw", "kW", 0.0, 1.0e6,
                  "Facility-water heat passed to the chilled-water plant by the trim exchanger."),
        PointSpec("gpu_throttled_kw", "kW", 0.0, 1.0e6,
                  "GPU power shed by thermal throttling (case at its throttle temperature): compute lost."),
    ),
    setpoints=(
        SetpointSpec(
            "fws_supply_temp_c", "°C", 15.0, 45.0, 0.3,
            "Facility-water supply temperature setpoint: warmer lets the dry coolers carry more hours (less trim, "
            "slower fans) and gives the heat pump warmer source water, but warms the rack coolant, the GPU cases "
            "and their leakage power. The facility's ASHRAE liquid-cooling class caps it (W32: 32 °C).",
            cooling_direction=-1, safe=20.0, measured_by="fws_supply_temp_c", deadband=0.1,
        ),
        SetpointSpec(
            "tcs_supply_temp_c", "°C", 17.0, 50.0, 0.3,
            "Rack coolant supply temperature the CDUs hold; they cannot go below the facility water plus their "
            "approach. Warmer saves facility-water flow and makes warmer return water for heat reuse; it raises "
            "case temperatures and leakage power.",
            cooling_direction=-1, safe=25.0, measured_by="tcs_supply_temp_c", deadband=0.1,
        ),
        SetpointSpec(
            "cdu_flow_frac", "1", 0.4, 1.0, 0.1,
            "Rack coolant flow, fraction of design (all CDU pumps): less flow saves pump power (∝ flow³) but "
            "widens the coolant rise and the cold plates' resistance, warming the GPU cases.",
            cooling_direction=+1, safe=1.0, measured_by="cdu_flow_frac",
        ),
    ),
)

HEAT_REUSE = Block(
    "heat_reuse",
    "A heat-reuse connection: a heat pump lifts the facility water's return heat to a district-heating supply "
    "temperature, up to what the network asks for (coolpilot.envs.physics.liquid).",
    points=(
        PointSpec("heat_demand_kw", "kW", 0.0, 1.0e6, "Heat the district-heating network asks for now."),
        PointSpec("reused_heat_kw", "kW", 0.0, 1.0e6, "Heat delivered to the district-heating network."),
        PointSpec("heat_pump_cop", "1", 0.0, 20.0, "Heat-pump coefficient of performance (0 when off)."),
        PointSpec("heat_pump_power_kw", "kW", 0.0, 1.0e6, "Heat-pump electric power."),
        PointSpec("heat_pump_duty_frac", "1", 0.0, 1.0,
                  "Heat-pump duty limit the plant holds now, fraction of capacity (commanded or its own)."),
    ),
    setpoints=(
        SetpointSpec(
            "heat_pump_duty_frac", "1", 0.0, 1.0, 0.2,
            "Heat-pump duty limit, fraction of its delivered-heat capacity; it delivers the lesser of this and "
            "the network's demand. More duty takes more heat off the facility water (more cooling, less dry-cooler "
            "and trim work) at the heat pump's electricity, paid back by the heat sold.",
            cooling_direction=+1, safe=1.0, measured_by="heat_pump_duty_frac", deadband=0.05,
        ),
    ),
)

GRID_SIGNALS = Block(
    "grid_signals",
    "What the site knows of its electricity ahead: the tariff's price and the grid's carbon factor now and over "
    "the next 6 hours (the tariff schedule, a day-ahead forecast), and the billing period's peak demand so far. "
    "Points only; a facility lists it in `blocks` when its policy is trained on cost or carbon.",
    points=(
        PointSpec("grid_price_per_mwh", "currency/MWh", 0.0, 1.0e5, "Electricity price this hour."),
        PointSpec("grid_price_ahead_per_mwh", "currency/MWh", 0.0, 1.0e5, "Mean price over the next 6 hours."),
        PointSpec("grid_carbon_t_per_mwh", "t/MWh", 0.0, 5.0, "Grid carbon factor this hour (t CO2e/MWh)."),
        PointSpec("grid_carbon_ahead_t_per_mwh", "t/MWh", 0.0, 5.0, "Mean grid factor over the next 6 hours."),
        PointSpec("facility_peak_kw", "kW", 0.0, 2.0e6,
                  "Highest 15-minute average facility power of the billing period so far (demand register)."),
    ),
)

PV = Block(
    "pv",
    "An on-site photovoltaic array behind the facility meter: its AC output offsets grid power (the facility's own "
    "power and PUE are unchanged). Points only; a facility with a `pv` section lists it in `blocks` when its policy "
    "should see the sun (a cost or carbon objective prices grid power, facility minus PV).",
    points=(
        PointSpec("pv_power_kw", "kW", 0.0, 1.0e6, "AC power of the on-site PV array (inverter output) this step."),
    ),
)

BLOCKS: dict[str, Block] = {b.name: b for b in (CORE, CHILLER_STAGING, TOWER_CELLS, CHW_DP_RESET, CW_FLOW, ECONOMIZER,
                                                THERMAL_STORAGE, LIQUID_COOLING, HEAT_REUSE, GRID_SIGNALS, PV)}
"""Every equipment block, in contract order."""

LEVERS: tuple[str, ...] = tuple(s.name for b in BLOCKS.values() for s in b.setpoints)
"""Every setpoint any block defines, in the order of the physics' command columns."""

SETPOINT_SPECS: dict[str, SetpointSpec] = {s.name: s for b in BLOCKS.values() for s in b.setpoints}
"""Every setpoint spec of every block, by name."""

POINT_SPECS: dict[str, PointSpec] = {p.name: p for b in BLOCKS.values() for p in b.points}
"""Every point spec of every block, by name."""


class ContractError(ValueError):
    """A mapping of points or setpoints, a bundle or a site does not match a contract."""


@dataclass(frozen=True)
class Contract:
    """The points and setpoints of one facility: the ordered union of its equipment blocks.

    ``version`` is 2 for contracts built from blocks and 1 for a bundle card written before
    contracts followed the equipment (its points and setpoints are the core block's).
    """

    blocks: tuple[str, ...]
    points: tuple[PointSpec, ...]
    setpoints: tuple[SetpointSpec, ...]
    version: int = CONTRACT_VERSION
    point_names: tuple[str, ...] = field(init=False, repr=False, compare=False)
    setpoint_names: tuple[str, ...] = field(init=False, repr=False, compare=False)
    points_by_name: dict[str, PointSpec] = field(init=False, repr=False, compare=False)
    setpoints_by_name: dict[str, SetpointSpec] = field(init=False, repr=False, compare=False)
    _hash: int = field(init=False, repr=False, compare=False)

    def __hash__(self) -> int:
        return self._hash

    def __post_init__(self) -> None:
        # Hashed once: contracts key per-contract caches on every simulated step.
        object.__setattr__(self, "_hash", hash((self.blocks, self.points, self.setpoints, self.version)))
        object.__setattr__(self, "point_names", tuple(p.name for p in self.points))
        object.__setattr__(self, "setpoint_names", tuple(s.name for s in self.setpoints))
        object.__setattr__(self, "points_by_name", {p.name: p for p in self.points})
        object.__setattr__(self, "setpoints_by_name", {s.name: s for s in self.setpoints})
        for kind, names in (("point", self.point_names), ("setpoint", self.setpoint_names)):
            repeated = sorted({n for n in names if names.count(n) > 1})
            if repeated:
                raise ContractError(f"a contract names each {kind} once; repeated: {repeated}")

    @classmethod
    def from_blocks(cls, names: Iterable[str]) -> Contract:
        """The contract of these blocks, always led by ``core`` and in :data:`BLOCKS` order."""
        wanted = set(names) | {"core"}
        unknown = sorted(wanted - set(BLOCKS))
        if unknown:
            raise ContractError(f"unknown equipment blocks {unknown}; known: {list(BLOCKS)}")
        ordered = [b for name, b in BLOCKS.items() if name in wanted]
        return cls(
            blocks=tuple(b.name for b in ordered),
            points=tuple(p for b in ordered for p in b.points),
            setpoints=tuple(s for b in ordered for s in b.setpoints),
        )

    @property
    def levers(self) -> tuple[int, ...]:
        """Column of each of this contract's setpoints in the physics' command (:data:`LEVERS`)."""
        return tuple(LEVERS.index(n) for n in self.setpoint_names)

    @property
    def fingerprint(self) -> str:
        """Short sha256 of the contract's content: names, units, bounds and rates, in order."""
        text = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def to_dict(self) -> dict[str, Any]:
        """The contract as JSON-ready data (what a bundle card and the service's status carry)."""
        return {
            "version": self.version,
            "blocks": list(self.blocks),
            "points": [{"name": p.name, "unit": p.unit, "low": p.low, "high": p.high} for p in self.points],
            "setpoints": [{"name": s.name, "unit": s.unit, "low": s.low, "high": s.high,
                           "slew_per_min": s.slew_per_min} for s in self.setpoints],
        }

    def differences(self, other: Contract, mine: str = "this contract", theirs: str = "the other") -> list[str]:
        """Every difference from ``other``, in words (empty when they match)."""
        out: list[str] = []
        for kind, a, b in (("point", self.points_by_name, other.points_by_name),
                           ("setpoint", self.setpoints_by_name, other.setpoints_by_name)):
            only_a = [n for n in a if n not in b]
            only_b = [n for n in b if n not in a]
            if only_a:
                out.append(f"{kind}s {only_a} are in {mine} but not in {theirs}")
            if only_b:
                out.append(f"{kind}s {only_b} are in {theirs} but not in {mine}")
            for name in (n for n in a if n in b):
                x, y = a[name], b[name]
                if x.unit != y.unit:
                    out.append(f"{kind} {name} is in {x.unit!r} in {mine} but {y.unit!r} in {theirs}")
                elif (x.low, x.high) != (y.low, y.high):
                    out.append(f"{kind} {name} spans [{x.low:g}, {x.high:g}] {x.unit} in {mine} but "
                               f"[{y.low:g}, {y.high:g}] {y.unit} in {theirs}")
        if not out and (self.point_names != other.point_names or self.setpoint_names != other.setpoint_names):
            out.append(f"the same points and setpoints are in a different order in {mine} and {theirs}")
        return out

    def require_same(self, other: Contract, mine: str, theirs: str) -> None:
        """Raise :class:`ContractError` naming every difference when ``other`` is not this contract."""
        diff = self.differences(other, mine, theirs)
        if diff:
            raise ContractError(f"{mine} and {theirs} have different contracts: " + "; ".join(diff))

    def check_setpoints(self, setpoints: Mapping[str, float]) -> None:
        """Raise :class:`ContractError` naming any missing or unknown setpoint."""
        missing = [n for n in self.setpoint_names if n not in setpoints]
        unknown = [n for n in setpoints if n not in self.setpoints_by_name]
        if missing or unknown:
            raise ContractError(
                f"setpoints do not match the contract: missing {missing}, unknown {unknown}; "
                f"expected exactly {list(self.setpoint_names)}"
            )

    def check_points(self, points: Mapping[str, float]) -> None:
        """Raise :class:`ContractError` naming any missing point."""
        missing = [n for n in self.point_names if n not in points]
        if missing:
            raise ContractError(f"points missing from the contract: {missing}")


def contract_from_card(card: Mapping[str, Any], source: str = "card.json") -> Contract:
    """The contract a bundle card describes (version 1 cards: the core block's points and setpoints).

    The card's points and setpoints must be those the blocks define, with the blocks' units; a
    card whose setpoint bounds lie within the blocks' keeps its own (narrower) bounds.
    """
    version = card.get("contract_version", 1)
    if version not in (1, CONTRACT_VERSION):
        raise ContractError(f"{source}: contract_version {version!r} is not one this coolpilot reads (1 or 2)")
    try:
        point_rows = [(str(p["name"]), str(p["unit"])) for p in card["points"]]
        setpoint_rows = [(str(s["name"]), str(s["unit"]), float(s["low"]), float(s["high"])) for s in card["setpoints"]]
    except (KeyError, TypeError, ValueError) as err:
        raise ContractError(f"{source}: points/setpoints are malformed ({err!r})") from None
    problems: list[str] = []
    points: list[PointSpec] = []
    for name, unit in point_rows:
        spec = POINT_SPECS.get(name)
        if spec is None:
            problems.append(f"point {name} is not defined by any equipment block")
        elif spec.unit != unit:
            problems.append(f"point {name} is in {unit!r}, the contract says {spec.unit!r}")
        else:
            points.append(spec)
    setpoints: list[SetpointSpec] = []
    for name, unit, low, high in setpoint_rows:
        sp = SETPOINT_SPECS.get(name)
        if sp is None:
            problems.append(f"setpoint {name} is not defined by any equipment block")
        elif sp.unit != unit:
            problems.append(f"setpoint {name} is in {unit!r}, the contract says {sp.unit!r}")
        elif not sp.low <= low < high <= sp.high:
            problems.append(f"setpoint {name} [{low:g}, {high:g}] {unit} must lie within the contract's "
                            f"[{sp.low:g}, {sp.high:g}]")
        else:
            setpoints.append(SetpointSpec(**{**sp.__dict__, "low": low, "high": high}))
    if problems:
        raise ContractError(f"{source}: " + "; ".join(problems))
    blocks = tuple(name for name, b in BLOCKS.items()
                   if any(s.name in {x.name for x in setpoints} for s in b.setpoints) or name == "core")
    declared = card.get("contract", {}).get("blocks") if isinstance(card.get("contract"), Mapping) else None
    if isinstance(declared, list):
        blocks = tuple(str(b) for b in declared)
    return Contract(blocks=blocks, points=tuple(points), setpoints=tuple(setpoints), version=int(version))


def bundle_fits(bundle: Contract, facility: Contract, bundle_name: str, facility_name: str) -> list[str]:
    """Why a bundle's contract cannot run on a facility's (empty when it can).

    A version-2 bundle needs the facility's contract exactly (same points, setpoints, units and
    bounds, in order). A version-1 bundle (the core block only) fits any facility whose contract
    holds its points and setpoints with the same units: the facility's other setpoints then
    run on the plant's own local sequence.
    """
    if bundle.version >= 2:
        return bundle.differences(facility, f"bundle {bundle_name}", f"facility {facility_name}")
    problems: list[str] = []
    for p in bundle.points:
        q = facility.points_by_name.get(p.name)
        if q is None or q.unit != p.unit:
            problems.append(f"point {p.name} ({p.unit}) of the contract-1 bundle {bundle_name} is not a point of "
                            f"facility {facility_name}")
    for s in bundle.setpoints:
        t = facility.setpoints_by_name.get(s.name)
        if t is None or t.unit != s.unit:
            problems.append(f"setpoint {s.name} ({s.unit}) of the contract-1 bundle {bundle_name} is not a setpoint "
                            f"of facility {facility_name}")
    return problems


CORE_CONTRACT = Contract.from_blocks(["core"])
"""The core block alone: every air-cooled hall has it (contract version 1 was exactly this)."""

# The core block's names, for code that reads only core points (the weather, the inlet
# temperatures, the plant's temperatures) or writes only core setpoints.
POINTS: tuple[PointSpec, ...] = CORE.points
SETPOINTS: tuple[SetpointSpec, ...] = CORE.setpoints
POINT_NAMES: tuple[str, ...] = CORE_CONTRACT.point_names
SETPOINT_NAMES: tuple[str, ...] = CORE_CONTRACT.setpoint_names
POINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(POINT_NAMES)}
SETPOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(SETPOINT_NAMES)}
POINTS_BY_NAME: dict[str, PointSpec] = dict(POINT_SPECS)
SETPOINTS_BY_NAME: dict[str, SetpointSpec] = dict(SETPOINT_SPECS)

INLET_LIMIT_C = 27.0
"""ASHRAE TC 9.9 recommended upper server inlet temperature (PHYSICS.md section 6)."""


def check_setpoints(setpoints: Mapping[str, float], contract: Contract = CORE_CONTRACT) -> None:
    """Raise :class:`ContractError` naming any missing or unknown setpoint of ``contract``."""
    contract.check_setpoints(setpoints)


def check_points(points: Mapping[str, float], contract: Contract = CORE_CONTRACT) -> None:
    """Raise :class:`ContractError` naming any missing point of ``contract``."""
    contract.check_points(points)

