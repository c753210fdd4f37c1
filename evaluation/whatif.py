"""Run policies × scenarios of a scenario file in parallel local processes, and collect the results.

Each (scenario, policy) pair is one job: build the scenario's facility (load growth and
equipment outages applied to a copy of its config), its weather (the climate shifted by
the scenario's offset and heat wave), the policy (commissioned with the site's limits),
simulate with the scenario's seed on the same physics as every other caller
(:func:`coolpilot.envs.simulation.simulate`), then reduce the run to its KPIs
(:mod:`coolpilot.evaluation.kpis`) and the small series the report plots. A job depends only on
its inputs, so results are identical, bit for bit, whether the jobs run in this process
or in several (tested); jobs are merely scheduled longest first.

Outages and setpoint limits without a facility-file field act on the plant arrays:
tower cells out of service are removed from ``PlantParams.tower_cells`` (each remaining
cell keeps its design flow and fan), and the site's setpoint ranges (the core setpoints and
the plant's levers) replace the bounds that the actuators clamp to (as a BMS clamps writes),
so the oracle's look-ahead faces the same limits. Every setpoint of the facility's contract is
recorded, counted in the KPIs and plotted; so are the plant's response to its levers
(chillers and tower cells running, chilled- and condenser-water flow) and, for a facility with
that equipment, a storage tank's state, liquid cooling's case and facility-water temperatures and
trim, and the heat a heat pump delivers.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np
from tqdm import tqdm

from coolpilot import __version__
from coolpilot.controller.policies import LegacyPolicy, RuleBasedPolicy, RuleBasedSettings
from coolpilot.controller.policies.rule_based import rule_based_settings, storage_rates
from coolpilot.envs.config import FacilityConfig, load_facility
from coolpilot.envs.contract import INLET_LIMIT_C, LEVERS, SETPOINTS_BY_NAME
from coolpilot.envs.facility import build_params
from coolpilot.envs.physics.plant import PlantParams
from coolpilot.envs.simulation import PlantAwarePolicy, Policy, SimResult, simulate, write_csv
from coolpilot.envs.units import SECONDS_PER_DAY, SECONDS_PER_HOUR
from coolpilot.envs.weather import Weather, load_climate, wet_bulb_c
from coolpilot.evaluation.kpis import (
    WhatIfKpis,
    applied_setpoints,
    compute_whatif_kpis,
    recorded_setpoints,
    savings,
    scenario_signals,
    step_prices,
)
from coolpilot.evaluation.oracle import OraclePolicy, planning_horizon_h
from coolpilot.evaluation.policies import make_policy
from coolpilot.evaluation.recorded import (
    RecordedPolicy,
    SiteRecord,
    load_site_history,
    metered_comparison,
    site_record,
)
from coolpilot.evaluation.scenarios import Limits, PolicyRef, Scenario, ScenarioSet, Tariff, WeatherShift

logger = logging.getLogger(__name__)

ORACLE_MARGIN_K = 0.2
"""The oracle plans to this margin under the scenario's inlet limit (its default under 27 °C)."""
MAGNUS_A = 17.625
MAGNUS_B_C = 243.04
"""Magnus dew-point coefficients (Alduchov & Eskridge 1996, J. Appl. Meteor. 35:601), for −40…50 °C."""
HIST_EDGES_C = np.arange(14.0, 40.01, 0.5)
"""Bins of the hottest-inlet distribution (°C); hours below and above go to the end bins."""
RELATIVE_COST = {"oracle": 12.0, "bundle": 1.3, "rule-based": 1.0, "legacy": 1.0, "recorded": 1.0}
"""Wall time per simulated day relative to rule-based (measured): orders jobs and weights the progress bar."""
PLANT_SERIES = ("chillers_running", "tower_cells_running", "chw_flow_frac", "cw_flow_frac")
"""Recorded series of the plant's response to its levers that the report plots beside the setpoints."""
STORAGE_SERIES = ("tes_soc", "tes_discharge_kw")
"""Recorded series of a storage tank the report plots for a facility with one: state of charge, cold delivered."""
LIQUID_SERIES = ("case_temp_max_c", "fws_supply_c", "trim_kw")
"""Recorded series of liquid cooling the report plots for a facility with it: the hottest GPU case (against its
limit), the facility-water supply and the heat passed to the chilled-water plant (trim)."""
HEAT_REUSE_SERIES = ("heat_reused_kw", "heat_demand_kw")
"""Recorded series of a heat-reuse connection the report plots for a facility with one: heat delivered, and the
network's demand beside it."""


