"""Facility configuration: typed, validated YAML.

A facility file describes one site: its data-hall zones and IT load, servers, CRAHs, the
chilled-water plant (chillers, economizer, towers, pumps) and electrical overheads. Every
numeric field carries its unit in its name and an allowed range; a bad file is refused
with :class:`FacilityConfigError` naming the file, the field, the value, the unit and the
allowed range. Bundled presets live in ``envs/presets/``.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from coolpilot.envs.contract import BLOCKS, Contract
from coolpilot.envs.load import LoadProfile, LoadTrace, LoadTraceError
from coolpilot.envs.physics.coefficients import CHILLER_MODELS
from coolpilot.envs.units import AIR_RHO_CP_KJ_M3_K, WATER_RHO_CP_KJ_M3_K
from coolpilot.envs.validation import format_validation_error

PRESETS_DIR = Path(__file__).parent / "presets"


class FacilityConfigError(ValueError):
    """A facility file or mapping is invalid; the message lists every problem."""


def _f(default: Any, ge: float | None = None, le: float | None = None, *, unit: str, doc: str,
       gt: float | None = None) -> Any:
    return Field(default, ge=ge, le=le, gt=gt, description=doc, json_schema_extra={"unit": unit})


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ZoneConfig(_Frozen):
    """A zone: a row, pod or hall with its own CRAHs and its own IT load."""

    name: str = Field(description="Zone name, unique in the facility.")
    hall: str = Field("hall-1", description="Hall the zone belongs to (campus reporting).")
    it_design_kw: float = _f(..., gt=0.0, le=100_000.0, unit="kW", doc="Design (nameplate-derated) IT power.")
    load: LoadProfile = Field(default_factory=LoadProfile, description="IT utilization profile.")
    crah_airflow_margin: float = _f(1.25, 0.8, 3.0, unit="1",
                                    doc="CRAH design airflow over the servers' design airflow.")
    recirculation_frac: float = _f(0.05, 0.0, 0.5, unit="1",
                                   doc="Base share of server intake from the hot aisle (containment quality).")
    liquid_capture_frac: float = _f(0.0, 0.0, 0.98, unit="1",
                                    doc="Share of the zone's IT heat its cold plates capture (direct-to-chip GPU "
                                        "racks: 0.85–0.95; 0: air-cooled); the rest goes to the air and its CRAHs "
                                        "are sized for it. Needs a `liquid` section.")


class ServerConfig(_Frozen):
    """IT equipment thermal behaviour (PHYSICS.md sections 4 and 7)."""

    delta_t_k: float = _f(12.0, 5.0, 25.0, unit="K", doc="Server air temperature rise at nominal fan speed.")
    heat_exchange_effectiveness: float = _f(0.5, 0.1, 1.0, unit="1",
                                            doc="Share of (equipment − inlet) temperature the exhaust reaches.")
    heat_capacity_kj_per_kw_k: float = _f(30.0, 1.0, 300.0, unit="kJ/(K·kW)",
                                          doc="Equipment plus room thermal mass per kW of design IT power "
                                              "(a 2U server: ≈12 kJ/K at ≈0.5 kW).")
    idle_power_frac: float = _f(0.4, 0.0, 1.0, unit="1", doc="Server power at zero utilization over design.")
    fan_power_frac: float = _f(0.06, 0.0, 0.3, unit="1", doc="Server fan share of IT power at nominal speed.")
    fan_knee_c: float = _f(24.0, 15.0, 35.0, unit="°C", doc="Inlet temperature above which server fans speed up.")
    airflow_slope_per_k: float = _f(0.022, 0.0, 0.1, unit="1/K",
                                    doc="Server airflow rise per K of inlet above the knee.")


class CrahConfig(_Frozen):
    """Computer-room air handlers (one group per zone)."""

    variable_speed: bool = Field(True, description="Fans on VFDs/EC motors; if false they run at 100 %.")
    fan_curve: Literal["doe2_vsd", "ec_plug"] = Field("ec_plug", description="Part-load curve (Fans.cc).")
    fan_pressure_pa: float = _f(500.0, 100.0, 2000.0, unit="Pa", doc="Fan total pressure rise at design flow.")
    fan_efficiency: float = _f(0.6, 0.2, 0.95, unit="1", doc="Fan total efficiency (impeller × motor × drive).")
    min_speed_frac: float = _f(0.3, 0.05, 1.0, unit="1", doc="Lowest fan speed.")
    coil_approach_k: float = _f(3.0, 0.5, 10.0, unit="K", doc="Supply air minus chilled-water supply, at best.")


class ChilledWaterConfig(_Frozen):
    """The chilled-water loop and its pumps."""

    design_delta_t_k: float = _f(6.0, 2.0, 15.0, unit="K", doc="Design supply/return temperature difference.")
    variable_flow: bool = Field(True, description="Variable-speed pumps with flow following load.")
    min_flow_frac: float = _f(0.3, 0.1, 1.0, unit="1", doc="Lowest pump flow over design (chiller minimum).")
    pump_head_pa: float = _f(179_352.0, 10_000.0, 600_000.0, unit="Pa", doc="Design head (EnergyPlus default).")
    pump_efficiency: float = _f(0.7, 0.2, 0.95, unit="1", doc="Impeller × motor efficiency (0.78 × 0.9).")
    loop_volume_m3: float | None = _f(None, gt=0.0, le=10_000.0, unit="m³",
                                      doc="Water in the loop; default: 15 minutes of design flow / 0.8 "
                                          "(EnergyPlus autosizing, PHYSICS.md section 7).")
    dp_head_share: float = _f(0.4, 0.05, 0.9, unit="1",
                              doc="Share of the pumps' design head that is the differential-pressure setpoint "
                                  "at the remote coils (the rest is pipe friction, ∝ flow²).")
    dp_setpoint_frac: float = _f(1.0, 0.2, 1.0, unit="1",
                                 doc="Differential-pressure setpoint the plant's own sequence holds, fraction "
                                     "of design (1.0: no reset, the common untuned plant).")


class ChillerConfig(_Frozen):
    """Identical electric chillers, staged by the plant's own sequencer."""

    count: int = _f(2, 1, 32, unit="1", doc="Chillers installed.")
    available: int | None = _f(None, 0, 32, unit="1", doc="Chillers in service (outages); default all.")
    capacity_kw: float = _f(..., gt=0.0, le=50_000.0, unit="kW", doc="Reference capacity of one chiller.")
    model: Literal["doe2_centrifugal_5p50cop", "carrier_19fa_5651kw"] = Field(
        "doe2_centrifugal_5p50cop", description="Curve set (envs/physics/coefficients.py).")
    cop_ref: float | None = _f(None, 2.0, 12.0, unit="W/W", doc="Reference COP; default the curve set's.")
    min_condenser_temp_c: float = _f(15.5, 5.0, 30.0, unit="°C", doc="Lowest entering condenser water.")
    stage_up_plr: float = _f(0.8, 0.3, 1.0, unit="1", doc="Part-load ratio above which another chiller starts.")
    stage_down_hysteresis: float = _f(0.15, 0.0, 0.5, unit="1",
                                      doc="A chiller stops when the rest would run below stage_up_plr minus this.")
    min_run_min: float = _f(15.0, 0.0, 240.0, unit="min",
                            doc="Shortest run after a start before the sequencer may stop a chiller.")
    min_off_min: float = _f(15.0, 0.0, 240.0, unit="min",
                            doc="Shortest time a stopped chiller stays off (anti-recycle).")
    soft_load_min: float = _f(5.0, 0.0, 60.0, unit="min",
                              doc="Time a starting chiller takes to reach full capacity (soft-load ramp).")

    @model_validator(mode="after")
    def _available_le_count(self) -> ChillerConfig:
        if self.available is not None and self.available > self.count:
            raise ValueError(f"available = {self.available} exceeds count = {self.count}")
        return self


