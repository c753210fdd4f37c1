"""What-if KPIs: one fixed set, with units, for every policy and scenario.

:class:`WhatIfKpis` extends :class:`coolpilot.envs.kpis.Kpis` (energy, PUE, water, inlet temperatures,
free cooling: computed by :func:`coolpilot.envs.kpis.compute_kpis`, named by its vocabulary of energy
components) with what a what-if report adds. Definitions (units in the names):

- **PUE** = facility energy / IT energy over the period and per calendar month (The Green
  Grid, PUE: A Comprehensive Examination of the Metric, WP #49, 2012).
- **Energy** (MWh): facility, IT, and by component: CRAH fans, chillers, tower fans,
  chilled- and condenser-water pumps, distribution (UPS) losses, lighting. *Cooling*
  energy is the plant's: CRAH fans + chillers + tower fans + pumps; *non-IT* energy is
  facility − IT (cooling plus distribution losses and lighting).
- **Water** (m³): tower evaporation + drift + blowdown; **WUE** = site water (L) / IT
  energy (kWh) (The Green Grid, WUE, WP #35, 2011).
- **Carbon** (t CO2e): location-based = Σ facility energy per step × the grid factor of
  that hour (GHG Protocol Scope 2 Guidance, 2015); after green power (market-based) =
  location-based × (1 − green-power share).
- **Cost** (currency): Σ facility energy per step × the tariff price of that hour (a flat price,
  time-of-use windows, a provincial template's period ratios on the flat price, or a BOPTEST
  archetype's hourly price), plus water × the water price when one is given, plus the demand charge:
  each calendar month's peak 15-minute facility power (within the tariff's peak window when it has
  one) × the tariff's rate per kW-month (:func:`monthly_demand_cost`).
- **On-site PV** (:mod:`coolpilot.envs.pv`, behind the meter): PV energy (MWh, the array's AC
  output), self-consumed (used on site), curtailed (surplus without export) or exported, grid
  energy = facility − PV (never below zero without export), self-consumption = self-consumed / PV
  energy (%), solar share = self-consumed / facility energy (%), peak grid power (kW). **PV does not
  change PUE**: PUE is facility / IT energy however the facility is supplied (The Green Grid WP #49).
  Cost (energy and demand charge) and carbon apply to *grid* power; without PV grid = facility.
  With export allowed, exported energy is net-metered: it earns the hour's price and counts at the
  hour's factor.
- **Thermal risk**: degree-hours (K·h) = Σ over steps and zones of the inlet's excess over
  27 °C (ASHRAE recommended) × step hours; also above the scenario's own inlet limit;
  hours with any inlet above; the hottest inlet (°C).
- **Free cooling** (h): hours with the waterside economizer carrying load; *full* free
  cooling: economizer on and no chiller running.
- **Setpoint changes** (actuator wear), over every setpoint of the facility's contract (the
  core four and each plant lever it has, as ``SimResult.series["setpoint_<name>"]`` records
  them): steps where a setpoint, as the plant applied it (clipped to the site's bounds), moves
  from the previous step by more than its deadband (the contract's
  :attr:`coolpilot.envs.contract.SetpointSpec.deadband`, :data:`DEADBANDS`: 0.1 K for the
  temperatures, 0.01 for the fractions and part-load ratios). A discrete setpoint
  (``economizer_enable``) changes when its state (on at ≥ 0.5) changes. A setpoint a policy
  leaves to the plant counts the moves of the plant's own sequence. Per day: over the run's days.
- **Equipment starts** (wear): chiller starts counted by the plant's sequencer (each start
  after its minimum off time), in total and per day.
- **Peak facility power** (kW): the highest 15-minute average of facility power (a sliding
  window of whole steps, :data:`coolpilot.envs.objectives.DEMAND_WINDOW_S`, as the cost
  objective's demand register and most tariffs define peak demand); a run shorter than the
  window gives its mean.
- **Share of the oracle's saving captured** (%) = (E_baseline − E_policy) / (E_baseline −
  E_oracle) of facility energy, when the oracle saves anything over the baseline.
- **Liquid cooling** (:class:`LiquidKpis`, only for a facility with a ``liquid`` section): the hottest GPU
  case and the hours and K·h above the cold plates' case limit; GPU energy shed by throttling (lost
  compute, MWh); the heat the CDUs moved; *trim hours* (hours the trim exchanger passed more than
  :data:`TRIM_THRESHOLD_KW` of facility-water heat to the chilled-water plant) and that heat; the
  facility-water supply's mean and maximum; CDU pump, facility-water pump and dry-cooler fan energy.
- **Heat reuse** (:class:`HeatReuseKpis`, only for a facility with a heat pump): heat delivered to
  district heating (reused, MWh), the demand and the share met, the heat pump's electricity and its
  mean COP (delivered / electricity over the run), ERF and ERE (The Green Grid / ISO/IEC 30134-6),
  heat revenue, net cost and carbon avoided against the displaced heat; boundary in
  :func:`heat_reuse_kpis`.

Hours of the day, weekdays and months come from the middle of each step, in the weather
file's local standard time; day 0 is 1 January and a Monday (as ``coolpilot.envs.load``), months
are those of a 365-day year.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from coolpilot.envs.config import FacilityConfig, HeatReuseConfig, LiquidCoolingConfig
from coolpilot.envs.contract import INLET_LIMIT_C, SETPOINT_SPECS, SetpointSpec
from coolpilot.envs.kpis import Kpis, compute_kpis, water_m3_per_step
from coolpilot.envs.objectives import DEMAND_WINDOW_S, HOURS_PER_YEAR, GridSignals
from coolpilot.envs.simulation import SimResult
from coolpilot.envs.units import SECONDS_PER_DAY, SECONDS_PER_HOUR, kw_to_kwh, kwh_per_kw_step, kwh_to_mwh
from coolpilot.evaluation.scenarios import Carbon, HourWindow, Scenario, Tariff

DEADBANDS: dict[str, float] = {name: spec.deadband for name, spec in SETPOINT_SPECS.items()}
"""Smallest move counted as a setpoint change (setpoint units), every setpoint of every block: the contract's
deadbands (what a BMS's write deadband ignores)."""
MONTH_LABELS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_START_DAY = np.cumsum([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30])
DAYS_PER_YEAR = 365.0
TRIM_THRESHOLD_KW = 1.0
"""Trim heat (kW, step mean) above which a step counts toward the trim hours: a facility's trim exchanger carries
megawatts when it runs, so 1 kW separates running from closed whatever the plant's size."""


@dataclass(frozen=True)
class PeriodKpis:
    """Energy, PUE and water of a month or a day of the run."""

    label: str
    start_day: float
    """Day of the weather year the slice starts (0 = 1 January; may exceed 365 after a wrap)."""
    hours: float
    facility_energy_mwh: float
    it_energy_mwh: float
    pue: float
    water_m3: float


@dataclass(frozen=True)
class LiquidKpis:
    """Liquid-cooling KPIs of a run (cold plates, CDUs, facility water; coolpilot.envs.physics.liquid)."""

    case_limit_c: float
    """The cold plates' case-temperature limit (``liquid.cold_plates.case_limit_c``)."""
    case_temp_max_c: float
    """Hottest GPU module case of the run (step means)."""
    hours_above_case_limit: float
    degree_hours_above_case_limit: float
    """Σ over steps of the hottest case's excess over the limit × step hours (K·h)."""
    throttled_gpu_energy_mwh: float
    """GPU power shed by throttling over the run: lost compute."""
    cdu_heat_mwh: float
    """Heat the CDUs moved into the facility water."""
    trim_hours: float
    """Hours with more than :data:`TRIM_THRESHOLD_KW` of facility-water heat passed to the chilled-water plant."""
    trim_heat_mwh: float
    """Facility-water heat the trim exchanger passed to the chilled-water plant."""
    fws_supply_mean_c: float
    fws_supply_max_c: float
    cdu_pump_energy_mwh: float
    fws_pump_energy_mwh: float
    dry_cooler_fan_energy_mwh: float


@dataclass(frozen=True)
class HeatReuseKpis:
    """Heat-reuse KPIs of a run: the heat pump lifting facility-water heat to district heating (definitions and the
    energy boundary in :func:`heat_reuse_kpis`)."""

    reused_heat_mwh: float
    """Heat delivered to the district-heating network (source heat + heat-pump electricity)."""
    heat_demand_mwh: float
    demand_met_pct: float | None
    """Delivered / demanded heat (%); None without demand."""
    heat_source_mwh: float
    """Heat the heat pump took from the facility water."""
    heat_pump_energy_mwh: float
    heat_pump_cop_mean: float | None
    """Delivered heat / heat-pump electricity over the run; None when the heat pump never ran."""
    total_energy_mwh: float
    """Facility energy + heat-pump electricity: the ERF/ERE boundary."""
    pue_total: float
    """Total energy / IT energy (equals PUE when the heat pump never ran)."""
    erf: float
    """Energy reuse factor = reused heat / total energy."""
    ere: float
    """Energy reuse effectiveness = (total energy − reused heat) / IT energy = (1 − ERF) × ``pue_total``."""
    heat_price_per_mwh: float
    heat_revenue: float
    electricity_cost: float
    """Energy at each hour's price plus the demand charge, metered on facility + heat-pump power (less PV)."""
    net_cost: float
    """Electricity cost + water cost − heat revenue."""
    displaced_kg_per_kwh: float
    carbon_avoided_t_co2e: float
    """Reused heat × the displaced heat's factor."""
    carbon_location_t_co2e: float
    """Location-based carbon of facility + heat-pump electricity."""
    net_carbon_t_co2e: float
    """Location-based carbon of facility + heat pump − carbon avoided."""


@dataclass(frozen=True)
class WhatIfKpis(Kpis):
    """The what-if KPI set of one policy in one scenario.

    :class:`coolpilot.envs.kpis.Kpis` and more; units in the names.
    """

    non_it_energy_mwh: float
    peak_facility_power_kw: float
    carbon_location_t_co2e: float
    carbon_after_green_t_co2e: float
    grid_factor_mean_t_per_mwh: float
    energy_cost: float
    demand_cost: float
    """The demand charge: each calendar month's peak 15-minute power × the tariff's rate per kW-month (0
    without a rate)."""
    water_cost: float | None
    total_cost: float
    currency: str
    inlet_limit_c: float
    degree_hours_above_limit: float
    hours_above_limit: float
    full_free_cooling_hours: float
    setpoint_changes: dict[str, int]
    """Changes per setpoint of the facility's contract, in its order."""
    setpoint_changes_total: int
    setpoint_changes_per_day: float
    chiller_starts: float
    chiller_starts_per_day: float
    grid_energy_mwh: float
    """Energy through the grid meter: facility − PV (= facility without PV; negative steps are export)."""
    peak_grid_power_kw: float
    """Highest 15-minute average of grid power (kW): what the demand charge bills."""
    pv_energy_mwh: float
    """AC energy of the on-site PV array (0 without one)."""
    pv_self_consumed_mwh: float
    """PV energy used on site (PV less curtailed and exported)."""
    pv_curtailed_mwh: float
    """PV surplus over the facility's power, thrown away without export."""
    pv_exported_mwh: float
    """PV surplus sent to the grid with export allowed."""
    pv_self_consumption_pct: float | None
    """Self-consumed / PV energy (%); None without PV."""
    pv_share_of_facility_pct: float
    """Self-consumed PV / facility energy (%): the share of the facility's energy the sun supplied."""
    monthly: list[PeriodKpis]
    daily: list[PeriodKpis]
    liquid: LiquidKpis | None = None
    """Liquid-cooling KPIs; None (absent from :meth:`as_dict`) for a facility without liquid cooling."""
    heat_reuse: HeatReuseKpis | None = None
    """Heat-reuse KPIs; None (absent from :meth:`as_dict`) for a facility without a heat pump."""

    @property
    def thermal_ok(self) -> bool:
        """No inlet above the scenario's inlet limit at any step, nor (liquid cooling) a GPU case above its limit."""
        case_ok = self.liquid is None or self.liquid.degree_hours_above_case_limit == 0.0
        return self.degree_hours_above_limit == 0.0 and case_ok

    def as_dict(self) -> dict[str, object]:
        """Plain mapping for JSON (``thermal_ok`` included; ``liquid`` and ``heat_reuse`` only when present)."""
        out = {**asdict(self), "thermal_ok": self.thermal_ok}
        for block in OPTIONAL_BLOCKS:
            if out[block] is None:
                del out[block]
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> WhatIfKpis:
        """The KPIs back from :meth:`as_dict`'s mapping (a ``results.json`` run's ``kpis``)."""
        values = {k: v for k, v in d.items() if k != "thermal_ok"}
        for name in ("monthly", "daily"):
            values[name] = [PeriodKpis(**m) for m in d[name]]
        for block, kind in OPTIONAL_BLOCKS.items():
            if values.get(block) is not None:
                values[block] = kind(**values[block])
        return cls(**values)


OPTIONAL_BLOCKS: dict[str, type[LiquidKpis] | type[HeatReuseKpis]] = {"liquid": LiquidKpis,
                                                                       "heat_reuse": HeatReuseKpis}
"""KPI groups of :class:`WhatIfKpis` that only a facility with that equipment has, and their classes."""


def step_midpoints_s(result: SimResult) -> np.ndarray:
    """Middle of each recorded step (s since 1 January 00:00); ``time_s`` marks a step's end."""
    return np.asarray(result.series["time_s"], dtype=np.float64) - 0.5 * result.dt_s


def _hour_of_day(t_s: np.ndarray) -> np.ndarray:
    return np.mod(t_s, SECONDS_PER_DAY) / SECONDS_PER_HOUR


def _month_index(t_s: np.ndarray) -> np.ndarray:
    """Month 0..11 of a 365-day year."""
    day = np.mod(np.floor(t_s / SECONDS_PER_DAY), DAYS_PER_YEAR)
    return np.searchsorted(_MONTH_START_DAY, day, side="right") - 1


def step_prices(tariff: Tariff, t_s: np.ndarray) -> np.ndarray:
    """Energy price (currency/MWh) at times ``t_s``.

    With a provincial template: the flat price × (1 − tou_share + tou_share × the template's ratio of the
    hour's period in that month), every day of the week. Otherwise the first matching time-of-use window,
    else the flat price.
    """
    if tariff.archetype is not None:
        from coolpilot.envs.grid import archetype_prices_per_mwh

        hourly = archetype_prices_per_mwh(tariff.archetype, tariff.price_per_mwh)
        return hourly[np.mod(np.floor(t_s / SECONDS_PER_HOUR).astype(np.int64), HOURS_PER_YEAR)]
    if tariff.template is not None:
        from coolpilot.envs.grid import HOUR_RESOLUTION_H, tariff_template

        table = np.asarray(tariff_template(tariff.template).ratio_table(), dtype=np.float64)
        slot = np.minimum((_hour_of_day(t_s) / HOUR_RESOLUTION_H).astype(np.int64), table.shape[1] - 1)
        ratio = table[_month_index(t_s), slot]
        return tariff.price_per_mwh * (1.0 - tariff.tou_share + tariff.tou_share * ratio)
    price = np.full(t_s.shape, tariff.price_per_mwh)
    taken = np.zeros(t_s.shape, dtype=bool)
    for w in tariff.time_of_use:
        inside = in_window(w, t_s) & ~taken
        price[inside] = w.price_per_mwh
        taken |= inside
    return price


def in_window(window: HourWindow, t_s: np.ndarray) -> np.ndarray:
    """Whether each time ``t_s`` lies in ``window`` (its hours, wrapping midnight; weekdays; months)."""
    hour = _hour_of_day(t_s)
    if window.start_hour < window.end_hour:
        inside = (hour >= window.start_hour) & (hour < window.end_hour)
    else:
        inside = (hour >= window.start_hour) | (hour < window.end_hour)
    if window.weekdays_only:
        inside &= np.mod(np.floor(t_s / SECONDS_PER_DAY), 7) < 5
    if window.months is not None:
        inside &= np.isin(_month_index(t_s) + 1, window.months)
    return inside


def demand_counted(tariff: Tariff, t_s: np.ndarray) -> np.ndarray | None:
    """Whether each time's power counts toward the demand charge's peak: in the tariff's peak window (None without
    one: every time counts)."""
    return None if tariff.demand_window is None else in_window(tariff.demand_window, t_s)


def it_load_cost(result: SimResult, tariff: Tariff) -> tuple[float, float]:
    """What the IT load alone would cost at ``tariff``: (its energy at each hour's price, the demand charge on its
    own monthly peak 15-minute power, within the tariff's peak window if it has one).

    A run's total cost minus this is its **non-IT cost**: what the cooling plant and the electrical overheads add,
    the part a cooling controller can change.
    """
    t = step_midpoints_s(result)
    it_kw = np.asarray(result.series["it_power_kw"], dtype=np.float64)
    energy = float((it_kw * result.dt_s / 3.6e6 * step_prices(tariff, t)).sum())
    demand = monthly_demand_cost(it_kw, t, result.dt_s, tariff.demand_charge_per_kw_month or 0.0,
                                 demand_counted(tariff, t))
    return energy, demand


def it_load_carbon(result: SimResult, carbon: Carbon, carbon_profile: tuple[float, ...] | None = None) -> float:
    """Location-based carbon of the IT load alone (t CO2e): its energy at each hour's grid factor.

    A run's location-based carbon minus this is its **non-IT carbon**: what the cooling plant and the
    electrical overheads emit, the part a cooling controller can change (the carbon counterpart of
    :func:`it_load_cost`).
    """
    it_kw = np.asarray(result.series["it_power_kw"], dtype=np.float64)
    factors = step_grid_factors(carbon, carbon_profile, step_midpoints_s(result))
    return float((it_kw * result.dt_s / 3.6e6 * factors).sum())


def monthly_demand_cost(power_kw: np.ndarray, t_s: np.ndarray, dt_s: float, rate_per_kw_month: float,
                        counted: np.ndarray | None = None) -> float:
    """Σ over the calendar months of the run of the month's peak 15-minute power (kW) × the rate.

    With ``counted`` (a peak window, :func:`demand_counted`) only the 15-minute averages that end in a
    counted step set a month's peak; a month with none pays nothing.
    """
    if rate_per_kw_month <= 0.0 or len(power_kw) == 0:
        return 0.0
    month = _month_index(t_s)
    total = 0.0
    for m in np.unique(month):
        sel = month == m
        total += peak_demand_kw(power_kw[sel], dt_s, counted=None if counted is None else counted[sel]) \
            * rate_per_kw_month
    return float(total)


def grid_signals(tariff: Tariff, carbon: Carbon, profile: tuple[float, ...] | None = None, *,
                 climate: str | None = None, seed: int = 0) -> GridSignals:
    """The simulator's grid signals (an hourly year of price and carbon) from a scenario's tariff and carbon.

    Training (``env.tariff``/``env.carbon`` of a training config) and the what-if KPIs then price the
    same thing: each hour's price and factor at its midpoint, by :func:`step_prices` and
    :func:`step_grid_factors`, the tariff's demand rate and peak window, and the forecast
    uncertainty levels of both, their errors drawn from ``seed``. A carbon with ``solar_share`` and no
    ``profile`` derives its profile from ``climate`` (a bundled name or an EPW path).
    """
    if profile is None and carbon.solar_share is not None:
        if climate is None:
            raise ValueError(f"carbon.solar_share = {carbon.solar_share:g}: the solar-heavy grid's profile is derived "
                             "from a climate's irradiance; give the climate (or the derived profile)")
        from coolpilot.envs.grid import solar_carbon_profile_of_climate

        profile = tuple(solar_carbon_profile_of_climate(climate, carbon.grid_t_co2_per_mwh,
                                                        carbon.solar_share).tolist())
    mid = (np.arange(HOURS_PER_YEAR, dtype=np.float64) + 0.5) * SECONDS_PER_HOUR
    source = (f"BOPTEST {tariff.archetype}" if tariff.archetype else tariff.template
              or ("time-of-use" if tariff.time_of_use else "flat"))
    return GridSignals(step_prices(tariff, mid), step_grid_factors(carbon, profile, mid),
                       demand_charge_per_kw_month=tariff.demand_charge_per_kw_month or 0.0, currency=tariff.currency,
                       source=source, demand_hours=demand_counted(tariff, mid),
                       price_forecast=tariff.forecast_uncertainty, carbon_forecast=carbon.forecast_uncertainty,
                       forecast_seed=seed)


def scenario_signals(sc: Scenario) -> GridSignals:
    """The grid signals of a resolved what-if scenario: its tariff, its carbon (with the profile read or derived at
    load), its forecast levels drawn from the scenario's seed. Feed them to ``simulate(signals=...)`` so a policy's
    price and carbon points are the scenario's."""
    return grid_signals(sc.tariff, sc.carbon, sc.carbon_profile, climate=sc.climate, seed=sc.seed)


def step_grid_factors(carbon: Carbon, profile: tuple[float, ...] | None, t_s: np.ndarray) -> np.ndarray:
    """Grid emission factor (t CO2e/MWh) at times ``t_s``: the hourly profile (24 or 8760 values) or the constant."""
    if profile is None:
        return np.full(t_s.shape, carbon.grid_t_co2_per_mwh)
    values = np.asarray(profile, dtype=np.float64)
    hour = np.floor(t_s / SECONDS_PER_HOUR).astype(np.int64)
    return values[np.mod(hour, len(values))]


def recorded_setpoints(result: SimResult) -> tuple[str, ...]:
    """The setpoints a run recorded (its ``setpoint_<name>`` series: its facility contract's setpoints, in order)."""
    return tuple(key.removeprefix("setpoint_") for key in result.series if key.startswith("setpoint_"))


def _spec(name: str) -> SetpointSpec:
    spec = SETPOINT_SPECS.get(name)
    if spec is None:
        raise KeyError(f"setpoint {name!r} is not a setpoint of any equipment block ({sorted(SETPOINT_SPECS)})")
    return spec


def setpoint_changes(applied: np.ndarray, names: tuple[str, ...]) -> dict[str, int]:
    """Per setpoint, the steps that change it (module docstring); ``applied`` is (T, K), columns named by ``names``."""
    out = {}
    for j, name in enumerate(names):
        spec = _spec(name)
        column = applied[:, j]
        if spec.discrete:
            on = column >= 0.5
            out[name] = int((on[1:] != on[:-1]).sum())
        else:
            out[name] = int((np.abs(np.diff(column)) > spec.deadband).sum())
    return out


def applied_setpoints(result: SimResult, bounds: Mapping[str, tuple[float, float]],
                      names: tuple[str, ...] | None = None) -> np.ndarray:
    """Commanded setpoints (T, K) clipped to the site's bounds: what the plant applied.

    ``names`` default to every setpoint the run recorded (:func:`recorded_setpoints`).
    """
    cols = []
    for name in recorded_setpoints(result) if names is None else names:
        low, high = bounds.get(name, (-np.inf, np.inf))
        cols.append(np.clip(result.series[f"setpoint_{name}"], low, high))
    return np.stack(cols, axis=1)


def peak_demand_kw(power_kw: np.ndarray, dt_s: float, window_s: float = DEMAND_WINDOW_S,
                   counted: np.ndarray | None = None) -> float:
    """Highest average of ``power_kw`` (step means, kW) over a sliding window of ``window_s`` (whole steps, at least
    one); a series shorter than the window gives its mean. With ``counted`` (one boolean per step), only the
    averages ending at a counted step (0 when none is)."""
    p = np.asarray(power_kw, dtype=np.float64)
    width = min(max(round(window_s / dt_s), 1), len(p))
    sums = np.cumsum(np.concatenate(([0.0], p)))
    means = (sums[width:] - sums[:-width]) / width
    if counted is not None:
        means = means[np.asarray(counted, dtype=bool)[width - 1:]]
        if means.size == 0:
            return 0.0
    return float(means.max())


def _slices(label_keys: np.ndarray, labels: list[str], starts: list[float], result: SimResult, h: float,
            water: np.ndarray) -> list[PeriodKpis]:
    s = result.series
    out = []
    for key, (label, start) in enumerate(zip(labels, starts, strict=True)):
        sel = label_keys == key
        facility = float(s["facility_kw"][sel].sum() * h / 1000.0)
        it = float(s["it_power_kw"][sel].sum() * h / 1000.0)
        out.append(PeriodKpis(label, start, float(sel.sum() * h), facility, it, facility / it if it > 0 else
                              float("nan"), float(water[sel].sum())))
    return out


def _group(keys: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Consecutive-run ids of ``keys`` (in order of first appearance) and the first index of each run."""
    change = np.concatenate(([True], keys[1:] != keys[:-1]))
    ids = np.cumsum(change) - 1
    return ids, list(np.flatnonzero(change))


def monthly_and_daily(result: SimResult, water: np.ndarray) -> tuple[list[PeriodKpis], list[PeriodKpis]]:
    """Energy, PUE and water per calendar month and per day, in the order simulated."""
    t = step_midpoints_s(result)
    h = result.dt_s / SECONDS_PER_HOUR
    year = np.floor(t / (DAYS_PER_YEAR * SECONDS_PER_DAY))
    month = _month_index(t)
    month_ids, month_first = _group(year * 12 + month)
    month_labels = [MONTH_LABELS[int(month[i])] for i in month_first]
    month_starts = [float(np.floor(t[i] / SECONDS_PER_DAY)) for i in month_first]
    day = np.floor(t / SECONDS_PER_DAY)
    day_ids, day_first = _group(day)
    day_labels = [f"day {int(day[i]) % 365}" for i in day_first]
    day_starts = [float(day[i]) for i in day_first]
    return (_slices(month_ids, month_labels, month_starts, result, h, water),
            _slices(day_ids, day_labels, day_starts, result, h, water))


def _energy_mwh(power_kw: np.ndarray, dt_s: float) -> float:
    """Energy (MWh) of a series of step-mean powers (kW) of ``dt_s`` seconds each."""
    return kwh_to_mwh(kw_to_kwh(float(np.sum(power_kw)), dt_s))


def liquid_kpis(result: SimResult, liquid: LiquidCoolingConfig) -> LiquidKpis:
    """The liquid-cooling KPIs of a run of a facility with cold plates (definitions on :class:`LiquidKpis`)."""
    s = result.series
    h = result.dt_s / SECONDS_PER_HOUR
    limit = liquid.cold_plates.case_limit_c
    case_excess = np.maximum(s["case_temp_max_c"] - limit, 0.0)
    return LiquidKpis(
        case_limit_c=limit,
        case_temp_max_c=float(s["case_temp_max_c"].max()),
        hours_above_case_limit=float((case_excess > 0.0).sum() * h),
        degree_hours_above_case_limit=float(case_excess.sum() * h),
        throttled_gpu_energy_mwh=_energy_mwh(s["gpu_throttled_kw"], result.dt_s),
        cdu_heat_mwh=_energy_mwh(s["liquid_heat_kw"], result.dt_s),
        trim_hours=float((s["trim_kw"] > TRIM_THRESHOLD_KW).sum() * h),
        trim_heat_mwh=_energy_mwh(s["trim_kw"], result.dt_s),
        fws_supply_mean_c=float(s["fws_supply_c"].mean()),
        fws_supply_max_c=float(s["fws_supply_c"].max()),
        cdu_pump_energy_mwh=_energy_mwh(s["cdu_pump_kw"], result.dt_s),
        fws_pump_energy_mwh=_energy_mwh(s["fws_pump_kw"], result.dt_s),
        dry_cooler_fan_energy_mwh=_energy_mwh(s["dry_cooler_fan_kw"], result.dt_s),
    )


def heat_reuse_kpis(result: SimResult, heat_reuse: HeatReuseConfig, *, tariff: Tariff, carbon: Carbon,
                    carbon_profile: tuple[float, ...] | None = None, water_cost: float | None = None
                    ) -> HeatReuseKpis:
    """The heat-reuse KPIs of a run of a facility with a heat pump.

    **Boundary.** The heat pump is heat-export plant: the simulator keeps its electricity out of facility power
    (and so out of PUE). ERF and ERE (The Green Grid, *ERE: a metric for measuring the benefit of reuse energy
    from a data center*, WP #29, 2010; ISO/IEC 30134-6:2021) are taken over the **total energy** = facility energy
    + heat-pump electricity, and the **reused energy** is the heat delivered to the district-heating network
    (the facility water's heat plus the heat pump's electricity, which ends up in the delivered water too):

    - ERF = reused / total; ERE = (total − reused) / IT = (1 − ERF) × total / IT, the identity PHYSICS.md section 11
      states with PUE read on the same boundary (``pue_total``; it equals the PUE KPI when the pump is off).

    Counting the pump's electricity in the total keeps ERE honest: lifting heat costs electricity, and a heat pump
    that delivered only its own electricity as heat would leave ERE where PUE was, not below it. A heat pump that
    never ran gives ERF = 0 and ERE = PUE.

    **Money and carbon.** The heat pump is on the facility's meter: electricity cost = energy at each hour's price
    (:func:`step_prices`) plus the demand charge (:func:`monthly_demand_cost`), both on facility + heat-pump power
    (less on-site PV, as the simulator meters it); heat revenue = reused heat × ``heat_reuse.price_per_mwh``; net
    cost = electricity cost + ``water_cost`` − revenue. Carbon avoided = reused heat × ``displaced_kg_per_kwh`` (the
    heat source the network would otherwise burn; default a gas boiler); net carbon = the location-based carbon of
    facility + heat-pump electricity (:func:`step_grid_factors`) − carbon avoided.
    """
    s = result.series
    dt = result.dt_s
    t = step_midpoints_s(result)
    meter_kw = s["grid_kw"] if "pv_kw" in s else s["facility_kw"] + s["heat_pump_kw"]
    meter_mwh = meter_kw * kwh_to_mwh(kwh_per_kw_step(dt))
    electricity_cost = float((meter_mwh * step_prices(tariff, t)).sum()) + monthly_demand_cost(
        meter_kw, t, dt, tariff.demand_charge_per_kw_month or 0.0, demand_counted(tariff, t))
    location = float((meter_mwh * step_grid_factors(carbon, carbon_profile, t)).sum())
    reused = _energy_mwh(s["heat_reused_kw"], dt)
    demand = _energy_mwh(s["heat_demand_kw"], dt)
    pump = _energy_mwh(s["heat_pump_kw"], dt)
    total = _energy_mwh(s["facility_kw"], dt) + pump
    it = _energy_mwh(s["it_power_kw"], dt)
    revenue = reused * heat_reuse.price_per_mwh
    avoided = reused * heat_reuse.displaced_kg_per_kwh  # kg/kWh = t/MWh
    return HeatReuseKpis(
        reused_heat_mwh=reused,
        heat_demand_mwh=demand,
        demand_met_pct=100.0 * reused / demand if demand > 0.0 else None,
        heat_source_mwh=_energy_mwh(s["heat_source_kw"], dt),
        heat_pump_energy_mwh=pump,
        heat_pump_cop_mean=reused / pump if pump > 0.0 else None,
        total_energy_mwh=total,
        pue_total=total / it,
        erf=reused / total,
        ere=(total - reused) / it,
        heat_price_per_mwh=heat_reuse.price_per_mwh,
        heat_revenue=revenue,
        electricity_cost=electricity_cost,
        net_cost=electricity_cost + (water_cost or 0.0) - revenue,
        displaced_kg_per_kwh=heat_reuse.displaced_kg_per_kwh,
        carbon_avoided_t_co2e=avoided,
        carbon_location_t_co2e=location,
        net_carbon_t_co2e=location - avoided,
    )


def compute_whatif_kpis(
    result: SimResult,
    *,
    tariff: Tariff,
    carbon: Carbon,
    carbon_profile: tuple[float, ...] | None = None,
    inlet_limit_c: float = INLET_LIMIT_C,
    setpoint_bounds: Mapping[str, tuple[float, float]] | None = None,
    facility: FacilityConfig | None = None,
) -> WhatIfKpis:
    """The what-if KPI set of one simulation result (definitions in the module docstring).

    ``facility`` (the run's config) adds the liquid-cooling KPIs of a facility with a ``liquid`` section and the
    heat-reuse KPIs of one with a heat pump (:func:`liquid_kpis`, :func:`heat_reuse_kpis`); without it, or for a
    facility without that equipment, they are None.
    """
    base = compute_kpis(result)
    s = result.series
    h = result.dt_s / SECONDS_PER_HOUR
    t = step_midpoints_s(result)
    pv_kw = s.get("pv_kw")
    grid_kw = s["facility_kw"] if pv_kw is None else s["grid_kw"]
    curtailed_kw = None if pv_kw is None else s["pv_curtailed_kw"]
    step_mwh = grid_kw * h / 1000.0
    factors = step_grid_factors(carbon, carbon_profile, t)
    location = float((step_mwh * factors).sum())
    energy_cost = float((step_mwh * step_prices(tariff, t)).sum())
    water_cost = None if tariff.water_price_per_m3 is None else base.water_m3 * tariff.water_price_per_m3
    demand_cost = monthly_demand_cost(grid_kw, t, result.dt_s, tariff.demand_charge_per_kw_month or 0.0,
                                      demand_counted(tariff, t))
    excess_limit = np.maximum(result.zone_inlet_c - inlet_limit_c, 0.0)
    names = recorded_setpoints(result)
    changes = setpoint_changes(applied_setpoints(result, setpoint_bounds or {}, names), names)
    starts = float(s["chiller_starts"].sum())
    economizer = s["economizer_kw"] > 0.0
    monthly, daily = monthly_and_daily(result, water_m3_per_step(result))
    grid_mwh = float(step_mwh.sum())
    pv_mwh = 0.0 if pv_kw is None else float(pv_kw.sum() * h / 1000.0)
    curtailed_mwh = 0.0 if curtailed_kw is None else float(curtailed_kw.sum() * h / 1000.0)
    exported_mwh = float(np.maximum(-grid_kw, 0.0).sum() * h / 1000.0)
    self_consumed_mwh = pv_mwh - curtailed_mwh - exported_mwh
    return WhatIfKpis(
        **{f.name: getattr(base, f.name) for f in fields(Kpis)},
        non_it_energy_mwh=base.facility_energy_mwh - base.it_energy_mwh,
        peak_facility_power_kw=peak_demand_kw(s["facility_kw"], result.dt_s),
        carbon_location_t_co2e=location,
        carbon_after_green_t_co2e=location * (1.0 - carbon.green_power_share),
        grid_factor_mean_t_per_mwh=location / grid_mwh if grid_mwh > 0.0 else float("nan"),
        energy_cost=energy_cost,
        demand_cost=demand_cost,
        water_cost=water_cost,
        total_cost=energy_cost + demand_cost + (water_cost or 0.0),
        currency=tariff.currency,
        inlet_limit_c=inlet_limit_c,
        degree_hours_above_limit=float(excess_limit.sum() * h),
        hours_above_limit=float((excess_limit.max(axis=1) > 0.0).sum() * h),
        full_free_cooling_hours=float((economizer & (s["chillers_running"] <= 0.0)).sum() * h),
        setpoint_changes=changes,
        setpoint_changes_total=sum(changes.values()),
        setpoint_changes_per_day=sum(changes.values()) / base.days,
        chiller_starts=starts,
        chiller_starts_per_day=starts / base.days,
        grid_energy_mwh=grid_mwh,
        peak_grid_power_kw=peak_demand_kw(grid_kw, result.dt_s),
        pv_energy_mwh=pv_mwh,
        pv_self_consumed_mwh=self_consumed_mwh,
        pv_curtailed_mwh=curtailed_mwh,
        pv_exported_mwh=exported_mwh,
        pv_self_consumption_pct=100.0 * self_consumed_mwh / pv_mwh if pv_mwh > 0.0 else None,
        pv_share_of_facility_pct=100.0 * self_consumed_mwh / base.facility_energy_mwh,
        monthly=monthly,
        daily=daily,
        liquid=None if facility is None or facility.liquid is None else liquid_kpis(result, facility.liquid),
        heat_reuse=None if facility is None or not facility.heat_reuse.installed else heat_reuse_kpis(
            result, facility.heat_reuse, tariff=tariff, carbon=carbon, carbon_profile=carbon_profile,
            water_cost=water_cost),
    )


@dataclass(frozen=True)
class Savings:
    """What a policy saves against a reference policy in one scenario (positive = less than the reference)."""

    reference: str
    policy: str
    facility_energy_mwh: float
    facility_energy_pct: float
    cooling_energy_mwh: float
    cooling_energy_pct: float
    carbon_location_t_co2e: float
    carbon_after_green_t_co2e: float
    cost: float
    water_m3: float
    pue_before: float
    pue_after: float
    share_of_oracle_saving_pct: float | None
    """Share of the oracle's facility-energy saving over the reference captured (None without an oracle, or when
    the oracle saves nothing over the reference)."""
    thermal_ok: bool
    """The policy kept every inlet at or below the scenario's limit; when False its saving is not a valid one."""

    def as_dict(self) -> dict[str, object]:
        """Plain mapping for JSON."""
        return asdict(self)


def _pct(saved: float, reference: float) -> float:
    return 100.0 * saved / reference if reference > 0.0 else float("nan")


def savings(reference: WhatIfKpis, candidate: WhatIfKpis, oracle: WhatIfKpis | None = None, *,
            reference_name: str = "baseline", policy_name: str = "policy") -> Savings:
    """Savings of ``candidate`` against ``reference``, and its share of the ``oracle``'s saving."""
    saved = reference.facility_energy_mwh - candidate.facility_energy_mwh
    cooling = reference.cooling_energy_mwh - candidate.cooling_energy_mwh
    share = None
    if oracle is not None:
        ceiling = reference.facility_energy_mwh - oracle.facility_energy_mwh
        share = 100.0 * saved / ceiling if ceiling > 0.0 else None
    return Savings(
        reference=reference_name,
        policy=policy_name,
        facility_energy_mwh=saved,
        facility_energy_pct=_pct(saved, reference.facility_energy_mwh),
        cooling_energy_mwh=cooling,
        cooling_energy_pct=_pct(cooling, reference.cooling_energy_mwh),
        carbon_location_t_co2e=reference.carbon_location_t_co2e - candidate.carbon_location_t_co2e,
        carbon_after_green_t_co2e=reference.carbon_after_green_t_co2e - candidate.carbon_after_green_t_co2e,
        cost=reference.total_cost - candidate.total_cost,
        water_m3=reference.water_m3 - candidate.water_m3,
        pue_before=reference.pue,
        pue_after=candidate.pue,
        share_of_oracle_saving_pct=share,
        thermal_ok=candidate.thermal_ok,
    )


__all__ = [
    "DEADBANDS", "OPTIONAL_BLOCKS", "TRIM_THRESHOLD_KW", "HeatReuseKpis", "LiquidKpis", "PeriodKpis", "Savings",
    "WhatIfKpis", "applied_setpoints", "compute_whatif_kpis", "demand_counted", "grid_signals", "heat_reuse_kpis",
    "in_window", "it_load_carbon", "it_load_cost", "liquid_kpis",
    "monthly_and_daily",
    "monthly_demand_cost",
    "peak_demand_kw", "recorded_setpoints", "savings", "scenario_signals", "setpoint_changes",
    "step_grid_factors", "step_midpoints_s", "step_prices",
]