# --- building a scenario's plant, weather and policies ------------------------------------------


def build_facility(scenario: Scenario) -> FacilityConfig:
    """The scenario's facility config: load growth added to each zone's trend, chillers and CRAHs out."""
    cfg = load_facility(scenario.facility)
    crah_out = {c.zone: c.share_out for c in scenario.outages.crahs}
    zones = []
    for zone in cfg.zones:
        update: dict[str, Any] = {}
        if scenario.load.growth_per_year:
            trend = zone.load.trend_per_year + scenario.load.growth_per_year
            update["load"] = zone.load.model_copy(update={"trend_per_year": trend})
        if zone.name in crah_out:
            # The units left carry (1 − share) of the design airflow and of the design fan power.
            update["crah_airflow_margin"] = zone.crah_airflow_margin * (1.0 - crah_out[zone.name])
        zones.append(zone.model_copy(update=update) if update else zone)
    chillers = cfg.chillers
    if scenario.outages.chillers:
        chillers = chillers.model_copy(update={"available": cfg.chillers_available - scenario.outages.chillers})
    return cfg.model_copy(update={"zones": zones, "chillers": chillers})


def shifted_weather(weather: Weather, shift: WeatherShift) -> Weather:
    """The weather with the dry bulb raised by the offset and the heat wave; humidity per ``shift.humidity``.

    The heat wave adds ``peak_k`` from its start to its end, ramped linearly over
    ``ramp_h`` at each side (a wave crossing 31 December continues on 1 January). Dew point
    (Magnus) and wet bulb (Stull 2011, :func:`coolpilot.envs.weather.wet_bulb_c`) are recomputed.
    """
    if shift.offset_k == 0.0 and shift.heat_wave is None:
        return weather
    n = len(weather.dry_bulb_c)
    hours = np.arange(1, n + 1, dtype=np.float64)  # row i is the value at the end of hour i + 1
    delta = np.full(n, shift.offset_k)
    hw = shift.heat_wave
    if hw is not None:
        start, end = hw.start_day * 24.0, (hw.start_day + hw.days) * 24.0
        ramp = max(hw.ramp_h, 1e-9)
        for x in (hours, hours + n):
            up = np.clip((x - start) / ramp, 0.0, 1.0)
            down = np.clip((end - x) / ramp, 0.0, 1.0)
            delta += hw.peak_k * np.minimum(up, down)
    dry = weather.dry_bulb_c + delta
    if shift.humidity == "constant_rh":
        rh = np.array(weather.rel_humidity_pct, dtype=np.float64)
        gamma = np.log(np.clip(rh, 1.0, 100.0) / 100.0) + MAGNUS_A * dry / (MAGNUS_B_C + dry)
        dew = MAGNUS_B_C * gamma / (MAGNUS_A - gamma)
    else:
        dew = np.minimum(np.asarray(weather.dew_point_c, dtype=np.float64), dry)
        rh = 100.0 * np.exp(MAGNUS_A * dew / (MAGNUS_B_C + dew) - MAGNUS_A * dry / (MAGNUS_B_C + dry))
    label = []
    if shift.offset_k:
        label.append(f"{shift.offset_k:+g} K")
    if hw is not None:
        label.append(f"heat wave +{hw.peak_k:g} K")
    return replace(weather, name=weather.name, source=f"{weather.source} ({', '.join(label)})",
                   dry_bulb_c=dry, dew_point_c=dew, rel_humidity_pct=rh, wet_bulb_c=wet_bulb_c(dry, rh))