class EconomizerConfig(_Frozen):
    """Integrated waterside economizer (PHYSICS.md section 5)."""

    enabled: bool = Field(False, description="A plate heat exchanger upstream of the chillers.")
    effectiveness: float = _f(0.8, 0.3, 0.95, unit="1", doc="Heat-exchanger effectiveness.")
    min_delta_t_k: float = _f(1.0, 0.0, 5.0, unit="K", doc="Return minus tower water needed to run.")
    min_hold_min: float = _f(20.0, 0.0, 240.0, unit="min",
                             doc="Shortest time a commanded enable or lock-out holds (WSEControl.mo: 20 min).")


class TowerConfig(_Frozen):
    """Cooling towers (YorkCalc approach model, PHYSICS.md section 2)."""

    cells: int | None = _f(None, 1, 64, unit="1", doc="Tower cells; default one per chiller.")
    variable_speed: bool = Field(True, description="Fans on VFDs; if false they cycle at full speed.")
    fan_power_kw_per_kw: float = _f(0.0105, 0.002, 0.05, unit="kW/kW", doc="Design fan power per kW rejected.")
    min_air_flow_ratio: float = _f(0.2, 0.05, 1.0, unit="1", doc="Lowest fan speed before cycling.")
    design_range_k: float = _f(5.6, 2.0, 15.0, unit="K", doc="Design condenser water range.")
    evap_loss_pct_per_k: float = _f(0.2, 0.05, 0.5, unit="%/K", doc="Evaporation loss factor.")
    drift_pct: float = _f(0.008, 0.0, 0.5, unit="%", doc="Drift loss of the design water flow.")
    concentration_ratio: float = _f(3.0, 1.5, 10.0, unit="1", doc="Cycles of concentration (blowdown).")
    pump_head_pa: float = _f(150_000.0, 10_000.0, 600_000.0, unit="Pa", doc="Condenser pump design head.")
    pump_efficiency: float = _f(0.7, 0.2, 0.95, unit="1", doc="Condenser pump efficiency.")
    pump_variable_speed: bool = Field(False, description="Condenser pumps on VFDs (flow per chiller adjustable).")
    pump_min_flow_frac: float = _f(0.6, 0.3, 1.0, unit="1",
                                   doc="Lowest condenser flow per chiller over design (chiller minimum).")
    cell_min_flow_frac: float = _f(0.33, 0.1, 1.0, unit="1",
                                   doc="Lowest water flow per cell over its design flow (nozzle wetting; "
                                       "EnergyPlus CoolingTower:VariableSpeed default 0.33).")
    sequence_cell_flow_frac: float = _f(0.75, 0.1, 1.25, unit="1",
                                        doc="Flow per cell below which the plant's own sequence runs fewer "
                                            "cells (0.75: as few cells as the flow needs).")


class ElectricalConfig(_Frozen):
    """Electrical overheads."""

    ups_loss_no_load_frac: float = _f(0.02, 0.0, 0.2, unit="1", doc="Loss at zero load over rated power.")
    ups_loss_proportional_frac: float = _f(0.03, 0.0, 0.2, unit="1", doc="Loss proportional to load.")
    ups_loss_square_frac: float = _f(0.02, 0.0, 0.2, unit="1", doc="Loss growing with load squared.")
    lighting_w_per_m2: float = _f(8.0, 0.0, 50.0, unit="W/m²", doc="Lighting power density.")


