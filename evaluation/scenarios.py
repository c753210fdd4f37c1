"""What-if scenario files: typed, validated YAML; a bad file is refused before anything runs.

A scenario file names the policies to compare, the site's current control (the
baseline), optional ``defaults`` and a list of scenarios. Each scenario sets any of:
facility, climate (bundled name or EPW file), period (a season, a month, a year, or
``{start_day, days}``), IT load level and growth, setpoint limits and the inlet limit,
equipment outages, weather shifts (a hotter year, a heat wave), the electricity tariff
(flat, time-of-use windows, a Chinese provincial template by name, or a BOPTEST price archetype
``constant``/``dynamic``/``highly_dynamic``; a demand charge, optionally in a peak window), the grid
carbon factor (constant, a Chinese region or province by name, an hourly profile, or a solar-heavy
grid's synthetic profile from the climate's irradiance), the green-power share, and the uncertainty of
the price and carbon forecasts a policy reads (BOPTEST's levels none/low/medium/high, seeded by ``seed``).
A field a scenario leaves out is taken, as a whole, from ``defaults``,
then from the built-in default. Example::

    title: modern-hall in three climates
    baseline: rule-based                 # the site's current control
    policies: [legacy, rule-based, modern-hall-ppo, oracle]   # a shipped bundle by name, or a bundle folder
    defaults: {facility: modern-hall, period: year}
    scenarios:
      - {name: chicago, climate: chicago}
      - name: miami-heat-wave
        climate: miami
        period: {start_day: 196, days: 14}
        weather: {heat_wave: {start_day: 200, days: 5, peak_k: 5}}
        outages: {chillers: 1}

Validation runs in two passes: the types and ranges of every field (pydantic), then
the facts that need the outside world (the facility, the climate, the bundles and CSV
files exist; an outage names a zone the facility has and leaves equipment in service; the
load level keeps every zone at or below full utilization). Every problem of both passes
is listed in one :class:`ScenarioFileError`, one line each: file, dotted field, value,
unit, allowed range and reason (the format of ``coolpilot.envs.validation``).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from coolpilot.envs.contract import INLET_LIMIT_C, SETPOINTS_BY_NAME, bundle_fits, contract_from_card
from coolpilot.envs.validation import format_validation_error, read_yaml

BUILTIN_POLICIES = ("legacy", "rule-based", "oracle", "recorded")

DEFAULT_GRID_FACTOR_T_PER_MWH = 0.5703
"""Grid emission factor (t CO2/MWh): China's 2022 national grid average emission factor of the national
carbon market, set by the Ministry of Ecology and Environment's notice on power-sector greenhouse-gas
reporting 2023-2025 (February 2023), the figure used in the issue's board example ("5,000 MWh saved,
2,851.5 t CO2 avoided"); ``coolpilot.envs.grid`` holds it as ``china-ets`` beside the regional and
provincial factors. Give the site's own factor, or its region, where it has one."""
DEFAULT_PRICE_PER_MWH = 80.0
"""Electricity price (currency/MWh): ≈ the US average industrial retail price of 2023, 8.0 ¢/kWh
(US EIA, Electric Power Monthly, table 5.6.A). Give the site's contract price where it has one."""
A1_ALLOWABLE_MAX_C = 32.0
"""ASHRAE TC 9.9 class A1 allowable upper dry-bulb limit (PHYSICS.md section 6)."""

SEASONS: dict[str, tuple[float, float]] = {
    "year": (0.0, 365.0),
    "winter": (334.0, 90.0),
    "spring": (59.0, 92.0),
    "summer": (151.0, 92.0),
    "autumn": (243.0, 91.0),
}
"""Named periods: (start day, days), day 0 = 1 January of the 365-day weather year. Seasons are
the meteorological ones of the northern hemisphere (winter = December to February; the weather
year wraps around, so a winter runs December, then January and February of the same TMY file)."""
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
MONTH_NAMES = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
               "october", "november", "december")
for _i, _name in enumerate(MONTH_NAMES):
    SEASONS[_name] = (float(sum(_MONTH_DAYS[:_i])), float(_MONTH_DAYS[_i]))
PeriodName = Literal["year", "winter", "spring", "summer", "autumn", "january", "february", "march", "april", "may",
                     "june", "july", "august", "september", "october", "november", "december"]


class ScenarioFileError(ValueError):
    """A scenario file is invalid; the message lists every problem."""


def _f(default: Any, ge: float | None = None, le: float | None = None, *, unit: str, doc: str,
       gt: float | None = None, lt: float | None = None) -> Any:
    return Field(default, ge=ge, le=le, gt=gt, lt=lt, description=doc, json_schema_extra={"unit": unit})


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Period(_Frozen):
    """A simulated period: ``days`` from ``start_day`` (day 0 = 1 January 00:00); a file may give a name instead."""

    start_day: float = _f(0.0, 0.0, lt=365.0, unit="d", doc="First day, 0 = 1 January.")
    days: float = _f(..., gt=0.0, le=366.0, unit="d", doc="Length of the period.")
    name: PeriodName | None = Field(None, description="The named period this is (year, a season or a month).")

    @property
    def label(self) -> str:
        """The name, or 'day D + N d'."""
        return self.name or f"day {self.start_day:g} + {self.days:g} d"


class LoadSpec(_Frozen):
    """IT load: a level scaling every zone's utilization and a growth trend over the period."""

    level: float = _f(1.0, gt=0.0, le=2.0, unit="1",
                      doc="Multiplies every zone's utilization (1 = the facility file's profile).")
    growth_per_year: float = _f(0.0, -0.5, 2.0, unit="1/yr",
                                doc="Relative IT load growth per year over the period (0.3 = +30 %/yr), "
                                    "added to each zone's own trend.")


class SetpointRange(_Frozen):
    """Bounds a site allows for one setpoint (inside the contract's hard bounds); equal bounds pin the setpoint (a
    heat pump's duty held at 0 closes a heat-reuse connection)."""

    low: float = Field(description="Lowest value the plant accepts (the setpoint's unit).")
    high: float = Field(description="Highest value the plant accepts (the setpoint's unit).")

    @model_validator(mode="after")
    def _ordered(self) -> SetpointRange:
        if self.low > self.high:
            raise ValueError(f"low = {self.low:g} must be below high = {self.high:g} (or equal: a pinned setpoint)")
        return self