def _runs(hours: np.ndarray) -> list[tuple[float, float]]:
    """Contiguous runs of the flagged hours of a day (24 flags, wrapping midnight) as (start, end) windows of at
    most 12 hours (a longer run keeps its last 12: for the valley, the hours closest to the morning peak)."""
    if hours.all():
        return [(12.0, 24.0)]
    first = int(np.argmin(hours))  # start scanning at an unflagged hour so no run is split by midnight
    runs: list[tuple[float, float]] = []
    length = 0
    for k in range(1, 25):
        h = (first + k) % 24
        if hours[h]:
            length += 1
        elif length:
            end = float(h)
            runs.append(((end - min(length, 12)) % 24.0, end))
            length = 0
    return runs


def tariff_storage_windows(tariff: Tariff) -> tuple[tuple[tuple[float, float], ...], tuple[tuple[float, float], ...]]:
    """The storage schedule's (charge, discharge) windows from a tariff: its valley and peak hours of a weekday.

    Prices are averaged per hour of day over the year's weekdays (a template's months included), so the
    windows are the tariff's valley and peak as an engineer reads them off the tariff sheet. A flat tariff
    gives the rule-based defaults (valley 23–7 h, peak 12–18 h: the tank then only shifts demand).
    """
    t = (np.arange(365 * 24) + 0.5) * 3600.0
    weekday = np.mod(np.floor(t / 86400.0), 7) < 5
    price = step_prices(tariff, t[weekday]).reshape(-1, 24).mean(axis=0)
    low, mid, high = float(price.min()), float(np.median(price)), float(price.max())
    defaults = RuleBasedSettings()
    if high - low <= 1e-9 * max(abs(high), 1.0):
        return defaults.tes_charge_hours, defaults.tes_discharge_hours
    # Valley: hours priced below halfway from the median down to the cheapest; peak: above halfway up to the
    # dearest (a tariff's peak and sharp-peak periods both count; its flat hours do not).
    valley = price < 0.5 * (low + mid) if mid > low else price <= low
    peak = price > 0.5 * (mid + high) if high > mid else price >= high
    return tuple(_runs(valley)), tuple(_runs(peak))


def site_rule_settings(cfg: FacilityConfig, limits: Limits, tariff: Tariff | None = None) -> RuleBasedSettings:
    """Rule-based settings of the facility, moved with the scenario's inlet limit and kept inside its setpoint ranges.

    The supply-air target and the thermal guard keep their margins under the limit (25 and
    26 °C under 27 °C); the supply-air ceiling rises with the limit, up to the contract's. A
    facility with a storage tank charges in the ``tariff``'s valley and discharges in its peak
    (:func:`tariff_storage_windows`), at the rates that fit the tank to those hours.
    """
    s = rule_based_settings(cfg)
    if tariff is not None and cfg.storage.installed:
        charge, discharge = tariff_storage_windows(tariff)
        charge_rate, discharge_rate = storage_rates(cfg, charge, discharge, s.tes_reserve_soc)
        s = replace(s, tes_charge_hours=charge, tes_discharge_hours=discharge, tes_charge_rate=charge_rate,
                    tes_discharge_rate=discharge_rate)
    shift = limits.inlet_limit_c - INLET_LIMIT_C
    sat_high = SETPOINTS_BY_NAME["supply_air_temp_c"].high
    s = replace(s, inlet_target_c=s.inlet_target_c + shift, guard_c=s.guard_c + shift,
                sat_max_c=min(s.sat_max_c + max(shift, 0.0), sat_high))
    r = limits.ranges()
    if "supply_air_temp_c" in r:
        lo, hi = r["supply_air_temp_c"].low, r["supply_air_temp_c"].high
        s = replace(s, sat_min_c=min(max(s.sat_min_c, lo), hi), sat_max_c=max(min(s.sat_max_c, hi), lo))
    if "crah_fan_speed_frac" in r:
        s = replace(s, fan_min_frac=max(s.fan_min_frac, r["crah_fan_speed_frac"].low))
    if "chw_supply_temp_c" in r:
        lo, hi = r["chw_supply_temp_c"].low, r["chw_supply_temp_c"].high
        s = replace(s, chw_min_c=min(max(s.chw_min_c, lo), hi), chw_max_c=max(min(s.chw_max_c, hi), lo))
    if "condenser_water_temp_c" in r:
        lo, hi = r["condenser_water_temp_c"].low, r["condenser_water_temp_c"].high
        s = replace(s, min_condenser_c=min(max(s.min_condenser_c, lo), hi), cw_design_c=max(min(s.cw_design_c, hi), lo),
                    cw_free_cooling_c=min(max(s.cw_free_cooling_c, lo), hi))
    return s