class StorageConfig(_Frozen):
    """A stratified chilled-water storage tank in parallel with the chillers (coolpilot.envs.physics.storage).

    Its capacity is ``volume_m3 × ρ·c_p × design_delta_t_k`` (kWh of cold between a fully charged and a
    fully discharged tank). Default rates empty or fill it in ``hours_at_rated``; heat leaks in through
    ``insulation_m`` of insulation of conductivity 0.04 W/(m·K) (Modelica Buildings' ``kIns`` default)
    over a cylinder as tall as it is wide.
    """

    volume_m3: float = _f(0.0, 0.0, 200_000.0, unit="m³", doc="Tank water volume; 0: no tank.")
    design_delta_t_k: float | None = _f(None, 2.0, 15.0, unit="K",
                                        doc="Return minus supply temperature the tank is rated at; default the "
                                            "chilled-water loop's design ΔT.")
    hours_at_rated: float = _f(4.0, 0.5, 24.0, unit="h",
                               doc="Hours a full tank lasts at its rated discharge rate (sets default rates).")
    max_charge_kw: float | None = _f(None, 1.0, 1_000_000.0, unit="kW",
                                     doc="Rated charge rate (kW of cold); default capacity / hours_at_rated.")
    max_discharge_kw: float | None = _f(None, 1.0, 1_000_000.0, unit="kW",
                                        doc="Rated discharge rate (kW of cold); default capacity / hours_at_rated.")
    insulation_m: float = _f(0.1, 0.01, 1.0, unit="m", doc="Insulation thickness (k = 0.04 W/(m·K)).")
    thermocline_w_per_m2k: float = _f(3.0, 0.0, 100.0, unit="W/(m²·K)",
                                      doc="Effective conductance across the thermocline per m² of cross-section "
                                          "(mixing and conduction between the cold and warm zones).")
    initial_soc: float = _f(0.5, 0.0, 1.0, unit="1", doc="State of charge at the start of a simulation.")

    @property
    def installed(self) -> bool:
        """Whether there is a tank."""
        return self.volume_m3 > 0.0

    def diameter_m(self) -> float:
        """Diameter of a cylinder as tall as it is wide holding ``volume_m3`` (m)."""
        return (4.0 * self.volume_m3 / math.pi) ** (1.0 / 3.0)

    def loss_ua_kw_k(self) -> float:
        """Insulation conductance to ambient over the tank's surface (sides, top, bottom: 1.5·π·D²), kW/K."""
        d = self.diameter_m()
        return 0.04 / self.insulation_m * 1.5 * math.pi * d * d / 1000.0

    def mixing_ua_kw_k(self) -> float:
        """Thermocline conductance over the cross-section (π·D²/4), kW/K."""
        d = self.diameter_m()
        return self.thermocline_w_per_m2k * math.pi * d * d / 4.0 / 1000.0


ASHRAE_LIQUID_CLASSES: dict[str, float] = {"W17": 17.0, "W27": 27.0, "W32": 32.0, "W40": 40.0, "W45": 45.0}
"""ASHRAE TC 9.9 liquid-cooling classes: the highest facility-water supply temperature each allows (°C)."""


class ColdPlateConfig(_Frozen):
    """Direct-to-chip cold plates on the GPU modules (coolpilot.envs.physics.liquid, PHYSICS.md section 11).

    The plate's thermal resistance falls with coolant flow as a power law fitted to OCP data for a 1 kW module
    (0.039 → 0.020 K/W from 0.4 to 2.4 L/min of PG25: exponent 0.373). Leakage: module power rises
    ``leakage_pct_per_k`` per K of case temperature above ``rated_case_c`` (silicon leakage grows with
    temperature; 0.2 %/K is an assumption, stated as such, within the 0.1–0.3 %/K of server-level measurements).
    """

    module_kw: float = _f(1.0, 0.1, 3.0, unit="kW", doc="GPU module design power (B200: about 1.0 kW; H100: 0.7).")
    resistance_k_per_w: float = _f(0.020, 0.002, 0.2, unit="K/W",
                                   doc="Case-to-coolant resistance at the reference flow (OCP 1 kW module: 0.020).")
    reference_flow_lpm_per_kw: float = _f(2.4, 0.1, 10.0, unit="L/(min·kW)",
                                          doc="Coolant flow per kW of module at which the resistance is given.")
    flow_exponent: float = _f(0.373, 0.0, 1.0, unit="1", doc="Resistance ∝ flow^−exponent (OCP data: 0.373).")
    design_flow_lpm_per_kw: float = _f(1.5, 0.3, 6.0, unit="L/(min·kW)",
                                       doc="Design coolant flow per kW of liquid-captured heat (1.5: about 10 K rise).")
    leakage_pct_per_k: float = _f(0.2, 0.0, 2.0, unit="%/K",
                                  doc="Module power rise per K of case temperature above rated_case_c.")
    rated_case_c: float = _f(60.0, 20.0, 100.0, unit="°C", doc="Case temperature the nominal power is rated at.")
    case_limit_c: float = _f(80.0, 30.0, 110.0, unit="°C",
                             doc="Highest case temperature the safety envelope allows (beside the inlet limit).")
    throttle_c: float = _f(87.0, 30.0, 120.0, unit="°C",
                           doc="Case temperature at which the GPUs throttle (shed power, lose compute).")


