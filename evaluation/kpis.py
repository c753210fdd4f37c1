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

Hours of the day, weekdays and months come from the middle of each step, in the weather
file's local standard time; day 0 is 1 January and a Monday (as ``coolpilot.envs.load``), months
are those of a 365-day year.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

import numpy as np

from coolpilot.envs.contract import INLET_LIMIT_C, SETPOINT_SPECS, SetpointSpec
from coolpilot.envs.kpis import Kpis, compute_kpis, water_m3_per_step
from coolpilot.envs.objectives import DEMAND_WINDOW_S, HOURS_PER_YEAR, GridSignals
from coolpilot.envs.simulation import SimResult
from coolpilot.envs.units import SECONDS_PER_DAY, SECONDS_PER_HOUR
from coolpilot.evaluation.scenarios import Carbon, HourWindow, Scenario, Tariff

DEADBANDS: dict[str, float] = {name: spec.deadband for name, spec in SETPOINT_SPECS.items()}
"""Smallest move counted as a setpoint change (setpoint units), every setpoint of every block: the contract's
deadbands (what a BMS's write deadband ignores)."""
MONTH_LABELS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_START_DAY = np.cumsum([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30])
DAYS_PER_YEAR = 365.0


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

    @property
    def thermal_ok(self) -> bool:
        """No inlet above the scenario's inlet limit at any step."""
        return self.degree_hours_above_limit == 0.0

    def as_dict(self) -> dict[str, object]:
        """Plain mapping for JSON (``thermal_ok`` included)."""
        return {**asdict(self), "thermal_ok": self.thermal_ok}


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


def compute_whatif_kpis(
    result: SimResult,
    *,
    tariff: Tariff,
    carbon: Carbon,
    carbon_profile: tuple[float, ...] | None = None,
    inlet_limit_c: float = INLET_LIMIT_C,
    setpoint_bounds: Mapping[str, tuple[float, float]] | None = None,
) -> WhatIfKpis:
    """The what-if KPI set of one simulation result (definitions in the module docstring)."""
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
    "DEADBANDS", "PeriodKpis", "Savings", "WhatIfKpis", "applied_setpoints",
    "compute_whatif_kpis", "demand_counted", "grid_signals", "in_window", "it_load_cost", "monthly_and_daily",
    "monthly_demand_cost",
    "peak_demand_kw", "recorded_setpoints", "savings", "scenario_signals", "setpoint_changes",
    "step_grid_factors", "step_midpoints_s", "step_prices",
]