def build_policy(ref: PolicyRef, cfg: FacilityConfig, limits: Limits, record: SiteRecord | None = None,
                 tariff: Tariff | None = None) -> Policy | PlantAwarePolicy:
    """The policy ``ref`` for facility ``cfg``: baselines commissioned with the site's limits (and, for a storage
    tank, the ``tariff``'s valley and peak); bundles as trained; ``recorded`` replaying ``record`` (the scenario's
    history)."""
    if ref.kind == "recorded":
        if record is None:
            raise ValueError("the recorded policy needs a scenario with a history")
        return RecordedPolicy(record, cfg.contract.setpoint_names)
    if ref.kind == "legacy":
        return LegacyPolicy()
    if ref.kind == "bundle":
        return make_policy(ref.spec, cfg)
    settings = site_rule_settings(cfg, limits, tariff)
    if ref.kind == "rule-based":
        return RuleBasedPolicy(settings)
    # The oracle keeps inlets under INLET_LIMIT_C − margin_k: move that limit to the scenario's.
    return OraclePolicy(settings, margin_k=INLET_LIMIT_C - limits.inlet_limit_c + ORACLE_MARGIN_K,
                        horizon_h=planning_horizon_h(cfg.storage.installed))


def params_adjuster(scenario: Scenario) -> Callable[[PlantParams], PlantParams]:
    """The scenario's tower-cell outage and setpoint ranges applied to the plant arrays."""
    ranges = scenario.limits.ranges()
    cells_out = float(scenario.outages.tower_cells)

    def adjust(params: PlantParams) -> PlantParams:
        low, high = params.setpoint_low.copy(), params.setpoint_high.copy()
        for name, rng in ranges.items():
            low[:, LEVERS.index(name)] = rng.low
            high[:, LEVERS.index(name)] = rng.high
        return params._replace(setpoint_low=low, setpoint_high=high, tower_cells=params.tower_cells - cells_out)

    return adjust


def setpoint_bounds(cfg: FacilityConfig, scenario: Scenario) -> dict[str, tuple[float, float]]:
    """Bounds the plant applies to each setpoint of ``cfg``'s contract: the site's range, else the plant's own (the
    contract's, narrowed by the equipment: condenser pumps do not go below their minimum flow)."""
    params = params_adjuster(scenario)(build_params([cfg]))
    low, high = params.setpoint_low[0], params.setpoint_high[0]
    return {name: (float(low[j]), float(high[j])) for name, j in zip(cfg.contract.setpoint_names, cfg.contract.levers,
                                                                     strict=True)}


# --- one job -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One policy in one scenario; picklable, so it can run in another process."""

    scenario_index: int
    policy_index: int
    scenario: Scenario
    policy: PolicyRef
    series_dir: str | None = None

    @property
    def cost(self) -> float:
        """Relative wall time, to schedule the longest first and weight the progress bar."""
        return self.scenario.days * RELATIVE_COST[self.policy.kind]


def _hourly(values: np.ndarray, per_hour: int) -> list[float]:
    n = len(values) // per_hour * per_hour
    return [round(float(v), 4) for v in values[:n].reshape(-1, per_hour).mean(axis=1)]


def peak_week(result: SimResult) -> slice:
    """Steps of the 7 whole days with the highest mean outdoor wet bulb (the whole run if shorter)."""
    per_day = round(SECONDS_PER_DAY / result.dt_s)
    n_days = result.n_steps // per_day
    if n_days <= 7:
        return slice(0, result.n_steps)
    daily = result.series["outdoor_wetbulb_c"][: n_days * per_day].reshape(n_days, per_day).mean(axis=1)
    weekly = np.convolve(daily, np.ones(7) / 7.0, mode="valid")
    first = int(np.argmax(weekly))
    return slice(first * per_day, (first + 7) * per_day)