class CduConfig(_Frozen):
    """Coolant distribution units: the rack coolant (TCS) against the facility water (FWS), ε-NTU.

    Reference design points (PHYSICS.md section 11): Google's Deschutes CDU, 2 MW with a 3 K approach and pumps
    of about 3.7 % of its load; Vertiv XDU1350, 1.37 MW with 4 K. N+1: every unit runs, sharing the flow, so
    the redundant one adds exchanger area (a closer approach) and lowers pump power (affinity laws).
    """

    approach_k: float = _f(3.0, 0.5, 15.0, unit="K",
                           doc="TCS supply minus FWS supply at design flows and load (without the redundant units).")
    pump_kw_per_kw: float = _f(0.037, 0.0, 0.15, unit="kW/kW",
                               doc="CDU pump power at design flow per kW of design liquid heat (Deschutes: 0.037).")
    unit_capacity_kw: float = _f(2000.0, 50.0, 20_000.0, unit="kW", doc="Design capacity of one CDU.")
    redundant_units: int = _f(1, 0, 8, unit="1", doc="Units beyond those the design load needs (N+1: 1).")
    coolant: Literal["pg25", "water"] = Field("pg25", description="Rack coolant: 25 % propylene glycol or water.")
    loop_l_per_kw: float = _f(1.0, 0.05, 20.0, unit="L/kW",
                              doc="Rack-side coolant volume (plates, manifolds, CDU) per kW of design liquid heat "
                                  "(an assumption: sets the loop's thermal mass).")


class FacilityWaterConfig(_Frozen):
    """The warm facility-water system (FWS) serving the CDUs."""

    ashrae_class: Literal["W17", "W27", "W32", "W40", "W45"] = Field(
        "W32", description="ASHRAE liquid-cooling class: the highest FWS supply temperature allowed.")
    design_supply_c: float | None = _f(None, 10.0, 45.0, unit="°C",
                                       doc="FWS supply temperature the plant's own sequence holds; default the "
                                           "class's limit.")
    design_delta_t_k: float = _f(8.0, 3.0, 20.0, unit="K", doc="FWS return minus supply at design.")
    pump_head_pa: float = _f(200_000.0, 10_000.0, 600_000.0, unit="Pa", doc="FWS pump design head.")
    pump_efficiency: float = _f(0.7, 0.2, 0.95, unit="1", doc="FWS pump efficiency.")
    min_flow_frac: float = _f(0.3, 0.1, 1.0, unit="1", doc="Lowest FWS pump flow over design.")
    dp_head_share: float = _f(0.4, 0.05, 0.9, unit="1",
                              doc="Share of the FWS pumps' head held as a differential-pressure setpoint.")
    loop_l_per_kw: float = _f(2.0, 0.1, 50.0, unit="L/kW",
                              doc="Facility-water volume per kW of design liquid heat (an assumption).")


class DryCoolerConfig(_Frozen):
    """Dry coolers rejecting the facility water's heat to the outdoor air (no water use).

    Capacity at full fan speed is proportional to entering water minus dry bulb (the EN 1048 / Eurovent rating
    practice), given at a rating point; at part airflow it scales as speed^exponent (an assumption: air-side
    film coefficients ∝ velocity^0.6); fan power ∝ speed³, the fans cycling below their minimum speed. Adiabatic
    (hybrid) units pre-cool the entering air towards the wet bulb in the hours the dry coil falls short, and
    evaporate ``m_air·c_p·ΔT / h_fg`` of water doing it (counted with the towers' evaporation).
    """

    capacity_kw: float = _f(0.0, 0.0, 1_000_000.0, unit="kW", doc="Rated heat rejection; 0: no dry coolers.")
    rating_entering_c: float = _f(40.0, 15.0, 70.0, unit="°C", doc="Entering water temperature of the rating.")
    rating_drybulb_c: float = _f(25.0, -10.0, 50.0, unit="°C", doc="Dry bulb of the rating.")
    fan_kw_per_kw: float = _f(0.015, 0.001, 0.08, unit="kW/kW", doc="Fan power at full speed per rated kW.")
    min_speed_frac: float = _f(0.2, 0.05, 1.0, unit="1", doc="Lowest fan speed before the fans cycle.")
    capacity_speed_exponent: float = _f(0.6, 0.2, 1.0, unit="1", doc="Capacity ∝ fan speed^exponent.")
    adiabatic_effectiveness: float = _f(0.0, 0.0, 0.95, unit="1",
                                        doc="Adiabatic pre-cooling: share of the dry-bulb to wet-bulb depression "
                                            "the sprayed air gains, used only when the dry coil falls short "
                                            "(0: dry only; pads and sprays: 0.7–0.9).")
    rating_air_rise_k: float = _f(10.0, 3.0, 25.0, unit="K",
                                  doc="Air temperature rise at the rating point (sets the fans' air mass flow, "
                                      "hence the water an adiabatic pre-cooler evaporates).")

    @model_validator(mode="after")
    def _rating_has_a_difference(self) -> DryCoolerConfig:
        if self.capacity_kw > 0.0 and self.rating_entering_c - self.rating_drybulb_c < 2.0:
            raise ValueError(f"dry_coolers.rating_entering_c = {self.rating_entering_c} °C must be at least 2 K above "
                             f"rating_drybulb_c = {self.rating_drybulb_c} °C")
        return self