class Limits(_Frozen):
    """The thermal limit and the setpoint limits of the site.

    ``inlet_limit_c`` is the hottest server inlet the site accepts: 27 °C is ASHRAE's
    recommended limit (class A1 recommended envelope, 18–27 °C), up to 32 °C allows the A1
    allowable range. The oracle plans to it and the rule-based controller keeps its 2 K
    margin below it; the learned bundle keeps the limit it was trained for. Setpoint ranges
    are enforced by the plant (as a BMS clamps writes), for every policy alike; a range for a
    plant lever the scenario's facility does not have clamps nothing (its plant runs that
    lever on its own sequence within the lever's hard bounds).
    """

    inlet_limit_c: float = _f(INLET_LIMIT_C, 20.0, A1_ALLOWABLE_MAX_C, unit="°C",
                              doc="Hottest server inlet allowed (thermal-risk KPIs and flags count above it).")
    supply_air_temp_c: SetpointRange | None = Field(None, description="Supply air setpoint range (°C).")
    crah_fan_speed_frac: SetpointRange | None = Field(None, description="CRAH fan speed range (1).")
    chw_supply_temp_c: SetpointRange | None = Field(None, description="Chilled-water supply setpoint range (°C).")
    condenser_water_temp_c: SetpointRange | None = Field(None, description="Condenser water setpoint range (°C).")
    chiller_stage_up_plr: SetpointRange | None = Field(None, description="Chiller stage-up part-load ratio range (1).")
    tower_cell_flow_min_frac: SetpointRange | None = Field(
        None, description="Range of the flow per tower cell below which fewer cells run (1, of a cell's design flow).")
    chw_dp_setpoint_frac: SetpointRange | None = Field(
        None, description="Chilled-water differential-pressure setpoint range (1, of design).")
    cw_flow_frac: SetpointRange | None = Field(
        None, description="Condenser-water flow range per chiller (1, of design).")
    economizer_enable: SetpointRange | None = Field(
        None, description="Economizer enable range (1; on at ≥ 0.5: a high below 0.5 locks it out, a low of 0.5 or "
                          "more keeps it enabled).")
    tes_rate_frac: SetpointRange | None = Field(
        None, description="Thermal-storage rate range (1, of the tank's rated rate; > 0 discharges, < 0 charges: a "
                          "high of 0 never discharges, a low of 0 never charges).")
    fws_supply_temp_c: SetpointRange | None = Field(
        None, description="Facility-water supply setpoint range (°C; the facility's ASHRAE class caps it too).")
    tcs_supply_temp_c: SetpointRange | None = Field(None, description="Rack coolant supply setpoint range (°C).")
    cdu_flow_frac: SetpointRange | None = Field(None, description="Rack coolant flow range (1, of design).")
    heat_pump_duty_frac: SetpointRange | None = Field(
        None, description="Heat-pump duty range (1, of its capacity; a high of 0 closes the heat-reuse connection).")

    @field_validator("supply_air_temp_c", "crah_fan_speed_frac", "chw_supply_temp_c", "condenser_water_temp_c",
                     "chiller_stage_up_plr", "tower_cell_flow_min_frac", "chw_dp_setpoint_frac", "cw_flow_frac",
                     "economizer_enable", "tes_rate_frac", "fws_supply_temp_c", "tcs_supply_temp_c", "cdu_flow_frac",
                     "heat_pump_duty_frac")
    @classmethod
    def _within_contract(cls, rng: SetpointRange | None, info: ValidationInfo) -> SetpointRange | None:
        spec = SETPOINTS_BY_NAME[str(info.field_name)]
        if rng is not None and (rng.low < spec.low or rng.high > spec.high):
            raise ValueError(f"range {rng.low:g}..{rng.high:g} {spec.unit} leaves the contract's hard bounds "
                             f"{spec.low:g}..{spec.high:g} {spec.unit}")
        return rng

    def ranges(self) -> dict[str, SetpointRange]:
        """The setpoint ranges given, by setpoint name (in the contract's block order)."""
        out = {}
        for name in SETPOINTS_BY_NAME:
            value = getattr(self, name, None)
            if value is not None:
                out[name] = value
        return out


class CrahOutage(_Frozen):
    """Part of a zone's CRAH capacity out of service."""

    zone: str = Field(description="Zone name in the facility file.")
    share_out: float = _f(..., gt=0.0, lt=1.0, unit="1",
                          doc="Share of the zone's CRAH airflow and fan capacity out of service "
                              "(one of four units = 0.25).")


class Outages(_Frozen):
    """Equipment out of service for the whole period."""

    chillers: int = _f(0, 0, 32, unit="1", doc="Chillers out of service.")
    tower_cells: int = _f(0, 0, 63, unit="1", doc="Cooling-tower cells out of service (fan failed, cell isolated).")
    crahs: list[CrahOutage] = Field(default_factory=list, description="CRAH capacity out, per zone.")


class HeatWave(_Frozen):
    """Extra heat over a few days: ``peak_k`` added to the dry bulb, ramped in and out over ``ramp_h``."""

    start_day: float = _f(..., 0.0, lt=365.0, unit="d", doc="Day the heat wave starts (0 = 1 January).")
    days: float = _f(..., gt=0.0, le=60.0, unit="d", doc="Length including the ramps.")
    peak_k: float = _f(..., gt=0.0, le=15.0, unit="K", doc="Dry-bulb rise at the peak.")
    ramp_h: float = _f(12.0, 0.0, 72.0, unit="h", doc="Hours to ramp in and to ramp out.")

    @model_validator(mode="after")
    def _ramps_fit(self) -> HeatWave:
        if 2.0 * self.ramp_h > 24.0 * self.days:
            raise ValueError(f"two ramps of {self.ramp_h:g} h do not fit in {self.days:g} days")
        return self