def plot_data(result: SimResult, bounds: dict[str, tuple[float, float]], storage: bool = False, *,
              liquid: bool = False, heat_reuse: bool = False) -> dict[str, Any]:
    """The small series the report plots: the hottest-inlet distribution and the peak week, hourly: weather, inlet,
    facility power, every recorded setpoint as the plant applied it, :data:`PLANT_SERIES` and, for a facility
    with a storage tank (``storage``), :data:`STORAGE_SERIES`, with liquid cooling (``liquid``),
    :data:`LIQUID_SERIES`, with a heat pump (``heat_reuse``), :data:`HEAT_REUSE_SERIES`."""
    extra = (*(STORAGE_SERIES if storage else ()), *(LIQUID_SERIES if liquid else ()),
             *(HEAT_REUSE_SERIES if heat_reuse else ()))
    h = result.dt_s / SECONDS_PER_HOUR
    inlet = result.series["inlet_temp_max_c"]
    clipped = np.clip(inlet, HIST_EDGES_C[0], HIST_EDGES_C[-1] - 1e-9)
    counts, _ = np.histogram(clipped, bins=HIST_EDGES_C)
    week = peak_week(result)
    per_hour = max(1, round(SECONDS_PER_HOUR / result.dt_s))
    names = recorded_setpoints(result)
    applied = applied_setpoints(result, bounds, names)[week]
    s = result.series
    return {
        "inlet_histogram": {"edges_c": [float(e) for e in HIST_EDGES_C], "hours": [float(c * h) for c in counts]},
        "week": {
            "start_day": float((s["time_s"][week][0] - result.dt_s) / SECONDS_PER_DAY),
            "hours_per_point": per_hour * h,
            "outdoor_wetbulb_c": _hourly(s["outdoor_wetbulb_c"][week], per_hour),
            "outdoor_drybulb_c": _hourly(s["outdoor_drybulb_c"][week], per_hour),
            "inlet_temp_max_c": _hourly(inlet[week], per_hour),
            "facility_kw": _hourly(s["facility_kw"][week], per_hour),
            **{f"setpoint_{name}": _hourly(applied[:, j], per_hour) for j, name in enumerate(names)},
            **{key: _hourly(s[key][week], per_hour) for key in PLANT_SERIES},
            **{key: _hourly(s[key][week], per_hour) for key in extra},
        },
    }


def scenario_record(sc: Scenario, cfg: FacilityConfig) -> SiteRecord | None:
    """The scenario's history cut to its period for facility ``cfg`` (None for a climate scenario)."""
    if sc.history is None:
        return None
    history = load_site_history(sc.history, sc.facility, sc.climate if sc.climate_given else None)
    return site_record(history, cfg, sc.start_day, sc.days)


def run_job(job: Job) -> dict[str, Any]:
    """Simulate one policy in one scenario; its KPIs, plot series and wall time (and for a scenario with a history,
    what was read from it; for the recorded policy, its run beside the history's meters)."""
    started = time.perf_counter()
    sc = job.scenario
    cfg = build_facility(sc)
    weather = shifted_weather(load_climate(sc.climate), sc.weather)
    record = scenario_record(sc, cfg)
    policy = build_policy(job.policy, cfg, sc.limits, record, sc.tariff)
    result = simulate(cfg, weather, policy, days=sc.days, start_day=sc.start_day, dt_s=sc.step_s, seed=sc.seed,
                      load_scale=sc.load.level, adjust_params=params_adjuster(sc), signals=scenario_signals(sc),
                      exogenous=None if record is None else record.exo)
    bounds = setpoint_bounds(cfg, sc)
    kpis = compute_whatif_kpis(result, tariff=sc.tariff, carbon=sc.carbon, carbon_profile=sc.carbon_profile,
                               inlet_limit_c=sc.limits.inlet_limit_c, setpoint_bounds=bounds, facility=cfg)
    if job.series_dir is not None:
        folder = Path(job.series_dir)
        folder.mkdir(parents=True, exist_ok=True)
        write_csv(result, folder / f"{sc.name}__{_file_label(job.policy.label)}.csv")
    row: dict[str, Any] = {
        "scenario_index": job.scenario_index,
        "policy_index": job.policy_index,
        "kpis": kpis.as_dict(),
        "plots": plot_data(result, bounds, cfg.storage.installed, liquid=cfg.liquid is not None,
                           heat_reuse=cfg.heat_reuse.installed),
        "wall_s": time.perf_counter() - started,
    }
    if record is not None:
        row["history"] = record.describe()
        if job.policy.kind == "recorded":
            row["history"]["metered"] = metered_comparison(record, result, sc.facility)
    return row