class LiquidCoolingConfig(_Frozen):
    """Liquid cooling of the zones with a ``liquid_capture_frac``: cold plates, CDUs, facility water, dry coolers
    and a trim exchanger to the chilled-water plant (coolpilot.envs.physics.liquid)."""

    cold_plates: ColdPlateConfig = Field(default_factory=ColdPlateConfig)
    cdu: CduConfig = Field(default_factory=CduConfig)
    facility_water: FacilityWaterConfig = Field(default_factory=FacilityWaterConfig)
    dry_coolers: DryCoolerConfig = Field(default_factory=DryCoolerConfig)
    trim_capacity_kw: float = _f(0.0, 0.0, 1_000_000.0, unit="kW",
                                 doc="Trim exchanger from the facility water to the chilled-water plant (its "
                                     "chillers carry what the dry coolers cannot); 0: none.")

    @model_validator(mode="after")
    def _consistent(self) -> LiquidCoolingConfig:
        limit = ASHRAE_LIQUID_CLASSES[self.facility_water.ashrae_class]
        supply = self.facility_water.design_supply_c
        if supply is not None and supply > limit:
            raise ValueError(f"facility_water.design_supply_c = {supply} °C exceeds class "
                             f"{self.facility_water.ashrae_class}'s {limit:g} °C")
        if self.cold_plates.throttle_c < self.cold_plates.case_limit_c:
            raise ValueError(f"cold_plates.throttle_c = {self.cold_plates.throttle_c} °C must be at least "
                             f"case_limit_c = {self.cold_plates.case_limit_c} °C")
        return self

    @property
    def fws_design_supply_c(self) -> float:
        """FWS supply temperature the plant's own sequence holds (°C)."""
        supply = self.facility_water.design_supply_c
        return ASHRAE_LIQUID_CLASSES[self.facility_water.ashrae_class] if supply is None else supply


class HeatReuseConfig(_Frozen):
    """A heat-reuse connection: a heat pump on the facility-water return lifting heat to district heating.

    COP = η·T_cond / (T_cond − T_evap), T_evap = FWS return − approach, T_cond = supply + approach (K): with the
    defaults (η = 0.50, 8 K) it gives 5.5 / 4.3 / 3.5 from 45 °C water to 60 / 70 / 80 °C, the figures PHYSICS.md
    section 11 quotes (Zangeneh & Øi). Demand follows outdoor temperature (degree-hour model). Heat is priced at
    ``price_per_mwh`` and displaces ``displaced_kg_per_kwh`` of CO₂ per kWh (default a gas boiler: 0.202 kg/kWh
    of natural gas at 90 % efficiency).
    """

    capacity_kw: float = _f(0.0, 0.0, 1_000_000.0, unit="kW", doc="Heat-pump delivered-heat capacity; 0: none.")
    supply_temp_c: float = _f(70.0, 35.0, 95.0, unit="°C", doc="District-heating supply temperature.")
    carnot_efficiency: float = _f(0.5, 0.2, 0.75, unit="1", doc="COP over the Carnot COP of the lift.")
    approach_k: float = _f(8.0, 0.0, 20.0, unit="K",
                           doc="Evaporator and condenser approach (refrigerant to water) widening the lift.")
    min_source_c: float = _f(20.0, 5.0, 60.0, unit="°C", doc="Coldest FWS return the heat pump runs on.")
    demand_design_kw: float | None = _f(None, 0.0, 1_000_000.0, unit="kW",
                                        doc="Network demand at the design outdoor temperature; default capacity_kw.")
    demand_design_outdoor_c: float = _f(-10.0, -45.0, 10.0, unit="°C", doc="Design outdoor temperature.")
    demand_balance_c: float = _f(15.0, 5.0, 25.0, unit="°C",
                                 doc="Outdoor temperature above which only the base demand remains.")
    demand_base_frac: float = _f(0.15, 0.0, 1.0, unit="1", doc="Base demand (hot water) over design demand.")
    price_per_mwh: float = _f(40.0, 0.0, 1000.0, unit="currency/MWh", doc="Price the heat is sold at.")
    displaced_kg_per_kwh: float = _f(0.224, 0.0, 1.0, unit="kg/kWh",
                                     doc="CO₂ the delivered heat displaces per kWh (gas boiler: 0.202 / 0.9).")

    @model_validator(mode="after")
    def _balance_above_design(self) -> HeatReuseConfig:
        if self.demand_balance_c <= self.demand_design_outdoor_c:
            raise ValueError(f"demand_balance_c = {self.demand_balance_c} °C must be above "
                             f"demand_design_outdoor_c = {self.demand_design_outdoor_c} °C")
        return self

    @property
    def installed(self) -> bool:
        """Whether there is a heat pump."""
        return self.capacity_kw > 0.0

    @property
    def design_demand_kw(self) -> float:
        """Network demand at the design outdoor temperature (kW)."""
        return self.capacity_kw if self.demand_design_kw is None else self.demand_design_kw