class WeatherShift(_Frozen):
    """Changes to the climate's weather: a uniform offset (a hotter year) and a heat wave.

    Dry bulb is raised; humidity follows ``humidity``: ``constant_rh`` keeps relative
    humidity (the "morphing" of Belcher et al. 2005, Building Serv. Eng. Res. Technol. 26:49,
    with no change in RH: a humid heat wave, the harder case for towers) or
    ``constant_dew_point`` keeps the moisture content (a dry heat wave). Dew point and wet
    bulb are recomputed (Magnus, then Stull 2011: PHYSICS.md section 8).
    """

    offset_k: float = _f(0.0, -10.0, 10.0, unit="K", doc="Added to the dry bulb at every hour (a hotter year).")
    heat_wave: HeatWave | None = Field(None, description="A heat wave on top of the offset.")
    humidity: Literal["constant_rh", "constant_dew_point"] = Field(
        "constant_rh", description="What stays fixed while the dry bulb rises.")


class HourWindow(_Frozen):
    """Hours of the day (local standard time of the weather file), on weekdays or every day, in some months."""

    start_hour: float = _f(..., 0.0, lt=24.0, unit="h", doc="Window start (hour of day).")
    end_hour: float = _f(..., gt=0.0, le=24.0, unit="h", doc="Window end (hour of day; may wrap past midnight).")
    weekdays_only: bool = Field(True, description="Only Monday to Friday (day 0 of the year is a Monday).")
    months: list[int] | None = Field(None, description="Months (1–12) the window applies in; default all.")

    @model_validator(mode="after")
    def _check(self) -> HourWindow:
        if self.start_hour == self.end_hour:
            raise ValueError("start_hour equals end_hour: an empty window")
        bad = [m for m in self.months or [] if not 1 <= m <= 12]
        if bad:
            raise ValueError(f"months {bad} are not in 1..12")
        return self


class TouWindow(HourWindow):
    """A time-of-use window with its own price; hours in local standard time of the weather file."""

    name: str = Field("peak", description="Label of the window (e.g. peak, shoulder).")
    price_per_mwh: float = _f(..., 0.0, 10_000.0, unit="currency/MWh", doc="Energy price in the window.")