def _file_label(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label)


# --- the sweep -----------------------------------------------------------------------------------


def progress_bar(jobs: list[Job], stream: IO[str] | None = None, enabled: bool = True) -> tqdm[Any]:
    """A tqdm bar over the jobs, each weighted by its cost (an oracle year moves it more than a rule-based day).

    It shows the share of the total cost done, the runs done and the last run's name, and
    the time left by tqdm's rate estimate; on a terminal it redraws in place, elsewhere each
    update is written as tqdm writes to a file. ``enabled=False`` draws nothing.
    """
    # miniters=0 and mininterval=0: redraw at every finished job (a job's cost is often below one unit).
    return tqdm(total=sum(j.cost for j in jobs), file=stream or sys.stderr, disable=not enabled, desc="whatif",
                mininterval=0.0, miniters=0, postfix=f"0/{len(jobs)} runs",
                bar_format="{desc} |{bar:30}| {percentage:5.1f} %  [{elapsed} elapsed, ~{remaining} left]{postfix}")


def _job_done(bar: tqdm[Any] | None, job: Job, done: int, n_jobs: int) -> None:
    """Advance the bar by one finished job."""
    if bar is not None:
        bar.set_postfix_str(f"{done}/{n_jobs} runs ({_job_label(job)})", refresh=False)
        bar.update(job.cost)


def jobs_of(scenario_set: ScenarioSet, series_dir: str | None = None) -> list[Job]:
    """Every (scenario, policy) pair, in file order."""
    return [Job(i, j, sc, ref, series_dir) for i, sc in enumerate(scenario_set.scenarios)
            for j, ref in enumerate(scenario_set.policies)]


class WhatIfRunError(RuntimeError):
    """Runs failed on every attempt; the message names each run and its error."""


def run_jobs(jobs: list[Job], workers: int = 1, progress: tqdm[Any] | None = None, ray_address: str | None = None,
             retries: int = 1) -> list[dict[str, Any]]:
    """Run the jobs; results in job order.

    In this process (``workers`` 1, no Ray), else through :mod:`coolpilot.evaluation.distributed`: in
    ``workers`` spawned processes, or as Ray tasks on the cluster at ``ray_address`` (``auto``,
    ``HOST:PORT``; ``workers`` then caps the runs in flight). A run whose worker dies or
    raises is retried ``retries`` times; a run that still fails is never dropped:
    :class:`WhatIfRunError` lists every such run, since a report missing a run would compare
    policies on different evidence. Each run is the same deterministic simulation wherever it
    runs, so the results are identical. Interrupted (Ctrl-C, SIGTERM), the workers are stopped.
    """
    if workers < 1:
        raise ValueError(f"workers = {workers} must be at least 1")
    order = sorted(range(len(jobs)), key=lambda k: -jobs[k].cost)
    if ray_address is None and (workers == 1 or len(jobs) == 1):
        rows: dict[int, dict[str, Any]] = {}
        for k in order:
            rows[k] = run_job(jobs[k])
            _job_done(progress, jobs[k], len(rows), len(jobs))
        return [rows[k] for k in range(len(jobs))]

    from coolpilot.evaluation.distributed import TaskOutcome, map_tasks

    index = {f"{k:04d} {_job_label(jobs[k])}": k for k in order}
    finished: list[int] = []

    def settled(outcome: TaskOutcome[dict[str, Any]]) -> None:
        if outcome.ok:
            finished.append(index[outcome.key])
            _job_done(progress, jobs[finished[-1]], len(finished), len(jobs))

    outcomes = map_tasks(run_job, [(key, jobs[k]) for key, k in index.items()], ray_address=ray_address,
                         max_workers=min(workers, len(jobs)) if ray_address is None else workers,
                         retries=retries, on_outcome=settled)
    failed = [o for o in outcomes if not o.ok]
    if failed:
        where = "on Ray" if ray_address is not None else "in worker processes"
        lines = "\n".join(f"  - {_job_label(jobs[index[o.key]])}: {o.error} (after {o.attempts} attempt(s))"
                           for o in failed)
        raise WhatIfRunError(f"{len(failed)} of {len(jobs)} what-if runs failed {where}:\n{lines}")
    by_job = {index[o.key]: o.value for o in outcomes if o.value is not None}
    return [by_job[k] for k in range(len(jobs))]