class PvConfig(_Frozen):
    """An on-site photovoltaic array behind the facility's meter (coolpilot.envs.pv): it offsets grid power, not
    facility power, and changes no thermal physics.

    The model is PVWatts v5's (Dobos 2014, NREL/TP-6A20-62641) on plane-of-array irradiance from the weather
    file: DC power ∝ POA irradiance × (1 + γ·(T_cell − 25 °C)), less the system losses, through the PVWatts
    inverter curve clipped at the AC rating. Defaults: PVWatts v5's 14.08 % system losses, 96 % nominal inverter
    efficiency and DC/AC ratio 1.2; γ = −0.40 %/K, mid-range of crystalline-silicon datasheets (−0.35 to
    −0.45 %/K; PVWatts v5 lists −0.47 standard, −0.35 premium); Faiman (2008) cell temperature with
    U0 = 25 W/(m²·K), U1 = 6.84 W·s/(m³·K) (pvlib's and IEC 61853-2's free-standing defaults); ASHRAE incidence
    modifier b0 = 0.05 (Souka & Safwat 1966); ground albedo 0.2.
    """

    dc_capacity_kwp: float = _f(0.0, 0.0, 1_000_000.0, unit="kWp",
                                doc="Array DC nameplate at standard test conditions (1000 W/m², 25 °C); 0: no array.")
    tilt_deg: float = _f(25.0, 0.0, 90.0, unit="°", doc="Module tilt from horizontal.")
    azimuth_deg: float = _f(180.0, 0.0, 360.0, unit="°",
                            doc="Direction the modules face, clockwise from north (180: south).")
    module_efficiency: float = _f(0.20, 0.05, 0.30, unit="1",
                                  doc="Module efficiency at standard test conditions (sets the array area).")
    temp_coeff_pct_per_k: float = _f(-0.40, -1.0, 0.0, unit="%/K",
                                     doc="Power temperature coefficient γ (c-Si typically −0.35 to −0.45 %/K).")
    cell_temperature_model: Literal["faiman", "noct"] = Field(
        "faiman", description="faiman: T_cell = T_air + E/(U0 + U1·wind) (needs the weather's wind speed); noct: "
                              "T_cell = T_air + (NOCT − 20 °C)·E/800 W/m².")
    faiman_u0_w_m2k: float = _f(25.0, 5.0, 60.0, unit="W/(m²·K)", doc="Faiman constant heat-loss coefficient.")
    faiman_u1_w_s_m3k: float = _f(6.84, 0.0, 20.0, unit="W·s/(m³·K)", doc="Faiman wind heat-loss coefficient.")
    noct_c: float = _f(45.0, 30.0, 60.0, unit="°C",
                       doc="Nominal operating cell temperature (800 W/m², 20 °C air, 1 m/s), for the noct model.")
    system_losses_frac: float = _f(0.1408, 0.0, 0.5, unit="1",
                                   doc="DC losses: soiling, shading, mismatch, wiring, LID, nameplate, availability "
                                       "(PVWatts v5 default 14.08 %).")
    inverter_efficiency: float = _f(0.96, 0.8, 0.995, unit="1", doc="Nominal inverter efficiency (PVWatts v5).")
    dc_ac_ratio: float = _f(1.2, 0.5, 2.0, unit="1",
                            doc="Array DC over inverter AC rating; output clips at the AC rating.")
    albedo: float = _f(0.2, 0.0, 0.9, unit="1", doc="Ground reflectance seen by the modules.")
    iam_b0: float = _f(0.05, 0.0, 0.2, unit="1",
                       doc="ASHRAE incidence-angle modifier on beam irradiance, 1 − b0·(1/cos θ − 1).")
    transposition: Literal["hay_davies", "isotropic"] = Field(
        "hay_davies", description="Sky-diffuse model on the tilted plane: Hay & Davies (1980) or isotropic "
                                  "(Liu & Jordan 1963).")
    export_allowed: bool = Field(False, description="Surplus PV is exported (net-metered at the hour's price "
                                                    "and factor); default it is curtailed and reported.")

    @property
    def installed(self) -> bool:
        """Whether there is an array."""
        return self.dc_capacity_kwp > 0.0

    @property
    def ac_capacity_kw(self) -> float:
        """Inverter AC rating (kW): the DC nameplate over the DC/AC ratio."""
        return self.dc_capacity_kwp / self.dc_ac_ratio

    @property
    def array_area_m2(self) -> float:
        """Module area the nameplate needs at its efficiency (m²): kWp / (η × 1 kW/m²)."""
        return self.dc_capacity_kwp / self.module_efficiency


