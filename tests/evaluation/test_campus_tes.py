"""The campus-tes preset: the campus with a 4-hour chilled-water store, its contract, schedule and what-if."""

from __future__ import annotations

import numpy as np
import pytest

from coolpilot.controller.policies import RuleBasedPolicy
from coolpilot.envs.config import load_facility
from coolpilot.envs.contract import BLOCKS
from coolpilot.envs.simulation import simulate
from coolpilot.envs.weather import load_climate
from coolpilot.evaluation.kpis import grid_signals
from coolpilot.evaluation.scenarios import Carbon, Limits, Tariff
from coolpilot.evaluation.whatif import site_rule_settings

DYNAMIC = Tariff(archetype="dynamic", demand_charge_per_kw_month=15.0)
"""BOPTEST's day/night tariff (off peak 22-6 h, super peak 14-19 h) with a demand charge."""
CHARGE_HOURS = set(range(22, 24)) | set(range(0, 6))
PEAK_HOURS = set(range(14, 19))


def test_campus_tes_is_the_campus_with_a_four_hour_tank() -> None:
    campus, tes = load_facility("campus"), load_facility("campus-tes")
    skip = {"name", "description", "storage"}
    assert ({k: v for k, v in tes.model_dump().items() if k not in skip}
            == {k: v for k, v in campus.model_dump().items() if k not in skip}), "keep campus-tes in step with campus"
    assert not campus.storage.installed and tes.storage.installed
    # About 4 hours of the campus's design cooling load (3.2 MW: IT, CRAH fans and lighting).
    assert 3.5 <= tes.tes_capacity_kwh / tes.design_cooling_load_kw <= 4.5
    charge_kw, discharge_kw = tes.tes_rates_kw
    assert charge_kw == discharge_kw == pytest.approx(tes.tes_capacity_kwh / 4.0)
    # The campus's contract (pinned, unchanged) plus the storage block's setpoint and points.
    assert tes.contract.blocks == (*campus.contract.blocks, "thermal_storage")
    assert "thermal_storage" in BLOCKS
    assert tes.contract.differences(campus.contract, "campus-tes", "campus") == [
        "points ['tes_soc', 'tes_cold_temp_c', 'tes_warm_temp_c', 'tes_discharge_kw', 'tes_rate_frac'] are in "
        "campus-tes but not in campus", "setpoints ['tes_rate_frac'] are in campus-tes but not in campus"]
    assert (len(tes.contract.setpoints), len(tes.contract.points)) == (9, 34)


def test_the_schedule_charges_in_the_valley_and_discharges_at_the_peak_on_campus_tes() -> None:
    """Three July days in Chicago on the dynamic tariff: the rule-based schedule commissioned from the tariff charges
    the tank in the night valley, carries the super peak from it, keeps its reserve, and the heat balance closes."""
    cfg = load_facility("campus-tes")
    s = site_rule_settings(cfg, Limits(), DYNAMIC)
    assert s.tes_charge_hours == ((22.0, 6.0),) and s.tes_discharge_hours == ((14.0, 19.0),)
    result = simulate(cfg, load_climate("chicago"), RuleBasedPolicy(s), days=3, start_day=189,
                      signals=grid_signals(DYNAMIC, Carbon()))
    series, dt = result.series, result.dt_s
    hour = np.floor((series["time_s"] - dt) % 86400.0 / 3600.0).astype(int)
    q = series["tes_discharge_kw"]
    valley = np.isin(hour, sorted(CHARGE_HOURS))
    peak = np.isin(hour, sorted(PEAK_HOURS))
    day2 = series["time_s"] > 190 * 86400.0  # the first night starts from the preset's initial tank
    assert q[valley & day2].min() < -0.5 * cfg.tes_rates_kw[0] * s.tes_charge_rate, "the valley charges the tank"
    assert q[valley].max() <= 0.0 and q[peak].min() >= 0.0, "no discharge in the valley, no charge at the peak"
    assert q[peak].mean() > 0.3 * cfg.tes_rates_kw[1], "the super peak draws on the tank"
    assert q[~valley & ~peak].min() >= 0.0, "the tank charges only in the valley"
    soc = series["tes_soc"]
    assert soc.max() > 0.95 and soc[day2].min() >= s.tes_reserve_soc - 0.02
    # The chillers' work moves out of the super peak: less chiller load there than in the evening after it.
    evening = np.isin(hour, [19, 20, 21])
    assert series["chiller_load_kw"][peak].mean() < series["chiller_load_kw"][evening].mean()
    removed = ((series["economizer_kw"] + series["chiller_load_kw"]) * dt).sum()
    produced = ((series["it_power_kw"] + series["crah_fan_kw"] + series["chw_pump_kw"] + series["lighting_kw"]
                 + series["envelope_gain_kw"]) * dt).sum()
    assert abs(removed - (produced - series["stored_heat_change_kj"].sum())) / produced < 0.005
    assert series["inlet_temp_max_c"].max() < 27.0


def test_a_what_if_runs_the_campus_with_its_tank() -> None:
    """A what-if scenario on campus-tes: rule-based runs the tariff's schedule, the report's week shows the tank, and
    the KPIs price the run by the dynamic tariff; legacy leaves the tank idle."""
    from coolpilot.evaluation.scenarios import scenario_set_from_mapping
    from coolpilot.evaluation.whatif import STORAGE_SERIES, Job, run_job

    sset = scenario_set_from_mapping({"policies": ["legacy", "rule-based"], "scenarios": [
        {"name": "campus-tank", "facility": "campus-tes", "climate": "chicago", "period": {"start_day": 189, "days": 3},
         "tariff": {"archetype": "dynamic", "demand_charge_per_kw_month": 15.0}}]}, "s.yaml")
    sc = sset.scenarios[0]
    runs = {name: run_job(Job(0, i, sc, sset.policy(name))) for i, name in enumerate(("legacy", "rule-based"))}
    week = runs["rule-based"]["plots"]["week"]
    assert all(key in week for key in STORAGE_SERIES)
    hourly = np.asarray(week["tes_discharge_kw"])
    hour = np.arange(len(hourly)) % 24
    charging, peak = hourly[np.isin(hour, sorted(CHARGE_HOURS))], hourly[np.isin(hour, sorted(PEAK_HOURS))]
    assert charging.min() < 0.0 and charging.max() <= 0.0 and peak.min() >= 0.0 and peak.mean() > 0.0
    assert max(week["tes_soc"]) - min(week["tes_soc"]) > 0.5, "the schedule cycles the tank"
    idle = runs["legacy"]["plots"]["week"]
    assert max(abs(v) for v in idle["tes_discharge_kw"]) == 0.0, "legacy leaves the tank idle"
    for run in runs.values():
        kpis = run["kpis"]
        assert kpis["total_cost"] > 0.0 and kpis["demand_cost"] > 0.0 and kpis["hours_above_limit"] == 0.0