def _job_label(job: Job) -> str:
    return f"{job.scenario.name} / {job.policy.label}"


def default_workers() -> int:
    """One worker per CPU core."""
    return max(1, os.cpu_count() or 1)


def run_whatif(scenario_set: ScenarioSet, workers: int | None = None, progress: bool = True,
               series_dir: str | Path | None = None, stream: IO[str] | None = None,
               ray_address: str | None = None) -> dict[str, Any]:
    """Run every policy in every scenario of ``scenario_set``; the results as a JSON-ready mapping.

    Runs go to ``workers`` local processes, or with ``ray_address`` to a Ray cluster
    (``workers`` then caps the runs in flight; default: all at once, Ray schedules them).

    ``series_dir`` also writes each run's per-step series as CSV there. The mapping holds
    the scenarios (settings, each policy's KPIs and plot series, savings against the
    baseline and the legacy policy, the share of the oracle's saving), thermal-risk flags,
    the policies' cards and the run's timing (kept apart: everything else is deterministic).
    """
    jobs = jobs_of(scenario_set, None if series_dir is None else str(series_dir))
    n_workers = workers or default_workers()
    started = time.perf_counter()
    with progress_bar(jobs, stream, enabled=progress) as bar:
        rows = run_jobs(jobs, n_workers if ray_address is None else (workers or len(jobs)), bar, ray_address)
    wall = time.perf_counter() - started
    out = assemble(scenario_set, jobs, rows)
    out["timing"] = {
        "wall_s": wall, "workers": n_workers if ray_address is None else workers, "ray": ray_address,
        "cpu_count": os.cpu_count(),
        "runs": [{"scenario": j.scenario.name, "policy": j.policy.label, "wall_s": r["wall_s"]}
                 for j, r in zip(jobs, rows, strict=True)],
    }
    return out


def _history_facts(sc: Scenario, rows: list[dict[str, Any]], kinds: list[str]) -> dict[str, Any]:
    """What the scenario read from its history, and the recorded run beside the meters (when recorded ran)."""
    facts: dict[str, Any] = {**rows[0]["history"], "metered": None, "recorded_ran": "recorded" in kinds}
    for row, kind in zip(rows, kinds, strict=True):
        if kind == "recorded":
            facts["metered"] = row["history"]["metered"]
    facts["files"] = list(sc.history.files) if sc.history is not None else []
    return facts


def _scenario_settings(sc: Scenario) -> dict[str, Any]:
    history = None if sc.history is None else {"files": sc.history.label, "climate_given": sc.climate_given}
    return {
        "facility": sc.facility, "climate": sc.climate, "history": history, "start_day": sc.start_day, "days": sc.days,
        "period": sc.period_label, "step_s": sc.step_s, "seed": sc.seed,
        "load": sc.load.model_dump(), "limits": sc.limits.model_dump(), "outages": sc.outages.model_dump(),
        "weather": sc.weather.model_dump(), "tariff": sc.tariff.model_dump(), "carbon": sc.carbon.model_dump(),
    }