class FacilityConfig(_Frozen):
    """A whole facility. Derived quantities are properties, not stored copies."""

    name: str
    description: str = ""
    floor_area_m2: float = _f(..., gt=0.0, le=1_000_000.0, unit="m²", doc="White-space floor area.")
    envelope_ua_kw_per_k: float = _f(0.5, 0.0, 1_000.0, unit="kW/K", doc="Building envelope conductance.")
    zones: list[ZoneConfig] = Field(min_length=1, max_length=64)
    servers: ServerConfig = Field(default_factory=ServerConfig)
    crah: CrahConfig = Field(default_factory=CrahConfig)
    chilled_water: ChilledWaterConfig = Field(default_factory=ChilledWaterConfig)
    chillers: ChillerConfig
    economizer: EconomizerConfig = Field(default_factory=EconomizerConfig)
    towers: TowerConfig = Field(default_factory=TowerConfig)
    electrical: ElectricalConfig = Field(default_factory=ElectricalConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    pv: PvConfig = Field(default_factory=PvConfig)
    liquid: LiquidCoolingConfig | None = Field(
        None, description="Liquid cooling of the zones with a liquid_capture_frac (cold plates, CDUs, facility "
                          "water, dry coolers, trim).")
    heat_reuse: HeatReuseConfig = Field(default_factory=HeatReuseConfig)
    blocks: list[str] | None = Field(
        None, description="Equipment blocks whose setpoints a policy may command (default: every block the "
                          "equipment has, see equipment_blocks); 'core' is always included.")

    @model_validator(mode="after")
    def _check_plant(self) -> FacilityConfig:
        names = [z.name for z in self.zones]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"zone names must be unique; repeated: {dupes}")
        if self.blocks is not None:
            has = (*self.equipment_blocks, "grid_signals", *(("pv",) if self.pv.installed else ()))
            missing = [b for b in self.blocks if b not in has]
            if missing:
                raise ValueError(f"blocks {missing} are not blocks this equipment has; it has {list(has)} "
                                 f"(known blocks: {list(BLOCKS)})")
        captured = [z.name for z in self.zones if z.liquid_capture_frac > 0.0]
        if captured and self.liquid is None:
            raise ValueError(f"zones {captured} have a liquid_capture_frac but the facility has no `liquid` section")
        if self.liquid is not None:
            if not captured:
                raise ValueError("a `liquid` section needs at least one zone with liquid_capture_frac > 0")
            if self.liquid.dry_coolers.capacity_kw <= 0.0 and self.liquid.trim_capacity_kw <= 0.0:
                raise ValueError("liquid.dry_coolers.capacity_kw and liquid.trim_capacity_kw are both 0 kW: the "
                                 "facility water's heat has nowhere to go; give one of them a capacity > 0 kW")
        if self.heat_reuse.installed and self.liquid is None:
            raise ValueError(f"heat_reuse.capacity_kw = {self.heat_reuse.capacity_kw} kW needs a `liquid` section: "
                             "the heat pump takes its heat from the facility water")
        installed = self.chillers.count * self.chillers.capacity_kw
        if installed < self.design_cooling_load_kw:
            raise ValueError(
                f"chillers.count × chillers.capacity_kw = {installed:.0f} kW is below the design "
                f"cooling load {self.design_cooling_load_kw:.0f} kW (air-cooled IT design plus CRAH fans, lighting "
                f"and the liquid trim capacity)"
            )
        return self

    @property
    def equipment_blocks(self) -> tuple[str, ...]:
        """Every equipment block this facility's equipment has, in contract order.

        ``chiller_staging`` with two or more chillers; ``tower_cells`` with two or more cells on
        variable-speed fans; ``chw_dp_reset`` with variable-flow chilled-water pumps; ``cw_flow``
        with variable-speed condenser pumps; ``economizer`` with a waterside economizer;
        ``thermal_storage`` with a chilled-water storage tank; ``liquid_cooling`` with a ``liquid`` section;
        ``heat_reuse`` with a heat pump.
        """
        has = {
            "core": True,
            "chiller_staging": self.chillers.count >= 2,
            "tower_cells": self.tower_cells >= 2 and self.towers.variable_speed,
            "chw_dp_reset": self.chilled_water.variable_flow,
            "cw_flow": self.towers.pump_variable_speed,
            "economizer": self.economizer.enabled,
            "thermal_storage": self.storage.installed,
            "liquid_cooling": self.liquid is not None,
            "heat_reuse": self.heat_reuse.installed,
        }
        return tuple(name for name in BLOCKS if has.get(name, False))

    @property
    def contract(self) -> Contract:
        """The facility's contract: the points and setpoints of its blocks (``blocks`` or all its equipment has).

        ``grid_signals`` (price, carbon and peak-demand points) is no equipment: it joins only when listed. Nor
        does ``pv`` (the array's output as a point), though the array is equipment: it has no setpoint and changes
        no plant physics, so a policy trained without it runs unchanged on the same hall with an array; it joins
        when listed (a cost or carbon policy that should see the sun).
        """
        return _contract_of(self.equipment_blocks if self.blocks is None else ("core", *self.blocks))

    @property
    def it_design_kw(self) -> float:
        """Total design IT power (kW)."""
        return sum(z.it_design_kw for z in self.zones)

    @property
    def lighting_kw(self) -> float:
        """Lighting power (kW)."""
        return self.electrical.lighting_w_per_m2 * self.floor_area_m2 / 1000.0

    @property
    def server_airflow_m3s_per_kw(self) -> float:
        """Server airflow per kW at nominal fan speed (m³/s per kW)."""
        return 1.0 / (AIR_RHO_CP_KJ_M3_K * self.servers.delta_t_k)

    def crah_airflow_design_m3s(self, zone: ZoneConfig) -> float:
        """Design CRAH airflow of a zone (m³/s), for the IT heat its cold plates do not capture."""
        air_kw = zone.it_design_kw * (1.0 - zone.liquid_capture_frac)
        return zone.crah_airflow_margin * air_kw * self.server_airflow_m3s_per_kw

    def crah_fan_design_kw(self, zone: ZoneConfig) -> float:
        """Design CRAH fan power of a zone, ``V̇·Δp/η`` (kW)."""
        return self.crah_airflow_design_m3s(zone) * self.crah.fan_pressure_pa / self.crah.fan_efficiency / 1000.0

    def zone_heat_capacity_kj_k(self, zone: ZoneConfig) -> float:
        """Thermal capacity of a zone's equipment-and-air node (kJ/K)."""
        return self.servers.heat_capacity_kj_per_kw_k * zone.it_design_kw

    @property
    def liquid_design_kw(self) -> float:
        """Design IT heat the cold plates capture (kW): Σ zone design IT × liquid_capture_frac."""
        return sum(z.it_design_kw * z.liquid_capture_frac for z in self.zones)

    @property
    def design_cooling_load_kw(self) -> float:
        """The chilled-water plant's design load (kW): air-cooled IT design power, design CRAH fan power, lighting
        and the liquid trim exchanger's capacity."""
        trim = 0.0 if self.liquid is None else self.liquid.trim_capacity_kw
        return (self.it_design_kw - self.liquid_design_kw + sum(self.crah_fan_design_kw(z) for z in self.zones)
                + self.lighting_kw + trim)

    @property
    def chw_design_flow_m3s(self) -> float:
        """Chilled-water design flow for the installed chiller capacity (m³/s)."""
        return self.chillers.count * self.chillers.capacity_kw / (
            WATER_RHO_CP_KJ_M3_K * self.chilled_water.design_delta_t_k
        )

    @property
    def tes_delta_t_k(self) -> float:
        """The storage tank's rated ΔT (K): configured or the chilled-water loop's design ΔT."""
        dt = self.storage.design_delta_t_k
        return self.chilled_water.design_delta_t_k if dt is None else dt

    @property
    def tes_capacity_kwh(self) -> float:
        """Cold a full tank holds over its rated ΔT (kWh; 0 without a tank)."""
        return self.storage.volume_m3 * WATER_RHO_CP_KJ_M3_K * self.tes_delta_t_k / 3600.0

    @property
    def tes_rates_kw(self) -> tuple[float, float]:
        """The tank's rated (charge, discharge) rates, kW of cold: configured or capacity / hours_at_rated."""
        default = self.tes_capacity_kwh / self.storage.hours_at_rated
        st = self.storage
        return (default if st.max_charge_kw is None else st.max_charge_kw,
                default if st.max_discharge_kw is None else st.max_discharge_kw)

    @property
    def chw_loop_volume_m3(self) -> float:
        """Loop water volume (m³), configured or autosized as EnergyPlus does."""
        if self.chilled_water.loop_volume_m3 is not None:
            return self.chilled_water.loop_volume_m3
        return self.chw_design_flow_m3s * 15.0 * 60.0 / 0.8

    @property
    def chiller_cop_ref(self) -> float:
        """Reference COP of the chillers (W/W)."""
        return self.chillers.cop_ref or CHILLER_MODELS[self.chillers.model].cop_ref

    @property
    def cw_unit_flow_m3s(self) -> float:
        """Condenser water flow per running chiller at the design range (m³/s)."""
        heat = self.chillers.capacity_kw * (1.0 + 1.0 / self.chiller_cop_ref)
        return heat / (WATER_RHO_CP_KJ_M3_K * self.towers.design_range_k)

    @property
    def tower_cells(self) -> int:
        """Tower cells installed."""
        return self.towers.cells or self.chillers.count

    @property
    def chillers_available(self) -> int:
        """Chillers in service."""
        return self.chillers.count if self.chillers.available is None else self.chillers.available