class Tariff(_Frozen):
    """Electricity tariff: a flat energy price, time-of-use windows, a provincial template or a BOPTEST archetype.

    Without a template or archetype, the first matching window sets the price of an hour, else the flat price.
    With ``template`` (a bundled provincial template of :mod:`coolpilot.envs.grid`, by pinyin, Chinese or
    English name), ``price_per_mwh`` is the contract's flat (平段) price and the price of an hour is
    ``price_per_mwh × (1 − tou_share + tou_share × ratio)``, ``ratio`` being the template's price of that
    hour's period (尖峰, 高峰, 平段, 低谷, 深谷) over the flat price; the currency defaults to CNY.
    With ``archetype`` (BOPTEST's price scenarios ``constant``, ``dynamic`` day/night, ``highly_dynamic``
    spot-like, as its Chicago testcase multizone_office_complex_air defines them: :mod:`coolpilot.envs.grid`),
    every hour is BOPTEST's price × ``price_per_mwh`` / 94 (BOPTEST's constant price, USD/MWh, the default
    ``price_per_mwh``): a site's own price level with the archetype's shape. A demand (capacity) charge is
    priced on each calendar month's peak 15-minute power, over the hours of ``demand_window`` when one is
    given. ``forecast_uncertainty`` sets what a policy is told of the hours ahead (BOPTEST's levels:
    :mod:`coolpilot.envs.objectives`); the tariff's actual prices are what is paid.
    """

    currency: str = Field("USD", min_length=1, max_length=8, description="Currency label of every price.")
    price_per_mwh: float = _f(DEFAULT_PRICE_PER_MWH, 0.0, 10_000.0, unit="currency/MWh",
                              doc="Energy price outside any window (flat tariff: always); with a template, the "
                                  "flat-period price.")
    time_of_use: list[TouWindow] = Field(default_factory=list, description="Time-of-use windows.")
    water_price_per_m3: float | None = _f(None, 0.0, 100.0, unit="currency/m³",
                                          doc="Water and sewer price; not counted when absent.")
    template: str | None = Field(None, description="Provincial time-of-use template (coolpilot.envs.grid): "
                                                   "hours and price ratios of each period.")
    tou_share: float = _f(1.0, 0.0, 1.0, unit="1",
                          doc="Share of the flat price that floats with the template's periods (the energy or "
                              "purchase price; transmission and government funds usually do not).")
    demand_charge_per_kw_month: float | None = _f(None, 0.0, 1_000.0, unit="currency/(kW·month)",
                                                  doc="Basic charge per kW of maximum demand per month (two-part "
                                                      "tariff), priced on each calendar month's peak 15-minute power.")
    template_source: str | None = Field(None, description="The template's notice and issuer (filled from "
                                                          "template).")
    archetype: Literal["constant", "dynamic", "highly_dynamic"] | None = Field(
        None, description="BOPTEST price scenario: constant, dynamic (day/night) or highly_dynamic (spot-like); "
                          "price_per_mwh (default 94, BOPTEST's constant price) scales it.")
    archetype_source: str | None = Field(None, description="The archetype's source (filled from archetype).")
    demand_window: HourWindow | None = Field(
        None, description="Peak window of the demand charge: only these hours' 15-minute power sets the month's "
                          "billed peak (default: every hour).")
    forecast_uncertainty: Literal["none", "low", "medium", "high"] = Field(
        "none", description="Uncertainty of the price forecast a policy reads (BOPTEST's levels; none = perfect).")

    @model_validator(mode="after")
    def _window_has_a_charge(self) -> Tariff:
        if self.demand_window is not None and not self.demand_charge_per_kw_month:
            raise ValueError("demand_window is the peak window of a demand charge: give demand_charge_per_kw_month "
                             "(> 0 currency/(kW·month)) too")
        return self

    @model_validator(mode="before")
    @classmethod
    def _resolve_template(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if data.get("archetype") is not None:
            return cls._resolve_archetype(data)
        if data.get("template") is None:
            if "tou_share" in data and data["tou_share"] != 1.0:
                raise ValueError("tou_share applies to a template's periods: give template too")
            return data
        from coolpilot.envs.grid import GridDataError, tariff_template

        try:
            t = tariff_template(str(data["template"]))
        except GridDataError as err:
            raise ValueError(str(err)) from None
        if data.get("time_of_use"):
            raise ValueError(f"template {t.name!r} sets the time-of-use periods: give template or time_of_use, "
                             "not both")
        if "price_per_mwh" not in data:
            raise ValueError(f"template {t.name!r} gives hours and price ratios only: give price_per_mwh, the "
                             "flat (平段) price of your contract (e.g. 650 CNY/MWh)")
        out = {**data, "template": t.name, "template_source": t.source_text}
        out.setdefault("currency", "CNY")
        if out.get("demand_charge_per_kw_month") is None:
            out["demand_charge_per_kw_month"] = t.demand_charge_per_kw_month
        return out

    @classmethod
    def _resolve_archetype(cls, data: dict[str, Any]) -> dict[str, Any]:
        from coolpilot.envs.grid import ARCHETYPE_NAMES, archetype_reference_price_per_mwh, archetype_source

        name = data["archetype"]
        if name not in ARCHETYPE_NAMES:
            return data  # the field's own check names the allowed values
        others = [key for key in ("template", "time_of_use") if data.get(key)]
        if "tou_share" in data and data["tou_share"] != 1.0:
            others.append("tou_share")
        if others:
            raise ValueError(f"archetype {name!r} sets every hour's price: leave out {', '.join(others)}")
        out = {**data, "archetype_source": archetype_source()}
        out.setdefault("price_per_mwh", archetype_reference_price_per_mwh())
        return out


class Carbon(_Frozen):
    """Grid carbon and green power.

    Location-based emissions use the grid factor: a constant, the factor of a named Chinese region
    or province (``region``: pinyin, Chinese or English name; :mod:`coolpilot.envs.grid`, each with its
    source and year), or an hourly profile read from ``hourly_csv`` (a column ``t_co2_per_mwh`` of 24
    rows, a day repeated, or 8760 rows, a year). With ``solar_share`` the constant (or region's) factor
    becomes the year's mean of a synthetic hourly profile of a solar-heavy grid, derived from the
    scenario climate's irradiance (:func:`coolpilot.envs.grid.solar_carbon_profile`: clean middays,
    what it is and is not). The figure after green power multiplies them by ``1 − green_power_share``
    (market-based, with certificates or PPAs covering that share of the energy).
    """

    grid_t_co2_per_mwh: float = _f(DEFAULT_GRID_FACTOR_T_PER_MWH, 0.0, 2.0, unit="t CO2e/MWh",
                                   doc="Grid emission factor (default: China's 2022 national grid average of the "
                                       "carbon market, MEE 2023).")
    region: str | None = Field(None, description="Chinese region or province whose grid factor to use (e.g. "
                                                 "guangdong, 华北); replaces the constant.")
    hourly_csv: str | None = Field(None, description="CSV with a 't_co2_per_mwh' column, 24 or 8760 rows "
                                                     "(relative to the scenario file); replaces the constant.")
    green_power_share: float = _f(0.0, 0.0, 1.0, unit="1", doc="Share of the energy bought as green power.")
    factor_source: str | None = Field(None, description="Where the factor comes from (filled from region; cite "
                                                        "your own with a constant).")
    solar_share: float | None = _f(None, unit="1", gt=0.0, le=1.0,
                                   doc="Share of the year's demand the grid's PV would supply (its output following "
                                       "the climate's irradiance, curtailed beyond demand): the grid factor becomes "
                                       "the year's mean of an hourly profile with clean middays.")
    forecast_uncertainty: Literal["none", "low", "medium", "high"] = Field(
        "none", description="Uncertainty of the grid-factor forecast a policy reads (BOPTEST's levels; none = "
                            "perfect).")

    @model_validator(mode="after")
    def _one_profile(self) -> Carbon:
        if self.solar_share is not None and self.hourly_csv is not None:
            raise ValueError("solar_share and hourly_csv both set the hourly grid factor: give one")
        return self

    @model_validator(mode="before")
    @classmethod
    def _resolve_region(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("region") is None:
            return data
        from coolpilot.envs.grid import GridDataError, grid_factor

        try:
            f = grid_factor(str(data["region"]))
        except GridDataError as err:
            raise ValueError(str(err)) from None
        if data.get("hourly_csv") is not None:
            raise ValueError(f"region {f.name!r} and hourly_csv both set the grid factor: give one")
        given = data.get("grid_t_co2_per_mwh")
        if given is not None and given != f.t_co2_per_mwh:
            raise ValueError(f"grid_t_co2_per_mwh = {given} t CO2e/MWh contradicts region {f.name!r} "
                             f"({f.t_co2_per_mwh:g} t CO2/MWh, {f.year}): give one")
        return {**data, "region": f.name, "grid_t_co2_per_mwh": f.t_co2_per_mwh,
                "factor_source": f"{f.source_text} ({f.zh} {f.en}, {f.year})"}


class HistorySpec(_Frozen):
    """A site's trend history, as ``coolpilot calibrate`` reads it: the scenario then runs over its period.

    Every policy of the scenario runs on the history's recorded weather and IT load, and the policy
    ``recorded`` replays the setpoints the site's BMS was told (:mod:`coolpilot.evaluation.recorded`).
    The period defaults to the whole history; a period given must lie inside it.
    """

    files: list[str] = Field(min_length=1, max_length=64,
                             description="History files (relative to the scenario file): a coolpilot simulate CSV, "
                                         "an audit decisions.csv, or BMS trend exports (CSV or .csv.gz).")
    column_map: str | None = Field(None, description="Column map YAML of a BMS export (relative to the scenario "
                                                     "file).")
    format: Literal["auto", "simulate", "decisions", "bms"] = Field(
        "auto", description="History format (auto: bms with a column map, else read from the header).")
    utc_offset_h: float | None = _f(None, -12.0, 14.0, unit="h",
                                    doc="The site's standard-time offset from UTC (default: the column map's, the "
                                        "climate's, or read from the data).")

    @model_validator(mode="before")
    @classmethod
    def _one_file(cls, data: Any) -> Any:
        return {"files": [data]} if isinstance(data, str) else data


class ScenarioSpec(_Frozen):
    """One scenario as written: every field optional (taken from ``defaults``, then the built-in default)."""

    name: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
                             description="Short unique name (letters, digits, '-', '_', '.'), used in file names.")
    description: str | None = Field(None, description="One or two sentences for the report.")
    facility: str | None = Field(None, description="Facility preset name or facility YAML file.")
    climate: str | None = Field(None, description="Bundled climate name or EPW file.")
    period: Period | None = Field(None, description="A named period (year, a season, a month) or {start_day, days}.")
    step_s: float | None = _f(None, 60.0, 3600.0, unit="s", doc="Control step.")
    seed: int | None = _f(None, 0, 2**31 - 1, unit="1", doc="Seed of the IT load noise.")
    load: LoadSpec | None = None
    limits: Limits | None = None
    outages: Outages | None = None
    weather: WeatherShift | None = None
    tariff: Tariff | None = None
    carbon: Carbon | None = None
    history: HistorySpec | None = Field(None, description="The site's trend history: the scenario runs over its "
                                                          "period, weather and IT load (a file name, or files and "
                                                          "a column map).")

    @field_validator("period", mode="before")
    @classmethod
    def _named_period(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if value not in SEASONS:
            raise ValueError(f"unknown named period {value!r}; use one of {', '.join(SEASONS)}, or "
                             "{start_day, days}")
        start, days = SEASONS[value]
        return {"start_day": start, "days": days, "name": value}


class ScenarioFileModel(_Frozen):
    """A scenario file as written."""

    title: str = Field("What-if evaluation", min_length=1, description="Report title.")
    description: str = Field("", description="What the scenario set asks, for the report.")
    policies: list[str] = Field(min_length=1, max_length=16,
                                description="legacy, rule-based, oracle, recorded (a history's own setpoints), "
                                            "shipped bundles by name (coolpilot models) or policy bundle folders.")
    baseline: str = Field("rule-based", description="The site's current control: savings are measured against it.")
    proposed: str | None = Field(None, description="The policy the report is about; default the first bundle.")
    defaults: ScenarioSpec = Field(default_factory=ScenarioSpec, description="Fields every scenario inherits.")
    scenarios: list[ScenarioSpec] = Field(min_length=1, max_length=200, description="The scenarios.")

    @model_validator(mode="after")
    def _check_names(self) -> ScenarioFileModel:
        repeated = sorted({p for p in self.policies if self.policies.count(p) > 1})
        if repeated:
            raise ValueError(f"policies listed twice: {repeated}")
        if self.baseline not in self.policies:
            raise ValueError(f"baseline {self.baseline!r} is not one of the policies {self.policies}")
        if self.proposed is not None and self.proposed not in self.policies:
            raise ValueError(f"proposed {self.proposed!r} is not one of the policies {self.policies}")
        if self.proposed is not None and self.proposed == self.baseline:
            raise ValueError("proposed and baseline are the same policy")
        return self


@dataclass(frozen=True)
class PolicyRef:
    """A policy to run: ``spec`` as ``coolpilot.evaluation.policies.make_policy`` takes it, ``label`` for tables."""

    spec: str
    label: str
    kind: Literal["legacy", "rule-based", "oracle", "recorded", "bundle"]


@dataclass(frozen=True)
class HistoryRef:
    """A resolved scenario ``history``: absolute paths and how to read them."""

    files: tuple[str, ...]
    column_map: str | None = None
    format: str = "auto"
    utc_offset_h: float | None = None

    @property
    def label(self) -> str:
        """The files' names, for tables."""
        return " + ".join(Path(f).name for f in self.files)


@dataclass(frozen=True)
class Scenario:
    """A resolved scenario: every field concrete, paths absolute, the period in days."""

    name: str
    description: str
    facility: str
    climate: str
    start_day: float
    days: float
    period_label: str
    step_s: float
    seed: int
    load: LoadSpec
    limits: Limits
    outages: Outages
    weather: WeatherShift
    tariff: Tariff
    carbon: Carbon
    carbon_profile: tuple[float, ...] | None
    """The hourly grid factors (t CO2e/MWh; 24 or 8760 values) of ``carbon.hourly_csv``, read at load, or of
    ``carbon.solar_share``, derived at load from the climate's irradiance."""
    history: HistoryRef | None = None
    """The site's history the scenario runs over (paths absolute), or None for a climate scenario."""
    climate_given: bool = True
    """Whether the file names the climate (with a history: the weather the history lacks comes from it)."""


@dataclass(frozen=True)
class ScenarioSet:
    """A validated scenario file."""

    source: str
    title: str
    description: str
    policies: tuple[PolicyRef, ...]
    baseline: str
    """Label of the baseline policy."""
    proposed: str | None
    """Label of the proposed policy (None when only the baseline runs)."""
    scenarios: tuple[Scenario, ...]

    def policy(self, label: str) -> PolicyRef:
        """The policy with this label."""
        return next(p for p in self.policies if p.label == label)


_BUILTIN_DEFAULTS = ScenarioSpec(
    facility="modern-hall", climate="chicago", period=Period(start_day=0.0, days=365.0, name="year"), step_s=300.0,
    seed=0, load=LoadSpec(),
    limits=Limits(), outages=Outages(), weather=WeatherShift(), tariff=Tariff(), carbon=Carbon(),
)


def _line(field: str, value: Any, message: str) -> str:
    shown = "" if value is None else f" = {value!r}"
    return f"  - field '{field}'{shown}: {message}"


class _Problems:
    """Collects problem lines of the second (semantic) pass."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, field: str, value: Any, message: str) -> None:
        self.lines.append(_line(field, value, message))


def _find_path(text: str, base_dir: Path) -> Path | None:
    """An existing path: absolute, or relative to the scenario file or the working directory."""
    p = Path(text).expanduser()
    if p.is_absolute():
        return p if p.exists() else None
    for root in (base_dir, Path.cwd()):
        candidate = (root / p).resolve()
        if candidate.exists():
            return candidate
    return None


def _resolve_policy(spec: str, field: str, base_dir: Path, problems: _Problems) -> PolicyRef | None:
    if spec in BUILTIN_POLICIES:
        return PolicyRef(spec, spec, spec)  # type: ignore[arg-type]
    from coolpilot.controller.policies.bundles import bundle_names, find_bundle
    from coolpilot.controller.policies.onnx_policy import BundleError, read_card

    path = find_bundle(spec, (base_dir, Path.cwd()))
    if path is None:
        problems.add(field, spec, f"not a built-in policy ({', '.join(BUILTIN_POLICIES)}), a shipped bundle "
                                  f"({', '.join(bundle_names()) or 'none installed'}) nor a policy bundle folder "
                                  "(looked relative to the scenario file and the working directory)")
        return None

    try:
        card = read_card(path)
    except BundleError as err:
        problems.add(field, spec, f"not a usable policy bundle: {err}")
        return None
    return PolicyRef(str(path), str(card["name"]), "bundle")


def _check_facility(text: str, field: str, base_dir: Path, problems: _Problems) -> tuple[str, Any] | None:
    from coolpilot.envs.config import PRESETS_DIR, FacilityConfigError, list_presets, load_facility

    if (PRESETS_DIR / f"{text}.yaml").is_file():
        return text, load_facility(text)
    path = _find_path(text, base_dir)
    if path is None:
        problems.add(field, text, f"not a bundled preset ({', '.join(list_presets())}) nor a facility file")
        return None
    try:
        return str(path), load_facility(path)
    except FacilityConfigError as err:
        problems.add(field, text, f"invalid facility file: {err}")
        return None


def _check_climate(text: str, field: str, base_dir: Path, problems: _Problems) -> str | None:
    from coolpilot.envs.weather import BUNDLED_CLIMATES, EPWError, load_climate

    if text in BUNDLED_CLIMATES:
        return text
    path = _find_path(text, base_dir)
    if path is None:
        problems.add(field, text, f"not a bundled climate ({', '.join(sorted(BUNDLED_CLIMATES))}) nor an EPW file")
        return None
    try:
        load_climate(path)
    except EPWError as err:
        problems.add(field, text, f"invalid weather file: {err}")
        return None
    return str(path)


def read_carbon_profile(path: Path) -> tuple[float, ...]:
    """Hourly grid factors (t CO2e/MWh) from a CSV with a ``t_co2_per_mwh`` column of 24 or 8760 rows.

    Raises :class:`ScenarioFileError` naming the file, line, value, unit and allowed range.
    """
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except OSError as err:
        raise ScenarioFileError(f"{path}: cannot read the carbon profile: {err.strerror}") from None
    header = [h.strip() for h in rows[0]] if rows else []
    if "t_co2_per_mwh" not in header:
        raise ScenarioFileError(f"{path} line 1: a column 't_co2_per_mwh' is needed, header is {header}")
    col = header.index("t_co2_per_mwh")
    values = []
    for i, row in enumerate(rows[1:], start=2):
        if not row or not "".join(row).strip():
            continue
        text = row[col].strip() if col < len(row) else ""
        try:
            v = float(text)
        except ValueError:
            raise ScenarioFileError(f"{path} line {i}: column 't_co2_per_mwh' = {text!r} is not a number "
                                    "(t CO2e/MWh)") from None
        if not (math.isfinite(v) and 0.0 <= v <= 2.0):
            raise ScenarioFileError(f"{path} line {i}: column 't_co2_per_mwh' = {v:g} t CO2e/MWh is outside the "
                                    "allowed range 0..2 t CO2e/MWh")
        values.append(v)
    if len(values) not in (24, 8760):
        raise ScenarioFileError(f"{path}: {len(values)} data rows; a carbon profile has 24 (a day, repeated) or "
                                "8760 (a year, hour by hour)")
    return tuple(values)


def _effective(spec: ScenarioSpec, defaults: ScenarioSpec, name: str) -> tuple[Any, str]:
    """The value of field ``name`` and where it was written ('' for the scenario, 'defaults', 'built-in')."""
    value = getattr(spec, name)
    if value is not None:
        return value, ""
    value = getattr(defaults, name)
    if value is not None:
        return value, "defaults"
    return getattr(_BUILTIN_DEFAULTS, name), "built-in"


def _period(value: Period) -> tuple[float, float, str]:
    return value.start_day, value.days, value.label


def _check_scenario(
    i: int, spec: ScenarioSpec, defaults: ScenarioSpec, base_dir: Path, problems: _Problems,
    facility_cache: dict[tuple[str, str], tuple[str, Any] | None],
) -> Scenario | None:
    """Resolve scenario ``i`` against the defaults and check the facts that need the outside world."""
    ok = True

    def where(field: str) -> str:
        _, origin = _effective(spec, defaults, field.split(".")[0])
        return f"defaults.{field}" if origin == "defaults" else f"scenarios[{i}].{field}"

    def get(field: str) -> Any:
        return _effective(spec, defaults, field)[0]

    name = spec.name or f"scenario-{i + 1}"
    facility_text = get("facility")
    key = (where("facility"), facility_text)
    if key not in facility_cache:
        facility_cache[key] = _check_facility(facility_text, where("facility"), base_dir, problems)
    found = facility_cache[key]
    climate = _check_climate(get("climate"), where("climate"), base_dir, problems)
    ok = found is not None and climate is not None
    start_day, days, label = _period(get("period"))
    load: LoadSpec = get("load")
    outages: Outages = get("outages")
    weather: WeatherShift = get("weather")
    carbon: Carbon = get("carbon")
    if found is not None:
        cfg = found[1]
        for zone in cfg.zones:
            mean = zone.load.utilization_mean * load.level
            if zone.load.trace_csv is None and mean > 1.0:
                problems.add(f"{where('load')}.level", load.level,
                             f"takes zone {zone.name!r}'s mean utilization {zone.load.utilization_mean:g} to "
                             f"{mean:.2f} > 1: a zone cannot run above its design IT power (add IT capacity in a "
                             "facility file instead)")
                ok = False
                break
        if outages.chillers > cfg.chillers_available:
            problems.add(f"{where('outages')}.chillers", outages.chillers,
                         f"more chillers out than the {cfg.chillers_available} in service in {cfg.name}")
            ok = False
        if outages.tower_cells >= cfg.tower_cells:
            problems.add(f"{where('outages')}.tower_cells", outages.tower_cells,
                         f"must leave at least one of the {cfg.tower_cells} tower cells of {cfg.name} in service")
            ok = False
        zones = [z.name for z in cfg.zones]
        seen: set[str] = set()
        for j, crah in enumerate(outages.crahs):
            field = f"{where('outages')}.crahs[{j}].zone"
            if crah.zone not in zones:
                problems.add(field, crah.zone, f"no such zone in {cfg.name} (zones: {', '.join(zones)})")
                ok = False
            elif crah.zone in seen:
                problems.add(field, crah.zone, "zone listed twice; give one share per zone")
                ok = False
            seen.add(crah.zone)
    profile = None
    if carbon.hourly_csv is not None:
        field = f"{where('carbon')}.hourly_csv"
        path = _find_path(carbon.hourly_csv, base_dir)
        if path is None:
            problems.add(field, carbon.hourly_csv, "file not found (relative to the scenario file or the working "
                                                   "directory)")
            ok = False
        else:
            try:
                profile = read_carbon_profile(path)
            except ScenarioFileError as err:
                problems.add(field, carbon.hourly_csv, str(err))
                ok = False
            carbon = carbon.model_copy(update={"hourly_csv": str(path)})
    if carbon.solar_share is not None and climate is not None:
        from coolpilot.envs.grid import GridDataError, solar_carbon_profile_of_climate

        try:
            profile = tuple(solar_carbon_profile_of_climate(climate, carbon.grid_t_co2_per_mwh,
                                                            carbon.solar_share).tolist())
        except GridDataError as err:
            problems.add(f"{where('carbon')}.solar_share", carbon.solar_share, f"cannot be derived from the climate "
                                                                               f"{climate!r}: {err}")
            ok = False
    hw = weather.heat_wave
    if hw is not None:
        end = start_day + days
        overlaps = any(hw.start_day + shift < end and hw.start_day + shift + hw.days > start_day
                       for shift in (0.0, 365.0))
        if not overlaps:
            problems.add(f"{where('weather')}.heat_wave.start_day", hw.start_day,
                         f"the heat wave (days {hw.start_day:g}–{hw.start_day + hw.days:g}) does not overlap the "
                         f"simulated period (days {start_day:g}–{end:g})")
            ok = False
    step_s = float(get("step_s"))
    climate_given = _effective(spec, defaults, "climate")[1] != "built-in"
    history: HistoryRef | None = None
    if get("history") is not None and found is not None and climate is not None:
        checked = _check_history(get("history"), where("history"), where("period"), base_dir, problems, found,
                                 climate if climate_given else None,
                                 None if _effective(spec, defaults, "period")[1] == "built-in" else (start_day, days),
                                 None if _effective(spec, defaults, "step_s")[1] == "built-in" else step_s)
        if checked is None:
            ok = False
        else:
            history, (start_day, days), step_s = checked
            if _effective(spec, defaults, "period")[1] == "built-in":
                label = "history"
        for field, value, default in (("load", load, LoadSpec()), ("weather", weather, WeatherShift())):
            if value != default:
                problems.add(where(field), value.model_dump(), "a scenario with a history runs the site's recorded "
                                                               f"IT load and weather: leave {field} out (it applies "
                                                               "to climate scenarios)")
                ok = False
    if not ok or found is None or climate is None:
        return None
    return Scenario(
        name=name, description=get("description") or "", facility=found[0], climate=climate,
        start_day=start_day, days=days, period_label=label, step_s=step_s, seed=int(get("seed")),
        load=load, limits=get("limits"), outages=outages, weather=weather, tariff=get("tariff"), carbon=carbon,
        carbon_profile=profile, history=history, climate_given=climate_given,
    )


def _check_history(spec: HistorySpec, field: str, period_field: str, base_dir: Path, problems: _Problems,
                   facility: tuple[str, Any],
                   climate: str | None, period: tuple[float, float] | None, step_s: float | None
                   ) -> tuple[HistoryRef, tuple[float, float], float] | None:
    """The history resolved and read (once per process), its period: the one given, which must lie inside the
    history, else the whole history; its step. None (with the problems added) when it cannot run: a period outside
    it, another step, a gap too long to bridge (the period is cut from it as the runs will cut it)."""
    from coolpilot.envs.calibration.history import HistoryError, require_inputs
    from coolpilot.evaluation.recorded import check_period, history_period, load_site_history, site_record

    files = []
    for j, text in enumerate(spec.files):
        path = _find_path(text, base_dir)
        if path is None:
            problems.add(f"{field}.files[{j}]", text, "file not found (relative to the scenario file or the working "
                                                      "directory)")
        else:
            files.append(str(path))
    column_map = None
    if spec.column_map is not None:
        found_map = _find_path(spec.column_map, base_dir)
        if found_map is None:
            problems.add(f"{field}.column_map", spec.column_map, "file not found (relative to the scenario file or the "
                                                                 "working directory)")
            return None
        column_map = str(found_map)
    if len(files) < len(spec.files):
        return None
    ref = HistoryRef(tuple(files), column_map, spec.format, spec.utc_offset_h)
    try:
        history = load_site_history(ref, facility[0], climate)
        require_inputs(history)
    except HistoryError as err:
        problems.add(field, ref.label, f"cannot be used: {err}")
        return None
    start_day, days = period if period is not None else history_period(history)
    why = check_period(history, start_day, days, history.dt_s if step_s is None else step_s)
    if why is not None:
        problems.add(field if period is None else period_field, ref.label, why)
        return None
    try:
        site_record(history, facility[1], start_day, days)
    except HistoryError as err:
        problems.add(field, ref.label, f"cannot run over the period: {err}")
        return None
    return ref, (start_day, days), history.dt_s


def _policy_labels(policies: list[str], base_dir: Path, problems: _Problems) -> dict[str, PolicyRef]:
    refs: dict[str, PolicyRef] = {}
    labels: dict[str, str] = {}
    for j, spec in enumerate(policies):
        ref = _resolve_policy(spec, f"policies[{j}]", base_dir, problems)
        if ref is None:
            continue
        if ref.label in labels:
            problems.add(f"policies[{j}]", spec, f"its name {ref.label!r} is also the name of {labels[ref.label]!r}")
            continue
        labels[ref.label] = spec
        refs[spec] = ref
    return refs


def _check_recorded(policies: list[str], scenarios: list[Scenario], problems: _Problems) -> None:
    """The policy ``recorded`` replays a history: every scenario must have one."""
    if "recorded" not in policies:
        return
    from coolpilot.envs.config import load_facility
    from coolpilot.evaluation.recorded import control_recorded, load_site_history

    field = f"policies[{policies.index('recorded')}]"
    lacking = [sc.name for sc in scenarios if sc.history is None]
    if lacking:
        problems.add(field, "recorded", f"replays a site's recorded setpoints, but scenarios {lacking} have no "
                                        "history: give each a history (its files and column map), or drop recorded")
    for sc in scenarios:
        if sc.history is not None:
            history = load_site_history(sc.history, sc.facility, sc.climate if sc.climate_given else None)
            why = control_recorded(history, load_facility(sc.facility))
            if why is not None:
                problems.add(field, "recorded", f"cannot run in scenario {sc.name!r}: {why}")


def _check_bundles_fit(policies: list[str], refs: dict[str, PolicyRef], scenarios: list[Scenario],
                       problems: _Problems) -> None:
    """Each bundle must fit the contract of every scenario's facility (:func:`coolpilot.envs.contract.bundle_fits`):
    a contract-2 bundle needs its facility's contract exactly, a contract-1 bundle the core block."""
    from coolpilot.controller.policies.onnx_policy import read_card
    from coolpilot.envs.config import load_facility

    for j, spec in enumerate(policies):
        ref = refs.get(spec)
        if ref is None or ref.kind != "bundle":
            continue
        bundle = contract_from_card(read_card(ref.spec), f"{ref.spec}/card.json")
        by_facility: dict[str, list[str]] = {}
        for sc in scenarios:
            by_facility.setdefault(sc.facility, []).append(sc.name)
        for facility, names in by_facility.items():
            cfg = load_facility(facility)
            why = bundle_fits(bundle, cfg.contract, ref.label, cfg.name)
            if why:
                problems.add(f"policies[{j}]", spec, f"cannot run on facility {cfg.name} of scenarios {names}: "
                                                     + "; ".join(why))


def scenario_set_from_mapping(data: Any, source: str = "<mapping>", base_dir: Path | None = None) -> ScenarioSet:
    """Validate a parsed scenario file; relative paths resolve against ``base_dir`` (the file's folder)."""
    base = base_dir or Path.cwd()
    if not isinstance(data, dict):
        raise ScenarioFileError(f"{source}: a scenario file must be a YAML mapping, got {type(data).__name__}")
    typed: list[str] = []
    model: ScenarioFileModel | None = None
    try:
        model = ScenarioFileModel.model_validate(data)
    except ValidationError as err:
        typed = format_validation_error(err, ScenarioFileModel, source, kind="scenario file").splitlines()[1:]
    if model is not None:
        policies, defaults, specs = model.policies, model.defaults, list(enumerate(model.scenarios))
    else:  # check what is well typed on its own too, so one run lists every problem
        policies, defaults, specs = _well_typed_parts(data)
    problems = _Problems()
    if defaults.name is not None:
        problems.add("defaults.name", defaults.name, "a name belongs to one scenario; give it in each scenario")
    refs = _policy_labels(policies, base, problems)
    scenarios: list[Scenario] = []
    cache: dict[tuple[str, str], tuple[str, Any] | None] = {}
    for i, spec in specs:
        resolved = _check_scenario(i, spec, defaults, base, problems, cache)
        if resolved is not None:
            scenarios.append(resolved)
    _check_bundles_fit(policies, refs, scenarios, problems)
    _check_recorded(policies, scenarios, problems)
    raw = data.get("scenarios")
    names: dict[str, int] = {}
    for i, item in enumerate(raw if isinstance(raw, list) else []):
        name = item.get("name") if isinstance(item, dict) else None
        name = name if isinstance(name, str) else f"scenario-{i + 1}"
        if name in names:
            problems.add(f"scenarios[{i}].name", name, f"also the name of scenarios[{names[name]}]")
        names.setdefault(name, i)
    lines = typed + problems.lines
    if lines:
        raise ScenarioFileError("\n".join([f"{source}: {len(lines)} problem(s) in the scenario file:", *lines]))
    assert model is not None
    proposed = model.proposed
    if proposed is None:
        bundles = [p for p in model.policies if refs[p].kind == "bundle"]
        others = [p for p in model.policies if p not in (model.baseline, "oracle", "recorded")]
        rest = [p for p in model.policies if p != model.baseline]
        candidates = bundles or others or rest
        proposed = candidates[0] if candidates else None
    return ScenarioSet(
        source=source, title=model.title, description=model.description,
        policies=tuple(refs[p] for p in model.policies), baseline=refs[model.baseline].label,
        proposed=None if proposed is None else refs[proposed].label, scenarios=tuple(scenarios),
    )


def _well_typed_parts(data: dict[str, Any]) -> tuple[list[str], ScenarioSpec, list[tuple[int, ScenarioSpec]]]:
    """Policies, defaults and scenarios that validate on their own, for the second pass of a bad file."""
    raw = data.get("policies")
    policies = list(dict.fromkeys(p for p in raw if isinstance(p, str))) if isinstance(raw, list) else []
    try:
        defaults = ScenarioSpec.model_validate(data.get("defaults") or {})
    except ValidationError:
        defaults = ScenarioSpec()
    specs = []
    raw_scenarios = data.get("scenarios")
    for i, item in enumerate(raw_scenarios if isinstance(raw_scenarios, list) else []):
        try:
            specs.append((i, ScenarioSpec.model_validate(item)))
        except ValidationError:
            continue
    return policies, defaults, specs


def load_scenarios(path: str | Path) -> ScenarioSet:
    """Read and validate a scenario file (YAML); raises :class:`ScenarioFileError` listing every problem."""
    p = Path(path)
    data = read_yaml(p, "scenario file", ScenarioFileError)
    return scenario_set_from_mapping(data, str(p), p.resolve().parent)


__all__ = [
    "A1_ALLOWABLE_MAX_C", "BUILTIN_POLICIES", "DEFAULT_GRID_FACTOR_T_PER_MWH", "DEFAULT_PRICE_PER_MWH", "SEASONS",
    "Carbon", "CrahOutage", "HeatWave", "HourWindow", "Limits", "LoadSpec", "Outages", "Period", "PolicyRef",
    "Scenario",
    "ScenarioFileError", "ScenarioFileModel", "ScenarioSet", "ScenarioSpec", "SetpointRange", "Tariff",
    "TouWindow", "WeatherShift", "load_scenarios", "read_carbon_profile", "scenario_set_from_mapping",
]