def policy_card(ref: PolicyRef) -> dict[str, Any]:
    """What the report says about a policy: for a bundle, the facts of its card."""
    if ref.kind != "bundle":
        return {"label": ref.label, "kind": ref.kind, "spec": ref.spec}
    from coolpilot.controller.policies.onnx_policy import read_card

    card = read_card(ref.spec)
    training = card.get("training", {})
    config = training.get("config", {})
    env = config.get("env", {})
    evaluation = card.get("evaluation", {})
    return {
        "label": ref.label, "kind": ref.kind, "spec": ref.spec, "name": card["name"],
        "sha256": card["onnx"]["sha256"], "facility": card["facility"], "env_id": card["env_id"],
        "created_at": card["created_at"], "coolpilot_version": card["coolpilot_version"],
        "algo": training.get("algo"), "timesteps": training.get("timesteps"), "seed": training.get("seed"),
        "training_climates": env.get("climates"), "action": card.get("action", {}).get("mode"),
        "evaluation": {k: evaluation.get(k) for k in ("baseline", "climates", "facility_saving_pct",
                                                      "cooling_saving_pct", "pue", "baseline_pue",
                                                      "degree_hours_above_27c", "inlet_temp_max_c")},
        "parity_max_abs_diff": card.get("parity", {}).get("max_abs_diff"),
        "contract_version": card.get("contract_version", 1),
        "setpoints": [sp["name"] for sp in card["setpoints"]],
    }


def assemble(scenario_set: ScenarioSet, jobs: list[Job], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Results of the jobs as one mapping: per scenario the runs, the savings and the flags."""
    labels = [p.label for p in scenario_set.policies]
    kinds = {p.label: p.kind for p in scenario_set.policies}
    oracle = next((p.label for p in scenario_set.policies if p.kind == "oracle"), None)
    legacy = next((p.label for p in scenario_set.policies if p.kind == "legacy"), None)
    scenarios: list[dict[str, Any]] = []
    flags: list[dict[str, Any]] = []
    by_pair = {(j.scenario_index, j.policy_index): r for j, r in zip(jobs, rows, strict=True)}
    for i, sc in enumerate(scenario_set.scenarios):
        runs = {labels[j]: {"kpis": by_pair[(i, j)]["kpis"], "plots": by_pair[(i, j)]["plots"]}
                for j in range(len(labels))}
        typed = {label: WhatIfKpis.from_dict(run["kpis"]) for label, run in runs.items()}
        base = typed[scenario_set.baseline]
        # The share of the oracle's saving is a measure of learned policies (and 100 % for the oracle itself).
        vs_baseline = {}
        for label, k in typed.items():
            if label != scenario_set.baseline:
                ceiling = typed[oracle] if oracle and kinds[label] in ("bundle", "oracle") else None
                vs_baseline[label] = savings(base, k, ceiling, reference_name=scenario_set.baseline,
                                             policy_name=label).as_dict()
        vs_legacy = {}
        if legacy is not None:
            vs_legacy = {label: savings(typed[legacy], k, reference_name=legacy, policy_name=label).as_dict()
                         for label, k in typed.items() if label != legacy}
        for label, k in typed.items():
            if not k.thermal_ok:
                flags.append({"scenario": sc.name, "policy": label, "kind": kinds[label],
                              "inlet_limit_c": k.inlet_limit_c, "inlet_temp_max_c": k.inlet_temp_max_c,
                              "degree_hours_above_limit": k.degree_hours_above_limit,
                              "hours_above_limit": k.hours_above_limit})
        entry = {"name": sc.name, "description": sc.description, "settings": _scenario_settings(sc),
                 "runs": runs, "savings_vs_baseline": vs_baseline, "savings_vs_legacy": vs_legacy}
        if sc.history is not None:
            entry["history"] = _history_facts(sc, [by_pair[(i, j)] for j in range(len(labels))],
                                              [p.kind for p in scenario_set.policies])
        scenarios.append(entry)
    return {
        "coolpilot_version": __version__,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": scenario_set.source,
        "title": scenario_set.title,
        "description": scenario_set.description,
        "baseline": scenario_set.baseline,
        "proposed": scenario_set.proposed,
        "oracle": oracle,
        "legacy": legacy,
        "policies": [policy_card(p) for p in scenario_set.policies],
        "scenarios": scenarios,
        "flags": flags,
    }


__all__ = [
    "Job",
    "WhatIfRunError",
    "assemble",
    "build_facility",
    "build_policy",
    "default_workers",
    "jobs_of",
    "params_adjuster",
    "peak_week",
    "plot_data",
    "policy_card",
    "progress_bar",
    "run_job",
    "run_jobs",
    "run_whatif",
    "setpoint_bounds",
    "shifted_weather",
    "site_rule_settings",
]