@functools.lru_cache(maxsize=64)
def _contract_of(blocks: tuple[str, ...]) -> Contract:
    return Contract.from_blocks(blocks)


def facility_from_mapping(data: Any, source: str = "<mapping>", base_dir: Path | None = None) -> FacilityConfig:
    """Validate a mapping (parsed YAML) into a :class:`FacilityConfig`.

    Load traces named by zones are resolved against ``base_dir`` (the facility file's
    folder) and read now, so a bad trace is refused at load time, not mid-run.
    """
    if not isinstance(data, dict):
        raise FacilityConfigError(f"{source}: a facility file must be a YAML mapping, got {type(data).__name__}")
    try:
        cfg = FacilityConfig.model_validate(data)
    except ValidationError as err:
        raise FacilityConfigError(format_validation_error(err, FacilityConfig, source)) from None
    return _resolve_traces(cfg, source, base_dir or Path.cwd())


def _resolve_traces(cfg: FacilityConfig, source: str, base_dir: Path) -> FacilityConfig:
    zones = []
    for i, zone in enumerate(cfg.zones):
        prof = zone.load
        if prof.trace_csv is None:
            zones.append(zone)
            continue
        field = f"zones[{i}].load"
        path = Path(prof.trace_csv)
        path = path if path.is_absolute() else (base_dir / path).resolve()
        if not prof.trace_column:
            raise FacilityConfigError(f"{source}: field '{field}.trace_column' is required with trace_csv")
        try:
            trace = LoadTrace(path)
        except LoadTraceError as err:
            raise FacilityConfigError(f"{source}: field '{field}.trace_csv': {err}") from None
        if prof.trace_column not in trace.columns:
            raise FacilityConfigError(
                f"{source}: field '{field}.trace_column' = {prof.trace_column!r} is not a column of {path} "
                f"(columns: {sorted(trace.columns)})"
            )
        zones.append(zone.model_copy(update={"load": prof.model_copy(update={"trace_csv": str(path)})}))
    return cfg.model_copy(update={"zones": zones})


def list_presets() -> list[str]:
    """Names of the bundled facility presets."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


@functools.lru_cache(maxsize=64)
def _load_file(path: Path) -> FacilityConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise FacilityConfigError(f"{path}: cannot read facility file: {err.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise FacilityConfigError(f"{path}: not valid YAML: {err}") from None
    return facility_from_mapping(data, str(path), path.parent)


def load_facility(name_or_path: str | Path) -> FacilityConfig:
    """A bundled preset by name (``legacy-hall``, ``modern-hall``, ``campus``) or a YAML file."""
    text = str(name_or_path)
    preset = PRESETS_DIR / f"{text}.yaml"
    if preset.is_file():
        return _load_file(preset)
    path = Path(text)
    if path.suffix.lower() in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise FacilityConfigError(f"{path}: facility file not found")
        return _load_file(path.resolve())
    raise FacilityConfigError(
        f"unknown facility {text!r}: not a bundled preset ({', '.join(list_presets())}) nor a YAML file"
    )
